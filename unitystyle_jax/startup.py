"""The start-up every command shares: config check, persistent compilation cache, multi-host join, device mesh;
and the dataset, generated first when it is the built-in synthetic one.

Why its own module: training, evaluation, the comparison and feature extraction all start this way, and
evaluation must not import the training stages to do it.
"""

import collections
import contextlib
import dataclasses
import logging
import os
import shutil

import jax

from unitystyle_jax.core import files, parallel, workdir_lock
from unitystyle_jax.data import formats, pipeline, synthetic


def dataset_root(config, workdir: str) -> str:
    return config.data.root or os.path.join(workdir, "dataset")


def compilation_cache(config, workdir: str) -> str:
    """Where compiled programs persist between runs: config.compilation_cache_dir, or WORKDIR/.jax_cache."""
    return config.compilation_cache_dir or os.path.join(workdir, ".jax_cache")


def data_root(config, workdir: str) -> str:
    """The dataset's folder as an absolute path: what tells the data a run trained on from other data."""
    return os.path.abspath(dataset_root(config, workdir))


def synthetic_spec(config) -> synthetic.SyntheticSpec:
    return dataclasses.replace(synthetic.SyntheticSpec(), **config.data.synthetic.to_dict())


def start(config, workdir: str):
    """Joins the other processes, sets the compilation cache, and returns the device mesh. The config was
    checked once already, by the command (cli.check_config) before its heavy imports."""
    parallel.initialize_distributed(config.distributed)
    cache = compilation_cache(config, workdir)
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    pipeline.hide_accelerators_from_tf()
    mesh = parallel.make_mesh()
    logging.info(
        "devices: %d (%d per process, %d processes), platform %s",
        jax.device_count(),
        jax.local_device_count(),
        jax.process_count(),
        jax.devices()[0].platform,
    )
    return mesh


@dataclasses.dataclass
class StartedRun:
    """A started command's devices and dataset. The command runs every check that can fail, then calls
    `checked()`: from there on a failure is the run's, not the start's, and keeps what the run wrote."""

    mesh: jax.sharding.Mesh
    splits: formats.Splits
    started: bool = False

    def checked(self) -> None:
        self.started = True


@contextlib.contextmanager
def started_run(config, workdir: str):
    """The start-up of a command that writes WORKDIR (train.py's stages, the comparison): the workdir checked
    writable, the devices joined, the workdir's lock taken (held while the block runs), the dataset loaded.
    Yields a `StartedRun`; the block runs its checks before anything expensive. A workdir this command created is
    removed again when a check fails before `checked()`: a failed start leaves nothing behind."""
    created, run = not os.path.exists(workdir), None
    try:
        files.check_writable(workdir)
        mesh = start(config, workdir)
        with workdir_lock.hold(workdir, jax.process_index()):
            run = StartedRun(mesh, load_dataset(config, workdir))
            yield run
    except Exception:
        if created and not (run and run.started):
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def load_dataset(config, workdir: str) -> formats.Splits:
    """The dataset's splits, every image decoded once when config.data.verify (a corrupt file fails by name)."""
    root = dataset_root(config, workdir)
    if config.data.name == "synthetic":
        synthetic.ensure(root, synthetic_spec(config))
    splits = formats.load(config.data.name, root)
    check_evaluation_split(splits, config.data.name)
    if config.data.verify:
        kept = {
            s: tuple(formats.verify_images(getattr(splits, s), config.data.skip_bad_files))
            for s in formats.SPLITS
        }
        splits = dataclasses.replace(splits, **kept)
    logging.info(
        "dataset %s at %s: %s",
        config.data.name,
        root,
        ", ".join(f"{s} {len(getattr(splits, s))} images" for s in formats.SPLITS),
    )
    return splits


def check_evaluation_split(splits: formats.Splits, dataset: str) -> None:
    """Some query must have a true match left after the protocol drops same-identity, same-camera gallery
    entries; otherwise every metric is undefined and evaluation would score nothing."""
    gallery_cameras = collections.defaultdict(set)
    for record in splits.gallery:
        gallery_cameras[record.pid].add(record.camid)
    if not any(gallery_cameras[q.pid] - {q.camid} for q in splits.query):
        raise formats.DatasetError(
            f"{dataset}: no query image has a true match in the gallery (same identity, another camera), "
            "so evaluation would score nothing"
        )
