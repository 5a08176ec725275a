"""The synthetic dataset: deterministic, Market-parsable, multi-camera, and styled per camera."""

import collections
import dataclasses
import filecmp
import hashlib
import math
import os
import re

import numpy as np
import pytest
from PIL import Image

from unitystyle_jax.core import images
from unitystyle_jax.data import formats, synthetic
from unitystyle_jax.data.formats import DatasetError

TINY = synthetic.SyntheticSpec.tiny()
# Enough test identities per camera to measure style, small enough to generate in well under a second.
STYLE_PROBE = synthetic.SyntheticSpec(
    num_train_ids=1,
    num_test_ids=16,
    num_cameras=4,
    images_per_id_camera=2,
    height=48,
    width=24,
    num_distractors=0,
    num_junk=0,
    seed=0,
)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic") / "tiny")
    synthetic.ensure(root, TINY)
    return root


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_same_seed_same_bytes_other_seed_other_images(tiny_root, tmp_path):
    again = str(tmp_path / "again")
    synthetic.generate(again, TINY)
    files = _files(tiny_root)
    assert files == _files(again) and "meta.json" in files
    _, mismatch, errors = filecmp.cmpfiles(tiny_root, again, files, shallow=False)
    assert mismatch == errors == []
    other = str(tmp_path / "other")
    synthetic.generate(other, dataclasses.replace(TINY, seed=1))
    assert not _image_digests(tiny_root) & _image_digests(other)


def _image_digests(root):
    return {
        hashlib.sha1(open(os.path.join(root, f), "rb").read()).hexdigest()
        for f in _files(root)
        if f.endswith(".jpg")
    }


def test_layout_is_market_1501(tiny_root):
    splits = formats.load("synthetic", tiny_root)
    assert (splits.num_train_ids, splits.num_cameras) == (TINY.num_train_ids, TINY.num_cameras)
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        for name in os.listdir(os.path.join(tiny_root, folder)):
            assert re.fullmatch(r"(-1|\d{4})_c[1-9]s\d_\d{6}_\d{2}\.jpg", name), name
    with Image.open(splits.query[0].path) as image:
        assert (image.size, image.format, image.mode) == ((TINY.width, TINY.height), "JPEG", "RGB")
    train_raw = {r.pid for r in formats.read_split("synthetic", tiny_root, "train")}
    test_ids = {r.pid for r in splits.query}
    assert len(test_ids) == TINY.num_test_ids and not train_raw & test_ids and 0 not in train_raw | test_ids
    per_id = collections.Counter(r.pid for r in splits.train)
    cameras = collections.defaultdict(set)
    for r in splits.train:
        cameras[r.pid].add(r.camid)
    for pid, count in per_id.items():
        assert len(cameras[pid]) >= 2 and count == len(cameras[pid]) * TINY.images_per_id_camera


def test_every_test_identity_is_in_two_cameras_and_every_query_has_a_cross_camera_match(tiny_root):
    splits = formats.load("synthetic", tiny_root)
    gallery_cameras = collections.defaultdict(set)
    for r in splits.gallery:
        gallery_cameras[r.pid].add(r.camid)
    query_cameras = collections.defaultdict(set)
    for r in splits.query:
        query_cameras[r.pid].add(r.camid)
        assert gallery_cameras[r.pid] - {r.camid}, f"query {r.name} has no match in another camera"
    for pid in query_cameras:
        assert len(gallery_cameras[pid]) >= 2
        assert query_cameras[pid] <= gallery_cameras[pid]  # the query's own camera holds matches too
    assert len(splits.query) == TINY.num_test_ids * TINY.queries_per_id


def test_gallery_has_distractors_and_junk_like_market(tiny_root):
    gallery = formats.load("synthetic", tiny_root).gallery
    assert sum(r.pid == 0 for r in gallery) == TINY.num_distractors
    on_disk = os.listdir(os.path.join(tiny_root, "bounding_box_test"))
    assert sum(n.startswith("-1_") for n in on_disk) == TINY.num_junk
    assert len(on_disk) == len(gallery) + TINY.num_junk  # junk is on disk but never loaded


def _thumbnails(records):
    return np.stack(
        [
            np.asarray(Image.open(r.path).convert("RGB").resize((8, 16), Image.Resampling.BOX), np.float32)
            / 255.0
            for r in records
        ]
    )


def _style_spread(root):
    """(spread of per-camera mean colours across cameras) / (spread of image mean colours within a camera)."""
    gallery = formats.load("synthetic", root).gallery
    means = _thumbnails(gallery).mean(axis=(1, 2))
    cams = np.array([r.camid for r in gallery])
    per_camera = [means[cams == c] for c in np.unique(cams)]
    across = np.std([m.mean(axis=0) for m in per_camera], axis=0).mean()
    within = np.mean([m.std(axis=0).mean() for m in per_camera])
    return across / within


def _cross_camera_rank1(root, normalise):
    """Nearest-neighbour Rank-1 of tiny thumbnails, Market protocol (same id in the same camera dropped)."""
    splits = formats.load("synthetic", root)
    query, gallery = _thumbnails(splits.query), _thumbnails(splits.gallery)
    if normalise:  # per-image, per-channel standardisation: a crude removal of global colour style
        query, gallery = (
            (x - x.mean((1, 2), keepdims=True)) / (x.std((1, 2), keepdims=True) + 1e-3)
            for x in (query, gallery)
        )
    distance = ((query.reshape(len(query), 1, -1) - gallery.reshape(1, len(gallery), -1)) ** 2).sum(-1)
    qp, qc = np.array([r.pid for r in splits.query]), np.array([r.camid for r in splits.query])
    gp, gc = np.array([r.pid for r in splits.gallery]), np.array([r.camid for r in splits.gallery])
    distance[(qp[:, None] == gp[None]) & (qc[:, None] == gc[None])] = np.inf
    return float(np.mean(gp[distance.argmin(axis=1)] == qp))


@pytest.fixture(scope="module")
def style_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("style")
    styled, neutral = str(base / "styled"), str(base / "neutral")
    synthetic.generate(styled, STYLE_PROBE)
    synthetic.generate(neutral, dataclasses.replace(STYLE_PROBE, style_strength=0.0))
    return styled, neutral


def test_camera_styles_dominate_colour_statistics(style_roots):
    styled, neutral = style_roots
    styled_ratio, neutral_ratio = _style_spread(styled), _style_spread(neutral)
    assert styled_ratio > 2.0, styled_ratio  # cameras differ far more than images within a camera do
    assert styled_ratio > 1.5 * neutral_ratio, (
        styled_ratio,
        neutral_ratio,
    )  # ... because of the camera style


def test_style_hides_identity_but_identity_is_recoverable(style_roots):
    styled, _ = style_roots
    chance = 1 / STYLE_PROBE.num_test_ids
    raw, normalised = _cross_camera_rank1(styled, False), _cross_camera_rank1(styled, True)
    assert raw <= chance, raw  # raw pixels: the camera style wins over identity
    assert normalised >= 2 * chance and normalised > raw, (raw, normalised)


def _light_pattern(style) -> float:
    """How much a camera's rendering of a flat grey wall varies across the frame, after 8x8 block averaging (so
    sensor noise drops out). A per-channel colour map is the same at every pixel: it cannot remove this."""
    flat = Image.new("RGB", (32, 64), (128, 128, 128))
    pixels = np.asarray(synthetic.apply_style(flat, style, 1, np.random.default_rng(0)), np.float32)
    blocks = pixels.reshape(8, 8, 4, 8, 3).mean(axis=(1, 3))
    return float((blocks.std(axis=(0, 1)) / (blocks.mean(axis=(0, 1)) + 1.0)).mean())


def test_local_styles_vary_across_the_frame_where_global_ones_do_not():
    """Local light (a gradient, vignetting, a colour cast) leaves every camera a spatial pattern that a global
    per-channel normalisation cannot undo; strength 0 draws nothing, leaves the global styles' draws and the
    spec's metadata (so older folders) as they were."""
    spec = STYLE_PROBE
    local = dataclasses.replace(spec, local_style_strength=1.0)
    flat = [_light_pattern(s) for s in synthetic.camera_styles(spec)]
    lit = [_light_pattern(s) for s in synthetic.camera_styles(local)]
    assert max(flat) < 0.02 and min(lit) > 3 * max(flat), (flat, lit)
    assert (
        "local_style_strength" not in spec.meta()["spec"]
        and local.meta()["spec"]["local_style_strength"] == 1
    )
    styles = synthetic.camera_styles(spec)
    assert all(s.light_gradient == s.vignetting == 0 and s.cast == (0.0, 0.0, 0.0) for s in styles)
    assert [s.gains for s in synthetic.camera_styles(local)] == [s.gains for s in styles]


def _chart_residual(spec) -> float:
    """How far each camera's rendering of a colour chart (random flat patches, block-averaged so noise drops out)
    lies from the best per-channel affine map of its global-styles-only rendering: what a per-channel colour
    normalisation cannot undo. RMS in [0, 1] units, the worst camera."""
    rng = np.random.default_rng(0)
    chart = Image.fromarray(np.kron(rng.integers(0, 256, (8, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8))
    worst = 0.0
    global_only = dataclasses.replace(spec, sensor_style_strength=0.0)
    for styled, plain in zip(synthetic.camera_styles(spec), synthetic.camera_styles(global_only)):
        patches = []
        for style in (styled, plain):
            pixels = np.asarray(synthetic.apply_style(chart, style, 1, np.random.default_rng(1)), np.float32)
            patches.append(pixels[2:-2:8, 2:-2:8].reshape(-1, 3) / 255.0)  # patch centres: blur stays inside
        target, source = patches
        residual = [
            target[:, k] - np.polyval(np.polyfit(source[:, k], target[:, k], 1), source[:, k])
            for k in range(3)
        ]
        worst = max(worst, float(np.sqrt(np.mean(np.square(residual)))))
    return worst


def test_sensor_styles_are_what_no_per_channel_colour_map_undoes():
    """The sensor family (colour mixing, a tone curve, blur, noise) moves each camera's colours in ways no
    per-channel gain and offset can fit; at strength 0 it draws nothing and leaves the metadata as it was."""
    spec = STYLE_PROBE
    sensor = dataclasses.replace(spec, sensor_style_strength=1.0)
    assert _chart_residual(spec) < 1e-6  # negative control: the same rendering twice
    assert _chart_residual(sensor) > 0.03, _chart_residual(sensor)
    assert (
        "sensor_style_strength" not in spec.meta()["spec"]
        and sensor.meta()["spec"]["sensor_style_strength"] == 1
    )
    plain, styled = synthetic.camera_styles(spec), synthetic.camera_styles(sensor)
    assert all(s.tone == 0 and s.mixing == synthetic.CameraStyle.mixing for s in plain)
    for s in styled:
        np.testing.assert_allclose(
            np.reshape(s.mixing, (3, 3)).sum(axis=1), 1.0, atol=1e-9
        )  # greys stay grey
    assert [s.gains for s in styled] == [s.gains for s in plain]  # the global styles' draws do not move


def test_ensure_reuses_a_matching_folder_and_refuses_anything_else(tiny_root, tmp_path):
    meta = os.path.join(tiny_root, "meta.json")
    before = os.stat(meta).st_mtime_ns
    synthetic.ensure(tiny_root, TINY)
    assert os.stat(meta).st_mtime_ns == before
    with pytest.raises(DatasetError, match=r"holds a different synthetic dataset: num_cameras=3 \(want 4\)"):
        synthetic.ensure(tiny_root, dataclasses.replace(TINY, num_cameras=4))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"busy exists, is not empty and has no meta\.json; refusing"):
        synthetic.ensure(str(tmp_path / "busy"), TINY)
    with pytest.raises(DatasetError, match=r"busy exists and is not empty; refusing to overwrite"):
        synthetic.generate(str(tmp_path / "busy"), TINY)
    assert os.listdir(tmp_path / "busy") == ["notes.txt"]


def test_ensure_fills_an_empty_folder_and_leaves_no_partial_copy(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    synthetic.ensure(str(root), dataclasses.replace(TINY, num_distractors=0, num_junk=0))
    assert formats.load("synthetic", str(root)).num_cameras == TINY.num_cameras
    assert os.listdir(tmp_path) == ["empty"]


@pytest.mark.parametrize(
    "field, value, pattern",
    [
        ("num_cameras", 1, r"num_cameras must be an integer >= 2, got 1"),
        ("height", 4, r"height must be an integer >= 16, got 4"),
        ("min_cameras_per_id", 4, r"min_cameras_per_id 4 exceeds num_cameras 3"),
        ("style_strength", 1.5, r"style_strength must be a number in \[0, 1\], got 1\.5"),
        ("local_style_strength", -0.5, r"local_style_strength must be a number in \[0, 1\], got -0\.5"),
        ("sensor_style_strength", 2, r"sensor_style_strength must be a number in \[0, 1\], got 2"),
    ],
)
def test_spec_validation_names_the_field(tmp_path, field, value, pattern):
    with pytest.raises(DatasetError, match=pattern):
        synthetic.ensure(str(tmp_path / "x"), dataclasses.replace(TINY, **{field: value}))
    assert not (tmp_path / "x").exists()


def test_render_grid_rows_are_identities_columns_cameras(tiny_root, tmp_path):
    out = str(tmp_path / "sheet" / "grid.png")
    synthetic.render_grid(tiny_root, out, num_ids=3)
    with Image.open(out) as grid:
        width, height = grid.size
        assert grid.format == "PNG"
    scale = math.ceil(images.MIN_HEIGHT / (3 * TINY.height + 16))  # a small sheet is enlarged by whole pixels
    assert scale * TINY.num_cameras * TINY.width < width < scale * TINY.num_cameras * (TINY.width + 20) + 60
    assert scale * 3 * TINY.height < height < scale * 3 * (TINY.height + 20) + 30
    with pytest.raises(DatasetError, match="num_ids must be >= 1"):
        synthetic.render_grid(tiny_root, out, num_ids=0)
