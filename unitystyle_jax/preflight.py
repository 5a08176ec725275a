"""Start-up checks: everything that could stop a run hours in is tried before its first GAN step.

A run that would fail in the transfer or re-ID stage (a camera with no generator, a missing UnityStyle dataset, a
checkpoint of another model) fails here instead, with one line naming the culprit, after seconds, not after the
UnityGANs have trained. Each check reads metadata only; nothing is written but a probe file in the workdir.
"""

import collections
import os
import tempfile

from unitystyle_jax import gan_training, reid_methods, transfer
from unitystyle_jax.data import formats
from unitystyle_jax.config_validation import ConfigError
from unitystyle_jax.errors import CheckpointError, WorkdirError
from unitystyle_jax.reid_training import ReidSetup


def check_writable(folder: str, what: str = "workdir") -> None:
    """Creates `folder` if needed and writes (then removes) a probe file in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise WorkdirError(
            f"{what} {os.path.abspath(folder)} is not writable ({error.strerror or error})"
        ) from None


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


def check_run(config, workdir: str, splits: formats.Splits, stages: list[str], mesh) -> list[int]:
    """Every check of a train.py run's stages against the data and the workdir; returns the gan stage's cameras."""
    trained = gan_training.modelled_cameras(config, splits) if "gan" in stages else []
    for camera in trained:
        check_gan_checkpoint(config, workdir, gan_training.Domains(camera), mesh)
    if "transfer" in stages:
        for camera in transfer.needed_cameras(splits):
            if camera in trained:
                continue
            if camera not in splits.cameras:
                split = next(s for s in formats.SPLITS if camera in splits.cameras_of(s))
                raise formats.DatasetError(
                    f"camera {camera} of the {split} split has no training images in {config.data.name}, so no "
                    "UnityGAN can transfer its images: remove them, or train the real-image baseline "
                    "(--config.reid.method=baseline --config.stages=reid)"
                )
            if not check_gan_checkpoint(config, workdir, gan_training.Domains(camera), mesh):
                raise CheckpointError(
                    f"no UnityGAN checkpoint for camera {camera} in "
                    f"{gan_training.camera_workdir(workdir, gan_training.Domains(camera))}: the transfer needs one generator per "
                    "camera; run the gan stage for it first"
                )
    if "reid" in stages:
        if config.reid.method in reid_methods.COMPARE_ONLY_METHODS:
            raise ConfigError(
                f"config.reid.method={config.reid.method!r} needs inputs that train.py's stages do not make "
                "(CamStyle's pairwise GANs, per-camera colour statistics): run it as a row of "
                "`python -m unitystyle_jax.compare`"
            )
        if config.reid.method == "unitystyle" and "transfer" not in stages:
            transfer.load(workdir, splits)
        if os.path.isdir(os.path.join(workdir, "checkpoints")):
            ReidSetup(config, workdir, splits.num_train_ids, mesh).check()
    return trained


def check_gan_checkpoint(config, workdir: str, domains, mesh) -> bool:
    """Whether the GAN of `domains` has checkpoints; CheckpointError when they hold another model."""
    folder = os.path.join(gan_training.camera_workdir(workdir, domains), "checkpoints")
    if not os.path.isdir(folder):  # looked at before GanSetup, which would create the folder
        return False
    setup = gan_training.GanSetup(config, workdir, domains, mesh)
    setup.check()
    return bool(setup.checkpoints.steps())
