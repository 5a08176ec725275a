"""Query-gallery distance matrices: computed with JAX a block of query rows at a time, and checked before use.

Euclidean distances are SQUARED, as torchreid's `euclidean_squared_distance` (ranking is unchanged;
re-ranking then squares them again, exactly as torchreid feeds its matrices to the reference `re_ranking`).
Cosine distance is 1 - cosine similarity. Only one block of query rows (plus the gallery, held once) is live
on the device, so a Market-scale evaluation adds a few hundred MB to its float32 result (0.2 GB), and MSMT17's
11,659 x 82,161 (3.8 GB of result) fits a 24 GB machine.

It also holds what every evaluation module shares: `EvaluationError` and the checks of matrices and counts.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax.core.errors import EvaluationError

DISTANCE_METRICS = ("euclidean", "cosine")
DEFAULT_CHUNK_SIZE = 512  # query rows per block: 512 x 15,913 float32 = 33 MB per buffer for Market
_NORM_EPSILON = 1e-12  # as torch.nn.functional.normalize: all-zero features get cosine similarity 0


def as_distance_matrix(name: str, value, shape: tuple[int, int] | None = None) -> np.ndarray:
    """`value` as a 2-D, non-empty, finite float numpy array (not copied if it is one), or EvaluationError.

    Non-finite distances are refused everywhere: NaN has no place in a ranking, and inf breaks re-ranking's
    normalisation.
    """
    matrix = _as_float_array(name, value)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise EvaluationError(f"{name} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if shape is not None and matrix.shape != tuple(shape):
        raise EvaluationError(f"{name} has shape {matrix.shape}, expected {tuple(shape)}")
    _check_finite(name, matrix)
    return matrix


def check_positive_int(name: str, value) -> None:
    """EvaluationError unless `value` is an integer >= 1 (bools, floats and strings refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EvaluationError(f"{name} must be a positive integer, got {value!r}")


def compute_distance(
    query_features, gallery_features, metric: str = "euclidean", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> np.ndarray:
    """(num_query, num_gallery) float32 distances: squared Euclidean (torchreid's) or 1 - cosine similarity.

    Computed in float32 on the default JAX device, `chunk_size` query rows at a time; the rows are split into
    equal blocks (the last one zero-padded) so one compiled shape serves every block.
    """
    if metric not in DISTANCE_METRICS:
        raise EvaluationError(f"unknown distance metric {metric!r}: choose {' or '.join(DISTANCE_METRICS)}")
    check_positive_int("chunk_size", chunk_size)
    query = _as_features("query_features", query_features)
    gallery = _as_features("gallery_features", gallery_features)
    if query.shape[1] != gallery.shape[1]:
        raise EvaluationError(
            f"query_features have {query.shape[1]} dimensions but gallery_features have {gallery.shape[1]}"
        )
    num_query = query.shape[0]
    gallery = jnp.asarray(gallery)
    if metric == "cosine":
        gallery = _l2_normalise(gallery)

        def block_distances(block):
            return _cosine_from_gram(_gram(_l2_normalise(block), gallery))
    else:
        gallery_squared_norms = _squared_norms(gallery)

        def block_distances(block):
            gram = _gram(block, gallery)
            return _squared_euclidean_from_gram(gram, _squared_norms(block), gallery_squared_norms)

    num_blocks = math.ceil(num_query / chunk_size)
    block_rows = math.ceil(num_query / num_blocks)
    distances = np.empty((num_query, gallery.shape[0]), np.float32)
    for start in range(0, num_query, block_rows):
        block = query[start : start + block_rows]
        rows = block.shape[0]
        padded = jnp.asarray(np.pad(block, ((0, block_rows - rows), (0, 0))))
        distances[start : start + rows] = np.asarray(block_distances(padded))[:rows]
    return distances


# The Gram product and its element-wise epilogue are separate jitted calls on purpose: fused into one
# computation, XLA:CPU lowers the dot into a naive loop (and re-reduces the row norms per element), 2x slower.
@jax.jit
def _gram(query: jax.Array, gallery: jax.Array) -> jax.Array:
    return jnp.matmul(query, gallery.T, precision=jax.lax.Precision.HIGHEST)  # no TF32 on GPUs


@functools.partial(jax.jit, donate_argnums=0)
def _squared_euclidean_from_gram(
    gram: jax.Array, query_squared_norms: jax.Array, gallery_squared_norms: jax.Array
) -> jax.Array:
    """|q|^2 + |g|^2 - 2 q.g, clipped at 0 so rounding never yields a negative squared distance."""
    return jnp.maximum(query_squared_norms[:, None] + gallery_squared_norms[None, :] - 2.0 * gram, 0.0)


@functools.partial(jax.jit, donate_argnums=0)
def _cosine_from_gram(gram: jax.Array) -> jax.Array:
    return 1.0 - gram


@jax.jit
def _squared_norms(features: jax.Array) -> jax.Array:
    return jnp.sum(features * features, axis=1)


@jax.jit
def _l2_normalise(features: jax.Array) -> jax.Array:
    norms = jnp.sqrt(jnp.sum(features * features, axis=1, keepdims=True))
    return features / jnp.maximum(norms, _NORM_EPSILON)


def _as_features(name: str, value) -> np.ndarray:
    features = _as_float_array(name, value)
    if features.ndim != 2 or 0 in features.shape:
        raise EvaluationError(f"{name} must be a non-empty (images, dims) matrix, got shape {features.shape}")
    _check_finite(name, features)
    return features.astype(np.float32, copy=False)


def _as_float_array(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise EvaluationError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise EvaluationError(f"{name} has a non-finite value (NaN or inf) in row {row}")
