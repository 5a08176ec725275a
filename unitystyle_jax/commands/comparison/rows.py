"""What the comparison compares: the style sets its rows train or test on, the rows, the contrasts between them and
the paper's claims those contrasts test. Declarations; `running` trains them, `statistics` reads them."""

import dataclasses
import json
import os

from unitystyle_jax import config_validation
from unitystyle_jax.commands.comparison.record import MADE_FILE
from unitystyle_jax.core import files, stage_times
from unitystyle_jax.data import styled_data
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.transfer import camstyle, colour_norm, unitystyle
from unitystyle_jax.gan.domains import Domains, camstyle_pairs


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
            summary, _ = colour_norm.run(config, workdir, splits, mesh)
        else:
            write = camstyle.run if self.generators == "pairs" else unitystyle.run
            summary, _ = write(config, workdir, splits, mesh, programs.generators(config, mesh))
        times = stage_times.read(workdir)
        made = {"generators": len(domains), "seconds": times, "summary": summary, "seed": config.seed}
        files.write_text(os.path.join(workdir, MADE_FILE), json.dumps(made, indent=2))
        return made

    @staticmethod
    def made(workdir: str) -> dict | None:
        """The summary `make` returned in WORKDIR, as an earlier invocation (or a record) left it, or None."""
        path = os.path.join(workdir, MADE_FILE)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

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
        # The config's own objective (the shipped one unless flags change it, e.g. `gan.style_attention`, so the
        # UnityStyle rows of any reading are one invocation away).
        StyleSet("unitystyle", "UnityStyle", styled_data.OUTPUT, "cameras"),
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
