"""bfloat16 compute (config.model.dtype, config.gan.dtype) at the tiny size, in-process: a train step keeps
every parameter, optimizer state and batch-norm statistic in float32 and gives finite losses, and a model's
outputs stay within a stated tolerance of the float32 model's with the same variables. A model with other
variables lies far outside that tolerance (the negative control: the check can fail)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import config_validation
from unitystyle_jax.core.errors import ConfigError
from unitystyle_jax.core.parallel import init_key
from unitystyle_jax.gan import step as gan_step
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.models.factory import create_gan_networks, create_ide
from unitystyle_jax.reid import step as reid_step

# Relative L2 distance of bfloat16 outputs from float32 ones (bfloat16 keeps 8 mantissa bits: ~0.4% per
# rounding, a few roundings deep). Measured at the tiny size: 0.5% (IDE features), 1.1% (what G changes).
FEATURE_TOLERANCE = 0.02
CHANGE_TOLERANCE = 0.05


def relative_distance(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def float_leaves_are_float32(tree) -> bool:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return bool(leaves) and all(x.dtype == jnp.float32 for x in leaves)


def images(seed: int, n: int, shape=(32, 16, 3)):
    return jnp.asarray(np.random.default_rng(seed).uniform(-0.9, 0.9, (n, *shape)), jnp.float32)


@pytest.fixture(scope="module")
def ide():
    config = synthetic.get_config("tiny")
    models = {}
    for dtype in ("float32", "bfloat16"):
        config.model.dtype = dtype
        models[dtype] = create_ide(config.model, num_classes=5)
    tx, schedule = reid_step.create_optimizer(config.reid)
    init = jax.jit(functools.partial(reid_step.initial_state, models["float32"], tx, (32, 16, 3)))
    step = jax.jit(
        functools.partial(reid_step.train_step, model=models["bfloat16"], tx=tx, schedule=schedule, seed=0)
    )
    batch = {"image": images(0, 8), "label": jnp.asarray([0, 1, 2, 3, 4, 0, 1, 2], jnp.int32)}
    state, metrics = step(init(init_key(0)), batch)
    return models, state, metrics, init


def test_a_bfloat16_ide_step_keeps_float32_state_and_finite_losses(ide):
    _, state, metrics, _ = ide
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert float_leaves_are_float32((state.params, state.batch_stats, state.opt_state))
    assert int(state.step) == 1


def test_bfloat16_ide_features_lie_within_tolerance_of_float32(ide):
    models, state, _, init = ide
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    x = images(1, 8)
    test_features = jax.jit(lambda model, v: model.apply(v, x, train=False)["features"], static_argnums=0)
    features = {dtype: test_features(model, variables) for dtype, model in models.items()}
    assert features["bfloat16"].dtype == jnp.float32
    error = relative_distance(features["float32"], features["bfloat16"])
    assert error < FEATURE_TOLERANCE, error
    other = init(init_key(1))
    unrelated = test_features(models["float32"], {"params": other.params, "batch_stats": other.batch_stats})
    assert relative_distance(features["float32"], unrelated) > 10 * FEATURE_TOLERANCE


@pytest.fixture(scope="module")
def gan():
    config = synthetic.get_config("tiny").gan
    nets = {}
    for dtype in ("float32", "bfloat16"):
        config.dtype = dtype
        nets[dtype] = create_gan_networks(config)
    tx = gan_step.create_optimizer(config)
    generator, discriminator = nets["bfloat16"]
    init = jax.jit(functools.partial(gan_step.initial_state, *nets["float32"], tx, gan_image_shape(config)))
    step = jax.jit(
        functools.partial(
            gan_step.train_step,
            generator=generator,
            discriminator=discriminator,
            tx=tx,
            objective=gan_step.UnityGanObjective.of(config),
        )
    )
    batch = {
        "x": images(2, 4),
        "y": images(3, 4),
        "y_own": jnp.asarray([1.0, 0.0, 0.0, 1.0]),
        "y_balance": jnp.ones(4),
    }
    state = init(init_key(0))
    for _ in range(2):
        state, metrics = step(state, batch)
    return nets, state, metrics, init


def test_a_bfloat16_unitygan_step_keeps_float32_state_and_finite_losses(gan):
    _, state, metrics, _ = gan
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert float_leaves_are_float32((state.nets, state.gen_opt, state.disc_opt, state.sln))
    assert int(state.step) == 2


def test_bfloat16_generator_images_lie_within_tolerance_of_float32(gan):
    """Compared on what G changes (its output minus its input), not on the whole image, which an almost
    untrained G leaves nearly as it was. The control: an untrained G changes nothing (its last conv starts at
    zero), so against it the distance is ~1."""
    nets, state, _, init = gan
    x = images(4, 4)
    change = {dtype: pair[0].apply(state.nets["G"], x, train=False)[0] - x for dtype, pair in nets.items()}
    assert change["bfloat16"].dtype == jnp.float32
    error = relative_distance(change["float32"], change["bfloat16"])
    assert error < CHANGE_TOLERANCE, error
    untrained = nets["float32"][0].apply(init(init_key(1)).nets["G"], x, train=False)[0] - x
    assert relative_distance(change["float32"], untrained) > 0.9


@pytest.mark.parametrize("field", ["model", "gan"])
def test_an_unknown_compute_dtype_is_one_config_error(field):
    config = synthetic.get_config("tiny")
    config[field].dtype = "float16"
    with pytest.raises(
        ConfigError, match=rf"config\.{field}\.dtype='float16': choose from \('float32', 'bfloat16'\)"
    ):
        config_validation.validate(config)
