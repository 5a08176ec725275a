"""StyleStats measures what it says: colour/contrast spread across cameras, and SSIM of each pair."""

import numpy as np

from unitystyle_jax.style_stats import StyleStats


def camera_images(rng, tint, contrast, n=4):
    base = rng.uniform(-0.3, 0.3, size=(n, 24, 16, 3)).astype(np.float32)
    return np.clip(base * contrast + np.asarray(tint, np.float32), -1, 1)


def test_spread_is_the_std_of_per_camera_means_and_ssim_of_identical_pairs_is_one():
    rng = np.random.default_rng(0)
    stats = StyleStats()
    tints = [(-0.4, 0.0, 0.4), (0.4, 0.0, -0.4), (0.0, 0.0, 0.0)]
    for camera, tint in enumerate(tints):
        real = camera_images(rng, tint, contrast=1.0 + camera)
        stats.add(camera, real, real - np.asarray(tint, np.float32) * 0.9)  # "UnityStyle": most of the tint gone
    summary = stats.summary()
    assert summary["images"] == 12
    assert summary["colour_spread"]["unity"] < 0.2 * summary["colour_spread"]["real"]
    expected_red = np.std([m * 127.5 + 127.5 for m in (-0.4, 0.4, 0.0)])
    assert abs(summary["colour_spread"]["real"] - expected_red * 2 / 3) < 3.0  # red and blue move, green does not
    assert summary["contrast_spread"]["real"] > 1.0
    assert 0.0 < summary["ssim"] <= 1.0 and summary["ssim_unrelated"] < summary["ssim"]


def test_identical_images_have_ssim_one_and_no_style_change():
    rng = np.random.default_rng(1)
    stats = StyleStats()
    for camera in range(2):
        real = camera_images(rng, (0.1 * camera,) * 3, 1.0)
        stats.add(camera, real, real)
    summary = stats.summary()
    assert abs(summary["ssim"] - 1.0) < 1e-5
    assert abs(summary["colour_spread"]["real"] - summary["colour_spread"]["unity"]) < 1e-4
