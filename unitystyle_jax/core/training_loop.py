"""The step loop shared by UnityGAN and IDE training: logging, checkpoints, non-finite guard, SIGTERM.

Why one loop: both trainings need the same guarantees (resume from the newest checkpoint, a metrics log that
matches what was resumed, a clean stop on preemption), and they should never drift apart.
"""

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import time
from typing import Any, Callable, Iterator

import jax
from clu import metric_writers, periodic_actions

from unitystyle_jax.core import files, parallel
from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.errors import Interrupted, TrainingError, WorkdirError


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


class MetricsLog:
    """WORKDIR/metrics.jsonl, one JSON object per logged step; on resume, lines past the resumed step are dropped
    so the file always describes one consistent run."""

    def __init__(self, path: str, start_step: int):
        self.path = path
        self.enabled = jax.process_index() == 0
        if not self.enabled:
            return
        kept = []
        if os.path.exists(path):
            with open(path) as f:
                kept = [line for line in f if line.strip() and json.loads(line)["step"] <= start_step]
        files.write_text(path, "".join(kept))

    def write(self, record: dict) -> None:
        if self.enabled:
            try:
                with open(self.path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            except OSError as error:
                raise WorkdirError(f"cannot write {self.path} ({error.strerror or error})") from None


def _format_eta(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


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


class _MemberLogs:
    """A member's writers for one run: TensorBoard, progress report and metrics log."""

    def __init__(self, member: Member, num_steps: int, start_step: int, log_every: int):
        self.member = member
        os.makedirs(member.logdir, exist_ok=True)
        self.writer = metric_writers.create_default_writer(
            os.path.join(member.logdir, "tensorboard"),
            just_logging=jax.process_index() > 0,
            asynchronous=False,
        )
        self.report = periodic_actions.ReportProgress(
            num_train_steps=num_steps, writer=self.writer, every_steps=log_every
        )
        self.log = MetricsLog(os.path.join(member.logdir, "metrics.jsonl"), start_step)


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
    sinks = [_MemberLogs(m, num_steps, start_step, log_every) for m in members]
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
    steady_since = None  # the end of the first step: the ETA counts steady steps, not compilation
    step = start_step
    try:
        with stop_requests() as stop:
            pending = []  # (step, metrics still on the device): fetched together, so steps dispatch ahead
            for step in range(start_step + 1, num_steps + 1):
                state, metrics = step_fn(state, parallel.to_global(next(batches), mesh))
                pending.append((step, metrics))
                if steady_since is None:
                    steady_since = time.perf_counter()
                window_steps += 1
                for sink in sinks:
                    sink.report(step)
                logged = step % log_every == 0 or step == num_steps
                stopping = bool(stop)  # read once: a signal arriving later waits for the next step
                saved = step % checkpoint_every == 0 or step == num_steps or stopping
                if not (logged or saved):
                    continue
                # A non-finite loss is caught here, before any checkpoint of it is written.
                for at, fetched in jax.device_get(pending):
                    per_member = [
                        {k: float(v[i] if stacked else v) for k, v in fetched.items()}
                        for i in range(len(members))
                    ]
                    _check_finite(members, per_member, at)
                pending = []
                elapsed = time.perf_counter() - window_start
                for sink, metrics in zip(sinks, per_member):
                    if logged:
                        metrics["images_per_sec"] = window_steps * images_per_step / max(elapsed, 1e-9)
                        sink.writer.write_scalars(step, metrics)
                        sink.log.write({"step": step, **metrics})
                        steady = step - start_step - 1
                        eta = (
                            (time.perf_counter() - steady_since) / steady * (num_steps - step)
                            if steady
                            else None
                        )
                        logging.info(
                            "%s step %d/%d  %s  ETA %s",
                            sink.member.name,
                            step,
                            num_steps,
                            "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
                            "after step 2" if eta is None and step < num_steps else _format_eta(eta or 0.0),
                        )
                if logged:
                    window_start, window_steps = time.perf_counter(), 0
                if saved:
                    for i, (m, sink) in enumerate(zip(members, sinks)):
                        model = state_of(state, i)
                        m.checkpoints.save(step, model, {**m.meta, "step": step})
                        if m.on_checkpoint:
                            m.on_checkpoint(step, model, sink.writer)
                if stopping:
                    raise Interrupted(step)
    finally:
        for m, sink in zip(members, sinks):
            m.checkpoints.wait()
            sink.writer.flush()
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
