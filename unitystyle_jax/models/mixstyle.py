"""MixStyle (Zhou et al., ICLR 2021): while training, each instance's feature map takes a mixture of its own
and another instance's per-channel mean and standard deviation, so the network meets styles between its
training cameras' styles and learns features that ignore them. Parameter-free and off at test time.

As the reference code (KaiyangZhou/mixstyle-release): the statistics are detached from the gradient, one draw
per batch decides whether the batch is mixed (probability p), and each instance's weight is lambda ~ Beta(alpha,
alpha). Partners are a random permutation of the batch ("random") or, for each instance, a random instance of
another camera ("camera"; one of its own when the batch holds a single camera).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from unitystyle_jax.models.layers import ModelError

MIX_MODES = ("random", "camera")


def parse_layers(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2); '' -> () (MixStyle off). ModelError naming the text when it is not integers."""
    try:
        return tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        raise ModelError(f"MixStyle layers {text!r} must be stage numbers such as '1,2'") from None


def camera_partners(key, cameras):
    """For each instance, the index of a random instance of another camera (of any, when none differs)."""
    b = cameras.shape[0]
    same = cameras[:, None] == cameras[None, :]
    noise = jax.random.uniform(key, (b, b))
    # Instances of the same camera rank after every other camera's; the largest draw wins among the rest.
    return jnp.argmax(noise - 2.0 * same, axis=1)


def mix_style(x, key, p: float, alpha: float, cameras=None, eps: float = 1e-6):
    """x (B, H, W, C): with probability p, x normalised per instance and channel, rescaled and shifted by the
    lambda-mixture of its own statistics and its partner's; x unchanged otherwise. cameras (B,) picks partners of
    another camera; None, a random permutation."""
    apply_key, weight_key, partner_key = jax.random.split(key, 3)
    dtype = x.dtype
    x = x.astype(jnp.float32)
    mean = jax.lax.stop_gradient(x.mean(axis=(1, 2), keepdims=True))
    std = jax.lax.stop_gradient(jnp.sqrt(x.var(axis=(1, 2), keepdims=True) + eps))
    weight = jax.random.beta(weight_key, alpha, alpha, (x.shape[0], 1, 1, 1))
    if cameras is None:
        partners = jax.random.permutation(partner_key, x.shape[0])
    else:
        partners = camera_partners(partner_key, cameras)
    mixed_mean = weight * mean + (1 - weight) * mean[partners]
    mixed_std = weight * std + (1 - weight) * std[partners]
    mixed = (x - mean) / std * mixed_std + mixed_mean
    return jnp.where(jax.random.uniform(apply_key) < p, mixed, x).astype(dtype)


class MixStyle(nn.Module):
    """`__call__(x, train, cameras=None)`: mix_style with a "mixstyle" rng while training, the identity at test
    time or when p = 0."""

    p: float = 0.5
    alpha: float = 0.1
    mix: str = "random"

    @nn.compact
    def __call__(self, x, train: bool, cameras=None):
        if self.mix not in MIX_MODES:
            raise ModelError(f"MixStyle mix={self.mix!r}: choose from {MIX_MODES}")
        if not 0.0 <= self.p <= 1.0 or self.alpha <= 0:
            raise ModelError(f"MixStyle needs 0 <= p <= 1 and alpha > 0, got p={self.p}, alpha={self.alpha}")
        if not train or self.p == 0:
            return x
        if self.mix == "camera" and cameras is None:
            raise ModelError("MixStyle mix='camera' needs the batch's camera ids")
        return mix_style(
            x, self.make_rng("mixstyle"), self.p, self.alpha, cameras if self.mix == "camera" else None
        )
