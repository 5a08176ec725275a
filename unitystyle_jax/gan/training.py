"""UnityGAN training: one model per pair of domains. UnityStyle: X = camera c's images, Y = every camera's
images, one model per camera; CamStyle's pairwise models reuse it with X = camera a, Y = camera b.

This module runs the step (`gan.step`) on the data: programs built once per config, each model's checkpoints
and samples, the loop, and the models trained one after another or stacked as one program.
"""

import contextlib
import dataclasses
import logging
import math
import os
import time
from typing import Callable, Iterator

import jax
import numpy as np

from unitystyle_jax import config_validation
from unitystyle_jax.core import images, parallel, stage_times, training_loop
from unitystyle_jax.core.model_run import ModelRun
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.gan.domains import Domains, camera_workdir
from unitystyle_jax.gan.generators import gan_checkpoints, gan_meta, GeneratorLoader, translator
from unitystyle_jax.gan.settings import gan_image_shape, program_settings
from unitystyle_jax.gan.stacked import stacked_mesh, stacked_programs
from unitystyle_jax.gan.step import GanState, step_functions
from unitystyle_jax.models.unitygan import Generator


@dataclasses.dataclass(frozen=True)
class GanPrograms:
    """One GAN config's models and jit'd programs (init, train step, generator), built once by the command that
    trains and handed to every model it trains with that config: the step traces and compiles once, not once
    per camera or camera pair (the rng is an argument, so one init program serves every model)."""

    settings: dict  # `program_settings` of the config they were built from
    generator: Generator
    image_shape: tuple[int, int, int]
    train: training_loop.TrainPrograms
    translate: Callable  # jit'd (generator variables, images in [-1, 1]) -> translated images

    @classmethod
    def build(cls, gan_config, mesh) -> "GanPrograms":
        generator, init, step = step_functions(gan_config)
        return cls(
            settings=program_settings(gan_config),
            generator=generator,
            image_shape=gan_image_shape(gan_config),
            train=training_loop.train_programs(init, step, mesh),
            translate=translator(generator, mesh),
        )

    def generators(self, config, mesh) -> GeneratorLoader:
        """A loader of trained generators that runs these programs' translate program."""
        return GeneratorLoader(config, mesh, self.translate)


class GanRun(ModelRun):
    """Programs, checkpoints and identity of one GAN (camera c vs all, or a camera pair): shared by training and
    its start-up checks."""

    def __init__(self, config, workdir: str, domains: Domains, programs: GanPrograms):
        if programs.settings != program_settings(config.gan):
            raise ValueError(f"GAN programs built for another config.gan than the one of {domains.name}")
        self.config, self.domains, self.programs = config, domains, programs
        self.workdir = camera_workdir(workdir, domains)
        meta = gan_meta(config, domains)
        super().__init__(
            programs.train,
            parallel.init_key(config.seed + domains.seed_offset),
            gan_checkpoints(config, workdir, domains),
            meta,
            meta,
        )


def modelled_cameras(config, splits) -> list[int]:
    """The cameras whose UnityGANs the gan stage trains: config.gan.cameras, or every camera with training
    images. A chosen camera without training images is a ConfigError, raised at start-up."""
    if not config.gan.cameras:
        return list(splits.cameras)
    chosen = config_validation.gan_cameras(config)
    missing = [c for c in chosen if c not in splits.cameras]
    if missing:
        raise config_validation.ConfigError(
            f"config.gan.cameras={config.gan.cameras!r}: {formats.camera_names(config.data.name, missing)}: no "
            f"training images in {config.data.name} (its training cameras: "
            f"{', '.join(map(str, splits.cameras))} by id)"
        )
    return chosen


def _sample_row(translate, state, sample_x) -> np.ndarray:
    """Pairs (real | UnityStyle) side by side for a few of camera c's images, uint8 HWC."""
    fake = np.asarray(translate(state.nets["G"], sample_x))
    row = images.strip([image for pair in zip(np.asarray(sample_x), fake) for image in pair])
    return images.labelled(row, ["real", "UnityStyle"] * len(fake))


@dataclasses.dataclass(frozen=True)
class _ReadyModel:
    """One GAN ready to train: its run (programs, checkpoints: closed once trained), its start state and step,
    its own batch stream, and where its results go."""

    run: GanRun
    state: GanState
    start_step: int
    batches: Iterator[dict]
    member: training_loop.Member


def _prepare(
    config, workdir: str, splits, domains: Domains, programs: GanPrograms, mesh
) -> _ReadyModel | None:
    """The GAN of `domains` restored (or initialised) with its data stream; None when its training has finished."""
    from PIL import Image

    with contextlib.ExitStack() as closing:  # the run is let go on every way out but the one that trains it
        run = closing.enter_context(GanRun(config, workdir, domains, programs))
        done = run.finished(config.gan.num_steps)
        if done is not None:
            logging.info("GAN %s: finished (step %d in %s), skipping", domains.name, done, run.workdir)
            return None
        restored = run.restore()
        state, start_step = restored if restored else (run.programs.train.init(run.rng), 0)
        gan = config.gan
        x_records, y_records = domains.records(splits.train)
        batches = pipeline.gan_train_batches(
            x_records,
            y_records,
            gan.height,
            gan.width,
            gan.batch_size,
            config.data.flip,
            config.seed + 7919 * domains.seed_offset,
            start_step,
            gan.num_steps,
        )
        sample_x = pipeline.sample_images(x_records[:4], gan.height, gan.width)
        samples_dir = os.path.join(run.workdir, "samples")
        replicated = parallel.replicated(mesh)

        def write_samples(step, state, writer):
            # A stacked run hands over its model's slice, laid out on the stacked mesh: back onto this one.
            row = _sample_row(run.programs.translate, jax.device_put(state, replicated), sample_x)
            writer.write_images(step, {"samples": row[None]})  # a no-op logger on processes other than 0
            if jax.process_index() == 0:
                os.makedirs(samples_dir, exist_ok=True)
                Image.fromarray(row).save(os.path.join(samples_dir, f"step_{step:07d}.png"))

        logging.info("GAN %s: %d images in X, %d in Y", domains.name, len(x_records), len(y_records))
        member = training_loop.Member(
            f"gan[{domains.name}]", run.checkpoints, run.meta, run.workdir, write_samples
        )
        closing.pop_all()  # the caller closes it once trained
        return _ReadyModel(run, state, start_step, batches, member)


def _loop_settings(gan_config) -> dict:
    return dict(
        num_steps=gan_config.num_steps,
        log_every=gan_config.log_every,
        checkpoint_every=gan_config.checkpoint_every,
        images_per_step=2 * gan_config.batch_size,
    )


def _train_alone(config, workdir: str, splits, domains: Domains, programs: GanPrograms, mesh) -> bool:
    """Trains (or resumes) the GAN of `domains` alone; one whose training has finished is skipped (False)."""
    model = _prepare(config, workdir, splits, domains, programs, mesh)
    if model is None:
        return False
    with model.run:
        training_loop.run(
            members=[model.member],
            state=model.state,
            start_step=model.start_step,
            batches=model.batches,
            step_fn=model.run.programs.train.step,
            mesh=mesh,
            **_loop_settings(config.gan),
        )
    return True


def train_all(config, workdir: str, splits, domains: list[Domains], mesh, programs: GanPrograms):
    """Trains (or resumes) the GANs of `domains`: one after another, or with config.gan.train_together as one
    vmapped program (`train_together`). Either way each model's checkpoints, logs and samples land in its own
    folder, so a run can resume in the other mode. `programs`: the command's (GanPrograms.build).
    The time goes to WORKDIR's stage_times.json as "gan" when a model trained; returns whether one did."""
    if not domains:
        return False
    began = time.perf_counter()
    if not config.gan.train_together:
        trained = [_train_alone(config, workdir, splits, d, programs, mesh) for d in domains]
    else:
        with contextlib.ExitStack() as runs:  # every prepared run closed, also when a later one fails
            trained = []
            for d in domains:
                model = _prepare(config, workdir, splits, d, programs, mesh)
                if model is not None:
                    runs.enter_context(model.run)
                    trained.append(model)
            # Models resume from their own steps; those at the same step train together (normally all of them).
            for start_step in sorted({m.start_step for m in trained}):
                train_together(config, [m for m in trained if m.start_step == start_step])
    if any(trained):
        stage_times.add(workdir, "gan", began)
    return any(trained)


# ------------------------------------------------------------------------------------ stacked (vmapped) training
def check_model_devices(config) -> None:
    """Start-up: ConfigError unless config.gan.model_devices divides this job's devices (and, above 1, the job is
    one process: each process feeds every model's batch share, so a model axis across processes is not built)."""
    n, count = config.gan.model_devices, jax.device_count()
    if n > 1 and count % n:
        raise config_validation.ConfigError(
            f"config.gan.model_devices={n} does not divide this job's {count} devices"
        )
    if n > 1 and jax.process_count() > 1:
        raise config_validation.ConfigError(
            f"config.gan.model_devices={n} needs a single-process job (this one has {jax.process_count()} "
            "processes): lay the models over one host's devices, or set it to 1"
        )


def _stacked_batches(streams: list[Iterator[dict]]) -> Iterator[dict]:
    for batches in zip(*streams):
        yield {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def train_together(config, models: list[_ReadyModel]):
    """Trains prepared GANs at one start step as one program: parameters, optimizer and SLN states stacked on a
    leading model axis, one vmapped step. On several devices the model axis spans config.gan.model_devices of
    them (fewer when that does not divide the models), so different models train on different devices."""
    if not models:
        return
    model_devices = math.gcd(len(models), config.gan.model_devices)
    mesh = stacked_mesh(model_devices)
    stack, step = stacked_programs(config.gan, mesh)
    logging.info(
        "GAN: %s trained together as one program (model axis over %d of %d devices)",
        ", ".join(m.member.name for m in models),
        model_devices,
        jax.device_count(),
    )
    on_mesh = parallel.replicated(mesh)
    training_loop.run(
        members=[m.member for m in models],
        state=stack(*(jax.device_put(m.state, on_mesh) for m in models)),
        start_step=models[0].start_step,
        batches=_stacked_batches([m.batches for m in models]),
        step_fn=step,
        mesh=mesh,
        **_loop_settings(config.gan),
    )
