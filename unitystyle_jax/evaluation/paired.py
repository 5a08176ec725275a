"""Paired differences between re-ID models, with an interval that covers training noise and the test sample.

Seed s of every row of a comparison shares the IDE's initialisation, data order and generators, and every row is
scored on the same queries. So a difference a − b is formed per seed and per query, d[s, q]; what moves its mean
is which seeds trained (training noise) and which queries were drawn (the test sample). The design has two
structures an interval must respect:
- Seeds are nested: where IDE seed s uses GAN seed s mod G, the IDE seeds of one GAN seed share its draw, so six
  IDE seeds over two GAN seeds hold two independent draws of the GAN's variance, not six.
- Queries are clustered and crossed with the seeds: the queries of one identity share that person, and every
  seed sees the same queries, so the test sample's share of the noise does not shrink with more seeds.

The interval is a bootstrap of both (`bootstrap`): each draw resamples the GAN seeds, then the IDE seeds within
each drawn GAN seed (`groups`), and, independently, the identities with all their queries (`clusters`); its
deviation from the mean is the seed draw's plus the identity draw's. A bootstrap over a handful of units is too
narrow (n units' resampled mean has (n−1)/n of the variance, and a normal spread where the few-unit truth is
Student's t), so the seeds' deviations are scaled by √(G/(G−1)) · t(G−1)/z for the G GAN seeds, the independent
units of the training noise. The 2.5th and 97.5th percentiles of mean + deviation bound the 95% interval; a
difference "differs" only where it excludes 0. Unlabelled (each seed its own GAN seed, each query its own
identity) it is the crossed bootstrap over seeds and queries.

The same parts say what a narrower interval would take (`seeds_for_width`): the seeds' part shrinks as
t(S−1)/√S with more seeds, each with a GAN seed of its own, the identities' part only with more queries, so where
that part alone is wider than the target no number of seeds meets it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import stats

from unitystyle_jax.evaluation.distance import EvaluationError

# How each table metric reads off a query: Rank-1 = its first true match ranks first; mAP and mINP = its AP, INP.
METRICS = {
    "rank1": lambda q: (np.asarray(q["first_rank"]) == 1).astype(np.float64),
    "mAP": lambda q: np.asarray(q["ap"], np.float64),
    "mINP": lambda q: np.asarray(q["inp"], np.float64),
}


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean over seeds and queries and its bootstrap interval (fractions, as the metrics)."""

    mean: float
    low: float
    high: float
    p_value: float = 1.0  # two-sided bootstrap p of the mean against `null` (bounded below by 1 / draws)
    null: float = 0.0

    @property
    def differs(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict:
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "differs": self.differs,
            "p_value": self.p_value,
            "null": self.null,
        }


def differences(a: Sequence[dict], b: Sequence[dict], metric: str) -> list[np.ndarray]:
    """Per seed, per query: metric of a minus metric of b (per-query dicts of the same seeds, in order)."""
    if len(a) != len(b):
        raise EvaluationError(f"paired rows need the same seeds: {len(a)} against {len(b)}")
    out = []
    for seed, (qa, qb) in enumerate(zip(a, b, strict=True)):
        if not np.array_equal(qa["query"], qb["query"]):
            raise EvaluationError(f"seed {seed}: the two rows were scored on different queries")
        out.append(METRICS[metric](qa) - METRICS[metric](qb))
    return out


def seeds_by_queries(values: Sequence[np.ndarray]) -> np.ndarray:
    """values[s][q] as one float64 matrix, refused unless it is seeds x queries with at least one of each."""
    data = np.stack([np.asarray(v, np.float64) for v in values])
    if data.ndim != 2 or data.size == 0:
        raise EvaluationError(f"paired statistics need seeds x queries values, got shape {data.shape}")
    return data


def _labels(labels, size: int, what: str) -> np.ndarray:
    """Each item's group as 0..G-1 (None: every item its own group), refused unless there is one per item."""
    if labels is None:
        return np.arange(size)
    labels = np.asarray(labels)
    if labels.shape != (size,):
        raise EvaluationError(
            f"paired statistics need one {what} label per value: {labels.shape[0]} for {size}"
        )
    return np.unique(labels, return_inverse=True)[1].reshape(size)


def _t_scale(units: int, level: float) -> float:
    """A bootstrap over `units` independent draws made a t interval: √(n/(n−1)) · t(n−1) / z (1 with one)."""
    if units < 2:
        return 1.0
    z = stats.norm.ppf((1 + level) / 2)
    return np.sqrt(units / (units - 1)) * stats.t.ppf((1 + level) / 2, units - 1) / z


def _training_part(seed_means: np.ndarray, groups: np.ndarray, rng, samples: int, level: float) -> np.ndarray:
    """Deviations of the training noise: GAN seeds drawn, then IDE seeds within each drawn GAN seed, scaled for
    the GAN seeds' degrees of freedom (the IDE seeds of one GAN seed share its draw and add none). With one GAN
    seed the IDE seeds are the units, and the GAN's own variance is not covered."""
    count = groups.max() + 1
    if count == 1:
        groups, count = np.arange(len(seed_means)), len(seed_means)  # the IDE seeds are the only units
    sizes = np.bincount(groups)
    members = np.zeros((count, sizes.max()), np.int64)
    for g in range(count):
        members[g, : sizes[g]] = np.flatnonzero(groups == g)
    centre = np.mean([seed_means[groups == g].mean() for g in range(count)])
    drawn = rng.integers(count, size=(samples, count))
    if sizes.max() == 1:  # one IDE seed per GAN seed: nothing to draw within
        means = seed_means[members[drawn, 0]].mean(axis=1)
    else:
        within = np.floor(rng.random((samples, count, sizes.max())) * sizes[drawn][..., None]).astype(
            np.int64
        )
        kept = np.arange(sizes.max()) < sizes[drawn][..., None]
        values = seed_means[members[drawn[..., None], within]] * kept
        means = (values.sum(axis=2) / sizes[drawn]).mean(axis=1)
    return (means - centre) * _t_scale(count, level)


def _test_part(query_means: np.ndarray, clusters: np.ndarray, rng, samples: int) -> np.ndarray:
    """Deviations of the test sample: identities drawn with all their queries (queries of one person are not
    independent draws). Identities number in the hundreds, so no small-sample scaling."""
    count = clusters.max() + 1
    sums, sizes = np.bincount(clusters, query_means, count), np.bincount(clusters, minlength=count)
    draws = []
    for start in range(0, samples, 500):
        drawn = rng.integers(count, size=(min(500, samples - start), count))
        draws.append(sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1))
    return np.concatenate(draws) - query_means.mean()


def bootstrap(
    values: Sequence[np.ndarray],
    samples: int = 5000,
    level: float = 0.95,
    seed: int = 0,
    groups: Sequence[int] | None = None,
    clusters: Sequence[int] | None = None,
    null: float = 0.0,
) -> Interval:
    """The mean of values[s][q] over seeds and queries, with its bootstrap interval (module doc) and two-sided
    p-value against NULL. Pass a row's per-query values for its own interval, or `differences` for a contrast's.
    groups[s]: the GAN seed IDE seed s used (None: each seed its own); clusters[q]: query q's identity (None:
    each query its own)."""
    data = seeds_by_queries(values)
    num_seeds, num_queries = data.shape
    groups, clusters = _labels(groups, num_seeds, "GAN seed"), _labels(clusters, num_queries, "identity")
    rng = np.random.default_rng(seed)
    training = _training_part(data.mean(axis=1), groups, rng, samples, level)
    test = _test_part(data.mean(axis=0), clusters, rng, samples)
    mean = data.mean()
    draws = mean + training + test
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    tail = min(np.mean(draws <= null), np.mean(draws >= null))
    p_value = float(np.clip(2 * tail, 1.0 / samples, 1.0))
    return Interval(float(mean), float(low), float(high), p_value, float(null))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values: each claim of the family is shown at level α when
    its adjusted p is below α, and the chance that any true null is rejected stays at most α."""
    p = np.asarray(p_values, np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def _pair_variance(seed_means: np.ndarray, groups: np.ndarray) -> float | None:
    """The variance of one (GAN seed, IDE seed) pair's mean difference: between GAN seeds plus within one (a
    one-way random-effects split of the seeds' means). None without two GAN seeds to measure the first."""
    count = groups.max() + 1
    if count < 2:
        return None
    sizes = np.bincount(groups)
    group_means = np.bincount(groups, seed_means) / sizes
    if sizes.max() == 1:
        return float(seed_means.var(ddof=1))
    residual = seed_means - group_means[groups]
    within = float((residual**2).sum() / (len(seed_means) - count)) if len(seed_means) > count else 0.0
    between = max(float(group_means.var(ddof=1)) - within * float(np.mean(1.0 / sizes)), 0.0)
    return between + within


def seeds_for_width(
    values: Sequence[np.ndarray],
    half_width: float,
    level: float = 0.95,
    most: int = 1000,
    groups: Sequence[int] | None = None,
    clusters: Sequence[int] | None = None,
) -> int | None:
    """The fewest seeds, each IDE seed with a GAN seed of its own, whose interval of values like these (seeds x
    queries, labelled as `bootstrap` takes them) would be within ±half_width at the spreads measured here: the
    seeds' part t(S−1)·√(pair variance / S), the pair variance split into GAN and IDE parts where GAN seeds are
    shared, and the identities' part z·sd of the mean over identities, added as independent errors. None where
    the identities' part alone is wider (more queries are needed, not seeds), where fewer than 2 GAN seeds give
    no GAN spread to project, or beyond `most`."""
    data = seeds_by_queries(values)
    num_seeds, num_queries = data.shape
    groups, clusters = _labels(groups, num_seeds, "GAN seed"), _labels(clusters, num_queries, "identity")
    pair_variance = _pair_variance(data.mean(axis=1), groups)
    if pair_variance is None:
        return None
    query_means = data.mean(axis=0)
    count = clusters.max() + 1
    totals = np.bincount(clusters, query_means - query_means.mean(), count)
    query_sd = np.sqrt(count / (count - 1) * (totals**2).sum()) / num_queries if count > 1 else 0.0
    query_half = stats.norm.ppf((1 + level) / 2) * query_sd
    if query_half >= half_width:
        return None
    for seeds in range(2, most + 1):
        seed_half = stats.t.ppf((1 + level) / 2, seeds - 1) * np.sqrt(pair_variance / seeds)
        if np.hypot(seed_half, query_half) <= half_width:
            return seeds
    return None
