"""The pictures people look at: tiled in one way, enlarged by whole pixels to at least MIN_HEIGHT, with label
bands, and cameras named as the dataset's files name them."""

import numpy as np

from unitystyle_jax.core import images
from unitystyle_jax.data import formats


def test_tiles_sit_in_rows_with_gaps_of_fill_and_short_rows_padded():
    a, b = np.full((4, 3, 3), 10, np.uint8), np.full((2, 5, 3), 20, np.uint8)
    out = images.tiled([[a, b], [b]], gap=1, fill=255)
    assert out.shape == (1 + 4 + 1 + 2 + 1, 1 + 3 + 1 + 5 + 1, 3)
    np.testing.assert_array_equal(out[1:5, 1:4], a)
    np.testing.assert_array_equal(out[1:3, 5:10], b)
    np.testing.assert_array_equal(out[6:8, 1:6], b)  # the second row starts at the left
    assert (out[0] == 255).all() and (out[:, 0] == 255).all() and (out[3:5, 5:10] == 255).all()
    assert (out[6:8, 6:] == 255).all()  # the short row padded on the right
    # Without a gap: strips stacked, padded black, as the GAN's sample grid.
    grid = images.grid([np.ones((2, 4, 3), np.uint8), np.ones((1, 2, 3), np.uint8)])
    assert grid.shape == (3, 4, 3) and grid[2, 2:].max() == 0 and grid[2, :2].min() == 1


def test_small_pictures_are_enlarged_by_whole_pixels_and_labelled():
    picture = np.random.default_rng(0).integers(0, 256, (64, 32 * 4, 3), dtype=np.uint8)
    out = images.labelled(picture, ["real", "real", "UnityStyle", "UnityStyle"], ["c1", "c2"])
    scale = 4  # 64 -> 256
    assert out.shape == (64 * scale + images._BAND, 32 * 4 * scale + images._MARGIN, 3)
    body = out[images._BAND :, images._MARGIN :]
    np.testing.assert_array_equal(body[::scale, ::scale], picture)  # nearest neighbour: every pixel kept
    assert (out[: images._BAND] < 128).any() and (out[images._BAND :, : images._MARGIN] < 128).any()  # text
    # A tall picture is left at its size; without row labels there is no margin.
    tall = np.zeros((300, 40, 3), np.uint8)
    assert images.labelled(tall, ["real"]).shape == (300 + images._BAND, 40, 3)


def test_cameras_are_named_as_the_dataset_names_them():
    assert formats.camera_label("market1501", 5) == "c6"
    assert formats.camera_name("market1501", 5) == "camera c6 (id 5)"
    assert formats.camera_name("custom", 5) == "camera id 5"
