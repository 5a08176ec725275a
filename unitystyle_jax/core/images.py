"""Images as people look at them: model outputs in [-1, 1] as uint8, and the strips and grids the GAN stage
writes (each camera's samples while it trains, the stage's UnityStyle grid), enlarged and labelled."""

import math

import numpy as np
from PIL import Image, ImageDraw

MIN_HEIGHT = 256  # pictures of 32- or 64-pixel crops are enlarged to at least this many pixels of image
_BAND, _MARGIN = 16, 44  # the label bands above the columns and left of the rows, in pixels


def to_uint8(images_in_gan_range) -> np.ndarray:
    return np.clip(np.round((np.asarray(images_in_gan_range) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def strip(images) -> np.ndarray:
    """Images in [-1, 1] (HWC each, same height) side by side, as one uint8 image."""
    return to_uint8(np.concatenate([np.asarray(image) for image in images], axis=1))


def grid(strips) -> np.ndarray:
    """uint8 strips stacked top to bottom, the narrower ones padded black on the right."""
    return tiled([[s] for s in strips])


def tiled(rows, gap: int = 0, fill: int = 0) -> np.ndarray:
    """uint8 pictures (HWC) in rows: each row's side by side, the rows top to bottom, `gap` pixels of `fill`
    between them and around them, the narrower rows padded with `fill` on the right. The project's one grid:
    the GAN's samples, the contact sheet of a synthetic dataset and the ranked lists are all drawn by it."""

    def padded(picture, bottom: int, right: int) -> np.ndarray:
        return np.pad(picture, ((0, bottom), (0, right), (0, 0)), constant_values=fill)

    lines = []
    for row in rows:
        height = max(p.shape[0] for p in row)
        lines.append(np.concatenate([padded(p, height - p.shape[0], gap) for p in row], axis=1))
    width = max(line.shape[1] for line in lines)
    picture = np.concatenate([padded(line, gap, width - line.shape[1]) for line in lines], axis=0)
    if gap:
        picture = np.pad(picture, ((gap, 0), (gap, 0), (0, 0)), constant_values=fill)
    return picture


def encoded(image_uint8, name: str, quality: int) -> bytes:
    """The file the transfer stage stores for an image named `name`: PNG for a .png name, else JPEG at `quality`.
    The extractor decodes the same bytes, so its transferred features are evaluation's."""
    import io

    from PIL import Image

    kind = "PNG" if name.lower().endswith(".png") else "JPEG"
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image_uint8)).save(buffer, format=kind, quality=quality)
    return buffer.getvalue()


def labelled(picture: np.ndarray, column_labels, row_labels=()) -> np.ndarray:
    """`picture` (uint8 HWC) enlarged by whole pixels to at least MIN_HEIGHT high, with a band of column labels
    above it (one per equal-width column) and, when given, row labels left of it (one per equal-height row)."""
    scale = max(1, math.ceil(MIN_HEIGHT / picture.shape[0]))
    big = np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)
    left = _MARGIN if row_labels else 0
    canvas = Image.new("RGB", (big.shape[1] + left, big.shape[0] + _BAND), "white")
    canvas.paste(Image.fromarray(big), (left, _BAND))
    draw = ImageDraw.Draw(canvas)
    width = big.shape[1] / max(1, len(column_labels))
    for i, label in enumerate(column_labels):
        draw.text((left + i * width + 2, 2), str(label), fill="black")
    height = big.shape[0] / max(1, len(row_labels))
    for i, label in enumerate(row_labels):
        draw.text((2, _BAND + i * height + height / 2 - 5), str(label), fill="black")
    return np.asarray(canvas)
