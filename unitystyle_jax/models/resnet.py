"""torchvision's ResNet (v1.5) in Flax, with IBN-Net's IBN-a option, built so torchvision weights import 1:1.

Layer for layer as torchvision: conv1 7x7/2 pad 3, bn1, ReLU, max-pool 3x3/2 pad 1 (padded with -inf), four
stages of basic blocks (depth 18, 34) or bottlenecks (50, 101, 152) with the stride on the bottleneck's 3x3
conv, a 1x1-conv + BN downsample where shape changes, global average pooling. Padding is explicit and
symmetric (k // 2), BN uses eps 1e-5 and momentum 0.9 (= torch's 0.1), convs have no bias.

Parameter mapping from a torchvision state_dict (conv weight OIHW -> kernel HWIO: transpose (2, 3, 1, 0)):
    conv1.weight                  -> params["conv1"]["kernel"]
    bn1.{weight,bias}             -> params["bn1"]["scale"], params["bn1"]["bias"]
    bn1.{running_mean,running_var}-> batch_stats["bn1"]["mean"], batch_stats["bn1"]["var"]
    layer{i}.{j}.conv{k}.weight   -> params[f"layer{i}_{j}"][f"conv{k}"]["kernel"]
    layer{i}.{j}.bn{k}.*          -> [f"layer{i}_{j}"][f"bn{k}"] (scale/bias: params, mean/var: batch_stats)
    layer{i}.{j}.downsample.0.*   -> [f"layer{i}_{j}"]["downsample_conv"]
    layer{i}.{j}.downsample.1.*   -> [f"layer{i}_{j}"]["downsample_bn"]
    IBN-a (IBN-Net resnet*_ibn_a):
    layer{i}.{j}.bn1.IN.*         -> [f"layer{i}_{j}"]["bn1"]["IN"]
    layer{i}.{j}.bn1.BN.*         -> [f"layer{i}_{j}"]["bn1"]["BN"]
fc.* has no counterpart: the re-ID head lives in `ide.IDE`.
"""

import functools

import flax.linen as nn
import jax.numpy as jnp

from unitystyle_jax.models.layers import IBN, Dtype, ModelError, ModuleDef, TorchBatchNorm, check_image_batch
from unitystyle_jax.models.mixstyle import MixStyle

STAGE_SIZES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BOTTLENECK_MIN_DEPTH = 50
BOTTLENECK_EXPANSION = 4

# torchvision initialises convs with kaiming_normal_(mode="fan_out", nonlinearity="relu").
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def torchvision_conv(conv: ModuleDef, features: int, kernel_size: int, strides: int, name: str, dtype: Dtype):
    """A bias-free square conv with torchvision's padding (kernel_size // 2 each side) and initialisation."""
    pad = kernel_size // 2
    return conv(
        features,
        (kernel_size, kernel_size),
        strides=(strides, strides),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=kaiming_fan_out,
        dtype=dtype,
        name=name,
    )


class ResNetBlock(nn.Module):
    """torchvision's BasicBlock (`bottleneck=False`) or Bottleneck v1.5 (`bottleneck=True`, stride on conv2).

    `features` is torchvision's `planes`; a bottleneck outputs 4 * features. `ibn` swaps bn1 for IBN-a.
    """

    features: int
    strides: int = 1
    bottleneck: bool = True
    ibn: bool = False
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        conv = functools.partial(torchvision_conv, self.conv, dtype=self.dtype)
        norm = functools.partial(TorchBatchNorm, use_running_average=not train, dtype=self.dtype)
        first_norm = (
            functools.partial(IBN, use_running_average=not train, dtype=self.dtype) if self.ibn else norm
        )

        if self.bottleneck:
            out_features = self.features * BOTTLENECK_EXPANSION
            y = nn.relu(first_norm(name="bn1")(conv(self.features, 1, 1, "conv1")(x)))
            y = nn.relu(norm(name="bn2")(conv(self.features, 3, self.strides, "conv2")(y)))
            y = norm(name="bn3")(conv(out_features, 1, 1, "conv3")(y))
        else:
            out_features = self.features
            y = nn.relu(first_norm(name="bn1")(conv(self.features, 3, self.strides, "conv1")(x)))
            y = norm(name="bn2")(conv(self.features, 3, 1, "conv2")(y))

        shortcut = x
        if self.strides != 1 or x.shape[-1] != out_features:
            shortcut = norm(name="downsample_bn")(conv(out_features, 1, self.strides, "downsample_conv")(x))
        return nn.relu(y + shortcut)


class ResNet(nn.Module):
    """Backbone returning the globally average-pooled feature, float32 (B, 8 * width * expansion).

    depth: 18, 34, 50, 101 or 152. width: channels of conv1 and stage 1 (64 in torchvision; tiny tests use 8).
    last_stride: stride of stage 4 (1 keeps a 16x8 map for 256x128 inputs, the common re-ID trick).
    ibn: IBN-a as IBN-Net's resnet*_ibn_a: IBN replaces bn1 in every block of layer1..layer3, nothing else.
    mixstyle_layers: MixStyle after these stages (1-based; the MixStyle paper's choice is (1, 2)) while training,
    with mixstyle_p, mixstyle_alpha and mixstyle_mix (models/mixstyle.py); `cameras` feeds its "camera" mix.
    """

    depth: int = 50
    width: int = 64
    last_stride: int = 2
    ibn: bool = False
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32
    mixstyle_layers: tuple[int, ...] = ()
    mixstyle_p: float = 0.5
    mixstyle_alpha: float = 0.1
    mixstyle_mix: str = "random"

    def _check_attributes(self) -> None:
        if self.depth not in STAGE_SIZES:
            raise ModelError(f"ResNet depth={self.depth} is not one of {', '.join(map(str, STAGE_SIZES))}")
        if self.width < 2:
            raise ModelError(f"ResNet width={self.width} must be >= 2")
        if self.last_stride not in (1, 2):
            raise ModelError(f"ResNet last_stride={self.last_stride} must be 1 or 2")
        stages = len(STAGE_SIZES[self.depth])
        if not set(self.mixstyle_layers) <= set(range(1, stages + 1)):
            raise ModelError(f"ResNet mixstyle_layers={self.mixstyle_layers} must name stages 1..{stages}")

    @nn.compact
    def __call__(self, x, train: bool, cameras=None):
        self._check_attributes()
        check_image_batch(x, 1, "ResNet")
        x = torchvision_conv(self.conv, self.width, 7, 2, "conv1", dtype=self.dtype)(x.astype(self.dtype))
        x = nn.relu(TorchBatchNorm(use_running_average=not train, dtype=self.dtype, name="bn1")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        last_stage = len(STAGE_SIZES[self.depth]) - 1
        for stage, num_blocks in enumerate(STAGE_SIZES[self.depth]):
            for index in range(num_blocks):
                strides = 1
                if index == 0 and stage > 0:
                    strides = self.last_stride if stage == last_stage else 2
                x = ResNetBlock(
                    self.width * 2**stage,
                    strides,
                    bottleneck=self.depth >= BOTTLENECK_MIN_DEPTH,
                    ibn=self.ibn and stage < last_stage,
                    conv=self.conv,
                    dtype=self.dtype,
                    name=f"layer{stage + 1}_{index}",
                )(x, train)
            if stage + 1 in self.mixstyle_layers:
                mix = MixStyle(
                    self.mixstyle_p, self.mixstyle_alpha, self.mixstyle_mix, name=f"mixstyle{stage + 1}"
                )
                x = mix(x, train, cameras)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))
