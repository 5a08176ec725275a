"""The transfer stage: every image of every split into UnityStyle by its camera's generator G; and the
comparison's other styled datasets: CamStyle's generated training images, and the per-camera colour
normalisation.

The output is a dataset in the `custom` format (`<split>.csv` + images) aligned one-to-one with the real splits
(row i of each split is the UnityStyle version of real row i), so the same reader serves it, the input pipeline
mixes it in, and evaluation transfers query and gallery by reading it. It is written to a temporary folder and
renamed when complete: a killed transfer leaves nothing that could be mistaken for a finished one.
"""

import csv
import json
import logging
import os
import shutil
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from unitystyle_jax.core import images, parallel, stage_times
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.data.styled_data import (
    CAMSTYLE_OUTPUT,
    COLOUR_NORM_OUTPUT,
    DONE,
    needed_cameras,
    output_root,
)
from unitystyle_jax.gan.domains import Domains, camstyle_pairs
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.gan.style_stats import StyleStats


def _completed(root: str, source: dict) -> dict | None:
    """The summary of a complete output made from `source` (generators' steps, statistics), or None."""
    done_path = os.path.join(root, DONE)
    if not os.path.exists(done_path):
        return None
    with open(done_path) as f:
        summary = json.load(f)
    if summary.get("source") == source:
        logging.info("transfer: %s is complete for these inputs, skipping", root)
        return summary
    logging.info("transfer: inputs changed since %s was written; writing it again", root)
    return None


class _Writer:
    """Writes translated images into ROOT.partial, then renames it ROOT once complete: a killed transfer
    leaves nothing that could be mistaken for a finished one. Only process 0 writes; every process translates."""

    def __init__(self, root: str, config, mesh):
        self.root, self.partial, self.config, self.mesh = root, root + ".partial", config, mesh
        self.writing = jax.process_index() == 0
        if self.writing:
            shutil.rmtree(self.partial, ignore_errors=True)

    def translate(self, records, translate, names, on_batch=None) -> None:
        """Saves translate(images) of `records` (read at the GAN's size, in [-1, 1]) as ROOT/names[i];
        on_batch(real, fake, first, count) sees each batch (real gathered from every process)."""
        c = self.config
        done = 0
        for local_images, count in pipeline.ordered_batches(
            records, c.gan.height, c.gan.width, c.transfer.batch_size, "gan"
        ):
            real = parallel.to_global(local_images, self.mesh)
            fake = np.asarray(translate(real))[:count]
            if on_batch is not None:
                on_batch(
                    np.asarray(multihost_utils.process_allgather(real, tiled=True))[:count], fake, done, count
                )
            if self.writing:
                for name, image in zip(names[done : done + count], images.to_uint8(fake)):
                    path = os.path.join(self.partial, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(images.encoded(image, name, c.transfer.jpeg_quality))
            done += count

    def write_list(self, split: str, rows) -> None:
        """SPLIT.csv in the custom format: rows of (path, pid, camid)."""
        if self.writing:
            os.makedirs(self.partial, exist_ok=True)
            with open(os.path.join(self.partial, f"{split}.csv"), "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["path", "pid", "camid"])
                writer.writerows(rows)

    def finish(self, summary: dict, workdir: str, began: float) -> dict:
        """Marks the output complete and adds the transfer's time (since `began`) to WORKDIR's stage times."""
        if self.writing:
            with open(os.path.join(self.partial, DONE), "w") as f:
                json.dump(summary, f, indent=2)
            shutil.rmtree(self.root, ignore_errors=True)
            os.replace(self.partial, self.root)
        multihost_utils.sync_global_devices(f"transfer {self.root} done")
        stage_times.add(workdir, "transfer", began)
        return summary


def _aligned(writer, splits, translators, stats) -> None:
    """Every split, each image by its camera's translator, written aligned row by row with the real splits;
    query and gallery batches are measured in `stats`."""
    for split in formats.SPLITS:
        records = getattr(splits, split)
        names = [f"{split}/{i:06d}_{os.path.basename(r.name)}" for i, r in enumerate(records)]
        for camera, translate in translators.items():
            indices = [i for i, r in enumerate(records) if r.camid == camera]
            if not indices:  # a camera need not appear in every split
                continue

            def measure(real, fake, first, count, camera=camera, indices=indices, split=split):
                if split == "train":
                    stats.add_training(camera, real, fake)
                else:
                    stats.add(camera, real, fake, [records[i].pid for i in indices[first : first + count]])

            writer.translate([records[i] for i in indices], translate, [names[i] for i in indices], measure)
        writer.write_list(split, ((n, r.pid, r.camid) for n, r in zip(names, records)))


def run(
    config, workdir: str, splits: formats.Splits, mesh, loader: GeneratorLoader | None = None
) -> tuple[dict, bool]:
    """Writes WORKDIR/unitystyle (unless already complete for the same generators); returns its summary and
    whether this call wrote it. `loader`: the command's, when it has one already."""
    began = time.perf_counter()
    root = output_root(workdir)
    loader = loader or GeneratorLoader(config, mesh)
    generators = {c: loader.restore(workdir, Domains(c)) for c in needed_cameras(splits)}
    source = {"gan_steps": {str(c): g.step for c, g in generators.items()}}
    summary = _completed(root, source)
    if summary is not None:
        return summary, False
    writer, stats = _Writer(root, config, mesh), StyleStats()
    _aligned(writer, splits, generators, stats)
    return writer.finish(
        {
            "source": source,
            "num_generators": len(generators),
            "camstyle_generators": splits.num_cameras * (splits.num_cameras - 1) // 2,
            "images": {s: len(getattr(splits, s)) for s in formats.SPLITS},
            "style": stats.summary(),
        },
        workdir,
        began,
    ), True


def run_camstyle(
    config, workdir: str, splits: formats.Splits, mesh, loader: GeneratorLoader | None = None
) -> tuple[dict, bool]:
    """CamStyle's augmentation: every training image of camera a into the style of every other camera b, by
    the pair's G (a < b) or F (a > b). Writes WORKDIR/camstyle/train.csv (pid = training label, camid = b);
    returns its summary and whether this call wrote it."""
    began = time.perf_counter()
    root = output_root(workdir, CAMSTYLE_OUTPUT)
    pairs = camstyle_pairs(list(splits.cameras))
    loader = loader or GeneratorLoader(config, mesh)
    models = {(p, net): loader.restore(workdir, p, net) for p in pairs for net in "GF"}
    source = {"gan_steps": {p.name: models[p, "G"].step for p in pairs}}
    summary = _completed(root, source)
    if summary is not None:
        return summary, False
    writer, rows = _Writer(root, config, mesh), []
    for pair in pairs:
        for source_camera, target, net in (
            (pair.x_camera, pair.y_camera, "G"),
            (pair.y_camera, pair.x_camera, "F"),
        ):
            records = [r for r in splits.train if r.camid == source_camera]
            names = [
                f"train/cam{target}/{os.path.splitext(os.path.basename(r.name))[0]}.jpg" for r in records
            ]
            writer.translate(records, models[pair, net], names)
            rows += [(n, r.pid, target) for n, r in zip(names, records)]
    writer.write_list("train", sorted(rows))
    summary = {"source": source, "num_generators": len(pairs), "images": {"train": len(rows)}}
    return writer.finish(summary, workdir, began), True


def camera_colour_statistics(config, splits: formats.Splits, mesh) -> dict:
    """Per-channel mean and std of each training camera's images and of the whole training split ('all'), at
    the GAN's size in [-1, 1]: what the colour-normalisation control standardises with."""
    sums = {}
    for camera in splits.cameras:
        records = [r for r in splits.train if r.camid == camera]
        total, total_sq, count = np.zeros(3), np.zeros(3), 0
        for local_images, n in pipeline.ordered_batches(
            records, config.gan.height, config.gan.width, config.transfer.batch_size, "gan"
        ):
            images = np.asarray(
                multihost_utils.process_allgather(parallel.to_global(local_images, mesh), tiled=True)
            )[:n]
            total += images.sum(axis=(0, 1, 2))
            total_sq += np.square(images).sum(axis=(0, 1, 2))
            count += images.shape[0] * images.shape[1] * images.shape[2]
        sums[camera] = (total, total_sq, count)

    def stats(total, total_sq, count):
        mean = total / count
        return {"mean": mean.tolist(), "std": np.sqrt(np.maximum(total_sq / count - mean**2, 1e-12)).tolist()}

    result = {str(c): stats(*v) for c, v in sums.items()}
    result["all"] = stats(*(sum(v[i] for v in sums.values()) for i in range(3)))
    return result


def run_colour_norm(config, workdir: str, splits: formats.Splits, mesh) -> tuple[dict, bool]:
    """The non-GAN control: every image standardised with its camera's training statistics, then given the
    whole training split's (x - mean_c) / std_c * std + mean, per channel. Writes WORKDIR/colour_norm aligned
    row by row with the real splits; returns its summary and whether this call wrote it. A camera without
    training images has no statistics: a DatasetError."""
    began = time.perf_counter()
    root = output_root(workdir, COLOUR_NORM_OUTPUT)
    missing = sorted(set(needed_cameras(splits)) - set(splits.cameras))
    if missing:
        raise formats.DatasetError(
            f"{formats.camera_names(config.data.name, missing)}: no training images in {config.data.name}, so "
            "no colour statistics"
        )
    statistics = camera_colour_statistics(config, splits, mesh)
    source = {"statistics": statistics}
    summary = _completed(root, source)
    if summary is not None:
        return summary, False
    target = statistics["all"]

    def standardiser(camera):
        own = statistics[str(camera)]
        scale = np.asarray(target["std"], np.float32) / np.asarray(own["std"], np.float32)
        shift = np.asarray(target["mean"], np.float32) - np.asarray(own["mean"], np.float32) * scale
        return jax.jit(lambda images: images * scale + shift, out_shardings=parallel.replicated(mesh))

    writer, stats = _Writer(root, config, mesh), StyleStats()
    _aligned(writer, splits, {c: standardiser(c) for c in needed_cameras(splits)}, stats)
    return writer.finish(
        {
            "source": source,
            "images": {s: len(getattr(splits, s)) for s in formats.SPLITS},
            "style": stats.summary(),
        },
        workdir,
        began,
    ), True
