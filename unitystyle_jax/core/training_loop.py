"""The step loop shared by UnityGAN and IDE training: logging, checkpoints, non-finite guard, SIGTERM.

Why one loop: both trainings need the same guarantees (resume from the newest checkpoint, a metrics log that
matches what was resumed, a clean stop on preemption), and they should never drift apart.
"""

import collections
import contextlib
import dataclasses
import logging
import math
import signal
import time
from typing import Any, Callable, Iterator

import jax
from clu import metric_writers, periodic_actions

from unitystyle_jax.core import metric_logs, parallel
from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.errors import Interrupted, TrainingError


@contextlib.contextmanager
def stop_requests():
    """Turns SIGTERM and SIGINT into a flag the loop checks between steps (the step in flight finishes)."""
    requested = []
    handler = lambda signum, frame: requested.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclasses.dataclass(frozen=True)
class TrainPrograms:
    """A model's jit'd init(rng) and train step, and the abstract state of both (what a restore reads into)."""

    abstract_state: Any
    init: Callable
    step: Callable


def train_programs(init_fn: Callable, step_fn: Callable, mesh, step_args: int = 0) -> TrainPrograms:
    """init_fn(rng) -> state and step_fn(state, batch, *step_args) -> (state, metrics), jit'd for data parallelism:
    state replicated (and donated to the step), batch split over the `data` axis, the `step_args` extra arguments
    replicated. Nothing is traced until first called."""
    replicated = parallel.replicated(mesh)
    abstract_rng = jax.eval_shape(lambda: parallel.init_key(0))
    return TrainPrograms(
        abstract_state=parallel.with_shardings(jax.eval_shape(init_fn, abstract_rng), replicated),
        init=jax.jit(init_fn, out_shardings=replicated),
        step=jax.jit(
            step_fn,
            in_shardings=(replicated, parallel.batch_sharded(mesh), *(replicated,) * step_args),
            out_shardings=(replicated, replicated),
            donate_argnums=(0,),
        ),
    )


@dataclasses.dataclass(frozen=True)
class Member:
    """One model a loop trains, and where its results go: checkpoints (with `meta`), WORKDIR-style metrics log and
    TensorBoard folder `logdir`, and `on_checkpoint(step, its state, its writer)` after each save (pictures)."""

    name: str
    checkpoints: Checkpoints
    meta: dict
    logdir: str
    on_checkpoint: Callable | None = None


@jax.jit
def model_at(tree, index):
    """Model `index` of a stacked tree (every leaf's leading axis is the model axis). One compiled program for
    every model: sliced eagerly, each of a UnityGAN state's hundreds of leaves would be its own dispatch."""
    return jax.tree.map(lambda a: a[index], tree)


def run(
    *,
    members: list[Member],
    state,
    start_step: int,
    num_steps: int,
    batches: Iterator[dict],
    step_fn: Callable,
    mesh,
    log_every: int,
    checkpoint_every: int,
    images_per_step: int,
):
    """Runs steps start_step+1..num_steps; returns the final state.

    step_fn(state, global_batch) -> (state, metrics) where metrics holds scalar jax values including `loss`.
    With one member, `state` is that model's. With several, the models are stacked (every leaf of `state`, of
    the batches and of the metrics has a leading model axis, member i at index i) and train as one program;
    each member still gets its own checkpoints, metrics log and TensorBoard, as if trained alone.
    """
    stacked = len(members) > 1
    state_of = (lambda state, i: model_at(state, i)) if stacked else (lambda state, i: state)
    logs = [metric_logs.model_writers(m.name, m.logdir, num_steps, start_step) for m in members]
    writers = [writer for writer, _ in logs]
    tensorboards = [board for _, board in logs if board is not None]
    # One progress report for the loop (steps/s, the time left), on stderr and in each model's TensorBoard.
    progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps,
        writer=metric_writers.MultiWriter(tensorboards),
        every_steps=log_every,
        every_secs=None,
    )
    for m in members if start_step else ():
        logging.info(
            "%s: resuming from step %d (checkpoint in %s)", m.name, start_step, m.checkpoints.directory
        )
    logging.info(
        "%s: step %d compiles the train step first (unless this process or the compile cache has it)",
        ", ".join(m.name for m in members),
        start_step + 1,
    )
    window_start, window_steps = time.perf_counter(), 0
    window_sums = [collections.Counter() for _ in members]  # each metric summed over the window's steps
    step = start_step
    try:
        with stop_requests() as stop:
            pending = []  # (step, metrics still on the device): fetched together, so steps dispatch ahead
            for step in range(start_step + 1, num_steps + 1):
                state, metrics = step_fn(state, parallel.to_global(next(batches), mesh))
                pending.append((step, metrics))
                window_steps += 1
                logged = step % log_every == 0 or step == num_steps
                stopping = bool(stop)  # read once: a signal arriving later waits for the next step
                saved = step % checkpoint_every == 0 or step == num_steps or stopping
                if not (logged or saved):
                    progress(step)
                    continue
                # A non-finite loss is caught here, before any checkpoint of it is written.
                for at, fetched in jax.device_get(pending):
                    per_member = [
                        {k: float(v[i] if stacked else v) for k, v in fetched.items()}
                        for i in range(len(members))
                    ]
                    _check_finite(members, per_member, at)
                    for sums, metrics in zip(window_sums, per_member):
                        sums.update(metrics)
                pending = []
                # After the fetch: the window's steps have run, so clu's rate and time left are true.
                progress(step)
                if logged:
                    elapsed = time.perf_counter() - window_start
                    for writer, sums in zip(writers, window_sums):
                        means = {k: v / window_steps for k, v in sums.items()}
                        means["images_per_sec"] = window_steps * images_per_step / max(elapsed, 1e-9)
                        writer.write_scalars(step, means)
                    window_start, window_steps = time.perf_counter(), 0
                    window_sums = [collections.Counter() for _ in members]
                if saved:
                    for i, (m, writer) in enumerate(zip(members, writers)):
                        model = state_of(state, i)
                        m.checkpoints.save(step, model, {**m.meta, "step": step})
                        if m.on_checkpoint:
                            m.on_checkpoint(step, model, writer)
                if stopping:
                    raise Interrupted(step)
    finally:
        for m, writer in zip(members, writers):
            m.checkpoints.wait()
            writer.close()  # flushes, and lets go of the TensorBoard file
    return state


def _check_finite(members: list[Member], per_member: list[dict], step: int) -> None:
    """TrainingError naming the first member whose metrics hold a NaN or an infinity, and its last good checkpoint."""
    for m, metrics in zip(members, per_member):
        bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
        if bad:
            good = m.checkpoints.steps()
            raise TrainingError(
                f"{m.name}: non-finite {', '.join(f'{k}={v}' for k, v in bad.items())} at step {step}; "
                f"last good checkpoint: {f'step {good[-1]}' if good else 'none'} in {m.checkpoints.directory}"
            )
