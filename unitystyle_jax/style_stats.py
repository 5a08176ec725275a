"""Does the transfer do what UnityStyle claims? Style spread across cameras, and structure kept per image.

Style spread: each camera's mean colour (RGB, 0-255) and mean contrast (std of luminance, 0-255) over its
images; the spread is the standard deviation of those per-camera means across cameras. UnityStyle should shrink
it. Structure: SSIM between each image and its UnityStyle version; as a floor of reference, the SSIM between
each real image and another, unrelated real image of the same camera is reported beside it.
"""

from collections import defaultdict

import jax.numpy as jnp
import numpy as np

from unitystyle_jax import losses

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class StyleStats:
    """Accumulates per-camera colour/contrast of real and UnityStyle images ([-1, 1], NHWC) and paired SSIM."""

    def __init__(self):
        self._colour = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._contrast = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._ssim, self._ssim_unrelated = [], []

    def add(self, camera: int, real: np.ndarray, unity: np.ndarray) -> None:
        for kind, images in (("real", real), ("unity", unity)):
            pixels = (np.asarray(images, np.float32) + 1.0) * 127.5
            self._colour[kind][camera].append(pixels.mean(axis=(1, 2)))
            self._contrast[kind][camera].append((pixels @ LUMA).std(axis=(1, 2)))
        self._ssim.append(np.asarray(losses.ssim(jnp.asarray(real), jnp.asarray(unity))))
        if len(real) > 1:
            self._ssim_unrelated.append(
                np.asarray(losses.ssim(jnp.asarray(real), jnp.asarray(np.roll(real, 1, 0))))
            )

    @staticmethod
    def _spread(per_camera: dict) -> float:
        means = np.stack([np.concatenate(v).mean(axis=0) for _, v in sorted(per_camera.items())])
        return float(means.std(axis=0).mean())

    def summary(self) -> dict:
        if not self._ssim:
            return {}
        return {
            "colour_spread": {k: self._spread(v) for k, v in self._colour.items()},
            "contrast_spread": {k: self._spread(v) for k, v in self._contrast.items()},
            "ssim": float(np.concatenate(self._ssim).mean()),
            "ssim_unrelated": float(np.concatenate(self._ssim_unrelated).mean())
            if self._ssim_unrelated
            else None,
            "images": int(sum(len(s) for s in self._ssim)),
        }
