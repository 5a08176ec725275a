"""The comparison's numbers from its per-seed metrics: each row's spread, each contrast's paired difference with a
nested bootstrap interval, and each claim's Holm-corrected verdict."""

import numpy as np

from unitystyle_jax.evaluation import paired
from unitystyle_jax.commands.comparison.rows import (
    AS_GOOD_PAIRS,
    CLAIM_LEVEL,
    CLAIMS,
    CONTRASTS,
    MARGIN,
    METRICS,
    STYLE_SETS,
)


def _spread(values) -> dict:
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def claim_verdicts(by_pair: dict) -> list[dict]:
    """Each claim whose contrast was run: its p-value against its floor, Holm-adjusted over the claims tested,
    and its verdict; an "as good" claim against a comparator not shown above the IDE is not tested."""
    claims = []
    for claim, a, b, kind in CLAIMS:
        if (a, b) not in by_pair:
            continue
        contrast, comparator = by_pair[a, b], by_pair.get((b, "ide"))
        testable = kind == "better" or (comparator is not None and comparator["mAP"]["low"] > 0.0)
        p_value = contrast["mAP"]["p_value"] if kind == "better" else contrast["p_against_margin"]
        claims.append(
            {"claim": claim, "row": a, "against": b, "kind": kind, "testable": testable, "p_value": p_value}
        )
    tested = [c for c in claims if c["testable"]]
    for c, adjusted in zip(tested, paired.holm([c["p_value"] for c in tested])):
        floor = 0.0 if c["kind"] == "better" else -MARGIN
        above = by_pair[c["row"], c["against"]]["mAP"]["mean"] > floor
        c["p_holm"] = adjusted
        c["verdict"] = (
            ("shown" if above else "contradicted") if adjusted < CLAIM_LEVEL else "not separable here"
        )
    for c in claims:
        if not c["testable"]:
            c.update(p_holm=None, verdict=f"not testable here ({c['against']} is not shown above the IDE)")
    return claims


def shared_draws(counts: list[int], num_seeds: int) -> list[int] | None:
    """IDE seeds grouped where they share a generator draw: for each style set of COUNTS GAN seeds, seeds i and j
    with i ≡ j (mod its count) share one, and sharing is transitive. None where no set has GANs."""
    if not counts:
        return None
    label = list(range(num_seeds))
    for count in counts:
        for i in range(num_seeds):
            for j in range(i):
                if i % count == j % count and label[i] != label[j]:
                    old, new = max(label[i], label[j]), min(label[i], label[j])
                    label = [new if x == old else x for x in label]
    return label


def summarise(config, rows, seeds, per_seed: dict, style_report: dict, splits) -> dict:
    """Per row and metric: mean, sample std over seeds and the bootstrap interval; per contrast: the paired
    difference with its interval; per claim: its verdict."""
    samples = config.compare.bootstrap_samples
    by_key = {r.key: r for r in rows}

    def design(keys, per_query) -> dict:
        """The seeds' and queries' structure the intervals draw by: the IDE seeds that share a generator draw of
        a style set the rows of KEYS use, and each query's identity."""
        sets = {STYLE_SETS[n] for k in keys for n in (by_key[k].styles, by_key[k].test) if n}
        counts = [s.gan_seed_count(config) for s in sets if s.made_by_gans]
        groups = shared_draws(counts, len(seeds))
        return {"groups": groups, "clusters": [splits.query[i].pid for i in per_query["query"]]}

    table = {}
    for row in rows:
        runs = per_seed[row.key]
        styles = style_report.get(row.styles, [])
        entry = {"title": row.title}
        for _, key in METRICS:
            values = [paired.METRICS[key](m["per_query"]) for m in runs]
            interval = paired.bootstrap(values, samples, **design([row.key], runs[0]["per_query"])).as_dict()
            entry[key] = {**_spread([m[key] for m in runs]), "low": interval["low"], "high": interval["high"]}
        entry.update(
            per_seed=[
                {**{key: m[key] for _, key in METRICS}, "train_seconds": m.get("train_seconds")} for m in runs
            ],
            generators=styles[0]["generators"] if styles else 0,
            gan_seconds=sum(s["seconds"].get("gan", 0.0) for s in styles),
            transfer_seconds=sum(s["seconds"].get("transfer", 0.0) for s in styles),
        )
        table[row.key] = entry
    contrasts = []
    for a, b in CONTRASTS:
        if a not in table or b not in table:
            continue
        entry = {"row": a, "against": b}
        structure = design([a, b], per_seed[a][0]["per_query"])
        for _, key in METRICS:
            diffs = paired.differences(
                [m["per_query"] for m in per_seed[a]], [m["per_query"] for m in per_seed[b]], key
            )
            entry[key] = paired.bootstrap(diffs, samples, **structure).as_dict()
            if key == "mAP":
                entry["seeds_for_margin"] = paired.seeds_for_width(diffs, MARGIN, **structure)
            if key == "mAP" and (a, b) in AS_GOOD_PAIRS:  # what an "as good" claim is tested by
                margin = paired.bootstrap(diffs, samples, **structure, null=-MARGIN)
                entry["p_against_margin"] = margin.p_value
        contrasts.append(entry)
    by_pair = {(c["row"], c["against"]): c for c in contrasts}
    claims = claim_verdicts(by_pair)
    style_summaries = {
        name: [{"gan_seed": m["seed"], **m["summary"]["style"]} for m in made if m["summary"].get("style")]
        for name, made in style_report.items()
    }
    return {
        "dataset": {
            "name": config.data.name,
            "root": config.data.root,
            "cameras": len(splits.cameras),
            "queries": len(splits.query),
            "gallery": len(splits.gallery),
            "test_identities": len({r.pid for r in splits.query}),
        },
        "seeds": seeds,
        "gan_seeds": {
            name: STYLE_SETS[name].gan_seeds(config) for name in style_report if STYLE_SETS[name].made_by_gans
        },
        "reid_steps": config.reid.num_steps,
        "gan_steps": config.gan.num_steps,
        "bootstrap_samples": samples,
        "margin": MARGIN,
        "loss_normalization": config.reid.loss_normalization,
        "rows": table,
        "contrasts": contrasts,
        "claims": claims,
        "style": {name: entries for name, entries in style_summaries.items() if entries},
    }
