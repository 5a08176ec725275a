"""Train-step speed of this project against plain PyTorch on CPU: the IDE ResNet-50 step and the UnityGAN step.

    python benchmarks/train_step.py [--models ide,gan] [--batch 8] [--gan-batch 2] [--steps 5] [--rounds 2]
                                    [--conv auto] [--cpus 0,1] [--compilation-cache DIR]

IDE: ResNet-50 + two-FC head at 256x128, SGD (Nesterov, weight decay, two learning rates), cross-entropy,
through `reid_training.train_step`; PyTorch: `torch_reference.IDE`, the same optimizer and loss. UnityGAN: one
full step of `gan_training.train_step` (G and F, D_X and D_Y, every loss term, both Adam updates) at the
paper's model size; PyTorch: the twin below, with the same batched calls, losses and updates, and the same
parameter counts (checked). PyTorch runs eager in channels_last memory format.

Fairness: each (model, framework) pair runs in its own subprocess, pinned to the same CPUs, with torch's
thread count set to their number; both see the same batch and image size and are timed after warm-up over
several steps. The measurements run in --rounds interleaved rounds (jax, torch, jax, torch, ...) so that a
change in the machine's load hits both frameworks; the median over all rounds' steps gives images/s, the
fastest step is shown beside it. Compilation is timed apart (lower + compile of the jitted step): "compile s"
is the first round's, "cached s" the later rounds', which load the step from the persistent compilation cache
(a fresh folder per run unless --compilation-cache names one). Peak RSS is the largest of the worker
subprocesses' maximum resident memory, imports included. The load average is printed with the table: on a
shared machine other processes slow both frameworks.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

IDE_CLASSES = 751  # Market-1501's training identities
IMAGE_SIZE = (256, 128)


class BenchmarkError(ValueError):
    """A benchmark setting that cannot run; the one-line message names it."""


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)  # Linux reports KiB


def timed_steps(step, warmup: int, steps: int) -> list[float]:
    """Seconds per call of `step()` (which must block until done), after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------------------------------------
# JAX side: the project's own train steps, built from configs/default.py.


def jax_config(args):
    from configs import default

    config = default.get_config()
    config.model.conv = config.gan.conv = args.conv
    config.gan.height, config.gan.width = IMAGE_SIZE
    config.gan.batch_size = args.gan_batch
    return config


def jax_ide(args):
    import functools

    import jax
    import numpy as np

    from unitystyle_jax import parallel, reid_training

    config = jax_config(args)
    model = reid_training.create_model(config.model, IDE_CLASSES)
    tx, schedule = reid_training.create_optimizer(config.reid)
    init = functools.partial(reid_training.initial_state, model, tx, (*IMAGE_SIZE, 3))
    state = jax.jit(init)(jax.random.key(0, impl=parallel.INIT_PRNG))
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.standard_normal((args.batch, *IMAGE_SIZE, 3), np.float32),
        "label": rng.integers(0, IDE_CLASSES, args.batch).astype(np.int32),
    }
    step = functools.partial(reid_training.train_step, model=model, tx=tx, schedule=schedule, seed=0)
    return run_jax_step(step, state, batch, args, images_per_step=args.batch)


def jax_gan(args):
    import functools

    import jax
    import numpy as np

    from unitystyle_jax import gan_training
    from unitystyle_jax.parallel import INIT_PRNG

    config = jax_config(args)
    generator, discriminator = gan_training.create_models(config.gan)
    tx = gan_training.create_optimizer(config.gan)
    init = functools.partial(gan_training.initial_state, generator, discriminator, tx, (*IMAGE_SIZE, 3))
    state = jax.jit(init)(jax.random.key(0, impl=INIT_PRNG))
    rng = np.random.default_rng(0)
    batch = {k: rng.uniform(-1, 1, (args.gan_batch, *IMAGE_SIZE, 3)).astype(np.float32) for k in ("x", "y")}
    batch["y_own"] = (np.arange(args.gan_batch) % 2).astype(np.float32)  # half the Y samples from X's camera
    step = functools.partial(
        gan_training.train_step,
        generator=generator,
        discriminator=discriminator,
        tx=tx,
        gan_config=config.gan,
    )
    counts = {name: parameter_count(state["nets"][name]["params"]) for name in ("G", "D_X")}
    return run_jax_step(step, state, batch, args, images_per_step=2 * args.gan_batch, parameters=counts)


def parameter_count(params) -> int:
    import jax

    return sum(int(a.size) for a in jax.tree.leaves(params))


def run_jax_step(step, state, batch, args, images_per_step: int, **extra) -> dict:
    """Compiles the step (timed), then times it with the state donated from one step to the next."""
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.abspath(args.compilation_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0,)).lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

    times = timed_steps(one_step, args.warmup, args.steps)
    result = {
        "times": times,
        "images_per_step": images_per_step,
        "compile_s": compile_s,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **extra,
    }
    if args.profile:
        result["profile"] = op_profile(one_step, args.profile)
    return result


def op_profile(one_step, top: int) -> list[tuple[str, float, int]]:
    """Where one step's time goes: a jax.profiler trace of one step, its XLA ops' durations summed per kind
    (the op name without its numeric suffix: fusion, convolution, dot, copy, ...), the `top` largest kinds as
    (kind, ms, number of ops). On CPU ops of one step can overlap on two threads, so the sum can exceed the
    step's wall time."""
    import collections
    import glob
    import re

    import jax

    folder = tempfile.mkdtemp(prefix="train_step_trace_")
    try:
        with jax.profiler.trace(folder):
            one_step()
        (path,) = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)
        data = jax.profiler.ProfileData.from_file(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    seconds, counts = collections.Counter(), collections.Counter()
    for plane in data.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                kind = re.sub(r"[.\d]+$", "", event.name)
                if re.fullmatch(r"[a-z][a-z_-]*", kind):  # XLA HLO ops (lower-case names), not Python frames
                    seconds[kind] += event.duration_ns / 1e6
                    counts[kind] += 1
    return [(kind, round(ms, 1), counts[kind]) for kind, ms in seconds.most_common(top)]


# ----------------------------------------------------------------------------------------------------------
# PyTorch side.


def torch_ide(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    from unitystyle_jax import torch_reference

    config = jax_config(args)
    m, r = config.model, config.reid
    model = torch_reference.IDE(
        IDE_CLASSES, m.depth, m.width, m.last_stride, m.ibn, m.bottleneck_dim, m.dropout
    ).to(memory_format=torch.channels_last)
    model.train()
    backbone = list(model.backbone.parameters())
    head = [p for name, p in model.named_parameters() if not name.startswith("backbone.")]
    optimizer = torch.optim.SGD(
        [{"params": backbone, "lr": r.backbone_learning_rate}, {"params": head, "lr": r.learning_rate}],
        momentum=r.momentum,
        nesterov=r.nesterov,
        weight_decay=r.weight_decay,
    )
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.standard_normal((args.batch, 3, *IMAGE_SIZE), np.float32))
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.from_numpy(rng.integers(0, IDE_CLASSES, args.batch))

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)["logits"]
        loss = F.cross_entropy(logits, labels, reduction="sum") / args.batch
        loss.backward()
        optimizer.step()

    return run_torch_step(one_step, args, images_per_step=args.batch)


def run_torch_step(one_step, args, images_per_step: int, **extra) -> dict:
    result = {
        "times": timed_steps(one_step, args.warmup, args.steps),
        "images_per_step": images_per_step,
        **extra,
    }
    if args.profile:
        result["profile"] = torch_op_profile(one_step, args.profile)
    return result


def torch_op_profile(one_step, top: int) -> list[tuple[str, float, int]]:
    """One step under torch.profiler: the `top` aten ops by self CPU time, as (op, ms, calls)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        one_step()
    averages = sorted(profiler.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)
    return [(a.key, round(a.self_cpu_time_total / 1e3, 1), a.count) for a in averages[:top]]


def torch_unitygan_nets(gan_config):
    """G, F, D_X, D_Y as `nn.ModuleDict`s of layers: the twins of `models.unitygan` (same layers, same sizes).

    Built inside a function so that importing this script (as the JAX workers do) does not import torch.
    A residual block is its body (conv-norm-ReLU-conv-norm); the skip is added by `torch_generator`.
    """
    from torch import nn

    from unitystyle_jax.torch_reference import IBN

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


def torch_generator(layers, x, generator_config):
    """(image, style attention) as `models.unitygan.Generator`: encoder, residual blocks, skips, resize-convs,
    the residual output tanh(atanh(x) + delta)."""
    import torch
    import torch.nn.functional as F

    upsample = lambda h: F.interpolate(h, scale_factor=2, mode="nearest")
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


def torch_discriminator(layers, x):
    """(patch logits, the seven feature maps) as `models.unitygan.Discriminator`."""
    import torch

    features = [layers["conv1"](layers["conv0"](x))]
    for name in ("conv2", "conv3", "dilated2", "dilated4", "dilated8"):
        features.append(layers[name](features[-1]))
    features.append(layers["merge"](torch.cat([features[2], features[-1]], 1)))
    return layers["logits"](features[-1]), features


def torch_ssim(x, y, filter_size=11, sigma=1.5, max_val=2.0):
    """Per-sample SSIM as `losses.ssim` (Gaussian window, valid positions, mean over channels and pixels)."""
    import torch
    import torch.nn.functional as F

    offsets = torch.arange(filter_size, dtype=torch.float32) - (filter_size - 1) / 2
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    taps = taps / taps.sum()
    stacked = torch.cat([x, y, x * x, y * y, x * y], 1)
    channels = stacked.shape[1]
    blurred = F.conv2d(stacked, taps.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    blurred = F.conv2d(blurred, taps.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = torch.chunk(blurred, 5, dim=1)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    var_x, var_y, cov = mean_xx - mean_x**2, mean_yy - mean_y**2, mean_xy - mean_x * mean_y
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.flatten(1).mean(1)


def torch_gan_step(nets, gan_config):
    """One call = `gan_training.train_step` in PyTorch: the same batched network calls, the four terms (LSGAN,
    batch-statistics feature matching, identity L1, cycle SSIM + L1) with bounded, gradient-reversed Style
    Attention weights on the Y expectation (D_Y's real side and the FM target included), bias-corrected SLN,
    generator gradients (not the discriminators'), the discriminator loss on detached fakes, two Adam updates."""
    import torch

    c = gan_config
    per_sample = lambda t: t.flatten(1).mean(1)
    l1 = lambda a, b: per_sample((a - b).abs())
    cycle = lambda a, b: c.lambda_ss * (1 - torch_ssim(a, b)) + c.lambda_l1 * l1(a, b)
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
        f_out, _ = torch_generator(nets["F"], torch.cat([y, x]), c.generator)
        fake_x, identity_x = f_out[:b], f_out[b:]
        g_out, g_attention = torch_generator(nets["G"], torch.cat([x, y, fake_x]), c.generator)
        fake_y, identity_y, cycle_y = g_out[:b], g_out[b : 2 * b], g_out[2 * b :]
        bounded = c.attention_floor + (1 - c.attention_floor) * Reverse.apply(g_attention[b : 2 * b])
        weights = bounded / bounded.mean()
        id_weights = weights * (1 - y_own) if c.identity_other_cameras else weights
        cycle_x, _ = torch_generator(nets["F"], fake_y, c.generator)
        logits_y, features_y = torch_discriminator(nets["D_Y"], torch.cat([fake_y, y]))
        logits_x, features_x = torch_discriminator(nets["D_X"], torch.cat([fake_x, x]))
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
        total = sum(lambdas[k] * terms[k] / sln["snapshot"][k] for k in lambdas)
        # F's Style Attention head feeds no loss (only G's weights the Y terms): its gradient is zero, as in JAX.
        gen_grads = torch.autograd.grad(total, gen_params, allow_unused=True, materialize_grads=True)

        disc_total, w = 0.0, weights.detach()
        for name, fake, real, real_w, fake_w in (("D_Y", fake_y, y, w, None), ("D_X", fake_x, x, None, w)):
            logits, _ = torch_discriminator(nets[name], torch.cat([fake.detach(), real]))
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


def torch_gan(args):
    import numpy as np
    import torch

    config = jax_config(args)
    nets = torch_unitygan_nets(config.gan).to(memory_format=torch.channels_last)
    nets.train()
    rng = np.random.default_rng(0)
    x, y = (
        torch.from_numpy(rng.uniform(-1, 1, (args.gan_batch, 3, *IMAGE_SIZE)).astype(np.float32)).contiguous(
            memory_format=torch.channels_last
        )
        for _ in range(2)
    )
    y_own = torch.from_numpy((np.arange(args.gan_batch) % 2).astype(np.float32))  # as the JAX side's batch
    step = torch_gan_step(nets, config.gan)
    counts = {name: sum(p.numel() for p in nets[name].parameters()) for name in ("G", "D_X")}
    return run_torch_step(
        lambda: step(x, y, y_own), args, images_per_step=2 * args.gan_batch, parameters=counts
    )


WORKERS = {
    ("ide", "jax"): jax_ide,
    ("ide", "torch"): torch_ide,
    ("gan", "jax"): jax_gan,
    ("gan", "torch"): torch_gan,
}


def worker(args) -> None:
    """One measurement in this process; prints one JSON line."""
    model, framework = args.worker.split(":")
    os.sched_setaffinity(0, args.cpus)
    if framework.startswith("jax-"):  # jax-xla, jax-fast, jax-auto: the project with that convolution
        framework, args.conv = "jax", framework[len("jax-") :]
    if framework == "torch":
        import torch

        torch.set_num_threads(len(args.cpus))
    result = WORKERS[model, framework](args)
    result["peak_rss_gib"] = peak_rss_gib()
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------------------------------
# Driver.


def measure(model: str, framework: str, args, cache: str) -> dict:
    """One worker subprocess with this run's settings; the JAX ones share the persistent cache `cache`."""
    settings = {
        "batch": args.batch,
        "gan-batch": args.gan_batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "conv": args.conv,
        "profile": args.profile,
        "cpus": ",".join(map(str, args.cpus)),
        "compilation-cache": cache,
        "worker": f"{model}:{framework}",
    }
    command = [sys.executable, os.path.abspath(__file__), *(f"--{k}={v}" for k, v in settings.items())]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise BenchmarkError(f"{model}/{framework} worker failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def pooled(rounds: list[dict]) -> dict:
    """The rounds of one (model, framework) as one result: all step times, the first (cold) compile and the
    fastest later one (loaded from the persistent cache), the largest peak memory."""
    result = {**rounds[0], "times": [t for r in rounds for t in r["times"]]}
    result["peak_rss_gib"] = max(r["peak_rss_gib"] for r in rounds)
    if "compile_s" in result and len(rounds) > 1:
        result["cached_compile_s"] = min(r["compile_s"] for r in rounds[1:])
    return result


def images_per_second(result: dict) -> float:
    return result["images_per_step"] / statistics.median(result["times"])


def report(results: dict, args) -> None:
    print(
        f"CPUs {args.cpus}, IDE batch {args.batch}, UnityGAN batch {args.gan_batch} (x and y each), "
        f"{'x'.join(map(str, IMAGE_SIZE))} images, conv={args.conv}; {args.rounds} round(s) of {args.steps} "
        f"timed steps after {args.warmup} warm-up"
    )
    flags = next((r["xla_flags"] for r in results.values() if "xla_flags" in r), "")
    print(f"XLA_FLAGS: {flags or '(none)'}")
    header = (
        f"{'model':<9} {'framework':<9} {'images/s':>8} {'median s':>9} {'min s':>7} {'ratio':>6} "
        f"{'compile s':>10} {'cached s':>9} {'peak RSS GiB':>13}"
    )
    print(header)
    print("-" * len(header))
    optional = lambda r, key: f"{r[key]:.1f}" if key in r else "-"
    for model in args.models:
        torch_speed = images_per_second(results[model, "torch"]) if (model, "torch") in results else None
        for framework in args.frameworks:
            r = results[model, framework]
            speed = images_per_second(r)
            ratio = f"{speed / torch_speed:.2f}" if torch_speed else "-"
            name = "UnityGAN" if model == "gan" else "IDE-R50"
            print(
                f"{name:<9} {framework:<9} {speed:>8.2f} {statistics.median(r['times']):>9.3f} "
                f"{min(r['times']):>7.3f} {ratio:>6} {optional(r, 'compile_s'):>10} "
                f"{optional(r, 'cached_compile_s'):>9} {r['peak_rss_gib']:>13.2f}"
            )
    for (model, framework), r in results.items():
        if "profile" in r:
            what = "aten ops, self time" if framework == "torch" else "XLA ops by kind"
            print(
                f"{model}/{framework}, one step's {what}: "
                + ", ".join(f"{kind} {ms:.0f} ms ({count})" for kind, ms, count in r["profile"])
            )
    jax_gan = next(
        (r for (model, framework), r in results.items() if model == "gan" and framework != "torch"), None
    )
    if jax_gan and ("gan", "torch") in results:
        jax_counts, torch_counts = jax_gan["parameters"], results["gan", "torch"]["parameters"]
        if jax_counts != torch_counts:
            raise BenchmarkError(
                f"UnityGAN twins differ in parameter counts: jax {jax_counts}, torch {torch_counts}"
            )
        print(f"UnityGAN parameters (both frameworks): {jax_counts}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ide,gan", help="comma-separated: ide, gan")
    parser.add_argument(
        "--frameworks",
        default="jax,torch",
        help="comma-separated: jax (with --conv), jax-auto, jax-fast, jax-xla (with that conv), torch",
    )
    parser.add_argument("--batch", type=int, default=8, help="IDE images per step")
    parser.add_argument("--gan-batch", type=int, default=2, help="UnityGAN x (and y) images per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first, every round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all measurements, interleaved")
    parser.add_argument("--conv", default="auto", help="the project's convolution: auto, fast or xla")
    parser.add_argument("--cpus", default=None, help="comma-separated CPU ids to pin to (default: all)")
    parser.add_argument(
        "--compilation-cache",
        default="",
        help="JAX persistent cache folder ('' = a fresh one for this run, deleted after)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="also trace one JAX step and print its N most expensive XLA op kinds",
    )
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    available = sorted(os.sched_getaffinity(0))
    args.cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else available
    for name, values, allowed in (
        ("--models", args.models, ("ide", "gan")),
        (
            "--frameworks",
            args.frameworks,
            ("jax", "torch", *(f"jax-{kind}" for kind in ("auto", "fast", "xla"))),
        ),
    ):
        if not values or any(v not in allowed for v in values):
            raise BenchmarkError(f"{name}={','.join(values)}: choose from {', '.join(allowed)}")
    if not set(args.cpus) <= set(available):
        raise BenchmarkError(f"--cpus={args.cpus} names CPUs this process may not use ({available})")
    if args.profile < 0:
        raise BenchmarkError(f"--profile={args.profile} must be >= 0")
    for name in ("batch", "gan_batch", "steps", "rounds"):
        if getattr(args, name) < 1:
            raise BenchmarkError(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")
    if args.warmup < 0:
        raise BenchmarkError(f"--warmup={args.warmup} must be >= 0")
    return args


def main(argv) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    cache = args.compilation_cache or tempfile.mkdtemp(prefix="train_step_cache_")
    rounds = {}
    try:
        for index in range(args.rounds):
            for model in args.models:
                for framework in args.frameworks:
                    rounds.setdefault((model, framework), []).append(measure(model, framework, args, cache))
                    print(f"  round {index + 1}: measured {model}/{framework}", flush=True)
    finally:
        if not args.compilation_cache:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    report({key: pooled(value) for key, value in rounds.items()}, args)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
