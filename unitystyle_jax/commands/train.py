"""Runs the stages a config names, in order, each resumable: gan (one UnityGAN per camera), transfer, reid."""

import contextlib
import dataclasses
import logging
import os
import sys
import time

import jax
import numpy as np

from unitystyle_jax import config_validation, methods, startup
from unitystyle_jax import preflight
from unitystyle_jax.commands import cli
from unitystyle_jax.core import images, saved_config
from unitystyle_jax.data import formats, pipeline, styled_data
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains
from unitystyle_jax.reid import training as reid_training
from unitystyle_jax.transfer import style_stats, unitystyle


def _grid_path(workdir: str) -> str:
    return os.path.join(workdir, "gan", "unitystyle_grid.png")


def _write_grid(config, workdir, splits, cameras, loader) -> None:
    """The grid rows = cameras, columns = a few real images then their UnityStyle versions: as
    WORKDIR/gan/unitystyle_grid.png and as image `unitystyle_grid` in WORKDIR/gan/tensorboard."""
    from clu import metric_writers
    from PIL import Image

    rows = []
    for camera in cameras:
        generator = loader.restore(workdir, Domains(camera))
        records = [r for r in splits.train if r.camid == camera][:4]
        real = pipeline.sample_images(records, config.gan.height, config.gan.width)
        rows.append(images.strip([*real, *np.asarray(generator(real))]))
    if jax.process_index() == 0 and rows:
        shown = max(row.shape[1] for row in rows) // (2 * config.gan.width)  # real images per camera
        names = [formats.camera_label(config.data.name, c) for c in cameras]
        grid = images.labelled(images.grid(rows), ["real"] * shown + ["UnityStyle"] * shown, names)
        Image.fromarray(grid).save(_grid_path(workdir))
        writer = metric_writers.SummaryWriter(os.path.join(workdir, "gan", "tensorboard"))
        writer.write_images(config.gan.num_steps, {"unitystyle_grid": grid[None]})
        writer.close()


@dataclasses.dataclass(frozen=True)
class CheckedRun:
    """A checked run: its config, workdir, stages, device mesh, dataset, the cameras its gan stage trains, and
    the programs its stages run (built once, for the start-up checks and the stages alike; None where no stage
    needs them)."""

    config: object
    workdir: str
    stages: list
    mesh: object
    splits: formats.Splits
    gan_cameras: list
    gan_programs: gan_training.GanPrograms | None
    reid_programs: reid_training.ReidPrograms | None


@contextlib.contextmanager
def prepared(config, workdir: str):
    """The shared start-up (`startup.started_run`) with every check of the stages (preflight), then the
    CheckedRun, with the workdir's lock held while the block runs."""
    stages = config_validation.stage_list(config)
    with startup.started_run(config, workdir) as started:
        mesh, splits = started.mesh, started.splits
        gan_programs = reid_programs = None
        if {"gan", "transfer"} & set(stages):
            gan_programs = gan_training.GanPrograms.build(config.gan, mesh)
        if "reid" in stages:
            reid_programs = reid_training.ReidPrograms.build(config, splits.num_train_ids, mesh)
        cameras = preflight.check_run(config, workdir, splits, stages, gan_programs, reid_programs)
        started.checked()
        if jax.process_index() == 0:  # the run's config, for the commands that read this workdir later
            saved_config.save(workdir, config, sys.argv)
        yield CheckedRun(config, workdir, stages, mesh, splits, cameras, gan_programs, reid_programs)


def run(config, workdir: str) -> None:
    """train.py's work: the config's stages, in order, then what they wrote and the command to run next."""
    began = time.perf_counter()
    with prepared(config, workdir) as checked:
        done = execute(checked)
    if jax.process_index() == 0:
        if done:
            print(f"finished in {time.perf_counter() - began:.0f} s:")
            print("\n".join(f"  {line}" for line in done))
        else:
            print(
                f"already complete, nothing to do: {', '.join(checked.stages)} of {workdir} finished earlier"
            )
        print(f"next: {cli.evaluate_command(workdir)}")


def execute(checked: CheckedRun) -> list[str]:
    """The stages of a prepared run, in order, each resuming where an earlier run of it stopped; returns a line
    per stage that worked, saying what it wrote where (none when every stage had finished earlier: then nothing
    is written, the grid and TensorBoard included)."""
    config, workdir, mesh, splits = checked.config, checked.workdir, checked.mesh, checked.splits
    generators = checked.gan_programs.generators(config, mesh) if checked.gan_programs else None
    done = []
    for stage in checked.stages:  # each stage adds its own time to WORKDIR/stage_times.json when it works
        if stage == "gan":
            logging.info(
                "UnityGAN: %d generator models for cameras %s (ids %s: gan/cam<id>; CamStyle would train "
                "C(C-1)/2 = %d for the %d training cameras)",
                len(checked.gan_cameras),
                ", ".join(formats.camera_label(config.data.name, c) for c in checked.gan_cameras),
                ", ".join(map(str, checked.gan_cameras)),
                splits.num_cameras * (splits.num_cameras - 1) // 2,
                splits.num_cameras,
            )
            domains = [Domains(camera) for camera in checked.gan_cameras]
            trained = gan_training.train_all(config, workdir, splits, domains, mesh, checked.gan_programs)
            grid = _grid_path(workdir)
            if not trained and os.path.exists(grid):  # finished earlier, grid and all
                continue
            _write_grid(config, workdir, splits, checked.gan_cameras, generators)
            done.append(
                f"gan       {len(domains)} UnityGANs in {os.path.join(workdir, 'gan')}/cam<c>/ (checkpoints, "
                f"losses, samples); grid {grid}"
            )
        elif stage == "transfer":
            summary, written = unitystyle.run(config, workdir, splits, mesh, generators)
            if not written:
                continue
            done.append(
                f"transfer  {_transfer_line(summary['style'])} in {os.path.join(workdir, styled_data.OUTPUT)}"
            )
        elif stage == "reid":
            unity = styled_data.load(workdir, splits).train if methods.of(config.reid).transferred else None
            second_part = reid_training.second_part(config.reid, splits.train, unity)
            if not reid_training.train(config, workdir, splits, second_part, mesh, checked.reid_programs):
                continue
            done.append(
                f"reid      IDE ({config.reid.method}), {config.reid.num_steps} steps, in "
                f"{os.path.join(workdir, 'checkpoints')}; log {os.path.join(workdir, 'metrics.jsonl')}"
            )
    return done


def _transfer_line(style: dict) -> str:
    """What the transfer did to query + gallery, in one line: whether the cameras moved (a warning when they did
    not, also on stderr) and how much structure the images kept."""
    moved, verdict = style_stats.verdict(style)
    if not moved:
        logging.warning("transfer: %s", verdict)
    return f"UnityStyle dataset ({'' if moved else 'WARNING: '}{verdict}; SSIM to the real images {style['ssim']:.3f})"
