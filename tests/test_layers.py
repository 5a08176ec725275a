"""IBN, the residual block, conv-norm-activation, and the injectable-conv convention every model follows."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unitystyle_jax.models import (
    IBN,
    IDE,
    ConvNormAct,
    Discriminator,
    Generator,
    ModelError,
    ResidualBlock,
    ResNet,
    make_norm,
)

KEY = jax.random.key(0, impl="rbg")  # rbg compiles far faster than threefry on CPU
# Test programs run once: unoptimised XLA code compiles about twice as fast and computes the same values.
jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def styled_batch(shape):
    """Random NHWC batch whose samples differ in per-channel offset and scale, like different cameras."""
    rng = np.random.default_rng(0)
    batch, channels = shape[0], shape[-1]
    offsets = rng.normal(0, 3, (batch, 1, 1, channels))
    scales = rng.uniform(0.5, 2.0, (batch, 1, 1, channels))
    return jnp.asarray(offsets + scales * rng.normal(size=shape), jnp.float32)


def test_ibn_normalises_first_half_per_image_and_second_half_per_batch():
    x = styled_batch((4, 6, 5, 8))
    ibn = IBN()
    variables = jit(functools.partial(ibn.init, use_running_average=False))(KEY, x)
    assert variables["params"]["IN"]["scale"].shape == (4,)
    assert variables["params"]["BN"]["scale"].shape == (4,)
    assert variables["batch_stats"]["BN"]["mean"].shape == (4,)

    y, updates = jit(functools.partial(ibn.apply, use_running_average=False, mutable=["batch_stats"]))(
        variables, x
    )
    per_image_mean = np.asarray(y.mean(axis=(1, 2)))
    np.testing.assert_allclose(per_image_mean[:, :4], 0.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y[..., :4].std(axis=(1, 2))), 1.0, atol=1e-2)
    np.testing.assert_allclose(np.asarray(y[..., 4:].mean(axis=(0, 1, 2))), 0.0, atol=1e-5)
    assert np.abs(per_image_mean[:, 4:]).max() > 0.5  # batch norm keeps each image's own style offset
    batch_mean = np.asarray(x[..., 4:].mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(np.asarray(updates["batch_stats"]["BN"]["mean"]), 0.1 * batch_mean, rtol=1e-4)

    # Evaluation uses running statistics (still 0 and 1 at init) on the batch-norm half only.
    y_eval = jit(functools.partial(ibn.apply, use_running_average=True))(variables, x)
    np.testing.assert_allclose(
        np.asarray(y_eval[..., 4:]), np.asarray(x[..., 4:]) / np.sqrt(1 + 1e-5), rtol=1e-5
    )
    np.testing.assert_allclose(np.asarray(y_eval[..., :4]), np.asarray(y[..., :4]), atol=1e-5)


def test_ibn_ratio_sets_the_split():
    variables = jax.eval_shape(
        functools.partial(IBN(ratio=0.25).init, use_running_average=False), KEY, jnp.zeros((2, 4, 4, 8))
    )
    assert variables["params"]["IN"]["scale"].shape == (2,)
    assert variables["params"]["BN"]["scale"].shape == (6,)


def test_ibn_rejects_a_split_with_an_empty_half():
    with pytest.raises(ModelError, match="IBN ratio=0.5 on 1 channels"):
        IBN().init(KEY, jnp.zeros((2, 4, 4, 1)), use_running_average=False)


def test_unknown_norm_is_named():
    class Holder(nn.Module):
        @nn.compact
        def __call__(self, x):
            return make_norm("layer", True, jnp.float32, name="norm")(x)

    with pytest.raises(ModelError, match="unknown norm 'layer'"):
        Holder().init(KEY, jnp.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize("norm", ["batch", "instance", "ibn"])
def test_residual_block_is_identity_plus_residual(norm):
    x = styled_batch((2, 6, 4, 6))
    block = ResidualBlock(norm=norm)
    variables = jit(functools.partial(block.init, train=False))(KEY, x)
    apply = jit(functools.partial(block.apply, train=True, mutable=["batch_stats"]))
    assert ("batch_stats" in variables) == (norm != "instance")
    if norm == "ibn":
        assert set(variables["params"]["norm1"]) == {"IN", "BN"}
        assert set(variables["batch_stats"]["norm2"]) == {"mean", "var"}  # IBN after the first conv only
    assert "bias" not in variables["params"]["conv1"]

    y, _ = apply(variables, x)
    assert y.shape == x.shape and not np.allclose(np.asarray(y), np.asarray(x))
    # With the second conv zeroed the residual branch vanishes (norm2's bias is 0): the block is the identity.
    params = {
        **variables["params"],
        "conv2": {"kernel": jnp.zeros_like(variables["params"]["conv2"]["kernel"])},
    }
    y_skip, _ = apply({**variables, "params": params}, x)
    np.testing.assert_allclose(np.asarray(y_skip), np.asarray(x), atol=1e-5)


@pytest.mark.parametrize(
    "kernel_size, strides, dilation, expected_hw", [(4, 2, 1, (8, 4)), (3, 1, 4, (16, 8)), (1, 1, 1, (16, 8))]
)
def test_conv_norm_act_padding_keeps_sizes_exact(kernel_size, strides, dilation, expected_hw):
    unit = ConvNormAct(5, kernel_size, strides, dilation)
    out, variables = jax.eval_shape(
        lambda x: unit.init_with_output(KEY, x, train=False), jnp.zeros((2, 16, 8, 3))
    )
    assert out.shape == (2, *expected_hw, 5)
    assert "bias" not in variables["params"]["conv"]  # a norm follows, so the conv has no bias
    no_norm = jax.eval_shape(
        functools.partial(ConvNormAct(5, norm=None).init, train=False), KEY, jnp.zeros((2, 16, 8, 3))
    )
    assert "bias" in no_norm["params"]["conv"]


@pytest.mark.parametrize(
    "make_model, shape",
    [
        (lambda conv: Generator(base_features=4, num_res_blocks=1, conv=conv), (1, 32, 16, 3)),
        (lambda conv: Discriminator(base_features=4, conv=conv), (1, 32, 16, 3)),
        (lambda conv: ResNet(depth=50, width=4, ibn=True, conv=conv), (1, 32, 16, 3)),
        (lambda conv: IDE(num_classes=3, depth=18, width=4, conv=conv), (1, 32, 16, 3)),
    ],
)
def test_every_conv_goes_through_the_injected_conv(make_model, shape):
    built = set()

    class CountingConv(nn.Conv):
        """A real nn.Conv that records where it is applied."""

        def __call__(self, inputs):
            built.add(self.scope.path)
            return super().__call__(inputs)

    model = make_model(CountingConv)
    params = jax.eval_shape(functools.partial(model.init, train=False), KEY, jnp.zeros(shape))["params"]
    conv_kernels = [leaf for leaf in jax.tree_util.tree_leaves(params) if leaf.ndim == 4]
    assert conv_kernels and len(built) == len(conv_kernels)
