"""torchvision / IBN-Net ResNet weights (.pth) -> IDE backbone Flax variables: written once, read torch-free.

    unitystyle-convert-torch --input resnet50.pth --output weights/resnet50 [--depth 50] [--ibn]

Why a separate conversion step: training and evaluation then never import torch. The folder written here
(`variables/`: an orbax checkpoint of {"params", "batch_stats"}; `meta.json`: depth, width, ibn, source) is
what `config.model.pretrained` names. The key mapping is the one `models.resnet` documents: every variable the
Flax ResNet declares is looked up under its torchvision name, so a missing, unexpected or misshapen key is
named before anything is written. `fc.*` (ImageNet classifier) and BN `num_batches_tracked` are ignored.

Safety: the .pth is read with `weights_only=True` (no arbitrary unpickling); the output folder is never
overwritten: it is written as DIR.tmp and renamed into place, so an interrupted run leaves no half folder.
"""

import functools
import json
import os
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

from unitystyle_jax.core.errors import ConversionError, WeightsNotFoundError
from unitystyle_jax.models.resnet import ResNet

META_FILE = "meta.json"
VARIABLES_DIR = "variables"
COLLECTIONS = ("params", "batch_stats")
NESTING_KEYS = ("state_dict", "model")  # where training scripts and re-ID toolkits nest the state_dict
DATA_PARALLEL_PREFIX = "module."
IGNORED_PREFIXES = ("fc.",)
IGNORED_SUFFIXES = (".num_batches_tracked",)
TORCHVISION_WIDTH = 64
NAMES_SHOWN = 3

# Flax leaf name -> torch parameter/buffer name.
LEAF_NAMES = {
    "kernel": "weight",
    "scale": "weight",
    "bias": "bias",
    "mean": "running_mean",
    "var": "running_var",
}
MODULE_NAMES = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}
BLOCK_NAME = re.compile(r"^layer(\d+)_(\d+)$")
OIHW_TO_HWIO = (2, 3, 1, 0)
HWIO_TO_OIHW = (3, 2, 0, 1)


def torch_key(path: tuple[str, ...]) -> str:
    """The torchvision/IBN-Net state_dict key of the Flax backbone variable at `path` (modules..., leaf)."""
    *modules, leaf = path
    names = [MODULE_NAMES.get(name, BLOCK_NAME.sub(r"layer\1.\2", name)) for name in modules]
    return ".".join([*names, LEAF_NAMES[leaf]])


def torch_layout(path: tuple[str, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape torch stores the variable at `path` in (conv kernels are OIHW there, HWIO here)."""
    return tuple(shape[axis] for axis in HWIO_TO_OIHW) if path[-1] == "kernel" else tuple(shape)


@functools.cache
def expected_shapes(depth: int, width: int, ibn: bool) -> dict[tuple[str, ...], tuple[int, ...]]:
    """{(collection, *path): Flax shape} of every variable of ResNet(depth, width, ibn), traced, not run.

    Cached (tracing a ResNet-101 takes seconds); the dict is shared, so callers only read it.
    """
    module = ResNet(depth=depth, width=width, ibn=ibn)
    variables = jax.eval_shape(
        lambda: module.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3), jnp.float32), train=False)
    )
    return {path: leaf.shape for path, leaf in traverse_util.flatten_dict(dict(variables)).items()}


def describe(depth: int, width: int, ibn: bool) -> str:
    return f"a ResNet-{depth}{'-IBN-a' if ibn else ''} of width {width}"


def listed(keys: list[str]) -> str:
    """'N key(s) (a, b, c, ...)': a few names, enough to recognise the problem on one line."""
    more = ", ..." if len(keys) > NAMES_SHOWN else ""
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''} ({', '.join(keys[:NAMES_SHOWN])}{more})"


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """The tensors of a .pth file as numpy arrays (floats as float32), unwrapped, without a "module." prefix.

    Accepts a bare state_dict or one nested under "state_dict" or "model". The only function importing torch.
    """
    import torch

    if not os.path.isfile(path):
        raise WeightsNotFoundError(f"weights file {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged, non-torch or non-weights files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConversionError(
            f"cannot read {path} as PyTorch weights with weights_only=True "
            f"({type(error).__name__}: {first_line})"
        ) from None
    for key in NESTING_KEYS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not loaded:
        raise ConversionError(f"{path} holds a {type(loaded).__name__}, not a state_dict (tensors by name)")
    not_tensors = [
        str(key)
        for key, value in loaded.items()
        if not isinstance(key, str) or not isinstance(value, torch.Tensor)
    ]
    if not_tensors:
        raise ConversionError(f"{path} is not a state_dict: {listed(not_tensors)} are not named tensors")
    arrays = {}
    for key, tensor in loaded.items():
        tensor = tensor.detach().to(torch.float32) if tensor.is_floating_point() else tensor.detach()
        arrays[key.removeprefix(DATA_PARALLEL_PREFIX)] = tensor.numpy()
    return arrays


def backbone_variables(state_dict: dict[str, np.ndarray], depth: int, ibn: bool) -> dict:
    """{"params", "batch_stats"} of `models.resnet.ResNet(depth, width, ibn)` from a torchvision state_dict.

    The width is read from conv1's output channels. Every Flax variable must find its key with the right
    shape, and every key but fc.* / num_batches_tracked must be used; else ConversionError names culprits.
    """
    conv1 = state_dict.get("conv1.weight")
    width = conv1.shape[0] if conv1 is not None and conv1.ndim == 4 else TORCHVISION_WIDTH
    shapes = expected_shapes(depth, width, ibn)
    wanted = {torch_key(path[1:]): path for path in shapes}
    ignored = {k for k in state_dict if k.startswith(IGNORED_PREFIXES) or k.endswith(IGNORED_SUFFIXES)}
    missing = sorted(set(wanted) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(wanted) - ignored)
    problems = []
    if missing:
        problems.append(f"missing {listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {listed(unexpected)}")
    if problems:
        raise ConversionError(f"state_dict does not fit {describe(depth, width, ibn)}: {'; '.join(problems)}")
    flat = {}
    for key, path in wanted.items():
        array, needed = state_dict[key], torch_layout(path, shapes[path])
        if array.shape != needed:
            raise ConversionError(
                f"{key} has shape {tuple(array.shape)}, {describe(depth, width, ibn)} needs {needed}"
            )
        array = np.asarray(array, np.float32)
        flat[path] = np.ascontiguousarray(array.transpose(OIHW_TO_HWIO)) if path[-1] == "kernel" else array
    return traverse_util.unflatten_dict(flat)


def check_output_folder(output_dir: str) -> None:
    """Never overwrite: DIR must be absent or an empty folder, and its DIR.tmp scratch must not exist."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConversionError(f"output {output_dir} exists and is not a folder")
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        raise ConversionError(f"output folder {output_dir} is not empty; convert_torch never overwrites")
    if os.path.exists(output_dir + ".tmp"):
        raise ConversionError(
            f"{output_dir}.tmp exists (left by an interrupted conversion?); remove it first"
        )


def convert(input_path: str, output_dir: str, depth: int = 50, ibn: bool = False) -> dict:
    """Converts the .pth at input_path into the folder output_dir; returns what its meta.json says."""
    output_dir = os.path.abspath(output_dir)
    check_output_folder(output_dir)
    state_dict = load_state_dict(input_path)
    try:
        variables = backbone_variables(state_dict, depth, ibn)
    except ConversionError as error:
        raise ConversionError(f"{input_path}: {error}") from None
    meta = {
        "depth": depth,
        "width": int(variables["params"]["conv1"]["kernel"].shape[-1]),
        "ibn": ibn,
        "source": os.path.abspath(input_path),
    }
    scratch = output_dir + ".tmp"
    os.makedirs(scratch)
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(os.path.join(scratch, VARIABLES_DIR), variables)
        with open(os.path.join(scratch, META_FILE), "w") as file:
            json.dump(meta, file, indent=2)
        os.rename(scratch, output_dir)  # replaces an empty folder, fails on a non-empty one
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return meta


def read_meta(folder: str) -> dict:
    """meta.json of a converted folder: {"depth", "width", "ibn", "source"}."""
    meta_path = os.path.join(folder, META_FILE)
    if not os.path.isdir(folder):
        raise WeightsNotFoundError(f"converted backbone folder {folder} does not exist")
    if not os.path.isfile(meta_path):
        raise WeightsNotFoundError(f"{folder} has no {META_FILE}: not a folder written by convert_torch")
    try:
        with open(meta_path) as file:
            meta = json.load(file)
        fields = meta["depth"], meta["width"], meta["ibn"]
    except (ValueError, KeyError, TypeError) as error:
        raise ConversionError(f"{meta_path} is unreadable or lacks depth/width/ibn ({error!r})") from None
    if not all(isinstance(value, kind) for value, kind in zip(fields, (int, int, bool))):
        raise ConversionError(f"{meta_path} has depth={fields[0]!r}, width={fields[1]!r}, ibn={fields[2]!r}")
    return meta


def restore_variables(folder: str, meta: dict) -> dict:
    """The variables under folder, checked against the ResNet `meta` names: a damaged folder fails here."""
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            variables = checkpointer.restore(os.path.abspath(os.path.join(folder, VARIABLES_DIR)))
    except Exception as error:  # orbax raises many types for missing or damaged files
        raise ConversionError(f"cannot restore {folder}/{VARIABLES_DIR} ({type(error).__name__})") from None
    found = {path: np.shape(leaf) for path, leaf in traverse_util.flatten_dict(variables).items()}
    if found != expected_shapes(meta["depth"], meta["width"], meta["ibn"]):
        raise ConversionError(
            f"{folder}/{VARIABLES_DIR} does not hold {describe(meta['depth'], meta['width'], meta['ibn'])} "
            f"as its {META_FILE} says"
        )
    return {collection: variables[collection] for collection in COLLECTIONS}


def read_backbone_variables(folder: str) -> dict:
    """{"params": ..., "batch_stats": ...} (numpy float32) of a folder written by `convert`; no torch."""
    return restore_variables(folder, read_meta(folder))


def load_backbone(folder: str, last_stride: int = 2) -> tuple[ResNet, dict]:
    """(ResNet as meta.json describes it, its variables).

    `module.apply(variables, nhwc_images, train=False)` gives the pooled features. last_stride changes no
    weight, so it is the caller's choice (1 is the re-ID trick).
    """
    meta = read_meta(folder)
    module = ResNet(depth=meta["depth"], width=meta["width"], last_stride=last_stride, ibn=meta["ibn"])
    return module, restore_variables(folder, meta)
