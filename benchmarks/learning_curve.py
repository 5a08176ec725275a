"""The IDE's learning curve on the comparison's split: mAP and Rank-1 after N training steps, over seeds, to
choose `make compare`'s IDE steps where the seeds' spread is small. Each N is its own run with the demo's schedule
scaled to N (`configs.synthetic.ide_schedule`), through the comparison itself (its `ide` row), so the numbers are the comparison's.

    python benchmarks/learning_curve.py [--steps 300,600,1200] [--seeds 3] [--workdir runs/learning_curve]
        [--results results] [--config configs/synthetic.py:compare] [--extra --config.x=y ...]

Writes RESULTS/learning_curve.{md,json}. Every run resumes (the comparison keeps finished trainings).
"""

import argparse
import datetime
import json
import os
import platform
import time

import numpy as np

from configs import synthetic
from measured_runs import comparison


def schedule(steps: int) -> list[str]:
    fields = {**synthetic.ide_schedule(steps), "checkpoint_every": steps}
    return [f"--config.reid.{k}={v}".replace(" ", "") for k, v in fields.items()]


def run_point(args, steps: int) -> dict:
    workdir = os.path.join(args.workdir, f"steps{steps}")
    began = time.perf_counter()
    report = comparison(args.config, workdir, args.workdir, "ide", args.seeds, *schedule(steps), *args.extra)
    row = report["rows"]["ide"]
    per_seed = row["per_seed"]
    return {
        "steps": steps,
        "per_seed": per_seed,
        **{
            key: {
                "mean": float(np.mean([m[key] for m in per_seed])),
                "std": float(np.std([m[key] for m in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0,
            }
            for key in ("rank1", "mAP", "mINP")
        },
        "invocation_seconds": round(time.perf_counter() - began, 1),
        "train_seconds": [m.get("train_seconds") for m in per_seed],
    }


def render(report: dict) -> str:
    lines = [
        "| IDE steps | Rank-1 % | mAP % | mINP % | mAP per seed | training s per seed | invocation s |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in report["points"]:
        cells = " | ".join(
            f"{100 * p[k]['mean']:.1f} ± {100 * p[k]['std']:.1f}" for k in ("rank1", "mAP", "mINP")
        )
        seeds = ", ".join(f"{100 * m['mAP']:.1f}" for m in p["per_seed"])
        train = ", ".join("–" if t is None else f"{t:.0f}" for t in p["train_seconds"])
        lines.append(f"| {p['steps']} | {cells} | {seeds} | {train} | {p['invocation_seconds']:.0f} |")
    return (
        f"# The IDE's learning curve on `{report['config']}` ({report['date']}, {report['machine']})\n\n"
        f"Mean ± sample std over {report['seeds']} seeds (initialisation, data order, augmentation); each row a run "
        "whose schedule is scaled to its steps (warm-up N/10, decay at 3N/4). Invocation time includes the "
        "dataset (first row) and evaluation.\n\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="300,600,1200")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workdir", default="runs/learning_curve")
    parser.add_argument("--results", default="results")
    parser.add_argument("--config", default="configs/synthetic.py:compare")
    parser.add_argument("--extra", nargs="*", default=[], help="more flags for every run")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    if not steps or min(steps) < 1 or args.seeds < 2:
        parser.error("--steps needs positive integers and --seeds at least 2 (a spread needs two)")
    points = [run_point(args, n) for n in steps]
    report = {
        "config": args.config,
        "seeds": args.seeds,
        "points": points,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "learning_curve.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(args.results, "learning_curve.md"), "w") as f:
        f.write(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
