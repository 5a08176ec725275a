"""CamStyle's CycleGAN, as its repository trains it (pytorch-CycleGAN-and-pix2pix's defaults): the ResNet
generator and the 70x70 PatchGAN. The comparison's `camstyle` rows train one per camera pair.

- Generator: reflection pad 3, 7x7 conv to base_features; two 3x3 stride-2 convs (x2, x4 channels);
  `num_res_blocks` residual blocks with reflection padding; two 3x3 stride-2 transposed convs back; reflection
  pad 3, 7x7 conv to 3 channels, tanh. Instance norm and ReLU after every conv but the last. CycleGAN uses 9
  blocks at 256x256 and 6 at 128x128; it starts from random weights, not from the identity.
- PatchGAN (pix2pix's NLayerDiscriminator): `num_layers` 4x4 stride-2 convs (base_features, then doubling up
  to 8x), a stride-1 4x4 conv and one to a logit per patch; leaky ReLU 0.2, instance norm but on the first and
  the last. With 3 layers each logit sees a 70x70 window of the input, with 2 a 34x34 one.

Both return the UnityGAN networks' interface (`(image, None)`: no Style Attention; `(logits, features)`), so
the training loop, the transfer and the export restore and run them the same way.
"""

import functools

import flax.linen as nn
import jax.numpy as jnp

from unitystyle_jax.models.layers import Dtype, ModelError, ModuleDef, check_image_batch, make_norm

leaky_relu = functools.partial(nn.leaky_relu, negative_slope=0.2)


def reflect(x, pad: int):
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class _ReflectConv(nn.Module):
    """Reflection padding, then a stride-1 conv (CycleGAN's padding_type='reflect'), then instance norm."""

    features: int
    kernel_size: int
    norm: bool = True
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        y = self.conv(self.features, (k, k), padding="VALID", use_bias=not self.norm, dtype=self.dtype)(
            reflect(x, k // 2)
        )
        return make_norm("instance", False, self.dtype, name="norm")(y) if self.norm else y


class CycleGanGenerator(nn.Module):
    base_features: int = 64
    num_res_blocks: int = 9
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        del train  # instance norm only: no train/eval difference
        if self.base_features < 1 or self.num_res_blocks < 1:
            raise ModelError(
                f"CycleGanGenerator needs base_features >= 1 and num_res_blocks >= 1, got {self.base_features} and "
                f"{self.num_res_blocks}"
            )
        check_image_batch(x, 4, "CycleGanGenerator")
        same = functools.partial(_ReflectConv, conv=self.conv, dtype=self.dtype)
        norm = functools.partial(make_norm, "instance", False, self.dtype)
        h = nn.relu(same(self.base_features, 7, name="stem")(x.astype(self.dtype)))
        for i, mult in enumerate((2, 4)):
            h = self.conv(
                self.base_features * mult,
                (3, 3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                use_bias=False,
                dtype=self.dtype,
                name=f"down{i}",
            )(h)
            h = nn.relu(norm(name=f"down{i}_norm")(h))
        for i in range(self.num_res_blocks):
            y = nn.relu(same(h.shape[-1], 3, name=f"res{i}_a")(h))
            h = h + same(h.shape[-1], 3, name=f"res{i}_b")(y)
        for i, mult in enumerate((2, 1)):
            # PyTorch's ConvTranspose2d(k=3, s=2, padding=1, output_padding=1): exactly twice the size.
            h = nn.ConvTranspose(
                self.base_features * mult,
                (3, 3),
                strides=(2, 2),
                padding=((1, 2), (1, 2)),
                use_bias=False,
                dtype=self.dtype,
                name=f"up{i}",
            )(h)
            h = nn.relu(norm(name=f"up{i}_norm")(h))
        out = same(x.shape[-1], 7, norm=False, name="to_image")(h)
        return jnp.tanh(out.astype(jnp.float32)), None


class PatchDiscriminator(nn.Module):
    base_features: int = 64
    num_layers: int = 3
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        del train
        if self.base_features < 1 or self.num_layers < 1:
            raise ModelError(
                f"PatchDiscriminator needs base_features >= 1 and num_layers >= 1, got {self.base_features} and "
                f"{self.num_layers}"
            )
        scale = 2**self.num_layers
        check_image_batch(x, scale, "PatchDiscriminator")
        if min(x.shape[1:3]) // scale < 3:  # the two stride-1 4x4 convs take 2 from each side's size
            raise ModelError(
                f"PatchDiscriminator with {self.num_layers} layers needs images of at least {3 * scale} pixels a "
                f"side, got {x.shape[1]}x{x.shape[2]}"
            )
        conv = functools.partial(self.conv, kernel_size=(4, 4), padding=((1, 1), (1, 1)), dtype=self.dtype)
        h = leaky_relu(conv(self.base_features, strides=(2, 2), name="conv0")(x.astype(self.dtype)))
        features = [h]
        strides = [2] * (self.num_layers - 1) + [1]
        for i, stride in enumerate(strides, start=1):
            mult = min(2**i, 8)
            h = conv(self.base_features * mult, strides=(stride, stride), use_bias=False, name=f"conv{i}")(h)
            h = leaky_relu(make_norm("instance", False, self.dtype, name=f"norm{i}")(h))
            features.append(h)
        logits = conv(1, strides=(1, 1), name="logits")(h)
        return logits.astype(jnp.float32), tuple(f.astype(jnp.float32) for f in features)
