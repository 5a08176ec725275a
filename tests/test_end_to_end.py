"""The demo, then evaluate.py, as a user runs them on the tiny synthetic config: every file the README promises
is written and holds what it should.

The demo (`python -m unitystyle_jax.demo`, what `make demo` runs) trains one tiny UnityStyle run (gan, transfer,
reid) and one real-only baseline run, evaluates both and writes its table; evaluate.py then runs on both side
by side (the UnityStyle run twice: as is, and a copy with re-ranking, flip and feature export). Helpers here (`start`, `finish`, `run`) serve the other CLI test modules too.
"""

import csv
import json
import math
import os
import shutil
import subprocess
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import runs
from unitystyle_jax.data import formats

# One compilation cache for every run of these tests (git-ignored): reruns skip XLA compilation.
METRIC_KEYS = ("rank1", "rank5", "rank10", "mAP", "mINP")
TABLE_COLUMNS = ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP")
BASELINE = ("--config.stages=reid", "--config.reid.method=baseline")
VARIANT = ("--config.eval.export_features=True", "--config.eval.rerank=True", "--config.eval.flip=True")


def start(script: str, workdir, *flags, config: str = runs.TINY) -> subprocess.Popen:
    """train.py / evaluate.py as runs.run starts them, not waited for.
    Output goes to files: a pipe nobody reads while the process runs would fill up and stall it."""
    logs = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        runs.command(script, workdir, *flags, config=config),
        cwd=runs.REPO,
        env=runs.env(),
        stdout=logs[0],
        stderr=logs[1],
        text=True,
    )
    process.logs = logs
    return process


def output(process: subprocess.Popen) -> tuple[str, str]:
    """(stdout, stderr) a started process has written so far."""
    for log in process.logs:
        log.seek(0)
    return tuple(log.read() for log in process.logs)


def finish(*processes: subprocess.Popen, check: bool = True) -> list[subprocess.CompletedProcess]:
    """Waits for processes started together (most of a tiny run is single-threaded Python, so two share the
    CPU well); with check, each must have succeeded."""
    results = [subprocess.CompletedProcess(p.args, p.wait(timeout=900), *output(p)) for p in processes]
    for result in results if check else ():
        assert result.returncode == 0, f"{result.args} failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return results


def run(script: str, workdir, *flags, config: str = runs.TINY, check: bool = True):
    return finish(start(script, workdir, *flags, config=config), check=check)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny demo's folders: its UnityStyle and baseline WORKDIRs, the synthetic dataset they share, and
    the results folder with demo.md and demo.json."""
    demo = tmp_path_factory.mktemp("demo")
    (done,) = finish(start("unitystyle_jax.demo", demo / "runs", f"--results={demo / 'results'}"))
    runs_dir = demo / "runs"
    return SimpleNamespace(
        unity=runs_dir / "unitystyle",
        baseline=runs_dir / "baseline",
        dataset=runs_dir / "dataset",
        results=demo / "results",
        stdout=done.stdout,
    )


@pytest.fixture(scope="module")
def evaluated(trained, tmp_path_factory):
    """evaluate.py's stdout on both runs, and on a copy of the UnityStyle run with re-ranking, flip and
    feature export on (its WORKDIR as `variant`)."""
    variant = tmp_path_factory.mktemp("variant") / "workdir"
    shutil.copytree(trained.unity, variant)
    data = f"--config.data.root={trained.dataset}"
    default, baseline, _ = finish(
        start("evaluate.py", trained.unity, data),
        start("evaluate.py", trained.baseline, data, *BASELINE),
        start("evaluate.py", variant, data, *VARIANT),
    )
    return SimpleNamespace(default=default.stdout, baseline=baseline.stdout, variant=variant)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 0 and image.height > 0
        image.verify()


def tensorboard_images(logdir) -> dict[tuple[str, int], tuple[int, int]]:
    """(tag, step) -> (width, height) of every image a TensorBoard log folder holds, PNG-decoded."""
    import io

    import tensorflow as tf

    images = {}
    for name in os.listdir(logdir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    encoded = tf.make_ndarray(value.tensor)[2]  # [width, height, PNG, ...]
                    with Image.open(io.BytesIO(encoded)) as image:
                        images[(value.tag, event.step)] = image.size
    return images


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of every markdown table row in stdout, header first."""
    rows = [line.strip().strip("|").split("|") for line in stdout.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows if not set("".join(row)) <= set("-")]


def test_training_writes_metrics_log_grid_and_aligned_unitystyle_dataset(trained):
    workdir = trained.unity
    log = runs.metrics(workdir)
    assert [m["step"] for m in log] == [1, 2, 3, 4]
    for m in log:
        for key in ("loss", "accuracy", "learning_rate", "images_per_sec"):
            assert math.isfinite(m[key]), (key, m)
        assert 0.0 <= m["accuracy"] <= 1.0 and m["images_per_sec"] > 0
    for camera in range(3):
        gan_log = runs.metrics(workdir / "gan" / f"cam{camera}")
        assert [m["step"] for m in gan_log] == [1, 2, 3]
        assert all(math.isfinite(m["loss"]) and math.isfinite(m["loss_disc"]) for m in gan_log)
    assert_png(workdir / "gan" / "unitystyle_grid.png")
    with Image.open(workdir / "gan" / "unitystyle_grid.png") as grid:
        assert grid.size == (8 * 16, 3 * 32)  # 3 cameras x (4 real | 4 UnityStyle) images of 32x16
        assert tensorboard_images(workdir / "gan" / "tensorboard") == {("unitystyle_grid", 3): grid.size}
    for camera in range(3):  # each camera's (real | UnityStyle) pairs as its training goes
        assert tensorboard_images(workdir / "gan" / f"cam{camera}" / "tensorboard") == {
            ("samples", 3): (8 * 16, 32)
        }

    real = formats.load("synthetic", str(trained.dataset))
    for split in formats.SPLITS:
        with open(workdir / "unitystyle" / f"{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        records = getattr(real, split)
        assert [(int(r["pid"]), int(r["camid"])) for r in rows] == [(r.pid, r.camid) for r in records]
        for row in rows:
            with Image.open(workdir / "unitystyle" / row["path"]) as image:
                assert image.size == (16, 32)  # the tiny config's gan.width x gan.height


def test_evaluate_prints_table_and_writes_metrics_and_pictures(trained, evaluated):
    metrics = read_json(trained.unity / "eval" / "metrics.json")
    assert {*METRIC_KEYS, "step", "dataset", "method"} <= metrics.keys()
    assert (metrics["step"], metrics["dataset"], metrics["method"]) == (4, "synthetic", "unitystyle")
    assert all(0.0 <= metrics[k] <= 1.0 for k in METRIC_KEYS)
    assert metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"]

    header, row = table_rows(evaluated.default)
    assert header[1:] == list(TABLE_COLUMNS)
    assert row[0] == "unitystyle (step 4)"
    assert [float(cell) for cell in row[1:]] == [round(100 * metrics[k], 1) for k in METRIC_KEYS]
    assert_png(trained.unity / "eval" / "cmc.png")
    assert_png(trained.unity / "eval" / "ranked.png")


def test_rerank_flip_and_feature_export_agree_with_the_reported_metrics(trained, evaluated):
    from unitystyle_jax import evaluation

    metrics = read_json(evaluated.variant / "eval" / "metrics.json")
    assert metrics["rerank"] is True and metrics["flip"] is True
    exported = np.load(evaluated.variant / "eval" / "features.npz")
    real = formats.load("synthetic", str(trained.dataset))
    for side, records in (("query", real.query), ("gallery", real.gallery)):
        features = exported[f"{side}_features"]
        assert features.shape[0] == len(records) and np.all(np.isfinite(features))
        np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(exported[f"{side}_pids"], [r.pid for r in records])
        np.testing.assert_array_equal(exported[f"{side}_camids"], [r.camid for r in records])
        np.testing.assert_array_equal(exported[f"{side}_names"], [r.name for r in records])

    # The exported features are the ones scored: re-scoring them gives the metrics evaluate.py wrote.
    q, g = exported["query_features"], exported["gallery_features"]
    distance = evaluation.compute_distance
    result = evaluation.evaluate_rank(
        evaluation.rerank(distance(q, g), distance(q, q), distance(g, g)),
        exported["query_pids"],
        exported["gallery_pids"],
        exported["query_camids"],
        exported["gallery_camids"],
    )
    np.testing.assert_allclose(
        [result["cmc"][0], result["mAP"], result["mINP"]],
        [metrics["rank1"], metrics["mAP"], metrics["mINP"]],
        atol=1e-6,
    )


def test_baseline_evaluates_without_unitystyle(trained, evaluated):
    metrics = read_json(trained.baseline / "eval" / "metrics.json")
    assert (metrics["method"], metrics["step"]) == ("baseline", 4)
    assert table_rows(evaluated.baseline)[1][0] == "baseline (step 4)"
    assert not any(os.path.exists(trained.baseline / folder) for folder in ("unitystyle", "gan"))


def test_demo_writes_the_table_stage_times_and_style_numbers(trained):
    report = read_json(trained.results / "demo.json")
    methods = report["methods"]
    for method in ("unitystyle", "baseline"):
        assert all(0.0 <= methods[method][k] <= 1.0 for k in METRIC_KEYS), methods[method]
    gain = 100 * (methods["unitystyle"]["mAP"] - methods["baseline"]["mAP"])
    assert report["unitystyle_map_gain_points"] == round(gain, 2)
    assert report["stage_seconds"]["unitystyle"].keys() == {"gan", "transfer", "reid", "eval"}
    assert report["stage_seconds"]["baseline"].keys() == {"reid", "eval"}
    assert report["stage_seconds_sum"] <= report["invocation_seconds"]  # one uninterrupted invocation
    transfer = report["transfer"]
    assert (transfer["num_generators"], transfer["camstyle_generators"]) == (3, 3)  # 3 cameras: C vs C(C-1)/2
    style = transfer["style"]
    for key in ("colour_spread", "contrast_spread"):
        assert math.isfinite(style[key]["real"]) and math.isfinite(style[key]["unity"])
    assert 0.0 < style["ssim"] <= 1.0

    with open(trained.results / "demo.md") as f:
        markdown = f.read()
    assert markdown in trained.stdout  # printed as well as written
    assert report["dataset"] == {"name": "synthetic", "root": str(trained.dataset)}
    assert markdown.startswith("# UnityStyle demo on the synthetic multi-camera dataset (")
    header, *rows = table_rows(markdown)[:3]
    assert header[1:] == list(TABLE_COLUMNS)
    for row, method in zip(rows, ("baseline", "unitystyle"), strict=True):
        assert [float(cell) for cell in row[1:]] == [round(100 * methods[method][k], 1) for k in METRIC_KEYS]
    assert f"{report['unitystyle_map_gain_points']:+.1f} points" in markdown
