"""The demo, then evaluate.py, as a user runs them on the tiny synthetic config: every file docs/outputs.md promises
is written and holds what it should.

The demo (`python -m unitystyle_jax.commands.demo`, what `make demo` runs) trains one tiny UnityStyle run (gan, transfer,
reid) and one real-only baseline run, evaluates both and writes its table; evaluate.py then runs on both side
by side (the UnityStyle run twice: as is, and a copy with re-ranking, flip and feature export).
"""

import csv
import math
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import runs
from runs import BASELINE, METRIC_KEYS, finish, read_json, start
from unitystyle_jax.core import images as pictures
from unitystyle_jax.data import formats

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

TABLE_COLUMNS = ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP")
VARIANT = ("--config.eval.export_features=True", "--config.eval.rerank=True", "--config.eval.flip=True")
VARIANT_EVAL = os.path.join("eval", "synthetic-flip-rerank")  # the variant setting's own folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny demo's folders: its UnityStyle and baseline WORKDIRs, the synthetic dataset they share, and
    the results folder with demo.md and demo.json."""
    demo = tmp_path_factory.mktemp("demo")
    # In a new interpreter, as `make demo` starts it (most commands fork from a loaded one: tests/forked.py).
    (done,) = finish(
        start("unitystyle_jax.commands.demo", demo / "runs", f"--results={demo / 'results'}", fresh=True)
    )
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
    default, baseline, variant_run = finish(
        start("evaluate.py", trained.unity, data, fresh=True),
        start("evaluate.py", trained.baseline, data, *BASELINE),
        start("evaluate.py", variant, data, *VARIANT),
    )
    return SimpleNamespace(
        default=default.stdout, baseline=baseline.stdout, variant=variant, variant_stdout=variant_run.stdout
    )


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
        # 3 cameras x (4 real | 4 UnityStyle) images of 32x16, enlarged 3x (to >= 256 px) and labelled
        assert grid.size == (3 * 8 * 16 + pictures._MARGIN, 3 * 3 * 32 + pictures._BAND)
        assert tensorboard_images(workdir / "gan" / "tensorboard") == {("unitystyle_grid", 3): grid.size}
    for camera in range(3):  # each camera's (real | UnityStyle) pairs as its training goes
        assert tensorboard_images(workdir / "gan" / f"cam{camera}" / "tensorboard") == {
            ("samples", 3): (8 * 8 * 16, 8 * 32 + pictures._BAND)
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
    metrics = read_json(trained.unity / "eval" / "synthetic" / "metrics.json")
    assert {*METRIC_KEYS, "step", "dataset", "method"} <= metrics.keys()
    assert (metrics["step"], metrics["dataset"], metrics["method"]) == (4, "synthetic", "unitystyle")
    assert all(0.0 <= metrics[k] <= 1.0 for k in METRIC_KEYS)
    assert metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"]

    header, row = table_rows(evaluated.default)
    assert header[1:] == list(TABLE_COLUMNS)
    assert row[0] == "unitystyle (on synthetic, step 4, test-time transfer)"
    assert [float(cell) for cell in row[1:]] == [round(100 * metrics[k], 1) for k in METRIC_KEYS]
    assert_png(trained.unity / "eval" / "synthetic" / "cmc.png")
    assert_png(trained.unity / "eval" / "synthetic" / "ranked.png")


def test_rerank_flip_and_feature_export_agree_with_the_reported_metrics(trained, evaluated):
    from unitystyle_jax import evaluation

    metrics = read_json(evaluated.variant / VARIANT_EVAL / "metrics.json")
    assert metrics["rerank"] is True and metrics["flip"] is True
    # Another setting's results are kept beside it (the demo's evaluation, copied with the workdir), and the
    # printed table names the setting.
    default = read_json(evaluated.variant / "eval" / "synthetic" / "metrics.json")
    assert default["rerank"] is False and default["flip"] is False
    _, row = table_rows(evaluated.variant_stdout)
    assert row[0] == "unitystyle (on synthetic, step 4, test-time transfer, re-ranked, flip-averaged)"
    listed = (
        f"written to {evaluated.variant / VARIANT_EVAL}: metrics.json, per_query.npz, cmc.png, ranked.png, "
    )
    assert listed + "features.npz" in evaluated.variant_stdout  # the summary names every file it wrote
    assert "features.npz" not in evaluated.default  # ... and only those: the default evaluation writes none
    exported = np.load(evaluated.variant / VARIANT_EVAL / "features.npz")
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
    metrics = read_json(trained.baseline / "eval" / "synthetic" / "metrics.json")
    assert (metrics["method"], metrics["step"]) == ("baseline", 4)
    assert table_rows(evaluated.baseline)[1][0] == "baseline (on synthetic, step 4)"
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
    probe = style["camera_probe"]
    assert probe["chance"] == 1 / 3 and all(
        0.0 <= probe[k] <= 1.0 for k in ("real", "unity", "unity_retrained")
    )
    # The content guard: the baseline ranked the real gallery for the UnityStyle queries, written apart.
    guard = read_json(trained.baseline / "eval_styled_query" / "metrics.json")
    assert guard == report["styled_query"] and guard["method"] == "baseline"
    assert guard["num_valid_queries"] == methods["baseline"]["num_valid_queries"]

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
    assert f"| camera probe accuracy, % (chance 33.3) | {100 * probe['real']:.1f} |" in markdown
    assert f"for {100 * guard['rank1']:.1f}% of the\nUnityStyle queries" in markdown


# ----------------------------------------------------------------------------------------------------------
# After training, what users reach for first: features for their own images, export, another dataset.


def write_custom_copy(dataset, root) -> str:
    """The synthetic dataset rewritten in the `custom` format (CSV lists, other folders), its training split cut
    to the fewest identities that cover every camera: another dataset, in another format, with fewer classes."""
    splits = formats.load("synthetic", str(dataset))
    train_ids = next(
        k
        for k in range(1, splits.num_train_ids + 1)
        if {r.camid for r in splits.train if r.pid < k} == set(splits.cameras)
    )
    assert train_ids < splits.num_train_ids
    tables = {
        "train": [r for r in splits.train if r.pid < train_ids],
        "query": list(splits.query),
        "gallery": list(splits.gallery),
    }
    for split, records in tables.items():
        os.makedirs(root / split, exist_ok=True)
        with open(root / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "pid", "camid"])
            for r in records:
                shutil.copy(r.path, root / split / os.path.basename(r.path))
                writer.writerow([f"{split}/{os.path.basename(r.path)}", r.pid, r.camid])
    return str(root)


@pytest.fixture(scope="module")
def after_training(trained, evaluated, tmp_path_factory):
    """extract, export, and evaluate.py on another dataset (without, then with its own UnityGANs), as a user
    runs them on the trained runs; processes side by side."""
    tmp = tmp_path_factory.mktemp("after")
    other = write_custom_copy(trained.dataset, tmp / "other_data")
    on_other = ("--config.data.name=custom", f"--config.data.root={other}")
    cross = {name: shutil.copytree(trained.unity, tmp / name) for name in ("cross", "cross_styled")}
    data = f"--config.data.root={trained.dataset}"
    query = os.path.join(trained.dataset, formats.MARKET_FOLDERS["query"])
    extracted, exported, onnx, unstyled, gans = finish(
        start(
            "unitystyle_jax.commands.extract",
            evaluated.variant,
            data,
            "--config.eval.flip=True",
            f"--images={query}",
            f"--output={tmp / 'query.npz'}",
            fresh=True,
        ),
        start(
            "unitystyle_jax.commands.export", trained.unity, data, f"--output={tmp / 'exported'}", fresh=True
        ),
        start(
            "unitystyle_jax.commands.export",
            trained.unity,
            data,
            "--format=onnx",
            "--batch=3",
            f"--output={tmp / 'onnx'}",
        ),
        start("evaluate.py", cross["cross"], *on_other),
        start("train.py", tmp / "other_gans", *on_other, "--config.stages=gan,transfer"),
    )
    (styled,) = finish(
        start(
            "evaluate.py",
            cross["cross_styled"],
            *on_other,
            f"--config.eval.styles_workdir={tmp / 'other_gans'}",
        )
    )
    return SimpleNamespace(
        tmp=tmp,
        query=query,
        extracted=extracted,
        exported=exported,
        onnx=onnx,
        unstyled=unstyled,
        styled=styled,
        cross=cross,
    )


def tiny_config(dataset, **eval_settings):
    from configs import synthetic

    config = synthetic.get_config("tiny")
    config.data.root = str(dataset)
    config.eval.update(eval_settings)
    return config


def test_extracted_features_are_the_evaluation_features(trained, evaluated, after_training):
    """extract.py through the generators gives, for the query folder, the features evaluate.py ranked (flip on)."""
    written = np.load(after_training.tmp / "query.npz")
    evaluation = np.load(evaluated.variant / VARIANT_EVAL / "features.npz")
    assert bool(written["transferred"]) and int(written["step"]) == 4
    assert "pids" in written  # Market-named files carry their identities
    by_name = dict(zip(written["names"], written["features"]))
    assert set(by_name) == set(evaluation["query_names"])
    np.testing.assert_allclose(
        np.stack([by_name[n] for n in evaluation["query_names"]]), evaluation["query_features"], atol=1e-5
    )
    np.testing.assert_array_equal(
        [dict(zip(written["names"], written["camids"]))[n] for n in evaluation["query_names"]],
        evaluation["query_camids"],
    )


def test_extractor_api_with_and_without_transfer(trained, evaluated, after_training):
    from unitystyle_jax.data import pipeline
    from unitystyle_jax.serving import extraction

    written = np.load(after_training.tmp / "query.npz")
    records = sorted(formats.read_images(after_training.query)[0], key=lambda r: r.name)[:6]
    images = [pipeline.read_uint8(r.path).numpy() for r in records]
    camids, names = [r.camid for r in records], [r.name for r in records]
    config = tiny_config(trained.dataset, flip=True)

    transferring = extraction.Extractor.from_workdir(str(evaluated.variant), config)
    assert transferring.transfers
    by_name = dict(zip(written["names"], written["features"]))
    np.testing.assert_allclose(
        transferring(images, camids, names), np.stack([by_name[n] for n in names]), atol=1e-5
    )

    real_only = extraction.Extractor.from_workdir(str(evaluated.variant), config, transfer=False)
    real = real_only(images, camids)
    np.testing.assert_allclose(np.linalg.norm(real, axis=1), 1.0, rtol=1e-5)
    assert np.abs(real - transferring(images, camids, names)).max() > 1e-3  # the generators do change them

    with pytest.raises(Exception, match=r"camera c10 \(id 9\): no UnityGAN .*--no-transfer"):
        transferring(images[:1], [9])
    with pytest.raises(Exception, match="workdir .*nothing does not exist"):
        extraction.Extractor.from_workdir(str(after_training.tmp / "nothing"), config)
    with pytest.raises(FileExistsError, match="exists: give another --output"):
        extraction.run(
            config, str(evaluated.variant), after_training.query, str(after_training.tmp / "query.npz"), None
        )


@pytest.mark.parametrize("fmt", ["stablehlo", "onnx"])
def test_exported_programs_reload_with_any_batch_and_match_jax(trained, after_training, fmt):
    """StableHLO reloaded by JAX (batches of 1, 3 and 5: the batch stayed symbolic) and ONNX run by onnxruntime
    (batches of 3, as exported) give the extractor's features (no transfer); each generator maps [0, 1] images
    to [0, 1] images."""
    from unitystyle_jax.data import pipeline
    from unitystyle_jax.serving import export as model_export
    from unitystyle_jax.serving import extraction

    folder = after_training.tmp / ("exported" if fmt == "stablehlo" else "onnx")
    run = after_training.exported if fmt == "stablehlo" else after_training.onnx
    printed = run.stdout
    assert "Traceback" not in run.stderr  # the converter's plugin loader is held back, its own errors are not
    assert "onnxruntime" not in run.stderr  # its session's graph warnings (shape merges) are held back too
    manifest = read_json(folder / model_export.MANIFEST)
    assert manifest["format"] == fmt
    assert set(manifest["programs"]) == {"ide_features", "generator_cam0", "generator_cam1", "generator_cam2"}
    errors = [
        float(line.rsplit(" ", 1)[1].rstrip(")")) for line in printed.splitlines() if "reloaded:" in line
    ]
    assert len(errors) == 4 and max(errors) < 1e-4  # each program reloaded and checked by the command itself

    records = sorted(formats.read_images(after_training.query)[0], key=lambda r: r.name)[:5]
    config = tiny_config(trained.dataset)
    resized = np.stack(
        [
            pipeline.resized(pipeline.read_uint8(r.path), config.data.height, config.data.width)
            for r in records
        ]
    )
    suffix = model_export.SUFFIXES[fmt]
    features = model_export.load(str(folder / f"ide_features{suffix}"))
    real_only = extraction.Extractor.from_workdir(str(trained.unity), config, transfer=False)
    expected = real_only([pipeline.read_uint8(r.path).numpy() for r in records], [r.camid for r in records])
    for batch in (1, 3, 5) if fmt == "stablehlo" else (3,):
        np.testing.assert_allclose(features(resized[:batch]), expected[:batch], rtol=1e-4, atol=1e-5)
    generator = model_export.load(str(folder / f"generator_cam0{suffix}"))
    out = generator(np.full((3, config.gan.height, config.gan.width, 3), 0.5, np.float32))
    assert out.shape == (3, config.gan.height, config.gan.width, 3) and 0.0 <= out.min() and out.max() <= 1.0


def test_evaluation_on_another_dataset_with_and_without_its_own_generators(after_training):
    """A run trained on the synthetic data (Market layout) evaluated on a custom-format dataset with fewer
    training identities: the classifier is not restored, so the restore is not blocked; without that
    data's UnityGANs there is no test-time transfer, said in one line; with them, it transfers."""
    assert "no test-time transfer" in after_training.unstyled.stderr
    unstyled = read_json(after_training.cross["cross"] / "eval" / "custom" / "metrics.json")
    styled = read_json(
        after_training.cross["cross_styled"] / "eval" / "custom-styles_workdir_other_gans" / "metrics.json"
    )
    for metrics, transferred in ((unstyled, False), (styled, True)):
        assert (metrics["dataset"], metrics["trained_on"]) == ("custom", "synthetic")
        assert metrics["test_time_transfer"] is transferred
        assert all(0.0 <= metrics[k] <= 1.0 for k in METRIC_KEYS)
    assert "no test-time transfer" not in after_training.styled.stderr
