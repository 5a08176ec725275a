"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal Encoding",
CVPR 2017): the results of the public reference `re_ranking` (as shipped in torchreid), not its memory.

The reference builds the (Q+G)^2 matrix of all pairwise distances and at least four more arrays of that size
(its squared float32 copy, the argsort, V and its query-expanded copy), 1.5 GB each for Market-1501
(Q+G = 19,281). Here that matrix is never formed: its rows are rebuilt from the three inputs a block at a time
(two passes), only each row's nearest neighbours are kept, and V is sparse (a few hundred non-zeros a row).
Beyond the caller's inputs and the float32 (Q, G) result, memory is (Q+G) x max(k1+1, k2) neighbour indices,
the sparse V (~(Q+G) x 100-300 entries) and ~64 MB blocks: ~0.5 GB at Market-1501 scale.

Equivalences with the reference: same float32 arithmetic for distances, weights and the final mix; ties
between equal distances are broken by index (the reference's quicksort leaves them unspecified).
"""

from __future__ import annotations

import numbers

import numpy as np

from unitystyle_jax.evaluation.distance import EvaluationError, as_distance_matrix, check_positive_int
from unitystyle_jax.evaluation.metrics import concatenated_ranges

_BLOCK_ELEMENTS = 1 << 24  # distances per block of rows (64 MB float32)
_JACCARD_BLOCK_TERMS = 1 << 23  # min(V_q, V_g) terms summed per block of queries


def rerank(q_g_dist, q_q_dist, g_g_dist, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """Re-ranked (num_query, num_gallery) float32 distances: (1-lambda) * Jaccard + lambda * original.

    As the reference, the inputs are squared, then each row of the joint (Q+G) matrix is divided by its
    maximum; k1 sizes the k-reciprocal sets (k1/2 their expansion), k2 the local query expansion (1 = none).
    """
    q_g = as_distance_matrix("q_g_dist", q_g_dist)
    num_query, num_gallery = q_g.shape
    q_q = as_distance_matrix("q_q_dist", q_q_dist, shape=(num_query, num_query))
    g_g = as_distance_matrix("g_g_dist", g_g_dist, shape=(num_gallery, num_gallery))
    check_positive_int("k1", k1)
    check_positive_int("k2", k2)
    if (
        not isinstance(lambda_value, numbers.Real)
        or isinstance(lambda_value, bool)
        or not 0 <= lambda_value <= 1
    ):
        raise EvaluationError(f"lambda_value must lie in [0, 1], got {lambda_value!r}")

    rows = _OriginalDistanceRows(q_g, q_q, g_g)
    num_all = rows.num_all
    neighbours = np.empty((num_all, min(max(k1 + 1, k2), num_all)), np.int64)
    for start, block in rows.blocks():
        neighbours[start : start + len(block)] = _nearest(block, neighbours.shape[1])

    result = np.empty((num_query, num_gallery), np.float32)
    forward = neighbours[:, : min(k1 + 1, num_all)]
    half = neighbours[:, : min(int(round(k1 / 2)) + 1, num_all)]  # round() halves to even, as np.around
    half_reciprocal = _reciprocal(half, np.arange(num_all))
    pieces = []
    for start, block in rows.blocks():
        pieces.append(_encode(block, np.arange(start, start + len(block)), forward, half, half_reciprocal))
        if start < num_query:  # the original-distance share of the result, before the Jaccard share is added
            result[start : start + len(block)] = block[:, num_query:] * lambda_value
    v = _SparseRows.concatenate(pieces, num_all)
    if k2 != 1:  # the reference skips expansion at k2 == 1 (rather than averaging the nearest row alone)
        v = v.average_of(neighbours[:, : min(k2, num_all)], rows.block_rows)
    _add_jaccard(result, v, num_query, 1 - lambda_value)
    return result


class _OriginalDistanceRows:
    """Rows of the reference's `original_dist`: the joint matrix [[q_q, q_g], [q_g^T, g_g]] squared (as
    float32), each column divided by its maximum, then transposed. Row i is thus column i of the squared joint
    matrix over its maximum; blocks never straddle the query/gallery boundary.
    """

    def __init__(self, q_g: np.ndarray, q_q: np.ndarray, g_g: np.ndarray):
        self.q_g, self.q_q, self.g_g = q_g, q_q, g_g
        self.num_query = q_g.shape[0]
        self.num_all = q_g.shape[0] + q_g.shape[1]
        self.block_rows = max(1, _BLOCK_ELEMENTS // self.num_all)
        self.dtype = np.result_type(q_g, q_q, g_g)  # the reference squares its concatenation, in this dtype

    def blocks(self):
        """Yields (first row, float32 block of rows)."""
        for start in range(0, self.num_query, self.block_rows):
            stop = min(start + self.block_rows, self.num_query)
            parts = [self.q_q[:, start:stop].T, self.q_g[start:stop]]
            yield start, _normalise(parts, self.dtype, "query", start)
        for start in range(0, self.num_all - self.num_query, self.block_rows):
            stop = min(start + self.block_rows, self.num_all - self.num_query)
            yield (
                self.num_query + start,
                _normalise(
                    [self.q_g[:, start:stop].T, self.g_g[:, start:stop].T], self.dtype, "gallery image", start
                ),
            )


def _normalise(parts: list[np.ndarray], dtype: np.dtype, kind: str, start: int) -> np.ndarray:
    """Squared in the inputs' common dtype, made float32, divided by the row maximum (as the reference)."""
    joint = np.concatenate(parts, axis=1, dtype=dtype)
    squared = np.square(joint, out=joint).astype(np.float32, copy=False)
    maxima = squared.max(axis=1, keepdims=True)
    if not maxima.all():
        index = start + int(np.flatnonzero(maxima == 0)[0])
        raise EvaluationError(f"re-ranking: every distance of {kind} {index} is zero (identical features?)")
    squared /= maxima
    return squared


def _nearest(block: np.ndarray, k: int) -> np.ndarray:
    """Each row's k smallest entries' indices, ascending, ties by index: a stable argsort's first k."""
    if k >= block.shape[1]:
        return np.argsort(block, axis=1, kind="stable")[:, :k]
    candidates = np.argpartition(block, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(block, candidates, axis=1)
    nearest = np.take_along_axis(candidates, np.lexsort((candidates, values), axis=1), axis=1)
    # argpartition picks arbitrarily among values tied with the k-th: redo such rows with a stable sort
    boundary_ties = np.count_nonzero(block <= values.max(axis=1, keepdims=True), axis=1) > k
    for row in np.flatnonzero(boundary_ties):
        nearest[row] = np.argsort(block[row], kind="stable")[:k]
    return nearest


def _reciprocal(table: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """mask[i, a]: node i is among the neighbours (in `table`) of its a-th neighbour table[nodes[i], a]."""
    return (table[table[nodes]] == nodes[:, None, None]).any(axis=2)


def _encode(
    block: np.ndarray, nodes: np.ndarray, forward: np.ndarray, half: np.ndarray, half_reciprocal: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows `nodes` of V as (row, column, value): exp(-distance) over each node's expanded k-reciprocal set,
    normalised to sum 1.

    R(i) = the k1-reciprocal neighbours of i; each member c's (k1/2)-reciprocal set R'(c) joins when more than
    2/3 of R'(c) already lies in R(i) (the reference's `> 2. / 3 * len` float test, kept as is).
    """
    num_all = forward.shape[0]
    neighbours = forward[nodes]
    reciprocal = _reciprocal(forward, nodes)
    candidate_sets = half[neighbours]  # (rows, k1+1, k1/2+1): the neighbours of each neighbour c...
    candidate_masks = half_reciprocal[neighbours]  # ...that are reciprocal, i.e. R'(c)
    in_set = (candidate_sets[..., None] == neighbours[:, None, None, :]) & reciprocal[:, None, None, :]
    in_set = in_set.any(axis=3)
    overlap = np.count_nonzero(in_set & candidate_masks, axis=2)
    expands = reciprocal & (overlap > 2.0 / 3 * np.count_nonzero(candidate_masks, axis=2))
    members = np.concatenate(
        [
            np.where(reciprocal, neighbours, num_all),
            np.where(candidate_masks & expands[:, :, None], candidate_sets, num_all).reshape(len(nodes), -1),
        ],
        axis=1,
    )
    members.sort(axis=1)
    first = np.ones(members.shape, bool)
    first[:, 1:] = members[:, 1:] != members[:, :-1]
    row, slot = np.nonzero(first & (members < num_all))
    column = members[row, slot]
    weights = np.exp(-block[row, column])
    totals = np.bincount(row, weights=weights, minlength=len(nodes)).astype(np.float32)
    return nodes[row], column, weights / totals[row]


class _SparseRows:
    """V in compressed-row form: row starts, column indices ascending within each row, float32 values."""

    def __init__(self, row: np.ndarray, column: np.ndarray, value: np.ndarray, num_rows: int):
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=num_rows))])
        self.column = column
        self.value = value.astype(np.float32)

    @classmethod
    def concatenate(cls, pieces: list[tuple[np.ndarray, ...]], num_rows: int) -> _SparseRows:
        """From (row, column, value) pieces, each row-major and in row order."""
        return cls(*(np.concatenate(part) for part in zip(*pieces)), num_rows)

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries of the given rows: (which of `rows` each belongs to, its index in column/value)."""
        return concatenated_ranges(self.starts[rows], self.starts[rows + 1] - self.starts[rows])

    def average_of(self, neighbours: np.ndarray, block_rows: int) -> _SparseRows:
        """Local query expansion: row i becomes the mean of the rows neighbours[i] (V_qe in the reference)."""
        num_rows, k = neighbours.shape
        pieces = []
        for start in range(0, num_rows, block_rows):
            owner, entry = self.entries(neighbours[start : start + block_rows].reshape(-1))
            key = (start + owner // k) * num_rows + self.column[entry]
            unique_key, inverse = np.unique(key, return_inverse=True)
            mean = np.bincount(inverse, weights=self.value[entry]) / k
            pieces.append((unique_key // num_rows, unique_key % num_rows, mean))
        return _SparseRows.concatenate(pieces, num_rows)


def _add_jaccard(result: np.ndarray, v: _SparseRows, num_query: int, weight: float) -> None:
    """result += weight * Jaccard distance between each query's row of V and each gallery image's row.

    Jaccard = 1 - m / (2 - m), m = sum over columns l of min(V[q, l], V[g, l]), summed only where V[q, l] > 0
    through an inverted index (gallery rows by column), as the reference's `invIndex`.
    """
    num_all = len(v.starts) - 1
    num_gallery = num_all - num_query
    gallery_owner, gallery_entry = v.entries(np.arange(num_query, num_all))
    by_column = np.argsort(v.column[gallery_entry], kind="stable")
    column_rows = gallery_owner[by_column]
    column_values = v.value[gallery_entry][by_column]
    column_starts = np.concatenate([[0], np.cumsum(np.bincount(v.column[gallery_entry], minlength=num_all))])
    column_sizes = np.diff(column_starts)

    # blocks of consecutive queries, each with at most ~_JACCARD_BLOCK_TERMS terms and a bounded dense output
    owner, entry = v.entries(np.arange(num_query))
    query_terms = np.bincount(owner, weights=column_sizes[v.column[entry]], minlength=num_query)
    block_of_query = (np.cumsum(query_terms) // _JACCARD_BLOCK_TERMS).astype(np.int64)
    block_of_query += np.arange(num_query) // max(1, _BLOCK_ELEMENTS // (2 * num_gallery))
    bounds = np.flatnonzero(np.diff(block_of_query, prepend=-1, append=block_of_query[-1] + 1))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        owner, entry = v.entries(np.arange(start, stop))
        column = v.column[entry]
        term_entry, term_position = concatenated_ranges(column_starts[column], column_sizes[column])
        term = np.minimum(v.value[entry][term_entry], column_values[term_position])
        target = owner[term_entry] * num_gallery + column_rows[term_position]
        overlap = np.bincount(target, weights=term, minlength=(stop - start) * num_gallery)
        overlap = overlap.reshape(stop - start, num_gallery).astype(np.float32)
        result[start:stop] += (1 - overlap / (2 - overlap)) * weight
