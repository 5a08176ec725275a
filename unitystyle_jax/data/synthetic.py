"""The built-in multi-camera re-ID dataset: procedurally drawn people seen through strongly styled cameras.

Why it exists: the real benchmarks cannot be downloaded here, yet every stage (UnityGAN per camera, transfer,
IDE, evaluation) needs data with the property UnityStyle is about — the same person looks different in each
camera because each camera renders colour, light, contrast, blur and noise in its own way. Identity lives in
shape and pattern (clothing cut, stripes/checks/logos, bags, hair, proportions); style lives in the camera. So
cross-camera matching is hard because of style, yet recoverable.

The output is a Market-1501 folder (file names written by `formats.market_file_name`), so the same loader,
builders and pipeline serve it. Everything is drawn from `numpy` generators keyed by (seed, purpose, index):
the same spec gives the same bytes.

Why one module for its three parts (cameras, people, layout, under the banners below): they share the spec, the
render version and the random-stream keys that make a folder reproducible; split apart, that contract would be
spread over three files that can only change together.
"""

from __future__ import annotations

import collections
import colorsys
import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from unitystyle_jax.data import formats
from unitystyle_jax.data.formats import DatasetError

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
_FAMILY_STRENGTHS = tuple(field for fields in STYLE_FAMILIES.values() for field in fields)
_SUPERSAMPLE = 2  # Draw at 2x and downsample: anti-aliased edges without an anti-aliasing rasteriser.

# Independent random streams: changing how many images one purpose draws never shifts another purpose's draws.
_LAYOUT, _CAMERA, _IDENTITY, _IMAGE, _DISTRACTOR, _LOCAL_LIGHT, _SENSOR = range(7)


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
        for field in ("style_strength", *_FAMILY_STRENGTHS, "occlusion_probability"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise DatasetError(f"synthetic spec: {field} must be a number in [0, 1], got {value!r}")

    def meta(self) -> dict:
        """What `meta.json` holds: enough to tell whether a folder is exactly this spec's output. A style family
        at strength 0 draws nothing, and the images are those of specs that predate its field: it is left out,
        so their folders match."""
        spec = dataclasses.asdict(self)
        for field in _FAMILY_STRENGTHS:
            if not spec[field]:
                del spec[field]
        return {"generator": __name__, "render_version": RENDER_VERSION, "spec": spec}


def _rng(seed: int, purpose: int, *index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, *index]))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _random_colour(
    rng: np.random.Generator, saturation=(0.3, 1.0), value=(0.25, 0.95)
) -> tuple[int, int, int]:
    return _hsv(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))


# ----------------------------------------------------------------------------------------------------------
# Cameras: a strong global style per camera, a time-of-day shift per recording session.


@dataclasses.dataclass(frozen=True)
class CameraStyle:
    """How one camera renders the world (applied to the whole frame, person and background alike)."""

    gains: tuple[float, float, float]  # white balance / colour cast
    saturation: float
    contrast: float
    brightness: float
    gamma: float
    blur: float  # Gaussian radius in output pixels
    noise: float  # sensor noise standard deviation, in [0, 1] intensity units
    jpeg_quality: int
    wall: tuple[int, int, int]  # background palette
    ground: tuple[int, int, int]
    clutter: tuple[tuple[int, int, int], ...]
    horizon: float  # where the ground starts, as a fraction of the height
    texture: str  # background structure: bricks, windows, fence, foliage or plain
    sessions: tuple[tuple[float, float, float, float], ...]  # per sequence: brightness, r/g/b tint
    # Light across the frame (spec.local_style_strength; all zero without it): a linear gradient along
    # `light_angle` of amplitude `light_gradient`, vignetting, and a Gaussian colour cast (r, g, b amplitudes)
    # centred at `cast_centre` (fractions of width, height) with radius `cast_radius` (fraction of the height).
    light_angle: float = 0.0
    light_gradient: float = 0.0
    vignetting: float = 0.0
    cast: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cast_centre: tuple[float, float] = (0.5, 0.5)
    cast_radius: float = 0.3
    # Sensor styles (spec.sensor_style_strength; the identity without it): a 3x3 colour mixing matrix (rows sum
    # to 1, so greys stay grey), a tone curve mixing each intensity v with smoothstep(v) by `tone` (> 0 more
    # midtone contrast, < 0 less), then blur and noise added to the global ones.
    mixing: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    tone: float = 0.0


_TEXTURES = ("bricks", "windows", "fence", "foliage", "plain")


def camera_styles(spec: SyntheticSpec) -> list[CameraStyle]:
    """Each style knob is stratified across cameras (every camera gets a different slice of its range), so no
    two cameras look alike; `style_strength` pulls every knob towards neutral."""
    rng = _rng(spec.seed, _CAMERA)
    count, strength = spec.num_cameras, spec.style_strength

    def spread(low: float, high: float, neutral: float) -> np.ndarray:
        slices = (rng.permutation(count) + rng.uniform(0.15, 0.85, count)) / count
        return neutral + strength * (low + (high - low) * slices - neutral)

    temperature, tint = spread(-1.0, 1.0, 0.0), spread(-1.0, 1.0, 0.0)
    saturation, contrast = spread(0.3, 1.5, 1.0), spread(0.6, 1.35, 1.0)
    brightness, gamma = spread(-0.14, 0.14, 0.0), spread(0.65, 1.5, 1.0)
    blur, noise = spread(0.0, 1.1, 0.0), spread(0.0, 0.05, 0.0)
    quality = spread(55.0, 95.0, 95.0)
    textures = rng.permutation(len(_TEXTURES))
    styles = []
    for c in range(count):
        hue = rng.uniform()
        sessions = tuple(
            (float(rng.uniform(-0.08, 0.08)), *(float(t) for t in rng.uniform(-0.04, 0.04, 3)))
            for _ in range(spec.sequences_per_camera)
        )
        styles.append(
            CameraStyle(
                gains=(1.0 + 0.4 * temperature[c], 1.0 + 0.15 * tint[c], 1.0 - 0.4 * temperature[c]),
                saturation=float(saturation[c]),
                contrast=float(contrast[c]),
                brightness=float(brightness[c]),
                gamma=float(gamma[c]),
                blur=float(blur[c]),
                noise=float(noise[c]),
                jpeg_quality=int(quality[c]),
                wall=_hsv(hue, rng.uniform(0.1, 0.5), rng.uniform(0.35, 0.85)),
                ground=_hsv(hue + rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.6)),
                clutter=tuple(_random_colour(rng, (0.2, 0.8), (0.2, 0.9)) for _ in range(3)),
                horizon=float(rng.uniform(0.55, 0.78)),
                texture=_TEXTURES[textures[c % len(_TEXTURES)]],
                sessions=sessions,
                **_local_light(spec, c),
            )
        )
    return [_with_sensor(spec, c, style) for c, style in enumerate(styles)]


def _local_light(spec: SyntheticSpec, camera: int) -> dict:
    """Camera c's light across the frame, from a stream of its own (the global styles' draws do not move)."""
    strength = spec.local_style_strength
    if not strength:
        return {}
    rng = _rng(spec.seed, _LOCAL_LIGHT, camera)
    return {
        "light_angle": float(rng.uniform(0.0, 2.0 * np.pi)),
        "light_gradient": strength * float(rng.uniform(0.25, 0.5)),
        "vignetting": strength * float(rng.uniform(0.1, 0.4)),
        "cast": tuple(strength * float(v) for v in rng.choice([-1.0, 1.0], 3) * rng.uniform(0.08, 0.2, 3)),
        "cast_centre": (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))),
        "cast_radius": float(rng.uniform(0.2, 0.45)),
    }


def _with_sensor(spec: SyntheticSpec, camera: int, style: CameraStyle) -> CameraStyle:
    """Camera c's style with its sensor and processing, from a stream of its own (the other styles' draws do
    not move)."""
    strength = spec.sensor_style_strength
    if not strength:
        return style
    rng = _rng(spec.seed, _SENSOR, camera)
    crosstalk = strength * rng.uniform(-0.45, 0.45, (3, 3))
    np.fill_diagonal(crosstalk, 0.0)
    mixing = np.eye(3) + crosstalk
    mixing -= np.diag(mixing.sum(axis=1) - 1.0)  # each row sums to 1
    return dataclasses.replace(
        style,
        mixing=tuple(float(v) for v in mixing.ravel()),
        tone=strength * float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.9)),
        blur=style.blur + strength * float(rng.uniform(0.0, 1.0)),
        noise=style.noise + strength * float(rng.uniform(0.01, 0.04)),
    )


def _light_field(style: CameraStyle, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(gain (H, W, 1), additive colour cast (H, W, 3)) of the camera's light across the frame."""
    v, u = np.meshgrid(np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width), indexing="ij")
    along = u * np.cos(style.light_angle) + v * np.sin(style.light_angle)
    gain = 1.0 + style.light_gradient * along - style.vignetting * (u**2 + v**2) / 2.0
    cx, cy = style.cast_centre
    distance = ((u + 1.0) / 2.0 - cx) ** 2 * (width / height) ** 2 + ((v + 1.0) / 2.0 - cy) ** 2
    blob = np.exp(-distance / (2.0 * style.cast_radius**2))
    cast = blob[..., None] * np.asarray(style.cast, np.float32)
    return gain[..., None].astype(np.float32), cast.astype(np.float32)


def _apply_style(
    image: Image.Image, style: CameraStyle, sequence: int, rng: np.random.Generator
) -> Image.Image:
    """Camera optics and processing: blur, then light across the frame (local styles), colour (session light,
    saturation, white balance, contrast, brightness, gamma), the sensor's colour mixing and tone curve, then
    sensor noise."""
    if style.blur > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    if style.light_gradient or style.vignetting or any(style.cast):
        gain, cast = _light_field(style, *pixels.shape[:2])
        pixels = pixels * gain + cast
    light, *tint = style.sessions[sequence - 1]
    pixels = pixels * (1.0 + light + rng.uniform(-0.03, 0.03)) + np.asarray(tint, np.float32)
    luminance = pixels @ np.asarray([0.299, 0.587, 0.114], np.float32)
    pixels = luminance[..., None] + style.saturation * (pixels - luminance[..., None])
    pixels = pixels * np.asarray(style.gains, np.float32)
    pixels = (pixels - 0.5) * style.contrast + 0.5 + style.brightness
    pixels = np.clip(pixels, 0.0, 1.0) ** style.gamma
    if style.tone or style.mixing != CameraStyle.mixing:
        pixels = np.clip(pixels @ np.asarray(style.mixing, np.float32).reshape(3, 3).T, 0.0, 1.0)
        pixels = pixels + style.tone * (pixels * pixels * (3.0 - 2.0 * pixels) - pixels)
    pixels = pixels + rng.normal(0.0, style.noise, pixels.shape).astype(np.float32)
    return Image.fromarray(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))


def _draw_background(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], style: CameraStyle, rng: np.random.Generator
) -> None:
    """The camera's place: wall and ground in its palette, its texture, and per-frame clutter."""
    w, h = size
    horizon = int(h * (style.horizon + rng.uniform(-0.03, 0.03)))
    draw.rectangle((0, 0, w, horizon), fill=style.wall)
    draw.rectangle((0, horizon, w, h), fill=style.ground)
    line = tuple(int(0.75 * v) for v in style.wall)
    shift = rng.uniform()
    if style.texture == "bricks":
        step = max(h // 14, 3)
        for row, y in enumerate(range(int(-shift * step), horizon, step)):
            draw.line((0, y, w, y), fill=line, width=1)
            for x in range((row % 2) * step, w, 2 * step):
                draw.line((x, y, x, y + step), fill=line, width=1)
    elif style.texture == "windows":
        step = max(w // 3, 4)
        for x in range(int(-shift * step), w, step):
            for y in range(step // 3, horizon - step // 2, step):
                draw.rectangle((x + step // 5, y, x + 4 * step // 5, y + step // 2), fill=style.clutter[0])
    elif style.texture == "fence":
        step = max(w // 8, 3)
        for x in range(int(-shift * step), w, step):
            draw.line((x, horizon - h // 5, x, horizon), fill=style.clutter[1], width=max(step // 3, 1))
        draw.line((0, horizon - h // 5, w, horizon - h // 5), fill=style.clutter[1], width=max(step // 3, 1))
    elif style.texture == "foliage":
        for _ in range(8):
            x, y, r = rng.uniform(0, w), rng.uniform(0, horizon), rng.uniform(0.1, 0.25) * w
            draw.ellipse((x - r, y - r, x + r, y + r), fill=style.clutter[2])
    for _ in range(rng.integers(1, 4)):  # parked things, signs, bins
        x, y = rng.uniform(-0.2, 1.0) * w, rng.uniform(0.2, 0.9) * h
        bw, bh = rng.uniform(0.1, 0.4) * w, rng.uniform(0.05, 0.2) * h
        colour = tuple(
            int(v) for v in np.clip(np.asarray(style.clutter[rng.integers(3)]) + rng.normal(0, 12, 3), 0, 255)
        )
        draw.rectangle((x, y, x + bw, y + bh), fill=colour)


# ----------------------------------------------------------------------------------------------------------
# People: identity = clothing, pattern, accessories and build; pose, view and framing change per image.

_SKIN = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 59, 36))
_HAIR = ((20, 17, 15), (60, 40, 25), (110, 75, 40), (200, 160, 90), (150, 150, 150), (140, 50, 20))
_PATTERNS = ("solid", "hstripes", "vstripes", "checks", "logo", "two_tone")
_BOTTOMS = ("trousers", "trousers", "shorts", "skirt")
_BAGS = ("none", "backpack", "shoulder", "handbag")
_HAIRSTYLES = ("short", "long", "bald", "hat")
_LOGOS = ("circle", "square", "triangle", "diamond")


@dataclasses.dataclass(frozen=True)
class Person:
    """What stays the same across cameras: the identity's clothes, accessories and build."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hairstyle: str
    hat: tuple[int, int, int]
    top: tuple[int, int, int]
    top_second: tuple[int, int, int]
    pattern: str
    stripe: float  # pattern period as a fraction of the person's height
    logo: str
    long_sleeves: bool
    bottom_kind: str
    bottom: tuple[int, int, int]
    shoes: tuple[int, int, int]
    bag: str
    bag_colour: tuple[int, int, int]
    height: float  # fraction of the frame
    shoulders: float  # widths as fractions of the person's height
    hips: float
    head: float
    legs: float  # leg length as a fraction of the person's height


def random_person(rng: np.random.Generator) -> Person:
    """Draw an identity; contrasting second colours keep patterns visible under any camera style."""
    top_hue = rng.uniform()
    return Person(
        skin=_SKIN[rng.integers(len(_SKIN))],
        hair=_HAIR[rng.integers(len(_HAIR))],
        hairstyle=_HAIRSTYLES[rng.integers(len(_HAIRSTYLES))],
        hat=_random_colour(rng),
        top=_hsv(top_hue, rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.95)),
        top_second=_hsv(top_hue + rng.uniform(0.3, 0.7), rng.uniform(0.0, 1.0), rng.choice([0.15, 0.95])),
        pattern=_PATTERNS[rng.integers(len(_PATTERNS))],
        stripe=float(rng.uniform(0.035, 0.08)),
        logo=_LOGOS[rng.integers(len(_LOGOS))],
        long_sleeves=bool(rng.uniform() < 0.6),
        bottom_kind=_BOTTOMS[rng.integers(len(_BOTTOMS))],
        bottom=_random_colour(rng, (0.0, 0.8), (0.1, 0.9)),
        shoes=_random_colour(rng, (0.0, 0.6), (0.05, 0.9)),
        bag=_BAGS[rng.integers(len(_BAGS))],
        bag_colour=_random_colour(rng),
        height=float(rng.uniform(0.8, 0.94)),
        shoulders=float(rng.uniform(0.2, 0.29)),
        hips=float(rng.uniform(0.15, 0.22)),
        head=float(rng.uniform(0.11, 0.14)),
        legs=float(rng.uniform(0.44, 0.52)),
    )


@dataclasses.dataclass(frozen=True)
class Pose:
    """What changes per image: view, walking phase, framing."""

    view: str  # front, back or side
    mirror: bool
    phase: float
    stride: float
    scale: float
    dx: float  # horizontal offset of the person's centre, fraction of the frame width
    dy: float


def random_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        view=str(rng.choice(["front", "back", "side"], p=[0.4, 0.4, 0.2])),
        mirror=bool(rng.uniform() < 0.5),
        phase=float(rng.uniform(0, 2 * np.pi)),
        stride=float(rng.uniform(0.04, 0.12)),
        scale=float(rng.uniform(0.9, 1.05)),
        dx=float(rng.uniform(-0.08, 0.08)),
        dy=float(rng.uniform(-0.03, 0.03)),
    )


class _Body:
    """Maps the person's own coordinates (u across, v from head top 0 to feet 1, both in person heights) to
    canvas pixels, and draws body parts in them."""

    def __init__(self, canvas: Image.Image, person: Person, pose: Pose):
        w, h = canvas.size
        self.canvas, self.draw = canvas, ImageDraw.Draw(canvas)
        self.size = person.height * pose.scale * h
        self.cx = w * (0.5 + pose.dx)
        self.top = h * (1.0 - person.height * pose.scale) / 2 + pose.dy * h
        self.flip = -1.0 if pose.mirror else 1.0

    def xy(self, u: float, v: float) -> tuple[float, float]:
        return self.cx + self.flip * u * self.size, self.top + v * self.size

    def box(self, u0: float, v0: float, u1: float, v1: float) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self.xy(u0, v0), self.xy(u1, v1)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def polygon(self, points, fill) -> None:
        self.draw.polygon([self.xy(u, v) for u, v in points], fill=fill)

    def ellipse(self, u0, v0, u1, v1, fill) -> None:
        self.draw.ellipse(self.box(u0, v0, u1, v1), fill=fill)

    def rectangle(self, u0, v0, u1, v1, fill) -> None:
        self.draw.rectangle(self.box(u0, v0, u1, v1), fill=fill)

    def limb(self, start, end, width_start, width_end, fill) -> None:
        """A tapered segment with a rounded joint at its start."""
        (u0, v0), (u1, v1) = start, end
        length = max(np.hypot(u1 - u0, v1 - v0), 1e-6)
        nu, nv = -(v1 - v0) / length, (u1 - u0) / length
        self.polygon(
            [
                (u0 + nu * width_start / 2, v0 + nv * width_start / 2),
                (u1 + nu * width_end / 2, v1 + nv * width_end / 2),
                (u1 - nu * width_end / 2, v1 - nv * width_end / 2),
                (u0 - nu * width_start / 2, v0 - nv * width_start / 2),
            ],
            fill,
        )
        r = width_start / 2
        self.ellipse(u0 - r, v0 - r, u0 + r, v0 + r, fill)


def _pattern_layer(body: _Body, person: Person, region: list[tuple[float, float]], show_logo: bool) -> None:
    """Fill the torso with the identity's clothing pattern (drawn through a mask so stripes stay inside)."""
    mask = Image.new("L", body.canvas.size, 0)
    ImageDraw.Draw(mask).polygon([body.xy(u, v) for u, v in region], fill=255)
    layer = Image.new("RGB", body.canvas.size, person.top)
    draw = ImageDraw.Draw(layer)
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, 1, 1)
    period = max(person.stripe * body.size, 2.0)
    if person.pattern in ("hstripes", "checks"):
        for y in np.arange(y0, y1, period):
            draw.rectangle((x0, y, x1, y + period / 2), fill=person.top_second)
    if person.pattern in ("vstripes", "checks"):
        for x in np.arange(x0, x1, period):
            draw.rectangle((x, y0, x + period / 2, y1), fill=person.top_second)
    if person.pattern == "two_tone":
        draw.rectangle((x0, (y0 + y1) / 2, x1, y1), fill=person.top_second)
    if person.pattern == "logo" and show_logo:
        cx, cy, r = (x0 + x1) / 2, y0 + 0.35 * (y1 - y0), 0.22 * (x1 - x0)
        if person.logo == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=person.top_second)
        else:
            corners = {
                "square": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
                "triangle": [(0, -1), (1, 1), (-1, 1)],
                "diamond": [(0, -1), (1, 0), (0, 1), (-1, 0)],
            }[person.logo]
            draw.polygon([(cx + a * r, cy + b * r) for a, b in corners], fill=person.top_second)
    body.canvas.paste(layer, mask=mask)


def draw_person(canvas: Image.Image, person: Person, pose: Pose) -> None:
    """Draw one pedestrian — legs, patterned torso, arms, bag, head and hair — in the order a viewer sees."""
    body = _Body(canvas, person, pose)
    side = pose.view == "side"
    head, shoulder_v = person.head, person.head + 0.025
    hip_v = 1.0 - person.legs
    width = person.shoulders * (0.55 if side else 1.0)
    hips = person.hips * (0.6 if side else 1.0)
    swing = np.sin(pose.phase)

    # Legs: scissor in side view, alternate lifts in front/back view.
    knee_v, leg_w = hip_v + person.legs * 0.48, hips * 0.45
    for sign in (-1.0, 1.0):
        hip = (sign * hips / 4 * (0.3 if side else 1.0), hip_v)
        foot_u = hip[0] + (sign * swing * pose.stride * 1.5 if side else sign * 0.01)
        foot_v = 1.0 - (0.0 if side else max(0.0, sign * swing) * pose.stride * 0.4)
        knee = ((hip[0] + foot_u) / 2 + (0.02 if side else 0.0), knee_v - (1.0 - foot_v) / 2)
        thigh = person.skin if person.bottom_kind == "skirt" else person.bottom
        shin = person.bottom if person.bottom_kind == "trousers" else person.skin
        body.limb(hip, knee, leg_w, leg_w * 0.85, thigh)
        body.limb(knee, (foot_u, foot_v - 0.03), leg_w * 0.85, leg_w * 0.7, shin)
        body.ellipse(
            foot_u - leg_w * 0.5, foot_v - 0.04, foot_u + leg_w * (0.9 if side else 0.5), foot_v, person.shoes
        )
    if person.bottom_kind == "skirt":
        body.polygon(
            [
                (-hips / 2, hip_v - 0.02),
                (hips / 2, hip_v - 0.02),
                (hips * 0.9, knee_v),
                (-hips * 0.9, knee_v),
            ],
            person.bottom,
        )
    else:
        body.rectangle(-hips / 2, hip_v - 0.02, hips / 2, hip_v + 0.05, person.bottom)

    long_hair = [
        (-head * 0.42, head * 0.5),
        (head * 0.42, head * 0.5),
        (head * 0.5, shoulder_v + 0.1),
        (-head * 0.5, shoulder_v + 0.1),
    ]
    if person.hairstyle == "long" and pose.view != "back":  # seen from the front it falls behind the torso
        body.polygon(long_hair, person.hair)

    torso = [
        (-width / 2, shoulder_v),
        (width / 2, shoulder_v),
        (hips / 2 * 1.05, hip_v + 0.01),
        (-hips / 2 * 1.05, hip_v + 0.01),
    ]
    _pattern_layer(body, person, torso, show_logo=pose.view == "front")

    # Arms swing against the legs; short sleeves show skin below the elbow.
    arm_w, elbow_v, hand_v = width * 0.28, shoulder_v + 0.16, shoulder_v + 0.33
    for sign in (1.0,) if side else (-1.0, 1.0):
        shoulder = (sign * (width / 2 - arm_w / 3) if not side else 0.0, shoulder_v + 0.02)
        reach = -sign * swing * pose.stride * (2.0 if side else 0.4)
        elbow = (shoulder[0] + sign * 0.015 + reach / 2, elbow_v)
        hand = (shoulder[0] + sign * 0.02 + reach, hand_v)
        body.limb(shoulder, elbow, arm_w, arm_w * 0.85, person.top)
        body.limb(elbow, hand, arm_w * 0.85, arm_w * 0.7, person.top if person.long_sleeves else person.skin)
        body.ellipse(
            hand[0] - arm_w * 0.4,
            hand[1] - arm_w * 0.3,
            hand[0] + arm_w * 0.4,
            hand[1] + arm_w * 0.5,
            person.skin,
        )
        if person.bag == "handbag" and sign > 0:
            body.rectangle(hand[0] - 0.045, hand[1] + 0.02, hand[0] + 0.045, hand[1] + 0.1, person.bag_colour)

    if person.bag == "backpack":
        if pose.view == "back":
            body.polygon(
                [
                    (-width * 0.4, shoulder_v + 0.03),
                    (width * 0.4, shoulder_v + 0.03),
                    (width * 0.42, hip_v - 0.04),
                    (-width * 0.42, hip_v - 0.04),
                ],
                person.bag_colour,
            )
        elif side:
            body.rectangle(-width / 2 - 0.075, shoulder_v + 0.03, -width / 2, hip_v - 0.05, person.bag_colour)
        else:
            for sign in (-1.0, 1.0):
                body.limb(
                    (sign * width * 0.3, shoulder_v),
                    (sign * width * 0.28, shoulder_v + 0.16),
                    0.025,
                    0.025,
                    person.bag_colour,
                )
    elif person.bag == "shoulder":
        body.limb((-width / 2, shoulder_v), (width / 2, hip_v - 0.03), 0.018, 0.018, person.bag_colour)
        body.rectangle(width / 2 - 0.02, hip_v - 0.08, width / 2 + 0.08, hip_v + 0.02, person.bag_colour)

    body.limb((0.0, head * 0.8), (0.0, shoulder_v + 0.01), head * 0.3, head * 0.3, person.skin)  # neck
    face_u = 0.015 if side else 0.0
    body.ellipse(face_u - head * 0.37, 0.0, face_u + head * 0.37, head, person.skin)
    if person.hairstyle == "hat":
        body.ellipse(-head * 0.4, -head * 0.05, head * 0.4, head * 0.45, person.hat)
        body.rectangle(-head * 0.55, head * 0.3, head * 0.55, head * 0.38, person.hat)  # brim
    elif person.hairstyle != "bald":
        cover = head * (0.95 if pose.view == "back" else 0.4)
        body.ellipse(-head * 0.4, -head * 0.03, head * 0.4, cover + head * 0.1, person.hair)
        if person.hairstyle == "long" and pose.view == "back":  # seen from the back it covers the shoulders
            body.polygon(long_hair, person.hair)


def _draw_occluder(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], style: CameraStyle, rng: np.random.Generator
) -> None:
    """Something between camera and person: a pole, or a low object (car, bench, railing) hiding the legs."""
    w, h = size
    colour = style.clutter[rng.integers(3)]
    if rng.uniform() < 0.4:
        x, pole = rng.uniform(0.2, 0.8) * w, rng.uniform(0.08, 0.18) * w
        draw.rectangle((x, 0, x + pole, h), fill=colour)
    else:
        y = rng.uniform(0.6, 0.8) * h
        draw.rectangle((rng.uniform(-0.5, 0.2) * w, y, rng.uniform(0.8, 1.5) * w, h), fill=colour)


def render_image(
    spec: SyntheticSpec,
    style: CameraStyle,
    sequence: int,
    person: Person | None,
    rng: np.random.Generator,
    crop: tuple[float, float, float] = (1.0, 0.0, 0.0),
) -> Image.Image:
    """One detection box from one camera. `crop` = (zoom, dx, dy) frames only part of the scene, the way a bad
    detection (Market's distractors and junk) does; `person=None` frames background only."""
    size = (spec.width * _SUPERSAMPLE, spec.height * _SUPERSAMPLE)
    canvas = Image.new("RGB", size)
    draw = ImageDraw.Draw(canvas)
    _draw_background(draw, size, style, rng)
    if rng.uniform() < 0.15:  # another pedestrian half in the box, behind the subject
        passer = dataclasses.replace(random_pose(rng), dx=float(rng.choice([-0.5, 0.5])), scale=0.85)
        draw_person(canvas, random_person(rng), passer)
    if person is not None:
        draw_person(canvas, person, random_pose(rng))
    if rng.uniform() < spec.occlusion_probability:
        _draw_occluder(draw, size, style, rng)
    zoom, dx, dy = crop
    if zoom != 1.0 or dx or dy:
        cw, ch = size[0] / zoom, size[1] / zoom
        x0, y0 = (size[0] - cw) / 2 + dx * size[0], (size[1] - ch) / 2 + dy * size[1]
        canvas = canvas.transform(
            size,
            Image.Transform.EXTENT,
            (x0, y0, x0 + cw, y0 + ch),
            Image.Resampling.BILINEAR,
            fillcolor=style.ground,
        )
    canvas = canvas.resize((spec.width, spec.height), Image.Resampling.BOX)
    return _apply_style(canvas, style, sequence, rng)


# ----------------------------------------------------------------------------------------------------------
# Layout: who is seen by which camera, in which split.


@dataclasses.dataclass(frozen=True)
class _Shot:
    split: str
    pid: int  # raw Market id: > 0 a person, 0 a distractor, -1 junk
    camid: int
    sequence: int


def _layout(spec: SyntheticSpec) -> list[_Shot]:
    """Market-like: ids spread over a larger id range and interleaved between train and test; every identity
    seen by >= min_cameras_per_id cameras; each test identity has query images in `queries_per_id` of its
    cameras and gallery images in all of them (so a query's camera may also hold gallery matches)."""
    rng = _rng(spec.seed, _LAYOUT)
    total = spec.num_train_ids + spec.num_test_ids
    ids = rng.choice(np.arange(1, 3 * total + 1), total, replace=False)
    train_ids, test_ids = sorted(ids[: spec.num_train_ids]), sorted(ids[spec.num_train_ids :])

    def cameras() -> list[int]:
        count = rng.integers(spec.min_cameras_per_id, spec.num_cameras + 1)
        return sorted(int(c) for c in rng.choice(spec.num_cameras, count, replace=False))

    def sequence() -> int:
        return int(rng.integers(1, spec.sequences_per_camera + 1))

    shots = []
    for pid in train_ids:
        shots += [
            _Shot("train", int(pid), c, sequence())
            for c in cameras()
            for _ in range(spec.images_per_id_camera)
        ]
    for pid in test_ids:
        seen = cameras()
        queried = rng.choice(seen, min(spec.queries_per_id, len(seen)), replace=False)
        shots += [_Shot("query", int(pid), int(c), sequence()) for c in sorted(queried)]
        shots += [
            _Shot("gallery", int(pid), c, sequence()) for c in seen for _ in range(spec.images_per_id_camera)
        ]
    for pid, count in ((0, spec.num_distractors), (formats.JUNK_PID, spec.num_junk)):
        shots += [
            _Shot("gallery", pid, int(rng.integers(spec.num_cameras)), sequence()) for _ in range(count)
        ]
    return shots


def _bad_detection(rng: np.random.Generator, junk: bool) -> tuple[bool, tuple[float, float, float]]:
    """Distractors: background or a badly framed stranger; junk: a box that barely holds anyone."""
    if junk:
        return True, (
            float(rng.uniform(2.5, 4.0)),
            float(rng.uniform(-0.3, 0.3)),
            float(rng.uniform(-0.4, 0.4)),
        )
    if rng.uniform() < 0.4:
        return False, (1.0, 0.0, 0.0)
    return True, (float(rng.uniform(1.2, 2.0)), float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)))


def generate(root: str, spec: SyntheticSpec) -> None:
    """Write the dataset (Market-1501 layout plus `meta.json`) into `root`, which must be absent or empty."""
    spec.validate()
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise DatasetError(f"{root} exists and is not empty; refusing to overwrite it")
    for folder in formats.MARKET_FOLDERS.values():
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    styles = camera_styles(spec)
    frames = [0] * spec.num_cameras
    for index, shot in enumerate(_layout(spec)):
        rng = _rng(spec.seed, _IMAGE, index)
        if shot.pid > 0:
            person, crop = random_person(_rng(spec.seed, _IDENTITY, shot.pid)), (1.0, 0.0, 0.0)
        else:
            has_person, crop = _bad_detection(rng, junk=shot.pid == formats.JUNK_PID)
            person = random_person(_rng(spec.seed, _DISTRACTOR, index)) if has_person else None
        style = styles[shot.camid]
        image = render_image(spec, style, shot.sequence, person, rng, crop)
        frames[shot.camid] += int(rng.integers(5, 40))
        name = formats.market_file_name(shot.pid, shot.camid, shot.sequence, frames[shot.camid])
        image.save(os.path.join(root, formats.MARKET_FOLDERS[shot.split], name), quality=style.jpeg_quality)
    with open(os.path.join(root, formats.SYNTHETIC_META), "w", encoding="utf-8") as f:
        json.dump(spec.meta(), f, indent=2, sort_keys=True)
        f.write("\n")


def ensure(root: str, spec: SyntheticSpec) -> None:
    """Make `root` hold exactly this spec's dataset: reuse a match, refuse anything else, and generate
    atomically (into a temporary sibling, then rename) so a killed run never leaves half a dataset behind."""
    spec.validate()
    meta = formats.read_meta(root) if os.path.isdir(root) else None
    if meta is not None:
        _check_same_spec(root, meta, spec)
        return
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise DatasetError(
            f"{root} exists, is not empty and has no {formats.SYNTHETIC_META}; refusing to overwrite"
        )
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(root))}.partial-", dir=parent)
    try:
        generate(partial, spec)
        try:
            os.rename(partial, root)
        except OSError:  # another process finished first: fine if it wrote the same spec
            meta = formats.read_meta(root) if os.path.isdir(root) else None
            if meta is None:
                raise
            _check_same_spec(root, meta, spec)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _check_same_spec(root: str, meta: dict, spec: SyntheticSpec) -> None:
    expected = spec.meta()
    if meta == expected:
        return
    found = meta.get("spec", {})
    changed = [f"{k}={found.get(k)!r} (want {v!r})" for k, v in expected["spec"].items() if found.get(k) != v]
    if meta.get("render_version") != RENDER_VERSION:
        changed.append(f"render_version={meta.get('render_version')!r} (want {RENDER_VERSION})")
    raise DatasetError(
        f"{root} holds a different synthetic dataset: {', '.join(changed) or 'other metadata'}; "
        "use another root or delete it"
    )


def render_grid(root: str, out_png: str, num_ids: int = 6) -> None:
    """A contact sheet of the train split — rows identities (those seen by most cameras), columns cameras — to
    see at a glance that identity survives while style changes."""
    if num_ids < 1:
        raise DatasetError(f"render_grid: num_ids must be >= 1, got {num_ids}")
    splits = formats.load("synthetic", root)
    first: dict[tuple[int, int], formats.Record] = {}
    for record in splits.train:
        first.setdefault((record.pid, record.camid), record)
    seen = collections.Counter(pid for pid, _ in first)
    rows = sorted(seen, key=lambda pid: (-seen[pid], pid))[:num_ids]
    with Image.open(splits.train[0].path) as sample:
        cell_w, cell_h = sample.size
    font = ImageFont.load_default()
    pad, label_w, label_h = 4, 40, 14
    grid = Image.new(
        "RGB",
        (label_w + splits.num_cameras * (cell_w + pad) + pad, label_h + len(rows) * (cell_h + pad) + pad),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(grid)
    for column, camid in enumerate(splits.cameras):
        draw.text((label_w + column * (cell_w + pad) + pad, 2), f"cam {camid + 1}", fill=(0, 0, 0), font=font)
    for row, pid in enumerate(rows):
        y = label_h + row * (cell_h + pad) + pad
        draw.text((2, y + cell_h // 2 - 6), f"id {pid}", fill=(0, 0, 0), font=font)
        for column, camid in enumerate(splits.cameras):
            x = label_w + column * (cell_w + pad) + pad
            record = first.get((pid, camid))
            if record is None:
                draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), fill=(220, 220, 220))
                continue
            with Image.open(record.path) as image:
                grid.paste(image.convert("RGB").resize((cell_w, cell_h)), (x, y))
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    grid.save(out_png)
