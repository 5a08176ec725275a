"""`unitystyle-dataset`: exact counts per dataset format, and one `error:` line per bad input.

Most checks call the command's `main` in this process (its stdout, stderr and exit status, as a process would give
them); the tests marked `command` run it as a user does, once for a table and once for an error."""

import contextlib
import io
import json
import os
import subprocess
import sys

import fakedata
import pytest
from PIL import Image

from unitystyle_jax.commands import dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args) -> subprocess.CompletedProcess:
    """The command's `main(args)` in this process."""
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            dataset.main(list(args))
        except SystemExit as exit_:
            status = exit_.code or 0  # sys.exit() and sys.exit(0) end a process with status 0
    return subprocess.CompletedProcess(["dataset", *args], status, out.getvalue(), err.getvalue())


def _process(*args) -> subprocess.CompletedProcess:
    """The command in its own process, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "unitystyle_jax.commands.dataset", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _stats_json(name, root, *extra):
    result = _cli("stats", "--name", name, "--root", str(root), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # the whole of stdout is one JSON object


def _counts(images, ids, cameras):
    return {"images": images, "ids": ids, "cameras": cameras}


def test_stats_json_market(market_root):
    assert _stats_json("market1501", market_root) == {
        "train": _counts(5, 3, 4),
        "query": _counts(2, 2, 2),
        "gallery": _counts(4, 3, 3),
    }


def test_stats_json_duke(tmp_path):
    assert _stats_json("dukemtmc", fakedata.write_duke(tmp_path)) == {
        "train": _counts(3, 2, 3),
        "query": _counts(1, 1, 1),
        "gallery": _counts(3, 2, 3),
    }


def test_stats_json_msmt17(tmp_path):
    assert _stats_json("msmt17", fakedata.write_msmt(tmp_path)) == {
        "train": _counts(3, 2, 3),
        "query": _counts(1, 1, 1),
        "gallery": _counts(2, 2, 2),
    }


def test_stats_json_custom(custom_root):
    assert _stats_json("custom", custom_root) == {
        "train": _counts(3, 2, 3),
        "query": _counts(1, 1, 1),
        "gallery": _counts(2, 2, 2),
    }


@pytest.mark.command
def test_stats_table(market_root):
    result = _process("stats", "--name", "market1501", "--root", market_root)
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("|")[0].strip(): [int(v) for v in line.split("|")[1:]]
        for line in result.stdout.splitlines()
        if line.strip().startswith(("train", "query", "gallery"))
    }
    assert rows == {"train": [3, 5, 4], "query": [2, 2, 2], "gallery": [3, 4, 3]}  # ids, images, cameras


def _assert_one_error_line(result, culprit):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and culprit in lines[0], result.stderr
    assert result.stdout == ""


def test_corrupt_jpeg_is_an_error_unless_not_verified(market_root):
    corrupt = os.path.join(market_root, "bounding_box_test", "0003_c2s1_000300_01.jpg")
    with open(corrupt, "r+b") as f:
        f.truncate(30)
    _assert_one_error_line(_cli("stats", "--name", "market1501", "--root", market_root), corrupt)
    assert _stats_json("market1501", market_root, "--no-verify")["gallery"]["images"] == 4


def _market(tmp_path, **changes):
    layout = {**fakedata.MARKET, **changes}
    return fakedata.write_market(tmp_path / "market", layout)


@pytest.mark.parametrize(
    "changes, culprit",
    [
        ({"query": ["0003_c1s1_000100_01.jpg", "IMG_0042.jpg"]}, "query/IMG_0042.jpg"),  # bad file name
        (
            {"bounding_box_test": ["0003_c8s1_000300_01.jpg"]},
            "bounding_box_test/0003_c8s1_000300_01.jpg",
        ),  # camera
        ({"query": ["desktop.ini"]}, "query"),  # empty split (only a non-image)
    ],
)
def test_bad_market_folders(tmp_path, changes, culprit):
    _assert_one_error_line(
        _cli("stats", "--name", "market1501", "--root", _market(tmp_path, **changes)), culprit
    )


def test_missing_split_folder(tmp_path):
    root = fakedata.write_folders(tmp_path / "m", {k: v for k, v in fakedata.MARKET.items() if k != "query"})
    _assert_one_error_line(_cli("stats", "--name", "market1501", "--root", root), os.path.join(root, "query"))


@pytest.mark.command
def test_missing_root(tmp_path):
    _assert_one_error_line(
        _process("stats", "--name", "dukemtmc", "--root", str(tmp_path / "nope")), str(tmp_path / "nope")
    )


def test_unknown_dataset_name(market_root):
    _assert_one_error_line(_cli("stats", "--name", "market", "--root", market_root), "'market'")


def test_path_escaping_the_root(tmp_path):
    root = fakedata.write_msmt(tmp_path / "msmt")
    fakedata.write_image(str(tmp_path / "secret.jpg"))
    fakedata.write_text(root, "list_query.txt", ["../../secret.jpg 0"])
    _assert_one_error_line(_cli("stats", "--name", "msmt17", "--root", root), "list_query.txt:1")


def test_synthetic_command_generates_reuses_and_draws_a_grid(tmp_path):
    root, grid = str(tmp_path / "syn"), str(tmp_path / "grid.png")
    result = _cli("synthetic", "--root", root, "--tiny", "--grid", grid)
    assert result.returncode == 0, result.stderr
    with Image.open(grid) as image:
        assert image.format == "PNG"
    assert _stats_json("synthetic", root)["query"] == _counts(8, 4, 3)
    again = _cli("synthetic", "--root", root, "--tiny")  # same spec: reused
    assert again.returncode == 0, again.stderr
    _assert_one_error_line(_cli("synthetic", "--root", root), root)  # default spec: refuses to overwrite
    # Another style family is another spec: refused in the same folder, generated in its own.
    _assert_one_error_line(_cli("synthetic", "--root", root, "--tiny", "--family", "sensor"), root)
    sensor = str(tmp_path / "sensor")
    assert _cli("synthetic", "--root", sensor, "--tiny", "--family", "sensor").returncode == 0
    with open(os.path.join(sensor, "meta.json")) as f:
        assert json.load(f)["spec"]["sensor_style_strength"] == 1.0


def test_stats_has_a_camera_table_and_warns_of_test_cameras_without_training_images(tmp_path):
    layout = {
        "bounding_box_train": ["0002_c1s1_000001_01.jpg", "0002_c2s1_000002_01.jpg"],
        "query": ["0003_c1s1_000003_01.jpg"],
        "bounding_box_test": [
            "0003_c2s1_000004_01.jpg",
            "0003_c4s1_000005_01.jpg",
            "0004_c6s1_000006_01.jpg",
        ],
    }
    root = fakedata.write_market(tmp_path / "unseen", layout)
    result = _cli("stats", "--name", "market1501", "--root", root)
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("|")[0].strip(): [int(v) for v in line.split("|")[1:]]
        for line in result.stdout.splitlines()
        if line.split("|")[0].strip()[1:].isdigit()  # c1, c2, ...: the camera rows
    }
    assert rows == {
        "c1": [1, 1, 0],
        "c2": [1, 0, 1],
        "c4": [0, 0, 1],
        "c6": [0, 0, 1],
    }  # train, query, gallery
    assert result.stderr.strip() == (
        "warning: camera c4 (id 3), camera c6 (id 5): query/gallery images but no training images, so no UnityGAN "
        "can transfer them (train the real-image baseline, or remove them)"
    )
    clean = _cli(
        "stats", "--name", "market1501", "--root", fakedata.write_market(tmp_path / "ok", fakedata.MARKET)
    )
    assert clean.stderr == ""  # the control: every test camera has training images
