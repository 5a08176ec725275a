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

Camera cues beyond mean colour and contrast: a camera probe (`CameraProbe`), a linear classifier of an image's
style descriptor (`style_descriptor`: colour moments and correlations, tone percentiles, sharpness, noise),
trained on the real training images to tell the cameras apart and scored on query + gallery, real and
UnityStyle (chance = 1 / cameras). It reads style, not scene layout: a convolutional classifier would find each
camera's background structure, which no style transfer may remove.
"""

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax import losses

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# The transfer unified the cameras when R fell below this fraction of the real images' R (docs/objective.md:
# the chosen objective reaches 0.3-0.5x at demo size; generators held at the identity stay near 1x).
UNIFIED_RATIO = 0.6
# One compiled program per batch shape: called eagerly, each of SSIM's operations would compile on its own.
_ssim = jax.jit(losses.ssim)


def style_descriptor(images) -> np.ndarray:
    """(B, 18) style features of NHWC images in [-1, 1]: per-channel mean and std, the three channel correlations
    (cross-channel mixing), luminance percentiles 5/25/50/75/95 (the tone curve), mean saturation, mean gradient
    magnitude (sharpness: blur lowers it) and the std of the luminance minus its 3x3 mean (sensor noise)."""
    x = np.asarray(images, np.float32)
    flat = x.reshape(len(x), -1, 3)
    mean, std = flat.mean(axis=1), flat.std(axis=1) + 1e-6
    centred = (flat - mean[:, None]) / std[:, None]
    pairs = [(0, 1), (0, 2), (1, 2)]
    correlation = np.stack([(centred[..., a] * centred[..., b]).mean(axis=1) for a, b in pairs], axis=1)
    luma = x @ LUMA
    tone = np.percentile(luma.reshape(len(x), -1), [5, 25, 50, 75, 95], axis=1).T
    saturation = (x.max(axis=-1) - x.min(axis=-1)).mean(axis=(1, 2))
    gradient = np.abs(np.diff(luma, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(luma, axis=2)).mean(
        axis=(1, 2)
    )
    padded = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = luma.shape[1:]
    local = sum(padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    noise = (luma - local).std(axis=(1, 2))
    return np.concatenate(
        [mean, std, correlation, tone, saturation[:, None], gradient[:, None], noise[:, None]], axis=1
    )


class CameraProbe:
    """Multinomial logistic regression on standardised style descriptors (L2-regularised, full-batch gradient
    descent: a few thousand images of 18 features fit in well under a second)."""

    def __init__(self, descriptors: np.ndarray, cameras: np.ndarray, steps: int = 500, l2: float = 1e-3):
        self.classes = np.unique(cameras)
        self.mean, self.std = descriptors.mean(axis=0), descriptors.std(axis=0) + 1e-6
        x = self._standardised(descriptors)
        targets = (cameras[:, None] == self.classes[None]).astype(np.float64)
        self.weights = np.zeros((x.shape[1], len(self.classes)))
        self.bias = np.zeros(len(self.classes))
        for _ in range(steps):
            error = self._probabilities(x) - targets
            self.weights -= 0.5 * (x.T @ error / len(x) + l2 * self.weights)
            self.bias -= 0.5 * error.mean(axis=0)

    def _standardised(self, descriptors):
        return (np.asarray(descriptors, np.float64) - self.mean) / self.std

    def _probabilities(self, x):
        logits = x @ self.weights + self.bias
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def accuracy(self, descriptors: np.ndarray, cameras: np.ndarray) -> float:
        predicted = self.classes[self._probabilities(self._standardised(descriptors)).argmax(axis=1)]
        return float(np.mean(predicted == cameras))


class StyleStats:
    """Accumulates per-camera colour/contrast of real and UnityStyle images ([-1, 1], NHWC), paired SSIM, and the
    style descriptors the camera probe trains on (training images) and is scored on (query + gallery)."""

    def __init__(self):
        self._descriptors = {
            split: {"real": defaultdict(list), "unity": defaultdict(list)} for split in ("train", "test")
        }
        self._colour = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._contrast = {"real": defaultdict(list), "unity": defaultdict(list)}
        self._pids = defaultdict(list)
        self._ssim, self._ssim_unrelated, self._change = [], [], []

    def add_training(self, camera: int, real: np.ndarray, unity: np.ndarray) -> None:
        """One batch of camera `camera`'s training images, real and UnityStyle: what the camera probe learns from."""
        for kind, images in (("real", real), ("unity", unity)):
            self._descriptors["train"][kind][camera].append(style_descriptor(images))

    def add(self, camera: int, real: np.ndarray, unity: np.ndarray, pids=None) -> None:
        """One batch of camera `camera`: real and UnityStyle images in [-1, 1], and their identities (for R)."""
        for kind, images in (("real", real), ("unity", unity)):
            self._descriptors["test"][kind][camera].append(style_descriptor(images))
        self._pids[camera].append(np.full(len(real), -1) if pids is None else np.asarray(pids)[: len(real)])
        for kind, images in (("real", real), ("unity", unity)):
            pixels = (np.asarray(images, np.float32) + 1.0) * 127.5
            self._colour[kind][camera].append(pixels.mean(axis=(1, 2)))
            self._contrast[kind][camera].append((pixels @ LUMA).std(axis=(1, 2)))
        self._ssim.append(np.asarray(_ssim(jnp.asarray(real), jnp.asarray(unity))))
        self._change.append(
            127.5 * np.abs(np.asarray(unity, np.float32) - np.asarray(real, np.float32)).mean(axis=(1, 2, 3))
        )
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

    def _stacked(self, split: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        per_camera = self._descriptors[split][kind]
        features = [np.concatenate(per_camera[c]) for c in sorted(per_camera)]
        cameras = [np.full(len(f), c) for c, f in zip(sorted(per_camera), features)]
        return np.concatenate(features), np.concatenate(cameras)

    def _camera_probe(self) -> dict | None:
        """Accuracy of telling the cameras apart from style: the probe trained on real training images and scored
        on real and UnityStyle query + gallery; and one trained on UnityStyle training images (any camera cue the
        transfer left, even one it moved). None without training images of two cameras."""
        if len(self._descriptors["train"]["real"]) < 2:
            return None
        real_probe = CameraProbe(*self._stacked("train", "real"))
        return {
            "chance": 1.0 / len(real_probe.classes),
            "real": real_probe.accuracy(*self._stacked("test", "real")),
            "unity": real_probe.accuracy(*self._stacked("test", "unity")),
            "unity_retrained": CameraProbe(*self._stacked("train", "unity")).accuracy(
                *self._stacked("test", "unity")
            ),
        }

    def summary(self) -> dict:
        if not self._ssim:
            return {}
        return {
            "camera_probe": self._camera_probe(),
            "colour_spread": {k: self._spread(v) for k, v in self._colour.items()},
            "contrast_spread": {k: self._spread(v) for k, v in self._contrast.items()},
            "style_ratio": {k: self._style_ratio(k) for k in ("real", "unity")},
            "ssim": float(np.concatenate(self._ssim).mean()),
            "ssim_unrelated": float(np.concatenate(self._ssim_unrelated).mean())
            if self._ssim_unrelated
            else None,
            "mean_abs_change": float(np.concatenate(self._change).mean()),  # mean |G(x) - x|, 0-255 levels
            "images": int(sum(len(s) for s in self._ssim)),
        }


def verdict(style: dict) -> tuple[bool, str]:
    """Whether the transfer moved the cameras toward one style, and why, in words: R real -> UnityStyle as a
    fraction of real, against UNIFIED_RATIO, with the camera probe beside it. A GAN stage that trained for days
    and left its generators near the identity says so here, before an IDE is trained on what is a real twin."""
    ratio, probe = style["style_ratio"], style.get("camera_probe")
    if ratio["real"] is None or ratio["unity"] is None:
        return True, "R not measurable (no camera with two identities): the cameras' move is not checked"
    fraction = ratio["unity"] / ratio["real"]
    probe_text = f", camera probe {100 * probe['real']:.0f}% -> {100 * probe['unity']:.0f}%" if probe else ""
    measured = f"R {ratio['real']:.2f} -> {ratio['unity']:.2f} ({fraction:.2f}x real{probe_text})"
    if fraction < UNIFIED_RATIO:
        return True, f"the cameras moved toward one style: {measured}"
    return False, (
        f"the cameras barely moved: {measured}, not below {UNIFIED_RATIO}x; the generators may be held near the "
        "identity (docs/objective.md); an IDE trained on these images would see little more than a real twin"
    )
