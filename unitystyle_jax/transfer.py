"""The transfer stage: every image of every split into UnityStyle by its camera's generator G.

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

import jax
import numpy as np
from jax.experimental import multihost_utils
from PIL import Image

from unitystyle_jax import parallel
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.gan_training import GanSetup, to_uint8
from unitystyle_jax.style_stats import StyleStats

OUTPUT = "unitystyle"
DONE = "transfer.json"


def output_root(workdir: str) -> str:
    return os.path.join(workdir, OUTPUT)


def needed_cameras(splits: formats.Splits) -> list[int]:
    """Every camera of every split: each needs its UnityGAN, query and gallery ones too (test-time transfer)."""
    return sorted(set().union(*(splits.cameras_of(s) for s in formats.SPLITS)))


def _restore_generator(config, workdir, camera, mesh):
    setup = GanSetup(config, workdir, camera, mesh)
    restored = setup.restore()
    if restored is None:
        raise FileNotFoundError(
            f"no UnityGAN checkpoint for camera {camera} in {setup.checkpoints.directory}: run the gan stage first"
        )
    state, step = restored
    return setup, state["nets"]["G"], step


def run(config, workdir: str, splits: formats.Splits, mesh) -> dict:
    """Writes WORKDIR/unitystyle (unless already complete for the same generators); returns its summary."""
    root = output_root(workdir)
    generators = {c: _restore_generator(config, workdir, c, mesh) for c in needed_cameras(splits)}
    gan_steps = {str(c): step for c, (_, _, step) in generators.items()}
    done_path = os.path.join(root, DONE)
    if os.path.exists(done_path):
        with open(done_path) as f:
            summary = json.load(f)
        if summary.get("gan_steps") == gan_steps:
            logging.info("transfer: %s is complete for these generators, skipping", root)
            return summary
        logging.info("transfer: generators changed since %s was written; transferring again", root)
    partial = root + ".partial"
    writer = jax.process_index() == 0
    if writer:
        shutil.rmtree(partial, ignore_errors=True)
    test_stats = StyleStats()
    batch = config.transfer.batch_size
    for split in formats.SPLITS:
        records = getattr(splits, split)
        names = [f"{split}/{i:06d}_{os.path.basename(r.name)}" for i, r in enumerate(records)]
        if writer:
            os.makedirs(os.path.join(partial, split), exist_ok=True)
        for camera, (setup, generator, _) in generators.items():
            translate = setup.translate_fn()
            indices = [i for i, r in enumerate(records) if r.camid == camera]
            if not indices:  # a camera need not appear in every split
                continue
            chunks = pipeline.ordered_batches(
                [records[i] for i in indices], config.gan.height, config.gan.width, batch, "gan"
            )
            done = 0
            for local_images, count in chunks:
                real = parallel.to_global(local_images, mesh)
                fake = np.asarray(translate(generator, real))[:count]
                if split != "train":
                    real_images = np.asarray(multihost_utils.process_allgather(real, tiled=True))[:count]
                    pids = [records[i].pid for i in indices[done : done + count]]
                    test_stats.add(camera, real_images, fake, pids)
                if writer:
                    for i, image in zip(indices[done : done + count], to_uint8(fake)):
                        Image.fromarray(image).save(
                            os.path.join(partial, names[i]), quality=config.transfer.jpeg_quality
                        )
                done += count
        if writer:
            with open(os.path.join(partial, f"{split}.csv"), "w", newline="") as f:
                rows = csv.writer(f)
                rows.writerow(["path", "pid", "camid"])
                rows.writerows((n, r.pid, r.camid) for n, r in zip(names, records))
    summary = {
        "gan_steps": gan_steps,
        "num_generators": len(generators),
        "camstyle_generators": splits.num_cameras * (splits.num_cameras - 1) // 2,
        "images": {s: len(getattr(splits, s)) for s in formats.SPLITS},
        "style": test_stats.summary(),
    }
    if writer:
        with open(os.path.join(partial, DONE), "w") as f:
            json.dump(summary, f, indent=2)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(partial, root)
    multihost_utils.sync_global_devices("transfer done")
    return summary


def load(workdir: str, splits: formats.Splits) -> formats.Splits:
    """The UnityStyle splits, checked to be aligned row by row with the real ones."""
    root = output_root(workdir)
    if not os.path.exists(os.path.join(root, DONE)):
        raise FileNotFoundError(f"no complete UnityStyle dataset in {root}: run the transfer stage first")
    unity = formats.load("custom", root)
    for split in formats.SPLITS:
        real_rows = [(r.pid, r.camid) for r in getattr(splits, split)]
        unity_rows = [(r.pid, r.camid) for r in getattr(unity, split)]
        if real_rows != unity_rows:
            raise ValueError(
                f"{root}/{split}.csv does not match the {split} split of the dataset: transfer again"
            )
    return unity
