"""UnityGAN: the multi-scale generator with Style Attention, and the dilated patch discriminator.

Design choices the paper leaves open:
- Upsampling is nearest-neighbour resize followed by a 3x3 conv, not a transposed conv: resize-conv has no
  checkerboard artefacts (Odena et al., Distill 2016), and it keeps every learned filter an ordinary `conv`,
  so the injectable convolution covers the whole generator.
- Every encoder scale gets residual blocks and every scale below the bottleneck a skip connection, so
  structure is kept at all resolutions. IBN-Res blocks sit in the `ibn_scales` shallowest (highest-resolution)
  scales, where IBN-Net shows style lives; deeper blocks and the decoder use `norm` (instance by default:
  per-image statistics do not depend on which cameras share a batch).
- The discriminator uses instance norm as GANimorph does: no running statistics, and real and fake batches
  scored in separate calls cannot leak batch statistics into each other.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from unitystyle_jax.models.layers import (
    ConvNormAct,
    Dtype,
    ModelError,
    ModuleDef,
    ResidualBlock,
    check_image_batch,
)

leaky_relu = functools.partial(nn.leaky_relu, negative_slope=0.2)


def upsample2x(x):
    """Nearest-neighbour x2 upsampling of an NHWC batch (the resize half of resize-conv)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class StyleAttention(nn.Module):
    """A(x) = sigmoid(spatial mean of a small conv head on G1): one weight in (0, 1) per image.

    The paper does not give A_style's layers; a 3x3 conv, leaky ReLU and a 1x1 score conv read the style
    statistics G1 carries, and the spatial mean turns the score map into a per-image weight.
    """

    features: int = 64
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, g1):
        block = functools.partial(ConvNormAct, norm=None, conv=self.conv, dtype=self.dtype)
        h = block(self.features, activation=leaky_relu, name="hidden")(g1, train=False)
        scores = block(1, kernel_size=1, activation=None, name="score")(h, train=False)
        return nn.sigmoid(jnp.mean(scores.astype(jnp.float32), axis=(1, 2, 3)))


class StyleModulation(nn.Module):
    """Style Attention inside the generator (the `modulate` reading): per-channel gains read from G1's style
    statistics (each channel's spatial mean and std), 1 + tanh(dense(...)), that scale the decoder's
    full-resolution features. The dense layer starts at zero, so an untrained generator is unchanged."""

    @nn.compact
    def __call__(self, g1, features):
        g1 = g1.astype(jnp.float32)
        stats = jnp.concatenate([g1.mean(axis=(1, 2)), g1.std(axis=(1, 2))], axis=-1)
        gains = 1.0 + jnp.tanh(
            nn.Dense(features.shape[-1], kernel_init=nn.initializers.zeros, name="gains")(stats)
        )
        return features * gains[:, None, None, :].astype(features.dtype)


class Generator(nn.Module):
    """DiscoGAN-style encoder/decoder with residual blocks and skip connections at every scale, residual output.

    Encoder scale s (s = 0..num_scales-1): 4x4/2 conv to base_features*2**s channels (no norm at s = 0,
    as DiscoGAN), then num_res_blocks residual blocks. Decoder scale s (num_scales-2..0): upsample,
    concatenate the encoder's scale-s output, 3x3 conv back to base_features*2**s, residual blocks. A last
    upsample, concatenation with the input image (the full-resolution skip) and a zero-initialised 3x3 conv
    give a residual delta added in tanh's input space: the image is tanh(atanh(x') + delta), x' = x clipped to
    +-(1 - output_epsilon), so an untrained generator is the identity (to within output_epsilon). Why not
    clip(x + delta, -1, 1): a clipped pixel passes no gradient, so a delta that overshoots is never pulled back;
    tanh passes a gradient everywhere. Height and width must be divisible by 2**num_scales.

    Style Attention reads stop_gradient(G1), G1 = output of the first IBN-Res block (of the first residual
    block when ibn_scales = 0, the IBN ablation): the attention head is trained adversarially (see
    `losses.adversarial_weights`) and must not push the generator body.

    With `modulate` (Style Attention's `modulate` reading), a `StyleModulation` of G1 scales the decoder's
    full-resolution features, trained with G.

    Returns `(image in [-1, 1] with the input's shape, attention (B,) in (0, 1))`, both float32.
    """

    base_features: int = 64
    num_res_blocks: int = 3
    num_scales: int = 4
    ibn_scales: int = 1
    output_epsilon: float = 1e-3
    norm: str = "instance"
    modulate: bool = False
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    def _check_attributes(self) -> None:
        if self.base_features < 1 or self.num_res_blocks < 1 or self.num_scales < 2:
            raise ModelError(
                f"Generator needs base_features >= 1, num_res_blocks >= 1 and num_scales >= 2, got "
                f"{self.base_features}, {self.num_res_blocks} and {self.num_scales}"
            )
        if not 0 <= self.ibn_scales <= self.num_scales:
            raise ModelError(
                f"Generator ibn_scales={self.ibn_scales} must lie in 0..num_scales={self.num_scales}"
            )
        if not 0.0 < self.output_epsilon < 1.0:
            raise ModelError(f"Generator output_epsilon={self.output_epsilon} must lie in (0, 1)")

    @nn.compact
    def __call__(self, x, train: bool):
        self._check_attributes()
        check_image_batch(x, 2**self.num_scales, "Generator")
        block = functools.partial(ConvNormAct, conv=self.conv, dtype=self.dtype)
        residual = functools.partial(ResidualBlock, conv=self.conv, dtype=self.dtype)

        h = x.astype(self.dtype)
        skips = []
        for scale in range(self.num_scales):
            features = self.base_features * 2**scale
            first_norm = None if scale == 0 else self.norm
            h = block(features, 4, 2, norm=first_norm, activation=leaky_relu, name=f"encode{scale}")(h, train)
            block_norm = "ibn" if scale < self.ibn_scales else self.norm
            for index in range(self.num_res_blocks):
                h = residual(norm=block_norm, name=f"encode{scale}_res{index}")(h, train)
                if scale == 0 and index == 0:
                    g1 = h
                    attention = StyleAttention(
                        self.base_features, self.conv, self.dtype, name="style_attention"
                    )(jax.lax.stop_gradient(g1))
            skips.append(h)

        for scale in reversed(range(self.num_scales - 1)):
            h = jnp.concatenate([upsample2x(h), skips[scale]], axis=-1)
            h = block(self.base_features * 2**scale, norm=self.norm, name=f"decode{scale}")(h, train)
            for index in range(self.num_res_blocks):
                h = residual(norm=self.norm, name=f"decode{scale}_res{index}")(h, train)
        if self.modulate:
            h = StyleModulation(name="style_modulation")(g1, h)

        # The full-resolution skip: the input itself joins the last conv, so fine structure never has to pass
        # through the bottleneck. The output is residual, x + delta with delta's conv zero-initialised: each
        # camera's images start as themselves, and training moves their style rather than relearning content.
        top = jnp.concatenate([upsample2x(h), x.astype(self.dtype)], axis=-1)
        delta = self.conv(
            x.shape[-1],
            (3, 3),
            padding=((1, 1), (1, 1)),
            kernel_init=nn.initializers.zeros,
            dtype=self.dtype,
            name="to_image",
        )(top)
        edge = 1.0 - self.output_epsilon
        start = jnp.arctanh(jnp.clip(x.astype(jnp.float32), -edge, edge))
        return jnp.tanh(start + delta.astype(jnp.float32)), attention


class Discriminator(nn.Module):
    """GANimorph's patch discriminator: 4x4/2 convs (2, 4, 8 x base_features), a 3x3 conv, dilated 3x3 convs
    (rates 2, 4, 8, chained), concatenation of the pre- and post-dilation maps, a 3x3 merge conv and a 3x3
    conv to one logit per patch. Instance norm and leaky ReLU after every conv but the first and the last.

    `train` is accepted for a uniform model interface; instance norm has no train/eval difference.
    Returns `(logits (B, H/8, W/8, 1), features)`, all float32: features = conv0's map, the only one without
    instance norm (so it still carries the input's colour and contrast), then the seven normalised maps GANimorph
    matches (conv1, conv2, conv3, the three dilated convs, merge).
    """

    base_features: int = 64
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        if self.base_features < 1:
            raise ModelError(f"Discriminator base_features={self.base_features} must be >= 1")
        check_image_batch(x, 8, "Discriminator")
        block = functools.partial(ConvNormAct, activation=leaky_relu, conv=self.conv, dtype=self.dtype)
        wide = 8 * self.base_features

        features = [block(2 * self.base_features, 4, 2, norm=None, name="conv0")(x.astype(self.dtype), train)]
        features.append(block(4 * self.base_features, 4, 2, name="conv1")(features[-1], train))
        features.append(block(wide, 4, 2, name="conv2")(features[-1], train))
        features.append(block(wide, name="conv3")(features[-1], train))
        for rate in (2, 4, 8):
            features.append(block(wide, dilation=rate, name=f"dilated{rate}")(features[-1], train))
        merged = jnp.concatenate([features[3], features[-1]], axis=-1)
        features.append(block(wide, name="merge")(merged, train))
        logits = block(1, norm=None, activation=None, name="logits")(features[-1], train)
        return logits.astype(jnp.float32), tuple(f.astype(jnp.float32) for f in features)
