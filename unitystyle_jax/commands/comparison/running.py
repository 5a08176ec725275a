"""Trains and evaluates every selected row for every seed, each part resumed where it stopped: the style sets' GANs
and transfers, the IDE models and their evaluations, then the statistics and the report."""

import dataclasses
import json
import logging
import os
import time

import jax

from unitystyle_jax import config_validation, evaluation, methods, startup
from unitystyle_jax import preflight
from unitystyle_jax.core import reports
from unitystyle_jax.core import files, stage_times
from unitystyle_jax.data import formats, styled_data
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.settings import program_settings
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid import training as reid_training
from unitystyle_jax.commands.comparison import record as record_files
from unitystyle_jax.commands.comparison.report import render_markdown
from unitystyle_jax.commands.comparison.rows import STYLE_SETS, Row, StyleSet, validate
from unitystyle_jax.commands.comparison.statistics import summarise


class _Programs:
    """The programs of every GAN config and IDE config this comparison trains, each built once and handed to
    every model of that config: a style set's GANs over all GAN seeds, a row's IDE over all seeds, and rows
    whose IDE differs only in its data (colour jitter, the training images) share one step."""

    def __init__(self, mesh, num_classes: int):
        self.mesh, self.num_classes = mesh, num_classes
        self._built = {}  # the program settings (dicts, so their JSON is the key) -> programs

    def _shared(self, settings, build):
        key = json.dumps(settings, sort_keys=True, default=repr)
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def gan(self, style_config) -> gan_training.GanPrograms:
        return self._shared(
            ("gan", program_settings(style_config.gan)),
            lambda: gan_training.GanPrograms.build(style_config.gan, self.mesh),
        )

    def reid(self, row_config) -> reid_training.ReidPrograms:
        return self._shared(
            ("reid", reid_training.program_settings(row_config, self.num_classes)),
            lambda: reid_training.ReidPrograms.build(row_config, self.num_classes, self.mesh),
        )


def _row_config(config, row: Row, seed: int):
    c = config.copy_and_resolve_references()
    c.seed = seed
    c.reid.method = row.method
    if row.label_smoothing:
        c.reid.unitystyle_label_smoothing = c.reid.generated_label_smoothing
    c.update_from_flattened_dict(dict(row.overrides))
    return c


def _evaluated(workdir: str, out: str, num_steps: int) -> dict | None:
    """A finished evaluation of WORKDIR's final model in OUT, kept from an earlier invocation, or None."""
    path = os.path.join(out, "metrics.json")
    needed = (path, os.path.join(out, evaluation.PER_QUERY_FILE), os.path.join(workdir, stage_times.FILE))
    if not all(os.path.exists(p) for p in needed):
        return None
    with open(path) as f:
        metrics = json.load(f)
    if metrics.get("step") != num_steps:
        return None
    return _with_run_records(metrics, workdir, out)


def _paths(row: Row, seed_dir: str) -> tuple[str, str]:
    """(the folder of the IDE a row evaluates, the folder of the row's evaluation)."""
    if row.framework == "torch":
        workdir = os.path.join(seed_dir, "torch_ide")
        return workdir, os.path.join(workdir, "eval")
    workdir = os.path.join(seed_dir, row.model or row.key)
    return workdir, os.path.join(workdir, f"eval_{row.key}")


def _jax_row(
    config, row: Row, seed_dir: str, splits, styled: dict, mesh, programs: _Programs, trained: set
) -> dict:
    """Trains (or resumes) the row's IDE unless this invocation did (`trained`: model folders), then evaluates it
    on the query/gallery the row names."""
    workdir, out = _paths(row, seed_dir)
    train_splits = splits
    styled_train = STYLE_SETS[row.styles].training_images(styled[row.styles]) if row.styles else None
    if methods.METHODS[row.method].replaces_real:  # every training image replaced by its normalised version
        train_splits, styled_train = dataclasses.replace(splits, train=styled_train), None
    if workdir not in trained:
        second_part = reid_training.second_part(config.reid, splits.train, styled_train)
        reid_training.train(config, workdir, train_splits, second_part, mesh, programs.reid(config))
        trained.add(workdir)
    inputs = styled[row.test] if row.test else splits
    metrics = reid_evaluation.evaluate(config, workdir, splits, inputs, mesh, output_dir=out)
    return _with_run_records(metrics, workdir, out)


def _with_run_records(metrics: dict, workdir: str, out: str) -> dict:
    """An evaluation's metrics with its model's training time (all invocations) and per-query figures."""
    seconds = stage_times.read(workdir).get("reid")
    return {**metrics, "train_seconds": seconds, "per_query": evaluation.read_per_query(out)}


def _torch_row(config, row: Row, seed_dir: str, splits) -> dict:
    from unitystyle_jax.reference import torch_training  # torch is a test-only dependency

    workdir, out = _paths(row, seed_dir)
    began = time.perf_counter()
    model = torch_training.train(config, workdir, splits)  # trains from scratch: its time always counts
    stage_times.add(workdir, "reid", began)
    query = torch_training.features(model, splits.query, config)
    gallery = torch_training.features(model, splits.gallery, config)
    metrics, _, ranking = reid_evaluation.score(query, gallery, splits, config.eval)
    metrics.update(step=config.reid.num_steps, method="torch_ide")
    os.makedirs(out, exist_ok=True)
    evaluation.write_metrics_json(os.path.join(out, "metrics.json"), metrics)
    evaluation.write_per_query(out, ranking["per_query"])
    return _with_run_records(metrics, workdir, out)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _check(config, workdir: str, rows: list[Row], splits, programs: _Programs) -> None:
    """Start-up: what would stop the comparison later fails now, with one line."""
    needed = [STYLE_SETS[name] for name in _style_sets(rows)]
    missing = sorted(set(styled_data.needed_cameras(splits)) - set(splits.cameras))
    if missing and any(s.styles_test_images for s in needed):
        raise config_validation.ConfigError(
            f"{formats.camera_names(config.data.name, missing)} of the query/gallery: no training images in "
            f"{config.data.name}, so no "
            "UnityGAN or colour statistics can transfer them; choose rows without test-time transfer "
            "(--config.compare.rows=ide,real_twin,camstyle,torch_ide)"
        )
    if splits.num_cameras < 2 and any(s.generators == "pairs" for s in needed):
        raise config_validation.ConfigError("CamStyle needs at least two training cameras")
    if any(r.framework == "torch" for r in rows) and jax.process_count() > 1:
        raise config_validation.ConfigError("the torch_ide row runs in one process only")
    if any(r.framework != "torch" for r in rows):
        preflight.check_pretrained(config)
    made_by_gans = [s for s in needed if s.made_by_gans]
    if made_by_gans:
        gan_training.check_model_devices(config)
    for style_set in made_by_gans:
        for gan_seed in style_set.gan_seeds(config):
            style_config = style_set.config(config, gan_seed)
            for d in style_set.domains(splits):
                preflight.check_gan_checkpoint(
                    style_config,
                    _styles_dir(workdir, style_set, gan_seed),
                    d,
                    programs.gan(style_config),
                )


def _style_sets(rows: list[Row]) -> list[str]:
    """The style sets the rows train or test on, sorted."""
    return sorted({r.styles for r in rows if r.styles} | {r.test for r in rows if r.test})


def _styles_dir(workdir: str, style_set: StyleSet, gan_seed: int) -> str:
    """A style set's folder: one per GAN seed for sets made by GANs, one for the rest."""
    base = os.path.join(workdir, "styles", style_set.name)
    return os.path.join(base, f"gan_seed{gan_seed}") if style_set.made_by_gans else base


def run(config, workdir: str, results: str, record: str | None = None) -> dict:
    """The comparison in WORKDIR, its report in RESULTS. RECORD: a folder for the comparison's record (`record`),
    read into WORKDIR at start (files WORKDIR lacks) and written after every IDE seed."""
    began = time.perf_counter()
    rows = validate(config)
    if not _torch_available():
        logging.warning("torch is not installed: the torch_ide row is left out")
        rows = [r for r in rows if r.framework != "torch"]
    files.check_writable(results, "results folder")
    config = config.copy_and_resolve_references()
    config.data.root = startup.dataset_root(config, workdir)

    if record:
        files.check_writable(record, "record folder")
    with startup.started_run(config, workdir) as started:
        if record:  # every process, before any reads the workdir (identical files, written atomically)
            copied = record_files.copy(record, workdir, replace=False)
            logging.info("%d files of the record in %s read into %s", len(copied), record, workdir)
        programs = _Programs(started.mesh, started.splits.num_train_ids)
        _check(config, workdir, rows, started.splits, programs)
        started.checked()
        report = _run_rows(config, workdir, rows, started.splits, started.mesh, programs, record)
    report["invocation_seconds"] = round(time.perf_counter() - began, 1)
    reports.stamp(report)
    reports.write(results, "compare", report, render_markdown(report))
    return report


def _run_rows(config, workdir: str, rows: list[Row], splits, mesh, programs: _Programs, record) -> dict:
    seeds = [config.seed + s for s in range(config.compare.seeds)]
    needed = [STYLE_SETS[name] for name in _style_sets(rows)]
    per_seed = {r.key: [] for r in rows}
    made = {}  # (style set, GAN seed) -> its summary
    ready = set()  # (style set, GAN seed) made (or found made) by this invocation: its images are on disk
    trained = set()  # IDE folders trained (or found finished) by this invocation
    for index, seed in enumerate(seeds):
        seed_dir = os.path.join(workdir, f"seed{seed}")
        configs = {row.key: _row_config(config, row, seed) for row in rows}
        kept = {row.key: _evaluated(*_paths(row, seed_dir), configs[row.key].reid.num_steps) for row in rows}
        pending = [row for row in rows if kept[row.key] is None]
        styled = {}
        for style_set in needed:
            gan_seeds = style_set.gan_seeds(config)
            gan_seed = gan_seeds[index % len(gan_seeds)]
            key = (style_set.name, gan_seed if style_set.made_by_gans else None)
            directory = _styles_dir(workdir, style_set, gan_seed)
            # A set only kept evaluations read is not made again: its summary is enough.
            used = any(style_set.name in (row.styles, row.test) for row in pending)
            earlier = None if used else style_set.made(directory)
            if key not in ready and earlier is None:
                style_config = style_set.config(config, gan_seed)
                gan_programs = programs.gan(style_config) if style_set.made_by_gans else None
                made[key] = style_set.make(style_config, directory, splits, mesh, gan_programs)
                ready.add(key)
            made.setdefault(key, earlier)
            if used:
                styled[style_set.name] = style_set.load(directory, splits)
        for row in rows:
            c = configs[row.key]
            if kept[row.key] is not None:
                metrics = kept[row.key]
            elif row.framework == "torch":
                metrics = _torch_row(c, row, seed_dir, splits)
            else:
                metrics = _jax_row(c, row, seed_dir, splits, styled, mesh, programs, trained)
            per_seed[row.key].append(metrics)
        if record and jax.process_index() == 0:
            copied = record_files.copy(workdir, record, replace=True)
            logging.info("seed %d: %d files of the record written to %s", seed, len(copied), record)
    style_report = {}
    for (style_set, _), entry in made.items():
        style_report.setdefault(style_set, []).append(entry)
    return summarise(config, rows, seeds, per_seed, style_report, splits)
