"""`make compare`: the paper's comparison on one data split, with controls, ablations, paired seeds and intervals.

Rows (`ROWS`): the IDE baseline; controls (the same real images again with another augmentation, which carries
the loss formula and the 2N images per step of UnityStyle; a per-camera colour normalisation with no GAN, both
replacing every image and as a twin in UnityStyle's own recipe); IDE + CamStyle (C(C-1)/2 pairwise GANs of this
project's trainer, each given a UnityGAN's budget: same steps, widths and image size; label smoothing on generated
images); the IDE tested on UnityStyle images only; IDE + UnityStyle with and without test-time transfer and with
label smoothing; UnityStyle with per-model Style Attention; and the PyTorch IDE trained on the same batches.

Every row is trained with each of `compare.seeds` seeds (the IDE's initialisation, data order and augmentation);
a style set's generators are trained for several GAN seeds and IDE seed i uses GAN seed i mod their number
(`gan_seed_count`: by default one per IDE seed for the UnityGANs, fewer for CamStyle's costly pairs), so a row's
seeds carry the GANs' variance too. Seed i of every row shares all of that, and every row is scored on the
same queries, so rows are compared pairwise: the mean paired difference with a bootstrap interval that draws
GAN seeds, IDE seeds within them and test identities (`evaluation.paired`). Everything resumes: finished GANs,
transfers, IDE models and evaluations are kept and skipped.

Writes RESULTS/compare.md and RESULTS/compare.json: per row the mean, sample std over seeds and 95% interval of
Rank-1, mAP and mINP, the generator count and GAN / transfer / IDE time; per contrast the paired difference and
its interval; and a verdict on each of the paper's claims that the intervals support.
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

from unitystyle_jax import config_validation, evaluation, methods, startup
from unitystyle_jax.commands import cli, preflight
from unitystyle_jax.core import reports
from unitystyle_jax.core import files, stage_times
from unitystyle_jax.data import formats, styled_data
from unitystyle_jax.evaluation import paired
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan import transfer
from unitystyle_jax.gan.domains import Domains, camstyle_pairs
from unitystyle_jax.gan.settings import program_settings
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid import training as reid_training

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", "configs/synthetic.py", "Dataset / model configuration.", lock_config=True
)
flags.DEFINE_string("workdir", "runs/compare", "Folder for every row's runs.")
flags.DEFINE_string("results", "results", "Folder for compare.md and compare.json.")


@dataclasses.dataclass(frozen=True)
class StyleSet:
    """Styled images rows train or test on: which generators make them (none: per-camera statistics), under
    which GAN settings, and how they are made and read."""

    name: str
    title: str
    output: str  # transfer's output folder inside the set's workdir
    generators: str | None = None  # "cameras": a UnityGAN per camera; "pairs": CamStyle's pairwise GANs
    gan_overrides: tuple = ()  # (dotted config field, value) pairs of its GANs

    @property
    def made_by_gans(self) -> bool:
        """Made once per GAN seed."""
        return self.generators is not None

    def gan_seed_count(self, config) -> int:
        """The GAN seeds it is trained for: 1 without GANs; CamStyle's pairs compare.pair_gan_seeds (C(C−1)/2 models
        a seed); the per-camera sets compare.gan_seeds; 0 = one per IDE seed, so no two IDE seeds share a draw."""
        if not self.made_by_gans:
            return 1
        count = config.compare.pair_gan_seeds if self.generators == "pairs" else config.compare.gan_seeds
        return count or config.compare.seeds

    def gan_seeds(self, config) -> list[int]:
        return [config.seed + g for g in range(self.gan_seed_count(config))]

    def config(self, config, gan_seed: int):
        """The config that trains (and restores) the set's GANs."""
        c = config.copy_and_resolve_references()
        c.seed = gan_seed
        c.update_from_flattened_dict(dict(self.gan_overrides))
        return c

    def domains(self, splits) -> list[Domains]:
        if self.generators == "pairs":
            return camstyle_pairs(list(splits.cameras))
        if self.generators == "cameras":
            return [Domains(c) for c in styled_data.needed_cameras(splits)]
        return []

    def make(self, config, workdir: str, splits, mesh, programs) -> dict:
        """Trains the set's GANs with `programs` (None for a set made by statistics) and writes its styled
        images, each part skipped when done; returns its summary."""
        domains = self.domains(splits)
        os.makedirs(workdir, exist_ok=True)
        gan_training.train_all(config, workdir, splits, domains, mesh, programs)
        if self.generators is None:
            summary, _ = transfer.run_colour_norm(config, workdir, splits, mesh)
        else:
            write = transfer.run_camstyle if self.generators == "pairs" else transfer.run
            summary, _ = write(config, workdir, splits, mesh, programs.generators(config, mesh))
        times = stage_times.read(workdir)
        return {"generators": len(domains), "seconds": times, "summary": summary, "seed": config.seed}

    @property
    def styles_test_images(self) -> bool:
        """Whether it holds query and gallery too (CamStyle's pairs make training images only)."""
        return self.generators != "pairs"

    def load(self, directory: str, splits):
        if self.generators == "pairs":
            return styled_data.load_camstyle(directory)
        return styled_data.load(directory, splits, self.output)

    def training_images(self, loaded) -> tuple:
        """The training records of what `load` returned."""
        return loaded if self.generators == "pairs" else loaded.train


class _Programs:
    """The programs of every GAN config and IDE config this comparison trains, each built once and handed to
    every model of that config: a style set's GANs over all GAN seeds, a row's IDE over all seeds, and rows
    whose IDE differs only in its data (colour jitter, the training images) share one step."""

    def __init__(self, mesh, num_classes: int):
        self.mesh, self.num_classes = mesh, num_classes
        self._built = []  # (program settings, programs)

    def _shared(self, settings, build):
        for known, programs in self._built:
            if known == settings:
                return programs
        programs = build()
        self._built.append((settings, programs))
        return programs

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
    label_smoothing: bool = False  # UnityStyle images label-smoothed with CamStyle's epsilon
    overrides: tuple = ()  # (dotted config field, value) pairs of its IDE: another backbone or augmentation


STYLE_SETS = {
    s.name: s
    for s in (
        StyleSet(
            "unitystyle",
            "UnityStyle",
            styled_data.OUTPUT,
            "cameras",
            (("gan.style_attention", "none"),),
        ),
        StyleSet(
            "unitystyle_attention",
            "UnityStyle, per-model Style Attention",
            styled_data.OUTPUT,
            "cameras",
            (("gan.style_attention", "per_model"),),
        ),
        # CamStyle as CamStyle trains it: a CycleGAN per camera pair (models/cyclegan.py), with the UnityGAN's
        # widths, image size, steps and learning rate.
        StyleSet("camstyle", "CamStyle", styled_data.CAMSTYLE_OUTPUT, "pairs", (("gan.model", "cyclegan"),)),
        # The same pairs trained as UnityGANs, no Style Attention, and CycleGAN's identity loss |G(y) - y|, which
        # fights only a many-to-one map, not a pair's one-to-one: what the comparison's CamStyle row was before.
        StyleSet(
            "unitygan_pairs",
            "C(C−1)/2 UnityGAN pairs",
            styled_data.CAMSTYLE_OUTPUT,
            "pairs",
            (("gan.style_attention", "none"), ("gan.generator_identity", True)),
        ),
        StyleSet("colour_norm", "camera colour normalisation", styled_data.COLOUR_NORM_OUTPUT),
    )
}

ROWS = (
    Row("ide", "IDE", "baseline"),
    Row("real_twin", "IDE + real twin (control)", "real_twin"),
    Row(
        "colour_norm",
        "IDE on colour-normalised images (control)",
        "colour_norm",
        "colour_norm",
        "colour_norm",
    ),
    Row(
        "colour_norm_twin",
        "IDE + colour-normalised twin, UnityStyle's recipe (control)",
        "unitystyle",
        "colour_norm",
        "colour_norm",
    ),
    Row("camstyle", "IDE + CamStyle (a CycleGAN per camera pair)", "camstyle", "camstyle"),
    Row("unitygan_pairs", "IDE + C(C−1)/2 UnityGAN pairs, CamStyle's recipe", "camstyle", "unitygan_pairs"),
    Row(
        "ide_unitystyle_test", "IDE, UnityStyle test images only", "baseline", test="unitystyle", model="ide"
    ),
    Row(
        "unitystyle_train_only",
        "IDE + UnityStyle, train only",
        "unitystyle",
        "unitystyle",
        model="unitystyle",
    ),
    Row("unitystyle", "IDE + UnityStyle", "unitystyle", "unitystyle", "unitystyle"),
    Row(
        "unitystyle_lsr",
        "IDE + UnityStyle, label-smoothed",
        "unitystyle",
        "unitystyle",
        "unitystyle",
        label_smoothing=True,
    ),
    Row(
        "unitystyle_attention",
        "IDE + UnityStyle, per-model Style Attention",
        "unitystyle",
        "unitystyle_attention",
        "unitystyle_attention",
    ),
    Row("torch_ide", "IDE in PyTorch", "baseline", framework="torch"),
    # What re-ID researchers use against camera style without a GAN (docs/comparison.md), and the paper's
    # UnityStyle + IBN-Net combination.
    Row("ibn", "IDE, IBN-a backbone", "baseline", overrides=(("model.ibn", True),)),
    Row("mixstyle", "IDE + MixStyle (stages 1-2)", "baseline", overrides=(("model.mixstyle.layers", "1,2"),)),
    Row("colour_jitter", "IDE + colour jitter", "baseline", overrides=(("data.colour_jitter", 0.5),)),
    Row(
        "camera_bn",
        "IDE, camera-based BN (test cameras' own statistics)",
        "baseline",
        overrides=(("model.camera_bn", True),),
    ),
    Row(
        "camera_bn_deployable",
        "IDE, camera-based BN (statistics of each camera's training images)",
        "baseline",
        model="camera_bn",
        overrides=(("model.camera_bn", True), ("eval.camera_bn_statistics", "train")),
    ),
    Row(
        "unitystyle_camera_bn",
        "IDE + UnityStyle, camera-based BN (test cameras' own statistics)",
        "unitystyle",
        "unitystyle",
        "unitystyle",
        overrides=(("model.camera_bn", True),),
    ),
    Row(
        "unitystyle_ibn",
        "IDE, IBN-a backbone + UnityStyle",
        "unitystyle",
        "unitystyle",
        "unitystyle",
        overrides=(("model.ibn", True),),
    ),
)
ROW_KEYS = tuple(r.key for r in ROWS)
# Named groups config.compare.rows may give. paper (what `make compare` runs): the rows the paper's claims and
# the controls need; methods: UnityStyle against the camera-style methods in use today; all: every row.
METHOD_ROWS = (
    "colour_jitter",
    "ibn",
    "mixstyle",
    "camera_bn",
    "camera_bn_deployable",
    "unitystyle_camera_bn",
    "unitystyle_ibn",
)
ROW_GROUPS = {
    "paper": tuple(
        k for k in ROW_KEYS if k not in ("unitystyle_attention", "torch_ide", "unitygan_pairs", *METHOD_ROWS)
    ),
    "methods": ("ide", *METHOD_ROWS[:-1], "camstyle", "unitystyle", METHOD_ROWS[-1]),
    "all": ROW_KEYS,
}
DEFAULT_ROWS = ROW_GROUPS["paper"]
METRICS = (("Rank-1", "rank1"), ("mAP", "mAP"), ("mINP", "mINP"))
# Pairs whose paired difference the report gives with its interval: (row, against).
CONTRASTS = (
    ("unitystyle", "ide"),
    ("unitystyle", "real_twin"),
    ("unitystyle", "colour_norm"),
    ("unitystyle", "colour_norm_twin"),
    ("unitystyle", "camstyle"),
    ("unitystyle", "unitystyle_train_only"),
    ("unitystyle", "unitystyle_lsr"),
    ("unitystyle", "unitystyle_attention"),
    ("ide_unitystyle_test", "ide"),
    ("camstyle", "ide"),
    ("unitygan_pairs", "ide"),
    ("unitystyle", "unitygan_pairs"),
    ("unitystyle_lsr", "ide"),
    ("real_twin", "ide"),
    ("colour_norm", "ide"),
    ("colour_norm_twin", "ide"),
    ("torch_ide", "ide"),
    ("ibn", "ide"),
    ("mixstyle", "ide"),
    ("colour_jitter", "ide"),
    ("camera_bn", "ide"),
    ("camera_bn_deployable", "ide"),
    ("camera_bn_deployable", "camera_bn"),
    ("unitystyle", "ibn"),
    ("unitystyle", "mixstyle"),
    ("unitystyle", "colour_jitter"),
    ("unitystyle", "camera_bn"),
    ("unitystyle", "camera_bn_deployable"),
    ("unitystyle_camera_bn", "unitystyle"),
    ("unitystyle_camera_bn", "camera_bn"),
    ("unitystyle_ibn", "ibn"),
    ("unitystyle_ibn", "unitystyle"),
)
# Differences smaller than this (in mAP) the comparison does not claim to resolve: a "does at least as well"
# claim is shown when its interval's lower end lies above −MARGIN.
MARGIN = 0.02
# The paper's claims, each read off one contrast's mAP difference: (claim, row, against, kind). kind "better":
# tested against 0; kind "as good": against −MARGIN, and only where `against` itself beats the IDE (as good as a
# method that does nothing would say nothing). Verdicts are Holm-corrected over the claims tested (CLAIM_LEVEL);
# the first claim is the primary one. UnityStyle's gain is read against the real twin too: twice the images per
# step, with no style change, is what the twin adds.
CLAIM_LEVEL = 0.05
CLAIMS = (
    ("UnityStyle improves the IDE", "unitystyle", "ide", "better"),
    (
        "UnityStyle improves on its real twin (a style effect, not 2N images)",
        "unitystyle",
        "real_twin",
        "better",
    ),
    ("UnityStyle beats CamStyle", "unitystyle", "camstyle", "better"),
    (
        "C generators suffice: UnityStyle's C do as well as CamStyle's C(C−1)/2",
        "unitystyle",
        "camstyle",
        "as good",
    ),
    ("test-time transfer helps", "unitystyle", "unitystyle_train_only", "better"),
    ("no label smoothing needed on UnityStyle images", "unitystyle", "unitystyle_lsr", "as good"),
)
# The contrasts an "as good" claim reads: only they are tested against −MARGIN.
AS_GOOD_PAIRS = {(a, b) for _, a, b, kind in CLAIMS if kind == "as good"}


def selected_rows(config) -> list[Row]:
    """config.compare.rows ('' = DEFAULT_ROWS; comma-separated row keys or groups of ROW_GROUPS, e.g.
    "paper,methods") as Rows, in the table's order; ConfigError naming an unknown one. A row that evaluates
    another row's model (train only) trains that model itself when it is not there yet."""
    items = [k.strip() for k in str(config.compare.rows).split(",") if k.strip()]
    keys = {key for item in items for key in ROW_GROUPS.get(item, (item,))} if items else set(DEFAULT_ROWS)
    unknown = sorted(keys - set(ROW_KEYS), key=items.index)
    if unknown:
        raise config_validation.ConfigError(
            f"config.compare.rows={config.compare.rows!r}: unknown row(s) {unknown}; choose from {ROW_KEYS} "
            f"or a group: {', '.join(ROW_GROUPS)}"
        )
    return [r for r in ROWS if r.key in keys]


def validate(config) -> list[Row]:
    config_validation.validate(config)
    seeds = config.compare.seeds
    if not isinstance(seeds, int) or seeds < 1:
        raise config_validation.ConfigError(f"config.compare.seeds={seeds!r} must be a positive integer")
    for field in ("gan_seeds", "pair_gan_seeds"):
        count = config.compare[field]
        if not isinstance(count, int) or not 0 <= count <= seeds:
            raise config_validation.ConfigError(
                f"config.compare.{field}={count!r} must be an integer from 0 (one per IDE seed) to "
                f"config.compare.seeds ({seeds})"
            )
    samples = config.compare.bootstrap_samples
    if not isinstance(samples, int) or samples < 100:
        raise config_validation.ConfigError(
            f"config.compare.bootstrap_samples={samples!r} must be an integer of at least 100"
        )
    return selected_rows(config)


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


def _jax_row(
    config, row: Row, seed_dir: str, splits, styled: dict, mesh, programs: _Programs, trained: set
) -> dict:
    """Trains (or resumes) the row's IDE unless this invocation did (`trained`: model folders), then evaluates it
    on the query/gallery the row names."""
    workdir = os.path.join(seed_dir, row.model or row.key)
    out = os.path.join(workdir, f"eval_{row.key}")
    kept = _evaluated(workdir, out, config.reid.num_steps)
    if kept is not None:
        return kept
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


def _torch_row(config, seed_dir: str, splits) -> dict:
    from unitystyle_jax.reference import torch_training  # torch is a test-only dependency

    workdir = os.path.join(seed_dir, "torch_ide")
    out = os.path.join(workdir, "eval")
    kept = _evaluated(workdir, out, config.reid.num_steps)
    if kept is not None:
        return kept
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


def run(config, workdir: str, results: str) -> dict:
    began = time.perf_counter()
    rows = validate(config)
    if not _torch_available():
        logging.warning("torch is not installed: the torch_ide row is left out")
        rows = [r for r in rows if r.framework != "torch"]
    files.check_writable(results, "results folder")
    config = config.copy_and_resolve_references()
    config.data.root = startup.dataset_root(config, workdir)

    with startup.started_run(config, workdir) as started:
        programs = _Programs(started.mesh, started.splits.num_train_ids)
        _check(config, workdir, rows, started.splits, programs)
        started.checked()
        report = _run_rows(config, workdir, rows, started.splits, started.mesh, programs)
    report["invocation_seconds"] = round(time.perf_counter() - began, 1)
    reports.stamp(report)
    reports.write(results, "compare", report, render_markdown(report))
    return report


def _run_rows(config, workdir: str, rows: list[Row], splits, mesh, programs: _Programs) -> dict:
    seeds = [config.seed + s for s in range(config.compare.seeds)]
    needed = [STYLE_SETS[name] for name in _style_sets(rows)]
    per_seed = {r.key: [] for r in rows}
    made = {}  # (style set, GAN seed) -> its summary
    trained = set()  # IDE folders trained (or found finished) by this invocation
    for index, seed in enumerate(seeds):
        styled = {}
        for style_set in needed:
            gan_seeds = style_set.gan_seeds(config)
            gan_seed = gan_seeds[index % len(gan_seeds)]
            key = (style_set.name, gan_seed if style_set.made_by_gans else None)
            directory = _styles_dir(workdir, style_set, gan_seed)
            if key not in made:
                style_config = style_set.config(config, gan_seed)
                gan_programs = programs.gan(style_config) if style_set.made_by_gans else None
                made[key] = style_set.make(style_config, directory, splits, mesh, gan_programs)
            styled[style_set.name] = style_set.load(directory, splits)
        seed_dir = os.path.join(workdir, f"seed{seed}")
        for row in rows:
            c = _row_config(config, row, seed)
            if row.framework == "torch":
                metrics = _torch_row(c, seed_dir, splits)
            else:
                metrics = _jax_row(c, row, seed_dir, splits, styled, mesh, programs, trained)
            per_seed[row.key].append(metrics)
    style_report = {}
    for (style_set, _), entry in made.items():
        style_report.setdefault(style_set, []).append(entry)
    return summarise(config, rows, seeds, per_seed, style_report, splits)


def _spread(values) -> dict:
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def _claims(by_pair: dict) -> list[dict]:
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
    claims = _claims(by_pair)
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


def main(argv):
    del argv
    cli.run_main(run, FLAGS.config, FLAGS.workdir, FLAGS.results)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
