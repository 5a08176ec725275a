"""evaluate_rank: the Market-1501 protocol, checked against a plain per-query implementation and by hand."""

import numpy as np
import pytest

from unitystyle_jax.evaluation import EvaluationError, evaluate_rank, metrics


def per_query_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, ap):
    """One query at a time, as the protocol reads: stable sort, drop junk, walk down the list."""
    curves, precisions, inps = [], [], []
    for i in range(len(distmat)):
        order = np.argsort(distmat[i], kind="stable")
        junk = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        hits = g_pids[order][~junk] == q_pids[i]
        if not hits.any():
            continue
        ranks = np.flatnonzero(hits) + 1
        curves.append([float(ranks[0] <= k) for k in range(1, max_rank + 1)])
        if ap == "average":
            precisions.append(np.mean([(n + 1) / r for n, r in enumerate(ranks)]))
        else:  # the official MATLAB compute_AP loop, step by step
            total, old_recall, old_precision, found = 0.0, 0.0, 1.0, 0
            for position, hit in enumerate(hits, start=1):
                found += hit
                recall, precision = found / len(ranks), found / position
                total += (recall - old_recall) * (old_precision + precision) / 2
                old_recall, old_precision = recall, precision
            precisions.append(total)
        inps.append(len(ranks) / ranks[-1])
    return np.mean(curves, axis=0), np.mean(precisions), np.mean(inps), len(inps)


def random_case(rng, num_query, num_gallery, levels, dtype):
    """Integer-rounded distances (many ties); few identities and cameras (junk, queries without a match)."""
    distmat = np.round(rng.random((num_query, num_gallery)) * levels).astype(dtype)
    return (
        distmat,
        rng.integers(0, 8, num_query),
        rng.integers(0, 8, num_gallery),
        rng.integers(0, 3, num_query),
        rng.integers(0, 3, num_gallery),
    )


@pytest.mark.parametrize("ap", ["average", "trapezoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_per_query_reference_on_random_data_with_ties(ap, dtype, monkeypatch):
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 150)  # several blocks of queries per call
    rng = np.random.default_rng(0 if dtype == np.float32 else 1)
    skipped = 0
    for trial in range(25):
        num_query, num_gallery = int(rng.integers(1, 25)), int(rng.integers(1, 70))  # often < max_rank
        case = random_case(rng, num_query, num_gallery, levels=[2, 10, 1e6][trial % 3], dtype=dtype)
        if not any(_has_match(case, i) for i in range(num_query)):
            with pytest.raises(EvaluationError, match="no query has a true match"):
                evaluate_rank(*case, max_rank=30, ap=ap)
            continue
        expected_cmc, expected_map, expected_minp, expected_valid = per_query_reference(*case, 30, ap)
        result = evaluate_rank(*case, max_rank=30, ap=ap)
        skipped += num_query - result["num_valid_queries"]
        assert result["num_valid_queries"] == expected_valid
        assert result["cmc"].shape == (30,)
        np.testing.assert_allclose(result["cmc"], expected_cmc, atol=1e-6)
        assert result["mAP"] == pytest.approx(expected_map, abs=1e-6)
        assert result["mINP"] == pytest.approx(expected_minp, abs=1e-6)
    assert skipped > 0  # queries without a valid match were exercised


def _has_match(case, i):
    _, q_pids, g_pids, q_camids, g_camids = case
    return bool(np.any((g_pids == q_pids[i]) & (g_camids != q_camids[i])))


def test_hand_computed_example_both_ap_modes():
    # gallery by distance: g3 (other id), g0 (junk: same id and camera), g1 (match), g4 (other), g2 (match)
    distmat = np.array([[2.0, 3.0, 9.0, 1.0, 5.0]])
    g_pids, g_camids = np.array([7, 7, 7, 4, 5]), np.array([0, 1, 2, 0, 0])
    # after dropping the junk: other, match (rank 2), other, match (rank 4); 2 true matches
    average = evaluate_rank(distmat, np.array([7]), g_pids, np.array([0]), g_camids, max_rank=6)
    assert average["cmc"].tolist() == [0, 1, 1, 1, 1, 1]  # padded past the 4 kept entries with its last value
    assert average["mAP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average["mINP"] == pytest.approx(2 / 4)
    assert average["num_valid_queries"] == 1
    # MATLAB: match 1 at rank 2: 1/2 * (p(1)=0/1 + 1/2)/2 = 0.125; match 2 at rank 4: 1/2 * (p(3)=1/3 + 2/4)/2
    trapezoid = evaluate_rank(distmat, np.array([7]), g_pids, np.array([0]), g_camids, ap="trapezoid")
    assert trapezoid["mAP"] == pytest.approx(0.125 + 5 / 24)
    # a match at rank 1 uses p(0) = 1: matches at ranks 1 and 3 give 1/2 * (1 + 1)/2 + 1/2 * (1/2 + 2/3)/2
    first = evaluate_rank(
        np.array([[0.0, 1.0, 2.0]]),
        np.array([1]),
        np.array([1, 2, 1]),
        np.array([0]),
        np.array([1, 1, 1]),
        max_rank=3,
        ap="trapezoid",
    )
    assert first["mAP"] == pytest.approx(0.5 + 7 / 24)


def test_ties_keep_gallery_order():
    # all distances equal: the ranking is the gallery order; junk (index 1) dropped, the match (3) is 3rd
    result = evaluate_rank(
        np.zeros((1, 5)),
        np.array([1]),
        np.array([2, 1, 3, 1, 4]),
        np.array([0]),
        np.array([0, 0, 0, 1, 0]),
        max_rank=5,
    )
    assert result["cmc"].tolist() == [0, 0, 1, 1, 1]
    assert result["mAP"] == pytest.approx(1 / 3)


def test_every_query_counts_once_and_invalid_ones_are_skipped():
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.5, 0.5, 0.5]])
    result = evaluate_rank(
        distmat,
        np.array([1, 2, 9]),
        np.array([1, 2, 2]),
        np.array([0, 0, 0]),
        np.array([1, 1, 0]),
        max_rank=3,
    )
    # query 0: match at rank 1; query 1: junk g2 dropped, g1 (rank 1 of the rest); query 2: identity absent
    assert result["num_valid_queries"] == 2
    assert result["cmc"].tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    "change, culprit",
    [
        ({"distmat": np.ones(4)}, "distmat"),
        ({"distmat": np.array([[np.nan, 1.0, 2.0]] * 2)}, "distmat has a non-finite value"),
        ({"q_pids": np.array([1, 2, 3])}, "q_pids"),
        ({"g_camids": np.array([0, 1])}, "g_camids"),
        ({"max_rank": 0}, "max_rank"),
        ({"ap": "interpolated"}, "ap mode"),
    ],
)
def test_rejects_bad_input_naming_it(change, culprit):
    inputs = {
        "distmat": np.ones((2, 3)),
        "q_pids": np.array([1, 2]),
        "g_pids": np.array([1, 2, 3]),
        "q_camids": np.array([0, 0]),
        "g_camids": np.array([1, 1, 1]),
    } | change
    with pytest.raises(EvaluationError, match=culprit):
        evaluate_rank(**inputs)
