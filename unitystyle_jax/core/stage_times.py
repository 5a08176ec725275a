"""WORKDIR/stage_times.json: the seconds each stage spent making its output, summed over the invocations that did
work on it. A stage's own code adds its time once it has worked (trained a step, written a dataset), so a rerun
that finds the stage done adds nothing, and a resumed one adds only what it did."""

import json
import os
import time

import jax

from unitystyle_jax.core import files

FILE = "stage_times.json"


def read(workdir: str) -> dict:
    """{stage: seconds} (empty before any stage worked)."""
    path = os.path.join(workdir, FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def add(workdir: str, stage: str, began: float) -> None:
    """Adds the time since `began` (a `time.perf_counter()`) to the stage's (process 0 writes)."""
    if jax.process_index() != 0:
        return
    times = read(workdir)
    times[stage] = round(times.get(stage, 0.0) + time.perf_counter() - began, 1)
    files.write_text(os.path.join(workdir, FILE), json.dumps(times, indent=2))
