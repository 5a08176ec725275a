"""UnityGAN and re-ID losses as pure jax functions of arrays.

Every loss returns one value per sample, shape (B,): callers choose the reduction, and the UnityStyle loss
needs per-sample values to weight each camera's samples by their style attention. All arithmetic is float32
whatever dtype the models computed in.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.signal

GAN_KINDS = ("lsgan", "bce")
# Weights of L_UnityGAN's four terms, and of the two parts of the cycle loss; each group must sum to 1.
UNITYGAN_WEIGHT_NAMES = ("gan", "fm", "id", "cyc")
CYCLE_WEIGHT_NAMES = ("ss", "l1")


class LossError(ValueError):
    """A loss was called with inputs or settings it cannot use; the one-line message names the culprit."""


def _float32(x):
    return jnp.asarray(x, jnp.float32)


def _per_sample_mean(x):
    """Mean over every axis but the batch axis."""
    x = _float32(x)
    return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise LossError(f"unknown GAN loss kind {kind!r}; choose one of {', '.join(GAN_KINDS)}")


def _check_same_shape(x, y, what: str) -> None:
    if x.shape != y.shape:
        raise LossError(f"{what} needs arrays of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def gan_generator_loss(fake_logits, kind: str):
    """Generator adversarial loss per sample: LSGAN (D(G(x)) - 1)^2, non-saturating -log sigmoid(D(G(x)))."""
    _check_kind(kind)
    fake_logits = _float32(fake_logits)
    if kind == "lsgan":
        return _per_sample_mean(jnp.square(fake_logits - 1.0))
    return _per_sample_mean(jax.nn.softplus(-fake_logits))


def gan_discriminator_loss(real_logits, fake_logits, kind: str):
    """Discriminator's loss per sample, halved as in CycleGAN so D learns no faster than G.

    LSGAN: ((D(y) - 1)^2 + D(G(x))^2) / 2.  BCE: (-log sigmoid(D(y)) - log(1 - sigmoid(D(G(x))))) / 2.
    """
    _check_kind(kind)
    _check_same_shape(real_logits, fake_logits, "gan_discriminator_loss")
    real_logits, fake_logits = _float32(real_logits), _float32(fake_logits)
    if kind == "lsgan":
        per_patch = jnp.square(real_logits - 1.0) + jnp.square(fake_logits)
    else:
        per_patch = jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits)
    return 0.5 * _per_sample_mean(per_patch)


def l1(x, y):
    """Mean absolute difference per sample (also the identity-mapping loss L_ID)."""
    _check_same_shape(x, y, "l1")
    return _per_sample_mean(jnp.abs(_float32(x) - _float32(y)))


def feature_matching(real_features, fake_features):
    """Mean L1 between discriminator features of real and generated images, averaged over layers, per sample.

    Real features are treated as constants: only the generator is pulled towards them.
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise LossError(
            "feature_matching needs the same non-zero number of layers, got "
            f"{len(real_features)} and {len(fake_features)}"
        )
    per_layer = [
        l1(jax.lax.stop_gradient(real), fake) for real, fake in zip(real_features, fake_features, strict=True)
    ]
    return jnp.mean(jnp.stack(per_layer), axis=0)


def _gaussian_filter_valid(images, filter_size: int, sigma: float):
    """Separable Gaussian blur of an NHWC batch over H and W, keeping only positions the window fits in."""
    offsets = jnp.arange(filter_size, dtype=jnp.float32) - (filter_size - 1) / 2
    taps = jnp.exp(-0.5 * jnp.square(offsets / sigma))
    taps = taps / jnp.sum(taps)
    blurred = jax.scipy.signal.convolve(images, taps.reshape(1, -1, 1, 1), mode="valid")
    return jax.scipy.signal.convolve(blurred, taps.reshape(1, 1, -1, 1), mode="valid")


def ssim(
    x, y, max_val: float = 2.0, filter_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03
):
    """Structural similarity per sample of NHWC batches: Gaussian window, mean over channels and valid pixels.

    Matches skimage's `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=max_val, channel_axis=-1)`; max_val = 2 for images in [-1, 1].
    """
    _check_same_shape(x, y, "ssim")
    if x.ndim != 4 or min(x.shape[1:3]) < filter_size:
        raise LossError(
            f"ssim needs NHWC batches at least {filter_size} pixels high and wide, got {tuple(x.shape)}"
        )
    x, y = _float32(x), _float32(y)
    moments = _gaussian_filter_valid(
        jnp.concatenate([x, y, x * x, y * y, x * y], axis=-1), filter_size, sigma
    )
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = jnp.split(moments, 5, axis=-1)
    var_x = mean_xx - mean_x * mean_x
    var_y = mean_yy - mean_y * mean_y
    cov_xy = mean_xy - mean_x * mean_y
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
        (mean_x * mean_x + mean_y * mean_y + c1) * (var_x + var_y + c2)
    )
    return _per_sample_mean(ssim_map)


def cycle_loss(x, reconstruction, lambda_ss: float, lambda_l1: float):
    """Cycle reconstruction loss per sample: lambda_ss * (1 - SSIM) + lambda_l1 * L1, images in [-1, 1]."""
    return lambda_ss * (1.0 - ssim(x, reconstruction)) + lambda_l1 * l1(x, reconstruction)


class SLNState(NamedTuple):
    """Scheduled loss normalisation state (GANimorph): per-term EMA and the frozen snapshot dividing it."""

    ema: dict
    snapshot: dict


def sln_init(names) -> SLNState:
    """EMA and snapshot start at 1.0 for every term, so terms are used unscaled until the first refresh."""
    ones = {name: jnp.ones((), jnp.float32) for name in names}
    return SLNState(ema=dict(ones), snapshot=dict(ones))


def _check_terms(terms: dict, state: SLNState) -> None:
    if set(terms) != set(state.snapshot):
        raise LossError(f"SLN terms {sorted(terms)} differ from the state's terms {sorted(state.snapshot)}")


def sln_normalize(terms: dict, state: SLNState) -> dict:
    """Each term divided by its snapshot (a constant: no gradient flows into the normaliser)."""
    _check_terms(terms, state)
    return {name: term / jax.lax.stop_gradient(state.snapshot[name]) for name, term in terms.items()}


def sln_update(terms: dict, state: SLNState, step, decay: float = 0.9999, first: int = 36, every: int = 90):
    """Fold this step's terms into the EMA; copy the EMA to the snapshot at step `first`, then every `every`.

    Terms may be scalars or per-sample arrays (their mean is tracked). Jit-safe: `step` may be traced.
    """
    _check_terms(terms, state)
    refresh = (step == first) | ((step > first) & ((step - first) % every == 0))
    ema = {
        name: decay * state.ema[name] + (1.0 - decay) * jnp.mean(jax.lax.stop_gradient(_float32(term)))
        for name, term in terms.items()
    }
    snapshot = {name: jnp.where(refresh, ema[name], state.snapshot[name]) for name in terms}
    return SLNState(ema=ema, snapshot=snapshot)


def unitystyle_weights(attention):
    """Per-sample weights attention / mean(attention): they average to 1, only their relative size matters."""
    attention = _float32(attention)
    return attention / jnp.mean(attention)


def unitystyle_objective(per_sample_loss, attention):
    """UnityStyle loss mean(w * L), w = unitystyle_weights(attention), with adversarial attention gradients.

    Trick: mean(sg(w) L) - mean(w sg(L)) + sg(mean(w sg(L))), sg = stop_gradient. Its value is mean(w L);
    its gradient w.r.t. the losses is that of mean(sg(w) L), so the generator minimises the weighted loss;
    its gradient w.r.t. the attention is minus that of mean(w L), so one optimiser step that minimises this
    objective makes the attention head MAXIMISE the weighted loss. The head thus up-weights the camera styles
    currently served worst, which keeps the unity style in the middle of all camera styles; minimised, the
    head would instead collapse onto the easiest samples.
    """
    per_sample_loss, attention = _float32(per_sample_loss), _float32(attention)
    if per_sample_loss.ndim != 1 or per_sample_loss.shape != attention.shape:
        raise LossError(
            "unitystyle_objective needs per-sample loss and attention of one shape (B,), got "
            f"{tuple(per_sample_loss.shape)} and {tuple(attention.shape)}"
        )
    weights = unitystyle_weights(attention)
    sg = jax.lax.stop_gradient
    adversarial = jnp.mean(weights * sg(per_sample_loss))
    return jnp.mean(sg(weights) * per_sample_loss) - adversarial + sg(adversarial)


def loss_weights_error(lambdas: dict) -> str | None:
    """Why the UnityGAN loss weights are unusable, or None if they are fine (used by config validation).

    Needs exactly the keys gan, fm, id, cyc (summing to 1) and ss, l1 (summing to 1), all > 0.
    """
    expected = UNITYGAN_WEIGHT_NAMES + CYCLE_WEIGHT_NAMES
    missing = [name for name in expected if name not in lambdas]
    unknown = sorted(set(lambdas) - set(expected))
    if missing or unknown:
        return (
            f"loss weights need exactly {', '.join(expected)}; "
            f"missing {missing or 'none'}, unknown {unknown or 'none'}"
        )
    not_positive = [f"{name}={lambdas[name]}" for name in expected if not lambdas[name] > 0]
    if not_positive:
        return f"loss weights must be > 0, got {', '.join(not_positive)}"
    for group in (UNITYGAN_WEIGHT_NAMES, CYCLE_WEIGHT_NAMES):
        total = sum(lambdas[name] for name in group)
        if abs(total - 1.0) > 1e-6:
            values = " + ".join(f"{name}={lambdas[name]}" for name in group)
            return f"loss weights {values} must sum to 1, got {total:g}"
    return None


def softmax_cross_entropy(logits, labels):
    """Identity classification loss per sample from integer labels (no label smoothing, as UnityStyle)."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise LossError(
            "softmax_cross_entropy needs logits (B, classes) and labels (B,), got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    log_probs = jax.nn.log_softmax(_float32(logits))
    return -jnp.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]


def accuracy(logits, labels):
    """Fraction of samples whose highest logit is the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
