"""Losses against hand-computed values, SSIM against scikit-image, the SLN schedule, UnityStyle gradients."""

import math

import jax
import ml_collections
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
    # LSGAN: 0.5 * (E[(D(y) - 1)^2] + E[D(G(x))^2]); per-sample means 0 and 1 (real), 2 and 1 (fake).
    np.testing.assert_allclose(losses.gan_discriminator_loss(real, fake, "lsgan"), 0.5 * (0.5 + 1.5))
    per_sample_bce = [
        (2 * softplus(-1) + softplus(0) + softplus(2)) / 2,
        (2 * softplus(0) + 2 * softplus(1)) / 2,
    ]
    np.testing.assert_allclose(
        losses.gan_discriminator_loss(real, fake, "bce"), 0.5 * np.mean(per_sample_bce), rtol=1e-6
    )
    # Weighted real side (the UnityStyle loss's D_Y): sample 1's real term (1.0) counts 3x sample 0's (0.0).
    weighted = losses.gan_discriminator_loss(real, fake, "lsgan", real_weights=jnp.array([0.5, 1.5]))
    np.testing.assert_allclose(weighted, 0.5 * ((0.5 * 0 + 1.5 * 1) / 2 + 1.5))
    fake_weighted = losses.gan_discriminator_loss(real, fake, "lsgan", fake_weights=jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(fake_weighted, 0.5 * (0.5 + 1.0))


def test_gan_loss_rejects_unknown_kind_and_mismatched_shapes():
    with pytest.raises(LossError, match="unknown GAN loss kind 'wgan'"):
        losses.gan_generator_loss(jnp.zeros((2, 4, 4, 1)), "wgan")
    with pytest.raises(LossError, match=r"\(2, 4, 4, 1\) and \(3, 4, 4, 1\)"):
        losses.gan_discriminator_loss(jnp.zeros((2, 4, 4, 1)), jnp.zeros((3, 4, 4, 1)), "lsgan")


def test_l1_and_feature_matching_of_batch_statistics():
    x = jnp.zeros((2, 2, 2, 1))
    y = jnp.stack([jnp.full((2, 2, 1), 1.0), jnp.full((2, 2, 1), -3.0)])
    np.testing.assert_allclose(losses.l1(x, y), [1.0, 3.0])

    # Channel means over batch and space: layer 1 real 1 vs fake 0 (L1 1); layer 2 real 0 vs fake 3 (L1 3).
    real = (jnp.ones((2, 4, 4, 3)), jnp.zeros((2, 2, 2, 5)))
    fake = (jnp.zeros((2, 4, 4, 3)), jnp.full((2, 2, 2, 5), 3.0))
    np.testing.assert_allclose(losses.feature_matching(real, fake), 2.0)  # mean of the layers' 1 and 3

    grad_real, grad_fake = jax.jit(jax.grad(losses.feature_matching, argnums=(0, 1)))(real, fake)
    assert all(float(jnp.abs(g).max()) == 0 for g in grad_real)  # real features are constants
    assert all(float(jnp.abs(g).max()) > 0 for g in grad_fake)
    with pytest.raises(LossError, match="same non-zero number of layers, got 2 and 1"):
        losses.feature_matching(real, fake[:1])


def test_feature_matching_vanishes_for_equal_statistics_in_any_order():
    rng = np.random.default_rng(0)
    features = [jnp.asarray(rng.normal(size=(6, 4, 2, c)), jnp.float32) for c in (3, 5)]
    shuffled = [f[jnp.array([3, 0, 5, 1, 4, 2])] for f in features]
    np.testing.assert_allclose(losses.feature_matching(features, shuffled), 0.0, atol=1e-6)
    # Negative control: another batch from the same distribution does not match exactly.
    other = [jnp.asarray(rng.normal(size=f.shape), jnp.float32) for f in features]
    assert float(losses.feature_matching(features, other)) > 0.05
    # Weighted real side: the weighted mean of the real features is the target. Real samples 0 and 1 with
    # weights 3 : 1 match a fake batch of three copies of sample 0 and one of sample 1.
    weights = jnp.array([1.5, 0.5])
    target = [jnp.concatenate([f[:1], f[:1], f[:1], f[1:2]]) for f in features]
    np.testing.assert_allclose(
        losses.feature_matching([f[:2] for f in features], target, real_weights=weights), 0.0, atol=1e-6
    )
    assert float(losses.feature_matching([f[:2] for f in features], target)) > 0.05  # unweighted: no match


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


def test_sln_floor_at_the_adversarial_snapshot_shrinks_large_terms_and_never_amplifies_small_ones():
    """Snapshots gan 0.5, fm 2.0, cyc 0.01 (a term near its optimum). Without a floor the cycle term is
    multiplied 100x against the adversarial term's 2x; with the floor every term below the adversarial one keeps
    its raw ratio to it, and the larger one is still brought to its footing."""
    snapshot = {"gan": jnp.float32(0.5), "fm": jnp.float32(2.0), "cyc": jnp.float32(0.01)}
    state = losses.SLNState(ema=dict(snapshot), snapshot=snapshot)
    terms = {name: jnp.float32(1.0) for name in snapshot}
    plain = losses.sln_normalize(terms, state)
    floored = losses.sln_normalize(terms, state, floor="gan")
    np.testing.assert_allclose([float(plain[k]) for k in ("gan", "fm", "cyc")], [2.0, 0.5, 100.0], rtol=1e-6)
    np.testing.assert_allclose([float(floored[k]) for k in ("gan", "fm", "cyc")], [2.0, 0.5, 2.0], rtol=1e-6)
    grad = jax.grad(lambda s: losses.sln_normalize(terms, s, floor="gan")["cyc"])(state)
    assert all(float(g) == 0.0 for g in grad.snapshot.values())
    with pytest.raises(LossError, match="unknown SLN floor 'fm'"):
        losses.sln_normalize(terms, state, floor="fm")


def test_sln_schedule_refreshes_at_step_36_then_every_90_with_bias_correction():
    update = jax.jit(losses.sln_update, static_argnames=("decay", "first", "every"))
    state = losses.sln_init(["gan", "cyc"])
    assert float(state.ema["gan"]) == 0.0 and float(state.snapshot["cyc"]) == 1.0
    decay, ema, refreshed = 0.9, 0.0, []
    for step in range(1, 400):
        term = 0.5 + 0.01 * step
        previous = float(state.snapshot["gan"])
        state = update({"gan": jnp.float32(term), "cyc": jnp.full((3,), term)}, state, step, decay=decay)
        ema = decay * ema + (1 - decay) * term
        np.testing.assert_allclose(float(state.ema["gan"]), ema, rtol=1e-5)
        np.testing.assert_allclose(float(state.ema["cyc"]), ema, rtol=1e-5)  # per-sample terms: their mean
        if float(state.snapshot["gan"]) != previous:
            refreshed.append(step)
            np.testing.assert_allclose(float(state.snapshot["gan"]), ema / (1 - decay**step), rtol=1e-5)
    assert refreshed == [36, 126, 216, 306, 396]


def test_sln_snapshot_is_the_terms_size_at_paper_decay_not_its_start_value():
    """Decay 0.9999, a term of constant size 5: at the first refresh (step 36) and at step 2,016 the snapshot
    is 5. Without bias correction (an EMA started at 1.0) it would be 1.014 at step 36 and 2.31 at step 2,016:
    the lambdas would weight raw losses, not terms on an equal footing."""
    state = losses.sln_init(["gan"])
    update = jax.jit(losses.sln_update, static_argnames=("decay", "first", "every"))
    snapshots, uncorrected = {}, 1.0
    for step in range(1, 2017):
        state = update({"gan": jnp.float32(5.0)}, state, step, decay=0.9999)
        uncorrected = 0.9999 * uncorrected + 0.0001 * 5.0
        if step in (36, 2016):
            snapshots[step] = (float(state.snapshot["gan"]), uncorrected)
    np.testing.assert_allclose(snapshots[36][0], 5.0, rtol=1e-3)
    np.testing.assert_allclose(snapshots[2016][0], 5.0, rtol=1e-3)
    assert snapshots[36][1] < 1.02 and snapshots[2016][1] < 2.4  # what the uncorrected EMA would divide by


def test_unitystyle_weights_are_bounded_and_average_to_one():
    extreme = jnp.array([1.0, 0.0, 0.0, 0.0])  # all attention on one sample
    weights = losses.unitystyle_weights(extreme, floor=0.5)
    np.testing.assert_allclose(weights.mean(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(weights, [1.6, 0.8, 0.8, 0.8], rtol=1e-6)  # (1, .5, .5, .5) / .625
    assert float(weights.max() / weights.min()) <= 1 / 0.5 + 1e-6
    # floor 1 switches the attention off: equal weights whatever it says.
    np.testing.assert_allclose(losses.unitystyle_weights(extreme, floor=1.0), jnp.ones(4))


def test_adversarial_weights_reverse_the_attention_gradient_only():
    loss = jnp.array([1.0, 3.0])
    attention = jnp.array([0.25, 0.75])

    def objective(loss, attention, adversarial):
        weigh = losses.adversarial_weights if adversarial else losses.unitystyle_weights
        return losses.weighted_mean(loss, weigh(attention, 0.5))

    np.testing.assert_allclose(objective(loss, attention, True), objective(loss, attention, False))
    grads = {a: jax.grad(objective, argnums=(0, 1))(loss, attention, a) for a in (True, False)}
    np.testing.assert_allclose(grads[True][0], grads[False][0])  # the losses' side: plain minimisation
    np.testing.assert_allclose(grads[True][1], -grads[False][1])  # the attention's side: reversed
    # So a descent step moves the attention towards the worse-served sample (loss 3).
    stepped = attention - 0.1 * grads[True][1]
    assert float(stepped[1]) > float(attention[1]) and float(stepped[0]) < float(attention[0])


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
        atol=1e-7,  # optax takes logsumexp - logit: float32 rounding of logsumexp ~ 5 (5e-8 here)
    )
    np.testing.assert_allclose(losses.accuracy(logits, labels), 2 / 3)  # argmax of a tie is the first class
    with pytest.raises(LossError, match=r"logits \(B, classes\) and labels \(B,\)"):
        losses.softmax_cross_entropy(logits, labels[:2])


def test_label_smoothed_cross_entropy_is_camstyles_lsr():
    """CamStyle's target: 0.9 on the label plus 0.1 / K on every class; epsilon 0 is the plain cross-entropy."""
    logits = jnp.array([[1.0, 0.0, -1.0], [0.0, 3.0, 0.5]])
    labels = jnp.array([0, 2])
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    target = np.full((2, 3), 0.1 / 3)
    target[[0, 1], [0, 2]] += 0.9
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(logits, labels, 0.1), -(target * log_probs).sum(axis=1), rtol=1e-6
    )
    np.testing.assert_array_equal(
        losses.softmax_cross_entropy(logits, labels, 0.0), losses.softmax_cross_entropy(logits, labels)
    )
    with pytest.raises(LossError, match="label smoothing 1.0"):
        losses.softmax_cross_entropy(logits, labels, 1.0)


def test_style_attention_readings_weigh_the_y_samples_as_each_reads_it():
    """per_model and joint: the same per-sample weights, the head's gradient of opposite sign (maximising,
    minimising); camera: one weight per camera, normalised over the cameras present (Σ_c A_c = 1), the same for
    every sample of a camera, the head maximising; none and modulate: the cameras' balance alone."""
    from unitystyle_jax.gan.step import y_weights

    attention = jnp.array([0.2, 0.9, 0.4, 0.6, 0.7])
    cameras = jax.nn.one_hot(jnp.array([0, 0, 2, 2, 3]), 4)  # camera 1 absent from this batch
    batch = {"y_balance": jnp.ones(5), "y_camera": cameras}
    loss = jnp.array([1.0, 2.0, 0.5, 3.0, 1.5])

    def config(reading):
        return ml_collections.ConfigDict(
            dict(camera_balance=True, style_attention=reading, attention_floor=0.5)
        )

    def objective(a, reading):
        return losses.weighted_mean(loss, y_weights(a, batch, config(reading)))

    for reading in ("none", "modulate"):
        np.testing.assert_allclose(y_weights(attention, batch, config(reading)), jnp.ones(5))
    np.testing.assert_allclose(
        y_weights(attention, batch, config("joint")), y_weights(attention, batch, config("per_model"))
    )
    grads = {r: jax.grad(objective)(attention, r) for r in ("per_model", "joint", "camera")}
    np.testing.assert_allclose(grads["per_model"], -grads["joint"], rtol=1e-6)
    weights = np.asarray(y_weights(attention, batch, config("camera")))
    present = 3
    shares = {c: weights[np.asarray(cameras[:, c]) > 0] / present for c in (0, 2, 3)}
    assert all(np.ptp(s) < 1e-6 for s in shares.values())  # one weight per camera
    np.testing.assert_allclose(sum(s[0] for s in shares.values()), 1.0, rtol=1e-6)  # normalised over cameras
    means = {0: 0.55, 2: 0.5, 3: 0.7}  # each camera's mean attention: its share is 0.5/3 + 0.5 * mean / sum
    for c, s in shares.items():
        np.testing.assert_allclose(s[0], 0.5 / 3 + 0.5 * means[c] / sum(means.values()), rtol=1e-5)
    # The head maximises: a step against the gradient raises the attention of camera 2 (mean loss 1.75, the
    # worst served) and lowers that of camera 3 (1.5).
    assert float(grads["camera"][2]) < 0.0 < float(grads["camera"][4])
