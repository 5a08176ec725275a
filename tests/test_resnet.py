"""ResNet backbone (sizes, strides, IBN-a placement) and the IDE re-ID model.

Numerical parity with torchvision/IBN-Net (weights imported key by key) is tested in test_convert_torch.py.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unitystyle_jax.losses import softmax_cross_entropy
from unitystyle_jax.models import IDE, ModelError, ResNet

KEY = jax.random.key(0, impl="rbg")  # rbg compiles far faster than threefry on CPU
# Test programs run once: unoptimised XLA code compiles about twice as fast and computes the same values.
jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def abstract_init(model, shape, **kwargs):
    return jax.eval_shape(functools.partial(model.init, train=False, **kwargs), KEY, jnp.zeros(shape))


@pytest.mark.parametrize("depth, width, expected", [(50, 64, 2048), (18, 64, 512), (50, 8, 256)])
def test_pooled_feature_size(depth, width, expected):
    features = jax.eval_shape(
        lambda x: ResNet(depth=depth, width=width).init_with_output(KEY, x, train=False)[0],
        jnp.zeros((1, 256, 128, 3)),
    )
    assert features.shape == (1, expected) and features.dtype == jnp.float32


@pytest.mark.parametrize("last_stride, expected_hw", [(2, (8, 4)), (1, (16, 8))])
def test_last_stride_sets_the_final_map_size(last_stride, expected_hw):
    def layer4_output(x):
        model = ResNet(depth=18, width=8, last_stride=last_stride)
        _, state = model.init_with_output(KEY, x, train=False, capture_intermediates=True)
        return state["intermediates"]["layer4_1"]["__call__"][0]

    assert jax.eval_shape(layer4_output, jnp.zeros((1, 256, 128, 3))).shape == (1, *expected_hw, 64)


def test_ibn_a_replaces_bn1_in_layers_1_to_3_only():
    params = abstract_init(ResNet(depth=50, width=8, ibn=True), (1, 64, 32, 3))["params"]
    with_ibn = {name for name, block in params.items() if "IN" in block.get("bn1", {})}
    assert with_ibn == {
        f"layer{stage}_{index}" for stage, blocks in ((1, 3), (2, 4), (3, 6)) for index in range(blocks)
    }
    assert set(params["bn1"]) == {"scale", "bias"} and set(params["layer4_0"]["bn1"]) == {"scale", "bias"}
    assert params["layer1_0"]["bn1"]["IN"]["scale"].shape == (4,)  # half of the bottleneck width 8


@pytest.mark.parametrize(
    "bad, match", [({"depth": 42}, "ResNet depth=42"), ({"last_stride": 3}, "last_stride=3")]
)
def test_resnet_rejects_bad_settings(bad, match):
    with pytest.raises(ModelError, match=match):
        abstract_init(ResNet(**{"width": 8, **bad}), (1, 64, 32, 3))


@pytest.fixture(scope="module")
def ide_step():
    """One jit-compiled training step of IDE on a width-8 ResNet-18: outputs, gradients, new statistics."""
    model = IDE(num_classes=5, depth=18, width=8, bottleneck_dim=16)
    images = jax.random.normal(jax.random.key(4), (2, 64, 32, 3))
    labels = jnp.array([1, 3])
    variables = jit(functools.partial(model.init, train=False))(KEY, images)

    def loss(params):
        outputs, updates = model.apply(
            {**variables, "params": params},
            images,
            train=True,
            rngs={"dropout": jax.random.key(5, impl="rbg")},
            mutable=["batch_stats"],
        )
        return softmax_cross_entropy(outputs["logits"], labels).mean(), (outputs, updates)

    (value, (outputs, updates)), grads = jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
    return {"variables": variables, "loss": value, "outputs": outputs, "updates": updates, "grads": grads}


def test_ide_outputs_features_and_logits(ide_step):
    outputs = ide_step["outputs"]
    assert set(outputs) == {"features", "logits"}
    assert outputs["features"].shape == (2, 64) and outputs["logits"].shape == (2, 5)
    assert all(value.dtype == jnp.float32 for value in outputs.values())


def test_ide_gradients_reach_every_part(ide_step):
    assert np.isfinite(float(ide_step["loss"]))
    for path in (
        ("backbone", "conv1", "kernel"),
        ("backbone", "layer4_1", "conv2", "kernel"),
        ("classifier", "kernel"),
    ):
        leaf = functools.reduce(lambda node, key: node[key], path, ide_step["grads"])
        assert np.isfinite(np.asarray(leaf)).all() and float(jnp.abs(leaf).max()) > 0, path
    before = ide_step["variables"]["batch_stats"]["backbone"]["bn1"]["mean"]
    after = ide_step["updates"]["batch_stats"]["backbone"]["bn1"]["mean"]
    assert not np.allclose(np.asarray(after), np.asarray(before))


def test_ide_head_initialisation_follows_camstyle(ide_step):
    params = ide_step["variables"]["params"]
    feat, classifier = params["feat"], params["classifier"]
    assert feat["kernel"].shape == (64, 16) and classifier["kernel"].shape == (16, 5)
    assert float(jnp.abs(feat["bias"]).max()) == 0 and float(jnp.abs(classifier["bias"]).max()) == 0
    kaiming_std = np.sqrt(2 / 16)  # fan_out = bottleneck_dim = 16
    assert 0.6 * kaiming_std < float(feat["kernel"].std()) < 1.4 * kaiming_std
    assert 0.0005 < float(classifier["kernel"].std()) < 0.002


def test_ide_rejects_bad_settings():
    with pytest.raises(ModelError, match="num_classes >= 1"):
        abstract_init(IDE(num_classes=0, depth=18, width=8), (1, 64, 32, 3))
