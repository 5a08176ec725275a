"""PyTorch weight import: torch ResNets with torchvision/IBN-Net key names -> Flax backbone, same features.

The torch side is `torch_reference` (plain torch.nn, torchvision's key names); its naming is pinned against
torchvision's own key counts so the parity checks cannot pass on a private convention both sides share.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from unitystyle_jax.commands import convert_torch
from unitystyle_jax.models import resnet
from unitystyle_jax.reference import torch_models
from unitystyle_jax.reid import pretrained

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_HEIGHT, IMAGE_WIDTH = 64, 32  # small re-ID-shaped input: fast, yet every stage keeps a spatial extent
TOLERANCE = 1e-4  # max |torch - jax| / max |torch|


def randomise_norms(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial affine parameters and running statistics everywhere, so a swapped or skipped one shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)):
                module.weight.copy_(torch.empty_like(module.weight).uniform_(0.5, 1.0, generator=generator))
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                variance = torch.empty_like(module.running_var).uniform_(0.5, 1.5, generator=generator)
                module.running_var.copy_(variance)
    return model.eval()


def reference_model(depth: int, ibn: bool, seed: int, width: int = 64) -> torch_models.ResNet:
    torch.manual_seed(seed)
    return randomise_norms(torch_models.ResNet(depth, width=width, ibn=ibn), seed)


def random_images(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3, IMAGE_HEIGHT, IMAGE_WIDTH)).astype(np.float32)


def assert_same_features(torch_model, folder: str, images_nchw: np.ndarray) -> None:
    """The converted folder's Flax backbone gives torch's pooled features on the same images (NHWC there)."""
    with torch.no_grad():
        expected = torch_model.forward_features(torch.from_numpy(images_nchw)).numpy()
    module, variables = pretrained.load_backbone(folder)
    apply = jax.jit(lambda v, x: module.apply(v, x, train=False))
    found = np.asarray(apply(variables, jnp.asarray(images_nchw.transpose(0, 2, 3, 1))))
    assert found.shape == expected.shape
    assert np.abs(expected[0] - expected[1]).max() > 1e-3, "features ignore the image: a vacuous check"
    relative_error = np.abs(found - expected).max() / np.abs(expected).max()
    assert relative_error < TOLERANCE, f"relative error {relative_error:.2e}"


@pytest.fixture(scope="module")
def resnet50_converted(tmp_path_factory):
    """A torch ResNet-50 (eval mode), its state_dict saved with fc as torchvision saves it, converted once by
    the CLI in a subprocess: (model, .pth path, output folder, completed process)."""
    model = reference_model(50, ibn=False, seed=0)
    folder = tmp_path_factory.mktemp("resnet50")
    path, output = str(folder / "resnet50.pth"), str(folder / "converted")
    torch.save(model.state_dict(), path)
    result = subprocess.run(
        [sys.executable, "-m", "unitystyle_jax.commands.convert_torch", "--input", path, "--output", output],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return model, path, output, result


@pytest.fixture
def tiny_state_dict():
    """A width-4 ResNet-18 state_dict: enough structure for every error case, converted in a blink."""
    return torch_models.ResNet(18, width=4).state_dict()


def test_reference_uses_torchvision_key_names():
    """torchvision's resnet18/resnet50 state_dicts hold 122/320 entries; spot-check names of each kind."""
    keys18 = torch_models.ResNet(18, width=4).state_dict()
    keys50 = torch_models.ResNet(50, width=4).state_dict()
    assert (len(keys18), len(keys50)) == (122, 320)
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "layer1.1.conv2.weight",
        "layer2.0.downsample.0.weight",
        "layer4.0.downsample.1.num_batches_tracked",
        "fc.bias",
    ):
        assert key in keys18
    assert "layer4.2.bn3.running_mean" in keys50 and "layer1.0.downsample.1.weight" in keys50
    ibn_keys = torch_models.ResNet(50, width=4, ibn=True).state_dict()
    assert "layer3.5.bn1.IN.weight" in ibn_keys and "layer3.5.bn1.BN.running_var" in ibn_keys
    assert "layer4.0.bn1.running_var" in ibn_keys  # IBN-a leaves layer4 plain


def test_reference_ide_mirrors_flax_ide():
    model = torch_models.IDE(num_classes=7, depth=18, width=4, bottleneck_dim=16).eval()
    outputs = model(torch.zeros(3, 3, IMAGE_HEIGHT, IMAGE_WIDTH))
    assert outputs["features"].shape == (3, 32) and outputs["logits"].shape == (3, 7)
    keys = model.state_dict()
    assert {"backbone.conv1.weight", "feat.weight", "feat_bn.running_var", "classifier.bias"} <= set(keys)
    assert not any(key.startswith("backbone.fc.") for key in keys)


@pytest.mark.command
def test_cli_converts_resnet50_with_matching_features(resnet50_converted):
    model, path, output, result = resnet50_converted
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(output)) == ["meta.json", "variables"] and not os.path.exists(output + ".tmp")
    meta = pretrained.read_meta(output)
    assert (meta["depth"], meta["width"], meta["ibn"], meta["source"]) == (50, 64, False, path)
    assert_same_features(model, output, random_images(seed=1))


def shapes_and_dtypes(tree):
    return jax.tree.map(lambda leaf: (leaf.shape, np.dtype(leaf.dtype)), tree)


@pytest.mark.command
def test_read_variables_fit_the_flax_model_exactly(resnet50_converted):
    """Same tree, shapes and dtypes as ResNet-50's own init: what `ReidRun` requires to swap them in."""
    *_, output, result = resnet50_converted
    assert result.returncode == 0, result.stderr
    variables = pretrained.read_backbone_variables(output)
    module = resnet.ResNet(depth=50)
    own = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
    assert shapes_and_dtypes(variables) == shapes_and_dtypes(dict(own))


def test_ibn_a_resnet18_nested_data_parallel_checkpoint(tmp_path):
    """IBN-Net defines resnet18_ibn_a. A training checkpoint {"state_dict": {"module.*": ...}, "epoch"}
    unwraps, the width (16 here) is read from conv1, and an existing empty output folder is filled."""
    model = reference_model(18, ibn=True, seed=2, width=16)
    path = str(tmp_path / "resnet18_ibn_a.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}, path)
    output = tmp_path / "converted"
    output.mkdir()
    meta = pretrained.convert(path, str(output), depth=18, ibn=True)
    assert (meta["depth"], meta["width"], meta["ibn"]) == (18, 16, True)
    assert_same_features(model, str(output), random_images(seed=3))


def run_cli(args, capsys) -> str:
    """Runs the CLI in-process; asserts exit 1 and exactly one `error:` line; returns it."""
    with pytest.raises(SystemExit) as exit_info:
        convert_torch.main(args)
    assert exit_info.value.code == 1
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, stderr
    return error_lines[0]


def modified(state_dict, drop=(), add=None):
    changed = {k: v for k, v in state_dict.items() if k not in drop}
    changed.update(add or {})
    return changed


@pytest.mark.parametrize(
    "case, culprits",
    [
        ("corrupt", ["weights.pth", "cannot read"]),
        ("absent", ["weights.pth", "does not exist"]),
        ("not_a_state_dict", ["weights.pth", "list", "not a state_dict"]),
        ("not_tensors", ["weights.pth", "epoch", "not named tensors"]),
        ("missing_key", ["weights.pth", "missing 1 key", "layer2.1.bn2.running_var"]),
        ("unexpected_key", ["weights.pth", "unexpected 1 key", "layer5.0.conv1.weight"]),
        ("shape_mismatch", ["layer1.0.conv2.weight", "(4, 4, 5, 5)", "(4, 4, 3, 3)"]),
        ("non_empty_output", ["converted", "not empty"]),
    ],
)
def test_cli_names_the_culprit(case, culprits, tiny_state_dict, tmp_path, capsys):
    path, output = tmp_path / "weights.pth", tmp_path / "converted"
    contents = {
        "not_a_state_dict": [1, 2, 3],
        "not_tensors": {"epoch": 3, "conv1.weight": torch.zeros(4, 3, 7, 7)},
        "missing_key": modified(tiny_state_dict, drop=["layer2.1.bn2.running_var"]),
        "unexpected_key": modified(tiny_state_dict, add={"layer5.0.conv1.weight": torch.zeros(1)}),
        "shape_mismatch": modified(tiny_state_dict, add={"layer1.0.conv2.weight": torch.zeros(4, 4, 5, 5)}),
    }.get(case, tiny_state_dict)
    if case == "corrupt":
        path.write_bytes(os.urandom(256))
    elif case != "absent":
        torch.save(contents, path)
    if case == "non_empty_output":
        output.mkdir()
        (output / "keep.txt").write_text("mine")
    line = run_cli(["--input", str(path), "--output", str(output), "--depth", "18"], capsys)
    for culprit in culprits:
        assert culprit in line
    if case == "non_empty_output":
        assert os.listdir(output) == ["keep.txt"]
    else:
        assert not output.exists()
    assert not os.path.exists(f"{output}.tmp")


def test_reading_names_a_folder_without_meta_or_not_matching_it(tiny_state_dict, tmp_path):
    with pytest.raises(FileNotFoundError, match="has no meta.json"):
        pretrained.read_backbone_variables(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pretrained.load_backbone(str(tmp_path / "absent"))
    path, output = tmp_path / "weights.pth", tmp_path / "converted"
    torch.save(tiny_state_dict, path)
    meta = pretrained.convert(str(path), str(output), depth=18)
    (output / "meta.json").write_text(json.dumps({**meta, "width": 8}))
    with pytest.raises(pretrained.ConversionError, match="does not hold a ResNet-18 of width 8"):
        pretrained.read_backbone_variables(str(output))
