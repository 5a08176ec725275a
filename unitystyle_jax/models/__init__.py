"""Flax linen models: UnityGAN (generator with Style Attention, discriminator), ResNet/IBN-a backbone, IDE.

Pure functions of arrays: nothing here reads files, flags, configs or checkpoints.
"""

from unitystyle_jax.models.ide import IDE
from unitystyle_jax.models.layers import IBN, NORM_KINDS, ConvNormAct, ModelError, ResidualBlock, make_norm
from unitystyle_jax.models.resnet import STAGE_SIZES, ResNet, ResNetBlock
from unitystyle_jax.models.unitygan import Discriminator, Generator, StyleAttention

__all__ = [
    "IBN",
    "IDE",
    "NORM_KINDS",
    "STAGE_SIZES",
    "ConvNormAct",
    "Discriminator",
    "Generator",
    "ModelError",
    "ResNet",
    "ResNetBlock",
    "ResidualBlock",
    "StyleAttention",
    "make_norm",
]
