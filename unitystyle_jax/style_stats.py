"""Does the transfer do what UnityStyle claims? Style spread across cameras, and structure kept per image.

Style spread: each camera's mean colour (RGB, 0-255) and mean contrast (std of luminance, 0-255) over its
images; the spread is the standard deviation of those per-camera means across cameras. UnityStyle should shrink
it. Structure: SSIM between each image and its UnityStyle version; as a floor of reference, the SSIM between
each real image and another, unrelated real image of the same camera is reported beside it.

Style, not content: a transfer that greys, desaturates or flattens every image shrinks the spread too, but
also the differences between people. The style ratio R (how far apart the cameras' mean colour and contrast
lie, measured in units of how far apart the identities lie inside one camera: `_style_ratio`) tells them
apart: UnityStyle should lower R (cameras alike, people still different); a global colour transform leaves R
exactly as it is. Identities <= 0 (distractors) are left out.
"""

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax import losses

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# One compiled program per batch shape: called eagerly, SSIM's ~20 operations each compiled on their own (about
# 1 s of a tiny run's transfer stage).
_ssim = jax.jit(losses.ssim)


class StyleStats:
    """Accumulates per-camera colour/contrast of real and UnityStyle images ([-1, 1], NHWC) and paired SSIM."""

    def __init__(self):
        self._colour = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._contrast = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._pids = defaultdict(list)
        self._ssim, self._ssim_unrelated = [], []

    def add(self, camera: int, real: np.ndarray, unity: np.ndarray, pids=None) -> None:
        """One batch of camera `camera`: real and UnityStyle images in [-1, 1], and their identities (for R)."""
        self._pids[camera].append(np.full(len(real), -1) if pids is None else np.asarray(pids)[: len(real)])
        for kind, images in (("real", real), ("unity", unity)):
            pixels = (np.asarray(images, np.float32) + 1.0) * 127.5
            self._colour[kind][camera].append(pixels.mean(axis=(1, 2)))
            self._contrast[kind][camera].append((pixels @ LUMA).std(axis=(1, 2)))
        self._ssim.append(np.asarray(_ssim(jnp.asarray(real), jnp.asarray(unity))))
        if len(real) > 1:
            self._ssim_unrelated.append(
                np.asarray(_ssim(jnp.asarray(real), jnp.asarray(np.roll(real, 1, 0))))
            )

    @staticmethod
    def _spread(per_camera: dict) -> float:
        means = np.stack([np.concatenate(v).mean(axis=0) for _, v in sorted(per_camera.items())])
        return float(means.std(axis=0).mean())

    def _style_ratio(self, kind: str) -> float | None:
        """R = sqrt(trace(S_w^-1 S_b) / d) over the features f = (R, G, B, contrast): S_b the covariance of the
        per-camera mean features, S_w the pooled within-camera covariance of the per-identity means (Fisher's
        criterion). Any invertible affine map applied to every image's features alike (a global desaturation,
        a pull toward grey, a gain) leaves it unchanged; only making the cameras alike, relative to how people
        differ, lowers it. None without two identities (> 0) in some camera."""
        cameras, identities = [], []
        for camera in sorted(self._colour[kind]):
            colour = np.concatenate(self._colour[kind][camera])
            features = np.concatenate([colour, np.concatenate(self._contrast[kind][camera])[:, None]], axis=1)
            pids = np.concatenate(self._pids[camera])
            cameras.append(features.mean(axis=0))
            means = [features[pids == p].mean(axis=0) for p in np.unique(pids) if p > 0]
            if len(means) >= 2:
                identities.append(np.stack(means) - np.mean(means, axis=0))
        if not identities or len(cameras) < 2:
            return None
        between = np.cov(np.stack(cameras), rowvar=False)
        within = np.cov(np.concatenate(identities), rowvar=False)
        within += 1e-9 * np.trace(within) * np.eye(len(within))  # numerically invertible
        return float(np.sqrt(np.trace(np.linalg.solve(within, between)) / len(within)))

    def summary(self) -> dict:
        if not self._ssim:
            return {}
        return {
            "colour_spread": {k: self._spread(v) for k, v in self._colour.items()},
            "contrast_spread": {k: self._spread(v) for k, v in self._contrast.items()},
            "style_ratio": {k: self._style_ratio(k) for k in ("real", "unity")},
            "ssim": float(np.concatenate(self._ssim).mean()),
            "ssim_unrelated": float(np.concatenate(self._ssim_unrelated).mean())
            if self._ssim_unrelated
            else None,
            "images": int(sum(len(s) for s in self._ssim)),
        }
