"""StyleStats measures what it says: colour/contrast spread across cameras, and SSIM of each pair."""

import numpy as np

from unitystyle_jax.transfer.style_stats import StyleStats


def camera_images(rng, tint, contrast, n=4):
    base = rng.uniform(-0.3, 0.3, size=(n, 24, 16, 3)).astype(np.float32)
    return np.clip(base * contrast + np.asarray(tint, np.float32), -1, 1)


def test_spread_is_the_std_of_per_camera_means_and_ssim_of_identical_pairs_is_one():
    rng = np.random.default_rng(0)
    stats = StyleStats()
    tints = [(-0.4, 0.0, 0.4), (0.4, 0.0, -0.4), (0.0, 0.0, 0.0)]
    for camera, tint in enumerate(tints):
        real = camera_images(rng, tint, contrast=1.0 + camera)
        stats.add(
            camera, real, real - np.asarray(tint, np.float32) * 0.9
        )  # "UnityStyle": most of the tint gone
    summary = stats.summary()
    assert summary["images"] == 12
    assert summary["colour_spread"]["unity"] < 0.2 * summary["colour_spread"]["real"]
    expected_red = np.std([m * 127.5 + 127.5 for m in (-0.4, 0.4, 0.0)])
    assert (
        abs(summary["colour_spread"]["real"] - expected_red * 2 / 3) < 3.0
    )  # red and blue move, green does not
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


def people_under_cameras(rng, transfer=None):
    """4 cameras x 5 identities x 2 images: each identity its own clothing colour, each camera a colour cast
    and a gain; `transfer(camera, images)` may then change each camera's images."""
    clothes = rng.uniform(-0.5, 0.5, size=(5, 3)).astype(np.float32)
    casts = rng.uniform(-0.3, 0.3, size=(4, 3)).astype(np.float32)
    stats = StyleStats()
    for camera in range(4):
        images, pids = [], []
        for pid in range(1, 6):
            for _ in range(2):
                texture = rng.uniform(-0.2, 0.2, size=(24, 16, 1)).astype(np.float32)
                images.append(
                    np.clip((clothes[pid - 1] + texture) * (0.6 + 0.2 * camera) + casts[camera], -1, 1)
                )
                pids.append(pid)
        real = np.stack(images)
        unity = transfer(camera, real, casts[camera]) if transfer else real
        stats.add(camera, real, unity, pids)
    return stats.summary()


def test_style_ratio_ignores_global_colour_maps_and_falls_when_cameras_are_made_alike():
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    global_maps = {
        "desaturate": lambda c, x, cast: 0.5 * x + 0.5 * (x @ luma)[..., None],
        "toward grey": lambda c, x, cast: 0.5 * x,
    }
    for name, transform in global_maps.items():
        summary = people_under_cameras(np.random.default_rng(2), transform)
        ratio = summary["style_ratio"]
        assert ratio["real"] > 0.5, name  # the casts and gains really separate the cameras here
        np.testing.assert_allclose(ratio["unity"], ratio["real"], rtol=0.05, err_msg=name)  # R unchanged
    grey = people_under_cameras(np.random.default_rng(2), global_maps["toward grey"])
    assert grey["colour_spread"]["unity"] < 0.6 * grey["colour_spread"]["real"]  # the spread alone: fooled
    undone = people_under_cameras(
        np.random.default_rng(2), lambda c, x, cast: np.clip((x - cast) / (0.6 + 0.2 * c) * 0.7, -1, 1)
    )
    assert undone["style_ratio"]["unity"] < 0.5 * undone["style_ratio"]["real"]  # each camera's style undone
    assert StyleStats().summary() == {}


def probe_summary(transfer, blur_cameras=()):
    """3 cameras of random-blob images, each with its own colour cast (and, for `blur_cameras`, a blur):
    training and test batches, real and `transfer(camera, images)`, through StyleStats."""
    rng = np.random.default_rng(3)
    casts = np.asarray([(-0.3, 0.0, 0.3), (0.3, 0.0, -0.3), (0.0, 0.3, 0.0)], np.float32)
    stats = StyleStats()
    for camera, cast in enumerate(casts):
        for add in (stats.add_training, stats.add):
            real = np.clip(camera_images(rng, cast, 1.0, n=24), -1, 1)
            if camera in blur_cameras:
                real = (real + np.roll(real, 1, 1) + np.roll(real, 1, 2) + np.roll(real, 1, (1, 2))) / 4
            add(camera, real, transfer(camera, real, cast))
    return stats.summary()["camera_probe"]


def test_the_camera_probe_tells_cast_cameras_apart_and_not_once_the_casts_are_undone():
    probe = probe_summary(lambda c, x, cast: x)
    assert probe["chance"] == 1 / 3
    assert probe["real"] > 0.95 and probe["unity"] > 0.95  # the identity transfer leaves every cue
    undone = probe_summary(lambda c, x, cast: x - cast)
    assert undone["real"] > 0.95
    assert undone["unity"] < 0.6 and undone["unity_retrained"] < 0.6, undone  # chance 0.33, 72 test images
    # A cue the transfer leaves (blur in camera 0) is found again by the retrained probe, not by the real one.
    blurred = probe_summary(lambda c, x, cast: x - cast, blur_cameras=(0,))
    assert blurred["unity_retrained"] > undone["unity_retrained"] + 0.2, (blurred, undone)
