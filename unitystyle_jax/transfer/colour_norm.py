"""The non-GAN control: each camera's colour statistics standardised to the whole training split's."""

import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from unitystyle_jax.core import parallel
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.data.styled_data import COLOUR_NORM_OUTPUT, needed_cameras, output_root
from unitystyle_jax.transfer.style_stats import StyleStats
from unitystyle_jax.transfer.writing import StyledWriter, completed, write_aligned


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


def run(config, workdir: str, splits: formats.Splits, mesh) -> tuple[dict, bool]:
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
    summary = completed(root, source)
    if summary is not None:
        return summary, False
    target = statistics["all"]

    def standardiser(camera):
        own = statistics[str(camera)]
        scale = np.asarray(target["std"], np.float32) / np.asarray(own["std"], np.float32)
        shift = np.asarray(target["mean"], np.float32) - np.asarray(own["mean"], np.float32) * scale
        return jax.jit(lambda images: images * scale + shift, out_shardings=parallel.replicated(mesh))

    writer, stats = StyledWriter(root, config, mesh), StyleStats()
    write_aligned(writer, splits, {c: standardiser(c) for c in needed_cameras(splits)}, stats)
    return writer.finish(
        {
            "source": source,
            "images": {s: len(getattr(splits, s)) for s in formats.SPLITS},
            "style": stats.summary(),
        },
        workdir,
        began,
    ), True
