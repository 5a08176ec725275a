"""Images as people look at them: model outputs in [-1, 1] as uint8, and the strips and grids the GAN stage
writes (each camera's samples while it trains, the stage's UnityStyle grid)."""

import numpy as np


def to_uint8(images_in_gan_range) -> np.ndarray:
    return np.clip(np.round((np.asarray(images_in_gan_range) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def strip(images) -> np.ndarray:
    """Images in [-1, 1] (HWC each, same height) side by side, as one uint8 image."""
    return to_uint8(np.concatenate([np.asarray(image) for image in images], axis=1))


def grid(strips) -> np.ndarray:
    """uint8 strips stacked top to bottom, the narrower ones padded black on the right."""
    width = max(s.shape[1] for s in strips)
    return np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in strips], axis=0)


def encoded(image_uint8, name: str, quality: int) -> bytes:
    """The file the transfer stage stores for an image named `name`: PNG for a .png name, else JPEG at `quality`.
    The extractor decodes the same bytes, so its transferred features are evaluation's."""
    import io

    from PIL import Image

    kind = "PNG" if name.lower().endswith(".png") else "JPEG"
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image_uint8)).save(buffer, format=kind, quality=quality)
    return buffer.getvalue()
