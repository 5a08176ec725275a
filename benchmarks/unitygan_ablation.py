"""UnityGAN ablations on the demo config, each a real run: the C UnityGANs, the transfer, IDE + UnityStyle,
evaluation. One seed per variant (the seeds' spread is the comparison command's job); the real-only IDE is run
once beside them for reference.

    python benchmarks/unitygan_ablation.py [--workdir runs/ablation] [--results results] [--parallel 2]
        [--variants full,sln,no_style_attention,no_ibn,identity_all_cameras]

Per variant: the style ratio R (camera spread / within-camera identity spread of colour and contrast; lower =
cameras more alike while people stay apart), colour and contrast spreads, SSIM(real, UnityStyle), Rank-1, mAP,
and the GAN stage's time. Writes RESULTS/unitygan_ablation.{md,json}. Every run resumes, so an interrupted
invocation continues where it stopped.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/synthetic.py"
VARIANTS = {
    "full": ("the demo config", ()),
    "sln": ("SLN on (bias-corrected)", ("--config.gan.sln=True",)),
    "no_style_attention": ("no Style Attention (uniform weights)", ("--config.gan.style_attention=False",)),
    "no_ibn": ("no IBN-Res blocks (ibn_scales = 0)", ("--config.gan.generator.ibn_scales=0",)),
    "identity_all_cameras": (
        "L_ID over every camera (camera c kept in Y)",
        ("--config.gan.identity_other_cameras=False",),
    ),
}
BASELINE = ("--config.stages=reid", "--config.reid.method=baseline")


def run_variant(name: str, flags, args) -> dict:
    workdir = os.path.join(args.workdir, name)
    common = (
        f"--config={CONFIG}",
        f"--workdir={workdir}",
        f"--config.data.root={os.path.join(args.workdir, 'dataset')}",
        f"--config.compilation_cache_dir={os.path.join(args.workdir, '.jax_cache')}",
        *flags,
    )
    began = time.perf_counter()
    for script in ("train.py", "evaluate.py"):
        with open(os.path.join(args.workdir, f"{name}.{script}.log"), "w") as log:
            subprocess.run([sys.executable, script, *common], cwd=REPO, stdout=log, stderr=log, check=True)
    with open(os.path.join(workdir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(workdir, "stage_times.json")) as f:
        times = json.load(f)
    row = {"metrics": metrics, "stage_seconds": times, "wall_seconds": round(time.perf_counter() - began, 1)}
    transfer = os.path.join(workdir, "unitystyle", "transfer.json")
    if os.path.exists(transfer):
        with open(transfer) as f:
            row["style"] = json.load(f)["style"]
    return row


def render(report: dict) -> str:
    baseline = report["rows"]["baseline"]["metrics"]
    lines = [
        f"# UnityGAN ablations on the synthetic demo data ({report['date']}, {report['machine']})",
        "",
        f"One seed each; the real-only IDE: Rank-1 {100 * baseline['rank1']:.1f}, mAP {100 * baseline['mAP']:.1f}. "
        "R = camera spread / within-camera identity spread of (R, G, B, contrast), query + gallery.",
        "",
        "| variant | R real → UnityStyle | colour spread | contrast spread | SSIM | Rank-1 | mAP | GAN s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["rows"].items():
        if name == "baseline":
            continue
        s, m = row["style"], row["metrics"]
        lines.append(
            f"| {VARIANTS[name][0]} | {s['style_ratio']['real']:.2f} → {s['style_ratio']['unity']:.2f} "
            f"| {s['colour_spread']['real']:.1f} → {s['colour_spread']['unity']:.1f} "
            f"| {s['contrast_spread']['real']:.1f} → {s['contrast_spread']['unity']:.1f} | {s['ssim']:.3f} "
            f"| {100 * m['rank1']:.1f} | {100 * m['mAP']:.1f} | {row['stage_seconds'].get('gan', 0):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/ablation")
    parser.add_argument("--results", default="results")
    parser.add_argument("--parallel", type=int, default=2, help="variants run at once")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    os.makedirs(args.workdir, exist_ok=True)
    began = time.perf_counter()
    # The first run writes the synthetic dataset; the others then share it.
    rows = {"baseline": run_variant("baseline", BASELINE, args)}
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        futures = {n: pool.submit(run_variant, n, VARIANTS[n][1], args) for n in names}
        rows.update({n: f.result() for n, f in futures.items()})
    import jax

    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on CPU",
        "parallel": args.parallel,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "rows": rows,
    }
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "unitygan_ablation.json"), "w") as f:
        json.dump(report, f, indent=2)
    markdown = render(report)
    with open(os.path.join(args.results, "unitygan_ablation.md"), "w") as f:
        f.write(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
