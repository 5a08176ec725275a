"""Reject a bad config when it is read, with one line naming the field and value, before any work starts; and
the allowed values the models and losses do not own themselves.

Light to import: commands check their config before TensorFlow and the trainers are imported, so a mistyped value
fails in a second.
"""

from unitystyle_jax import losses, methods
from unitystyle_jax.core.errors import ConfigError
from unitystyle_jax.data import formats
from unitystyle_jax.evaluation.distance import DISTANCE_METRICS
from unitystyle_jax.evaluation.metrics import AP_MODES
from unitystyle_jax.models.factory import GAN_MODELS
from unitystyle_jax.models.fast_conv import CONV_KINDS
from unitystyle_jax.models.layers import COMPUTE_DTYPES, ModelError
from unitystyle_jax.models.mixstyle import MIX_MODES, parse_layers
from unitystyle_jax.models.resnet import STAGE_SIZES

STAGES = ("gan", "transfer", "reid")
RESNET_DEPTHS = tuple(sorted(STAGE_SIZES))
FROM_SCRATCH = "none"  # config.model.pretrained's value for a randomly initialised IDE
METHODS = tuple(methods.METHODS)  # reid.method: the table in methods.py
# reid.loss_normalization: per_part: mean over the real part + mean over the second part (the paper's
# (1/N) * sum over 2N); all: one mean.
LOSS_NORMALIZATIONS = ("per_part", "all")
# Where camera-based BN takes each test camera's statistics (reid/camera_bn.py): its query + gallery (transductive) or
# its training images (deployable).
CAMERA_BN_STATISTICS = ("test", "train")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def stage_list(config) -> list[str]:
    stages = [s.strip() for s in str(config.stages).split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    _require(
        not unknown, f"config.stages={config.stages!r}: unknown stage(s) {unknown}; choose from {STAGES}"
    )
    return stages


def pretrained_folder(config) -> str | None:
    """config.model.pretrained's converted-weights folder, or None to train from scratch ('none'). Empty is an
    error: a paper-scale IDE trained from scratch without anyone choosing it gives numbers far below the paper's."""
    chosen = str(config.model.pretrained).strip()
    _require(
        bool(chosen),
        "config.model.pretrained is empty: the paper's numbers assume ImageNet weights; convert torchvision's with "
        "`unitystyle-convert-torch --input=resnet50-0676ba61.pth --output=weights/resnet50` and "
        f"pass --config.model.pretrained=weights/resnet50, or --config.model.pretrained={FROM_SCRATCH} to train "
        "from scratch",
    )
    return None if chosen == FROM_SCRATCH else chosen


def gan_cameras(config) -> list[int]:
    """config.gan.cameras as 0-based camera ids ('' = every camera with training images: an empty list)."""
    text = str(config.gan.cameras).strip()
    fields = [f.strip() for f in text.split(",")] if text else []
    _require(
        all(f.isdigit() for f in fields),
        f"config.gan.cameras={config.gan.cameras!r}: comma-separated 0-based camera ids, or '' for all",
    )
    return [int(f) for f in fields]


def _check_mixstyle(m) -> None:
    mix = m.mixstyle
    try:
        layers = parse_layers(mix.layers)
    except ModelError as error:
        raise ConfigError(f"config.model.mixstyle.layers: {error}") from None
    stages = len(STAGE_SIZES[m.depth])
    _require(
        set(layers) <= set(range(1, stages + 1)),
        f"config.model.mixstyle.layers={mix.layers!r}: stages of a ResNet-{m.depth} are 1..{stages}",
    )
    _require(0.0 <= mix.p <= 1.0, f"config.model.mixstyle.p={mix.p!r} must be in [0, 1]")
    _require(mix.alpha > 0, f"config.model.mixstyle.alpha={mix.alpha!r} must be > 0")
    _require(mix.mix in MIX_MODES, f"config.model.mixstyle.mix={mix.mix!r}: choose from {MIX_MODES}")


def validate(config) -> None:
    stage_list(config)
    gan_cameras(config)
    d, g, r, m, e = config.data, config.gan, config.reid, config.model, config.eval
    _require(d.name in formats.DATASETS, f"config.data.name={d.name!r}: choose one of {formats.DATASETS}")
    _require(d.name == "synthetic" or bool(d.root), f"config.data.root is empty: where is {d.name}?")
    for field in (
        "data.height",
        "data.width",
        "gan.height",
        "gan.width",
        "gan.batch_size",
        "gan.num_steps",
        "gan.log_every",
        "gan.checkpoint_every",
        "gan.model_devices",
        "reid.batch_size",
        "reid.generated_batch_size",
        "reid.num_steps",
        "reid.log_every",
        "reid.checkpoint_every",
        "transfer.batch_size",
        "eval.batch_size",
        "eval.max_rank",
    ):
        value = config
        for part in field.split("."):
            value = value[part]
        _require(isinstance(value, int) and value > 0, f"config.{field}={value!r} must be a positive integer")
    multiple = 2**g.generator.num_scales
    _require(
        g.height % multiple == 0 and g.width % multiple == 0,
        f"config.gan.height/width={g.height}x{g.width} must be multiples of 2**num_scales={multiple}",
    )
    _require(
        g.gan_loss in losses.GAN_KINDS, f"config.gan.gan_loss={g.gan_loss!r}: choose from {losses.GAN_KINDS}"
    )
    _require(
        g.fm_statistics in losses.FM_STATISTICS,
        f"config.gan.fm_statistics={g.fm_statistics!r}: choose from {losses.FM_STATISTICS}",
    )
    _require(
        g.style_attention in losses.STYLE_ATTENTION,
        f"config.gan.style_attention={g.style_attention!r}: choose from {losses.STYLE_ATTENTION}",
    )
    _require(
        g.style_attention != "shared" or g.train_together,
        "config.gan.style_attention='shared' gives all C models one head: it needs config.gan.train_together=True",
    )
    _require(g.model in GAN_MODELS, f"config.gan.model={g.model!r}: choose from {GAN_MODELS}")
    _require(
        g.sln_floor in losses.SLN_FLOORS,
        f"config.gan.sln_floor={g.sln_floor!r}: choose from {losses.SLN_FLOORS}",
    )
    _require(
        0.0 < g.attention_floor <= 1.0, f"config.gan.attention_floor={g.attention_floor!r} must be in (0, 1]"
    )
    error = losses.loss_weights_error(
        losses.loss_weights(g, losses.UNITYGAN_WEIGHT_NAMES + losses.CYCLE_WEIGHT_NAMES)
    )
    _require(error is None, f"config.gan lambdas: {error}")
    _require(
        r.method in METHODS,
        f"config.reid.method={r.method!r}: choose from {METHODS}",
    )
    _require(
        r.loss_normalization in LOSS_NORMALIZATIONS,
        f"config.reid.loss_normalization={r.loss_normalization!r}: choose from {LOSS_NORMALIZATIONS}",
    )
    for field in ("generated_label_smoothing", "unitystyle_label_smoothing"):
        value = r[field]
        _require(0.0 <= value < 1.0, f"config.reid.{field}={value!r} must be in [0, 1)")
    _require(m.depth in RESNET_DEPTHS, f"config.model.depth={m.depth!r}: choose one of {RESNET_DEPTHS}")
    _require(0.0 <= m.dropout < 1.0, f"config.model.dropout={m.dropout!r} must be in [0, 1)")
    _check_mixstyle(m)
    _require(
        not (m.camera_bn and config.distributed.enabled),
        "config.model.camera_bn: re-estimating each camera's statistics runs in one process; "
        "evaluate a camera-BN run without --config.distributed.enabled",
    )
    for field in ("random_erasing", "colour_jitter"):
        _require(0.0 <= d[field] <= 1.0, f"config.data.{field}={d[field]!r} not in [0, 1]")
    _require(d.pad >= 0, f"config.data.pad={d.pad!r} must be >= 0")
    _require(
        r.learning_rate > 0 and r.backbone_learning_rate >= 0, "config.reid learning rates must be positive"
    )
    _require(e.metric in DISTANCE_METRICS, f"config.eval.metric={e.metric!r}: choose from {DISTANCE_METRICS}")
    _require(e.ap in AP_MODES, f"config.eval.ap={e.ap!r}: choose from {AP_MODES}")
    _require(
        e.camera_bn_statistics in CAMERA_BN_STATISTICS,
        f"config.eval.camera_bn_statistics={e.camera_bn_statistics!r}: choose from {CAMERA_BN_STATISTICS}",
    )
    for field, value in (("gan.conv", g.conv), ("model.conv", m.conv)):
        _require(value in CONV_KINDS, f"config.{field}={value!r}: choose from {CONV_KINDS}")
    for field, value in (("gan.dtype", g.dtype), ("model.dtype", m.dtype)):
        _require(value in COMPUTE_DTYPES, f"config.{field}={value!r}: choose from {tuple(COMPUTE_DTYPES)}")
