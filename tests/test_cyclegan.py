"""CamStyle's CycleGAN in-process, as the UnityGAN's step is tested: the ResNet generator and PatchGAN's shapes
(pix2pix's 30x30 patch map for 256x256), the image pool's fill-then-swap rule, the step's loss as CycleGAN writes
it (LSGAN, cycle x 10, identity x 0.5 x 10), and a few real steps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import config_validation
from unitystyle_jax.gan import cyclegan_step
from unitystyle_jax.gan import step as gan_step
from unitystyle_jax.models.cyclegan import CycleGanGenerator, PatchDiscriminator
from unitystyle_jax.models.layers import ModelError

jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def gan_config(**overrides):
    c = synthetic.get_config("tiny")
    c.gan.model = "cyclegan"
    c.gan.update(overrides)
    return c.gan


def test_the_generator_keeps_the_image_shape_in_tanh_range_and_the_patchgan_gives_pix2pix_maps():
    images = jax.random.uniform(jax.random.key(0), (2, 32, 16, 3), minval=-1, maxval=1)
    generator = CycleGanGenerator(base_features=4, num_res_blocks=2)
    variables = jit(functools.partial(generator.init, train=False))(jax.random.key(1), images)
    out, attention = jit(functools.partial(generator.apply, train=False))(variables, images)
    assert out.shape == images.shape and attention is None
    assert float(jnp.abs(out).max()) < 1.0 and float(jnp.abs(out - images).mean()) > 0.05  # not the identity
    for layers, side, patches in ((3, 256, 30), (2, 64, 14)):
        d = PatchDiscriminator(base_features=4, num_layers=layers)
        x = jnp.zeros((1, side, side, 3))
        logits, _ = jax.eval_shape(
            lambda x, d=d: d.apply(d.init(jax.random.key(0), x, train=False), x, train=False), x
        )
        assert logits.shape == (1, patches, patches, 1), (layers, logits.shape)
    with pytest.raises(ModelError, match="at least 24 pixels a side, got 32x16"):
        d = PatchDiscriminator(base_features=4, num_layers=3)
        d.init(jax.random.key(0), jnp.zeros((1, 32, 16, 3)), train=False)


def test_the_image_pool_fills_then_swaps_half_its_images():
    images = jnp.arange(1, 9, dtype=jnp.float32).reshape(8, 1, 1, 1) * jnp.ones((8, 2, 2, 3))
    pool, fill = jnp.zeros((3, 2, 2, 3)), jnp.zeros((), jnp.int32)
    returned, pool, fill = jit(cyclegan_step.image_pool_query)(pool, fill, images, jax.random.key(0))
    values, stored = np.asarray(returned[:, 0, 0, 0]), sorted(np.asarray(pool[:, 0, 0, 0]))
    assert int(fill) == 3 and list(values[:3]) == [1, 2, 3]  # filling: each image goes in and comes back
    swapped = [i for i in range(3, 8) if values[i] != i + 1]
    assert all(values[i] < i + 1 for i in swapped)  # a swap hands back an older image...
    assert set(stored) <= set(range(1, 9)) and len(set(stored)) == 3  # ...and the pool keeps distinct ones
    many = jnp.arange(1, 401, dtype=jnp.float32).reshape(400, 1, 1, 1)
    full = jnp.zeros((3, 1, 1, 1))
    returned, _, _ = jit(cyclegan_step.image_pool_query)(full, jnp.int32(3), many, jax.random.key(1))
    assert 0.4 < float(jnp.mean(returned != many)) < 0.6  # once full, about half come from the pool


@pytest.fixture(scope="module")
def cyclegan():
    c = gan_config()
    generator, init, step = gan_step.step_functions(c)
    return c, generator, jit(init), jit(step)


def batch(seed: int, shape=(4, 32, 16, 3)):
    keys = jax.random.split(jax.random.key(seed), 2)
    x, y = (jax.random.uniform(k, shape, minval=-1, maxval=1) for k in keys)
    return {"x": x, "y": y, "y_own": jnp.zeros(4), "y_balance": jnp.ones(4)}


def test_the_loss_is_cyclegans(cyclegan):
    c, generator, init, _ = cyclegan
    state = init(jax.random.key(0))
    data = batch(1)
    discriminator = PatchDiscriminator(c.discriminator.base_features, c.cyclegan.discriminator_layers)
    total, terms, fakes = cyclegan_step.generator_terms(
        state.nets,
        data,
        generator=generator,
        discriminator=discriminator,
        objective=cyclegan_step.CycleGanObjective.of(c),
    )
    run = lambda net, images: generator.apply(state.nets[net], images, train=True)[0]
    score = lambda net, images: discriminator.apply(state.nets[net], images, train=True)[0]
    x, y = data["x"], data["y"]
    g_x, f_y = run("G", x), run("F", y)
    expected = {
        "gan": jnp.mean((score("D_Y", g_x) - 1) ** 2) + jnp.mean((score("D_X", f_y) - 1) ** 2),
        "cyc": jnp.mean(jnp.abs(run("F", g_x) - x)) + jnp.mean(jnp.abs(run("G", f_y) - y)),
        "id": jnp.mean(jnp.abs(run("G", y) - y)) + jnp.mean(jnp.abs(run("F", x) - x)),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(terms[name], value, rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(total, expected["gan"] + 10 * expected["cyc"] + 5 * expected["id"], rtol=1e-4)
    np.testing.assert_allclose(fakes["Y"], g_x, atol=1e-5)


def test_steps_train_every_network_and_fill_the_pools(cyclegan):
    _, _, init, step = cyclegan
    state = init(jax.random.key(0))
    before = jax.tree.map(np.asarray, state.nets)
    for i in range(3):
        state, metrics = step(state, batch(i))
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert int(state.step) == 3 and {k: int(v) for k, v in state.pool_fill.items()} == {"X": 12, "Y": 12}
    for name in ("G", "F", "D_X", "D_Y"):
        moved = jax.tree.leaves(
            jax.tree.map(lambda a, b: float(np.abs(a - b).max()), before[name], state.nets[name])
        )
        assert max(moved) > 0, name


def test_an_unknown_gan_model_is_named_at_start_up():
    config = synthetic.get_config("tiny")
    config.gan.model = "stylegan"
    with pytest.raises(config_validation.ConfigError, match="config.gan.model='stylegan': choose from"):
        config_validation.validate(config)
