"""How a styled dataset is written: in the `custom` format (`<split>.csv` + images) aligned one-to-one with the
real splits (row i of each split is the styled version of real row i), so the same reader serves it, the input
pipeline mixes it in, and evaluation transfers query and gallery by reading it. It is written to a temporary
folder and renamed when complete: a killed transfer leaves nothing that could be mistaken for a finished one.
"""

import csv
import json
import logging
import os
import shutil

import jax
import numpy as np
from jax.experimental import multihost_utils

from unitystyle_jax.core import images, parallel, stage_times
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.data.styled_data import DONE


def completed(root: str, source: dict) -> dict | None:
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


class StyledWriter:
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


def write_aligned(writer, splits, translators, stats) -> None:
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
