"""The comparison's Markdown report (RESULTS/compare.md) from its summary."""

import numpy as np
from unitystyle_jax.commands.comparison.rows import CLAIM_LEVEL, CLAIMS, METRICS, STYLE_SETS


def _cell(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f} [{100 * stat['low']:.1f}, {100 * stat['high']:.1f}]"


def _difference(stat: dict) -> str:
    mark = " **differs**" if stat["differs"] else ""
    return f"{100 * stat['mean']:+.1f} [{100 * stat['low']:+.1f}, {100 * stat['high']:+.1f}]{mark}"


def render_markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [
        "| method | Rank-1 | mAP | mINP | generator models | GAN training | transfer | IDE training per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        gan = f"{r['gan_seconds']:.0f} s" if r["generators"] else "–"
        moved = f"{r['transfer_seconds']:.0f} s" if r["transfer_seconds"] else "–"
        trained = [t for t in (s["train_seconds"] for s in r["per_seed"]) if t is not None]
        ide = f"{np.mean(trained):.0f} s" if trained else "–"
        cells = " | ".join(_cell(r[key]) for _, key in METRICS)
        lines.append(f"| {r['title']} | {cells} | {r['generators']} | {gan} | {moved} | {ide} |")
    margin = f"±{100 * report['margin']:.0f}"
    contrast_lines = [
        f"| paired difference | Rank-1 | mAP | mINP | seeds for mAP {margin} |",
        "|---|---|---|---|---|",
    ]
    for c in report["contrasts"]:
        cells = " | ".join(_difference(c[key]) for _, key in METRICS)
        needed = c["seeds_for_margin"] or ("more queries" if len(report["seeds"]) > 1 else "–")
        contrast_lines.append(
            f"| {rows[c['row']]['title']} − {rows[c['against']]['title']} | {cells} | {needed} |"
        )
    by_pair = {(c["row"], c["against"]): c for c in report["contrasts"]}
    claim_lines = [
        "| the paper's claim | mAP difference [95% interval] | p | p, Holm | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in report["claims"]:
        name = f"**{c['claim']}** (primary)" if c["claim"] == CLAIMS[0][0] else c["claim"]
        holm = "–" if c["p_holm"] is None else f"{c['p_holm']:.3f}"
        claim_lines.append(
            f"| {name} | {_difference(by_pair[c['row'], c['against']]['mAP'])} | {c['p_value']:.3f} | {holm} "
            f"| {c['verdict']} |"
        )
    style_lines = [
        "| styled images | GAN seed | style ratio R real → styled | camera probe % real → styled | colour spread "
        "| contrast spread | SSIM |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entries in report["style"].items():
        for s in entries:
            ratio = s["style_ratio"]
            r_text = f"{ratio['real']:.2f} → {ratio['unity']:.2f}" if ratio["real"] is not None else "–"
            probe = s["camera_probe"]
            p_text = f"{100 * probe['real']:.1f} → {100 * probe['unity']:.1f}" if probe else "–"
            gan_seed = s["gan_seed"] if STYLE_SETS[name].made_by_gans else "–"
            style_lines.append(
                f"| {STYLE_SETS[name].title} | {gan_seed} | {r_text} | {p_text} | "
                f"{s['colour_spread']['real']:.1f} → {s['colour_spread']['unity']:.1f} | "
                f"{s['contrast_spread']['real']:.1f} → {s['contrast_spread']['unity']:.1f} | {s['ssim']:.3f} |"
            )
    seeds, d = report["seeds"], report["dataset"]
    gan_seed_text = "; ".join(
        f"{STYLE_SETS[name].title} {', '.join(map(str, listed))}"
        for name, listed in report["gan_seeds"].items()
    )
    return f"""# UnityStyle comparison on {d["name"]} ({report["date"]}, {report["machine"]})

Test split: {d["test_identities"]} identities, {d["queries"]} queries, {d["gallery"]} gallery images, {d["cameras"]}
cameras. {len(seeds)} IDE seeds ({", ".join(map(str, seeds))}) of {report["reid_steps"]} steps each vary the
initialisation, data order and augmentation; the generators ({report["gan_steps"]} steps each; CamStyle's pairs
get a UnityGAN's steps, widths and image size) are trained for GAN seeds {gan_seed_text}; IDE seed i uses GAN
seed i mod their number, and IDE seeds that share a GAN seed count as one draw of it. Cells: mean ± sample std over seeds
[95% interval], in %. Loss normalisation: `{report["loss_normalization"]}`.

{chr(10).join(lines)}

Paired differences, in points: the mean over seeds and queries of (row − against) on the same seed and query,
[95% interval] from a nested bootstrap ({report["bootstrap_samples"]} draws: the GAN seeds, then the IDE seeds
within each, where a row uses generated images, and, independently, the test identities with all their queries;
the seeds' part scaled for the GAN seeds' degrees of freedom, `evaluation.paired`). **differs**: the interval
excludes 0. Seeds for mAP {margin}: how many IDE seeds, each with a GAN seed of its own, would bring the mAP
interval within {margin} points at the spreads measured here; "more queries" where the test sample's part alone is
wider, "–" where fewer than two GAN seeds give no GAN spread to project.

{chr(10).join(contrast_lines)}

The paper's claims, read off the mAP differences ("better": tested against 0; "as good": against
−{100 * report["margin"]:.0f} points, the smallest difference this comparison means to resolve, and only where the
method compared with is itself shown above the IDE). p: the bootstrap's two-sided p against that floor; verdicts
at {100 * CLAIM_LEVEL:.0f}% after Holm's correction over the claims tested; the first claim is the primary one.

{chr(10).join(claim_lines)}

Style of query + gallery before and after (R: cameras' spread in units of people's, lower = cameras alike;
probe: a camera classifier trained on real training images, chance {100 / d["cameras"]:.0f}%):

{chr(10).join(style_lines)}

This invocation: {report["invocation_seconds"]:.0f} s (less when an earlier one had finished some parts).
"""
