"""torchvision's ResNet (v1.5), IBN-Net's IBN-a variant and CamStyle's IDE model in plain `torch.nn`.

Why: the PyTorch side of every parity check (weight import, train-step speed), with the exact state_dict keys
of torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0/1`, `fc`) and of IBN-Net's
`resnet*_ibn_a` (`layer1.0.bn1.IN.*`, `layer1.0.bn1.BN.*`). torchvision does not import beside the local torch
build, so this is written from `torch.nn` alone. Imports torch: tests and benchmarks import this module, the
package core never does.

The architecture table (stage sizes, bottleneck threshold and expansion) and the argument checks are the Flax
`models.resnet`'s, so the two implementations cannot disagree about what "ResNet-50" means.
"""

import torch
from torch import nn

from unitystyle_jax.models import resnet
from unitystyle_jax.models.resnet import BOTTLENECK_EXPANSION, BOTTLENECK_MIN_DEPTH, STAGE_SIZES

IBN_RATIO = 0.5  # IBN-Net's default: instance norm on the first half of the channels


class IBN(nn.Module):
    """IBN-Net's IBN-a: InstanceNorm2d (affine) on the first int(planes * ratio) channels, BN on the rest."""

    def __init__(self, planes: int, ratio: float = IBN_RATIO):
        super().__init__()
        self.half = int(planes * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x):
        instance_half, batch_half = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(instance_half.contiguous()), self.BN(batch_half.contiguous())], dim=1)


def first_norm(planes: int, ibn: bool) -> nn.Module:
    """bn1 of a block: IBN under IBN-a, BatchNorm2d otherwise."""
    return IBN(planes) if ibn else nn.BatchNorm2d(planes)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (depth 18, 34); `ibn` makes bn1 an IBN as in IBN-Net's BasicBlock_IBN."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None, ibn: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = first_norm(planes, ibn)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck v1.5 (stride on the 3x3 conv2); `ibn` makes bn1 an IBN (Bottleneck_IBN)."""

    expansion = BOTTLENECK_EXPANSION

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None, ibn: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = first_norm(planes, ibn)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    """torchvision's ResNet with the Flax ResNet's knobs: depth, width (64 in torchvision), last_stride, ibn.

    `forward_features` returns the pooled feature (B, 8 * width * expansion); `forward` applies `fc` to it, or
    returns it unchanged when num_classes is None (then the state_dict has no `fc.*`). `ibn` follows IBN-Net's
    resnet*_ibn_a: IBN as bn1 of every block in layer1..layer3.
    """

    def __init__(
        self,
        depth: int = 50,
        width: int = 64,
        last_stride: int = 2,
        ibn: bool = False,
        num_classes: int | None = 1000,
    ):
        super().__init__()
        # The Flax twin's own checks, so both reject the same settings with the same message.
        resnet.ResNet(depth, width, last_stride, ibn)._check_attributes()
        block = Bottleneck if depth >= BOTTLENECK_MIN_DEPTH else BasicBlock
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = width
        stages = STAGE_SIZES[depth]
        for stage, num_blocks in enumerate(stages):
            planes = width * 2**stage
            stride = 1 if stage == 0 else last_stride if stage == len(stages) - 1 else 2
            use_ibn = ibn and stage < len(stages) - 1
            layer, inplanes = self._make_layer(block, inplanes, planes, num_blocks, stride, use_ibn)
            self.add_module(f"layer{stage + 1}", layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = inplanes
        self.fc = nn.Identity() if num_classes is None else nn.Linear(inplanes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _make_layer(block, inplanes: int, planes: int, num_blocks: int, stride: int, ibn: bool):
        """One stage as torchvision builds it; returns (nn.Sequential, channels out)."""
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_planes:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
            )
        blocks = [block(inplanes, planes, stride, downsample, ibn)]
        blocks += [block(out_planes, planes, 1, None, ibn) for _ in range(1, num_blocks)]
        return nn.Sequential(*blocks), out_planes

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


class IDE(nn.Module):
    """CamStyle's IDE model, the twin of `models.ide.IDE` (same submodule names, same initialisation).

    backbone (ResNet without fc) -> `feat` Linear(D -> bottleneck_dim) -> `feat_bn` BatchNorm1d -> ReLU ->
    Dropout -> `classifier` Linear(-> num_classes). `forward` returns {"features": pooled (B, D), "logits"}.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = 50,
        width: int = 64,
        last_stride: int = 2,
        ibn: bool = False,
        bottleneck_dim: int = 1024,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.backbone = ResNet(depth, width, last_stride, ibn, num_classes=None)
        self.feat = nn.Linear(self.backbone.feature_dim, bottleneck_dim)
        self.feat_bn = nn.BatchNorm1d(bottleneck_dim)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bottleneck_dim, num_classes)
        nn.init.kaiming_normal_(self.feat.weight, mode="fan_out")
        nn.init.zeros_(self.feat.bias)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        features = self.backbone(x)
        h = self.dropout(self.relu(self.feat_bn(self.feat(features))))
        return {"features": features, "logits": self.classifier(h)}
