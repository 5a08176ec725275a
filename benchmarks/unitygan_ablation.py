"""UnityGAN ablations on the demo config, each a real run: the C UnityGANs and the transfer of every image, per
variant, style family and GAN seed. Beside them, once per family, the real-only IDE, which checks that each
variant's UnityStyle queries still show their person (its Rank-1 against the real gallery).

    python benchmarks/unitygan_ablation.py [--workdir runs/ablation] [--results results]
        [--variants chosen,generator_identity,...] [--families global,local,sensor] [--seeds 0,1]
        [--config configs/synthetic.py] [--ablation-seeds 0] [--ablation-families global]

A variant runs on --ablation-families with --ablation-seeds, unless it names its own families
(`style_layout@local+sensor`); the chosen objective runs on every family with --seeds.

Per run: the style ratio R (camera spread / within-camera identity spread of colour and contrast; lower =
cameras more alike while people stay apart), the camera probe's accuracy (trained on real training images;
and retrained on UnityStyle ones), SSIM(real, UnityStyle), the content guard, and the GAN stage's time.
Writes RESULTS/unitygan_ablation.{md,json}, and RESULTS/scale_ladder.md once the chosen objective and the
ladder's rungs (ladder_128x64, ladder_wide) have runs with their peak memory: each cell the mean over seeds with its range. Every run resumes, so
an interrupted invocation continues where it stopped; the results are written after each finished run; and they accumulate: runs an earlier invocation
wrote there with the same --config are kept beside this one's (each run carries its date and commit), so a
variant or a seed can be added without running the table again.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from measured_runs import commit, peak_run, seconds_per_step
from unitystyle_jax.data import synthetic

# The objective before the UnityStyle reading (one discriminator against the image mixture, GANimorph's feature
# matching, L_ID's G half, per-model Style Attention, its lambdas).
OLD = (
    "--config.gan.camera_balance=False",
    "--config.gan.fm_statistics=means",
    "--config.gan.generator_identity=True",
    "--config.gan.style_attention=per_model",
    "--config.gan.lambda_gan=0.4",
    "--config.gan.lambda_fm=0.2",
    "--config.gan.lambda_cyc=0.3",
)
VARIANTS = {
    "chosen": ("the chosen objective (demo config: SLN off, the lambdas weigh the raw terms)", ()),
    "generator_identity": ("+ L_ID's G half \\|G(y) − y\\|", ("--config.gan.generator_identity=True",)),
    "no_y_cycle": ("− the Y cycle G(F(y)) = y", ("--config.gan.y_cycle=False",)),
    "no_camera_balance": (
        "A: each image alike (the mixture), not each camera",
        ("--config.gan.camera_balance=False",),
    ),
    "style_attention": (
        "A: + per-model adversarial Style Attention",
        ("--config.gan.style_attention=per_model",),
    ),
    "attention_shared": (
        "A: + one adversarial Style Attention head shared by the C models",
        ("--config.gan.style_attention=shared", "--config.gan.train_together=True"),
    ),
    "attention_joint": (
        "A: + per-model Style Attention, minimising",
        ("--config.gan.style_attention=joint",),
    ),
    "attention_camera": (
        "A: + one Style Attention weight per camera, normalised over the cameras",
        ("--config.gan.style_attention=camera",),
    ),
    "attention_modulate": (
        "Style Attention inside G: G1's statistics scale the decoder",
        ("--config.gan.style_attention=modulate",),
    ),
    "fm_means": ("FM on GANimorph's normalised maps", ("--config.gan.fm_statistics=means",)),
    "style_layout": (
        "FM + the coarse layout (light across the frame)",
        ("--config.gan.fm_statistics=style_layout",),
    ),
    "old": ("the objective before (all of the above)", OLD),
    "no_ibn": ("no IBN-Res blocks (ibn_scales = 0)", ("--config.gan.generator.ibn_scales=0",)),
    "sln_ganimorph": (
        "SLN as GANimorph's (first snapshot at step 20 of 150)",
        ("--config.gan.sln=True", "--config.gan.sln_first=20"),
    ),
    "sln_floor_gan": (
        "SLN from step 20, each normaliser at least the adversarial term's",
        ("--config.gan.sln=True", "--config.gan.sln_first=20", "--config.gan.sln_floor=gan"),
    ),
    "sln_half": ("SLN from half the run (step 75)", ("--config.gan.sln=True",)),
    "sln_half_floor": (
        "SLN from half the run, each normaliser at least the adversarial term's",
        ("--config.gan.sln=True", "--config.gan.sln_floor=gan"),
    ),
    # The scale ladder (results/scale_ladder.md): the chosen objective as the model grows, the same steps and
    # batch (so the same epochs). The synthetic images are drawn at 128x64; the demo's GAN reads them at 64x32.
    "ladder_128x64": (
        "128×64 images (the data's own size)",
        ("--config.gan.height=128", "--config.gan.width=64"),
    ),
    "ladder_wide": (
        "a wider generator: base 32, 2 residual blocks",
        ("--config.gan.generator.base_features=32", "--config.gan.generator.num_res_blocks=2"),
    ),
}
LADDER = ("chosen", "ladder_128x64", "ladder_wide")
FAMILIES = {
    name: tuple(f"--config.data.synthetic.{k}={v}" for k, v in fields.items())
    for name, fields in synthetic.STYLE_FAMILIES.items()
}
BASELINE = ("--config.stages=reid", "--config.reid.method=baseline")


def flags_of(args, family: str, workdir: str, *extra) -> list[str]:
    return [
        f"--config={args.config}",
        f"--workdir={workdir}",
        f"--config.data.root={os.path.join(args.workdir, 'dataset_' + family)}",
        f"--config.compilation_cache_dir={os.path.join(args.workdir, '.jax_cache')}",
        *FAMILIES[family],
        *extra,
    ]


def command(args, log: str, script: str, flags) -> None:
    with open(os.path.join(args.workdir, log), "w") as out:
        subprocess.run([sys.executable, script, *flags], cwd=REPO, stdout=out, stderr=out, check=True)


def baseline(args, family: str) -> str:
    """The real-only IDE of `family`, trained once: its workdir."""
    workdir = os.path.join(args.workdir, family, "baseline")
    command(args, f"{family}.baseline.log", "train.py", flags_of(args, family, workdir, *BASELINE))
    return workdir


def baseline_config(args, family: str, workdir: str):
    """The real-only IDE's config, as its command-line flags give it."""
    from unitystyle_jax.commands import cli

    return cli.config_from_flags(args.config, flags_of(args, family, workdir, *BASELINE))


def baseline_rank1(args, family: str, workdir: str) -> float:
    """The real-only IDE's Rank-1 on the real queries: what the content guard is read against."""
    from unitystyle_jax.reid import evaluation as reid_evaluation

    command(args, f"{family}.baseline.eval.log", "evaluate.py", flags_of(args, family, workdir, *BASELINE))
    out = reid_evaluation.default_output_dir(baseline_config(args, family, workdir), workdir)
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)["rank1"]


def run_variant(args, family: str, name: str, seed: int, baseline_workdir: str) -> dict:
    from unitystyle_jax.commands import cli
    from unitystyle_jax.reid import evaluation as reid_evaluation

    workdir = os.path.join(args.workdir, family, f"{name}_seed{seed}")
    flags = flags_of(args, family, workdir, "--config.stages=gan,transfer", f"--config.seed={seed}")
    began = time.perf_counter()
    log = os.path.join(args.workdir, f"{family}.{name}_seed{seed}.log")
    peak = peak_run([sys.executable, "train.py", *flags, *VARIANTS[name][1]], log)
    # The content guard, in this process: the baseline's config (its data), this variant's UnityStyle queries.
    config = baseline_config(args, family, baseline_workdir)
    guard = reid_evaluation.run_styled_query(config, baseline_workdir, workdir)
    with open(os.path.join(workdir, "unitystyle", "transfer.json")) as f:
        style = json.load(f)["style"]
    with open(os.path.join(workdir, "stage_times.json")) as f:
        times = json.load(f)
    gan_config = cli.config_from_flags(args.config, [*flags, *VARIANTS[name][1]]).gan
    return {
        "style": style,
        "styled_query_rank1": guard["rank1"],
        "gan_seconds": times.get("gan", 0.0),
        "seconds_per_step": seconds_per_step(workdir, 2 * gan_config.batch_size),
        "peak_gib": round(peak, 2),
        "steps": gan_config.num_steps,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
    }


def earlier(path: str, config: str) -> dict:
    """The report an earlier invocation wrote to `path` with the same --config, or an empty one."""
    empty = {"families": {}, "real": {}, "config": config}
    if not os.path.exists(path):
        return empty
    with open(path) as f:
        report = json.load(f)
    if report.get("config", "configs/synthetic.py") != config:
        print(f"{path} holds runs of another --config: not kept", file=sys.stderr)
        return empty
    for rows in report["families"].values():  # runs written before runs carried their own date
        for runs in rows.values():
            for run in runs.values():
                run.setdefault("date", report["date"])
    return report


def ordered(families: dict) -> dict:
    """The table's order: families and variants as FAMILIES and VARIANTS list them, seeds ascending."""
    return {
        f: {
            v: dict(sorted(families[f][v].items(), key=lambda kv: int(kv[0])))
            for v in VARIANTS
            if v in families[f]
        }
        for f in FAMILIES
        if f in families
    }


def _cell(values, fmt: str, scale: float = 1.0) -> str:
    values = [scale * v for v in values]
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:{fmt}}"
    return f"{mean:{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def render(report: dict) -> str:
    runs = [r for rows in report["families"].values() for seeds in rows.values() for r in seeds.values()]
    dates = sorted({r["date"] for r in runs})
    lines = [
        f"# UnityGAN ablations on the synthetic demo data (runs of {', '.join(dates)}; {report['machine']})",
        "",
        "Each cell: the mean over GAN seeds, (min–max) where there are several. R = camera spread / within-camera",
        "identity spread of (R, G, B, contrast); probe = a camera classifier of style descriptors trained on real",
        "training images (chance 1/C), and one retrained on UnityStyle training images; guard = the real-only IDE's",
        "Rank-1 for UnityStyle queries against the real gallery. All on query + gallery.",
    ]
    for family, rows in report["families"].items():
        real = report["real"][family]
        lines += [
            "",
            f"## {family} styles (real images: R {real['style_ratio']:.2f}, probe {100 * real['probe']:.1f}%, "
            f"IDE Rank-1 {100 * real['rank1']:.1f})",
            "",
            "| variant | seeds | R | probe % | probe retrained % | SSIM | guard Rank-1 | GAN s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, runs in rows.items():
            style = [r["style"] for r in runs.values()]
            lines.append(
                f"| {VARIANTS[name][0]} | {len(runs)} "
                f"| {_cell([s['style_ratio']['unity'] for s in style], '.2f')} "
                f"| {_cell([s['camera_probe']['unity'] for s in style], '.1f', 100)} "
                f"| {_cell([s['camera_probe']['unity_retrained'] for s in style], '.1f', 100)} "
                f"| {_cell([s['ssim'] for s in style], '.3f')} "
                f"| {_cell([r['styled_query_rank1'] for r in runs.values()], '.1f', 100)} "
                f"| {_cell([r['gan_seconds'] for r in runs.values()], '.0f')} |"
            )
    return "\n".join(lines) + "\n"


def render_ladder(report: dict, family: str = "global") -> str | None:
    """results/scale_ladder.md: the chosen objective's rungs on FAMILY, from the runs that measured memory."""
    rows = report["families"].get(family, {})
    rungs = {n: [r for r in rows.get(n, {}).values() if "peak_gib" in r] for n in LADDER}
    if not rungs["chosen"]:
        return None
    rungs = {n: runs for n, runs in rungs.items() if runs}
    real = report["real"][family]
    lines = [
        f"# The scale ladder: the chosen UnityGAN objective as the model grows ({family} styles; "
        f"{report['machine']})",
        "",
        "Each rung trains the C UnityGANs for the same steps at the same batch (the same epochs); each cell the",
        "mean over the rung's GAN seeds (min–max). R = camera spread / within-camera identity spread (lower =",
        "cameras alike); the probe is trained on real training images, the retrained one on UnityStyle training",
        "images (chance 1/C); guard = the real-only IDE's Rank-1 for UnityStyle queries against the real gallery.",
        "s / step: the median logging window after the first (compilation); peak: the train command's resident",
        "memory.",
        "",
        f"Real images: R {real['style_ratio']:.2f}, probe {100 * real['probe']:.1f}%, IDE Rank-1 "
        f"{100 * real['rank1']:.1f}.",
        "",
        "| rung | GAN seeds | steps | R | × real | probe % | probe retrained % | SSIM | guard Rank-1 | s / step "
        "| peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in rungs.items():
        style = [r["style"] for r in runs]
        ratio = [s["style_ratio"]["unity"] for s in style]
        lines.append(
            f"| {'the demo size (64×32, base 16, 1 residual block)' if name == 'chosen' else VARIANTS[name][0]} "
            f"| {len(runs)} | {runs[0]['steps']} | {_cell(ratio, '.2f')} "
            f"| {_cell([r / s['style_ratio']['real'] for r, s in zip(ratio, style)], '.2f')} "
            f"| {_cell([s['camera_probe']['unity'] for s in style], '.1f', 100)} "
            f"| {_cell([s['camera_probe']['unity_retrained'] for s in style], '.1f', 100)} "
            f"| {_cell([s['ssim'] for s in style], '.3f')} "
            f"| {_cell([r['styled_query_rank1'] for r in runs], '.1f', 100)} "
            f"| {_cell([r['seconds_per_step'] for r in runs], '.2f')} "
            f"| {_cell([r['peak_gib'] for r in runs], '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def _names(text: str, allowed, what: str, parser) -> list[str]:
    names = [v for v in text.split(",") if v]
    unknown = [v for v in names if v not in allowed]
    if unknown or not names:
        parser.error(f"unknown or no {what} {unknown}; choose from {', '.join(allowed)}")
    return names


def _seeds(text: str, parser) -> list[int]:
    if not text or not all(s.isdigit() for s in text.split(",")):
        parser.error(f"seeds {text!r}: comma-separated non-negative integers")
    return [int(s) for s in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default="configs/synthetic.py", help="configs/synthetic.py:tiny: a smoke run"
    )
    parser.add_argument("--workdir", default="runs/ablation")
    parser.add_argument("--results", default="results")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1", help="GAN seeds (config.seed) of the chosen objective")
    parser.add_argument("--ablation-seeds", help="GAN seeds of the other variants (default: --seeds)")
    parser.add_argument(
        "--ablation-families", help="families the other variants run on (default: --families)"
    )
    args = parser.parse_args()
    # A variant may name its own families: style_layout@local+sensor.
    where = {v.split("@")[0]: v.split("@")[1].split("+") for v in args.variants.split(",") if "@" in v}
    variants = _names(
        ",".join(v.split("@")[0] for v in args.variants.split(",")), VARIANTS, "variants", parser
    )
    for listed in where.values():
        _names(",".join(listed), FAMILIES, "families", parser)
    families = _names(args.families, FAMILIES, "families", parser)
    ablated = _names(args.ablation_families or args.families, FAMILIES, "families", parser)
    seeds, ablation_seeds = (_seeds(text, parser) for text in (args.seeds, args.ablation_seeds or args.seeds))
    os.makedirs(args.workdir, exist_ok=True)
    began = time.perf_counter()
    report = earlier(os.path.join(args.results, "unitygan_ablation.json"), args.config)
    baselines = {family: baseline(args, family) for family in families}
    rank1 = {family: baseline_rank1(args, family, baselines[family]) for family in families}
    # The chosen objective on every family first, then the other variants: an interrupted run has the first.
    plan = [(f, "chosen", seeds) for f in families if "chosen" in variants]
    plan += [
        (f, n, ablation_seeds)
        for f in families
        for n in variants
        if n != "chosen" and f in where.get(n, ablated)
    ]
    for family, name, runs in plan:
        for seed in runs:
            run = run_variant(args, family, name, seed, baselines[family])
            report["families"].setdefault(family, {}).setdefault(name, {})[str(seed)] = run
            report["real"][family] = {**real_style(run), "rank1": rank1[family]}
            save(args, report, began)


def real_style(run: dict) -> dict:
    """The real images' R and camera probe, as each run of the family measures them."""
    style = run["style"]
    return {"style_ratio": style["style_ratio"]["real"], "probe": style["camera_probe"]["real"]}


def save(args, report: dict, began: float) -> None:
    """The report so far, after each finished run: an invocation cut short keeps the runs it finished."""
    import jax

    report["families"] = ordered(report["families"])
    report.update(
        date=datetime.date.today().isoformat(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on CPU",
        wall_seconds=round(time.perf_counter() - began, 1),
        config=args.config,
    )
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "unitygan_ablation.json"), "w") as f:
        json.dump(report, f, indent=2)
    markdown = render(report)
    with open(os.path.join(args.results, "unitygan_ablation.md"), "w") as f:
        f.write(markdown)
    print(markdown)
    ladder = render_ladder(report)
    if ladder:
        with open(os.path.join(args.results, "scale_ladder.md"), "w") as f:
            f.write(ladder)
        print(ladder)


if __name__ == "__main__":
    main()
