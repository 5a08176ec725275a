"""A comparison's record: the few small files it resumes from without its checkpoints or images (each finished
evaluation, each model's run times, each style set's summary). Copied out of the workdir after every IDE seed, and
into a fresh workdir at start, it lets a comparison longer than one job continue on another machine, or after its
scratch disk is gone: only what no kept evaluation holds is trained again."""

import os

from unitystyle_jax import evaluation
from unitystyle_jax.core import files, stage_times

MADE_FILE = "made.json"  # a style set's summary (rows.StyleSet.make)
RECORD_FILES = ("metrics.json", evaluation.PER_QUERY_FILE, stage_times.FILE, MADE_FILE)
_NOT_RECORDED = ("checkpoints", "dataset", "tensorboard", "samples", ".jax_cache")  # large, or made again


def recorded(root: str) -> list[str]:
    """The record's files under ROOT, as paths relative to it, sorted."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if s not in _NOT_RECORDED]
        found += [os.path.relpath(os.path.join(folder, n), root) for n in names if n in RECORD_FILES]
    return sorted(found)


def _read(path: str) -> bytes | None:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def copy(source: str, dest: str, replace: bool) -> list[str]:
    """Copies SOURCE's record into DEST (each file written atomically): files DEST lacks, and with `replace`
    also those whose content differs. Returns the paths copied."""
    copied = []
    for path in recorded(source):
        content, there = _read(os.path.join(source, path)), _read(os.path.join(dest, path))
        if there is None or (replace and there != content):
            files.write_atomically(os.path.join(dest, path), lambda f: f.write(content), binary=True)
            copied.append(path)
    return copied
