"""Cameras: a strong global style per camera, a time-of-day shift per recording session, and, by family, light
across the frame and sensor processing; the scene behind the person is the camera's too."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from unitystyle_jax.data.synthetic.spec import Stream, SyntheticSpec, hsv_colour, random_colour, stream


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
    rng = stream(spec.seed, Stream.CAMERA)
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
                wall=hsv_colour(hue, rng.uniform(0.1, 0.5), rng.uniform(0.35, 0.85)),
                ground=hsv_colour(hue + rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.6)),
                clutter=tuple(random_colour(rng, (0.2, 0.8), (0.2, 0.9)) for _ in range(3)),
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
    rng = stream(spec.seed, Stream.LOCAL_LIGHT, camera)
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
    rng = stream(spec.seed, Stream.SENSOR, camera)
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


def apply_style(
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


def draw_background(
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
