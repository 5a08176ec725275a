"""Several UnityGANs as one vmapped program against the same models one after another, in one run.

    python benchmarks/stacked_gan.py [--models 6] [--steps 15] [--conv auto] [--all-shifted] [--stage]

At the demo's sizes (configs/synthetic.py): one train step of one model (the trainer's own program), then the
stacked trainer's program (`gan_stacked.stacked_programs`: parameters, optimizer and SLN state on a leading
model axis, each model its own batch) over `--models` models. Prints the first call (trace + compile) and the
steady step time of each, and the stacked program's speed relative to running the models one after another.
With --stage, also the demo's whole GAN stage (`train.py --config.stages=gan`, every camera, fresh workdirs and
compile caches) with config.gan.train_together off and on, one after the other: what decides the default.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


import jax
import numpy as np

from configs import synthetic
from unitystyle_jax.core import parallel
from unitystyle_jax.gan import stacked as gan_stacked
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.models import fast_conv


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
    parser.add_argument("--stage", action="store_true", help="also time the demo's whole GAN stage both ways")
    parser.add_argument(
        "--all-shifted", action="store_true", help="every conv pass as shifted matrix products (no XLA conv)"
    )
    args = parser.parse_args()
    if args.all_shifted:
        fast_conv.SMALL_OUTPUT_PIXELS = sys.maxsize
    config = synthetic.get_config()
    config.gan.conv = args.conv
    gan = config.gan
    shape = (gan.height, gan.width, 3)
    one = gan_training.GanPrograms.build(gan, parallel.make_mesh()).train
    mesh = gan_stacked.stacked_mesh(1)
    stack, stacked = gan_stacked.stacked_programs(gan, mesh)
    rng = np.random.default_rng(0)

    def batch(*lead):
        size = (*lead, gan.batch_size)
        return {
            "x": rng.uniform(-1, 1, (*size, *shape)).astype(np.float32),
            "y": rng.uniform(-1, 1, (*size, *shape)).astype(np.float32),
            "y_own": np.zeros(size, np.float32),
            "y_balance": np.ones(size, np.float32),
        }

    one_first, one_step = timed(one.step, one.init(parallel.init_key(0)), batch(), args.steps)
    states = [one.init(parallel.init_key(seed)) for seed in range(args.models)]
    on_mesh = parallel.replicated(mesh)
    stacked_first, stacked_step = timed(
        stacked, stack(*(jax.device_put(s, on_mesh) for s in states)), batch(args.models), args.steps
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
    if args.stage:
        stage_times(args.conv)


def stage_times(conv: str) -> None:
    """The demo's GAN stage with train_together off, then on: train.py in fresh workdirs, cold compile caches."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(
        "\n| demo GAN stage (6 cameras, 150 steps each) | wall s | stage s (stage_times.json) |\n|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = None
        for together in (False, True):
            workdir = os.path.join(tmp, f"together_{together}")
            flags = [f"--config.gan.train_together={together}", f"--config.gan.conv={conv}"]
            if data:
                flags.append(f"--config.data.root={data}")
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "train.py", "--config=configs/synthetic.py", f"--workdir={workdir}",
                 "--config.stages=gan", *flags],
                cwd=repo, check=True, capture_output=True,
            )  # fmt: skip
            wall = time.perf_counter() - began
            data = data or os.path.join(workdir, "dataset")
            with open(os.path.join(workdir, "stage_times.json")) as f:
                stage = json.load(f)["gan"]
            mode = "stacked (train_together)" if together else "one after another"
            print(f"| {mode} | {wall:.0f} | {stage:.0f} |", flush=True)


if __name__ == "__main__":
    main()
