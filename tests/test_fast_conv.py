"""The per-shape CPU convolution is exact: every pass against lax.conv_general_dilated and its autodiff gradients,
through Flax modules, and it leaves programs lowered for GPU/TPU with XLA's convolutions only."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from configs import default
from unitystyle_jax.models import fast_conv
from unitystyle_jax.models.factory import GAN_LOOPED_WINDOW_BYTES, create_gan_networks, create_ide
from unitystyle_jax.models.fast_conv import SHIFTED, XLA, ConvSpec, PassRoutes
from unitystyle_jax.models.layers import ModelError
from unitystyle_jax.models.unitygan import Discriminator
from unitystyle_jax.reid.feature_model import model_fingerprint

NHWC = ("NHWC", "HWIO", "NHWC")
TOLERANCE = dict(rtol=2e-5, atol=2e-5)

# (input shape, kernel shape, strides, padding, dilation): the shapes the models use, and the awkward ones.
CASES = {
    "3x3": ((2, 6, 5, 4), (3, 3, 4, 5), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "4x4/2 (GAN encoder), odd remainder": ((2, 9, 6, 3), (4, 4, 3, 4), (2, 2), ((1, 1), (1, 1)), (1, 1)),
    "1x1/2 (downsample)": ((2, 7, 6, 4), (1, 1, 4, 6), (2, 2), ((0, 0), (0, 0)), (1, 1)),
    "3x3 dilated 2 (discriminator)": ((1, 9, 8, 4), (3, 3, 4, 3), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    "3x2, strides 2x3, asymmetric pad, dilation 2x1": (
        (2, 11, 9, 4),
        (3, 2, 4, 3),
        (2, 3),
        ((2, 0), (0, 1)),
        (2, 1),
    ),
    "negative padding": ((1, 8, 8, 3), (2, 2, 3, 2), (1, 1), ((-1, 2), (1, -1)), (1, 1)),
}


def _arrays(x_shape, w_shape, spec):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, x_shape)
    w = jax.random.normal(kw, w_shape)
    g = jax.random.normal(kg, (x_shape[0], *spec.output_size(x_shape[1:3], w_shape[:2]), w_shape[3]))
    return x, w, g


@functools.partial(jax.jit, static_argnums=(3, 4))
def _shifted_passes(x, w, g, spec, loop_taps):
    return (
        fast_conv.shifted_forward(x, w, spec),
        fast_conv.shifted_input_grad(g, w, x.shape, spec),
        fast_conv.shifted_weight_grad(x, g, w.shape, spec, loop_taps),
    )


@functools.partial(jax.jit, static_argnums=3)
def _lax_passes(x, w, g, spec):
    y, lax_vjp = jax.vjp(spec.xla, x, w)
    return (y, *lax_vjp(g))


@pytest.mark.parametrize("loop_taps", [False, True], ids=["taps unrolled", "taps looped"])
@pytest.mark.parametrize("case", CASES)
def test_shifted_passes_match_lax(case, loop_taps):
    x_shape, w_shape, strides, padding, dilation = CASES[case]
    spec = ConvSpec(strides, padding, dilation)
    x, w, g = _arrays(x_shape, w_shape, spec)
    for got, want in zip(_shifted_passes(x, w, g, spec, loop_taps), _lax_passes(x, w, g, spec), strict=True):
        np.testing.assert_allclose(got, want, **TOLERANCE)


IDE_LOOP, GAN_LOOP = fast_conv.LOOPED_WINDOW_BYTES, GAN_LOOPED_WINDOW_BYTES


def _same_padding(w_shape) -> ConvSpec:
    return ConvSpec((1, 1), ((w_shape[0] // 2,) * 2, (w_shape[1] // 2,) * 2), (1, 1))


@pytest.mark.parametrize(
    "x_shape, w_shape, threshold, loops",
    [
        ((6, 256, 128, 67), (3, 3, 67, 3), IDE_LOOP, True),  # the paper-size generator's last conv: 450 MB
        ((8, 64, 32, 64), (3, 3, 64, 64), IDE_LOOP, False),  # ResNet-50's first stage at batch 8: 38 MB
        ((8, 64, 32, 64), (3, 3, 64, 64), GAN_LOOP, True),  # the same windows under the UnityGAN's threshold
        ((8, 64, 32, 16), (3, 3, 16, 16), GAN_LOOP, False),  # a CPU-demo generator layer: 9.4 MB
        ((6, 256, 128, 67), (1, 1, 67, 3), 0, False),  # one tap: its window is the input itself
    ],
)
def test_weight_gradient_loops_over_taps_only_where_windows_are_large(x_shape, w_shape, threshold, loops):
    """The plan's choice, then lowered, not run: a large layer's weight gradient is one product in a loop over
    the taps, a small one's an unrolled product per tap (XLA runs those side by side)."""
    spec = _same_padding(w_shape)
    plan = fast_conv.plan_for(x_shape, w_shape, spec, threshold)
    assert plan.loop_taps == loops
    g_shape = (*x_shape[:3], w_shape[3])
    abstract = [jax.ShapeDtypeStruct(shape, jnp.float32) for shape in (x_shape, g_shape)]
    weight_grad = lambda x, g: fast_conv.shifted_weight_grad(x, g, w_shape, spec, plan.loop_taps)
    text = jax.jit(weight_grad).lower(*abstract).as_text()
    taps = w_shape[0] * w_shape[1]
    assert ("stablehlo.while" in text) == loops
    assert text.count("stablehlo.dot_general") == (1 if loops else taps)


@pytest.mark.parametrize("threshold, loops", [(IDE_LOOP, False), (GAN_LOOP, True)])
def test_a_modules_threshold_reaches_its_weight_gradients(threshold, loops):
    """conv_module's looped_window_bytes decides, through Flax and the custom VJP, whether the lowered weight
    gradient of a 38 MB layer loops (the only loop in the program)."""
    x = jax.ShapeDtypeStruct((8, 64, 32, 64), jnp.float32)
    conv = fast_conv.conv_module("fast", looped_window_bytes=threshold)(64, (3, 3), use_bias=False)
    params = jax.eval_shape(conv.init, jax.random.key(0), x)["params"]
    grad = jax.grad(lambda params, x: jnp.sum(conv.apply({"params": params}, x)))
    assert ("stablehlo.while" in jax.jit(grad).lower(params, x).as_text()) == loops


def _conv(x, w, padding="SAME", strides=(1, 1), cpu_only=True, **kwargs):
    numbers = lax.conv_dimension_numbers(x.shape, w.shape, NHWC)
    return fast_conv.conv_general_dilated(
        x, w, strides, padding, dimension_numbers=numbers, cpu_only=cpu_only, **kwargs
    )


def _lax_conv(x, w, padding="SAME", strides=(1, 1), **kwargs):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=NHWC, **kwargs)


@pytest.mark.parametrize(
    "x_shape, w_shape, plan",
    [
        (
            (2, 12, 10, 3),
            (3, 3, 3, 4),
            PassRoutes(XLA, XLA, SHIFTED),
        ),  # large output: XLA's conv, but not its weight grad
        (
            (1, 2, 2, 4),
            (3, 3, 4, 4),
            PassRoutes(SHIFTED, SHIFTED, SHIFTED),
        ),  # tiny output (ResNet's last stage)
        ((1, 3, 2, 128), (3, 3, 128, 2), PassRoutes(SHIFTED, SHIFTED, SHIFTED)),
        ((2, 5, 4, 3), (1, 1, 3, 4), PassRoutes(SHIFTED, SHIFTED, SHIFTED)),  # 1x1: one matrix product
    ],
)
@pytest.mark.parametrize("cpu_only", [True, False])
def test_planned_conv_and_its_gradients_match_lax(x_shape, w_shape, plan, cpu_only):
    spec = _same_padding(w_shape)
    assert fast_conv.plan_for(x_shape, w_shape, spec) == plan
    x, w, _ = _arrays(x_shape, w_shape, spec)
    loss = lambda conv: lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) ** 2)
    fast = jax.jit(jax.value_and_grad(loss(lambda x, w: _conv(x, w, cpu_only=cpu_only)), argnums=(0, 1)))
    reference = jax.jit(jax.value_and_grad(loss(_lax_conv), argnums=(0, 1)))
    for got, want in zip(jax.tree.leaves(fast(x, w)), jax.tree.leaves(reference(x, w)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding="VALID", strides=(2, 1)),
        dict(feature_group_count=2),  # not covered by the shifted form: handed to lax unchanged
        dict(lhs_dilation=(2, 2), padding=((1, 1), (1, 1))),
    ],
)
def test_other_convolutions_fall_back_or_match(kwargs):
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 4))
    w = jax.random.normal(jax.random.key(2), (3, 3, 4 // kwargs.get("feature_group_count", 1), 6))
    conv = jax.jit(functools.partial(_conv, **kwargs))
    np.testing.assert_allclose(conv(x, w), jax.jit(functools.partial(_lax_conv, **kwargs))(x, w), **TOLERANCE)


def test_bfloat16_keeps_dtype_and_accuracy():
    x = jax.random.normal(jax.random.key(3), (1, 3, 2, 128), jnp.bfloat16)
    w = jax.random.normal(jax.random.key(4), (3, 3, 128, 8), jnp.bfloat16)
    y, (dx, dw) = jax.jit(
        lambda x, w: (_conv(x, w), jax.grad(lambda x, w: jnp.sum(_conv(x, w)), (0, 1))(x, w))
    )(x, w)
    assert y.dtype == dx.dtype == dw.dtype == jnp.bfloat16
    exact = jax.jit(_lax_conv)(x.astype(jnp.float32), w.astype(jnp.float32))
    np.testing.assert_allclose(y.astype(jnp.float32), exact, rtol=2e-2, atol=0.5)


def test_flax_module_matches_nn_conv():
    """A discriminator (4x4/2 convs, 3x3 and dilated convs, biases) with the fast conv: same variables, outputs
    and gradients as with nn.Conv."""
    images = jax.random.uniform(jax.random.key(5), (2, 16, 16, 3), minval=-1, maxval=1)
    models = [Discriminator(base_features=2, conv=fast_conv.conv_module(kind)) for kind in ("xla", "auto")]
    variables = models[0].init(jax.random.key(6), images, train=True)
    assert jax.tree.structure(models[1].init(jax.random.key(6), images, train=True)) == jax.tree.structure(
        variables
    )

    def loss_and_grads(model):
        def loss(params):
            logits, features = model.apply({"params": params}, images, train=True)
            return jnp.mean(logits**2) + sum(jnp.mean(f) for f in features)

        return jax.jit(jax.value_and_grad(loss))(variables["params"])

    for got, want in zip(
        jax.tree.leaves(loss_and_grads(models[1])), jax.tree.leaves(loss_and_grads(models[0])), strict=True
    ):  # instance norm over a few channels amplifies float32 reordering: compare against the gradient's scale
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(want))))


@pytest.mark.parametrize("platform, convolutions, dots", [("cuda", 3, 0), ("tpu", 3, 0), ("cpu", 0, 27)])
def test_auto_lowers_xla_convolutions_off_cpu(platform, convolutions, dots):
    """Forward and both gradients of a 3x3 conv the plan sends to matrix products: 3 x 9 per-tap dots on CPU only;
    GPU and TPU get the three convolutions plain nn.Conv gives them."""
    x, w = jnp.ones((1, 3, 2, 128)), jnp.ones((3, 3, 128, 4))
    grads = jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.sin(_conv(x, w))), argnums=(0, 1)))
    module = jax.export.export(grads, platforms=[platform])(x, w).mlir_module()
    assert module.count("stablehlo.convolution") == convolutions
    assert module.count("stablehlo.dot_general") == dots


def test_unknown_kind_is_one_clear_error():
    with pytest.raises(ModelError, match=r"^config.model.conv='fancy': unknown convolution; choose one of"):
        fast_conv.conv_module("fancy", "config.model.conv")
    assert fast_conv.conv_module("xla") is nn.Conv


def test_configs_choose_the_convolution():
    config = default.get_config()
    assert config.model.conv == config.gan.conv == "auto"
    config.model.conv = "xla"
    assert create_ide(config.model, 3).conv is nn.Conv
    gan_conv = create_gan_networks(config.gan)[0].conv.keywords["conv_general_dilated"]
    assert gan_conv.keywords["looped_window_bytes"] == GAN_LOOPED_WINDOW_BYTES
    config.gan.conv = "bogus"
    with pytest.raises(ModelError, match="config.gan.conv='bogus'"):
        create_gan_networks(config.gan)
    assert "conv" not in model_fingerprint(config.model)  # checkpoints do not depend on it
