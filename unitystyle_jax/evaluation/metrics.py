"""CMC, mAP and mINP under the Market-1501 protocol, for every query at once.

Protocol (torchreid's `eval_market1501`, fast-reid's mINP): each query ranks the gallery by distance, ties
kept in gallery order (a stable sort; torchreid's default quicksort leaves tie order unspecified); gallery
entries with the query's identity AND camera are dropped ("junk"); a query with no true match left is skipped.

Why it is fast: every metric depends only on where the query's own identity lands in its ranking, so nothing
is ever argsorted. Each block of queries is sorted by value (numpy's SIMD sort), and the position of each
same-identity gallery entry is read off with a binary search (ties broken by gallery index), then corrected
for the junk entries ranked above it. A Market-scale evaluation (3,368 x 15,913) takes about a second.
"""

from __future__ import annotations

import numpy as np

from unitystyle_jax.evaluation.distance import EvaluationError, as_distance_matrix, check_positive_int

AP_MODES = ("average", "trapezoid")
_BLOCK_ELEMENTS = 1 << 24  # distances per block of queries: bounds the sorted copy at 64 MB (float32)


def evaluate_rank(
    distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50, ap: str = "average"
) -> dict:
    """Market-1501 metrics of a (num_query, num_gallery) distance matrix (smaller = more similar).

    Returns {"cmc": float64 array of length max_rank, "mAP": float, "mINP": float, "num_valid_queries": int,
    "per_query": {"query", "first_rank", "ap", "inp"}}: per_query holds each valid query's row, the rank of its
    first true match, its AP and INP (what a paired comparison of two models resamples).
    - cmc[k-1]: fraction of valid queries whose first true match ranks within the top k. When fewer than
      max_rank gallery entries remain, the curve continues at its last value (1.0): torchreid instead shortens
      the curve to num_gallery and prints a note (and, when junk removal leaves a query fewer than max_rank
      entries, its Python code fails on ragged rows while its Cython code reads stale buffer values); where
      torchreid's curve is defined, the two agree.
    - mAP, ap="average" (torchreid, fast-reid): AP = mean over true matches of (matches so far / rank).
      ap="trapezoid" (the official Market-1501 MATLAB `compute_AP`): each true match, the k-th of n at rank r,
      adds (1/n) * (p(r-1) + k/r) / 2 with p(r-1) = (k-1)/(r-1), and p(0) = 1; it reads ~0.5-1 point lower.
    - mINP (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook"): mean over valid
      queries of (number of true matches / rank of the last one).
    Raises EvaluationError (a ValueError) when no query has a true match.
    """
    distmat = as_distance_matrix("distmat", distmat)
    num_query, num_gallery = distmat.shape
    q_pids = as_labels("q_pids", q_pids, num_query, "distmat rows")
    q_camids = as_labels("q_camids", q_camids, num_query, "distmat rows")
    g_pids = as_labels("g_pids", g_pids, num_gallery, "distmat columns")
    g_camids = as_labels("g_camids", g_camids, num_gallery, "distmat columns")
    check_positive_int("max_rank", max_rank)
    if ap not in AP_MODES:
        raise EvaluationError(f"unknown ap mode {ap!r}: choose one of {', '.join(AP_MODES)}")

    block = max(1, _BLOCK_ELEMENTS // num_gallery)
    valid, first_ranks, aps, inps = [], [], [], []
    for start in range(0, num_query, block):
        stop = min(start + block, num_query)
        query, rank = true_match_ranks(
            distmat[start:stop], q_pids[start:stop], q_camids[start:stop], g_pids, g_camids
        )
        rows, first, average_precision, inverse_negative_penalty = _per_query(query, rank, ap)
        valid.append(start + rows)
        first_ranks.append(first)
        aps.append(average_precision)
        inps.append(inverse_negative_penalty)
    first_ranks, aps, inps = (np.concatenate(v) for v in (first_ranks, aps, inps))
    num_valid = len(first_ranks)
    if num_valid == 0:
        raise EvaluationError(
            f"none of the {num_query} queries has a true match (same identity, other camera) in the gallery"
        )
    hits = np.bincount(np.minimum(first_ranks, max_rank + 1), minlength=max_rank + 2)[1 : max_rank + 1]
    return {
        "cmc": np.cumsum(hits) / num_valid,
        "mAP": float(np.mean(aps)),
        "mINP": float(np.mean(inps)),
        "num_valid_queries": num_valid,
        "per_query": {"query": np.concatenate(valid), "first_rank": first_ranks, "ap": aps, "inp": inps},
    }


def true_match_ranks(
    distmat: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray, g_pids: np.ndarray, g_camids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every true match of every query (row): (query row, 1-based rank once junk is dropped), sorted.

    Inputs are already checked. Rank = 1 + entries ranked before it (smaller distance, or equal distance and
    a smaller gallery index) - junk entries among those.
    """
    by_identity = np.argsort(g_pids, kind="stable")
    first = np.searchsorted(g_pids[by_identity], q_pids, side="left")
    count = np.searchsorted(g_pids[by_identity], q_pids, side="right") - first
    query, index = concatenated_ranges(first, count)
    gallery = by_identity[index]  # same identity as the query (true match or junk), by query then index
    distance = distmat[query, gallery]
    position = np.empty(len(query), np.int64)  # 0-based place in the query's stable ordering, junk included
    tied = np.zeros(len(query), bool)
    bounds = np.searchsorted(query, np.arange(len(distmat) + 1))
    sorted_rows = np.sort(distmat, axis=1)
    for row in np.flatnonzero(np.diff(bounds)):
        pairs = slice(bounds[row], bounds[row + 1])
        position[pairs] = np.searchsorted(sorted_rows[row], distance[pairs], side="left")
        tied[pairs] = np.searchsorted(sorted_rows[row], distance[pairs], side="right") > position[pairs] + 1
    for pair in np.flatnonzero(tied):  # rare with real features: equal distances keep gallery order
        position[pair] += np.count_nonzero(distmat[query[pair], : gallery[pair]] == distance[pair])

    junk = g_camids[gallery] == q_camids[query]
    order = np.lexsort((position, query))
    query, position, junk = query[order], position[order], junk[order]
    junk_before = np.cumsum(junk) - junk  # junk ranked above each pair, counted from the first pair...
    first_of_query = np.searchsorted(query, query)
    junk_before -= junk_before[first_of_query]  # ...and from its own query's first pair
    keep = ~junk
    return query[keep], position[keep] - junk_before[keep] + 1


def concatenated_ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranges [starts[i], starts[i] + counts[i]) back to back: (i of each element, the element)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, starts[owner] + np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner]


def ranked_gallery(
    distances: np.ndarray, q_pid, q_camid, g_pids: np.ndarray, g_camids: np.ndarray
) -> np.ndarray:
    """Gallery indices in one query's protocol order: stable by distance, the query's junk dropped."""
    order = np.argsort(distances, kind="stable")
    return order[(g_pids[order] != q_pid) | (g_camids[order] != q_camid)]


def _per_query(query: np.ndarray, rank: np.ndarray, ap: str) -> tuple[np.ndarray, ...]:
    """From (query, rank) of true matches, sorted: for each query that has one, its row, first-match rank, AP and
    INP."""
    queries, first, count = np.unique(query, return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(queries)), count)
    k = np.arange(len(rank)) - first[group] + 1  # this is the k-th true match of its query
    precision = k / rank
    if ap == "trapezoid":
        previous = np.ones(len(rank))
        np.divide(k - 1, rank - 1, out=previous, where=rank > 1)
        precision = (previous + precision) / 2
    average_precision = np.bincount(group, weights=precision, minlength=len(queries)) / count
    last_rank = rank[first + count - 1]
    return queries, rank[first], average_precision, count / last_rank


def as_labels(name: str, value, length: int, against: str) -> np.ndarray:
    """`value` as a 1-D array of identities or cameras with one entry per `against`, or EvaluationError."""
    labels = np.asarray(value)
    if labels.ndim != 1 or len(labels) != length:
        raise EvaluationError(f"{name} must be 1-D, one per {against} ({length}), got shape {labels.shape}")
    return labels
