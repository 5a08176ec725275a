"""Trained UnityGAN generators restored for inference (transfer, extraction, export), without discriminators or
optimiser state, and what a GAN checkpoint must have been trained under to be restored."""

import dataclasses
import os
from typing import Any, Callable

import jax

from unitystyle_jax.core import parallel
from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.gan.domains import Domains, camera_workdir
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.models.factory import abstract_variables, create_gan_networks

# The UnityGAN objective's version, kept in each checkpoint's meta: a model trained under another objective
# (2: batch-statistics feature matching, weighted real side, bias-corrected SLN, tanh output; 3: the knobs of
# the UnityStyle loss's reading, `UNITY_LOSS_SETTINGS`, kept beside it) is not resumed.
OBJECTIVE_VERSION = 3
# config.gan settings that change what a UnityGAN is trained to do, kept in its checkpoints' meta.
UNITY_LOSS_SETTINGS = (
    "camera_balance",
    "fm_statistics",
    "generator_identity",
    "identity_other_cameras",
    "y_cycle",
    "style_attention",
)


def gan_checkpoints(config, workdir: str, domains: Domains) -> Checkpoints:
    return Checkpoints(
        os.path.join(camera_workdir(workdir, domains), "checkpoints"), config.gan.keep_checkpoints
    )


def gan_meta(config, domains: Domains) -> dict:
    """What a GAN checkpoint must have been built from for this config to restore it (kept as its meta). A
    CycleGAN's names its model and recipe; a UnityGAN's keeps the keys it always had, so older ones restore."""
    cyclegan = {"model": "cyclegan", "cyclegan": config.gan.cyclegan.to_dict()}
    return {
        **(cyclegan if config.gan.model == "cyclegan" else {}),
        "objective": OBJECTIVE_VERSION,
        "domains": domains.name,
        **{k: config.gan[k] for k in UNITY_LOSS_SETTINGS},
        # Style Attention was on/off before it had readings: those two keep their old values, so older
        # checkpoints restore.
        "style_attention": {"none": False, "per_model": True}.get(
            config.gan.style_attention, config.gan.style_attention
        ),
        "generator": config.gan.generator.to_dict(),
        "discriminator": config.gan.discriminator.to_dict(),
        "image_shape": list(gan_image_shape(config.gan)),
    }


def translator(generator, mesh) -> Callable:
    """jit'd (generator variables, images in [-1, 1]) -> translated images: G's variables map X -> Y
    (UnityStyle's transfer), F's Y -> X. Built once per command and shared by every camera's generator."""

    def translate(generator_variables, images):
        return generator.apply(generator_variables, images, train=False)[0]

    return jax.jit(translate, out_shardings=parallel.replicated(mesh))


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
    """One trained generator: `translate(variables, images)`, the GAN step it was saved at."""

    translate: Callable
    variables: Any
    step: int

    def __call__(self, images):
        return self.translate(self.variables, images)


class GeneratorLoader:
    """Restores the trained generators of one GAN config (each camera's, or each CamStyle pair's G and F): the
    generator's abstract variables and its translate program are built once, so every restored generator runs
    the same compiled program."""

    def __init__(self, config, mesh, translate: Callable | None = None):
        generator = create_gan_networks(config.gan)[0]
        self.config = config
        self.abstract = abstract_variables(generator, gan_image_shape(config.gan), mesh)
        self.translate = translate or translator(generator, mesh)

    def restore(self, workdir: str, domains: Domains, net: str = "G") -> TrainedGenerator:
        """Generator `net` (G: X -> Y, F: Y -> X) of the newest checkpoint of the GAN of `domains`; the
        discriminators and optimiser states stay on disk. CheckpointError when there is none."""
        folder = os.path.join(camera_workdir(workdir, domains), "checkpoints")
        if not os.path.isdir(folder):  # looked at first: Checkpoints would create it
            raise CheckpointError(
                f"no GAN checkpoint for {domains.name} in {os.path.abspath(folder)}: run the gan stage first"
            )
        checkpoints = gan_checkpoints(self.config, workdir, domains)
        try:
            restored = checkpoints.restore(
                {"nets": {net: self.abstract}}, meta=gan_meta(self.config, domains), partial=True
            )
        finally:
            checkpoints.close()
        if restored is None:
            raise CheckpointError(
                f"no GAN checkpoint for {domains.name} in {checkpoints.directory}: run the gan stage first"
            )
        state, _, step = restored
        return TrainedGenerator(self.translate, state["nets"][net], step)
