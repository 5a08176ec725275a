"""The project's networks built from a config: the one place training and inference both build them from, so
a trained checkpoint always meets the module it was saved from."""

import functools

import jax
import jax.numpy as jnp

from unitystyle_jax.core import parallel
from unitystyle_jax.models import fast_conv
from unitystyle_jax.models.cyclegan import CycleGanGenerator, PatchDiscriminator
from unitystyle_jax.models.ide import IDE
from unitystyle_jax.models.layers import COMPUTE_DTYPES
from unitystyle_jax.models.mixstyle import parse_layers
from unitystyle_jax.models.resnet import ResNet
from unitystyle_jax.models.unitygan import Discriminator, Generator


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
        mixstyle_layers=parse_layers(model_config.mixstyle.layers),
        mixstyle_p=model_config.mixstyle.p,
        mixstyle_alpha=model_config.mixstyle.alpha,
        mixstyle_mix=model_config.mixstyle.mix,
    )


def create_backbone(model_config) -> ResNet:
    """The IDE's `backbone` on its own: images -> the 2048-d (ResNet-50) test feature, no classifier (and no
    MixStyle, which only acts while training)."""
    ide = create_ide(model_config, 1)
    return ResNet(ide.depth, ide.width, ide.last_stride, ide.ibn, ide.conv, ide.dtype)


# The UnityGAN's weight gradients loop over the taps of layers whose windows pass 16 MB, where the IDE's wait for
# 40 MB: at paper size that loops nearly every layer, holding its memory down at no cost in speed, while the CPU
# demo's smaller layers stay unrolled (docs/performance.md, "Looped taps").
GAN_LOOPED_WINDOW_BYTES = 16 * 2**20


# config.gan.model: the UnityGAN (this project's method), or CamStyle's CycleGAN (its comparison rows).
GAN_MODELS = ("unitygan", "cyclegan")


def create_gan_networks(gan_config):
    """(generator, discriminator) of config.gan.model, with the widths of config.gan.generator/discriminator."""
    g = gan_config.generator
    conv = fast_conv.conv_module(gan_config.conv, "config.gan.conv", GAN_LOOPED_WINDOW_BYTES)
    dtype = COMPUTE_DTYPES[gan_config.dtype]
    if gan_config.model == "cyclegan":
        return (
            CycleGanGenerator(g.base_features, gan_config.cyclegan.num_res_blocks, conv=conv, dtype=dtype),
            PatchDiscriminator(
                gan_config.discriminator.base_features,
                gan_config.cyclegan.discriminator_layers,
                conv=conv,
                dtype=dtype,
            ),
        )
    generator = Generator(
        base_features=g.base_features,
        num_res_blocks=g.num_res_blocks,
        num_scales=g.num_scales,
        ibn_scales=g.ibn_scales,
        output_epsilon=g.output_epsilon,
        modulate=gan_config.style_attention == "modulate",
        conv=conv,
        dtype=dtype,
    )
    return generator, Discriminator(
        base_features=gan_config.discriminator.base_features, conv=conv, dtype=dtype
    )


def abstract_variables(module, image_shape, mesh):
    """The shapes of `module`'s variables, replicated on `mesh`: what a partial restore reads into."""
    return parallel.with_shardings(
        dict(_variable_shapes(module, tuple(image_shape))), parallel.replicated(mesh)
    )


@functools.cache
def _variable_shapes(module, image_shape: tuple):
    """Traced once per module (equal for runs of one config) and image shape: every model a command restores
    (a comparison's rows, a style set's generators) reads into the same shapes."""
    return jax.eval_shape(
        lambda: module.init(jax.random.key(0), jnp.zeros((1, *image_shape), jnp.float32), train=False)
    )
