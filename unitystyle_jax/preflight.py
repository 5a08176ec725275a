"""Start-up checks: everything that could stop a run hours in is tried before its first GAN step.

A run that would fail in the transfer or re-ID stage (a camera with no generator, a missing UnityStyle dataset, a
checkpoint of another model) fails here instead, with one line naming the culprit, after seconds, not after the
UnityGANs have trained. Each check reads metadata only; nothing is written but a probe file in the workdir.
"""

import os

from unitystyle_jax import config_validation, methods
from unitystyle_jax.config_validation import ConfigError
from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.data import formats, styled_data
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains, camera_workdir
from unitystyle_jax.reid.training import ReidPrograms, ReidRun


def check_run(
    config,
    workdir: str,
    splits: formats.Splits,
    stages: list[str],
    gan_programs: gan_training.GanPrograms | None,
    reid_programs: ReidPrograms | None,
) -> list[int]:
    """Every check of a train.py run's stages against the data and the workdir, with the programs the run will
    use (those of its GAN stages, of its reid stage); returns the gan stage's cameras."""
    trained = gan_training.modelled_cameras(config, splits) if "gan" in stages else []
    if trained:
        gan_training.check_model_devices(config)
    for camera in trained:
        check_gan_checkpoint(config, workdir, Domains(camera), gan_programs)
    if "transfer" in stages:
        needed = [c for c in styled_data.needed_cameras(splits) if c not in trained]
        missing = [c for c in needed if c not in splits.cameras]
        if missing:
            first_split = lambda c: next(s for s in formats.SPLITS if c in splits.cameras_of(s))  # noqa: E731
            named = [f"{formats.camera_name(config.data.name, c)} ({first_split(c)})" for c in missing]
            raise formats.DatasetError(
                f"{', '.join(named)}: no training images in {config.data.name}, so no UnityGAN can transfer "
                "their images: remove them, or train the real-image baseline "
                "(--config.reid.method=baseline --config.stages=reid)"
            )
        for camera in needed:
            if not check_gan_checkpoint(config, workdir, Domains(camera), gan_programs):
                raise CheckpointError(
                    f"no UnityGAN checkpoint for {formats.camera_name(config.data.name, camera)} in "
                    f"{camera_workdir(workdir, Domains(camera))}: the transfer needs one generator per "
                    "camera; run the gan stage for it first"
                )
    if "reid" in stages:
        if methods.of(config.reid).compare_only:
            raise ConfigError(
                f"config.reid.method={config.reid.method!r} needs inputs that train.py's stages do not make "
                "(CamStyle's pairwise GANs, per-camera colour statistics): run it as a row of "
                "`unitystyle-compare`"
            )
        if methods.of(config.reid).transferred and "transfer" not in stages:
            styled_data.load(workdir, splits)
        resuming = False
        if os.path.isdir(os.path.join(workdir, "checkpoints")):  # looked at first: ReidRun would create it
            with ReidRun(config, workdir, reid_programs) as run:
                run.check()
                resuming = bool(run.checkpoints.steps())
        if not resuming:
            check_pretrained(config)
    return trained


def check_pretrained(config) -> None:
    """What an IDE trained from its first step starts from: chosen (config_validation.pretrained_folder), and, for
    converted weights, a folder convert_torch wrote for this ResNet (meta only; the arrays load at that step)."""
    folder = config_validation.pretrained_folder(config)
    if folder is None:
        return
    from unitystyle_jax.reid import pretrained  # torch-free

    meta = pretrained.read_meta(folder)
    m = config.model
    for key in ("depth", "width", "ibn"):
        if meta[key] != m[key]:
            raise ConfigError(
                f"config.model.pretrained={folder}: its ResNet has {key}={meta[key]!r}, config.model.{key}={m[key]!r}"
            )


def check_gan_checkpoint(config, workdir: str, domains, programs: gan_training.GanPrograms) -> bool:
    """Whether the GAN of `domains` has checkpoints; CheckpointError when they hold another model."""
    folder = os.path.join(camera_workdir(workdir, domains), "checkpoints")
    if not os.path.isdir(folder):  # looked at before GanRun, which would create the folder
        return False
    with gan_training.GanRun(config, workdir, domains, programs) as run:
        run.check()
        return bool(run.checkpoints.steps())
