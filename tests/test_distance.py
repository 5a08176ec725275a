"""compute_distance: squared Euclidean and cosine distances against numpy, whatever the block size."""

import numpy as np
import pytest

from unitystyle_jax.evaluation import EvaluationError, compute_distance


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return rng.normal(size=(37, 24)), rng.normal(size=(53, 24))


def test_euclidean_is_squared_euclidean(features):
    query, gallery = features
    expected = ((query[:, None, :] - gallery[None, :, :]) ** 2).sum(-1)
    distances = compute_distance(query, gallery)
    assert distances.dtype == np.float32 and distances.shape == (37, 53)
    np.testing.assert_allclose(distances, expected, rtol=1e-5, atol=1e-4)


def test_cosine_is_one_minus_cosine_similarity(features):
    query, gallery = features
    unit_query = query / np.linalg.norm(query, axis=1, keepdims=True)
    unit_gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    expected = 1 - unit_query @ unit_gallery.T
    np.testing.assert_allclose(compute_distance(query, gallery, metric="cosine"), expected, atol=1e-5)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [1, 7, 36])
def test_blocks_of_query_rows_give_the_unblocked_result(features, metric, chunk_size):
    query, gallery = features
    unblocked = compute_distance(query, gallery, metric, chunk_size=len(query))
    blocked = compute_distance(query, gallery, metric, chunk_size=chunk_size)
    np.testing.assert_allclose(blocked, unblocked, rtol=1e-6, atol=1e-5)


def test_identical_features_are_at_distance_zero_never_negative(features):
    query, _ = features
    distances = compute_distance(query * 100, query * 100)
    assert distances.min() >= 0
    np.testing.assert_allclose(np.diag(distances), 0, atol=0.5)  # |x|^2 ~ 2.4e5: float32 cancellation only


def test_all_zero_features_have_cosine_similarity_zero():
    distances = compute_distance(np.zeros((2, 4)), np.eye(4), metric="cosine")
    np.testing.assert_array_equal(distances, np.ones((2, 4), np.float32))


@pytest.mark.parametrize(
    "query, gallery, options, culprit",
    [
        (np.ones((2, 3)), np.ones((4, 5)), {}, "3 dimensions but gallery_features have 5"),
        (np.ones(3), np.ones((4, 3)), {}, "query_features"),
        (np.ones((2, 3)), np.full((4, 3), np.inf), {}, "gallery_features has a non-finite value"),
        (np.array([["a", "b"]]), np.ones((1, 2)), {}, "query_features must hold real numbers"),
        (np.ones((2, 3)), np.ones((4, 3)), {"metric": "manhattan"}, "manhattan"),
        (np.ones((2, 3)), np.ones((4, 3)), {"chunk_size": 0}, "chunk_size"),
    ],
)
def test_rejects_bad_input_naming_it(query, gallery, options, culprit):
    with pytest.raises(EvaluationError, match=culprit):
        compute_distance(query, gallery, **options)
