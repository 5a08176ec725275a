"""`make compare`: the paper's comparison on one data split, with controls, an ablation, seeds and spread.

Rows (`ROWS`): the IDE baseline; two controls (the same real images again with another augmentation, which
carries the loss formula and the 2N images per step of UnityStyle; and a per-camera colour normalisation,
with no GAN); IDE + CamStyle (C(C-1)/2 pairwise GANs of this project's trainer, label smoothing on generated
images); IDE + UnityStyle with and without test-time transfer; UnityStyle with per-model Style Attention; and the
PyTorch IDE trained on the same batches. Every row is trained with each of `compare.seeds` seeds (the IDE's
initialisation, data order and augmentation); each set of generators is trained once and shared by the seeds and rows that use
it, unless `compare.retrain_generators`. Everything resumes: finished GANs, transfers, IDE models and
evaluations are kept and skipped.

Writes RESULTS/compare.md and RESULTS/compare.json: mean ± std over seeds of Rank-1, mAP and mINP per row, the
generator count and GAN / transfer time per method, and which differences exceed the seeds' spread.
"""

import dataclasses
import json
import logging
import os
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax import (
    cli,
    config_validation,
    files,
    gan_training,
    networks,
    preflight,
    reid_evaluation,
    reid_training,
    stages,
    startup,
    styled_data,
    transfer,
    workdir_lock,
)
from unitystyle_jax import results as results_files

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", "configs/synthetic.py", "Dataset / model configuration.", lock_config=True
)
flags.DEFINE_string("workdir", "runs/compare", "Folder for every row's runs.")
flags.DEFINE_string("results", "results", "Folder for compare.md and compare.json.")


@dataclasses.dataclass(frozen=True)
class StyleSet:
    """Styled images rows need: made by a set of GANs (`_gan_domains`, `_style_config`) or by statistics."""

    name: str
    title: str
    output: str  # transfer's output folder inside the set's workdir


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: how its IDE trains (`method`, `styles`), and what it sees at test time."""

    key: str
    title: str
    method: str  # reid.method of its IDE
    styles: str | None = None  # StyleSet whose images its training uses
    test: str | None = None  # StyleSet whose query/gallery it is evaluated on (None: the real images)
    model: str | None = None  # the row whose trained IDE it evaluates (None: its own)
    framework: str = "jax"


STYLE_SETS = {
    s.name: s
    for s in (
        StyleSet("unitystyle", "UnityStyle", styled_data.OUTPUT),
        StyleSet("unitystyle_attention", "UnityStyle, per-model Style Attention", styled_data.OUTPUT),
        StyleSet("camstyle", "CamStyle", styled_data.CAMSTYLE_OUTPUT),
        StyleSet("colour_norm", "camera colour normalisation", styled_data.COLOUR_NORM_OUTPUT),
    )
}

ROWS = (
    Row("ide", "IDE", "baseline"),
    Row("real_twin", "IDE + real twin (control)", "real_twin"),
    Row(
        "colour_norm",
        "IDE + camera colour normalisation (control)",
        "colour_norm",
        "colour_norm",
        "colour_norm",
    ),
    Row("camstyle", "IDE + CamStyle", "camstyle", "camstyle"),
    Row(
        "unitystyle_train_only",
        "IDE + UnityStyle, train only",
        "unitystyle",
        "unitystyle",
        model="unitystyle",
    ),
    Row("unitystyle", "IDE + UnityStyle", "unitystyle", "unitystyle", "unitystyle"),
    Row(
        "unitystyle_attention",
        "IDE + UnityStyle, per-model Style Attention",
        "unitystyle",
        "unitystyle_attention",
        "unitystyle_attention",
    ),
    Row("torch_ide", "IDE in PyTorch", "baseline", framework="torch"),
)
ROW_KEYS = tuple(r.key for r in ROWS)
METRICS = (("Rank-1", "rank1"), ("mAP", "mAP"), ("mINP", "mINP"))
# Pairs whose difference the report tests against the seeds' spread: (row, against).
CONTRASTS = (
    ("unitystyle", "ide"),
    ("unitystyle", "real_twin"),
    ("unitystyle", "colour_norm"),
    ("unitystyle", "camstyle"),
    ("unitystyle", "unitystyle_train_only"),
    ("unitystyle", "unitystyle_attention"),
    ("camstyle", "ide"),
    ("real_twin", "ide"),
    ("colour_norm", "ide"),
    ("torch_ide", "ide"),
)


def selected_rows(config) -> list[Row]:
    """config.compare.rows ('' = all) as Rows, in the table's order; ConfigError naming an unknown one. A row
    that evaluates another row's model (train only) trains that model itself when it is not there yet."""
    text = str(config.compare.rows).strip()
    keys = [k.strip() for k in text.split(",") if k.strip()] if text else list(ROW_KEYS)
    unknown = [k for k in keys if k not in ROW_KEYS]
    if unknown:
        raise config_validation.ConfigError(
            f"config.compare.rows={config.compare.rows!r}: unknown row(s) {unknown}; choose from {ROW_KEYS}"
        )
    return [r for r in ROWS if r.key in keys]


def validate(config) -> list[Row]:
    config_validation.validate(config)
    seeds = config.compare.seeds
    if not isinstance(seeds, int) or seeds < 1:
        raise config_validation.ConfigError(f"config.compare.seeds={seeds!r} must be a positive integer")
    return selected_rows(config)


def _style_config(config, style_set: str, seed: int):
    """The config that trains (and restores) a style set's GANs: the UnityGAN config; with per-model Style
    Attention for that ablation; for CamStyle's CycleGAN-like pairs (same sizes and steps) without it and with
    CycleGAN's identity loss |G(y) - y|, which fights only a many-to-one map, not a pair's one-to-one."""
    c = config.copy_and_resolve_references()
    c.seed = seed
    c.gan.style_attention = style_set == "unitystyle_attention"
    if style_set == "camstyle":
        c.gan.generator_identity = True
    return c


def _gan_domains(style_set: str, splits) -> list:
    if style_set == "camstyle":
        return networks.camstyle_pairs(list(splits.cameras))
    if style_set in ("unitystyle", "unitystyle_attention"):
        return [networks.Domains(c) for c in styled_data.needed_cameras(splits)]
    return []


def _make_styles(config, workdir: str, style_set: str, splits, mesh) -> dict:
    """Trains a set's GANs and writes its styled images (each part skipped when done); returns its summary."""
    domains = _gan_domains(style_set, splits)
    os.makedirs(workdir, exist_ok=True)
    began = time.perf_counter()
    gan_training.train_all(config, workdir, splits, domains, mesh)
    stages.record_time(workdir, "gan", time.perf_counter() - began)
    began = time.perf_counter()
    make = {
        "camstyle": transfer.run_camstyle,
        "colour_norm": transfer.run_colour_norm,
    }.get(style_set, transfer.run)
    summary = make(config, workdir, splits, mesh)
    stages.record_time(workdir, "transfer", time.perf_counter() - began)
    with open(os.path.join(workdir, "stage_times.json")) as f:
        times = json.load(f)
    return {"generators": len(domains), "seconds": times, "summary": summary}


def _row_config(config, row: Row, seed: int):
    c = config.copy_and_resolve_references()
    c.seed = seed
    c.reid.method = row.method
    return c


def _evaluated(path: str, num_steps: int) -> dict | None:
    """A finished evaluation of the final model, kept from an earlier invocation, or None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        metrics = json.load(f)
    return metrics if metrics.get("step") == num_steps else None


def _jax_row(config, row: Row, seed_dir: str, splits, styled: dict, mesh) -> dict:
    """Trains (or resumes) the row's IDE, then evaluates it on the query/gallery the row names."""
    workdir = os.path.join(seed_dir, row.model or row.key)
    out = os.path.join(workdir, f"eval_{row.key}")
    kept = _evaluated(os.path.join(out, "metrics.json"), config.reid.num_steps)
    if kept is not None:
        return kept
    train_splits = splits
    styled_train = None
    if row.styles == "colour_norm":
        train_splits = dataclasses.replace(splits, train=styled["colour_norm"].train)
    elif row.styles == "camstyle":
        styled_train = styled["camstyle"]
    elif row.styles:
        styled_train = styled[row.styles].train
    began = time.perf_counter()
    extra = reid_training.second_part(config.reid, splits.train, styled_train)
    reid_training.train(config, workdir, train_splits, extra, mesh)
    seconds = time.perf_counter() - began
    inputs = styled[row.test] if row.test else splits
    metrics = reid_evaluation.evaluate(config, workdir, splits, inputs, mesh, output_dir=out)
    metrics["train_seconds"] = round(seconds, 1)
    return metrics


def _torch_row(config, seed_dir: str, splits) -> dict:
    from unitystyle_jax import torch_training  # torch is a test-only dependency

    workdir = os.path.join(seed_dir, "torch_ide")
    path = os.path.join(workdir, "eval", "metrics.json")
    kept = _evaluated(path, config.reid.num_steps)
    if kept is not None:
        return kept
    began = time.perf_counter()
    model = torch_training.train(config, workdir, splits)
    seconds = time.perf_counter() - began
    query = torch_training.features(model, splits.query, config)
    gallery = torch_training.features(model, splits.gallery, config)
    metrics, _, _ = reid_evaluation.score(query, gallery, splits, config.eval)
    metrics.update(step=config.reid.num_steps, method="torch_ide", train_seconds=round(seconds, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _check(config, workdir: str, rows: list[Row], splits, mesh) -> None:
    """Start-up: what would stop the comparison later fails now, with one line."""
    needed = set(_style_sets(rows))
    missing = sorted(set(styled_data.needed_cameras(splits)) - set(splits.cameras))
    if missing and needed - {"camstyle"}:
        raise config_validation.ConfigError(
            f"camera(s) {missing} of the query/gallery have no training images in {config.data.name}: no "
            "UnityGAN or colour statistics can transfer them; choose rows without test-time transfer "
            "(--config.compare.rows=ide,real_twin,camstyle,torch_ide)"
        )
    if splits.num_cameras < 2 and "camstyle" in needed:
        raise config_validation.ConfigError("CamStyle needs at least two training cameras")
    if any(r.framework == "torch" for r in rows) and jax.process_count() > 1:
        raise config_validation.ConfigError("the torch_ide row runs in one process only")
    if any(r.framework != "torch" for r in rows):
        preflight.check_pretrained(config)
    if needed - {"colour_norm"}:
        gan_training.check_model_devices(config)
    if config.compare.retrain_generators:
        return
    for style_set in needed:
        style_config = _style_config(config, style_set, config.seed)
        for d in _gan_domains(style_set, splits):
            preflight.check_gan_checkpoint(style_config, _styles_dir(workdir, style_set), d, mesh)


def _style_sets(rows: list[Row]) -> list[str]:
    """The style sets the rows train or test on, sorted."""
    return sorted({r.styles for r in rows if r.styles} | {r.test for r in rows if r.test})


def _styles_dir(workdir: str, style_set: str, seed: int | None = None) -> str:
    base = workdir if seed is None else os.path.join(workdir, f"seed{seed}")
    return os.path.join(base, "styles", style_set)


def _load_styled(style_set: str, styles_dir: str, splits):
    if style_set == "camstyle":
        return styled_data.load_camstyle(styles_dir)
    return styled_data.load(styles_dir, splits, STYLE_SETS[style_set].output)


def run(config, workdir: str, results: str) -> dict:
    began = time.perf_counter()
    rows = validate(config)
    if not _torch_available():
        logging.warning("torch is not installed: the torch_ide row is left out")
        rows = [r for r in rows if r.framework != "torch"]
    files.check_writable(workdir)
    files.check_writable(results, "results folder")
    config = config.copy_and_resolve_references()
    config.data.root = startup.dataset_root(config, workdir)
    mesh = startup.start(config, workdir)
    with workdir_lock.hold(workdir, jax.process_index()):
        splits = startup.load_dataset(config, workdir)
        _check(config, workdir, rows, splits, mesh)
        report = _run_rows(config, workdir, rows, splits, mesh)
    report["invocation_seconds"] = round(time.perf_counter() - began, 1)
    results_files.stamp(report)
    results_files.write(results, "compare", report, render_markdown(report))
    return report


def _run_rows(config, workdir: str, rows: list[Row], splits, mesh) -> dict:
    seeds = [config.seed + s for s in range(config.compare.seeds)]
    needed = _style_sets(rows)
    per_seed = {key: [] for key in (r.key for r in rows)}
    style_report = {}
    retrain = bool(config.compare.retrain_generators)
    for seed in seeds:
        styled = {}
        for style_set in needed:
            directory = _styles_dir(workdir, style_set, seed if retrain else None)
            if retrain or seed == seeds[0]:
                made = _make_styles(
                    _style_config(config, style_set, seed), directory, style_set, splits, mesh
                )
                style_report.setdefault(style_set, []).append(made)
            styled[style_set] = _load_styled(style_set, directory, splits)
        seed_dir = os.path.join(workdir, f"seed{seed}")
        for row in rows:
            c = _row_config(config, row, seed)
            if row.framework == "torch":
                metrics = _torch_row(c, seed_dir, splits)
            else:
                metrics = _jax_row(c, row, seed_dir, splits, styled, mesh)
            per_seed[row.key].append(metrics)
    return summarise(config, rows, seeds, per_seed, style_report, splits)


def _mean_std(values) -> dict:
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def summarise(config, rows, seeds, per_seed: dict, style_report: dict, splits) -> dict:
    """Mean ± std (sample std over seeds) per row and metric; each contrast's difference and whether it
    exceeds the spread (|difference of means| > std_a + std_b)."""
    table = {}
    for row in rows:
        runs = per_seed[row.key]
        styles = style_report.get(row.styles, [])
        table[row.key] = {
            "title": row.title,
            **{key: _mean_std([m[key] for m in runs]) for _, key in METRICS},
            "per_seed": [{key: m[key] for _, key in METRICS} for m in runs],
            "generators": styles[0]["generators"] if styles else 0,
            "gan_seconds": sum(s["seconds"].get("gan", 0.0) for s in styles),
            "transfer_seconds": sum(s["seconds"].get("transfer", 0.0) for s in styles),
        }
    contrasts = []
    for a, b in CONTRASTS:
        if a not in table or b not in table:
            continue
        entry = {"row": a, "against": b}
        for _, key in METRICS:
            diff = table[a][key]["mean"] - table[b][key]["mean"]
            spread = table[a][key]["std"] + table[b][key]["std"]
            entry[key] = {"difference": diff, "spread": spread, "exceeds": bool(abs(diff) > spread)}
        contrasts.append(entry)
    style_summaries = {
        name: made[0]["summary"].get("style")
        for name, made in style_report.items()
        if made[0]["summary"].get("style")
    }
    return {
        "dataset": {"name": config.data.name, "root": config.data.root, "cameras": len(splits.cameras)},
        "seeds": seeds,
        "generators_retrained_per_seed": bool(config.compare.retrain_generators),
        "loss_normalization": config.reid.loss_normalization,
        "rows": table,
        "contrasts": contrasts,
        "style": style_summaries,
    }


def _cell(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def render_markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [
        "| method | Rank-1 | mAP | mINP | generator models | GAN training | transfer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        gan = f"{r['gan_seconds']:.0f} s" if r["generators"] else "–"
        moved = f"{r['transfer_seconds']:.0f} s" if r["transfer_seconds"] else "–"
        cells = " | ".join(_cell(r[key]) for _, key in METRICS)
        lines.append(f"| {r['title']} | {cells} | {r['generators']} | {gan} | {moved} |")
    contrast_lines = [
        "| difference | Rank-1 | mAP | mINP |",
        "|---|---|---|---|",
    ]
    for c in report["contrasts"]:
        cells = " | ".join(
            f"{100 * c[key]['difference']:+.1f} ({'exceeds' if c[key]['exceeds'] else 'within'} ±"
            f"{100 * c[key]['spread']:.1f})"
            for _, key in METRICS
        )
        contrast_lines.append(f"| {rows[c['row']]['title']} − {rows[c['against']]['title']} | {cells} |")
    style_lines = [
        "| styled images | style ratio R real → styled | camera probe % real → styled | colour spread "
        "| contrast spread | SSIM |"
    ]
    style_lines.append("|---|---|---|---|---|---|")
    for name, s in report["style"].items():
        ratio = s["style_ratio"]
        r_text = f"{ratio['real']:.2f} → {ratio['unity']:.2f}" if ratio["real"] is not None else "–"
        probe = s["camera_probe"]
        p_text = f"{100 * probe['real']:.1f} → {100 * probe['unity']:.1f}" if probe else "–"
        style_lines.append(
            f"| {STYLE_SETS[name].title} | {r_text} | {p_text} | {s['colour_spread']['real']:.1f} → "
            f"{s['colour_spread']['unity']:.1f} | {s['contrast_spread']['real']:.1f} → "
            f"{s['contrast_spread']['unity']:.1f} | {s['ssim']:.3f} |"
        )
    seeds = report["seeds"]
    generators = (
        "re-trained for every seed"
        if report["generators_retrained_per_seed"]
        else (f"trained once (seed {seeds[0]}) and shared by every seed's rows")
    )
    d = report["dataset"]
    return f"""# UnityStyle comparison on {d["name"]} ({report["date"]}, {report["machine"]})

{len(seeds)} seeds ({", ".join(map(str, seeds))}) vary the IDE training (initialisation, data order,
augmentation); the generators are {generators}. Cells: mean ± sample std over the seeds, in %. Loss normalisation:
`{report["loss_normalization"]}`.

{chr(10).join(lines)}

A difference counts only where it exceeds the spread (|difference of means| > std + std):

{chr(10).join(contrast_lines)}

Style of query + gallery before and after (R: cameras' spread in units of people's, lower = cameras alike):

{chr(10).join(style_lines)}

This invocation: {report["invocation_seconds"]:.0f} s (less when an earlier one had finished some parts).
"""


def main(argv):
    del argv
    cli.run_main(run, FLAGS.config, FLAGS.workdir, FLAGS.results)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
