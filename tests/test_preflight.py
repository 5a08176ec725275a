"""Checks before the expensive part: every setup that would fail in a later stage fails at start-up (train.py's
`train.prepared`), with an error naming the culprit and no GAN step taken (nothing under WORKDIR/gan/).

In-process: each broken setup is the tiny config on a small Market-layout folder or the tiny synthetic data,
checked by the same start-up train.py runs; that such an error reaches the user as one `error:` line and exit 1
is test_cli_errors.py's contract.
"""

import json
import os
import re
import shutil

import fakedata
import pytest

import runs
from configs import synthetic
from runs import snapshot
from unitystyle_jax import config_validation
from unitystyle_jax import preflight
from unitystyle_jax.commands import train
from unitystyle_jax.core.errors import UserError

# Train cameras c1, c2; the gallery also has c4, which no training image comes from.
UNSEEN_GALLERY_CAMERA = {
    "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0002_c2s1_000002_01.jpg"],
    "query": ["0003_c1s1_000003_01.jpg"],
    "bounding_box_test": ["0003_c2s1_000004_01.jpg", "0003_c4s1_000005_01.jpg", "0003_c6s1_000006_01.jpg"],
}
# Every query's identity is in the gallery only under the query's own camera: nothing left to match.
NO_TRUE_MATCH = {
    "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0002_c2s1_000002_01.jpg"],
    "query": ["0003_c1s1_000003_01.jpg"],
    "bounding_box_test": ["0003_c1s1_000004_01.jpg", "0004_c2s1_000005_01.jpg"],
}


def tiny(**overrides):
    """The tiny config with dotted overrides (`**{"gan.cameras": "0"}`), sharing the suite's compile cache."""
    config = synthetic.get_config("tiny")
    config.compilation_cache_dir = runs.CACHE_DIR
    config.update_from_flattened_dict(overrides)
    return config


def failure(config, workdir) -> str:
    """The first line of the UserError that start-up raises (what train.py prints after `error: `)."""
    with pytest.raises(UserError) as raised:
        config_validation.validate(config)
        with train.prepared(config, str(workdir)):
            pass
    return str(raised.value).splitlines()[0]


def market(root, layout=fakedata.MARKET, **overrides):
    return tiny(**{"data.name": "market1501", "data.root": fakedata.write_market(root, layout), **overrides})


def no_gan_step(workdir) -> bool:
    return not os.path.exists(os.path.join(workdir, "gan"))


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A finished UnityGAN for camera 0 of the tiny synthetic data, to resume with other settings."""
    workdir = tmp_path_factory.mktemp("preflight") / "gan_run"
    train.run(tiny(stages="gan", **{"gan.cameras": "0"}), str(workdir))
    return workdir


def on_gan_data(gan_run, **overrides):
    return tiny(**{"data.root": str(gan_run / "dataset"), **overrides})


def test_corrupt_image_fails_before_any_gan_step(tmp_path):
    root = fakedata.write_market(tmp_path / "corrupt_data", fakedata.MARKET)
    broken = os.path.join(root, "bounding_box_train", fakedata.MARKET["bounding_box_train"][0])
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 truncated")
    config = tiny(**{"data.name": "market1501", "data.root": root})
    assert f"{broken}: not a readable image" in failure(config, tmp_path / "run")
    assert no_gan_step(tmp_path / "run")


def test_a_gallery_camera_without_training_images_fails_before_any_gan_step(tmp_path):
    error = failure(market(tmp_path / "unseen", UNSEEN_GALLERY_CAMERA), tmp_path / "run")
    # Every such camera at once, by the dataset's own name.
    assert "camera c4 (id 3) (gallery), camera c6 (id 5) (gallery): no training images in market1501" in error
    assert "--config.reid.method=baseline" in error  # the way out
    assert no_gan_step(tmp_path / "run")


def test_an_evaluation_split_with_no_true_match_fails_at_start_up(tmp_path):
    error = failure(market(tmp_path / "nomatch", NO_TRUE_MATCH), tmp_path / "run")
    assert "market1501: no query image has a true match in the gallery" in error
    assert no_gan_step(tmp_path / "run")


def test_a_chosen_camera_without_training_images_is_named(gan_run, tmp_path):
    error = failure(on_gan_data(gan_run, **{"gan.cameras": "0,3"}), tmp_path / "run")
    assert "config.gan.cameras='0,3': camera c4 (id 3): no training images in synthetic" in error
    assert "its training cameras: 0, 1, 2" in error
    assert no_gan_step(tmp_path / "run")
    error = failure(on_gan_data(gan_run, **{"gan.cameras": "first"}), tmp_path / "other")
    assert "config.gan.cameras='first'" in error


def test_transfer_without_generators_fails_before_anything_runs(gan_run, tmp_path):
    workdir = tmp_path / "no_generators"
    error = failure(on_gan_data(gan_run, stages="transfer,reid"), workdir)
    assert f"no UnityGAN checkpoint for camera c1 (id 0) in {workdir / 'gan' / 'cam0'}" in error
    assert not os.path.exists(workdir / "unitystyle.partial") and not os.path.exists(workdir / "checkpoints")


@pytest.mark.parametrize(
    "overrides, culprit",
    [
        (
            {"gan.generator.base_features": 16},
            r"was trained with generator\.base_features=8, the config asks for 16",
        ),
        (
            {"gan.height": 64, "gan.width": 32},
            r"was trained with image_shape=\[32, 16, 3\], the config asks for \[64, 32, 3\]",
        ),
    ],
)
def test_a_gan_checkpoint_of_another_model_or_size_is_named_and_kept(gan_run, tmp_path, overrides, culprit):
    workdir = shutil.copytree(gan_run, tmp_path / "copy")
    before = snapshot(workdir)
    error = failure(on_gan_data(gan_run, **overrides), workdir)
    checkpoint = workdir / "gan" / "cam0" / "checkpoints" / "3"
    assert f"checkpoint {checkpoint} " in error and re.search(culprit, error)
    assert snapshot(workdir) == before  # no file of the run touched, no other camera started


def test_the_comparison_starts_up_the_same_way_and_leaves_nothing_behind(tmp_path):
    """compare runs train.py's start-up (`startup.started_run`): a setup its rows cannot run fails with one line before
    any work, and the workdir it created is gone again; the results folder is not written."""
    from unitystyle_jax.commands.comparison import running

    config = market(tmp_path / "unseen", UNSEEN_GALLERY_CAMERA, **{"compare.rows": "ide,unitystyle"})
    workdir, results = tmp_path / "compare_run", tmp_path / "results"
    with pytest.raises(
        UserError, match=r"camera c4 \(id 3\), camera c6 \(id 5\) of the query/gallery: no training images"
    ):
        running.run(config, str(workdir), str(results))
    assert not os.path.exists(workdir) and not os.path.exists(results / "compare.json")
    # A workdir the user made is kept when start-up fails (here: CamStyle needs two training cameras).
    workdir.mkdir()
    one_camera = market(
        tmp_path / "one_camera",
        {**fakedata.MARKET, "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0005_c1s1_000002_01.jpg"]},
        **{"compare.rows": "camstyle"},
    )
    with pytest.raises(UserError, match="CamStyle needs at least two training cameras"):
        running.run(one_camera, str(workdir), str(results))
    assert os.path.isdir(workdir)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"compare.rows": "ide,bogus"}, "config.compare.rows='ide,bogus': unknown row(s) ['bogus']"),
        ({"compare.rows": "paper,bogus"}, "config.compare.rows='paper,bogus': unknown row(s) ['bogus']"),
        ({"compare.seeds": 0}, "config.compare.seeds=0 must be a positive integer"),
        (
            {"compare.gan_seeds": 4},
            "config.compare.gan_seeds=4 must be an integer from 0 (one per IDE seed) to",
        ),
        ({"compare.pair_gan_seeds": -1}, "config.compare.pair_gan_seeds=-1 must be an integer from 0"),
        ({"compare.bootstrap_samples": 5}, "config.compare.bootstrap_samples=5 must be an integer of"),
        ({"reid.unitystyle_label_smoothing": 1.0}, "config.reid.unitystyle_label_smoothing=1.0 must be in"),
        ({"reid.generated_batch_size": 0}, "config.reid.generated_batch_size=0 must be a positive"),
    ],
)
def test_bad_comparison_settings_stop_before_any_work(tmp_path, overrides, message):
    from unitystyle_jax.commands.comparison import running

    workdir, results = tmp_path / "runs", tmp_path / "results"
    with pytest.raises(UserError) as raised:
        running.run(tiny(**overrides), str(workdir), str(results))
    assert str(raised.value).startswith(message)
    assert not os.path.exists(workdir) and not os.path.exists(results / "compare.json")


def test_comparison_rows_combine_groups_and_keys():
    from unitystyle_jax.commands.comparison import rows as declared

    def keys(rows):
        return [r.key for r in declared.selected_rows(tiny(**{"compare.rows": rows}))]

    assert keys("") == keys("paper") == list(declared.DEFAULT_ROWS)
    both = keys("paper,methods")
    assert set(both) == set(declared.ROW_GROUPS["paper"]) | set(declared.ROW_GROUPS["methods"])
    assert both == [k for k in declared.ROW_KEYS if k in both]  # the table's order, each row once
    assert "torch_ide" not in both and keys("all") == list(declared.ROW_KEYS)
    assert keys(" ibn , ide ") == ["ide", "ibn"]


def test_the_pretrained_choice_is_checked_at_start_up(tmp_path):
    from configs import market1501

    config = market1501.get_config()
    assert config.model.pretrained == ""  # paper scale: no silent training from scratch
    with pytest.raises(
        config_validation.ConfigError, match="config.model.pretrained is empty: .*unitystyle-convert-torch"
    ):
        preflight.check_pretrained(config)
    config.model.pretrained = config_validation.FROM_SCRATCH
    preflight.check_pretrained(config)
    assert synthetic.get_config().model.pretrained == config_validation.FROM_SCRATCH

    folder = tmp_path / "weights"
    folder.mkdir()
    with open(folder / "meta.json", "w") as f:
        json.dump({"depth": 50, "width": 64, "ibn": True, "source": "test"}, f)
    config.model.pretrained = str(folder)
    with pytest.raises(
        config_validation.ConfigError, match="its ResNet has ibn=True, config.model.ibn=False"
    ):
        preflight.check_pretrained(config)
    config.model.ibn = True
    preflight.check_pretrained(config)
    config.model.pretrained = str(tmp_path / "nowhere")
    with pytest.raises(Exception, match="does not exist"):
        preflight.check_pretrained(config)
    assert os.path.isdir(folder)
