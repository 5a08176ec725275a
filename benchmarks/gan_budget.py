"""The GAN-budget dose-response: does more UnityGAN training turn the style change into a re-ID gain? At the
comparison's sizes (configs/synthetic.py:compare, global styles), the comparison's `unitystyle` and `real_twin`
rows for each GAN budget, with one GAN seed (SLN's schedule, where the config turns it on, scaled to half of each
run), through the comparison itself, so the numbers are the comparison's.

    python benchmarks/gan_budget.py [--steps 150,600,1200] [--seeds 3] [--workdir runs/gan_budget]
        [--results results] [--config configs/synthetic.py:compare]

Per budget: R real -> UnityStyle, the camera probe (trained on real images; retrained on UnityStyle ones), SSIM,
the GAN stage's seconds, and UnityStyle - real twin mAP with its paired interval. Writes
RESULTS/gan_budget.{md,json} after each budget, keeping the budgets an earlier invocation wrote there with the
same config and seeds; each budget's comparison resumes where it stopped, and the budgets share one dataset and
compilation cache.
"""

import argparse
import datetime
import json
import os
import sys
import time

from measured_runs import commit, comparison
from unitystyle_jax.core import reports


def run_budget(args, steps: int) -> dict:
    began = time.perf_counter()
    report = comparison(
        args.config,
        os.path.join(args.workdir, f"gan_steps{steps}"),
        args.workdir,
        "real_twin,unitystyle",
        args.seeds,
        "--config.compare.gan_seeds=1",
        f"--config.gan.num_steps={steps}",
        f"--config.gan.checkpoint_every={steps}",
        f"--config.gan.sln_first={steps // 2}",  # SLN's schedule (when on) scaled to the budget
    )
    (style,) = report["style"]["unitystyle"]
    contrast = next(c for c in report["contrasts"] if (c["row"], c["against"]) == ("unitystyle", "real_twin"))
    return {
        "steps": steps,
        "style": style,
        "rows": {key: report["rows"][key]["mAP"] for key in ("unitystyle", "real_twin")},
        "difference": contrast["mAP"],
        "gan_seconds": report["rows"]["unitystyle"]["gan_seconds"],
        "wall_seconds": round(time.perf_counter() - began, 1),
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
    }


def render(report: dict) -> str:
    lines = [
        f"# The GAN-budget dose-response ({report['machine']}; runs of "
        f"{', '.join(sorted({run['date'] for run in report['budgets']}))})",
        "",
        f"`{report['config']}` on the global styles: the comparison's UnityStyle and real-twin rows, "
        f"{report['seeds']} IDE seeds, one GAN seed, the config's objective. R = camera spread /",
        "within-camera identity spread (lower = cameras alike); probe = a camera classifier of style descriptors",
        "trained on real training images, and one retrained on UnityStyle ones; mAP % mean ± std over IDE seeds; the",
        "difference is paired by seed and query, with its 95% interval.",
        "",
        "| GAN steps | R real → UnityStyle | probe % | probe retrained % | SSIM | UnityStyle mAP | real twin mAP "
        "| UnityStyle − real twin | GAN s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["budgets"]:
        s, d = run["style"], run["difference"]
        ratio, probe = s["style_ratio"], s["camera_probe"]
        unity, twin = run["rows"]["unitystyle"], run["rows"]["real_twin"]
        lines.append(
            f"| {run['steps']} | {ratio['real']:.2f} → {ratio['unity']:.2f} ({ratio['unity'] / ratio['real']:.2f}×) "
            f"| {100 * probe['unity']:.1f} | {100 * probe['unity_retrained']:.1f} | {s['ssim']:.3f} "
            f"| {100 * unity['mean']:.1f} ± {100 * unity['std']:.1f} | {100 * twin['mean']:.1f} ± {100 * twin['std']:.1f} "
            f"| {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | {run['gan_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="150,600,1200", help="GAN steps per budget")
    parser.add_argument("--seeds", type=int, default=3, help="IDE seeds of each row")
    parser.add_argument("--workdir", default="runs/gan_budget")
    parser.add_argument("--results", default="results")
    parser.add_argument("--config", default="configs/synthetic.py:compare")
    args = parser.parse_args()
    try:
        budgets = sorted({int(s) for s in args.steps.split(",") if s})
    except ValueError:
        parser.error(f"--steps {args.steps!r}: comma-separated integers")
    if not budgets or min(budgets) < 2 or args.seeds < 2:
        parser.error("--steps: budgets of at least 2 steps; --seeds: at least 2 (the interval needs them)")
    report = earlier(os.path.join(args.results, "gan_budget.json"), args.config, args.seeds)
    for steps in budgets:
        kept = [run for run in report["budgets"] if run["steps"] != steps]
        report["budgets"] = sorted([*kept, run_budget(args, steps)], key=lambda run: run["steps"])
        reports.write(args.results, "gan_budget", reports.stamp(report), render(report))


def earlier(path: str, config: str, seeds: int) -> dict:
    """The budgets an earlier invocation wrote to `path` with the same config and IDE seeds (so a budget can be
    added in another session), or an empty report."""
    empty = {"config": config, "seeds": seeds, "budgets": []}
    if not os.path.exists(path):
        return empty
    with open(path) as f:
        report = json.load(f)
    if (report.get("config"), report.get("seeds")) != (config, seeds):
        print(f"{path} holds budgets of another --config or --seeds: not kept", file=sys.stderr)
        return empty
    return report


if __name__ == "__main__":
    main()
