"""Features for any images from a trained run: `Extractor` (notebooks), and `run`, the work of
`unitystyle-extract --config=CONFIG --workdir=RUN --images=DIR_OR_CSV --output=features.npz`.

The features are those evaluation ranks with: the IDE backbone's pooled feature, L2-normalised (averaged with the
mirrored image's under --config.eval.flip=True). With a UnityStyle run each image first goes through its camera's
generator and is stored as the transfer stage stores it (uint8, JPEG at config.transfer.jpeg_quality), so a query
image's feature here equals evaluation's. --no-transfer skips the generators. Only the IDE backbone and the
generators are restored: no optimiser state, and no classifier (a run trained on any dataset serves).

--images: a folder of images named as Market-1501's (`<id>_c<camera>...`; DukeMTMC-reID and the synthetic
dataset name theirs so too), or a CSV file with header `path,camid` or `path,pid,camid` (camid 0-based).
The output .npz holds features (N, D), names, camids, pids (when known), step and transferred.
"""

import logging
import os

import jax
import numpy as np
import tensorflow as tf

from unitystyle_jax import methods, startup
from unitystyle_jax.core import files, images, parallel
from unitystyle_jax.core.errors import CheckpointError, OutputExistsError
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.gan.domains import Domains, trained_cameras
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.reid import camera_bn
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid.feature_model import FeatureModel, restore_features


class Extractor:
    """`extractor(images_uint8, camids) -> (B, D) float32` features of a trained run.

    images: a uint8 array (B, H, W, 3) or a list of uint8 (H, W, 3) arrays of any sizes; camids: each image's
    0-based camera (which generator transfers it). Make one with `Extractor.from_workdir(RUN, config)`.
    """

    def __init__(self, config, features: FeatureModel, generators: dict, mesh):
        self.config, self.features, self.generators, self.mesh = config, features, generators, mesh
        self._features_fn = reid_evaluation.feature_fn(features.backbone, bool(config.eval.flip), mesh)

    @classmethod
    def from_workdir(cls, workdir: str, config, transfer: bool | None = None, mesh=None) -> "Extractor":
        """The run in WORKDIR, trained with `config`. transfer: None = as the run's method does (UnityStyle:
        yes), False = real images only, True = through the generators (CheckpointError when there are none)."""
        mesh = mesh or parallel.make_mesh()
        features = restore_features(config, workdir, mesh)
        if transfer is None:
            transfer = methods.of(config.reid).transferred
        generators = {}
        if transfer:
            cameras = trained_cameras(workdir)
            if not cameras:
                raise CheckpointError(
                    f"{os.path.join(workdir, 'gan')} has no UnityGAN: run the gan stage, or extract real images "
                    "only (--no-transfer; Extractor.from_workdir(..., transfer=False))"
                )
            loader = GeneratorLoader(config, mesh)
            generators = {c: loader.restore(workdir, Domains(c)) for c in cameras}
        logging.info(
            "extractor: IDE step %d%s",
            features.step,
            (
                f", generators of cameras {', '.join(formats.camera_label(config.data.name, c) for c in generators)}"
                if generators
                else ", no transfer"
            ),
        )
        return cls(config, features, generators, mesh)

    @property
    def transfers(self) -> bool:
        return bool(self.generators)

    def check_cameras(self, camids) -> None:
        """CheckpointError naming any camera that has no generator, when transferring."""
        missing = sorted(set(int(c) for c in camids) - set(self.generators)) if self.transfers else []
        if missing:
            has = ", ".join(formats.camera_label(self.config.data.name, c) for c in sorted(self.generators))
            raise CheckpointError(
                f"{formats.camera_names(self.config.data.name, missing)}: no UnityGAN in this run (it has "
                f"cameras {has}): "
                f"train them (--config.stages=gan --config.gan.cameras={','.join(map(str, missing))}) or "
                "extract real images only (--no-transfer; Extractor.from_workdir(..., transfer=False))"
            )

    def __call__(self, batch, camids, names=None) -> np.ndarray:
        """names (optional): the images' file names; a transferred .png is stored as PNG, as the transfer stage
        stores it, anything else as JPEG."""
        batch = [np.asarray(image) for image in batch]
        names = list(names) if names is not None else [".jpg"] * len(batch)
        camids = [int(c) for c in camids]
        if len(batch) != len(camids):
            raise ValueError(f"{len(batch)} images but {len(camids)} camera ids")
        for image in batch:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(f"images must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        self.check_cameras(camids)
        if self.transfers:
            batch = self._transferred(batch, camids, names)
        d = self.config.data
        prepared = [
            pipeline.normalize_imagenet(pipeline.resized(image, d.height, d.width)) for image in batch
        ]
        if not self.config.model.camera_bn:
            return self._batched(
                lambda x: self._features_fn(self.features.variables, x), prepared, self.config.eval.batch_size
            )
        # Camera-based BN: each camera's statistics re-estimated from this call's images of that camera.
        size = self.config.eval.batch_size
        by_camera = {c: [i for i, k in enumerate(camids) if k == c] for c in sorted(set(camids))}
        per_camera = camera_bn.camera_variables(
            self.features.backbone,
            self.features.variables,
            {
                c: [np.stack([prepared[i] for i in rows[f : f + size]]) for f in range(0, len(rows), size)]
                for c, rows in by_camera.items()
            },
        )
        return camera_bn.per_camera_rows(
            camids,
            lambda camera, rows: self._batched(
                lambda x: self._features_fn(per_camera[camera], x), [prepared[i] for i in rows], size
            ),
        )

    def _transferred(self, batch, camids, names) -> list[np.ndarray]:
        """Each image through its camera's generator, then stored and read back as the transfer stage does."""
        g, quality = self.config.gan, self.config.transfer.jpeg_quality
        out = list(batch)
        for camera in sorted(set(camids)):
            indices = [i for i, c in enumerate(camids) if c == camera]
            real = [pipeline.to_gan_range(pipeline.resized(batch[i], g.height, g.width)) for i in indices]
            fake = self._batched(self.generators[camera], real, self.config.transfer.batch_size)
            for i, image in zip(indices, images.to_uint8(fake)):
                out[i] = tf.io.decode_image(images.encoded(image, names[i], quality), channels=3).numpy()
        return out

    def _batched(self, fn, inputs, batch_size: int) -> np.ndarray:
        """fn over `inputs` in global batches of `batch_size`, the last padded with its last image (as
        evaluation's batches are, so every call runs the program evaluation ran)."""
        outputs = []
        for first in range(0, len(inputs), batch_size):
            chunk = np.stack([np.asarray(x) for x in inputs[first : first + batch_size]])
            count = len(chunk)
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - count, axis=0)])
            local = chunk[parallel.process_slice(batch_size)]
            outputs.append(np.asarray(fn(parallel.to_global(local, self.mesh)))[:count])
        return np.concatenate(outputs)


def run(config, workdir: str, source: str, output: str, transfer: bool | None) -> dict:
    """The CLI's work: every check first (output, image list, images, checkpoints, cameras), then features of
    every image of `source`, written to `output` (atomically; an existing file is never replaced)."""
    if os.path.exists(output):
        raise OutputExistsError(f"{output} exists: give another --output, or remove it first")
    files.check_writable(os.path.dirname(os.path.abspath(output)), "output folder")
    records, pids_known = formats.read_images(source)
    if config.data.verify:
        records = formats.verify_images(records, config.data.skip_bad_files)
    mesh = startup.start(config, workdir)
    extractor = Extractor.from_workdir(workdir, config, transfer, mesh)
    camids = [r.camid for r in records]
    extractor.check_cameras(camids)
    chunks, size = [], config.eval.batch_size
    for first in range(0, len(records), size):
        part = records[first : first + size]
        batch = [pipeline.read_uint8(r.path).numpy() for r in part]
        chunks.append(extractor(batch, [r.camid for r in part], [r.name for r in part]))
    result = {
        "features": np.concatenate(chunks),
        "names": np.array([r.name for r in records]),
        "paths": np.array([r.path for r in records]),
        "camids": np.array(camids),
        "step": np.array(extractor.features.step),
        "transferred": np.array(extractor.transfers),
    }
    if pids_known:
        result["pids"] = np.array([r.pid for r in records])
    if jax.process_index() == 0:
        files.write_atomically(output, lambda file: np.savez(file, **result), binary=True)
        print(
            f"{len(records)} features ({result['features'].shape[1]}-d, IDE step {extractor.features.step}, "
            f"{'through the generators' if extractor.transfers else 'no transfer'}) -> {output}"
        )
    return result
