"""Runs the stages a config names, in order, each resumable: gan (one UnityGAN per camera), transfer, reid.

Also the start-up every run shares: config check, persistent compilation cache, multi-host join, device mesh,
and the dataset (generated first when it is the built-in synthetic one).
"""

import contextlib
import dataclasses
import json
import logging
import os
import time

import jax
import numpy as np

from unitystyle_jax import (
    config_validation,
    gan_training,
    parallel,
    preflight,
    reid_training,
    transfer,
    workdir_lock,
)
from unitystyle_jax.data import formats, pipeline, synthetic


def dataset_root(config, workdir: str) -> str:
    return config.data.root or os.path.join(workdir, "dataset")


def synthetic_spec(config) -> synthetic.SyntheticSpec:
    return dataclasses.replace(synthetic.SyntheticSpec(), **config.data.synthetic.to_dict())


def start(config, workdir: str):
    """Checks the config, joins the other processes, and returns the device mesh."""
    config_validation.validate(config)
    parallel.initialize_distributed(config.distributed)
    cache = config.compilation_cache_dir or os.path.join(workdir, ".jax_cache")
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


def load_dataset(config, workdir: str) -> formats.Splits:
    """The dataset's splits, every image decoded once when config.data.verify (a corrupt file fails by name)."""
    root = dataset_root(config, workdir)
    if config.data.name == "synthetic":
        synthetic.ensure(root, synthetic_spec(config))
    splits = formats.load(config.data.name, root)
    preflight.check_evaluation_split(splits, config.data.name)
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


def _write_grid(config, workdir, splits, cameras, mesh) -> None:
    """The grid rows = cameras, columns = a few real images then their UnityStyle versions: as
    WORKDIR/gan/unitystyle_grid.png and as image `unitystyle_grid` in WORKDIR/gan/tensorboard."""
    from clu import metric_writers
    from PIL import Image

    rows = []
    for camera in cameras:
        setup = gan_training.GanSetup(config, workdir, gan_training.Domains(camera), mesh)
        state, _ = setup.restore()
        records = [r for r in splits.train if r.camid == camera][:4]
        real = next(
            pipeline.ordered_batches(records, config.gan.height, config.gan.width, len(records), "gan")
        )[0]
        fake = np.asarray(setup.programs.translate(state["nets"]["G"], parallel.to_global(real, mesh)))
        row = np.concatenate([*real, *fake], axis=1)
        rows.append(gan_training.to_uint8(row))
    if jax.process_index() == 0 and rows:
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        grid = np.concatenate(rows, axis=0)
        Image.fromarray(grid).save(os.path.join(workdir, "gan", "unitystyle_grid.png"))
        writer = metric_writers.SummaryWriter(os.path.join(workdir, "gan", "tensorboard"))
        writer.write_images(config.gan.num_steps, {"unitystyle_grid": grid[None]})
        writer.close()


def record_time(workdir: str, stage: str, seconds: float) -> None:
    path = os.path.join(workdir, "stage_times.json")
    times = {}
    if os.path.exists(path):
        with open(path) as f:
            times = json.load(f)
    times[stage] = round(times.get(stage, 0.0) + seconds, 1)
    with open(path + ".tmp", "w") as f:
        json.dump(times, f, indent=2)
    os.replace(path + ".tmp", path)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A checked run: its config, workdir, stages, device mesh, dataset, and the cameras its gan stage trains."""

    config: object
    workdir: str
    stages: list
    mesh: object
    splits: formats.Splits
    gan_cameras: list


@contextlib.contextmanager
def prepared(config, workdir: str):
    """Start-up and every check that can fail (preflight), then the Plan, with the workdir's lock held while
    the block runs: nothing expensive starts before the whole run is known to be possible."""
    stages = config_validation.stage_list(config)
    preflight.check_writable(workdir)
    mesh = start(config, workdir)
    with workdir_lock.hold(workdir, jax.process_index()):
        splits = load_dataset(config, workdir)
        cameras = preflight.check_run(config, workdir, splits, stages, mesh)
        yield Plan(config, workdir, stages, mesh, splits, cameras)


def run(config, workdir: str) -> None:
    """train.py's work: the config's stages, in order."""
    with prepared(config, workdir) as plan:
        execute(plan)


def execute(plan: Plan) -> None:
    """The stages of a prepared run, in order, each resuming where an earlier run of it stopped."""
    config, workdir, mesh, splits = plan.config, plan.workdir, plan.mesh, plan.splits
    for stage in plan.stages:
        began = time.perf_counter()
        if stage == "gan":
            logging.info(
                "UnityGAN: %d generator models for cameras %s (CamStyle would train C(C-1)/2 = %d for the %d "
                "training cameras)",
                len(plan.gan_cameras),
                ", ".join(map(str, plan.gan_cameras)),
                splits.num_cameras * (splits.num_cameras - 1) // 2,
                splits.num_cameras,
            )
            for camera in plan.gan_cameras:
                gan_training.train(config, workdir, splits, gan_training.Domains(camera), mesh)
            _write_grid(config, workdir, splits, plan.gan_cameras, mesh)
        elif stage == "transfer":
            summary = transfer.run(config, workdir, splits, mesh)
            logging.info("transfer: style spread and structure on query+gallery: %s", summary["style"])
        elif stage == "reid":
            unity = transfer.load(workdir, splits).train if config.reid.method == "unitystyle" else None
            extra = reid_training.second_part(config.reid, splits.train, unity)
            reid_training.train(config, workdir, splits, extra, mesh)
        if jax.process_index() == 0:
            record_time(workdir, stage, time.perf_counter() - began)
