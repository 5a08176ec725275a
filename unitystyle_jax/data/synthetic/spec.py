"""The synthetic dataset's contract: what to generate (the spec), the render version and the random streams
that make a folder reproducible, and the colour draws the cameras and people share."""

from __future__ import annotations

import colorsys
import dataclasses
import enum

import numpy as np

from unitystyle_jax.data.formats import DatasetError

# The generator meta.json names: the package, whatever module draws.
GENERATOR = "unitystyle_jax.data.synthetic"
# Bump when rendering changes, so an old folder is never mistaken for the new code's output.
RENDER_VERSION = 1
# The three style families by name, as SyntheticSpec fields to set: the global styles alone, + light across the
# frame, + sensor styles. Each tests something else: a per-channel colour normalisation undoes most of the first.
STYLE_FAMILIES = {
    "global": {},
    "local": {"local_style_strength": 1.0},
    "sensor": {"sensor_style_strength": 1.0},
}
# The strengths of the families beside the global one, each in [0, 1] (0 = absent).
FAMILY_STRENGTHS = tuple(field for fields in STYLE_FAMILIES.values() for field in fields)


class Stream(enum.IntEnum):
    """Independent random streams: changing how many images one purpose draws never shifts another purpose's
    draws."""

    LAYOUT = 0
    CAMERA = 1
    IDENTITY = 2
    IMAGE = 3
    DISTRACTOR = 4
    LOCAL_LIGHT = 5
    SENSOR = 6


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. The defaults make a CPU demo (about 1,700 images of 128x64, generated in seconds)."""

    num_train_ids: int = 60
    num_test_ids: int = 60
    num_cameras: int = 6
    images_per_id_camera: int = 3
    height: int = 128
    width: int = 64
    num_distractors: int = 60
    num_junk: int = 30
    seed: int = 0
    min_cameras_per_id: int = 2  # every identity is seen by at least this many cameras (Market: >= 2)
    queries_per_id: int = 2  # query images per test identity, each from a different camera
    sequences_per_camera: int = 3  # recording sessions per camera, each with its own time-of-day lighting
    style_strength: float = 1.0  # 0 = all cameras neutral (an ablation), 1 = the full camera styles
    # Camera light that varies across the frame (a light gradient, vignetting, a local colour cast): a style
    # a global per-channel colour normalisation cannot undo. 0 (default) = the global styles alone.
    local_style_strength: float = 0.0
    # Sensor and processing styles that no per-channel colour map undoes: cross-channel colour mixing, a tone
    # curve, extra blur and sensor noise. 0 (default) = the global styles alone.
    sensor_style_strength: float = 0.0
    occlusion_probability: float = 0.2

    @classmethod
    def tiny(cls) -> SyntheticSpec:
        """A few dozen small images: for tests (generation well under a second)."""
        return cls(
            num_train_ids=4,
            num_test_ids=4,
            num_cameras=3,
            images_per_id_camera=2,
            height=64,
            width=32,
            num_distractors=3,
            num_junk=2,
        )

    def validate(self) -> None:
        """Raise DatasetError naming the first impossible field."""
        minimums = {
            "num_train_ids": 1,
            "num_test_ids": 1,
            "num_cameras": 2,
            "images_per_id_camera": 1,
            "height": 16,
            "width": 8,
            "num_distractors": 0,
            "num_junk": 0,
            "seed": 0,
            "min_cameras_per_id": 2,
            "queries_per_id": 1,
            "sequences_per_camera": 1,
        }
        for field, minimum in minimums.items():
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise DatasetError(f"synthetic spec: {field} must be an integer >= {minimum}, got {value!r}")
        if self.min_cameras_per_id > self.num_cameras:
            raise DatasetError(
                f"synthetic spec: min_cameras_per_id {self.min_cameras_per_id} exceeds "
                f"num_cameras {self.num_cameras}"
            )
        if self.num_cameras > 9:
            raise DatasetError(
                f"synthetic spec: num_cameras {self.num_cameras} > 9 does not fit Market names (c1..c9)"
            )
        for field in ("style_strength", *FAMILY_STRENGTHS, "occlusion_probability"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise DatasetError(f"synthetic spec: {field} must be a number in [0, 1], got {value!r}")

    def meta(self) -> dict:
        """What `meta.json` holds: enough to tell whether a folder is exactly this spec's output. A style family
        at strength 0 draws nothing, and the images are those of specs that predate its field: it is left out,
        so their folders match."""
        spec = dataclasses.asdict(self)
        for field in FAMILY_STRENGTHS:
            if not spec[field]:
                del spec[field]
        return {"generator": GENERATOR, "render_version": RENDER_VERSION, "spec": spec}


def stream(seed: int, purpose: Stream, *index: int) -> np.random.Generator:
    """The generator of one purpose's draws for one index (a camera, an identity, an image)."""
    return np.random.default_rng(np.random.SeedSequence([seed, int(purpose), *index]))


def hsv_colour(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def random_colour(
    rng: np.random.Generator, saturation=(0.3, 1.0), value=(0.25, 0.95)
) -> tuple[int, int, int]:
    return hsv_colour(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
