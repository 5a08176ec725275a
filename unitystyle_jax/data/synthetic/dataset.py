"""The dataset: who is seen by which camera in which split, each detection box drawn, the Market-layout folder
written (atomically, reused only when it is exactly this spec's), and a contact sheet of it."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from unitystyle_jax.core import images
from unitystyle_jax.data import formats
from unitystyle_jax.data.formats import DatasetError
from unitystyle_jax.data.synthetic.cameras import CameraStyle, apply_style, camera_styles, draw_background
from unitystyle_jax.data.synthetic.people import Person, draw_person, random_person, random_pose
from unitystyle_jax.data.synthetic.spec import RENDER_VERSION, Stream, SyntheticSpec, stream

_SUPERSAMPLE = 2  # Draw at 2x and downsample: anti-aliased edges without an anti-aliasing rasteriser.


def _draw_occluder(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], style: CameraStyle, rng: np.random.Generator
) -> None:
    """Something between camera and person: a pole, or a low object (car, bench, railing) hiding the legs."""
    w, h = size
    colour = style.clutter[rng.integers(3)]
    if rng.uniform() < 0.4:
        x, pole = rng.uniform(0.2, 0.8) * w, rng.uniform(0.08, 0.18) * w
        draw.rectangle((x, 0, x + pole, h), fill=colour)
    else:
        y = rng.uniform(0.6, 0.8) * h
        draw.rectangle((rng.uniform(-0.5, 0.2) * w, y, rng.uniform(0.8, 1.5) * w, h), fill=colour)


def render_image(
    spec: SyntheticSpec,
    style: CameraStyle,
    sequence: int,
    person: Person | None,
    rng: np.random.Generator,
    crop: tuple[float, float, float] = (1.0, 0.0, 0.0),
) -> Image.Image:
    """One detection box from one camera. `crop` = (zoom, dx, dy) frames only part of the scene, the way a bad
    detection (Market's distractors and junk) does; `person=None` frames background only."""
    size = (spec.width * _SUPERSAMPLE, spec.height * _SUPERSAMPLE)
    canvas = Image.new("RGB", size)
    draw = ImageDraw.Draw(canvas)
    draw_background(draw, size, style, rng)
    if rng.uniform() < 0.15:  # another pedestrian half in the box, behind the subject
        passer = dataclasses.replace(random_pose(rng), dx=float(rng.choice([-0.5, 0.5])), scale=0.85)
        draw_person(canvas, random_person(rng), passer)
    if person is not None:
        draw_person(canvas, person, random_pose(rng))
    if rng.uniform() < spec.occlusion_probability:
        _draw_occluder(draw, size, style, rng)
    zoom, dx, dy = crop
    if zoom != 1.0 or dx or dy:
        cw, ch = size[0] / zoom, size[1] / zoom
        x0, y0 = (size[0] - cw) / 2 + dx * size[0], (size[1] - ch) / 2 + dy * size[1]
        canvas = canvas.transform(
            size,
            Image.Transform.EXTENT,
            (x0, y0, x0 + cw, y0 + ch),
            Image.Resampling.BILINEAR,
            fillcolor=style.ground,
        )
    canvas = canvas.resize((spec.width, spec.height), Image.Resampling.BOX)
    return apply_style(canvas, style, sequence, rng)


@dataclasses.dataclass(frozen=True)
class _Shot:
    split: str
    pid: int  # raw Market id: > 0 a person, 0 a distractor, -1 junk
    camid: int
    sequence: int


def _layout(spec: SyntheticSpec) -> list[_Shot]:
    """Market-like: ids spread over a larger id range and interleaved between train and test; every identity
    seen by >= min_cameras_per_id cameras; each test identity has query images in `queries_per_id` of its
    cameras and gallery images in all of them (so a query's camera may also hold gallery matches)."""
    rng = stream(spec.seed, Stream.LAYOUT)
    total = spec.num_train_ids + spec.num_test_ids
    ids = rng.choice(np.arange(1, 3 * total + 1), total, replace=False)
    train_ids, test_ids = sorted(ids[: spec.num_train_ids]), sorted(ids[spec.num_train_ids :])

    def cameras() -> list[int]:
        count = rng.integers(spec.min_cameras_per_id, spec.num_cameras + 1)
        return sorted(int(c) for c in rng.choice(spec.num_cameras, count, replace=False))

    def sequence() -> int:
        return int(rng.integers(1, spec.sequences_per_camera + 1))

    shots = []
    for pid in train_ids:
        shots += [
            _Shot("train", int(pid), c, sequence())
            for c in cameras()
            for _ in range(spec.images_per_id_camera)
        ]
    for pid in test_ids:
        seen = cameras()
        queried = rng.choice(seen, min(spec.queries_per_id, len(seen)), replace=False)
        shots += [_Shot("query", int(pid), int(c), sequence()) for c in sorted(queried)]
        shots += [
            _Shot("gallery", int(pid), c, sequence()) for c in seen for _ in range(spec.images_per_id_camera)
        ]
    for pid, count in ((0, spec.num_distractors), (formats.JUNK_PID, spec.num_junk)):
        shots += [
            _Shot("gallery", pid, int(rng.integers(spec.num_cameras)), sequence()) for _ in range(count)
        ]
    return shots


def _bad_detection(rng: np.random.Generator, junk: bool) -> tuple[bool, tuple[float, float, float]]:
    """Distractors: background or a badly framed stranger; junk: a box that barely holds anyone."""
    if junk:
        return True, (
            float(rng.uniform(2.5, 4.0)),
            float(rng.uniform(-0.3, 0.3)),
            float(rng.uniform(-0.4, 0.4)),
        )
    if rng.uniform() < 0.4:
        return False, (1.0, 0.0, 0.0)
    return True, (float(rng.uniform(1.2, 2.0)), float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)))


def generate(root: str, spec: SyntheticSpec) -> None:
    """Write the dataset (Market-1501 layout plus `meta.json`) into `root`, which must be absent or empty."""
    spec.validate()
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise DatasetError(f"{root} exists and is not empty; refusing to overwrite it")
    for folder in formats.MARKET_FOLDERS.values():
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    styles = camera_styles(spec)
    frames = [0] * spec.num_cameras
    for index, shot in enumerate(_layout(spec)):
        rng = stream(spec.seed, Stream.IMAGE, index)
        if shot.pid > 0:
            person, crop = random_person(stream(spec.seed, Stream.IDENTITY, shot.pid)), (1.0, 0.0, 0.0)
        else:
            has_person, crop = _bad_detection(rng, junk=shot.pid == formats.JUNK_PID)
            person = random_person(stream(spec.seed, Stream.DISTRACTOR, index)) if has_person else None
        style = styles[shot.camid]
        image = render_image(spec, style, shot.sequence, person, rng, crop)
        frames[shot.camid] += int(rng.integers(5, 40))
        name = formats.market_file_name(shot.pid, shot.camid, shot.sequence, frames[shot.camid])
        image.save(os.path.join(root, formats.MARKET_FOLDERS[shot.split], name), quality=style.jpeg_quality)
    with open(os.path.join(root, formats.SYNTHETIC_META), "w", encoding="utf-8") as f:
        json.dump(spec.meta(), f, indent=2, sort_keys=True)
        f.write("\n")


def ensure(root: str, spec: SyntheticSpec) -> None:
    """Make `root` hold exactly this spec's dataset: reuse a match, refuse anything else, and generate
    atomically (into a temporary sibling, then rename) so a killed run never leaves half a dataset behind."""
    spec.validate()
    meta = formats.read_meta(root) if os.path.isdir(root) else None
    if meta is not None:
        _check_same_spec(root, meta, spec)
        return
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise DatasetError(
            f"{root} exists, is not empty and has no {formats.SYNTHETIC_META}; refusing to overwrite"
        )
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(root))}.partial-", dir=parent)
    try:
        generate(partial, spec)
        try:
            os.rename(partial, root)
        except OSError:  # another process finished first: fine if it wrote the same spec
            meta = formats.read_meta(root) if os.path.isdir(root) else None
            if meta is None:
                raise
            _check_same_spec(root, meta, spec)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _check_same_spec(root: str, meta: dict, spec: SyntheticSpec) -> None:
    expected = spec.meta()
    if meta == expected:
        return
    found = meta.get("spec", {})
    changed = [f"{k}={found.get(k)!r} (want {v!r})" for k, v in expected["spec"].items() if found.get(k) != v]
    if meta.get("render_version") != RENDER_VERSION:
        changed.append(f"render_version={meta.get('render_version')!r} (want {RENDER_VERSION})")
    raise DatasetError(
        f"{root} holds a different synthetic dataset: {', '.join(changed) or 'other metadata'}; "
        "use another root or delete it"
    )


def render_grid(root: str, out_png: str, num_ids: int = 6) -> None:
    """A contact sheet of the train split — rows identities (those seen by most cameras), columns cameras — to
    see at a glance that identity survives while style changes."""
    if num_ids < 1:
        raise DatasetError(f"render_grid: num_ids must be >= 1, got {num_ids}")
    splits = formats.load("synthetic", root)
    first: dict[tuple[int, int], formats.Record] = {}
    for record in splits.train:
        first.setdefault((record.pid, record.camid), record)
    seen = collections.Counter(pid for pid, _ in first)
    rows = sorted(seen, key=lambda pid: (-seen[pid], pid))[:num_ids]
    with Image.open(splits.train[0].path) as sample:
        size = sample.size
    unseen = np.full((size[1], size[0], 3), 220, np.uint8)  # this identity never passed this camera

    def cell(pid: int, camid: int) -> np.ndarray:
        record = first.get((pid, camid))
        if record is None:
            return unseen
        with Image.open(record.path) as image:
            return np.asarray(image.convert("RGB").resize(size))

    picture = images.tiled([[cell(pid, camid) for camid in splits.cameras] for pid in rows], gap=4, fill=255)
    sheet = images.labelled(
        picture, [f"cam {camid + 1}" for camid in splits.cameras], [f"id {p}" for p in rows]
    )
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    Image.fromarray(sheet).save(out_png)
