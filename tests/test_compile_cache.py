"""A second process running the same train step loads it from the persistent compilation cache that
`startup.start` sets up (WORKDIR/.jax_cache) instead of compiling it again.

Evidence is JAX's own cache events (`/jax/compilation_cache/cache_hits` and `cache_misses`, recorded by the
compiler around each persistent-cache lookup), the cache folder's files, and the loss of the loaded program.
"""

import json
import os
import textwrap

import pytest

import runs

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

# A tiny IDE (ResNet-18, width 4, 32x16 images) through the real start-up, model factory and train step, with
# the default convolution setting: its custom_vjp must trace to the same program in every process.
CHILD = textwrap.dedent(
    """
    import functools, json, sys, time
    import jax, numpy as np
    from configs import default
    from unitystyle_jax import startup
    from unitystyle_jax.core import parallel
    from unitystyle_jax.models.factory import create_ide
    from unitystyle_jax.reid import step as reid_step

    events = []
    jax.monitoring.register_event_listener(lambda event, **_: events.append(event))
    config = default.get_config()
    config.data.name = "synthetic"
    config.data.height, config.data.width = 32, 16
    config.model.update(depth=18, width=4, bottleneck_dim=8)
    startup.start(config, sys.argv[1])
    model = create_ide(config.model, 3)
    tx, schedule = reid_step.create_optimizer(config.reid)
    init = functools.partial(reid_step.initial_state, model, tx, (32, 16, 3))
    state = jax.jit(init)(jax.random.key(0, impl=parallel.INIT_PRNG))
    step = functools.partial(reid_step.train_step, model=model, tx=tx, schedule=schedule, seed=0)
    batch = {"image": np.linspace(-1, 1, 2 * 32 * 16 * 3, dtype=np.float32).reshape(2, 32, 16, 3),
             "label": np.array([0, 2], np.int32)}
    events.clear()
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=0).lower(state, batch).compile()
    seconds = time.perf_counter() - start
    _, metrics = compiled(state, batch)
    print(json.dumps({"hits": events.count("/jax/compilation_cache/cache_hits"),
                      "misses": events.count("/jax/compilation_cache/cache_misses"),
                      "seconds": seconds, "loss": float(metrics["loss"])}))
    """
)


def run_train_step(workdir) -> dict:
    done = runs.python(CHILD, str(workdir), timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cache_files(workdir) -> set[str]:
    cache = os.path.join(workdir, ".jax_cache")
    return {name for name in os.listdir(cache)} if os.path.isdir(cache) else set()


def test_second_process_loads_the_train_step_from_the_cache(tmp_path):
    first = run_train_step(tmp_path)
    assert (first["hits"], first["misses"]) == (0, 1), first
    written = cache_files(tmp_path)
    assert written, "the first run left nothing in WORKDIR/.jax_cache"

    second = run_train_step(tmp_path)
    assert (second["hits"], second["misses"]) == (1, 0), second
    assert cache_files(tmp_path) == written  # nothing recompiled, nothing new written
    assert second["loss"] == first["loss"]
    print(f"compile {first['seconds']:.1f} s cold, {second['seconds']:.1f} s from the cache")
