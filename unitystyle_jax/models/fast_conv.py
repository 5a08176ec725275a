"""A convolution that, on CPU, picks per shape between XLA's own convolution and shifted matrix products.

Why: XLA's CPU convolution has shape-dependent cliffs (docs/performance.md has the measurements): small
spatial sizes with many channels run orders of magnitude slower than the same sums as matrix products, while at
large spatial sizes with few channels XLA's conv is the faster one. The shifted-matmul form computes a kh x kw convolution as kh * kw matrix products, one per kernel tap,
of strided views of the padded input: the same sums in another order, so it is exact to float32 rounding.

Each of the three passes (forward, input gradient, weight gradient) is chosen separately through a
`jax.custom_vjp`, from the static shapes alone: every process traces the same program, so multi-process runs
agree and the persistent compilation cache hits. `conv_general_dilated` has `lax.conv_general_dilated`'s
signature and drops into Flax as `nn.Conv(conv_general_dilated=...)`; `conv_module(kind)` gives the
ModuleDef the models take. Under kind "auto" the choice is staged with `lax.platform_dependent`, so a program
lowered for GPU or TPU contains XLA's convolution and XLA's own gradients, exactly as with `nn.Conv`.

Limits: 2-D NHWC/HWIO convolutions without input dilation or feature groups take the fast path; anything
else is handed to `lax.conv_general_dilated` unchanged. Like every `custom_vjp`, the fast path supports
reverse-mode differentiation (grad, vjp) but not forward-mode (jvp).
"""

import dataclasses
import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from unitystyle_jax.models.layers import ModelError, ModuleDef

CONV_KINDS = ("auto", "fast", "xla")
XLA, SHIFTED = "xla", "shifted"
NHWC_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """Everything about one 2-D NHWC/HWIO convolution except its arrays (hashable: a custom_vjp static)."""

    strides: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    precision: lax.PrecisionLike = None

    def xla(self, x, w):
        return lax.conv_general_dilated(
            x,
            w,
            self.strides,
            self.padding,
            rhs_dilation=self.dilation,
            dimension_numbers=NHWC_DIMENSIONS,
            precision=self.precision,
        )

    def output_size(self, input_hw: Sequence[int], kernel_hw: Sequence[int]) -> tuple[int, int]:
        return tuple(
            (size + low + high - dilation * (k - 1) - 1) // stride + 1
            for size, (low, high), dilation, k, stride in zip(
                input_hw, self.padding, self.dilation, kernel_hw, self.strides
            )
        )


@dataclasses.dataclass(frozen=True)
class PassRoutes:
    """Which implementation, XLA or SHIFTED, each pass of one convolution uses, and whether the shifted weight
    gradient runs its taps in a loop (see shifted_weight_grad)."""

    forward: str
    input_grad: str
    weight_grad: str
    loop_taps: bool = False


# Looping a layer's taps holds its memory down, but a looped product runs as a plain dot, outside XNNPACK's fused
# kernels (docs/performance.md, "Looped taps"). So the IDE loops only layers whose windows together pass
# LOOPED_WINDOW_BYTES (none at batch 8); the UnityGAN's networks pass their own threshold
# (models.factory.GAN_LOOPED_WINDOW_BYTES).
LOOPED_WINDOW_BYTES = 40 * 2**20
SMALL_OUTPUT_PIXELS = 64


def plan_for(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    spec: ConvSpec,
    looped_window_bytes: int = LOOPED_WINDOW_BYTES,
    itemsize: int = 4,
) -> PassRoutes:
    """The per-shape choice (its measurements: docs/performance.md).

    A 1x1 convolution is one matrix product: SHIFTED throughout. Otherwise the forward pass and the input
    gradient stay with XLA's convolution unless the output is tiny (at most SMALL_OUTPUT_PIXELS positions per
    image), where XLA's CPU convolution is slowest; the weight gradient, XLA's slow spot at every size, is always
    SHIFTED, its taps looped where the layer's windows (of `itemsize`-byte elements) together pass
    looped_window_bytes.
    """
    kh, kw, cin = w_shape[:3]
    out_h, out_w = spec.output_size(x_shape[1:3], (kh, kw))
    data_passes = SHIFTED if kh * kw == 1 or out_h * out_w <= SMALL_OUTPUT_PIXELS else XLA
    window_bytes = kh * kw * x_shape[0] * out_h * out_w * cin * itemsize
    loop_taps = kh * kw > 1 and window_bytes > looped_window_bytes
    return PassRoutes(forward=data_passes, input_grad=data_passes, weight_grad=SHIFTED, loop_taps=loop_taps)


def _padded(x, spec: ConvSpec):
    """x zero-padded (or cropped, for negative padding) on H and W as the convolution pads it."""
    return lax.pad(
        x, jnp.zeros((), x.dtype), ((0, 0, 0), *((lo, hi, 0) for lo, hi in spec.padding), (0, 0, 0))
    )


def _taps(w_shape, out_hw, spec: ConvSpec):
    """For each kernel tap (i, j): the start and stop of the strided window of the padded input it reads."""
    kh, kw = w_shape[:2]
    (sh, sw), (dh, dw) = spec.strides, spec.dilation
    out_h, out_w = out_hw
    for i in range(kh):
        for j in range(kw):
            start = (i * dh, j * dw)
            yield (i, j), start, (start[0] + (out_h - 1) * sh + 1, start[1] + (out_w - 1) * sw + 1)


def _window(x_pad, start, stop, spec: ConvSpec):
    n, channels = x_pad.shape[0], x_pad.shape[3]
    return lax.slice(x_pad, (0, *start, 0), (n, *stop, channels), (1, *spec.strides, 1))


def _matmul(a, b, contract, spec: ConvSpec):
    """dot_general over the `contract` axes in float32 whatever the inputs' dtype (XLA's CPU dot has no
    bfloat16 x bfloat16 -> float32 kernel, so narrower operands are widened first)."""
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    return lax.dot_general(a, b, (contract, ((), ())), precision=spec.precision)


def shifted_forward(x, w, spec: ConvSpec):
    """sum over taps (i, j) of window_ij(x_pad) @ w[i, j]."""
    x_pad = _padded(x, spec)
    out_hw = spec.output_size(x.shape[1:3], w.shape[:2])
    y = sum(
        _matmul(_window(x_pad, start, stop, spec), w[i, j], ((3,), (0,)), spec)
        for (i, j), start, stop in _taps(w.shape, out_hw, spec)
    )
    return y.astype(jnp.result_type(x, w))


def shifted_input_grad(g, w, x_shape, spec: ConvSpec):
    """Each tap's g @ w[i, j]^T scattered back onto the window it was read from (interior padding undoes the
    stride), summed, then the convolution's padding cut off."""
    n, height, width, _ = x_shape
    (lo_h, hi_h), (lo_w, hi_w) = spec.padding
    padded_hw = (height + lo_h + hi_h, width + lo_w + hi_w)
    dx_pad = 0.0
    for (i, j), start, stop in _taps(w.shape, g.shape[1:3], spec):
        tap = _matmul(g, w[i, j], ((3,), (1,)), spec)
        placement = [
            (first, size - last, stride - 1)
            for first, last, size, stride in zip(start, stop, padded_hw, spec.strides)
        ]
        dx_pad = dx_pad + lax.pad(tap, jnp.zeros((), tap.dtype), ((0, 0, 0), *placement, (0, 0, 0)))
    crop = ((0, 0, 0), (-lo_h, -hi_h, 0), (-lo_w, -hi_w, 0), (0, 0, 0))
    return lax.pad(dx_pad, jnp.zeros((), dx_pad.dtype), crop).astype(g.dtype)


def _phases(x_pad, spec: ConvSpec):
    """x_pad split by stride phase: phases[p * sw + q] = x_pad[:, p::sh, q::sw] (H and W first padded up to a
    multiple of the stride, so every phase has one shape). A tap starting at (a, b) reads phase
    (a % sh, b % sw) from offset (a // sh, b // sw) with unit stride: one dynamic slice. For stride 1 this is
    x_pad itself (the reshapes are free)."""
    (sh, sw), (n, height, width, channels) = spec.strides, x_pad.shape
    hq, wq = -(-height // sh), -(-width // sw)
    x_pad = lax.pad(
        x_pad,
        jnp.zeros((), x_pad.dtype),
        ((0, 0, 0), (0, hq * sh - height, 0), (0, wq * sw - width, 0), (0, 0, 0)),
    )
    phases = x_pad.reshape(n, hq, sh, wq, sw, channels).transpose(2, 4, 0, 1, 3, 5)
    return phases.reshape(sh * sw, n, hq, wq, channels)


def shifted_weight_grad(x, g, w_shape, spec: ConvSpec, loop_taps: bool):
    """dw[i, j] = window_ij(x_pad)^T @ g, contracting batch and output positions.

    Written as kh * kw independent products, XLA's scheduler cuts every window of a layer in the forward pass,
    right after its input, and holds them into the backward (6 of the paper-size UnityGAN step's 9.3 GiB peak
    were such windows), but runs independent products side by side. With loop_taps (the routes' choice) the taps
    run in a loop (`lax.scan`) instead, each window sliced as its product needs it.
    Both operands hold the contracted positions in their major dimension, so XLA copies one of them into a
    transposed layout: g, once, when the windows together are wider than g, else each window.
    """
    kh, kw, cin, cout = w_shape
    n, out_h, out_w, _ = g.shape
    positions = n * out_h * out_w
    g = g.reshape(positions, cout)
    g_transposed = g.T if kh * kw * cin >= cout else None

    def row(window):
        window = window.reshape(positions, cin)
        if g_transposed is not None:
            return _matmul(g_transposed, window, ((1,), (0,)), spec).T
        return _matmul(window.T, g, ((1,), (0,)), spec)

    x_pad = _padded(x, spec)
    if not loop_taps:
        rows = [
            row(_window(x_pad, start, stop, spec)) for _, start, stop in _taps(w_shape, (out_h, out_w), spec)
        ]
        return jnp.stack(rows).reshape(w_shape).astype(x.dtype)
    phases = _phases(x_pad, spec)
    sh, sw = spec.strides
    reads = jnp.array(
        [(a % sh * sw + b % sw, a // sh, b // sw) for _, (a, b), _ in _taps(w_shape, (out_h, out_w), spec)],
        jnp.int32,
    )

    def tap(carry, read):
        phase, top, left = read[0], read[1], read[2]
        window = lax.dynamic_slice(phases, (phase, 0, top, left, 0), (1, n, out_h, out_w, cin))
        return carry, row(window)

    _, rows = lax.scan(tap, None, reads)
    return rows.reshape(w_shape).astype(x.dtype)


def xla_input_grad(g, w, x_shape, spec: ConvSpec):
    """XLA's own input gradient (the transpose autodiff would build)."""
    return jax.linear_transpose(lambda x: spec.xla(x, w), jax.ShapeDtypeStruct(x_shape, w.dtype))(g)[0]


def xla_weight_grad(x, g, w_shape, spec: ConvSpec):
    """XLA's own weight gradient (the transpose autodiff would build)."""
    return jax.linear_transpose(lambda w: spec.xla(x, w), jax.ShapeDtypeStruct(w_shape, x.dtype))(g)[0]


def _staged(choice: str, cpu_only: bool, shifted: Callable, xla: Callable, *args):
    """`shifted(*args)` where the plan says so (on CPU only when cpu_only), XLA's version everywhere else."""
    if choice == XLA:
        return xla(*args)
    if cpu_only:
        return lax.platform_dependent(*args, cpu=shifted, default=xla)
    return shifted(*args)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _planned_conv(x, w, spec: ConvSpec, plan: PassRoutes, cpu_only: bool):
    return _staged(plan.forward, cpu_only, functools.partial(shifted_forward, spec=spec), spec.xla, x, w)


def _planned_conv_fwd(x, w, spec, plan, cpu_only):
    return _planned_conv(x, w, spec, plan, cpu_only), (x, w)


def _planned_conv_bwd(spec, plan, cpu_only, residuals, g):
    x, w = residuals
    dx = _staged(
        plan.input_grad,
        cpu_only,
        functools.partial(shifted_input_grad, x_shape=x.shape, spec=spec),
        functools.partial(xla_input_grad, x_shape=x.shape, spec=spec),
        g,
        w,
    )
    dw = _staged(
        plan.weight_grad,
        cpu_only,
        functools.partial(shifted_weight_grad, w_shape=w.shape, spec=spec, loop_taps=plan.loop_taps),
        functools.partial(xla_weight_grad, w_shape=w.shape, spec=spec),
        x,
        g,
    )
    return dx, dw


_planned_conv.defvjp(_planned_conv_fwd, _planned_conv_bwd)


def _spec_if_supported(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
):
    """The ConvSpec of a convolution the shifted form covers, or None (then XLA's conv is used as is)."""
    if lhs.ndim != 4 or rhs.ndim != 4 or dimension_numbers is None:
        return None
    expected = lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC_DIMENSIONS)
    if lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != expected:
        return None
    if tuple(lhs_dilation or (1, 1)) != (1, 1) or feature_group_count != 1 or batch_group_count != 1:
        return None
    if preferred_element_type is not None or lhs.dtype != rhs.dtype:
        return None
    dilation = tuple(int(d) for d in (rhs_dilation or (1, 1)))
    if isinstance(padding, str):
        dilated_kernel = [d * (k - 1) + 1 for d, k in zip(dilation, rhs.shape[:2])]
        padding = lax.padtype_to_pads(lhs.shape[1:3], dilated_kernel, window_strides, padding)
    spec = ConvSpec(
        strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        dilation=dilation,
        precision=precision,
    )
    if min(spec.output_size(lhs.shape[1:3], rhs.shape[:2])) < 1:
        return None
    return spec


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    *,
    cpu_only: bool = True,
    looped_window_bytes: int = LOOPED_WINDOW_BYTES,
    **options,
):
    """`lax.conv_general_dilated` (`options` are its keyword arguments) with each pass planned per shape, on
    CPU only unless cpu_only=False; looped_window_bytes as in plan_for."""
    spec = _spec_if_supported(lhs, rhs, window_strides, padding, **options)
    if spec is None:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **options)
    plan = plan_for(lhs.shape, rhs.shape, spec, looped_window_bytes, lhs.dtype.itemsize)
    return _planned_conv(lhs, rhs, spec, plan, cpu_only)


def conv_module(
    kind: str, setting: str = "conv", looped_window_bytes: int = LOOPED_WINDOW_BYTES
) -> ModuleDef:
    """The convolution ModuleDef for config knob `kind` (named `setting` in errors): "auto" (per-shape choice on
    CPU, XLA's conv on other platforms), "fast" (per-shape choice on every platform, for comparisons) or
    "xla" (plain `nn.Conv`); looped_window_bytes as in plan_for."""
    if kind == "xla":
        return nn.Conv
    if kind not in CONV_KINDS:
        raise ModelError(f"{setting}={kind!r}: unknown convolution; choose one of {', '.join(CONV_KINDS)}")
    conv = functools.partial(
        conv_general_dilated, cpu_only=kind == "auto", looped_window_bytes=looped_window_bytes
    )
    return functools.partial(nn.Conv, conv_general_dilated=conv)
