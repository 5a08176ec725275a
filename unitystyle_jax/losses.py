"""UnityGAN and re-ID losses as pure jax functions of arrays.

Per-image losses (GAN, L1, SSIM, cycle, cross-entropy) return one value per sample, shape (B,): callers
reduce them, with `weighted_mean` where the UnityStyle loss weights each Y sample by its Style Attention.
Batch-level losses (feature matching, the discriminator's) take those weights themselves. All arithmetic is
float32 whatever dtype the models computed in.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.signal
import optax

from unitystyle_jax.core.errors import LossError

GAN_KINDS = ("lsgan", "bce")
# Weights of L_UnityGAN's four terms, and of the two parts of the cycle loss; each group must sum to 1.
UNITYGAN_WEIGHT_NAMES = ("gan", "fm", "id", "cyc")
CYCLE_WEIGHT_NAMES = ("ss", "l1")
# What bounds each term's SLN normaliser from below: none (GANimorph's SLN, every term to the same size) or the
# adversarial term's snapshot (a term smaller than the adversarial one is not amplified; docs/objective.md).
SLN_FLOORS = ("none", "gan")
# Readings of the paper's Style Attention (config.gan.style_attention; docs/objective.md): none (every camera
# 1/C), per_model (each model's head weighs each Y sample, maximising the loss), shared (one such head for all C
# models, trained together: gan.train_together), joint (a per-model head minimising it), camera (one weight per
# camera, normalised over the cameras, maximising), modulate (attention on G1 that scales the decoder's features
# inside the generator, trained with it).
STYLE_ATTENTION = ("none", "per_model", "shared", "joint", "camera", "modulate")
# The readings whose head weighs the Y samples.
WEIGHTING_ATTENTION = ("per_model", "shared", "joint", "camera")


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


def gan_discriminator_loss(real_logits, fake_logits, kind: str, real_weights=None, fake_weights=None):
    """Discriminator's loss (a scalar), halved as in CycleGAN so D learns no faster than G.

    LSGAN: (E[(D(y) - 1)^2] + E[D(G(x))^2]) / 2.  BCE: (E[-log sigmoid(D(y))] + E[-log(1 - sigmoid(D(G(x))))]) / 2.
    Each expectation is over its own batch, weighted per sample when weights are given: the UnityStyle loss
    weights the Y samples, so D_Y learns the attention-weighted mixture of camera styles as "real".
    """
    _check_kind(kind)
    _check_same_shape(real_logits, fake_logits, "gan_discriminator_loss")
    real_logits, fake_logits = _float32(real_logits), _float32(fake_logits)
    if kind == "lsgan":
        real, fake = jnp.square(real_logits - 1.0), jnp.square(fake_logits)
    else:
        real, fake = jax.nn.softplus(-real_logits), jax.nn.softplus(fake_logits)
    real = weighted_mean(_per_sample_mean(real), real_weights)
    return 0.5 * (real + weighted_mean(_per_sample_mean(fake), fake_weights))


def l1(x, y):
    """Mean absolute difference per sample (also the identity-mapping loss L_ID)."""
    _check_same_shape(x, y, "l1")
    return _per_sample_mean(jnp.abs(_float32(x) - _float32(y)))


def weighted_mean(per_sample, weights=None):
    """mean(w * L) / mean(w) over the batch; plain mean without weights. Weights need not sum to anything."""
    per_sample = _float32(per_sample)
    if weights is None:
        return jnp.mean(per_sample)
    weights = _float32(weights)
    return jnp.sum(weights * per_sample) / jnp.maximum(jnp.sum(weights), 1e-12)


FM_STATISTICS = ("means", "style", "style_layout")


def feature_statistics(features, weights=None, with_std: bool = False):
    """Per-layer batch statistics of NHWC features, each sample weighted by `weights` (B,) when given: what
    feature matching compares. Per sample, each channel's mean over space (and, `with_std`, its standard
    deviation); then their weighted mean over the batch. The per-image mean and std of a channel are its style
    (Huang & Belongie's AdaIN): a colour cast or a contrast change moves them, a new person mostly does not."""
    stats = []
    for f in features:
        f = _float32(f)
        per_sample = jnp.mean(f, axis=(1, 2))  # (B, C)
        if with_std:
            spread = jnp.sqrt(
                jnp.maximum(jnp.mean(jnp.square(f), axis=(1, 2)) - jnp.square(per_sample), 1e-8)
            )
            per_sample = jnp.concatenate([per_sample, spread], axis=-1)
        w = jnp.ones(per_sample.shape[:1], jnp.float32) if weights is None else _float32(weights)
        stats.append(w @ per_sample / jnp.maximum(jnp.sum(w), 1e-12))
    return stats


def feature_matching(real_features, fake_features, real_weights=None, fake_weights=None, with_std=False):
    """Feature matching as Salimans et al. (2016) and GANimorph define it: per layer, the L1 distance (mean over
    channels) between the batch statistics (`feature_statistics`) of real and generated features, averaged over
    layers. A scalar.

    Batch statistics, not per-sample distances: the real and generated batches are drawn independently, so
    sample i of one has nothing to do with sample i of the other, and the loss must vanish when the two
    distributions agree, in any order. `real_weights` make the real side the weighted distribution (the
    UnityStyle loss weights the Y samples); real features are constants, only the generator is pulled.
    The UnityStyle reading: with every camera weighted alike (A_c = 1/C) the real side's statistics estimate
    sum_c A_c m_c, the mean of the cameras' statistics m_c, which is the minimiser of sum_c A_c ||m(G(x)) - m_c||^2:
    the middle of the camera styles. Matching that estimate (L1, as GANimorph) has the same minimiser.
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise LossError(
            "feature_matching needs the same non-zero number of layers, got "
            f"{len(real_features)} and {len(fake_features)}"
        )
    real = feature_statistics([jax.lax.stop_gradient(f) for f in real_features], real_weights, with_std)
    fake = feature_statistics(fake_features, fake_weights, with_std)
    return jnp.mean(jnp.stack([jnp.mean(jnp.abs(r - f)) for r, f in zip(real, fake, strict=True)]))


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
    data_range=max_val, channel_axis=-1)`; max_val = 2 for images in [-1, 1]. Kept rather than dm-pix's `ssim`:
    dm-pix would be a training dependency for one function, and this one is checked against scikit-image.
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
    """The EMA starts at 0 (bias-corrected when read, as Adam's moments are); the snapshot at 1.0, so terms
    are used unscaled until the first refresh."""
    return SLNState(
        ema={name: jnp.zeros((), jnp.float32) for name in names},
        snapshot={name: jnp.ones((), jnp.float32) for name in names},
    )


def _check_terms(terms: dict, state: SLNState) -> None:
    if set(terms) != set(state.snapshot):
        raise LossError(f"SLN terms {sorted(terms)} differ from the state's terms {sorted(state.snapshot)}")


def sln_normalize(terms: dict, state: SLNState, floor: str = "none") -> dict:
    """Each term divided by its snapshot (a constant: no gradient flows into the normaliser).

    floor='gan' divides each term by max(its snapshot, the adversarial term's snapshot): SLN still brings a term
    larger than the adversarial one down to its footing, but no longer multiplies a term that is small because
    it is near its optimum. An identity-initialised generator starts with its identity and cycle terms near 0;
    divided by such snapshots, their L1 gradients (which do not shrink with the term) outweigh every other
    term's, and G stays at the identity.
    """
    _check_terms(terms, state)
    if floor not in SLN_FLOORS:
        raise LossError(f"unknown SLN floor {floor!r}; choose one of {', '.join(SLN_FLOORS)}")
    normaliser = dict(state.snapshot)
    if floor == "gan":
        normaliser = {name: jnp.maximum(value, state.snapshot["gan"]) for name, value in normaliser.items()}
    return {name: term / jax.lax.stop_gradient(normaliser[name]) for name, term in terms.items()}


def sln_update(terms: dict, state: SLNState, step, decay: float = 0.9999, first: int = 36, every: int = 90):
    """Fold step `step`'s terms (step counts from 1) into the EMA; at step `first`, then every `every`, the
    snapshot becomes the bias-corrected EMA, ema / (1 - decay**step).

    Why corrected: an EMA of decay 0.9999 started at 1.0 is still 82 % that start value after 2,000 steps, so
    the snapshot would divide by 1.0, not by the term's size, for most of a 40,000-step run. Corrected, the
    snapshot is the decay-weighted mean of the term's own history from the first refresh on.
    Terms may be scalars or per-sample arrays (their mean is tracked). Jit-safe: `step` may be traced.
    """
    _check_terms(terms, state)
    refresh = (step == first) | ((step > first) & ((step - first) % every == 0))
    ema = {
        name: decay * state.ema[name] + (1.0 - decay) * jnp.mean(jax.lax.stop_gradient(_float32(term)))
        for name, term in terms.items()
    }
    correction = 1.0 - jnp.power(jnp.float32(decay), jnp.asarray(step, jnp.float32))
    snapshot = {
        name: jnp.where(refresh, ema[name] / jnp.maximum(correction, 1e-12), state.snapshot[name])
        for name in terms
    }
    return SLNState(ema=ema, snapshot=snapshot)


def unitystyle_weights(attention, floor: float = 0.5):
    """Per-sample Style Attention weights, bounded so that they cannot collapse onto one sample.

    The attention a in (0, 1) is mapped to floor + (1 - floor) * a, in (floor, 1), then divided by its batch
    mean: the weights average to 1, and no sample weighs more than 1/floor times another. Unbounded (a / mean(a)),
    an adversarial head could put the whole weight on a single sample.
    """
    bounded = floor + (1.0 - floor) * _float32(attention)
    return bounded / jnp.mean(bounded)


@jax.custom_vjp
def reverse_gradient(x):
    """The identity, with the gradient negated: what follows is minimised, what precedes maximises it."""
    return x


reverse_gradient.defvjp(lambda x: (x, None), lambda _, g: (-g,))


def adversarial_weights(attention, floor: float = 0.5):
    """The UnityStyle loss's weights, placed so that one optimiser step over the whole objective makes the
    generators minimise the weighted loss while the attention head maximises it.

    Why the head maximises: it then up-weights the camera styles the generators currently serve worst, so the
    unity style settles in the middle of all camera styles (a minimax centre); a head that minimised would
    collapse onto the easiest camera. `unitystyle_weights` bounds how far it can go.
    """
    return unitystyle_weights(reverse_gradient(_float32(attention)), floor)


def camera_weights(attention, cameras, floor: float = 0.5):
    """Per-sample weights from one Style Attention weight per camera, normalised over the cameras present:
    A_c = the mean attention of camera c's samples / its sum over the cameras (Σ_c A_c = 1), bounded to
    floor/K + (1 − floor)·A_c over the K cameras present, then K·A_c for each of camera c's samples (mean 1
    when every camera is equally represented). The head maximises, as `adversarial_weights`' does.
    cameras: (B, K) one-hot camera of each sample."""
    attention, cameras = reverse_gradient(_float32(attention)), _float32(cameras)
    counts = cameras.sum(axis=0)
    present = counts > 0
    per_camera = jnp.where(present, (attention @ cameras) / jnp.maximum(counts, 1.0), 0.0)
    share = per_camera / jnp.maximum(per_camera.sum(), 1e-12)
    k = present.sum()
    bounded = jnp.where(present, floor / k + (1.0 - floor) * share, 0.0)
    return k * (cameras @ bounded)


def loss_weights(gan_config, names=UNITYGAN_WEIGHT_NAMES) -> dict:
    """{name: gan_config.lambda_<name>}: the lambdas of L_UnityGAN's terms (the only place they are read)."""
    return {name: getattr(gan_config, f"lambda_{name}") for name in names}


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


def softmax_cross_entropy(logits, labels, smoothing: float = 0.0):
    """Identity classification loss per sample from integer labels.

    `smoothing` = epsilon of label-smoothing regularisation as CamStyle applies it to its generated images: the
    target is (1 - epsilon) on the label plus epsilon / classes on every class. 0 (UnityStyle, real images): the
    plain cross-entropy. Computed by optax (`softmax_cross_entropy_with_integer_labels`, `smooth_labels`).
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise LossError(
            "softmax_cross_entropy needs logits (B, classes) and labels (B,), got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if not 0.0 <= smoothing < 1.0:
        raise LossError(f"label smoothing {smoothing} must lie in [0, 1)")
    logits = _float32(logits)
    if not smoothing:
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32), smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def accuracy(logits, labels):
    """Fraction of samples whose highest logit is the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
