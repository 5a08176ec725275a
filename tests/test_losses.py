"""Losses against hand-computed values, SSIM against scikit-image, the SLN schedule, UnityStyle gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
import skimage.filters
import skimage.metrics

from unitystyle_jax import losses
from unitystyle_jax.losses import LossError


def test_gan_losses_per_sample():
    fake = jnp.array([[0.0, 2.0], [1.0, 1.0]]).reshape(2, 1, 2, 1)
    real = jnp.array([[1.0, 1.0], [0.0, 0.0]]).reshape(2, 1, 2, 1)
    np.testing.assert_allclose(losses.gan_generator_loss(fake, "lsgan"), [1.0, 0.0])
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    np.testing.assert_allclose(
        losses.gan_generator_loss(fake, "bce"), [(softplus(0) + softplus(-2)) / 2, softplus(-1)], rtol=1e-6
    )
    # LSGAN: 0.5 * mean((D(y) - 1)^2 + D(G(x))^2) per sample.
    np.testing.assert_allclose(
        losses.gan_discriminator_loss(real, fake, "lsgan"), [0.5 * (0 + 4) / 2, 0.5 * (2 + 2) / 2]
    )
    np.testing.assert_allclose(
        losses.gan_discriminator_loss(real, fake, "bce"),
        [
            0.5 * (2 * softplus(-1) + softplus(0) + softplus(2)) / 2,
            0.5 * (2 * softplus(0) + 2 * softplus(1)) / 2,
        ],
        rtol=1e-6,
    )


def test_gan_loss_rejects_unknown_kind_and_mismatched_shapes():
    with pytest.raises(LossError, match="unknown GAN loss kind 'wgan'"):
        losses.gan_generator_loss(jnp.zeros((2, 4, 4, 1)), "wgan")
    with pytest.raises(LossError, match=r"\(2, 4, 4, 1\) and \(3, 4, 4, 1\)"):
        losses.gan_discriminator_loss(jnp.zeros((2, 4, 4, 1)), jnp.zeros((3, 4, 4, 1)), "lsgan")


def test_l1_and_feature_matching():
    x = jnp.zeros((2, 2, 2, 1))
    y = jnp.stack([jnp.full((2, 2, 1), 1.0), jnp.full((2, 2, 1), -3.0)])
    np.testing.assert_allclose(losses.l1(x, y), [1.0, 3.0])

    real = (jnp.ones((2, 4, 4, 3)), jnp.zeros((2, 2, 2, 5)))
    fake = (jnp.zeros((2, 4, 4, 3)), jnp.full((2, 2, 2, 5), 3.0))
    np.testing.assert_allclose(losses.feature_matching(real, fake), [2.0, 2.0])  # mean of layer L1s 1 and 3

    grad_real, grad_fake = jax.jit(
        jax.grad(lambda r, f: losses.feature_matching(r, f).sum(), argnums=(0, 1))
    )(real, fake)
    assert all(float(jnp.abs(g).max()) == 0 for g in grad_real)  # real features are constants
    assert all(float(jnp.abs(g).max()) > 0 for g in grad_fake)
    with pytest.raises(LossError, match="same non-zero number of layers, got 2 and 1"):
        losses.feature_matching(real, fake[:1])


def astronaut_pairs():
    """Real photo crops in [-1, 1] against blurred, noised and colour-shifted versions of themselves."""
    photo = skimage.data.astronaut().astype(np.float64) / 255.0
    rng = np.random.default_rng(0)
    crops = [photo[30:94, 180:212], photo[200:264, 300:332]]
    pairs = []
    for crop in crops:
        pairs.append((crop, skimage.filters.gaussian(crop, sigma=1.2, channel_axis=-1)))
        pairs.append((crop, np.clip(crop + rng.normal(0, 0.08, crop.shape), 0, 1)))
        pairs.append((crop, np.clip(crop * [1.1, 0.9, 0.8] + [0.05, 0.0, 0.1], 0, 1)))
    return [(2 * a - 1, 2 * b - 1) for a, b in pairs]


def test_ssim_matches_scikit_image_on_real_images():
    pairs = astronaut_pairs()
    x = jnp.asarray(np.stack([a for a, _ in pairs]), jnp.float32)
    y = jnp.asarray(np.stack([b for _, b in pairs]), jnp.float32)
    ssim = jax.jit(losses.ssim)
    ours = np.asarray(ssim(x, y))
    expected = [
        skimage.metrics.structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=2.0,
            channel_axis=-1,
        )
        for a, b in pairs
    ]
    assert np.ptp(expected) > 0.1  # the distortions really differ in how much structure they keep
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-5)


def test_cycle_loss_combines_dssim_and_l1():
    pairs = astronaut_pairs()[:2]
    x = jnp.asarray(np.stack([a for a, _ in pairs]), jnp.float32)
    y = jnp.asarray(np.stack([b for _, b in pairs]), jnp.float32)
    cycle_loss = jax.jit(losses.cycle_loss)
    np.testing.assert_allclose(cycle_loss(x, x, 0.7, 0.3), 0.0, atol=1e-5)
    expected = 0.7 * (1 - jax.jit(losses.ssim)(x, y)) + 0.3 * np.abs(np.asarray(x - y)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(cycle_loss(x, y, 0.7, 0.3), expected, rtol=1e-5)
    with pytest.raises(LossError, match="at least 11 pixels"):
        losses.ssim(jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8, 3)))


def test_sln_normalises_by_the_snapshot_without_gradient():
    state = losses.SLNState(ema={"gan": jnp.float32(4.0)}, snapshot={"gan": jnp.float32(2.0)})
    np.testing.assert_allclose(losses.sln_normalize({"gan": jnp.float32(3.0)}, state)["gan"], 1.5)
    grad = jax.grad(lambda s: losses.sln_normalize({"gan": jnp.float32(3.0)}, s)["gan"])(state)
    assert float(grad.snapshot["gan"]) == 0.0
    with pytest.raises(LossError, match=r"\['fm'\] differ from the state's terms \['gan'\]"):
        losses.sln_normalize({"fm": jnp.float32(1.0)}, state)


def test_sln_schedule_refreshes_at_step_36_then_every_90():
    update = jax.jit(losses.sln_update, static_argnames=("decay", "first", "every"))
    state = losses.sln_init(["gan", "cyc"])
    assert float(state.ema["gan"]) == 1.0 and float(state.snapshot["cyc"]) == 1.0
    decay, ema, refreshed = 0.9, 1.0, []
    for step in range(400):
        term = 0.5 + 0.01 * step
        previous = float(state.snapshot["gan"])
        state = update({"gan": jnp.float32(term), "cyc": jnp.full((3,), term)}, state, step, decay=decay)
        ema = decay * ema + (1 - decay) * term
        np.testing.assert_allclose(float(state.ema["gan"]), ema, rtol=1e-5)
        np.testing.assert_allclose(float(state.ema["cyc"]), ema, rtol=1e-5)  # per-sample terms: their mean
        if float(state.snapshot["gan"]) != previous:
            refreshed.append(step)
            np.testing.assert_allclose(float(state.snapshot["gan"]), ema, rtol=1e-5)
    assert refreshed == [36, 126, 216, 306, 396]


def test_unitystyle_objective_value_and_adversarial_gradients():
    loss = jnp.array([1.0, 3.0])
    attention = jnp.array([0.25, 0.75])
    np.testing.assert_allclose(losses.unitystyle_weights(attention), [0.5, 1.5])
    # Value: mean(w L) = (0.5 * 1 + 1.5 * 3) / 2.
    np.testing.assert_allclose(losses.unitystyle_objective(loss, attention), 2.5)
    grad_loss, grad_attention = jax.jit(jax.grad(losses.unitystyle_objective, argnums=(0, 1)))(
        loss, attention
    )
    # Generator side minimises mean(sg(w) L): d/dL = w / B.
    np.testing.assert_allclose(grad_loss, [0.25, 0.75])
    # Attention side maximises mean(w sg(L)) = sum(a L) / sum(a): d/da_j = (L_j - 2.5) / sum(a), negated.
    np.testing.assert_allclose(grad_attention, [1.5, -0.5])
    # A descent step therefore moves attention towards the worse-served sample.
    stepped = attention - 0.1 * grad_attention
    assert float(stepped[1]) > float(attention[1]) and float(stepped[0]) < float(attention[0])
    with pytest.raises(LossError, match=r"\(2,\) and \(3,\)"):
        losses.unitystyle_objective(loss, jnp.ones(3))


GOOD_WEIGHTS = {"gan": 0.4, "fm": 0.2, "id": 0.1, "cyc": 0.3, "ss": 0.7, "l1": 0.3}


@pytest.mark.parametrize(
    "change, message",
    [
        ({}, None),
        ({"id": 0.0, "cyc": 0.4}, "loss weights must be > 0, got id=0.0"),
        ({"gan": 0.5}, "loss weights gan=0.5 + fm=0.2 + id=0.1 + cyc=0.3 must sum to 1, got 1.1"),
        ({"ss": 0.6}, "loss weights ss=0.6 + l1=0.3 must sum to 1, got 0.9"),
        ({"lsr": 0.1}, "unknown ['lsr']"),
    ],
)
def test_loss_weights_error(change, message):
    error = losses.loss_weights_error({**GOOD_WEIGHTS, **change})
    if message is None:
        assert error is None
    else:
        assert message in error
    missing = {k: v for k, v in GOOD_WEIGHTS.items() if k != "fm"}
    assert "missing ['fm']" in losses.loss_weights_error(missing)


def test_cross_entropy_and_accuracy():
    logits = jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 5.0]])
    labels = jnp.array([0, 1, 1])
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(logits, labels),
        [math.log(2), 2 + math.log1p(math.exp(-2)), math.log1p(math.exp(-5))],
        rtol=1e-6,
    )
    np.testing.assert_allclose(losses.accuracy(logits, labels), 2 / 3)  # argmax of a tie is the first class
    with pytest.raises(LossError, match=r"logits \(B, classes\) and labels \(B,\)"):
        losses.softmax_cross_entropy(logits, labels[:2])
