"""The comparison's paired statistics on constructed inputs with known answers: identical rows give an interval
around 0, a shifted row is found, the interval covers the truth at about its level and carries the seeds' spread,
the seeds a narrower interval needs are projected as the interval is built, and each query's figures add up to the
metrics they come from."""

import numpy as np
from scipy import stats
import pytest

from unitystyle_jax.evaluation import EvaluationError, evaluate_rank, paired, report

SEEDS, QUERIES = 5, 400


def constructed_rows(rng, shift: float, seed_spread: float = 0.02):
    """Per-query APs of two rows over SEEDS seeds: a shared per-query difficulty, a per-seed training effect
    each row has on its own, and per-query noise; row a is `shift` better on average."""
    difficulty = rng.uniform(0.2, 0.8, QUERIES)
    rows = []
    for offset in (shift, 0.0):
        seeds = [
            {
                "query": np.arange(QUERIES),
                "ap": np.clip(
                    difficulty + offset + rng.normal(0, seed_spread) + rng.normal(0, 0.1, QUERIES), 0, 1
                ),
                "first_rank": np.ones(QUERIES, np.int64),
                "inp": np.ones(QUERIES),
            }
            for _ in range(SEEDS)
        ]
        rows.append(seeds)
    return rows


def test_identical_rows_give_a_zero_interval():
    a, _ = constructed_rows(np.random.default_rng(0), 0.0)
    interval = paired.bootstrap(paired.differences(a, a, "mAP"))
    assert (interval.mean, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert not interval.differs


def test_rows_of_one_process_are_rarely_told_apart_and_a_shifted_row_is_found():
    rng = np.random.default_rng(1)
    trials = 40
    false_alarms = found = 0
    for trial in range(trials):
        a, b = constructed_rows(rng, 0.0)
        false_alarms += paired.bootstrap(paired.differences(a, b, "mAP"), samples=1000, seed=trial).differs
        a, b = constructed_rows(rng, 0.1)  # about four times the seeds' spread of a difference
        shifted = paired.bootstrap(paired.differences(a, b, "mAP"), samples=1000, seed=trial)
        found += shifted.differs and shifted.low > 0.0
    assert false_alarms / trials <= 0.15
    assert found / trials >= 0.9
    swapped = paired.bootstrap(paired.differences(b, a, "mAP"))
    assert swapped.mean == pytest.approx(-shifted.mean) and swapped.high < 0.0


def test_the_interval_covers_the_true_difference_at_about_its_level():
    rng = np.random.default_rng(2)
    covered = 0
    trials = 60
    for trial in range(trials):
        a, b = constructed_rows(rng, 0.03)
        # The truth: the shift plus the two rows' expected training effects (0), clipping aside.
        interval = paired.bootstrap(paired.differences(a, b, "mAP"), samples=1000, seed=trial)
        covered += interval.low <= 0.03 <= interval.high
    assert covered / trials >= 0.85


def test_the_interval_carries_the_seeds_spread():
    """The seed stage is there: the same query noise with a larger training effect widens the interval (a
    query-only bootstrap would not see it)."""
    widths = []
    for spread in (0.0, 0.05):
        a, b = constructed_rows(np.random.default_rng(3), 0.0, seed_spread=spread)
        interval = paired.bootstrap(paired.differences(a, b, "mAP"))
        widths.append(interval.high - interval.low)
    assert widths[1] > 2 * widths[0]


def test_the_seeds_a_width_needs_have_a_known_answer_and_agree_with_the_bootstrap():
    # Per-seed effects of sample std 3.2 points, no query noise: t(S-1) * 3.2 / sqrt(S) first falls within 2
    # points at S = 13 (12 seeds give 2.03).
    effects = np.random.default_rng(6).normal(size=4)
    effects = 0.032 * (effects - effects.mean()) / effects.std(ddof=1)
    flat = [np.full(QUERIES, e) for e in effects]
    assert paired.seeds_for_width(flat, 0.02) == 13
    assert paired.seeds_for_width(flat, 0.0204) == 12
    assert paired.seeds_for_width(flat[:1], 0.02) is None  # one seed: no spread to project
    # The queries' part alone wider than the target: more seeds cannot help.
    noisy = [np.random.default_rng(7).normal(0, 0.5, QUERIES)] * 4
    assert paired.seeds_for_width(noisy, 0.02) is None
    assert paired.seeds_for_width(noisy, 0.2) == 2
    # On rows of the constructed kind, the projection at the measured seeds is the bootstrap's own width.
    a, b = constructed_rows(np.random.default_rng(8), 0.0)
    diffs = paired.differences(a, b, "mAP")
    interval = paired.bootstrap(diffs)
    half = (interval.high - interval.low) / 2
    assert paired.seeds_for_width(diffs, 1.1 * half) <= SEEDS < paired.seeds_for_width(diffs, 0.9 * half)


def test_rows_scored_on_other_queries_or_seeds_are_refused():
    a, b = constructed_rows(np.random.default_rng(4), 0.0)
    moved = [dict(q, query=q["query"] + 1) for q in b]
    with pytest.raises(EvaluationError, match="seed 0: the two rows were scored on different queries"):
        paired.differences(a, moved, "mAP")
    with pytest.raises(EvaluationError, match="paired rows need the same seeds: 5 against 4"):
        paired.differences(a, b[:4], "mAP")


def test_per_query_figures_add_up_to_the_metrics(tmp_path):
    rng = np.random.default_rng(5)
    num_query, num_gallery = 30, 200
    q_pids, g_pids = rng.integers(0, 12, num_query), rng.integers(0, 12, num_gallery)
    q_pids[0] = 99  # no true match: not a valid query
    q_cams, g_cams = rng.integers(0, 3, num_query), rng.integers(0, 3, num_gallery)
    result = evaluate_rank(rng.random((num_query, num_gallery)), q_pids, g_pids, q_cams, g_cams)
    per_query = result["per_query"]
    assert 0 not in per_query["query"] and len(per_query["query"]) == result["num_valid_queries"]
    assert np.mean(per_query["ap"]) == pytest.approx(result["mAP"])
    assert np.mean(per_query["inp"]) == pytest.approx(result["mINP"])
    assert np.mean(paired.METRICS["rank1"](per_query)) == pytest.approx(result["cmc"][0])
    report.write_per_query(str(tmp_path), per_query)
    read = report.read_per_query(str(tmp_path))
    assert all(np.array_equal(read[k], per_query[k]) for k in per_query)
    (tmp_path / report.PER_QUERY_FILE).write_bytes(b"not a zip")
    with pytest.raises(EvaluationError, match="per_query.npz: no readable per-query results"):
        report.read_per_query(str(tmp_path))


def nested_differences(
    rng, ide_seeds: int, gan_seeds: int, identities: int, gan_spread: float, ide_spread: float
):
    """Per-query differences of two rows whose true mean difference is 0: IDE seed s uses GAN seed s mod
    gan_seeds (a GAN effect shared by its IDE seeds), each IDE seed adds its own effect, each identity's two
    queries share an effect, and every seed x query cell its own noise."""
    gan = rng.normal(0, gan_spread, gan_seeds)
    person = np.repeat(rng.normal(0, 0.05, identities), 2)
    query = rng.normal(0, 0.1, 2 * identities)
    groups = np.arange(ide_seeds) % gan_seeds
    values = [
        gan[g] + rng.normal(0, ide_spread) + person + query + rng.normal(0, 0.1, 2 * identities)
        for g in groups
    ]
    return values, groups, np.repeat(np.arange(identities), 2)


def coverage(nested: bool, draws: int = 300, **design) -> float:
    rng, covered = np.random.default_rng(7), 0
    for draw in range(draws):
        values, groups, clusters = nested_differences(rng, **design)
        kept = dict(groups=groups, clusters=clusters) if nested else {}
        interval = paired.bootstrap(values, samples=1000, seed=draw, **kept)
        covered += interval.low <= 0.0 <= interval.high
    return covered / draws


def test_the_nested_interval_keeps_its_coverage_where_gan_seeds_are_shared():
    """6 IDE seeds over 2 GAN seeds, the GAN's spread twice the IDE's, 500 queries of 250 identities: the interval
    that draws GAN seeds, then IDE seeds within them, then identities covers the true difference at least 93% of
    the time; the one that takes the 6 seeds and 500 queries as independent (the negative control) falls below
    85%."""
    design = dict(ide_seeds=6, gan_seeds=2, identities=250, gan_spread=0.02, ide_spread=0.01)
    assert coverage(nested=True, **design) >= 0.93
    assert coverage(nested=False, **design) < 0.85


def test_one_gan_seed_per_ide_seed_and_one_query_per_identity_is_the_crossed_interval():
    values, _, _ = nested_differences(np.random.default_rng(3), 5, 5, 200, 0.02, 0.01)
    plain = paired.bootstrap(values, samples=2000)
    labelled = paired.bootstrap(values, samples=2000, groups=[10, 11, 12, 13, 14], clusters=np.arange(400))
    np.testing.assert_allclose([plain.low, plain.high], [labelled.low, labelled.high], rtol=1e-12)
    with pytest.raises(EvaluationError, match="one GAN seed label per value: 3 for 5"):
        paired.bootstrap(values, groups=[0, 1, 0])


def test_the_seeds_a_width_needs_count_the_gan_seeds_variance_once_per_gan_seed():
    """Two GAN seeds of three IDE seeds each: seed means a ± w around +a and -a (a = 2, w = 1.5 points). The
    between-GAN variance 2a² − w²/3 plus the within w² make one (GAN, IDE) pair's variance 2a² + 2w²/3; taken as
    six independent seeds the spread is (6a² + 4w²)/5, and fewer seeds look enough."""
    a, w = 0.02, 0.015
    means = [a - w, a, a + w, -a - w, -a, -a + w]
    flat = [np.full(QUERIES, m) for m in means]
    pair_sd = np.sqrt(2 * a**2 + 2 * w**2 / 3)
    expected = next(n for n in range(2, 100) if stats.t.ppf(0.975, n - 1) * pair_sd / np.sqrt(n) <= 0.02)
    nested = paired.seeds_for_width(flat, 0.02, groups=[0, 0, 0, 1, 1, 1])
    assert nested == expected
    assert paired.seeds_for_width(flat, 0.02) < nested
    assert paired.seeds_for_width(flat, 0.02, groups=[0] * 6) is None  # one GAN seed: its spread unknown


def test_holm_adjusts_step_down_and_keeps_the_order():
    np.testing.assert_allclose(paired.holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
    np.testing.assert_allclose(paired.holm([0.3, 0.9]), [0.6, 0.9])


def test_the_p_value_agrees_with_the_interval():
    """p < 5% exactly where the 95% interval excludes the null, for nulls on both sides of the mean."""
    a, b = constructed_rows(np.random.default_rng(9), 0.03)
    diffs = paired.differences(a, b, "mAP")
    interval = paired.bootstrap(diffs)
    for null in (interval.low - 0.002, interval.low + 0.002, interval.high - 0.002, interval.high + 0.002):
        tested = paired.bootstrap(diffs, null=null)
        assert (tested.p_value < 0.05) == (not tested.low <= null <= tested.high), (null, tested)
