"""Normalisations (IBN-a included), the residual block and the conv-norm-activation unit the models share.

Conventions for every model in this package: images and activations are NHWC; `dtype` is the computation
dtype (parameters stay float32); every convolution is built through an injectable `conv` ModuleDef (default
`nn.Conv`) so a faster convolution can be swapped in without touching the architectures; padding is always
explicit and symmetric, never "SAME" (which pads asymmetrically for stride 2 on even sizes and breaks PyTorch
parity).
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from unitystyle_jax.core.errors import ModelError

ModuleDef = Callable[..., nn.Module]
Dtype = Any
# The compute dtypes a config may name (config.model.dtype, config.gan.dtype). Parameters stay float32 in both:
# bfloat16 halves activation memory and uses bf16 matrix units on accelerators, with float32 master weights.
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

NORM_KINDS = ("batch", "instance", "ibn")

# PyTorch's BatchNorm2d defaults (its momentum 0.1 is 0.9 here, eps 1e-5): imported statistics mean the same.
BN_MOMENTUM = 0.9
TorchBatchNorm = functools.partial(nn.BatchNorm, momentum=BN_MOMENTUM, epsilon=1e-5)
TorchInstanceNorm = functools.partial(nn.InstanceNorm, epsilon=1e-5)


class IBN(nn.Module):
    """IBN-a (IBN-Net): instance norm on the first `ratio` of the channels, batch norm on the rest.

    Instance norm removes per-image style (camera colour, contrast) while batch norm keeps content statistics.
    A drop-in for `nn.BatchNorm`: same `use_running_average` attribute/argument. Submodules are named `IN`
    and `BN` as in IBN-Net, so its state_dict keys (`bn1.IN.weight`, `bn1.BN.running_mean`) map one to one.
    """

    ratio: float = 0.5
    use_running_average: bool | None = None
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, use_running_average: bool | None = None):
        use_running_average = nn.merge_param(
            "use_running_average", self.use_running_average, use_running_average
        )
        channels = x.shape[-1]
        half = int(channels * self.ratio)
        if not 0 < half < channels:
            raise ModelError(
                f"IBN ratio={self.ratio} on {channels} channels leaves one of the two halves empty"
            )
        instance_half = TorchInstanceNorm(dtype=self.dtype, name="IN")(x[..., :half])
        batch_half = TorchBatchNorm(use_running_average=use_running_average, dtype=self.dtype, name="BN")(
            x[..., half:]
        )
        return jnp.concatenate([instance_half, batch_half], axis=-1)


def check_image_batch(x, multiple: int, owner: str) -> None:
    """Raise ModelError unless `x` is an NHWC batch whose height and width are multiples of `multiple`."""
    if x.ndim != 4:
        raise ModelError(f"{owner} expects an NHWC image batch, got an array of shape {tuple(x.shape)}")
    height, width = x.shape[1:3]
    if height % multiple or width % multiple:
        raise ModelError(f"{owner} input {height}x{width} (HxW) must have both sides divisible by {multiple}")


def make_norm(kind: str, train: bool, dtype: Dtype, name: str) -> nn.Module:
    """The normalisation called `kind`, bound to train/eval mode so every kind is applied as `norm(x)`.

    Call inside a compact method: the module attaches to the caller under `name`.
    """
    if kind == "batch":
        return TorchBatchNorm(use_running_average=not train, dtype=dtype, name=name)
    if kind == "instance":
        return TorchInstanceNorm(dtype=dtype, name=name)
    if kind == "ibn":
        return IBN(use_running_average=not train, dtype=dtype, name=name)
    raise ModelError(f"unknown norm {kind!r}; choose one of {', '.join(NORM_KINDS)}")


class ResidualBlock(nn.Module):
    """conv3x3-norm-relu-conv3x3-norm plus identity skip (CycleGAN style: no ReLU after the sum).

    `norm="ibn"` makes it an IBN-Res block: IBN after the first conv only, batch norm after the second
    (IBN-a). Channels in == channels out, taken from the input.
    """

    norm: str = "instance"
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        channels = x.shape[-1]
        conv = functools.partial(
            self.conv, channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, dtype=self.dtype
        )
        second_norm = "batch" if self.norm == "ibn" else self.norm
        y = conv(name="conv1")(x)
        y = nn.relu(make_norm(self.norm, train, self.dtype, name="norm1")(y))
        y = conv(name="conv2")(y)
        y = make_norm(second_norm, train, self.dtype, name="norm2")(y)
        return x + y


class ConvNormAct(nn.Module):
    """conv -> optional norm -> optional activation: the unit UnityGAN's generator and discriminator use.

    Padding is `dilation * (kernel_size - 1) // 2` on every side, so a stride-s conv maps size n to n / s
    exactly (4x4/2 pads 1, 3x3 pads 1, dilated 3x3 pads the rate). The conv has a bias only when no norm
    follows.
    """

    features: int
    kernel_size: int = 3
    strides: int = 1
    dilation: int = 1
    norm: str | None = "instance"
    activation: Callable | None = nn.relu
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        pad = self.dilation * (self.kernel_size - 1) // 2
        y = self.conv(
            self.features,
            (self.kernel_size, self.kernel_size),
            strides=(self.strides, self.strides),
            padding=((pad, pad), (pad, pad)),
            kernel_dilation=(self.dilation, self.dilation),
            use_bias=self.norm is None,
            dtype=self.dtype,
            name="conv",
        )(x)
        if self.norm is not None:
            y = make_norm(self.norm, train, self.dtype, name="norm")(y)
        return y if self.activation is None else self.activation(y)
