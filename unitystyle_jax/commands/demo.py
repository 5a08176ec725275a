"""`make demo`: synthetic data -> C UnityGANs -> transfer -> IDE baseline and IDE + UnityStyle -> one table.

Writes RESULTS/demo.md and RESULTS/demo.json with Rank-1/5/10, mAP, mINP per method, each stage's time, and the
UnityStyle style-spread / SSIM numbers. Every stage resumes, so re-running after an interruption continues.
"""

import contextlib
import json
import os
import time

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax import config_validation, methods, startup
from unitystyle_jax.commands import cli, train
from unitystyle_jax.core import reports
from unitystyle_jax.core import files, stage_times
from unitystyle_jax.data import styled_data
from unitystyle_jax.reid import evaluation as reid_evaluation

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/synthetic.py", "Demo configuration.", lock_config=True)
flags.DEFINE_string("workdir", "runs/demo", "Folder for the demo's runs.")
flags.DEFINE_string("results", "results", "Folder for demo.md and demo.json.")

DEMO_METHODS = ("unitystyle", "baseline")  # the UnityStyle run first: its GANs are most of the demo's time
DATASET_TITLES = {"synthetic": "the synthetic multi-camera dataset"}


def _method_config(config, workdir: str, method: str):
    c = config.copy_and_resolve_references()
    c.reid.method = method
    c.stages = "gan,transfer,reid" if methods.METHODS[method].transferred else "reid"
    # Both runs share the dataset and the compiled programs of the demo's folder, not their own folders'.
    c.data.root = startup.dataset_root(config, workdir)
    c.compilation_cache_dir = startup.compilation_cache(config, workdir)
    return c


def run(config, workdir: str, results: str) -> dict:
    began = time.perf_counter()
    report = {"methods": {}, "stage_seconds": {}}
    config_validation.validate(config)
    files.check_writable(results, "results folder")
    with contextlib.ExitStack() as held:
        # Both runs are checked (and their workdirs locked) before the first one's UnityGANs start.
        checked = {
            method: held.enter_context(
                train.prepared(_method_config(config, workdir, method), os.path.join(workdir, method))
            )
            for method in DEMO_METHODS
        }
        for method, method_run in checked.items():
            train.execute(method_run)
            t = time.perf_counter()
            report["methods"][method] = reid_evaluation.run(method_run.config, method_run.workdir)
            times = stage_times.read(method_run.workdir)
            times["eval"] = round(time.perf_counter() - t, 1)
            report["stage_seconds"][method] = times
        baseline = checked["baseline"]
        report["styled_query"] = reid_evaluation.run_styled_query(
            baseline.config, baseline.workdir, checked["unitystyle"].workdir
        )
    report["dataset"] = {"name": config.data.name, "root": checked["unitystyle"].config.data.root}
    with open(
        os.path.join(styled_data.output_root(os.path.join(workdir, "unitystyle")), styled_data.DONE)
    ) as f:
        report["transfer"] = json.load(f)
    report["stage_seconds_sum"] = round(sum(sum(t.values()) for t in report["stage_seconds"].values()), 1)
    report["invocation_seconds"] = round(time.perf_counter() - began, 1)
    reports.stamp(report)
    gain = 100 * (report["methods"]["unitystyle"]["mAP"] - report["methods"]["baseline"]["mAP"])
    report["unitystyle_map_gain_points"] = round(gain, 2)
    reports.write(results, "demo", report, render_markdown(report))
    return report


def style_table(style: dict) -> str:
    """Markdown: the style ratio R (camera spread of colour and contrast over the identities' spread), the camera
    probe's accuracy (chance = 1 / cameras), and the colour and contrast spreads (std of per-camera means,
    0-255), real against UnityStyle."""
    probe = style["camera_probe"]
    rows = [
        ("style ratio R (cameras vs people)", style["style_ratio"], ".2f", 1),
        (f"camera probe accuracy, % (chance {100 * probe['chance']:.1f})", probe, ".1f", 100),
        ("colour spread", style["colour_spread"], ".2f", 1),
        ("contrast spread", style["contrast_spread"], ".2f", 1),
    ]
    lines = ["", "", "| | real | UnityStyle |", "|---|---|---|"]
    lines += [
        f"| {name} | {scale * v['real']:{f}} | {scale * v['unity']:{f}} |" for name, v, f, scale in rows
    ]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    style = report["transfer"]["style"]
    table = reid_evaluation.metrics_table(
        {methods.METHODS[m].label: report["methods"][m] for m in ("baseline", "unitystyle")}
    )
    times = "\n".join(
        f"| {methods.METHODS[m].label} | " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + " |"
        for m, t in report["stage_seconds"].items()
    )
    name, root = report["dataset"]["name"], report["dataset"]["root"]
    dataset = DATASET_TITLES.get(name) or f"{name} ({root})"
    return f"""# UnityStyle demo on {dataset} ({report["date"]}, {report["machine"]})

{table}

UnityStyle changes mAP by {report["unitystyle_map_gain_points"]:+.1f} points.

Are the cameras made alike (query + gallery)? {style_table(style)}

Structure kept: SSIM(real, UnityStyle) = {style["ssim"]:.3f} (unrelated real pairs: {style["ssim_unrelated"]:.3f}).
People kept: the real-only IDE finds the right person first for {100 * report["styled_query"]["rank1"]:.1f}% of the
UnityStyle queries in the real gallery ({100 * report["methods"]["baseline"]["rank1"]:.1f}% of the real queries).
UnityGAN models trained: {report["transfer"]["num_generators"]} (CamStyle would need {report["transfer"]["camstyle_generators"]}).

| run | stage times |
|---|---|
{times}

All stages: {report["stage_seconds_sum"]:.0f} s; this invocation: {report["invocation_seconds"]:.0f} s (less when earlier
invocations had finished some stages; the stage times add up each stage's runs).
"""


def main(argv):
    del argv
    cli.run_main(run, FLAGS.config, FLAGS.workdir, FLAGS.results)


if __name__ == "__main__":
    app.run(main)
