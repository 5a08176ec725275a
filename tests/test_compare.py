"""`unitystyle-compare` at the tiny config: every row trained with two seeds over two GAN seeds and
reported with its spread and interval, the paired contrasts and the claims' verdicts, CamStyle's pairwise models
and UnityStyle's per-camera ones counted, a second invocation resuming to the same numbers without training
anything, a fresh workdir continuing from the comparison's record, and bad settings stopped before any work."""

import json
import os

import pytest

import runs
from unitystyle_jax.commands.comparison import record as record_files
from unitystyle_jax.commands.comparison import rows as declared
from unitystyle_jax.commands.comparison import statistics

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

SEEDS = 2
TINY_CAMERAS = 3  # SyntheticSpec.tiny()


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    workdir, results, record = base / "runs", base / "results", base / "record"
    flags = (
        f"--results={results}",
        f"--config.compare.seeds={SEEDS}",
        "--config.compare.rows=all",
        f"--record={record}",
    )
    first = runs.run("unitystyle_jax.commands.compare", workdir, *flags, timeout=2400)
    with open(results / "compare.json") as f:
        report = json.load(f)
    again = runs.run("unitystyle_jax.commands.compare", workdir, *flags, timeout=1200)
    with open(results / "compare.json") as f:
        resumed = json.load(f)
    return workdir, results, report, resumed, first, again


def test_every_row_is_reported_with_its_seeds(compared):
    _, results, report, _, _, _ = compared
    assert list(report["rows"]) == list(declared.ROW_KEYS)
    # One GAN seed per IDE seed for the UnityGANs; CamStyle's pairs once (compare.pair_gan_seeds).
    assert report["seeds"] == [0, 1]
    pairs = {"camstyle": [0], "unitygan_pairs": [0]}
    assert report["gan_seeds"] == {**pairs, "unitystyle": [0, 1], "unitystyle_attention": [0, 1]}
    markdown = (results / "compare.md").read_text()
    for key, row in report["rows"].items():
        assert len(row["per_seed"]) == SEEDS, key
        for metric in ("rank1", "mAP", "mINP"):
            values = [run[metric] for run in row["per_seed"]]
            assert all(0.0 <= v <= 1.0 for v in values), (key, metric)
            assert row[metric]["mean"] == pytest.approx(sum(values) / SEEDS)
            assert row[metric]["low"] <= row[metric]["mean"] <= row[metric]["high"], (key, metric)
        assert row["title"] in markdown
    # The seeds do vary the IDE training: not every row's two seeds score alike.
    assert any(len({run["mAP"] for run in row["per_seed"]}) == SEEDS for row in report["rows"].values())


def test_generator_counts_and_styled_sets(compared):
    workdir, _, report, _, _, _ = compared
    rows = report["rows"]
    pairs = TINY_CAMERAS * (TINY_CAMERAS - 1) // 2
    assert rows["camstyle"]["generators"] == rows["unitygan_pairs"]["generators"] == pairs
    assert rows["unitystyle"]["generators"] == rows["unitystyle_attention"]["generators"] == TINY_CAMERAS
    assert all(rows[key]["generators"] == 0 for key in ("ide", "real_twin", "colour_norm", "torch_ide"))
    assert rows["camstyle"]["gan_seconds"] > 0 and rows["unitystyle"]["transfer_seconds"] > 0
    # Each GAN row's generators, once per GAN seed; the colour statistics once.
    pair_dirs = sorted(os.listdir(workdir / "styles" / "camstyle" / "gan_seed0" / "gan"))
    assert pair_dirs == ["cam0-cam1", "cam0-cam2", "cam1-cam2"]
    assert not (workdir / "styles" / "camstyle" / "gan_seed1").exists()
    with open(workdir / "styles" / "camstyle" / "gan_seed0" / "camstyle" / "train.csv") as f:
        generated = f.read().splitlines()[1:]
    with open(workdir / "styles" / "unitystyle" / "gan_seed1" / "unitystyle" / "train.csv") as f:
        real_train = len(f.read().splitlines()) - 1
    assert len(generated) == (TINY_CAMERAS - 1) * real_train  # every image into every other camera's style
    assert [s["gan_seed"] for s in report["style"]["unitystyle"]] == [0, 1]
    assert {"unitystyle", "unitystyle_attention", "colour_norm"} <= set(report["style"])
    assert len(report["style"]["colour_norm"]) == 1
    # The two GAN seeds' generators differ.
    first, second = (s["ssim"] for s in report["style"]["unitystyle"])
    assert first != second


def test_contrasts_are_paired_intervals_and_claims_get_verdicts(compared):
    workdir, results, report, _, _, _ = compared
    contrasts = {(c["row"], c["against"]): c for c in report["contrasts"]}
    assert set(contrasts) == set(declared.CONTRASTS)
    for c in contrasts.values():
        for metric in ("rank1", "mAP", "mINP"):
            d = c[metric]
            assert d["low"] <= d["mean"] <= d["high"]
            assert d["differs"] == (d["low"] > 0 or d["high"] < 0)
        # What a +-2 mAP interval would take: a seed count beyond these 2, or None where the queries' part alone
        # is wider (tiny's test split is small).
        assert c["seeds_for_margin"] is None or c["seeds_for_margin"] >= 2
    # The paired mean difference is the difference of the rows' means (the same queries in every row).
    rows = report["rows"]
    for (a, b), c in contrasts.items():
        assert c["mAP"]["mean"] == pytest.approx(rows[a]["mAP"]["mean"] - rows[b]["mAP"]["mean"])
    assert [c["claim"] for c in report["claims"]] == [claim for claim, *_ in declared.CLAIMS]
    assert all(
        c["verdict"] in ("shown", "contradicted", "not separable here")
        or c["verdict"].startswith("not testable")
        for c in report["claims"]
    )
    markdown = (results / "compare.md").read_text()
    assert "crossed bootstrap" not in markdown and "nested bootstrap" in markdown
    assert "| seeds for mAP ±2 |" in markdown
    # The test-time-only row evaluates the IDE's own model on the UnityStyle query and gallery.
    assert (workdir / "seed0" / "ide" / "eval_ide_unitystyle_test" / "per_query.npz").exists()
    assert not (workdir / "seed0" / "ide_unitystyle_test").exists()


def test_a_second_invocation_resumes_everything(compared):
    _, _, report, resumed, first, again = compared
    for key in report["rows"]:
        # Finding a model trained or a style set complete adds nothing to the time it took (the per-seed
        # records hold each IDE's training time).
        assert resumed["rows"][key]["per_seed"] == report["rows"][key]["per_seed"], key
        for stage in ("gan_seconds", "transfer_seconds"):
            assert resumed["rows"][key][stage] == report["rows"][key][stage], (key, stage)
    # Every evaluation kept: no GAN or IDE is even restored, and no training step runs.
    assert "skipping" not in again.stderr and " step 1/" not in again.stderr
    assert " step 1/" in first.stderr


def test_a_fresh_workdir_continues_from_the_record_alone(compared, tmp_path):
    """The record (evaluations, run times, style sets' summaries; no checkpoints or images) read into an empty
    workdir: only the IDE whose evaluation was taken out of it trains again, no GAN does, and the report's numbers
    are the first run's."""
    workdir, _, report, _, _, _ = compared
    record = tmp_path / "record"
    copied = record_files.copy(str(workdir.parent / "record"), str(record), replace=True)
    assert copied and not any("checkpoints" in path or path.endswith(".jpg") for path in copied)
    assert any(path.endswith(record_files.MADE_FILE) for path in copied)  # each style set's summary
    os.remove(record / "seed1" / "ide" / "eval_ide" / "metrics.json")
    results, fresh = tmp_path / "results", tmp_path / "runs"
    flags = (f"--results={results}", f"--config.compare.seeds={SEEDS}", "--config.compare.rows=all")
    runs.run("unitystyle_jax.commands.compare", fresh, *flags, f"--record={record}", timeout=1200)
    with open(results / "compare.json") as f:
        continued = json.load(f)
    for key in report["rows"]:
        for first, again in zip(report["rows"][key]["per_seed"], continued["rows"][key]["per_seed"]):
            assert {m: again[m] for m in ("rank1", "mAP", "mINP")} == {
                m: first[m] for m in ("rank1", "mAP", "mINP")
            }
    assert continued["style"] == report["style"]
    trained = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("checkpoints"))
    assert trained == ["seed1/ide/checkpoints"]  # the control: that IDE did train again
    assert (
        record / "seed1" / "ide" / "eval_ide" / "metrics.json"
    ).exists()  # and its evaluation was recorded


def test_a_bad_setting_is_one_error_line_before_any_work(tmp_path):
    """The command's contract for every setting test_preflight.py checks in-process: one `error:` line, exit 1,
    nothing trained."""
    result = runs.run(
        "unitystyle_jax.commands.compare",
        tmp_path / "runs",
        f"--results={tmp_path / 'results'}",
        "--config.compare.rows=ide,bogus",
        check=False,
        fresh=True,  # the comparison's one start in a new interpreter (tests/forked.py)
    )
    message = "config.compare.rows='ide,bogus': unknown row(s) ['bogus']"
    assert runs.one_error_line(result).startswith(f"error: {message}"), result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "runs" / "styles")


def claim_contrast(mean: float, low: float, p_value: float, p_against_margin: float = 1.0) -> dict:
    return {"mAP": {"mean": mean, "low": low, "p_value": p_value}, "p_against_margin": p_against_margin}


def test_claims_are_holm_corrected_and_an_as_good_claim_needs_a_comparator_above_the_ide():
    """Two "better" claims at p 0.03 and 0.04 beside a third at 1.0: each below 5% alone, but Holm multiplies the
    smallest by the 3 claims tested and the next by 2 (then keeps the order), so neither is shown. CamStyle not above the IDE: "as good as CamStyle" is not testable; once it
    is above, the same contrast is tested against the margin."""
    by_pair = {
        ("unitystyle", "ide"): claim_contrast(0.03, 0.001, 0.03),
        ("unitystyle", "real_twin"): claim_contrast(0.02, 0.0005, 0.04),
        ("unitystyle", "camstyle"): claim_contrast(0.0, -0.01, 1.0, p_against_margin=0.001),
        ("camstyle", "ide"): claim_contrast(0.01, -0.01, 0.3),
    }
    claims = {c["claim"]: c for c in statistics.claim_verdicts(by_pair)}
    primary, twin = (claims[c[0]] for c in declared.CLAIMS[:2])
    assert (primary["p_holm"], twin["p_holm"]) == pytest.approx((0.09, 0.09))
    assert primary["verdict"] == twin["verdict"] == "not separable here"
    as_good = claims[declared.CLAIMS[3][0]]
    assert as_good["verdict"].startswith("not testable here") and as_good["p_holm"] is None
    by_pair["camstyle", "ide"] = claim_contrast(0.05, 0.02, 0.001)
    claims = {c["claim"]: c for c in statistics.claim_verdicts(by_pair)}
    assert claims[declared.CLAIMS[3][0]]["verdict"] == "shown"
    assert claims[declared.CLAIMS[3][0]]["p_holm"] == pytest.approx(0.004)  # the smallest of 4 tested
    assert claims[declared.CLAIMS[2][0]]["verdict"] == "not separable here"


def test_ide_seeds_that_share_a_generator_draw_are_grouped():
    """UnityStyle with one GAN seed per IDE seed: every seed its own draw; beside CamStyle's single pair set,
    all share its draw; two GAN seeds over four IDE seeds: seeds 0, 2 and 1, 3."""
    assert statistics.shared_draws([], 4) is None
    assert statistics.shared_draws([4], 4) == [0, 1, 2, 3]
    assert statistics.shared_draws([4, 1], 4) == [0, 0, 0, 0]
    assert statistics.shared_draws([2], 4) == [0, 1, 0, 1]
    assert statistics.shared_draws([2, 3], 6) == [0, 0, 0, 0, 0, 0]  # 0~2~4, 1~3~5, 0~3: one draw
