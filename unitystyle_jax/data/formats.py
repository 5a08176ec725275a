"""Dataset file naming: the one place that knows how Market-1501, DukeMTMC-reID, MSMT17, custom CSV folders
and the synthetic dataset lay out their images, identities and cameras.

Everything else works on `Record`s, so relabelling and junk rules are shared by the TFDS builders, the stats
command and the synthetic generator. Every bad input raises `DatasetError` with a one-line message that names
the offending file or folder (and line, for list files), so command-line tools can print it as it is.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import json
import os
import re
import warnings

from PIL import Image

from unitystyle_jax.core.errors import DatasetError

DATASETS = ("market1501", "dukemtmc", "msmt17", "custom", "synthetic")
SPLITS = ("train", "query", "gallery")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
JUNK_PID = -1  # Market's "junk" images: neither a match nor a distractor, dropped everywhere.

# Market-1501 layout, shared by DukeMTMC-reID and the synthetic dataset.
MARKET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
_MARKET_NAME = re.compile(r"([-\d]+)_c(\d)")
_MARKET_CAMERAS = {"market1501": 6, "dukemtmc": 8}

# MSMT17 (V1): image folders plus `path label` list files at the root; train = train + val, as torchreid does.
_MSMT_FOLDERS = {"train": "train", "query": "test", "gallery": "test"}
_MSMT_LISTS = {
    "train": ("list_train.txt", "list_val.txt"),
    "query": ("list_query.txt",),
    "gallery": ("list_gallery.txt",),
}
_MSMT_CAMERAS = 15

# custom: `<split>.csv` with header path,pid,camid; paths relative to the folder, camid 0-based.
_CUSTOM_COLUMNS = ("path", "pid", "camid")

SYNTHETIC_META = "meta.json"


@dataclasses.dataclass(frozen=True)
class Record:
    """One image: absolute path, identity, 0-based camera, and its path relative to the split root."""

    path: str
    pid: int
    camid: int
    name: str


@dataclasses.dataclass(frozen=True)
class Splits:
    """A whole dataset: train identities relabelled 0..num_train_ids-1; query/gallery keep raw identities.

    `cameras` are the 0-based cameras the training split really has, sorted, gaps kept (c1, c2, c5 -> 0, 1, 4):
    a folder may hold fewer cameras than its format allows, and each camera's UnityGAN needs training images.
    """

    train: tuple[Record, ...]
    query: tuple[Record, ...]
    gallery: tuple[Record, ...]
    num_train_ids: int
    cameras: tuple[int, ...]

    @property
    def num_cameras(self) -> int:
        return len(self.cameras)

    def cameras_of(self, split: str) -> tuple[int, ...]:
        return tuple(sorted({r.camid for r in getattr(self, split)}))


def market_file_name(pid: int, camid: int, sequence: int, frame: int, box: int = 1) -> str:
    """Market-1501 file name (`0002_c1s1_000451_03.jpg`) for a 0-based camera; junk keeps the `-1_` prefix."""
    person = f"{pid:04d}" if pid >= 0 else str(pid)
    return f"{person}_c{camid + 1}s{sequence}_{frame:06d}_{box:02d}.jpg"


def read_meta(root: str) -> dict | None:
    """The synthetic dataset's `meta.json` (its generation spec), or None when the folder has none."""
    path = os.path.join(root, SYNTHETIC_META)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: unreadable metadata ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("spec"), dict):
        raise DatasetError(f"{path}: metadata has no 'spec' object")
    return meta


def camera_label(dataset: str, camid: int) -> str:
    """A 0-based camera as the dataset's own files name it ("c6"); a custom dataset's CSVs use the id ("id 5")."""
    return f"id {camid}" if dataset == "custom" else f"c{camid + 1}"


def camera_name(dataset: str, camid: int) -> str:
    """A camera in messages: its own name and the id that flags and folders (gan/cam5) use."""
    label = camera_label(dataset, camid)
    return f"camera {label}" if dataset == "custom" else f"camera {label} (id {camid})"


def camera_names(dataset: str, camids) -> str:
    """Several cameras in a message, each as `camera_name` gives it."""
    return ", ".join(camera_name(dataset, c) for c in camids)


def _camera_limit(name: str, root: str) -> int | None:
    """The highest camera number the format allows (file names are checked against it); None for custom."""
    if name == "msmt17":
        return _MSMT_CAMERAS
    if name == "synthetic":
        return _synthetic_cameras(root)
    return _MARKET_CAMERAS.get(name)


def _synthetic_cameras(root: str) -> int | None:
    meta = read_meta(root)
    if meta is None:
        return None
    cameras = meta["spec"].get("num_cameras")
    if not isinstance(cameras, int) or cameras < 1:
        raise DatasetError(f"{os.path.join(root, SYNTHETIC_META)}: 'num_cameras' must be a positive integer")
    return cameras


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _check_root(root: str) -> None:
    if not os.path.isdir(root):
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")


def _is_image(file_name: str) -> bool:
    return file_name.lower().endswith(IMAGE_SUFFIXES)


def _check_camera(where: str, camera: int, num_cameras: int | None) -> None:
    """`camera` is 1-based as written in file names."""
    if camera < 1 or (num_cameras is not None and camera > num_cameras):
        limit = f"1..{num_cameras}" if num_cameras is not None else ">= 1"
        raise DatasetError(f"{where}: camera {camera} out of range {limit}")


def _check_pid(where: str, pid: int) -> None:
    if pid < JUNK_PID:
        raise DatasetError(f"{where}: identity {pid} is negative (only {JUNK_PID} = junk is allowed)")


@contextlib.contextmanager
def _reading(path: str):
    """Turn a list file that cannot be read as text into a DatasetError naming it."""
    try:
        yield
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read as a UTF-8 text list ({e})") from None


def _relative_file(list_file: str, line_number: int, base: str, relative: str) -> str:
    """Resolve a list-file path under `base`, refusing paths that escape the dataset or do not exist."""
    where = f"{list_file}:{line_number}"
    normal = os.path.normpath(relative)
    if os.path.isabs(relative) or normal == ".." or normal.startswith(".." + os.sep):
        raise DatasetError(f"{where}: path {relative!r} escapes the dataset root")
    path = os.path.join(base, normal)
    if not os.path.isfile(path):
        raise DatasetError(f"{where}: listed image {path} does not exist")
    return path


def _read_market_folder(name: str, root: str, split: str) -> list[Record]:
    folder = os.path.join(root, MARKET_FOLDERS[split])
    if not os.path.isdir(folder):
        raise DatasetError(f"missing split folder {folder}")
    return _market_named(folder, name, _camera_limit(name, root))


def _market_named(folder: str, name: str, num_cameras: int | None) -> list[Record]:
    """The images of `folder` named as Market-1501's (`<id>_c<camera>...`), unsorted, junk kept."""
    records = []
    for entry in os.scandir(folder):
        if not entry.is_file() or not _is_image(entry.name):
            continue  # Thumbs.db, .DS_Store, sub-folders: not part of the dataset.
        match = _MARKET_NAME.match(entry.name)
        if match is None:
            raise DatasetError(f"{entry.path}: file name does not match the {name} pattern <id>_c<camera>...")
        try:
            pid, camera = int(match.group(1)), int(match.group(2))
        except ValueError:
            raise DatasetError(f"{entry.path}: identity {match.group(1)!r} is not an integer") from None
        _check_pid(entry.path, pid)
        _check_camera(entry.path, camera, num_cameras)
        records.append(Record(path=os.path.abspath(entry.path), pid=pid, camid=camera - 1, name=entry.name))
    return records


def _read_msmt_lists(root: str, split: str) -> list[Record]:
    base = os.path.join(root, _MSMT_FOLDERS[split])
    if not os.path.isdir(base):
        raise DatasetError(f"missing split folder {base}")
    records = []
    for list_name in _MSMT_LISTS[split]:
        list_file = os.path.join(root, list_name)
        if not os.path.isfile(list_file):
            raise DatasetError(f"missing list file {list_file}")
        with _reading(list_file), open(list_file, encoding="utf-8") as f:
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{list_file}:{line_number}"
                fields = line.split()
                if len(fields) != 2 or not re.fullmatch(r"-?\d+", fields[1]):
                    raise DatasetError(f"{where}: expected '<path> <label>', got {line.strip()!r}")
                relative, pid = fields[0], int(fields[1])
                path = _relative_file(list_file, line_number, base, relative)
                camera_field = os.path.basename(relative).split("_")
                if len(camera_field) < 3 or not camera_field[2].isdigit():
                    raise DatasetError(
                        f"{where}: file name {relative!r} has no camera field <id>_<n>_<camera>_..."
                    )
                _check_pid(where, pid)
                camera = int(camera_field[2])
                _check_camera(where, camera, _MSMT_CAMERAS)
                records.append(
                    Record(
                        path=os.path.abspath(path), pid=pid, camid=camera - 1, name=os.path.normpath(relative)
                    )
                )
    return records


def _parse_int(where: str, column: str, value: str | None) -> int:
    if value is None or not re.fullmatch(r"\s*-?\d+\s*", value):
        raise DatasetError(f"{where}: {column} {value!r} is not an integer")
    return int(value)


def _read_custom_csv(root: str, split: str) -> list[Record]:
    csv_file = os.path.join(root, f"{split}.csv")
    if not os.path.isfile(csv_file):
        raise DatasetError(f"missing list file {csv_file}")
    records = []
    for where, line_number, fields in _csv_rows(csv_file, (_CUSTOM_COLUMNS,)):
        relative = fields["path"].strip()
        pid, camid = _parse_int(where, "pid", fields["pid"]), _parse_camid(where, fields["camid"])
        _check_pid(where, pid)
        path = _relative_file(csv_file, line_number, root, relative)
        records.append(
            Record(path=os.path.abspath(path), pid=pid, camid=camid, name=os.path.normpath(relative))
        )
    return records


def _csv_rows(csv_file: str, headers):
    """(where, line number, {column: value}) of each non-empty row of a CSV list whose header is one of
    `headers`; DatasetError naming the line for a bad header or a row of the wrong length."""
    with _reading(csv_file), open(csv_file, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = tuple(column.strip() for column in next(reader, []))
        if header not in headers:
            allowed = " or ".join(",".join(h) for h in headers)
            raise DatasetError(f"{csv_file}:1: header must be {allowed}, got {','.join(header)!r}")
        for row in reader:
            if not row:
                continue
            where = f"{csv_file}:{reader.line_num}"
            if len(row) != len(header):
                raise DatasetError(
                    f"{where}: expected {len(header)} fields {','.join(header)}, got {len(row)}"
                )
            yield where, reader.line_num, dict(zip(header, row))


def _parse_camid(where: str, value: str) -> int:
    camid = _parse_int(where, "camid", value)
    if camid < 0:
        raise DatasetError(f"{where}: camid {camid} out of range >= 0")
    return camid


def read_images(source: str) -> tuple[list[Record], bool]:
    """Any images to take features of: a folder of images named as Market-1501's (`<id>_c<camera>...`, as
    DukeMTMC-reID and the synthetic dataset name theirs), or a CSV file with header `path,camid` or
    `path,pid,camid` (paths relative to the CSV's folder, or absolute; camid 0-based). Returns (records sorted
    by name, whether their identities are known); an unknown identity is JUNK_PID. DatasetError on a bad entry.
    """
    if os.path.isdir(source):
        records = _market_named(source, "market1501", None)
        known = True
    elif os.path.isfile(source):
        records, known = _read_image_csv(source)
    else:
        raise DatasetError(f"{source} is neither a folder of images nor a CSV file")
    if not records:
        raise DatasetError(f"{source} has no images")
    return sorted(records, key=lambda r: r.name), known


def _read_image_csv(csv_file: str) -> tuple[list[Record], bool]:
    base, records, known = os.path.dirname(os.path.abspath(csv_file)), [], False
    for where, _, fields in _csv_rows(csv_file, (("path", "camid"), _CUSTOM_COLUMNS)):
        relative = fields["path"].strip()
        known = "pid" in fields
        pid = _parse_int(where, "pid", fields["pid"]) if known else JUNK_PID
        camid = _parse_camid(where, fields["camid"])
        _check_pid(where, pid)
        path = relative if os.path.isabs(relative) else os.path.join(base, relative)
        if not os.path.isfile(path):
            raise DatasetError(f"{where}: listed image {path} does not exist")
        records.append(Record(path=os.path.abspath(path), pid=pid, camid=camid, name=relative))
    return records, known


def read_split(name: str, root: str, split: str) -> list[Record]:
    """One split with raw identities, junk (-1) dropped, sorted by name; DatasetError on any bad entry."""
    _check_name(name)
    _check_split(split)
    _check_root(root)
    if name == "msmt17":
        records = _read_msmt_lists(root, split)
    elif name == "custom":
        records = _read_custom_csv(root, split)
    else:
        records = _read_market_folder(name, root, split)
    kept = sorted((r for r in records if r.pid != JUNK_PID), key=lambda r: r.name)
    if not kept:
        raise DatasetError(f"{name} split {split!r} under {root} has no images")
    return kept


def load(name: str, root: str) -> Splits:
    """All three splits; train ids relabelled 0..N-1 in sorted raw-id order (query/gallery keep raw ids)."""
    train, query, gallery = (read_split(name, root, split) for split in SPLITS)
    labels = {pid: label for label, pid in enumerate(sorted({r.pid for r in train}))}
    relabelled = tuple(dataclasses.replace(r, pid=labels[r.pid]) for r in train)
    return Splits(
        train=relabelled,
        query=tuple(query),
        gallery=tuple(gallery),
        num_train_ids=len(labels),
        cameras=tuple(sorted({r.camid for r in train})),
    )


def _decodes(record: Record) -> bool:
    try:
        with Image.open(record.path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def verify_images(records, skip_bad: bool = False) -> list[Record]:
    """Decode every image fully (a dataset check before hours of training).

    A corrupt file raises DatasetError naming it; with `skip_bad` the corrupt ones are dropped with one
    warning giving their count.
    """
    records = list(records)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        ok = list(pool.map(_decodes, records))  # PIL releases the GIL while decoding.
    bad = [r for r, good in zip(records, ok) if not good]
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DatasetError(f"{bad[0].path}: not a readable image{more}")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s), first: {bad[0].path}", stacklevel=2)
    return [r for r, good in zip(records, ok) if good]
