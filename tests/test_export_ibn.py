"""ONNX and StableHLO export of an IBN-a backbone: instance norm is where exporters break (fast-reid #527), so
the exported feature extractor must give JAX's features, and must not be what a plain-BN backbone gives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax.models.factory import create_backbone
from unitystyle_jax.reid.feature_model import FeatureModel
from unitystyle_jax.serving import export


def feature_program(ibn: bool):
    config = export.portable(synthetic.get_config("tiny"))
    config.model.ibn = ibn
    backbone = create_backbone(config.model)
    shape = (1, config.data.height, config.data.width, 3)
    variables = jax.jit(lambda: backbone.init(jax.random.key(0), jnp.zeros(shape), train=False))()
    # Running statistics that differ from the initial 0 and 1, so batch norm's half is not the identity.
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree.map(lambda a: a + 0.3 * jnp.abs(jnp.sin(a + 1.0)), variables["batch_stats"]),
    }
    return export.features_program(config, FeatureModel(backbone, variables, 0, {}))


@pytest.mark.parametrize("fmt", ["onnx", "stablehlo"])
def test_an_ibn_backbone_exports_with_the_features_jax_computes(tmp_path, fmt):
    program = feature_program(ibn=True)
    images = np.random.default_rng(0).uniform(0, 1, (2, *program.image_shape)).astype(np.float32)
    export.write([program], str(tmp_path / "out"), {}, fmt, batch=2)
    path = str(tmp_path / "out" / (program.name + export.SUFFIXES[fmt]))
    assert export.check_round_trip(program, path, images) < 1e-4
    # The control: the plain-BN backbone's features are far from the exported IBN ones.
    plain = np.asarray(feature_program(ibn=False).fn(jnp.asarray(images)))
    assert np.abs(export.load(path)(images) - plain).max() > 1e-2
