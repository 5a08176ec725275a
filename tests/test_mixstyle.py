"""MixStyle: with p = 1 each instance's per-channel mean and std become the lambda-mixture of its own and a
partner's; with p = 0, or at test time, it is the identity; it adds no parameter to the IDE."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import config_validation
from unitystyle_jax.core.errors import ConfigError
from unitystyle_jax.models.ide import IDE
from unitystyle_jax.models.mixstyle import MixStyle, camera_partners, mix_style

jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def styled(batch=4, seed=0):
    """Instances with clearly different per-channel means and stds, as different cameras give."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 3, (batch, 1, 1, 5))
    scales = rng.uniform(0.5, 3.0, (batch, 1, 1, 5))
    return jnp.asarray(offsets + scales * rng.normal(size=(batch, 6, 4, 5)), jnp.float32)


def statistics(x):
    x = np.asarray(x, np.float64)
    return x.mean(axis=(1, 2)), np.sqrt(x.var(axis=(1, 2)) + 1e-6)


def mixture_weight(own, partner, out):
    """The lambda with out = lambda * own + (1 - lambda) * partner, per channel (NaN where own == partner)."""
    return (out - partner) / (own - partner)


def test_each_instance_takes_the_lambda_mixture_of_its_own_and_its_partners_statistics():
    x = styled()
    cameras = jnp.asarray([0, 0, 1, 1])
    out = mix_style(x, jax.random.key(3), p=1.0, alpha=2.0, cameras=cameras)
    mean, std = statistics(x)
    out_mean, out_std = statistics(out)
    partners = np.asarray(camera_partners(jax.random.split(jax.random.key(3), 3)[2], cameras))
    weights = []
    for i, j in enumerate(partners):
        assert int(cameras[i]) != int(cameras[j])
        from_mean = mixture_weight(mean[i], mean[j], out_mean[i])
        from_std = mixture_weight(std[i], std[j], out_std[i])
        # One lambda for every channel, for the mean and the std alike.
        np.testing.assert_allclose(from_mean, from_mean[0], atol=1e-3)
        np.testing.assert_allclose(from_std, from_mean[0], atol=1e-3)
        weights.append(from_mean[0])
    assert all(0.0 < w < 1.0 for w in weights)
    assert max(abs(w - 1.0) for w in weights) > 0.05  # a real mixture: the control that it is not x again


def test_random_partners_are_a_permutation_of_the_batch():
    x = styled(batch=6, seed=1)
    out = mix_style(x, jax.random.key(5), p=1.0, alpha=2.0)
    mean, _ = statistics(x)
    out_mean, _ = statistics(out)
    for i in range(6):
        candidates = [j for j in range(6) if j != i]
        residuals = [np.ptp(mixture_weight(mean[i], mean[j], out_mean[i])) for j in candidates]
        own = np.abs(out_mean[i] - mean[i]).max()
        assert min(residuals) < 1e-3 or own < 1e-4  # mixed with one other instance, or drew itself


@pytest.mark.parametrize("p, train", [(0.0, True), (1.0, False)])
def test_off_at_test_time_and_at_p_zero(p, train):
    x = styled()
    module = MixStyle(p=p, alpha=0.1)
    out = module.apply({}, x, train=train, rngs={"mixstyle": jax.random.key(0)})
    np.testing.assert_array_equal(np.asarray(out), np.asarray(x))
    changed = MixStyle(p=1.0, alpha=2.0).apply({}, x, train=True, rngs={"mixstyle": jax.random.key(0)})
    assert np.abs(np.asarray(changed) - np.asarray(x)).max() > 0.1  # the control: p = 1 in training mixes


def test_a_batch_of_one_camera_mixes_within_it():
    partners = np.asarray(camera_partners(jax.random.key(0), jnp.zeros(5, jnp.int32)))
    assert set(partners) <= set(range(5))
    mixed = np.asarray(camera_partners(jax.random.key(0), jnp.asarray([0, 1, 1, 2, 2])))
    assert [int(c) for c in np.asarray([0, 1, 1, 2, 2])[mixed]] != [0, 1, 1, 2, 2]
    assert all(a != b for a, b in zip([0, 1, 1, 2, 2], np.asarray([0, 1, 1, 2, 2])[mixed]))


def test_the_ide_with_mixstyle_has_the_same_parameters_and_test_features():
    images = jax.random.normal(jax.random.key(1), (4, 32, 16, 3))
    kwargs = dict(num_classes=3, depth=18, width=4, bottleneck_dim=8)
    plain, mixing = (
        IDE(**kwargs),
        IDE(**kwargs, mixstyle_layers=(1, 2), mixstyle_p=1.0, mixstyle_mix="camera"),
    )
    variables = jit(functools.partial(plain.init, train=False))(jax.random.key(0), images)
    shapes = jax.eval_shape(functools.partial(mixing.init, train=False), jax.random.key(0), images)
    assert jax.tree.structure(shapes) == jax.tree.structure(variables)
    test_plain = plain.apply(variables, images, train=False)["features"]
    test_mixing = mixing.apply(variables, images, train=False)["features"]
    np.testing.assert_array_equal(np.asarray(test_plain), np.asarray(test_mixing))
    rngs = {"dropout": jax.random.key(2), "mixstyle": jax.random.key(3)}
    cameras = jnp.asarray([0, 1, 0, 1])
    trained = [
        model.apply(variables, images, train=True, cameras=cameras, rngs=rngs, mutable=["batch_stats"])[0]
        for model in (plain, mixing)
    ]
    assert np.abs(np.asarray(trained[0]["features"] - trained[1]["features"])).max() > 1e-4


@pytest.mark.parametrize(
    "field, value, culprit",
    [
        ("layers", "1,5", "config.model.mixstyle.layers='1,5': stages of a ResNet-18 are 1..4"),
        ("layers", "first", "config.model.mixstyle.layers: MixStyle layers 'first' must be stage numbers"),
        ("p", 1.5, "config.model.mixstyle.p=1.5 must be in [0, 1]"),
        ("alpha", 0.0, "config.model.mixstyle.alpha=0.0 must be > 0"),
        ("mix", "domain", "config.model.mixstyle.mix='domain': choose from ('random', 'camera')"),
    ],
)
def test_bad_mixstyle_settings_are_named(field, value, culprit):
    config = synthetic.get_config("tiny")
    config.model.mixstyle[field] = value
    with pytest.raises(ConfigError) as raised:
        config_validation.validate(config)
    assert culprit in str(raised.value)


def test_the_reid_step_mixes_with_the_batch_cameras():
    """The train step hands each image's camera (real and second part) to a camera-mixing IDE."""
    from unitystyle_jax.core.parallel import INIT_PRNG
    from unitystyle_jax.models.factory import create_ide
    from unitystyle_jax.reid import step as reid_step

    config = synthetic.get_config("tiny")
    config.model.conv = "xla"
    rng = np.random.default_rng(0)
    batch = {
        "image": jnp.asarray(rng.normal(size=(4, 32, 16, 3)), jnp.float32),
        "label": jnp.asarray([0, 1, 2, 2], jnp.int32),
        "camera": jnp.asarray([0, 1, 0, 1], jnp.int32),
        "second_image": jnp.asarray(rng.normal(size=(4, 32, 16, 3)), jnp.float32),
        "second_label": jnp.asarray([0, 1, 2, 2], jnp.int32),
        "second_camera": jnp.asarray([2, 2, 1, 0], jnp.int32),
    }
    losses = {}
    for layers in ("", "1,2"):
        config.model.mixstyle.update(layers=layers, p=1.0, mix="camera")
        model = create_ide(config.model, 3)
        tx, schedule = reid_step.create_optimizer(config.reid)
        state = jax.jit(functools.partial(reid_step.initial_state, model, tx, (32, 16, 3)))(
            jax.random.key(0, impl=INIT_PRNG)
        )
        step = functools.partial(reid_step.train_step, model=model, tx=tx, schedule=schedule, seed=1)
        _, metrics = jit(step)(state, batch)
        losses[layers] = float(metrics["loss"])
    assert np.isfinite(list(losses.values())).all()
    assert losses[""] != losses["1,2"]  # same parameters and batch: only the mixing differs
