"""What each camera-style method adds to the plain IDE, measured in one run: parameters, and the IDE train step's
steady time at the comparison's sizes (configs/synthetic.py:compare), the methods timed in interleaved rounds so
the machine's drift falls on each alike.

    python benchmarks/method_costs.py [--rounds 3] [--steps 10] [--classes 200]

Camera-based BN trains the plain IDE's program (only its batches are drawn within one camera); colour jitter
changes the tf.data pipeline, not the step. The GAN rows' costs are the comparison's own stage times
(results/compare.json).
"""

import argparse
import functools
import time


import jax
import numpy as np

from configs import synthetic
from unitystyle_jax.core.parallel import INIT_PRNG
from unitystyle_jax.models.factory import create_ide
from unitystyle_jax.reid import step as reid_step

METHODS = {
    "IDE": {},
    "IBN-a": {"ibn": True},
    "MixStyle (stages 1-2)": {"mixstyle": {"layers": "1,2"}},
    "camera-based BN": {"camera_bn": True},
}


def step_of(overrides: dict, classes: int):
    config = synthetic.get_config("compare")
    for key, value in overrides.items():
        if isinstance(value, dict):
            config.model[key].update(value)
        else:
            config.model[key] = value
    model = create_ide(config.model, classes)
    tx, schedule = reid_step.create_optimizer(config.reid)
    shape = (config.data.height, config.data.width, 3)
    state = jax.jit(functools.partial(reid_step.initial_state, model, tx, shape))(
        jax.random.key(0, impl=INIT_PRNG)
    )
    rng = np.random.default_rng(0)
    n = config.reid.batch_size
    batch = {
        "image": rng.standard_normal((n, *shape), np.float32),
        "label": rng.integers(0, classes, n).astype(np.int32),
        "camera": rng.integers(0, 6, n).astype(np.int32),
    }
    step = jax.jit(
        functools.partial(reid_step.train_step, model=model, tx=tx, schedule=schedule, seed=0),
        donate_argnums=0,
    )
    parameters = sum(int(a.size) for a in jax.tree.leaves(state.params))
    return step, state, batch, parameters


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method per round")
    parser.add_argument(
        "--classes", type=int, default=200, help="training identities (the classifier's size)"
    )
    args = parser.parse_args(argv)
    built = {name: step_of(overrides, args.classes) for name, overrides in METHODS.items()}
    states = {}
    for name, (step, state, batch, _) in built.items():  # compile, outside the timing
        states[name], metrics = step(state, batch)
        jax.block_until_ready(metrics)
    times = {name: [] for name in built}
    for _ in range(args.rounds):
        for name, (step, _, batch, _) in built.items():
            began = time.perf_counter()
            for _ in range(args.steps):
                states[name], metrics = step(states[name], batch)
            jax.block_until_ready(metrics)
            times[name].append((time.perf_counter() - began) / args.steps)
    base_params, base_time = built["IDE"][3], float(np.median(times["IDE"]))
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}; configs/synthetic.py:compare sizes")
    print("| method | parameters | added | step ms (median of rounds) | vs IDE |")
    print("|---|---|---|---|---|")
    for name, (_, _, _, parameters) in built.items():
        ms = 1000 * float(np.median(times[name]))
        print(
            f"| {name} | {parameters:,} | {parameters - base_params:+,} | {ms:.1f} | "
            f"{ms / (1000 * base_time):.2f}x |"
        )


if __name__ == "__main__":
    main()
