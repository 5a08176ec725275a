"""What happens to a run when things go wrong: kill -9, SIGTERM, a diverging loss, a damaged checkpoint.

Every scenario is real train.py/evaluate.py processes on the tiny synthetic data (real-only IDE, 30 steps, a
checkpoint every 5), compared with one uninterrupted run of the same command and seed. The scenarios'
processes run side by side, in three rounds (each round needs the one before); the tests read what they left.
"""

import os
import re
import shutil
import signal
from types import SimpleNamespace

import numpy as np
import pytest

import runs
from runs import (
    METRIC_KEYS,
    checkpoint_steps,
    finish,
    interrupt_when,
    logged_steps,
    one_error_line,
    read_json,
    start,
)
from unitystyle_jax.data import synthetic

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

FLAGS = (
    "--config.stages=reid",
    "--config.reid.method=baseline",
    "--config.reid.num_steps=30",
    "--config.reid.checkpoint_every=5",
)
# A real divergence: the learning rate jumps x1e30 after step 2, so step 4's forward pass overflows. The tiny
# config's own 4 steps; a checkpoint every 2 (so step 2's is the last good one).
DIVERGING = (
    *FLAGS[:2],
    "--config.reid.decay_steps=(2,)",
    "--config.reid.decay_factor=1e30",
    "--config.reid.checkpoint_every=2",
)
LOGGED = ("loss", "accuracy", "learning_rate")


def damage(step_folder) -> None:
    for folder, _, files in os.walk(step_folder):
        for name in files:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"\x00damaged")


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """{scenario: SimpleNamespace(workdir, one CompletedProcess per process of the scenario, and `kept`: the
    checkpoint steps an interrupted run left)}."""
    data = tmp_path_factory.mktemp("data")
    synthetic.generate(str(data), synthetic.SyntheticSpec.tiny())
    names = ("reference", "killed", "stopped", "diverged", "twin")
    w = {name: tmp_path_factory.mktemp(name) for name in names}

    def train(name, *flags):
        return start("train.py", w[name], f"--config.data.root={data}", *(flags or FLAGS))

    def evaluate(workdir):
        return start("evaluate.py", workdir, f"--config.data.root={data}", *FLAGS)

    # Round 1: the uninterrupted run; runs stopped by SIGKILL (once a checkpoint exists), by SIGTERM (once
    # training is under way) and by a diverging loss.
    first = [train("reference"), train("killed"), train("stopped"), train("diverged", *DIVERGING)]
    try:
        interrupt_when(
            (first[1], lambda: checkpoint_steps(w["killed"]), signal.SIGKILL),
            (first[2], lambda: logged_steps(w["stopped"]) >= 2, signal.SIGTERM),
        )
    except BaseException:
        for process in first:
            process.kill()
        raise
    reference, killed, stopped, diverged = finish(*first, check=False)
    kept = {name: checkpoint_steps(w[name]) for name in ("stopped", "diverged")}  # before the reruns
    # Round 2: the same commands again (the diverged run with the tiny config's own schedule), and evaluate.py
    # on a copy of the reference whose newest checkpoint is damaged.
    w["damaged"] = shutil.copytree(w["reference"], tmp_path_factory.mktemp("damaged") / "workdir")
    damage(w["damaged"] / "checkpoints" / "30")
    # The twin: the reference's command once more, uninterrupted.
    second = finish(
        evaluate(w["reference"]),
        train("killed"),
        train("stopped"),
        train("diverged", *FLAGS[:2]),
        evaluate(w["damaged"]),
        train("twin"),
        check=False,
    )
    reference_eval, killed_resumed, stopped_resumed, diverged_resumed, damaged_eval, twin = second
    # Round 3: the resumed run and the twin evaluated; the damaged run resumed.
    killed_eval, damaged_resumed, twin_eval = finish(
        evaluate(w["killed"]), train("damaged"), evaluate(w["twin"]), check=False
    )
    scenario = SimpleNamespace
    return {
        "reference": scenario(workdir=w["reference"], run=reference, evaluation=reference_eval),
        "killed": scenario(workdir=w["killed"], run=killed, rerun=killed_resumed, evaluation=killed_eval),
        "stopped": scenario(workdir=w["stopped"], run=stopped, kept=kept["stopped"], rerun=stopped_resumed),
        "diverged": scenario(
            workdir=w["diverged"], run=diverged, kept=kept["diverged"], rerun=diverged_resumed
        ),
        "damaged": scenario(workdir=w["damaged"], evaluation=damaged_eval, rerun=damaged_resumed),
        "twin": scenario(workdir=w["twin"], run=twin, evaluation=twin_eval),
    }


def resumed_step(result) -> int:
    assert result.returncode == 0, result.stderr[-4000:]
    found = re.findall(r"resuming from step (\d+)", result.stderr)
    assert len(found) == 1, result.stderr[-4000:]
    return int(found[0])


def assert_same_training(workdir, reference) -> None:
    """Per-step losses, accuracies and learning rates (metrics.jsonl) equal the uninterrupted run's."""
    got, want = runs.metrics(workdir), runs.metrics(reference)
    assert [m["step"] for m in got] == [m["step"] for m in want] == list(range(1, 31))
    for key in LOGGED:
        np.testing.assert_allclose([m[key] for m in got], [m[key] for m in want], rtol=1e-6, atol=1e-6)


def test_kill_9_then_same_command_resumes_and_matches_an_uninterrupted_run(scenarios):
    killed, reference = scenarios["killed"], scenarios["reference"]
    assert reference.run.returncode == 0 and reference.evaluation.returncode == 0
    assert killed.run.returncode == -signal.SIGKILL
    assert resumed_step(killed.rerun) in range(5, 30, 5)
    assert_same_training(killed.workdir, reference.workdir)
    assert killed.evaluation.returncode == 0, killed.evaluation.stderr[-4000:]
    got = read_json(killed.workdir / "eval" / "synthetic" / "metrics.json")
    want = read_json(reference.workdir / "eval" / "synthetic" / "metrics.json")
    assert got["step"] == want["step"] == 30
    np.testing.assert_allclose([got[k] for k in METRIC_KEYS], [want[k] for k in METRIC_KEYS], atol=1e-6)


def test_sigterm_saves_a_checkpoint_exits_143_and_the_next_run_resumes_there(scenarios):
    stopped = scenarios["stopped"]
    assert stopped.run.returncode == 143, stopped.run.stderr[-4000:]
    assert "Traceback" not in stopped.run.stderr
    steps = re.findall(r"^stopped: stopped by signal at step (\d+)", stopped.run.stderr, re.MULTILINE)
    assert len(steps) == 1, stopped.run.stderr[-4000:]
    step = int(steps[0])
    assert 2 <= step < 30 and step in stopped.kept
    assert resumed_step(stopped.rerun) == step
    assert_same_training(stopped.workdir, scenarios["reference"].workdir)


def test_non_finite_loss_stops_with_one_error_naming_step_and_last_good_checkpoint(scenarios):
    diverged = scenarios["diverged"]
    error = one_error_line(diverged.run)
    assert re.search(
        r"non-finite loss=nan at step 4; last good checkpoint: step 2 in \S+/checkpoints$", error
    )
    # The last good checkpoint was kept, and the same workdir trains on from it.
    assert diverged.kept == [2]
    assert resumed_step(diverged.rerun) == 2
    assert [m["step"] for m in runs.metrics(diverged.workdir)] == [1, 2, 3, 4]
    assert checkpoint_steps(diverged.workdir) == [2, 4]


def test_damaged_newest_checkpoint_is_skipped_with_a_warning_then_replaced(scenarios):
    damaged = scenarios["damaged"]
    newest = re.escape(str(damaged.workdir / "checkpoints" / "30"))
    assert damaged.evaluation.returncode == 0, damaged.evaluation.stderr[-4000:]
    assert re.search(rf"checkpoint {newest} is unreadable .*; trying an older one", damaged.evaluation.stderr)
    assert read_json(damaged.workdir / "eval" / "synthetic" / "metrics.json")["step"] == 25

    assert resumed_step(damaged.rerun) == 25
    assert re.search(rf"replacing unreadable checkpoint {newest}\b", damaged.rerun.stderr)
    assert checkpoint_steps(damaged.workdir) == [20, 25, 30]
    assert_same_training(damaged.workdir, scenarios["reference"].workdir)


def test_the_same_seed_twice_writes_the_same_metrics_bit_for_bit(scenarios):
    twin = scenarios["twin"]
    assert twin.run.returncode == 0 and twin.evaluation.returncode == 0, twin.run.stderr[-4000:]
    reference, again = (
        s.workdir / "eval" / "synthetic" / "metrics.json" for s in (scenarios["reference"], twin)
    )
    assert reference.read_bytes() == again.read_bytes()
    assert read_json(reference)["step"] == 30
