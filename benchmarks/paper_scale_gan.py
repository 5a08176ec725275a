"""The paper-size UnityGAN trained for real on this machine: does G leave the identity under the objective
configs/market1501.py ships? Its generator and discriminator, its learning rate and SLN schedule, at
256x128, on a Market-layout folder the project writes (the synthetic generator at 256x128, two cameras: two
UnityGANs), for a few dozen steps each; one run per objective. The batch is the one size shrunk by default: a
paper-size step of 2 + 2 images takes ~30 s on a 2-core CPU (docs/performance.md), one of 16 + 16 about 8x that.

    python benchmarks/paper_scale_gan.py [--steps 60] [--batch 2] [--objectives sln_ganimorph,shipped,...]
        [--workdir runs/paper_scale] [--results results] [--config configs/market1501.py]

Per objective: mean |G(x) - x| (0-255 levels) and SSIM over query + gallery, the style ratio R and the cameras'
colour and contrast spread real -> UnityStyle, the camera probe, the GAN's seconds per step (median over the
logging windows after the first, which compiles) and the run's peak resident memory. Writes
RESULTS/paper_scale_gan.{md,json}; each objective's run resumes where it stopped, and runs an earlier invocation
wrote are kept beside this one's.
"""

import argparse
import datetime
import json
import os
import sys
import time


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from measured_runs import commit, peak_run, seconds_per_step
from unitystyle_jax.core import reports
from unitystyle_jax.data import synthetic

OBJECTIVES = {
    "sln_ganimorph": (
        "SLN as GANimorph's: first snapshot at step 36",
        ("--config.gan.sln=True", "--config.gan.sln_first=36"),
    ),
    "shipped": ("the objective configs/market1501.py ships (SLN off: the lambdas weigh the raw terms)", ()),
    "sln_half": ("the same with SLN, its first snapshot at half the run", ("--config.gan.sln=True",)),
    "sln_floor": (
        "SLN from half the run, each normaliser at least the adversarial term's",
        ("--config.gan.sln=True", "--config.gan.sln_floor=gan"),
    ),
}
# Fewer people than the demo's (the transfer of every image through a paper-size G is minutes here); two cameras.
SPEC = dict(num_train_ids=30, num_test_ids=30, num_cameras=2, num_distractors=20, num_junk=10)


DEFAULT_STEPS = 60


def run_key(name: str, steps: int) -> str:
    """A run's name in the report and its workdir: the objective's, with its steps when not the default's."""
    return name if steps == DEFAULT_STEPS else f"{name}@{steps}"


def flags_of(args, name: str, data: str) -> list[str]:
    workdir = os.path.join(args.workdir, run_key(name, args.steps))
    return [
        f"--config={args.config}",
        f"--workdir={workdir}",
        "--config.data.name=market1501",
        f"--config.data.root={data}",
        f"--config.compilation_cache_dir={os.path.join(args.workdir, '.jax_cache')}",
        "--config.stages=gan,transfer",
        f"--config.gan.num_steps={args.steps}",
        f"--config.gan.checkpoint_every={3 * args.log_every}",  # an interrupted run resumes
        f"--config.gan.log_every={args.log_every}",
        f"--config.gan.batch_size={args.batch}",
        f"--config.gan.sln_first={args.steps // 2}",  # the config's schedule (half the run) scaled to the steps
        *OBJECTIVES[name][1],
    ]


def run_objective(args, name: str, data: str) -> dict:
    from unitystyle_jax.commands import cli

    flags = flags_of(args, name, data)
    began = time.perf_counter()
    key = run_key(name, args.steps)
    peak = peak_run([sys.executable, "train.py", *flags], os.path.join(args.workdir, f"{key}.log"))
    workdir = os.path.join(args.workdir, key)
    with open(os.path.join(workdir, "unitystyle", "transfer.json")) as f:
        style = json.load(f)["style"]
    config = cli.config_from_flags(args.config, flags)
    return {
        "style": style,
        "seconds_per_step": seconds_per_step(workdir, 2 * config.gan.batch_size),
        "peak_gib": round(peak, 2),
        "wall_seconds": round(time.perf_counter() - began, 1),
        "steps": args.steps,
        "sizes": {
            "image": [config.gan.height, config.gan.width],
            "batch": config.gan.batch_size,
            "generator": config.gan.generator.to_dict(),
            "discriminator": config.gan.discriminator.to_dict(),
            "learning_rate": config.gan.learning_rate,
            "sln": [config.gan.sln, config.gan.sln_floor, config.gan.sln_first, config.gan.sln_every],
        },
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
    }


def render(report: dict) -> str:
    lines = [
        f"# The paper-size UnityGAN on this CPU ({report['machine']})",
        "",
        f"{report['config']}'s UnityGAN on a two-camera synthetic Market-layout folder (global styles, "
        f"{report['height']}x{report['width']}, batch {report['batch']} + {report['batch']}): each camera's model "
        "trained for the steps shown, then every "
        "query and gallery image transferred. |G(x) - x| in 0-255 levels; R = camera spread / within-camera "
        "identity spread (lower = cameras more alike); colour and contrast spread = the spread of the cameras' "
        "means around their middle; probe = a camera classifier of style descriptors trained on real images "
        "(chance 50%).",
        "",
        "| objective | steps | mean \\|G(x) − x\\| | SSIM | R real → UnityStyle | colour spread | contrast spread "
        "| probe % | s / step | peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, run in report["runs"].items():
        name = key.split("@")[0]
        s = run["style"]
        ratio, probe = s["style_ratio"], s["camera_probe"]
        lines.append(
            f"| {OBJECTIVES[name][0]} | {run['steps']} | {s['mean_abs_change']:.2f} | {s['ssim']:.3f} "
            f"| {ratio['real']:.2f} → {ratio['unity']:.2f} ({ratio['unity'] / ratio['real']:.2f}×) "
            f"| {s['colour_spread']['real']:.1f} → {s['colour_spread']['unity']:.1f} "
            f"| {s['contrast_spread']['real']:.1f} → {s['contrast_spread']['unity']:.1f} "
            f"| {100 * probe['real']:.0f} → {100 * probe['unity']:.0f} "
            f"| {run['seconds_per_step']:.2f} | {run['peak_gib']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="GAN steps per camera model")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument(
        "--batch",
        type=int,
        default=2,
        help="images of each side per step (the paper's 16 is ~8x the step time)",
    )
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--workdir", default="runs/paper_scale")
    parser.add_argument("--results", default="results")
    parser.add_argument("--config", default="configs/market1501.py")
    parser.add_argument("--height", type=int, default=256, help="the synthetic images' height (width: half)")
    args = parser.parse_args()
    names = [n for n in args.objectives.split(",") if n]
    if not names or any(n not in OBJECTIVES for n in names):
        parser.error(f"--objectives {args.objectives!r}: choose from {', '.join(OBJECTIVES)}")
    os.makedirs(args.workdir, exist_ok=True)
    data = os.path.join(args.workdir, "dataset")
    spec = synthetic.SyntheticSpec(height=args.height, width=args.height // 2, **SPEC)
    synthetic.ensure(data, spec)
    path = os.path.join(args.results, "paper_scale_gan.json")
    report = {"runs": {}}
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    for name in names:
        report["runs"][run_key(name, args.steps)] = run_objective(args, name, data)
        order = list(OBJECTIVES)
        report["runs"] = dict(
            sorted(report["runs"].items(), key=lambda kv: (order.index(kv[0].split("@")[0]), kv[1]["steps"]))
        )
        report.update(config=args.config, batch=args.batch, height=spec.height, width=spec.width)
        reports.write(args.results, "paper_scale_gan", reports.stamp(report), render(report))


if __name__ == "__main__":
    main()
