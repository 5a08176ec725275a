"""Checks before the expensive part: every setup that would fail in a later stage fails at start-up, with one
`error:` line naming the culprit, exit code 1, and no GAN step taken (nothing under WORKDIR/gan/).

Each broken setup is a real train.py process on a small Market-layout folder or the tiny synthetic data; the
processes run side by side.
"""

import os
import re
import shutil
from types import SimpleNamespace

import pytest

import fakedata
from runs import finish, one_error_line, snapshot, start

MARKET = "--config.data.name=market1501"


def market(root, layout):
    return f"--config.data.root={fakedata.write_market(root, layout)}"


# Train cameras c1, c2; the gallery also has c4, which no training image comes from.
UNSEEN_GALLERY_CAMERA = {
    "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0002_c2s1_000002_01.jpg"],
    "query": ["0003_c1s1_000003_01.jpg"],
    "bounding_box_test": ["0003_c2s1_000004_01.jpg", "0003_c4s1_000005_01.jpg"],
}
# Every query's identity is in the gallery only under the query's own camera: nothing left to match.
NO_TRUE_MATCH = {
    "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0002_c2s1_000002_01.jpg"],
    "query": ["0003_c1s1_000003_01.jpg"],
    "bounding_box_test": ["0003_c1s1_000004_01.jpg", "0004_c2s1_000005_01.jpg"],
}
NAMES = (
    "corrupt",
    "unseen_gallery_camera",
    "no_true_match",
    "camera_without_images",
    "bad_camera_list",
    "no_generators",
    "gan_of_another_model",
    "gan_of_another_size",
)


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preflight")
    corrupt = fakedata.write_market(tmp / "corrupt_data", fakedata.MARKET)
    broken = os.path.join(corrupt, "bounding_box_train", fakedata.MARKET["bounding_box_train"][0])
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 truncated")
    # A finished UnityGAN for camera 0 of the tiny synthetic data, to resume with other settings.
    gan = tmp / "gan_run"
    (trained,) = finish(start("train.py", gan, "--config.stages=gan", "--config.gan.cameras=0"))
    dataset = f"--config.data.root={gan / 'dataset'}"
    copies = {
        name: shutil.copytree(gan, tmp / name) for name in ("gan_of_another_model", "gan_of_another_size")
    }
    before = {name: snapshot(folder) for name, folder in copies.items()}
    w = {name: tmp / name for name in NAMES}
    results = finish(
        start("train.py", w["corrupt"], MARKET, f"--config.data.root={corrupt}"),
        start("train.py", w["unseen_gallery_camera"], MARKET, market(tmp / "unseen", UNSEEN_GALLERY_CAMERA)),
        start("train.py", w["no_true_match"], MARKET, market(tmp / "nomatch", NO_TRUE_MATCH)),
        start("train.py", w["camera_without_images"], dataset, "--config.gan.cameras=0,3"),
        start("train.py", w["bad_camera_list"], dataset, "--config.gan.cameras=first"),
        start("train.py", w["no_generators"], dataset, "--config.stages=transfer,reid"),
        start("train.py", w["gan_of_another_model"], dataset, "--config.gan.generator.base_features=16"),
        start(
            "train.py", w["gan_of_another_size"], dataset, "--config.gan.height=64", "--config.gan.width=32"
        ),
        check=False,
    )
    return SimpleNamespace(
        workdirs=w,
        broken=broken,
        results=dict(zip(NAMES, results)),
        kept={name: snapshot(folder) == before[name] for name, folder in copies.items()},
    )


def no_gan_step(workdir) -> bool:
    return not os.path.exists(os.path.join(workdir, "gan"))


def test_corrupt_image_fails_before_any_gan_step(failed):
    assert f"{failed.broken}: not a readable image" in one_error_line(failed.results["corrupt"])
    assert no_gan_step(failed.workdirs["corrupt"])


def test_a_gallery_camera_without_training_images_fails_before_any_gan_step(failed):
    error = one_error_line(failed.results["unseen_gallery_camera"])
    assert "camera c4 (id 3) of the gallery split has no training images in market1501" in error
    assert "--config.reid.method=baseline" in error  # the way out
    assert no_gan_step(failed.workdirs["unseen_gallery_camera"])


def test_an_evaluation_split_with_no_true_match_fails_at_start_up(failed):
    error = one_error_line(failed.results["no_true_match"])
    assert "market1501: no query image has a true match in the gallery" in error
    assert no_gan_step(failed.workdirs["no_true_match"])


def test_a_chosen_camera_without_training_images_is_named(failed):
    error = one_error_line(failed.results["camera_without_images"])
    assert "config.gan.cameras='0,3': camera(s) [3] have no training images in synthetic" in error
    assert "its training cameras: 0, 1, 2" in error
    assert no_gan_step(failed.workdirs["camera_without_images"])
    assert "config.gan.cameras='first'" in one_error_line(failed.results["bad_camera_list"])


def test_transfer_without_generators_fails_before_anything_runs(failed):
    error = one_error_line(failed.results["no_generators"])
    workdir = failed.workdirs["no_generators"]
    assert f"no UnityGAN checkpoint for camera c1 (id 0) in {workdir / 'gan' / 'cam0'}" in error
    assert not os.path.exists(workdir / "unitystyle.partial") and not os.path.exists(workdir / "checkpoints")


@pytest.mark.parametrize(
    "name, culprit",
    [
        (
            "gan_of_another_model",
            r"was trained with generator\.base_features=8, the config asks for 16",
        ),
        (
            "gan_of_another_size",
            r"was trained with image_shape=\[32, 16, 3\], the config asks for \[64, 32, 3\]",
        ),
    ],
)
def test_a_gan_checkpoint_of_another_model_or_size_is_named_and_kept(failed, name, culprit):
    error = one_error_line(failed.results[name])
    checkpoint = failed.workdirs[name] / "gan" / "cam0" / "checkpoints" / "3"
    assert f"checkpoint {checkpoint} " in error and re.search(culprit, error)
    assert failed.kept[name]  # no file of the run touched, no other camera started
