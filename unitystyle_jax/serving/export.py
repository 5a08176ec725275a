"""A trained run's networks as programs that run without this project: StableHLO (`jax.export`, reloadable by
any JAX, or by IREE / XLA tools) with a symbolic batch dimension, or ONNX (through jax2onnx, run by
onnxruntime) for a batch size fixed at export.

What is exported, as `unitystyle-export` writes it:
- `ide_features`: float32 images (B, H, W, 3), RGB in [0, 1] at config.data's size (resized by the caller) ->
  (B, D) L2-normalised features, the ones evaluation ranks with (ImageNet normalisation and, with
  config.eval.flip, mirror averaging inside).
- `generator_camC` for each camera with a UnityGAN: float32 images (B, gan.height, gan.width, 3) in [0, 1] ->
  the same images in UnityStyle, in [0, 1].
The convolutions are XLA's (`conv = xla`): the per-shape CPU workaround of models/fast_conv.py computes the same
thing and is left to training.
"""

import contextlib
import dataclasses
import io
import json
import logging
import os
import shutil
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax.core.errors import ConfigError, OutputExistsError
from unitystyle_jax.data import formats, pipeline
from unitystyle_jax.gan.domains import Domains, trained_cameras
from unitystyle_jax.gan.generators import GeneratorLoader, TrainedGenerator
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.reid import camera_bn
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid.feature_model import FeatureModel, restore_features

FEATURES = "ide_features"
SUFFIXES = {"stablehlo": ".stablehlo", "onnx": ".onnx"}
MANIFEST = "export.json"


@dataclasses.dataclass(frozen=True)
class Program:
    """One function to export: `fn(images) -> outputs`, and the shape of one image it takes."""

    name: str
    fn: Callable
    image_shape: tuple[int, int, int]
    description: str


def portable(config):
    """The config with XLA's convolutions (what any backend runs well); parameters are the same for every kind."""
    config = config.copy_and_resolve_references()
    config.model.conv = "xla"
    config.gan.conv = "xla"
    return config


def features_program(config, trained: FeatureModel) -> Program:
    mean, std = (jnp.asarray(v, jnp.float32) for v in (pipeline.IMAGENET_MEAN, pipeline.IMAGENET_STD))

    camera_statistics = config.model.camera_bn

    def features(images):
        normalised = (images - mean) / std
        variables = trained.variables
        if camera_statistics:  # the batch's own statistics: the camera's, when it holds one camera's images
            stats = camera_bn.statistics_fn(trained.backbone)(variables, normalised)
            variables = {"params": variables["params"], "batch_stats": stats}
        return reid_evaluation.features(trained.backbone, variables, normalised, bool(config.eval.flip))

    described = "float32 RGB in [0, 1] at (height, width) -> L2-normalised IDE features"
    if camera_statistics:
        described += (
            ", with BN statistics of the batch itself (camera-based BN: one camera's images per batch)"
        )
    return Program(FEATURES, features, (config.data.height, config.data.width, 3), described)


def generator_program(config, camera: int, generator: TrainedGenerator) -> Program:
    def translate(images):
        return (generator(images * 2.0 - 1.0) + 1.0) / 2.0

    return Program(
        f"generator_cam{camera}",
        translate,
        gan_image_shape(config.gan),
        f"float32 RGB in [0, 1] at (height, width) -> {formats.camera_name(config.data.name, camera)}'s images "
        "in UnityStyle, in [0, 1]",
    )


def to_stablehlo(program: Program) -> jax.export.Exported:
    """The program lowered with a symbolic batch dimension `batch`."""
    (batch,) = jax.export.symbolic_shape("batch")
    spec = jax.ShapeDtypeStruct((batch, *program.image_shape), jnp.float32)
    return jax.export.export(jax.jit(program.fn))(spec)


def to_onnx(program: Program, batch: int):
    """The program as an ONNX model for batches of `batch` images, through jax2onnx (requirements-export.txt).

    jax2onnx is given the program's jaxpr (lax operations), not the flax modules: its flax-module plugins mix
    NCHW and NHWC at the ResNet's residual adds. And the NHWC max pool is traced as the same max over
    (N * C, H, W) windows: jax2onnx lowers a 4-D reduce_window to a MaxPool over 4 spatial dimensions, which
    onnxruntime does not run. The batch is fixed because a jaxpr traced with a symbolic batch carries JAX's own
    dimension variables, which jax2onnx cannot take over."""
    import flax.linen
    from jax2onnx import to_onnx as convert

    max_pool = flax.linen.max_pool
    flax.linen.max_pool = _max_pool_over_channels
    try:
        closed = jax.make_jaxpr(program.fn)(jax.ShapeDtypeStruct((batch, *program.image_shape), jnp.float32))
    finally:
        flax.linen.max_pool = max_pool

    def lax_only(images):
        return jax.core.eval_jaxpr(closed.jaxpr, closed.consts, images)[0]

    # jax2onnx prints debugging lines, and its plugin loader imports a plugin for every package it supports,
    # logging a warning with a traceback for each that does not import: its dm_pix plugins use
    # jax.interpreters.batching.not_mapped, which jax 0.10 no longer has. This conversion uses none of them, so
    # the loader's warnings are held back; a failure of the conversion itself still raises.
    loader = logging.getLogger("jax2onnx.plugins.plugin_system")
    level = loader.level
    loader.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return convert(lax_only, inputs=[(batch, *program.image_shape)], model_name=program.name)
    finally:
        loader.setLevel(level)


def _max_pool_over_channels(x, window_shape, strides=None, padding="VALID"):
    """flax.linen.max_pool of an NHWC batch, as a max over windows of (N * C, H, W)."""
    n, h, w, c = x.shape
    strides = strides or (1,) * len(window_shape)
    pads = padding if isinstance(padding, str) else ((0, 0), *padding)
    y = jnp.transpose(x, (0, 3, 1, 2)).reshape(n * c, h, w)
    y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, *window_shape), (1, *strides), pads)
    return jnp.transpose(y.reshape(n, c, *y.shape[1:]), (0, 2, 3, 1))


def load_stablehlo(path: str) -> jax.export.Exported:
    """An exported program read back; `.call(images)` runs it."""
    with open(path, "rb") as f:
        return jax.export.deserialize(bytearray(f.read()))


def write(
    programs: list[Program], output: str, provenance: dict, fmt: str = "stablehlo", batch: int = 1
) -> dict:
    """DIR/<name>.stablehlo (serialised, plus a readable <name>.mlir) or DIR/<name>.onnx per program, and
    DIR/export.json listing them (ONNX programs take batches of `batch`, StableHLO ones any batch). The folder
    is written as DIR.partial, then renamed: a failed export leaves no folder that looks done."""
    partial = output + ".partial"
    shutil.rmtree(partial, ignore_errors=True)  # what a failed export left
    os.makedirs(partial)
    entries = {}
    for program in programs:
        file = program.name + SUFFIXES[fmt]
        if fmt == "stablehlo":
            exported = to_stablehlo(program)
            with open(os.path.join(partial, file), "wb") as f:
                f.write(exported.serialize())
            with open(os.path.join(partial, program.name + ".mlir"), "w") as f:
                f.write(exported.mlir_module())
        else:
            with open(os.path.join(partial, file), "wb") as f:
                f.write(to_onnx(program, batch).SerializeToString())
        entries[program.name] = {
            "file": file,
            "input": ["batch" if fmt == "stablehlo" else batch, *program.image_shape],
            "does": program.description,
        }
    manifest = {**provenance, "format": fmt, "programs": entries}
    with open(os.path.join(partial, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(partial, output)
    return manifest


def load(path: str) -> Callable:
    """An exported program read back as `images -> outputs` (numpy), by JAX (.stablehlo) or onnxruntime (.onnx)."""
    if path.endswith(SUFFIXES["onnx"]):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: np.asarray(images, np.float32)})[0]
    exported = load_stablehlo(path)
    return lambda images: np.asarray(exported.call(jnp.asarray(images, jnp.float32)))


def check_round_trip(program: Program, path: str, images: np.ndarray) -> float:
    """Largest |reloaded - JAX| relative to the largest |JAX| output on `images`: the export's own check."""
    expected = np.asarray(program.fn(jnp.asarray(images)))
    got = load(path)(images)
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))


def run(config, workdir: str, output: str, fmt: str = "stablehlo", batch: int = 1) -> dict:
    """The export CLI's work: WORKDIR's IDE feature extractor and every camera's generator into OUTPUT (which
    must not exist yet), each reloaded and checked against JAX on random images before the command ends."""
    from unitystyle_jax import startup
    from unitystyle_jax.core import files

    if fmt not in SUFFIXES:
        raise ConfigError(f"--format={fmt!r}: choose from {tuple(SUFFIXES)}")
    if batch < 1:
        raise ConfigError(f"--batch={batch} must be a positive integer")
    if os.path.exists(output):
        raise OutputExistsError(f"{output} exists: give another --output, or remove it first")
    if fmt == "onnx":
        _require_onnx_tools()
    files.check_writable(os.path.dirname(os.path.abspath(output)), "output folder")
    config = portable(config)
    mesh = startup.start(config, workdir)
    trained = restore_features(config, workdir, mesh)
    programs = [features_program(config, trained)]
    gan_steps = {}
    cameras = trained_cameras(workdir)
    loader = GeneratorLoader(config, mesh) if cameras else None
    for camera in cameras:
        generator = loader.restore(workdir, Domains(camera))
        programs.append(generator_program(config, camera, generator))
        gan_steps[camera] = generator.step
    manifest = write(
        programs,
        output,
        {"workdir": os.path.abspath(workdir), "ide_step": trained.step, "gan_steps": gan_steps},
        fmt,
        batch,
    )
    rng = np.random.default_rng(0)
    for program in programs:
        images = rng.uniform(size=(2 if fmt == "stablehlo" else batch, *program.image_shape)).astype(
            np.float32
        )
        path = os.path.join(output, manifest["programs"][program.name]["file"])
        error = check_round_trip(program, path, images)
        print(f"{program.name}: {path} (reloaded: max relative error {error:.1e})")
    return manifest


def _require_onnx_tools() -> None:
    """Before any work: the ONNX converter and runtime are optional packages."""
    import importlib.util

    missing = [m for m in ("jax2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(
            f"--format=onnx needs {' and '.join(missing)}: pip install -r requirements-export.txt"
        )
