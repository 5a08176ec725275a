"""The step loop's logging path (core/training_loop.py through core/metric_logs.py): each logging window writes
the means of its steps' metrics, once, to metrics.jsonl, TensorBoard and the progress line; clu's progress report
gives the time left; a resumed run's log keeps only what it resumed from."""

import itertools
import json
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax.core import parallel, training_loop
from unitystyle_jax.core.checkpoints import Checkpoints


@jax.jit
def counting_step(state, batch):
    """A step whose metric is its own step number, so a window's mean is known exactly."""
    step = state["step"] + 1
    return {"step": step}, {"loss": step.astype(jnp.float32) + 0.0 * batch["x"].sum()}


def run_loop(tmp_path, *, num_steps=7, log_every=3, checkpoint_every=2, start_step=0):
    checkpoints = Checkpoints(str(tmp_path / "checkpoints"), async_save=False)
    state = {"step": jnp.asarray(start_step, jnp.int32)}
    training_loop.run(
        members=[training_loop.Member("counter", checkpoints, {}, str(tmp_path))],
        state=state,
        start_step=start_step,
        num_steps=num_steps,
        batches=itertools.repeat({"x": np.zeros((jax.device_count(),), np.float32)}),
        step_fn=counting_step,
        mesh=parallel.make_mesh(),
        log_every=log_every,
        checkpoint_every=checkpoint_every,
        images_per_step=2,
    )
    with open(tmp_path / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def test_each_window_logs_the_mean_of_its_steps_everywhere_once(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        logged = run_loop(tmp_path)
    # Windows 1-3, 4-6 and the last step alone; checkpoints at 2, 4, 6 fetch metrics mid-window.
    assert [(m["step"], m["loss"]) for m in logged] == [(3, 2.0), (6, 5.0), (7, 7.0)]
    assert all(m["images_per_sec"] > 0 for m in logged)
    lines = [r.getMessage() for r in caplog.records if "counter step" in r.getMessage()]
    assert [line.split("  ")[:2] for line in lines] == [
        ["counter step 3/7", "loss 2"],
        ["counter step 6/7", "loss 5"],
        ["counter step 7/7", "loss 7"],
    ]
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Setting work unit notes")]
    assert notes and all("ETA" in note for note in notes), notes  # clu's progress report: the time left
    assert os.listdir(tmp_path / "tensorboard")


def test_a_window_of_one_step_logs_that_step_as_before(tmp_path):
    """The control: with a window of one step the mean is the step's own value."""
    logged = run_loop(tmp_path, num_steps=4, log_every=1)
    assert [(m["step"], m["loss"]) for m in logged] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]


def test_a_resumed_log_keeps_the_lines_up_to_the_resumed_step(tmp_path):
    run_loop(tmp_path, num_steps=4, log_every=1)
    logged = run_loop(tmp_path, num_steps=6, log_every=1, start_step=2)
    assert [m["step"] for m in logged] == [1, 2, 3, 4, 5, 6]  # 3 and 4 rewritten once, not twice
    assert [m["loss"] for m in logged][2:] == [3.0, 4.0, 5.0, 6.0]
