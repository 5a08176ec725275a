"""IDE: the ID-discriminative embedding re-ID model of CamStyle (ResNet backbone + two-FC classifier head).

Head as CamStyle's: Dense(pooled -> bottleneck_dim, kaiming-normal fan_out, zero bias) named `feat`,
BatchNorm `feat_bn`, ReLU, Dropout, Dense(-> num_classes, normal std 0.001, zero bias) named `classifier`.
The backbone is the submodule `backbone`, so converted torchvision weights drop in as `params["backbone"]`.
In training mode dropout needs a "dropout" rng and batch norm updates the "batch_stats" collection.
"""

import flax.linen as nn
import jax.numpy as jnp

from unitystyle_jax.models.layers import Dtype, ModelError, ModuleDef, TorchBatchNorm
from unitystyle_jax.models.resnet import ResNet, kaiming_fan_out

BACKBONE = (
    "backbone"  # the submodule whose pooled output is the test-time feature (torchvision's weights load here)
)


class IDE(nn.Module):
    """`__call__(x, train) -> {"features": pooled feature (B, D), "logits": (B, num_classes)}`, float32.

    "features" is the test-time descriptor (D = 2048 for ResNet-50); "logits" feed the identity cross-entropy.
    """

    num_classes: int
    depth: int = 50
    width: int = 64
    last_stride: int = 2
    ibn: bool = False
    bottleneck_dim: int = 1024
    dropout: float = 0.5
    conv: ModuleDef = nn.Conv
    dtype: Dtype = jnp.float32
    mixstyle_layers: tuple[int, ...] = ()  # ResNet's: MixStyle after these stages while training
    mixstyle_p: float = 0.5
    mixstyle_alpha: float = 0.1
    mixstyle_mix: str = "random"

    @nn.compact
    def __call__(self, x, train: bool, cameras=None):
        if self.num_classes < 1 or self.bottleneck_dim < 1:
            raise ModelError(
                "IDE needs num_classes >= 1 and bottleneck_dim >= 1, got "
                f"{self.num_classes} and {self.bottleneck_dim}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"IDE dropout={self.dropout} must lie in [0, 1)")
        features = ResNet(
            self.depth,
            self.width,
            self.last_stride,
            self.ibn,
            self.conv,
            self.dtype,
            self.mixstyle_layers,
            self.mixstyle_p,
            self.mixstyle_alpha,
            self.mixstyle_mix,
            name=BACKBONE,
        )(x, train, cameras)
        h = nn.Dense(self.bottleneck_dim, kernel_init=kaiming_fan_out, dtype=self.dtype, name="feat")(
            features
        )
        h = nn.relu(TorchBatchNorm(use_running_average=not train, dtype=self.dtype, name="feat_bn")(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        logits = nn.Dense(
            self.num_classes, kernel_init=nn.initializers.normal(0.001), dtype=self.dtype, name="classifier"
        )(h)
        return {"features": features, "logits": logits.astype(jnp.float32)}
