"""report: valid PNGs with the right frames, and metrics JSON written whole or not at all."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from unitystyle_jax.evaluation import EvaluationError, plot_cmc, plot_ranked_lists, report, write_metrics_json


def open_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def pixels_of(picture, hex_colour):
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.count_nonzero(np.abs(picture - rgb).sum(-1) < 10))


def no_temporaries_left(folder):
    return not [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_plot_cmc_writes_a_png(tmp_path):
    out = tmp_path / "plots" / "cmc.png"  # the folder is created
    plot_cmc({"IDE": np.linspace(0.5, 1, 50), "UnityStyle": [0.6, 0.8, 0.9]}, str(out))
    assert open_png(out).shape[:2] == (450, 600)
    assert no_temporaries_left(out.parent)


@pytest.mark.parametrize("curves", [{}, {"bad": [0.5, 1.5]}, {"empty": []}])
def test_plot_cmc_rejects_bad_curves(tmp_path, curves):
    with pytest.raises(EvaluationError):
        plot_cmc(curves, str(tmp_path / "cmc.png"))
    assert not os.listdir(tmp_path)


def test_plot_ranked_lists_frames_matches_green_and_others_red(tmp_path):
    paths = []
    for index in range(6):
        path = tmp_path / f"{index}.jpg"
        Image.new("RGB", (32, 64), (40 * index, 90, 200 - 30 * index)).save(path)
        paths.append(str(path))
    # query 0 (id 1, camera 0): gallery 0 is junk (id 1, camera 0), gallery 1 a match, gallery 2 and 3 not
    distmat = np.array([[0.1, 0.5, 0.2, 0.9], [0.3, 0.2, 0.1, 0.4]])
    out = tmp_path / "ranked.png"
    plot_ranked_lists(
        paths[:2],
        paths[2:],
        distmat,
        np.array([1, 2]),
        np.array([1, 1, 3, 2]),
        np.array([0, 0]),
        np.array([0, 1, 1, 1]),
        str(out),
        num_queries=5,
        topk=2,
    )
    picture = open_png(out)
    assert pixels_of(picture, report.MATCH_COLOUR) > 0
    assert pixels_of(picture, report.MISMATCH_COLOUR) > 0
    assert pixels_of(picture, report.QUERY_COLOUR) > 0


def test_plot_ranked_lists_accepts_arrays_and_shows_only_the_top_k(tmp_path):
    images = [np.full((16, 8, 3), 0.5), np.zeros((16, 8), np.uint8), np.zeros((16, 8, 3), np.uint8)]
    out = tmp_path / "ranked.png"
    # one valid query; its only match (gallery 1) ranks 2nd, beyond topk=1: no green frame
    plot_ranked_lists(
        images[:1],
        images[1:],
        np.array([[0.1, 0.2]]),
        np.array([1]),
        np.array([2, 1]),
        np.array([0]),
        np.array([1, 1]),
        str(out),
        topk=1,
    )
    picture = open_png(out)
    assert pixels_of(picture, report.MATCH_COLOUR) == 0
    assert pixels_of(picture, report.MISMATCH_COLOUR) > 0


@pytest.mark.parametrize(
    "gallery_images, culprit",
    [([np.zeros((4, 4))], "no/such/query.jpg"), (["a.jpg", "b.jpg"], "gallery_images has 2 entries")],
)
def test_plot_ranked_lists_names_bad_images(tmp_path, gallery_images, culprit):
    with pytest.raises(EvaluationError, match=culprit):
        plot_ranked_lists(
            ["no/such/query.jpg"],
            gallery_images,
            np.zeros((1, 1)),
            np.array([1]),
            np.array([1]),
            np.array([0]),
            np.array([1]),
            str(tmp_path / "ranked.png"),
        )
    assert not os.listdir(tmp_path)


def test_write_metrics_json_round_trips_numpy_values_and_replaces_atomically(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    metrics = {
        "mAP": np.float32(0.5),
        "cmc": np.array([0.25, 1.0]),
        "num_valid_queries": np.int64(3),
        "dataset": "market1501",
        "rerank": False,
    }
    write_metrics_json(str(path), metrics)
    assert json.loads(path.read_text()) == {
        "mAP": 0.5,
        "cmc": [0.25, 1.0],
        "num_valid_queries": 3,
        "dataset": "market1501",
        "rerank": False,
    }
    assert no_temporaries_left(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # readable as any file the user writes


@pytest.mark.parametrize(
    "metrics, culprit",
    [
        ({"mAP": float("nan")}, r"metrics\['mAP'\] is nan"),
        ({"cmc": [0.5, np.inf]}, r"metrics\['cmc'\]\[1\] is inf"),
        ({"model": object()}, r"metrics\['model'\] has type object"),
    ],
)
def test_write_metrics_json_refuses_what_json_cannot_hold_and_keeps_the_old_file(tmp_path, metrics, culprit):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with pytest.raises(EvaluationError, match=culprit):
        write_metrics_json(str(path), metrics)
    assert path.read_text() == "old"
    assert no_temporaries_left(tmp_path)
