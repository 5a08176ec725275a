"""The train steps the benchmarks time, built the same way for every benchmark that times them (train_step.py on
this CPU, device_check.py on an accelerator): the project's IDE and UnityGAN steps from a config, and their plain
PyTorch twins with the same batch, optimizer, losses and parameter counts; the timer they share."""

import time

from unitystyle_jax.models.factory import create_gan_networks, create_ide

IDE_CLASSES = 751  # Market-1501's training identities
IMAGE_SIZE = (256, 128)


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


def jax_ide_setup(config, batch_size: int, image_size=IMAGE_SIZE):
    """(step, state, batch) of the project's IDE train step for `config` (not yet jit'd; seed 0)."""
    import functools

    import jax
    import numpy as np

    from unitystyle_jax.core import parallel
    from unitystyle_jax.reid import step as reid_step

    model = create_ide(config.model, IDE_CLASSES)
    tx, schedule = reid_step.create_optimizer(config.reid)
    init = functools.partial(reid_step.initial_state, model, tx, (*image_size, 3))
    state = jax.jit(init)(jax.random.key(0, impl=parallel.INIT_PRNG))
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.standard_normal((batch_size, *image_size, 3), np.float32),
        "label": rng.integers(0, IDE_CLASSES, batch_size).astype(np.int32),
    }
    step = functools.partial(reid_step.train_step, model=model, tx=tx, schedule=schedule, seed=0)
    return step, state, batch


def jax_gan_setup(gan_config, batch_size: int):
    """(step, state, batch, parameter counts of G and D_X) of the project's UnityGAN train step (not jit'd)."""
    import functools

    import jax
    import numpy as np

    from unitystyle_jax.core.parallel import INIT_PRNG
    from unitystyle_jax.gan import step as gan_step

    generator, discriminator = create_gan_networks(gan_config)
    tx = gan_step.create_optimizer(gan_config)
    shape = (gan_config.height, gan_config.width, 3)
    init = functools.partial(gan_step.initial_state, generator, discriminator, tx, shape)
    state = jax.jit(init)(jax.random.key(0, impl=INIT_PRNG))
    rng = np.random.default_rng(0)
    batch = {k: rng.uniform(-1, 1, (batch_size, *shape)).astype(np.float32) for k in ("x", "y")}
    batch["y_own"] = (np.arange(batch_size) % 2).astype(np.float32)  # half the Y samples from X's camera
    batch["y_balance"] = np.ones(batch_size, np.float32)
    step = functools.partial(
        gan_step.train_step,
        generator=generator,
        discriminator=discriminator,
        tx=tx,
        objective=gan_step.UnityGanObjective.of(gan_config),
    )
    counts = {name: parameter_count(state.nets[name]["params"]) for name in ("G", "D_X")}
    return step, state, batch, counts


def parameter_count(params) -> int:
    import jax

    return sum(int(a.size) for a in jax.tree.leaves(params))


def torch_autocast(dtype: str, device: str):
    """The context a twin's step runs in: bfloat16 autocast when the JAX step computes in bfloat16 (with float32
    parameters), else none."""
    import contextlib

    import torch

    if dtype == "bfloat16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def torch_ide_setup(config, batch_size: int, image_size=IMAGE_SIZE, device="cpu", compiled=False):
    """`one_step()` of the PyTorch IDE twin (torch_models.IDE, the same optimizer and loss) in channels_last
    memory format on `device`; the model through torch.compile when `compiled`. Under bfloat16 (config.model.dtype)
    the forward pass and loss run in torch.autocast, as the JAX step computes in bfloat16 with float32
    parameters."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from unitystyle_jax.reference import torch_models

    m, r = config.model, config.reid
    model = torch_models.IDE(IDE_CLASSES, m.depth, m.width, m.last_stride, m.ibn, m.bottleneck_dim, m.dropout)
    model = model.to(device=device, memory_format=torch.channels_last)
    model.train()
    backbone = list(model.backbone.parameters())
    head = [p for name, p in model.named_parameters() if not name.startswith("backbone.")]
    optimizer = torch.optim.SGD(
        [{"params": backbone, "lr": r.backbone_learning_rate}, {"params": head, "lr": r.learning_rate}],
        momentum=r.momentum,
        nesterov=r.nesterov,
        weight_decay=r.weight_decay,
    )
    forward = torch.compile(model) if compiled else model
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.standard_normal((batch_size, 3, *image_size), np.float32))
    images = images.to(device).contiguous(memory_format=torch.channels_last)
    labels = torch.from_numpy(rng.integers(0, IDE_CLASSES, batch_size)).to(device)

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        with torch_autocast(m.dtype, device):
            logits = forward(images)["logits"]
            loss = F.cross_entropy(logits.float(), labels, reduction="sum") / batch_size
        loss.backward()
        optimizer.step()

    return one_step


def torch_gan_setup(gan_config, batch_size: int, device="cpu", compiled=False):
    """(`one_step()`, parameter counts) of the PyTorch UnityGAN twin (torch_models.unitygan_step: the same
    batched calls, losses and updates) in channels_last memory format on `device`; the step in torch.autocast
    under bfloat16 (gan_config.dtype), through torch.compile when `compiled`."""
    import numpy as np
    import torch

    from unitystyle_jax.reference import torch_models

    nets = torch_models.unitygan_nets(gan_config).to(device=device, memory_format=torch.channels_last)
    nets.train()
    rng = np.random.default_rng(0)
    shape = (batch_size, 3, gan_config.height, gan_config.width)
    x, y = (
        torch.from_numpy(rng.uniform(-1, 1, shape).astype(np.float32))
        .to(device)
        .contiguous(memory_format=torch.channels_last)
        for _ in range(2)
    )
    y_own = torch.from_numpy((np.arange(batch_size) % 2).astype(np.float32)).to(device)  # as the JAX batch's
    step = torch_models.unitygan_step(nets, gan_config)
    step = torch.compile(step) if compiled else step
    counts = {name: sum(p.numel() for p in nets[name].parameters()) for name in ("G", "D_X")}

    def one_step():
        with torch_autocast(gan_config.dtype, device):
            step(x, y, y_own)

    return one_step, counts
