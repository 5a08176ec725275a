"""Camera-based batch normalisation (Zhuang et al., ECCV 2020): batch statistics per camera. Training batches
are drawn within one camera (`pipeline.camera_sample_order`), so each step normalises one camera's style away;
at test time every camera's statistics are re-estimated from its own images. Like colour normalisation it works
on statistics rather than images, and like UnityStyle it uses the test images' camera ids.

Where a test camera's statistics come from (`config.eval.camera_bn_statistics`):
- test: from that camera's query and gallery images, as the method's paper evaluates it (transductive: a
  deployment that sees one query at a time cannot);
- train: from that camera's training images, known before any query arrives (deployable); a test camera with no
  training images falls back to the checkpoint's shared statistics, said in a warning.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax.data import pipeline
from unitystyle_jax.models.layers import BN_MOMENTUM


@functools.cache
def statistics_fn(backbone):
    """jit'd (variables, images) -> every BN layer's batch mean and variance on these images. Read from a
    training-mode update of zeroed running statistics, which leaves (1 - momentum) times the batch's own."""

    @jax.jit
    def statistics(variables, images):
        zeros = jax.tree.map(jnp.zeros_like, variables["batch_stats"])
        _, updates = backbone.apply(
            {"params": variables["params"], "batch_stats": zeros}, images, train=True, mutable=["batch_stats"]
        )
        return jax.tree.map(lambda a: a / (1.0 - BN_MOMENTUM), updates["batch_stats"])

    return statistics


def camera_variables(backbone, variables, images_by_camera: dict) -> dict:
    """{camera: the backbone's variables with that camera's BN statistics}: each layer's batch means and
    variances averaged over the camera's batches, weighted by their images (a cumulative average, as PyTorch's
    BN with momentum=None gives). images_by_camera: {camera: iterable of image batches (normalised, NHWC)}."""
    fn = statistics_fn(backbone)
    out = {}
    for camera, batches in images_by_camera.items():
        parts = [(len(images), jax.device_get(fn(variables, jnp.asarray(images)))) for images in batches]
        if not parts:
            continue
        count = sum(n for n, _ in parts)
        average = jax.tree.map(
            lambda *leaves: sum(n * np.asarray(a) for (n, _), a in zip(parts, leaves)) / count,
            *(stats for _, stats in parts),
        )
        out[camera] = {"params": variables["params"], "batch_stats": average}
    return out


def per_camera_rows(camids, features_of) -> np.ndarray:
    """(rows, D) features, row i from features_of(camera, rows of that camera), for each camera of `camids`
    in turn: how every camera's images get that camera's statistics and come back in their own order."""
    out = None
    for camera in sorted(set(camids)):
        rows = [i for i, c in enumerate(camids) if c == camera]
        part = features_of(camera, rows)
        out = np.zeros((len(camids), part.shape[1]), part.dtype) if out is None else out
        out[rows] = part
    return out


def record_batches(records, config):
    """{camera: image batches of its records}, read as evaluation reads them (padding rows dropped)."""
    cameras = sorted({r.camid for r in records})
    d = config.data
    return {
        c: (
            images[:count]
            for images, count in pipeline.ordered_batches(
                [r for r in records if r.camid == c], d.height, d.width, config.eval.batch_size
            )
        )
        for c in cameras
    }
