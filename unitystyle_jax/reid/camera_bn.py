"""Camera-based batch normalisation (Zhuang et al., ECCV 2020): batch statistics per camera. Training batches
are drawn within one camera (`pipeline.camera_sample_order`), so each step normalises one camera's style away;
at test time every camera's statistics are re-estimated from its own images, a camera never seen in training
included. Like colour normalisation it works on statistics rather than images, and like UnityStyle it uses the
test images' camera ids.
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
        total, count = None, 0
        for images in batches:
            stats = jax.device_get(fn(variables, jnp.asarray(images)))
            n = len(images)
            total = (
                jax.tree.map(lambda a: n * np.asarray(a), stats)
                if total is None
                else jax.tree.map(lambda t, a: t + n * np.asarray(a), total, stats)
            )
            count += n
        if count == 0:
            continue
        out[camera] = {"params": variables["params"], "batch_stats": jax.tree.map(lambda t: t / count, total)}
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
