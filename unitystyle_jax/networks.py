"""The project's networks built from a config, where each trained one lives, and the trained parts that
inference needs, restored without their optimiser state.

Why one module: training (gan_training, reid_training) and inference (transfer, evaluation, feature extraction,
export) must build the same modules from the same config and read the same checkpoints. Inference imports this
module and not the training stack, so evaluate.py and the extractor load no optimiser, and a checkpoint's
classifier (sized by the training set's identities) never has to fit the data being evaluated.
"""

import dataclasses
import functools
import json
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from unitystyle_jax import parallel
from unitystyle_jax.checkpoints import Checkpoints
from unitystyle_jax.errors import CheckpointError
from unitystyle_jax.models import fast_conv
from unitystyle_jax.models.ide import IDE
from unitystyle_jax.models.layers import COMPUTE_DTYPES
from unitystyle_jax.models.resnet import ResNet
from unitystyle_jax.models.unitygan import Discriminator, Generator

BACKBONE = "backbone"  # the IDE submodule whose pooled output is the test-time feature
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


# ----------------------------------------------------------------------------------------------- IDE (re-ID)
def model_fingerprint(model_config) -> dict:
    """The model settings a checkpoint must share with the config that restores it (not how convs compute, nor
    in which dtype: parameters are float32 whatever the compute dtype)."""
    return {k: v for k, v in model_config.to_dict().items() if k not in ("pretrained", "conv", "dtype")}


def create_ide(model_config, num_classes: int) -> IDE:
    return IDE(
        num_classes=num_classes,
        depth=model_config.depth,
        width=model_config.width,
        last_stride=model_config.last_stride,
        ibn=model_config.ibn,
        bottleneck_dim=model_config.bottleneck_dim,
        dropout=model_config.dropout,
        conv=fast_conv.conv_module(model_config.conv, "config.model.conv"),
        dtype=COMPUTE_DTYPES[model_config.dtype],
    )


def create_backbone(model_config) -> ResNet:
    """The IDE's `backbone` on its own: images -> the 2048-d (ResNet-50) test feature, no classifier."""
    ide = create_ide(model_config, 1)
    return ResNet(ide.depth, ide.width, ide.last_stride, ide.ibn, ide.conv, ide.dtype)


def reid_checkpoints(workdir: str, keep: int = 3) -> Checkpoints:
    return Checkpoints(os.path.join(workdir, "checkpoints"), keep)


@dataclasses.dataclass(frozen=True)
class FeatureModel:
    """A trained IDE's feature extractor: `backbone.apply(variables, images, train=False)` -> features."""

    backbone: ResNet
    variables: Any  # {"params", "batch_stats"} of the backbone only
    step: int
    meta: dict  # the checkpoint's meta: num_classes, model, method, dataset


def check_ide_checkpoints(workdir: str) -> None:
    """CheckpointError unless WORKDIR has an IDE checkpoint folder: looked at before anything is opened or
    created there (a missing workdir is not made, nor a dataset generated in it)."""
    folder = os.path.join(os.path.abspath(workdir), "checkpoints")
    if not os.path.isdir(workdir):
        raise CheckpointError(f"workdir {os.path.abspath(workdir)} does not exist: train a run there first")
    if not os.path.isdir(folder):
        raise CheckpointError(f"no IDE checkpoint in {folder}: train the reid stage first")


def restore_features(config, workdir: str, mesh) -> FeatureModel:
    """The backbone of WORKDIR's newest IDE checkpoint (or config.eval.step's, when >= 0): no optimiser state and
    no classifier, so a model trained on another dataset (another number of identities) restores as well."""
    step = None if config.eval.step < 0 else config.eval.step
    backbone = create_backbone(config.model)
    image_shape = (config.data.height, config.data.width, 3)
    abstract = _abstract_variables(backbone, image_shape, mesh)
    part = {collection: {BACKBONE: abstract[collection]} for collection in ("params", "batch_stats")}
    check_ide_checkpoints(workdir)
    checkpoints = reid_checkpoints(workdir)
    try:
        restored = checkpoints.restore(part, step, {"model": model_fingerprint(config.model)}, partial=True)
    finally:
        checkpoints.close()
    if restored is None:
        raise CheckpointError(f"no IDE checkpoint in {checkpoints.directory}: train the reid stage first")
    state, meta, found = restored
    variables = {collection: state[collection][BACKBONE] for collection in ("params", "batch_stats")}
    return FeatureModel(backbone, variables, found, meta)


# ------------------------------------------------------------------------------------------------- UnityGAN
# The UnityGAN's weight gradients loop over the taps of layers whose windows pass 16 MB, where the IDE's wait for
# 40 MB: at paper size that loops nearly every layer, which holds its memory down at no cost in speed
# (fast_conv.LOOPED_WINDOW_BYTES has the measurements), while the CPU demo's layers (11 MB at most) stay unrolled.
GAN_LOOPED_WINDOW_BYTES = 16 * 2**20


def create_gan_networks(gan_config) -> tuple[Generator, Discriminator]:
    g = gan_config.generator
    conv = fast_conv.conv_module(gan_config.conv, "config.gan.conv", GAN_LOOPED_WINDOW_BYTES)
    dtype = COMPUTE_DTYPES[gan_config.dtype]
    generator = Generator(
        base_features=g.base_features,
        num_res_blocks=g.num_res_blocks,
        num_scales=g.num_scales,
        ibn_scales=g.ibn_scales,
        output_epsilon=g.output_epsilon,
        conv=conv,
        dtype=dtype,
    )
    return generator, Discriminator(
        base_features=gan_config.discriminator.base_features, conv=conv, dtype=dtype
    )


@dataclasses.dataclass(frozen=True)
class Domains:
    """What one GAN maps between: X = the training images of `x_camera`, Y = those of `y_camera`, or of every
    camera when it is None. One trainer serves UnityStyle (camera c vs all) and CamStyle (camera a vs b)."""

    x_camera: int
    y_camera: int | None = None

    @property
    def name(self) -> str:
        """camC (UnityStyle's, C the 0-based camera id: Market's c5 -> cam4), camA-camB (a CamStyle pair)."""
        return f"cam{self.x_camera}" + ("" if self.y_camera is None else f"-cam{self.y_camera}")

    @property
    def seed_offset(self) -> int:
        """Keeps every model's initialisation and data order apart: c for camera c vs all, 1000(a + 1) + b
        for the pair (a, b)."""
        return self.x_camera if self.y_camera is None else 1000 * (self.x_camera + 1) + self.y_camera

    def records(self, train) -> tuple[list, list]:
        """(X records, Y records) from the training split."""
        x = [r for r in train if r.camid == self.x_camera]
        y = list(train) if self.y_camera is None else [r for r in train if r.camid == self.y_camera]
        return x, y


def camstyle_pairs(cameras) -> list[Domains]:
    """CamStyle's C(C-1)/2 models: one per camera pair a < b (G: a -> b, F: b -> a)."""
    return [Domains(a, b) for i, a in enumerate(cameras) for b in cameras[i + 1 :]]


def camera_workdir(workdir: str, domains: Domains) -> str:
    """WORKDIR/gan/<domains.name>: gan/camC for UnityStyle's camera c (gaps are not renumbered)."""
    return os.path.join(workdir, "gan", domains.name)


def trained_cameras(workdir: str) -> list[int]:
    """The cameras with a UnityGAN checkpoint folder in WORKDIR/gan (camC; CamStyle's pairs are not)."""
    folder = os.path.join(workdir, "gan")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(
        int(n[3:])
        for n in names
        if n.startswith("cam") and n[3:].isdigit() and os.path.isdir(os.path.join(folder, n, "checkpoints"))
    )


def gan_checkpoints(config, workdir: str, domains: Domains) -> Checkpoints:
    return Checkpoints(
        os.path.join(camera_workdir(workdir, domains), "checkpoints"), config.gan.keep_checkpoints
    )


def gan_image_shape(gan_config) -> tuple[int, int, int]:
    return (gan_config.height, gan_config.width, 3)


def gan_meta(config, domains: Domains) -> dict:
    """What a GAN checkpoint must have been built from for this config to restore it (kept as its meta)."""
    return {
        "objective": OBJECTIVE_VERSION,
        "domains": domains.name,
        **{k: config.gan[k] for k in UNITY_LOSS_SETTINGS},
        "generator": config.gan.generator.to_dict(),
        "discriminator": config.gan.discriminator.to_dict(),
        "image_shape": list(gan_image_shape(config.gan)),
    }


# config.gan settings of the training loop, not of any program: runs that differ only in them share programs
# (a run extended to more steps, or resumed in the other training mode, compiles nothing again).
GAN_LOOP_SETTINGS = (
    "num_steps",
    "cameras",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "train_together",
    "model_devices",
)


def gan_program_key(gan_config) -> str:
    """The JSON of the config.gan settings that shape its programs: the cache key of every GAN program."""
    settings = gan_config.to_dict()
    return json.dumps({k: v for k, v in settings.items() if k not in GAN_LOOP_SETTINGS}, sort_keys=True)


@functools.cache
def _translator(gan_json: str, mesh) -> Callable:
    generator = create_gan_networks(ml_collections.FrozenConfigDict(json.loads(gan_json)))[0]

    def translate(generator_variables, images):
        return generator.apply(generator_variables, images, train=False)[0]

    return jax.jit(translate, out_shardings=parallel.replicated(mesh))


def translator(gan_config, mesh) -> Callable:
    """jit'd (generator variables, images in [-1, 1]) -> translated images, one program per config: G's
    variables map X -> Y (UnityStyle's transfer), F's Y -> X."""
    return _translator(gan_program_key(gan_config), mesh)


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
    """One trained generator: `translate(variables, images)`, the GAN step it was saved at."""

    translate: Callable
    variables: Any
    step: int

    def __call__(self, images):
        return self.translate(self.variables, images)


def restore_generator(config, workdir: str, domains: Domains, mesh, net: str = "G") -> TrainedGenerator:
    """Generator `net` (G: X -> Y, F: Y -> X) of the newest checkpoint of the GAN of `domains`; the
    discriminators and optimiser states stay on disk. CheckpointError when there is none."""
    generator = create_gan_networks(config.gan)[0]
    abstract = _abstract_variables(generator, gan_image_shape(config.gan), mesh)
    folder = os.path.join(camera_workdir(workdir, domains), "checkpoints")
    if not os.path.isdir(folder):  # looked at first: Checkpoints would create it
        raise CheckpointError(
            f"no GAN checkpoint for {domains.name} in {os.path.abspath(folder)}: run the gan stage first"
        )
    checkpoints = gan_checkpoints(config, workdir, domains)
    try:
        restored = checkpoints.restore(
            {"nets": {net: abstract}}, meta=gan_meta(config, domains), partial=True
        )
    finally:
        checkpoints.close()
    if restored is None:
        raise CheckpointError(
            f"no GAN checkpoint for {domains.name} in {checkpoints.directory}: run the gan stage first"
        )
    state, _, step = restored
    return TrainedGenerator(translator(config.gan, mesh), state["nets"][net], step)


def _abstract_variables(module, image_shape, mesh):
    """The shapes of `module`'s variables, replicated on `mesh`: what a partial restore reads into."""
    shapes = jax.eval_shape(
        lambda: module.init(jax.random.key(0), jnp.zeros((1, *image_shape), jnp.float32), train=False)
    )
    return parallel.with_shardings(dict(shapes), parallel.replicated(mesh))
