"""rerank: same results as a plain port of the public reference `re_ranking` (Zhong et al., CVPR 2017)."""

import numpy as np
import pytest

from unitystyle_jax.evaluation import EvaluationError, rerank


def reference_re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """The well-known dense, per-row-loop implementation, ported as is (float32 (Q+G)^2 matrices)."""
    original_dist = np.concatenate(
        [np.concatenate([q_q_dist, q_g_dist], axis=1), np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0
    )
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1.0 * original_dist / np.max(original_dist, axis=0))
    v = np.zeros_like(original_dist).astype(np.float32)
    initial_rank = np.argsort(original_dist).astype(np.int32)
    query_num = q_g_dist.shape[0]
    all_num = original_dist.shape[0]
    for i in range(all_num):
        forward = initial_rank[i, : k1 + 1]
        backward = initial_rank[forward, : k1 + 1]
        k_reciprocal = forward[np.where(backward == i)[0]]
        expansion = k_reciprocal
        for candidate in k_reciprocal:
            half = int(np.around(k1 / 2.0)) + 1
            candidate_forward = initial_rank[candidate, :half]
            candidate_backward = initial_rank[candidate_forward, :half]
            candidate_reciprocal = candidate_forward[np.where(candidate_backward == candidate)[0]]
            if len(np.intersect1d(candidate_reciprocal, k_reciprocal)) > 2.0 / 3 * len(candidate_reciprocal):
                expansion = np.append(expansion, candidate_reciprocal)
        expansion = np.unique(expansion)
        weight = np.exp(-original_dist[i, expansion])
        v[i, expansion] = 1.0 * weight / np.sum(weight)
    original_dist = original_dist[:query_num]
    if k2 != 1:
        v_qe = np.zeros_like(v, dtype=np.float32)
        for i in range(all_num):
            v_qe[i, :] = np.mean(v[initial_rank[i, :k2], :], axis=0)
        v = v_qe
    inverted = [np.where(v[:, i] != 0)[0] for i in range(all_num)]
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, all_num], dtype=np.float32)
        non_zero = np.where(v[i, :] != 0)[0]
        for j in non_zero:
            temp_min[0, inverted[j]] += np.minimum(v[i, j], v[inverted[j], j])
        jaccard_dist[i] = 1 - temp_min / (2.0 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    return final_dist[:query_num, query_num:]


def clustered_distances(seed, num_query=12, num_gallery=48, num_ids=6, dtype=np.float64):
    """Squared Euclidean distances between noisy copies of a few identity centres, so k-reciprocal sets and
    their expansions are non-trivial."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids, 16))
    ids = rng.integers(0, num_ids, num_query + num_gallery)
    features = (centres[ids] + rng.normal(scale=0.8, size=(len(ids), 16))).astype(dtype)
    d = ((features[:, None] - features[None]) ** 2).sum(-1)
    return d[:num_query, num_query:], d[:num_query, :num_query], d[num_query:, num_query:]


@pytest.mark.parametrize("k1, k2, lambda_value", [(20, 6, 0.3), (5, 3, 0.0), (7, 1, 1.0), (4, 2, 0.5)])
def test_rerank_matches_reference(k1, k2, lambda_value):
    q_g, q_q, g_g = clustered_distances(seed=k1)
    ours = rerank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lambda_value)
    assert ours.dtype == np.float32 and ours.shape == q_g.shape
    expected = reference_re_ranking(q_g, q_q, g_g, k1, k2, lambda_value)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


def test_rerank_matches_reference_on_float32_inputs_with_k_beyond_the_dataset():
    q_g, q_q, g_g = clustered_distances(seed=3, num_query=4, num_gallery=9, dtype=np.float32)
    np.testing.assert_allclose(
        rerank(q_g, q_q, g_g, k1=20, k2=20), reference_re_ranking(q_g, q_q, g_g, 20, 20), atol=1e-5, rtol=0
    )


def test_rerank_changes_the_ranking():
    q_g, q_q, g_g = clustered_distances(seed=1)
    assert not np.array_equal(np.argsort(rerank(q_g, q_q, g_g), axis=1), np.argsort(q_g, axis=1))


@pytest.mark.parametrize(
    "arguments, culprit",
    [
        ({"q_q_dist": np.zeros((3, 3))}, "q_q_dist"),
        ({"g_g_dist": np.full((48, 48), np.nan)}, "g_g_dist"),
        ({"k1": 0}, "k1"),
        ({"k2": 2.5}, "k2"),
        ({"lambda_value": 1.5}, "lambda_value"),
    ],
)
def test_rerank_rejects_bad_input_naming_it(arguments, culprit):
    q_g, q_q, g_g = clustered_distances(seed=0)
    inputs = {"q_g_dist": q_g, "q_q_dist": q_q, "g_g_dist": g_g} | arguments
    with pytest.raises(EvaluationError, match=culprit):
        rerank(**inputs)


def test_rerank_rejects_an_image_at_distance_zero_from_everything():
    q_g, q_q, g_g = clustered_distances(seed=0)
    q_q[0], q_q[:, 0], q_g[0] = 0.0, 0.0, 0.0
    with pytest.raises(EvaluationError, match="query 0"):
        rerank(q_g, q_q, g_g)
