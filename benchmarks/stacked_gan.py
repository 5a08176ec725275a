"""Several UnityGANs as one vmapped program against the same models one after another, in one run.

    python benchmarks/stacked_gan.py [--models 6] [--steps 15] [--conv auto] [--all-shifted]

At the demo's sizes (configs/synthetic.py): one train step of one model, then `jax.vmap` of the same step over
`--models` stacked models (parameters, optimizer and SLN state on a leading model axis, each model its own
batch). Prints the first call (trace + compile) and the steady step time of each, and the stacked program's
speed relative to running the models one after another. This decides whether the GAN stage trains its models
together (issue: performance) on a given machine.
"""

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from configs import synthetic  # noqa: E402
from unitystyle_jax import gan_training, networks, parallel  # noqa: E402
from unitystyle_jax.models import fast_conv  # noqa: E402


def timed(step, state, batch, steps: int) -> tuple[float, float]:
    """(seconds of the first call, mean seconds of the next `steps` calls)."""
    began = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    first = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    return first, (time.perf_counter() - began) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=6, help="models stacked (the demo's 6 cameras)")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--conv", default="auto", choices=fast_conv.CONV_KINDS)
    parser.add_argument(
        "--all-shifted", action="store_true", help="every conv pass as shifted matrix products (no XLA conv)"
    )
    args = parser.parse_args()
    if args.all_shifted:
        fast_conv.SMALL_OUTPUT_PIXELS = sys.maxsize
    config = synthetic.get_config()
    config.gan.conv = args.conv
    gan = config.gan
    generator, discriminator = networks.create_gan_networks(gan)
    tx = gan_training.create_optimizer(gan)
    shape = (gan.height, gan.width, 3)
    init = functools.partial(gan_training.initial_state, generator, discriminator, tx, shape)
    step = functools.partial(
        gan_training.train_step, generator=generator, discriminator=discriminator, tx=tx, gan_config=gan
    )
    rng = np.random.default_rng(0)

    def batch(*lead):
        size = (*lead, gan.batch_size)
        return {
            "x": rng.uniform(-1, 1, (*size, *shape)).astype(np.float32),
            "y": rng.uniform(-1, 1, (*size, *shape)).astype(np.float32),
            "y_own": np.zeros(size, np.float32),
        }

    one_first, one_step = timed(
        jax.jit(step, donate_argnums=0), jax.jit(init)(parallel.init_key(0)), batch(), args.steps
    )
    keys = jax.random.split(parallel.init_key(0), args.models)
    stacked_first, stacked_step = timed(
        jax.jit(jax.vmap(step), donate_argnums=0),
        jax.jit(jax.vmap(init))(keys),
        batch(args.models),
        args.steps,
    )
    load = os.getloadavg()[0]
    print(
        f"UnityGAN train step at the demo's sizes ({gan.height}x{gan.width}, batch {gan.batch_size}), conv "
        f"{args.conv}{' (all shifted)' if args.all_shifted else ''}, {args.models} models, load {load:.1f}\n"
    )
    print("| program | first call (s) | step (ms) | per model (ms) |")
    print("|---|---|---|---|")
    print(f"| one model | {one_first:.1f} | {1e3 * one_step:.0f} | {1e3 * one_step:.0f} |")
    print(
        f"| {args.models} models vmapped | {stacked_first:.1f} | {1e3 * stacked_step:.0f} | "
        f"{1e3 * stacked_step / args.models:.0f} |"
    )
    print(f"\nstacked vs one after another: {args.models * one_step / stacked_step:.2f}x")


if __name__ == "__main__":
    main()
