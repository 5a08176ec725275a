"""UnityGAN generator (with Style Attention) and discriminator on tiny CPU-sized configurations."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unitystyle_jax.models import Discriminator, Generator, ModelError

KEY = jax.random.key(0, impl="rbg")  # rbg compiles far faster than threefry on CPU
# Test programs run once: unoptimised XLA code compiles about twice as fast and computes the same values.
jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
TALL = (2, 64, 32, 3)  # person-crop aspect ratio, H = 2 W


def abstract_variables(model, shape):
    return jax.eval_shape(functools.partial(model.init, train=False), KEY, jnp.zeros(shape))


@pytest.fixture(scope="module")
def generator_run():
    """One jit-compiled training-mode pass of a tiny generator, with the gradient of the summed attention."""
    generator = Generator(base_features=8, num_res_blocks=1, num_scales=2, ibn_scales=1)
    images = jax.random.uniform(jax.random.key(1), TALL, minval=-1.0, maxval=1.0)
    variables = jit(functools.partial(generator.init, train=False))(KEY, images)

    def attention_sum(params):
        (fake, attention), updates = generator.apply(
            {**variables, "params": params}, images, train=True, mutable=["batch_stats"]
        )
        return attention.sum(), (fake, attention, updates)

    (_, outputs), grads = jit(jax.value_and_grad(attention_sum, has_aux=True))(variables["params"])
    return images, outputs, grads


def test_generator_maps_images_to_images_and_attention(generator_run):
    images, (fake, attention, updates), _ = generator_run
    assert fake.shape == images.shape and fake.dtype == jnp.float32
    assert float(fake.min()) > -1.0 and float(fake.max()) < 1.0  # tanh output: never saturated
    # Untrained, the generator is the identity: its output is the input image, not some other image.
    np.testing.assert_allclose(fake, images, atol=1e-3)
    assert float(jnp.abs(fake - images[::-1]).max()) > 0.5  # negative control: the other image differs
    assert attention.shape == (2,)
    assert np.all((np.asarray(attention) > 0) & (np.asarray(attention) < 1))
    assert set(updates["batch_stats"]) == {"encode0_res0"}  # only the IBN-Res block keeps batch statistics


def test_style_attention_trains_only_its_head(generator_run):
    _, _, grads = generator_run
    for name, subtree in grads.items():
        largest = max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(subtree))
        if name == "style_attention":
            assert largest > 0
        else:
            assert largest == 0, name  # stop_gradient on G1: the attention never pushes the generator body


def test_generator_layout_follows_scales_and_ibn_scales():
    variables = abstract_variables(
        Generator(base_features=4, num_res_blocks=2, num_scales=3, ibn_scales=2), TALL
    )
    params = variables["params"]
    assert params["encode2"]["conv"]["kernel"].shape == (4, 4, 8, 16)
    upsampled_plus_skip = 8 + 4  # scale 1 upsampled, concatenated with the encoder's scale 0
    assert params["decode0"]["conv"]["kernel"].shape == (3, 3, upsampled_plus_skip, 4)
    assert set(params["encode1_res1"]["norm1"]) == {"IN", "BN"}  # IBN in the two shallowest scales
    assert "IN" not in params["encode2_res0"]["norm1"] and "IN" not in params["decode0_res0"]["norm1"]
    assert "norm" not in params["encode0"]  # DiscoGAN: no norm on the first conv
    no_ibn = abstract_variables(
        Generator(base_features=4, num_res_blocks=2, num_scales=3, ibn_scales=0), TALL
    )
    assert not any("IN" in no_ibn["params"][f"encode{s}_res0"]["norm1"] for s in range(3))  # the IBN ablation
    assert "style_attention" in no_ibn["params"]  # reading the first residual block instead
    assert params["to_image"]["kernel"].shape == (3, 3, 4 + 3, 3)  # decoder features + the input image


def test_untrained_generator_is_the_identity():
    generator = Generator(base_features=4, num_res_blocks=1, num_scales=2)
    x = jax.random.uniform(jax.random.key(1), (2, 16, 8, 3), minval=-1.0, maxval=1.0)
    x = x.at[0, 0, 0].set(1.0).at[0, 0, 1].set(-1.0)  # saturated pixels, as white and black JPEG pixels are
    variables = generator.init(jax.random.key(0, impl="rbg"), x, train=False)
    image, _ = generator.apply(variables, x, train=False)
    inside = np.abs(np.asarray(x)) <= 0.99
    np.testing.assert_allclose(np.asarray(image)[inside], np.asarray(x)[inside], atol=1e-5)
    np.testing.assert_allclose(image, x, atol=1.001e-3)  # saturated: within output_epsilon
    np.testing.assert_allclose(image[0, 0, :2], [[0.999] * 3, [-0.999] * 3], atol=1e-6)


def test_saturated_pixels_still_pass_a_gradient():
    """tanh(atanh(x) + delta), not clip(x + delta): a pixel at the range's edge can still be moved. With clip,
    a white pixel pushed up (delta > 0) gets no gradient at all; here it does."""
    generator = Generator(base_features=4, num_res_blocks=1, num_scales=2)
    white = jnp.ones((1, 16, 8, 3))
    variables = generator.init(jax.random.key(0, impl="rbg"), white, train=False)
    bias = variables["params"]["to_image"]["bias"]

    def brightness(bias):
        params = {**variables["params"], "to_image": {**variables["params"]["to_image"], "bias": bias}}
        return generator.apply({**variables, "params": params}, white, train=False)[0].sum()

    assert float(jnp.abs(jax.grad(brightness)(bias + 0.5)).min()) > 0  # delta = +0.5 on white pixels
    clipped = jax.grad(lambda b: jnp.clip(white + b, -1.0, 1.0).sum())(bias + 0.5)
    assert float(jnp.abs(clipped).max()) == 0  # what clip(x + delta) would give: nothing to learn from


@pytest.mark.parametrize(
    "generator, height, match",
    [
        (Generator(num_scales=4), 40, "Generator input 40x32 \\(HxW\\) must have both sides divisible by 16"),
        (Generator(ibn_scales=5), 32, "ibn_scales=5 must lie in 0..num_scales=4"),
        (Generator(output_epsilon=0.0), 32, r"output_epsilon=0.0 must lie in \(0, 1\)"),
        (Generator(num_res_blocks=0), 32, "num_res_blocks >= 1"),
        (Generator(norm="group"), 32, "unknown norm 'group'"),
    ],
)
def test_generator_rejects_bad_settings(generator, height, match):
    with pytest.raises(ModelError, match=match):
        abstract_variables(generator, (1, height, 32, 3))


def test_discriminator_scores_patches_and_returns_eight_feature_maps():
    images = jax.random.uniform(jax.random.key(2), TALL, minval=-1.0, maxval=1.0)
    # The same first image beside two different neighbours: instance norm must score it the same both times.
    batch = jnp.concatenate([images, images[:1], -images[1:]])
    (logits, features), variables = jit(
        functools.partial(Discriminator(base_features=4).init_with_output, train=True)
    )(KEY, batch)
    assert "batch_stats" not in variables
    assert logits.shape == (4, 8, 4, 1)
    assert [f.shape for f in features] == [(4, 32, 16, 8), (4, 16, 8, 16)] + [(4, 8, 4, 32)] * 6
    assert all(np.isfinite(np.asarray(f)).all() for f in (logits, *features))
    np.testing.assert_allclose(np.asarray(logits[2]), np.asarray(logits[0]), atol=1e-5)
    assert not np.allclose(np.asarray(logits[3]), np.asarray(logits[1]))


def test_discriminator_rejects_sizes_not_divisible_by_8():
    with pytest.raises(ModelError, match="Discriminator input 36x16"):
        abstract_variables(Discriminator(base_features=4), (1, 36, 16, 3))


def test_style_modulation_is_the_identity_at_initialisation_and_acts_once_trained():
    """The modulate reading: with a trained to_image conv (random here), a generator whose StyleModulation is
    at its initialisation gives exactly the output of one without it; moving the modulation's weights (what
    training does) changes the output, so the attention acts inside G."""
    x = jax.random.uniform(jax.random.key(1), (2, 16, 8, 3), minval=-1.0, maxval=1.0)
    plain = Generator(base_features=4, num_res_blocks=1, num_scales=2)
    modulated = Generator(base_features=4, num_res_blocks=1, num_scales=2, modulate=True)
    variables = modulated.init(jax.random.key(0), x, train=False)
    params = dict(variables["params"])
    kernel = params["to_image"]["kernel"]
    params["to_image"] = {
        **params["to_image"],
        "kernel": 0.1 * jax.random.normal(jax.random.key(2), kernel.shape),
    }
    without = {k: v for k, v in params.items() if k != "style_modulation"}
    run = lambda model, p: np.asarray(model.apply({**variables, "params": p}, x, train=False)[0])
    np.testing.assert_allclose(run(modulated, params), run(plain, without), atol=1e-6)
    gains = params["style_modulation"]["gains"]
    moved = {**params, "style_modulation": {"gains": {**gains, "bias": jnp.full_like(gains["bias"], 0.5)}}}
    assert np.abs(run(modulated, moved) - run(plain, without)).max() > 1e-3
