"""torchvision's ResNet (v1.5), IBN-Net's IBN-a variant, CamStyle's IDE model and the UnityGAN (networks and one
training step) in plain `torch.nn`.

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
from torch.nn import functional

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


# ---------------------------------------------------------------------------------------------------- UnityGAN
def unitygan_nets(gan_config):
    """G, F, D_X, D_Y as `nn.ModuleDict`s of layers: the twins of `models.unitygan` (same layers, same sizes).

    A residual block is its body (conv-norm-ReLU-conv-norm); the skip is added by `unitygan_generator`.
    """
    leaky = lambda: nn.LeakyReLU(0.2)
    instance = lambda c: nn.InstanceNorm2d(c, affine=True)

    def unit(cin, cout, kernel=3, stride=1, dilation=1, norm=True, act=nn.ReLU):
        pad = dilation * (kernel - 1) // 2
        layers = [nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=not norm)]
        return nn.Sequential(*layers, *([instance(cout)] if norm else []), *([act()] if act else []))

    def residual(c, ibn):
        first = IBN(c) if ibn else instance(c)
        second = nn.BatchNorm2d(c) if ibn else instance(c)
        conv = lambda: nn.Conv2d(c, c, 3, 1, 1, bias=False)
        return nn.Sequential(conv(), first, nn.ReLU(), conv(), second)

    def generator():
        g, base = gan_config.generator, gan_config.generator.base_features
        layers, channels = {}, 3
        for scale in range(g.num_scales):
            features = base * 2**scale
            layers[f"encode{scale}"] = unit(channels, features, 4, 2, norm=scale > 0, act=leaky)
            for index in range(g.num_res_blocks):
                layers[f"encode{scale}_res{index}"] = residual(features, scale < g.ibn_scales)
            channels = features
        layers["attention"] = nn.Sequential(
            unit(base, base, norm=False, act=leaky), unit(base, 1, 1, norm=False, act=None)
        )
        for scale in reversed(range(g.num_scales - 1)):
            features = base * 2**scale
            layers[f"decode{scale}"] = unit(channels + features, features)
            for index in range(g.num_res_blocks):
                layers[f"decode{scale}_res{index}"] = residual(features, False)
            channels = features
        layers["to_image"] = unit(channels + 3, 3, norm=False, act=None)
        return nn.ModuleDict(layers)

    def discriminator():
        base = gan_config.discriminator.base_features
        wide = 8 * base
        layers = {
            "conv0": unit(3, 2 * base, 4, 2, norm=False, act=leaky),
            "conv1": unit(2 * base, 4 * base, 4, 2, act=leaky),
            "conv2": unit(4 * base, wide, 4, 2, act=leaky),
            "conv3": unit(wide, wide, act=leaky),
            **{f"dilated{rate}": unit(wide, wide, dilation=rate, act=leaky) for rate in (2, 4, 8)},
            "merge": unit(2 * wide, wide, act=leaky),
            "logits": unit(wide, 1, norm=False, act=None),
        }
        return nn.ModuleDict(layers)

    return nn.ModuleDict({"G": generator(), "F": generator(), "D_X": discriminator(), "D_Y": discriminator()})


def unitygan_generator(layers, x, generator_config):
    """(image, style attention) as `models.unitygan.Generator`: encoder, residual blocks, skips, resize-convs,
    the residual output tanh(atanh(x) + delta)."""
    upsample = lambda h: functional.interpolate(h, scale_factor=2, mode="nearest")
    h, skips = x, []
    for scale in range(generator_config.num_scales):
        h = layers[f"encode{scale}"](h)
        for index in range(generator_config.num_res_blocks):
            h = h + layers[f"encode{scale}_res{index}"](h)
            if scale == 0 and index == 0:
                attention = torch.sigmoid(layers["attention"](h.detach()).mean(dim=(1, 2, 3)))
        skips.append(h)
    for scale in reversed(range(generator_config.num_scales - 1)):
        h = layers[f"decode{scale}"](torch.cat([upsample(h), skips[scale]], 1))
        for index in range(generator_config.num_res_blocks):
            h = h + layers[f"decode{scale}_res{index}"](h)
    delta = layers["to_image"](torch.cat([upsample(h), x], 1))
    edge = 1.0 - generator_config.output_epsilon
    return torch.tanh(torch.atanh(x.clamp(-edge, edge)) + delta), attention


def unitygan_discriminator(layers, x):
    """(patch logits, the seven feature maps) as `models.unitygan.Discriminator`."""
    features = [layers["conv1"](layers["conv0"](x))]
    for name in ("conv2", "conv3", "dilated2", "dilated4", "dilated8"):
        features.append(layers[name](features[-1]))
    features.append(layers["merge"](torch.cat([features[2], features[-1]], 1)))
    return layers["logits"](features[-1]), features


def ssim(x, y, filter_size=11, sigma=1.5, max_val=2.0):
    """Per-sample SSIM as `losses.ssim` (Gaussian window, valid positions, mean over channels and pixels)."""
    offsets = torch.arange(filter_size, dtype=torch.float32) - (filter_size - 1) / 2
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    taps = taps / taps.sum()
    stacked = torch.cat([x, y, x * x, y * y, x * y], 1)
    channels = stacked.shape[1]
    blurred = functional.conv2d(stacked, taps.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    blurred = functional.conv2d(blurred, taps.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = torch.chunk(blurred, 5, dim=1)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    var_x, var_y, cov = mean_xx - mean_x**2, mean_yy - mean_y**2, mean_xy - mean_x * mean_y
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.flatten(1).mean(1)


def unitygan_step(nets, gan_config):
    """One call = `gan_step.train_step` in PyTorch: the same batched network calls, the four terms (LSGAN,
    batch-statistics feature matching, identity L1, cycle SSIM + L1) with bounded, gradient-reversed Style
    Attention weights on the Y expectation (D_Y's real side and the FM target included), bias-corrected SLN,
    generator gradients (not the discriminators'), the discriminator loss on detached fakes, two Adam updates."""
    c = gan_config
    per_sample = lambda t: t.flatten(1).mean(1)
    l1 = lambda a, b: per_sample((a - b).abs())
    cycle = lambda a, b: c.lambda_ss * (1 - ssim(a, b)) + c.lambda_l1 * l1(a, b)
    lambdas = {"gan": c.lambda_gan, "fm": c.lambda_fm, "id": c.lambda_id, "cyc": c.lambda_cyc}
    gen_params = [p for n in ("G", "F") for p in nets[n].parameters()]
    disc_params = [p for n in ("D_X", "D_Y") for p in nets[n].parameters()]
    adam = lambda params: torch.optim.Adam(params, lr=c.learning_rate, betas=(c.b1, c.b2))
    gen_opt, disc_opt = adam(gen_params), adam(disc_params)
    sln = {"ema": dict.fromkeys(lambdas, 0.0), "snapshot": dict.fromkeys(lambdas, 1.0), "step": 0}

    class Reverse(torch.autograd.Function):
        forward = staticmethod(lambda ctx, a: a.view_as(a))
        backward = staticmethod(lambda ctx, g: -g)

    def mean(values, weights=None):
        return values.mean() if weights is None else (weights * values).sum() / weights.sum().clamp_min(1e-12)

    def statistics(features, weights=None):
        ones = lambda f: torch.ones(f.shape[0], device=f.device)
        return [mean(f.mean(dim=(2, 3)).T, ones(f) if weights is None else weights) for f in features]

    def feature_matching(real, fake, real_weights=None, fake_weights=None):
        pairs = zip(statistics([r.detach() for r in real], real_weights), statistics(fake, fake_weights))
        return torch.stack([(r - f).abs().mean() for r, f in pairs]).mean()

    def step(x, y, y_own):
        b = x.shape[0]
        f_out, _ = unitygan_generator(nets["F"], torch.cat([y, x]), c.generator)
        fake_x, identity_x = f_out[:b], f_out[b:]
        g_out, g_attention = unitygan_generator(nets["G"], torch.cat([x, y, fake_x]), c.generator)
        fake_y, identity_y, cycle_y = g_out[:b], g_out[b : 2 * b], g_out[2 * b :]
        bounded = c.attention_floor + (1 - c.attention_floor) * Reverse.apply(g_attention[b : 2 * b])
        weights = bounded / bounded.mean()
        id_weights = weights * (1 - y_own) if c.identity_other_cameras else weights
        cycle_x, _ = unitygan_generator(nets["F"], fake_y, c.generator)
        logits_y, features_y = unitygan_discriminator(nets["D_Y"], torch.cat([fake_y, y]))
        logits_x, features_x = unitygan_discriminator(nets["D_X"], torch.cat([fake_x, x]))
        real_y, fake_y_features = [f[b:] for f in features_y], [f[:b] for f in features_y]
        real_x, fake_x_features = [f[b:] for f in features_x], [f[:b] for f in features_x]
        terms = {
            "gan": mean(per_sample((logits_y[:b] - 1) ** 2))
            + mean(per_sample((logits_x[:b] - 1) ** 2), weights),
            "fm": feature_matching(real_y, fake_y_features, real_weights=weights)
            + feature_matching(real_x, fake_x_features, fake_weights=weights),
            "id": mean(l1(identity_y, y), id_weights) + mean(l1(identity_x, x)),
            "cyc": mean(cycle(x, cycle_x)) + mean(cycle(y, cycle_y), weights),
        }
        snapshot = sln["snapshot"]
        floor = snapshot["gan"] if c.sln_floor == "gan" else 0.0  # losses.sln_normalize's floor
        total = sum(lambdas[k] * terms[k] / max(snapshot[k], floor) for k in lambdas)
        # F's Style Attention head feeds no loss (only G's weights the Y terms): its gradient is zero, as in JAX.
        gen_grads = torch.autograd.grad(total, gen_params, allow_unused=True, materialize_grads=True)

        disc_total, w = 0.0, weights.detach()
        for name, fake, real, real_w, fake_w in (("D_Y", fake_y, y, w, None), ("D_X", fake_x, x, None, w)):
            logits, _ = unitygan_discriminator(nets[name], torch.cat([fake.detach(), real]))
            disc_total = disc_total + 0.5 * (
                mean(per_sample((logits[b:] - 1) ** 2), real_w) + mean(per_sample(logits[:b] ** 2), fake_w)
            )
        disc_grads = torch.autograd.grad(disc_total, disc_params)
        for params, grads, optimizer in (
            (gen_params, gen_grads, gen_opt),
            (disc_params, disc_grads, disc_opt),
        ):
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()

        sln["step"] += 1
        refresh = sln["step"] == c.sln_first or (
            sln["step"] > c.sln_first and (sln["step"] - c.sln_first) % c.sln_every == 0
        )
        for k, term in terms.items():
            sln["ema"][k] = c.sln_decay * sln["ema"][k] + (1 - c.sln_decay) * float(term.detach())
            if refresh:
                sln["snapshot"][k] = sln["ema"][k] / (1 - c.sln_decay ** sln["step"])

    return step
