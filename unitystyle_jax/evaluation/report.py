"""What an evaluation leaves behind: a CMC plot, a picture of ranked lists, the metrics as JSON, and each query's
own figures (what a comparison pairs its rows on, `paired`).

The CMC plot is drawn on matplotlib's Agg canvas through a `Figure` object, never pyplot, so no global backend or
figure state is touched; the ranked lists are framed with PIL and tiled by `core.images` (a grid of thumbnails needs no
plotting library, and every evaluation draws one). Every file is written atomically (a temporary file in the same folder,
then a rename), so a reader never sees half a PNG or half a JSON, even if the run is killed mid-write.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, UnidentifiedImageError

from unitystyle_jax.core import files, images
from unitystyle_jax.evaluation.distance import EvaluationError, as_distance_matrix, check_positive_int
from unitystyle_jax.evaluation.metrics import as_labels, ranked_gallery

THUMBNAIL_SIZE = (64, 128)  # (width, height): re-ID crops are 1:2
PER_QUERY_FILE = "per_query.npz"
# Ranked lists, in pixels: each thumbnail's frame, the caption band above it, and the space between cells.
FRAME, CAPTION, GAP = 4, 26, 6
MATCH_COLOUR, MISMATCH_COLOUR, QUERY_COLOUR = "#1a9641", "#d7191c", "#2b83ba"


def plot_cmc(curves: Mapping[str, Sequence[float]], out_png: str) -> None:
    """One CMC curve per label (rank 1..len on x, matching rate in % on y); the legend shows each rank-1."""
    if not curves:
        raise EvaluationError("plot_cmc needs at least one curve")
    figure = Figure(figsize=(6, 4.5), dpi=100)
    axes = figure.add_subplot()
    for label, curve in curves.items():
        curve = np.asarray(curve, dtype=float)
        if curve.ndim != 1 or len(curve) == 0 or not np.all((curve >= 0) & (curve <= 1)):
            raise EvaluationError(f"CMC curve {label!r} must be a non-empty 1-D array of rates in [0, 1]")
        axes.plot(
            np.arange(1, len(curve) + 1),
            100 * curve,
            marker="." if len(curve) <= 20 else None,
            label=f"{label} (rank-1 {100 * curve[0]:.1f}%)",
        )
    axes.set(xlabel="rank", ylabel="matching rate (%)", title="CMC", ylim=(0, 100.5))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    files.write_atomically(out_png, lambda file: figure.savefig(file, format="png"), binary=True)


def plot_ranked_lists(
    query_images: Sequence,
    gallery_images: Sequence,
    distmat,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    out_png: str,
    num_queries: int = 5,
    topk: int = 10,
) -> None:
    """A row per query: the query (blue frame), then its top-k gallery images in protocol order (same identity
    and camera excluded), framed green for a true match and red otherwise.

    Images are file paths or HxW(x3) arrays (uint8, or floats in [0, 1]). The queries shown are spread evenly
    over those that have a true match, so the picture does not show one identity five times.
    """
    distmat = as_distance_matrix("distmat", distmat)
    num_query, num_gallery = distmat.shape
    for name, given, length in (
        ("query_images", query_images, num_query),
        ("gallery_images", gallery_images, num_gallery),
    ):
        if len(given) != length:
            raise EvaluationError(f"{name} has {len(given)} entries, but distmat has {length}")
    q_pids = as_labels("q_pids", q_pids, num_query, "distmat rows")
    q_camids = as_labels("q_camids", q_camids, num_query, "distmat rows")
    g_pids = as_labels("g_pids", g_pids, num_gallery, "distmat columns")
    g_camids = as_labels("g_camids", g_camids, num_gallery, "distmat columns")
    check_positive_int("num_queries", num_queries)
    check_positive_int("topk", topk)
    valid = np.flatnonzero(((q_pids[:, None] == g_pids) & (q_camids[:, None] != g_camids)).any(axis=1))
    if len(valid) == 0:
        raise EvaluationError("no query has a true match in the gallery: nothing to show")
    shown = valid[np.unique(np.linspace(0, len(valid) - 1, min(num_queries, len(valid))).round().astype(int))]

    cells = []
    for query in shown:
        ranked = ranked_gallery(distmat[query], q_pids[query], q_camids[query], g_pids, g_camids)[:topk]
        row = [
            _cell(
                _thumbnail(query_images[query], f"query image {query}"),
                QUERY_COLOUR,
                ("query", f"id {q_pids[query]} cam {q_camids[query]}"),
            )
        ]
        for rank, gallery in enumerate(ranked, start=1):
            colour = MATCH_COLOUR if g_pids[gallery] == q_pids[query] else MISMATCH_COLOUR
            row.append(
                _cell(
                    _thumbnail(gallery_images[gallery], f"gallery image {gallery}"),
                    colour,
                    (f"#{rank}", f"id {g_pids[gallery]} cam {g_camids[gallery]}"),
                )
            )
        cells.append([np.asarray(cell) for cell in row])
    picture = Image.fromarray(images.tiled(cells, gap=GAP, fill=255))
    files.write_atomically(out_png, lambda file: picture.save(file, format="PNG"), binary=True)


def write_metrics_json(path: str, metrics: Mapping) -> None:
    """Metrics (numpy scalars and arrays welcome) as indented, key-sorted JSON, written atomically."""
    text = json.dumps(_plain(metrics, "metrics"), indent=2, sort_keys=True, allow_nan=False) + "\n"
    files.write_atomically(path, lambda file: file.write(text), binary=False)


def write_per_query(directory: str, per_query: dict) -> None:
    """`evaluate_rank`'s per_query arrays, next to the run's metrics.json."""
    np.savez(os.path.join(directory, PER_QUERY_FILE), **per_query)


def read_per_query(directory: str) -> dict:
    path = os.path.join(directory, PER_QUERY_FILE)
    try:
        with np.load(path) as f:
            return {key: f[key] for key in ("query", "first_rank", "ap", "inp")}
    except (OSError, KeyError, ValueError) as e:
        raise EvaluationError(f"{path}: no readable per-query results ({e}); evaluate the run again") from e


def _plain(value, where: str):
    """`value` with numpy types turned into JSON's; EvaluationError naming the key of anything else."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise EvaluationError(f"{where} is {value}, which JSON cannot hold")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise EvaluationError(f"{where} has type {type(value).__name__}, which JSON cannot hold")


def _thumbnail(image, name: str) -> np.ndarray:
    """A path or an array as a THUMBNAIL_SIZE RGB uint8 array."""
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as opened:
                picture = opened.convert("RGB")
        except (OSError, UnidentifiedImageError) as error:
            raise EvaluationError(f"cannot read {name} {os.fspath(image)!r}: {error}") from error
    else:
        array = np.asarray(image)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise EvaluationError(f"{name} must be a path or an HxW(xC) array, got shape {array.shape}")
        if array.dtype.kind == "f":
            array = np.clip(array * 255, 0, 255).round()
        picture = Image.fromarray(array.astype(np.uint8).squeeze()).convert("RGB")
    return np.asarray(picture.resize(THUMBNAIL_SIZE, Image.Resampling.BILINEAR))


def _cell(picture: np.ndarray, colour: str, caption: tuple[str, str]) -> Image.Image:
    """A thumbnail in a FRAME-pixel frame of `colour`, under its two caption lines."""
    width, height = THUMBNAIL_SIZE
    cell = Image.new("RGB", (width + 2 * FRAME, CAPTION + height + 2 * FRAME), "white")
    draw = ImageDraw.Draw(cell)
    draw.rectangle((0, CAPTION, cell.width - 1, cell.height - 1), fill=colour)
    cell.paste(Image.fromarray(picture), (FRAME, CAPTION + FRAME))
    for line, text in enumerate(caption):
        draw.text((FRAME, 2 + 11 * line), text, fill="black")
    return cell
