"""Paired differences between re-ID models, with an interval that covers training noise and the test sample.

Seed s of every row of a comparison shares the IDE's initialisation, data order and generators, and every row is
scored on the same queries. So a difference a − b is formed per seed and per query, d[s, q]; what moves its mean
is which seeds trained (training noise, GAN seeds included where seeds are split over them) and which queries
were drawn (the test sample). Seeds and queries are crossed, not nested: every seed sees the same queries, so the
test sample's share of the noise does not shrink with more seeds.

The interval is a crossed ("pigeonhole") bootstrap: each draw resamples the S seeds with replacement and,
independently, the Q queries, and its deviation from the mean is the seed draw's (mean of the drawn seeds'
d[s, :]) plus the query draw's (mean of the drawn queries' d[:, q]). A bootstrap over a handful of seeds is too
narrow (five seeds' resampled mean has (S−1)/S of the variance, and a normal spread where the few-seed truth is
Student's t), so the seed deviations are scaled by √(S/(S−1)) · t(S−1)/z, the small-sample correction that makes
the seed part a t interval. The 2.5th and 97.5th percentiles of mean + deviation bound the 95% interval; a
difference "differs" only where it excludes 0. With one seed the interval covers the test sample only.

The same two parts say what a narrower interval would take (`seeds_for_width`): the seeds' part shrinks as
t(S−1)/√S with more seeds, the queries' part only with more queries, so where the queries' part alone is wider
than the target no number of seeds meets it.
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

    @property
    def differs(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "differs": self.differs}


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


def bootstrap(
    values: Sequence[np.ndarray], samples: int = 5000, level: float = 0.95, seed: int = 0
) -> Interval:
    """The mean of values[s][q] over seeds and queries, with its bootstrap interval (module doc). Pass a row's
    per-query values for its own interval, or `differences` for a contrast's."""
    data = seeds_by_queries(values)
    num_seeds, num_queries = data.shape
    mean = data.mean()
    rng = np.random.default_rng(seed)
    seed_means, query_means = data.mean(axis=1), data.mean(axis=0)
    seed_part = seed_means[rng.integers(num_seeds, size=(samples, num_seeds))].mean(axis=1) - mean
    if num_seeds > 1:
        z = stats.norm.ppf((1 + level) / 2)
        seed_part *= np.sqrt(num_seeds / (num_seeds - 1)) * stats.t.ppf((1 + level) / 2, num_seeds - 1) / z
    query_part = (
        np.concatenate(
            [
                query_means[rng.integers(num_queries, size=(min(500, samples - start), num_queries))].mean(
                    axis=1
                )
                for start in range(0, samples, 500)
            ]
        )
        - mean
    )
    low, high = np.quantile(mean + seed_part + query_part, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(mean), float(low), float(high))


def seeds_for_width(
    values: Sequence[np.ndarray], half_width: float, level: float = 0.95, most: int = 1000
) -> int | None:
    """The fewest seeds whose interval of values like these (seeds x queries, as `bootstrap` takes) would be
    within ±half_width, at the spreads measured here: the seeds' part t(S−1)·sd(seed means)/√S and the queries'
    part z·sd(query means)/√Q, added as independent errors. None where the queries' part alone is wider (more
    queries are needed, not seeds), where fewer than 2 seeds give no spread to project, or beyond `most`."""
    data = seeds_by_queries(values)
    num_seeds, num_queries = data.shape
    if num_seeds < 2:
        return None
    z = stats.norm.ppf((1 + level) / 2)
    query_half = z * data.mean(axis=0).std(ddof=1) / np.sqrt(num_queries)
    seed_sd = data.mean(axis=1).std(ddof=1)
    if query_half >= half_width:
        return None
    for seeds in range(2, most + 1):
        seed_half = stats.t.ppf((1 + level) / 2, seeds - 1) * seed_sd / np.sqrt(seeds)
        if np.hypot(seed_half, query_half) <= half_width:
            return seeds
    return None
