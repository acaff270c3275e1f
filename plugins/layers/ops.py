"""Convolution formulations for XLA on CPU, chosen per shape, each forward and backward
pass the fastest correct one measured (max pooling: ``pooling``; the transposed
convolution: ``transposed``).

XLA's CPU kernels are slow for a few shapes that dominate small image models (measured
in ``bench/speed.py``): a convolution with one or three input channels, some input
gradients, max pooling's backward (``select_and_scatter``) and a transposed
convolution's kernel gradient. The same math written another way is often several times
faster, and JAX differentiates any formulation, so a ``custom_vjp`` can compute the
forward pass one way and each gradient another:

- ``"xla"``: ``lax.conv_general_dilated`` (XLA's convolution);
- ``"shifted"``: Σ over the kh·kw kernel taps of the shifted input times that tap's
  (C_in, C_out) matrix — one fused loop, best when C_in is small;
- ``"im2col"``: the kh·kw shifted inputs stacked on the channel axis, one matmul with
  the (kh·kw·C_in, C_out) kernel;
- ``"s2d"``: XLA's convolution of the space-to-depth input (2×2 blocks to channels) with
  a kernel rearranged to match, output back depth-to-space (even output sizes only).

- ``"native"``: the C++ kernels of ``native`` (a direct convolution, and for the kernel
  gradient a sum of outer products), where they were built; XLA's convolution elsewhere
  and for other dtypes than float32.

All five compute the same convolution (up to float summation order). Each kind of layer
uses the formulations here only on the platforms listed in ``PLATFORMS`` (``applies``);
elsewhere it computes what its Keras parent does (on a GPU, cuDNN's kernels).
``bench/gpu.py`` measures each kind both ways.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from visionhooks.fusion import boundary

from . import native

FORMULATIONS = ("xla", "shifted", "im2col", "s2d", "native")


#: Where each kind of fast layer uses the formulations here, by JAX platform: "conv"
#: (``FastConv2D``'s per-shape choice), "pool" (the mask-based max-pool backward),
#: "transpose" (the matmul transposed convolution) and "concat" (``ConcatConv2D``'s split).
PLATFORMS: dict[str, tuple[str, ...]] = {
    "conv": ("cpu",), "pool": ("cpu",), "transpose": ("cpu",), "concat": ("cpu",)}


def applies(kind: str) -> bool:
    """Whether layers of ``kind`` use the formulations here on JAX's default backend."""
    return jax.default_backend() in PLATFORMS[kind]


def same_padding(size: int) -> tuple[int, int]:
    """The seed's padding rule: ⌊(k−1)/2⌋ before and ⌊k/2⌋ after (TensorFlow's SAME for
    unit stride)."""
    return (size - 1) // 2, size // 2


def _pad(x, kernel_shape, padding: str):
    if padding == "valid":
        return x
    (t, b), (l, r) = same_padding(kernel_shape[0]), same_padding(kernel_shape[1])
    return jnp.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))


def _taps(x, kernel_shape):
    """The shifted views of ``x`` (already padded), one per kernel tap, row-major."""
    kh, kw = kernel_shape[:2]
    ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return [x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)]


def conv(x, kernel, padding: str, how: str):
    """2-D convolution (cross-correlation, as Keras), unit stride and dilation.

    Args:
        x: (N, H, W, C_in). kernel: (kh, kw, C_in, C_out). padding: "valid" or "same".
        how: one of ``FORMULATIONS``.
    """
    if how == "native" and _native_applies(x, kernel):
        return native.conv(x, kernel, _pads_before(kernel.shape, padding),
                           _out_hw(x.shape, kernel.shape, padding))
    if how in ("xla", "native"):
        pads = "VALID" if padding == "valid" else [same_padding(kernel.shape[0]),
                                                   same_padding(kernel.shape[1])]
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), pads,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if how == "s2d":
        check_s2d(x.shape, kernel.shape, padding)
        return _conv_s2d(_pad(x, kernel.shape, padding), kernel)
    xp = _pad(x, kernel.shape, padding)
    taps = _taps(xp, kernel.shape)
    kh, kw, cin, cout = kernel.shape
    if how == "im2col":
        cols = jnp.concatenate(taps, axis=-1)  # (N, Ho, Wo, kh·kw·C_in)
        return cols @ kernel.reshape(kh * kw * cin, cout)
    flat = kernel.reshape(kh * kw, cin, cout)
    out = None
    for t, tap in enumerate(taps):
        term = tap * flat[t, 0] if cin == 1 else tap @ flat[t]
        out = term if out is None else out + term
    return out


def _native_applies(*arrays) -> bool:
    return native.available() and all(a.dtype == jnp.float32 for a in arrays)


def _pads_before(kernel_shape, padding: str) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    return same_padding(kernel_shape[0])[0], same_padding(kernel_shape[1])[0]


def _out_hw(x_shape, kernel_shape, padding: str) -> tuple[int, int]:
    if padding == "same":
        return x_shape[1], x_shape[2]
    return x_shape[1] - kernel_shape[0] + 1, x_shape[2] - kernel_shape[1] + 1


def s2d_applies(x_shape: Any, kernel_shape: Any, padding: str) -> bool:
    """Whether the "s2d" formulation takes this convolution: an even output height and
    width (its output is computed in 2×2 blocks)."""
    ho, wo = _out_hw(x_shape, kernel_shape, padding)
    return ho > 0 and wo > 0 and ho % 2 == 0 and wo % 2 == 0


def check_s2d(x_shape: Any, kernel_shape: Any, padding: str) -> None:
    """Raise a ValueError naming the shapes where "s2d" does not apply."""
    if not s2d_applies(x_shape, kernel_shape, padding):
        raise ValueError(f"The 's2d' formulation needs an even output height and width; "
                         f"input {tuple(x_shape)} with kernel {tuple(kernel_shape[:2])} and "
                         f"{padding!r} padding has not. Use one of "
                         f"{[f for f in FORMULATIONS if f != 's2d']}.")


def _space_to_depth(a):
    """(N, 2h, 2w, C) → (N, h, w, 4·C), channels ordered (row parity, column parity, C)."""
    n, h, w, c = a.shape
    return a.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(
        n, h // 2, w // 2, 4 * c)


def _depth_to_space(y):
    """(N, h, w, bh, bw, C) → (N, h·bh, w·bw, C): each pixel's bh×bw block laid out in
    place (the inverse of ``_space_to_depth`` for 2×2 blocks)."""
    n, h, w, bh, bw, c = y.shape
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, h * bh, w * bw, c)


def _s2d_kernel(kernel):
    """The (U, U', 4·C_in, 4·C_out) kernel, U = ⌊kh/2⌋ + 1, of the same convolution on
    space-to-depth input and output: K'[u, v, (r, s, c), (a, b, o)] = k[2u + r − a,
    2v + s − b, c, o], zero outside k. Built from strided slices of the zero-padded
    kernel, so its gradient (the fold back onto k) is pads and adds."""
    kh, kw, cin, cout = kernel.shape
    uh, uw = kh // 2 + 1, kw // 2 + 1
    kp = jnp.pad(kernel, ((1, 2 * uh - kh), (1, 2 * uw - kw), (0, 0), (0, 0)))
    # kp[1 + i] = k[i]; the (r, a) block takes rows 2u + r − a, the (s, b) block columns
    blocks = jnp.stack([kp[r - a + 1::2][:uh, s - b + 1::2][:, :uw]
                        for r in range(2) for a in range(2)
                        for s in range(2) for b in range(2)])
    blocks = blocks.reshape(2, 2, 2, 2, uh, uw, cin, cout)      # (r, a, s, b, u, v, c, o)
    return blocks.transpose(4, 5, 0, 2, 6, 1, 3, 7).reshape(uh, uw, 4 * cin, 4 * cout)


def _conv_s2d(xp, kernel):
    """The "valid" convolution of the padded input ``xp`` (even output size) as XLA's
    convolution of its space-to-depth form with ``_s2d_kernel``, the output back
    depth-to-space: 4·U·U'/(kh·kw) times the multiply-adds (1.44 for 5×5), but XLA's
    kernel gradient of it contracts over a quarter of the positions with 16× the channel
    pairs, a shape its CPU convolution handles far better than one input channel at full
    resolution (LeNet-5's first layer: 0.57 against 1.45 ms at batch 128); and its forward
    pass beats XLA's direct one for a few input channels (LeNet-5's second layer, U-Net's
    RGB input)."""
    kh, kw, cin, cout = kernel.shape
    n, hp, wp, _ = xp.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    uh, uw = kh // 2 + 1, kw // 2 + 1
    # rows and columns up to 2·(ho/2 + U − 1): a zero tail where kh is even
    xp = jnp.pad(xp, ((0, 0), (0, ho + 2 * uh - 2 - hp), (0, wo + 2 * uw - 2 - wp), (0, 0)))
    y = jax.lax.conv_general_dilated(_space_to_depth(xp), _s2d_kernel(kernel), (1, 1),
                                     "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return _depth_to_space(y.reshape(n, ho // 2, wo // 2, 2, 2, cout))


def im2col_input_grad(g, kernel, x_shape, padding: str):
    """The input gradient of ``conv(x, kernel, padding, "im2col")``: one matmul to the
    columns, then col2im — each of the kh·kw columns added back at its shift. Summed
    kernel row by kernel row, each row's kw shifts along the flattened (W·C) axis, where
    a shift moves whole runs of W·C_in floats. JAX's derivative of the im2col slices
    shifts along W with the C_in floats of a pixel as the minor axis, which vectorizes
    poorly: LeNet-5's conv2 col2im (C_in = 6) took 2.5-2.8 ms of a step against
    1.3-1.9 ms this way (``bench/RESULTS.md``, "Speed attempts")."""
    n, ho, wo, _ = g.shape
    kh, kw, cin, cout = kernel.shape
    cols = (g @ kernel.reshape(kh * kw * cin, cout).T).reshape(n, ho, wo, kh, kw, cin)
    hp, wp = ho + kh - 1, wo + kw - 1
    out = None
    for i in range(kh):
        row = None
        for j in range(kw):
            piece = cols[:, :, :, i, j, :].reshape(n, ho, wo * cin)
            piece = jnp.pad(piece, ((0, 0), (0, 0), (j * cin, (kw - 1 - j) * cin)))
            row = piece if row is None else row + piece
        row = jnp.pad(row, ((0, 0), (i, kh - 1 - i), (0, 0)))
        out = row if out is None else out + row
    out = out.reshape(n, hp, wp, cin)
    if padding == "valid":
        return out
    (t, _), (l, _) = same_padding(kh), same_padding(kw)
    return out[:, t:t + x_shape[1], l:l + x_shape[2], :]


@functools.lru_cache(maxsize=None)
def conv_op(padding: str, forward: str, input_grad: str, kernel_grad: str):
    """A convolution whose forward pass and two gradients each use their own
    formulation; differentiable like any JAX function."""

    @jax.custom_vjp
    def f(x, kernel):
        if "s2d" in (input_grad, kernel_grad):
            check_s2d(x.shape, kernel.shape, padding)  # now, not first in the backward pass
        y = conv(x, kernel, padding, forward)
        if forward == "shifted":
            # elementwise: XLA would recompute all kh·kw taps inside every consumer (the
            # activation, the pool and its backward pass); computed once, the LeNet-5 step
            # is ~5% faster (bench/RESULTS.md, "Speed attempts")
            y = boundary(y, x)
        return y

    def f_fwd(x, kernel):
        return f(x, kernel), (x, kernel)

    def f_bwd(res, g):
        x, kernel = res
        if input_grad == "im2col":
            dx = im2col_input_grad(g, kernel, x.shape, padding)
        elif input_grad == "native" and _native_applies(g, kernel):
            dx = native.input_grad(g, kernel, x.shape[1:3], _pads_before(kernel.shape, padding))
        else:
            _, vx = jax.vjp(lambda xx: conv(xx, kernel, padding, input_grad), x)
            dx = vx(g)[0]
        if input_grad not in ("xla", "native"):
            # a sum of kh·kw shifted slices (col2im): XLA would recompute it inside each
            # consumer that reads a pixel more than once, e.g. the pool backward's 2×2
            # upsampling (LeNet-5: a 1.8 ms fusion on one core; computed once, fit is ~6%
            # faster — bench/RESULTS.md, "Speed attempts")
            dx = boundary(dx, g)
        if kernel_grad == "native" and _native_applies(x, g):
            return dx, native.kernel_grad(x, g, kernel.shape[:2],
                                          _pads_before(kernel.shape, padding))
        if kernel_grad in ("xla", "native"):
            # XLA transposes both operands of its kernel-gradient convolution and fused
            # their producers (batch norm, ReLU, their gradients) into those transposes,
            # recomputed there at a fraction of a plain transpose's speed (U-Net: 87 → 38
            # ms of transposes per step, the step ~3% faster)
            x, g = boundary((x, g), g)
        _, vk = jax.vjp(lambda kk: conv(x, kk, padding, kernel_grad), kernel)
        return dx, vk(g)[0]

    f.defvjp(f_fwd, f_bwd)
    return f


def choose_conv(x_shape: Any, kernel_shape: Any, padding: str,
                dtype: Any = "float32") -> tuple[str, str, str]:
    """(forward, input gradient, kernel gradient) formulations for a unit-stride
    convolution, from the per-op timings of ``bench/speed.py`` (see ``bench/RESULTS.md``):

    - forward: the shifted sum for one input channel (LeNet-5's first layer: 0.4-0.7 ms
      against XLA's 5.0 at batch 128); space-to-depth for 2-8 input channels and an even
      output size (LeNet-5's second layer: 0.7 against 0.9 ms, its training step 4-7%
      faster; U-Net's 128×128×3 input: 4.0-4.9 against 8.4); XLA's convolution otherwise
      (16 channels at 128×128: 11 against 16 ms for s2d, 64 for the shifted sum);
    - input gradient: im2col for up to 8 input channels (LeNet-5's second layer: 1.2 ms
      against 3.1), XLA otherwise (16 channels at 128×128: 11 ms against 74);
    - kernel gradient: space-to-depth for one input channel and an even output size
      (LeNet-5's first layer: 0.6 ms against XLA's 1.4), XLA's otherwise (the fastest
      at every other measured shape: s2d took 1.5 against 1.4 ms for LeNet-5's second
      layer, 32 against 23 for U-Net's 16 channels at 128×128);
    - and for float32, each pass the native C++ kernel wherever it beats the above on this
      CPU (``native.beats_xla``; with AVX-512: U-Net's layers down to 16×16 pixels, e.g.
      the kernel gradient at 128×128×16 4.8 against 20-29 ms, the forward pass 5.6 against
      8.9; U-Net's RGB input 1.4 against 3.7 for s2d; LeNet-5's second layer's forward
      pass and kernel gradient).
    """
    kh, kw, cin, cout = kernel_shape
    # even outputs only; and kernels of 3×3 and up, where it costs 1.44-1.78× the
    # multiply-adds (4× for 1×1, unmeasured)
    s2d = s2d_applies(x_shape, kernel_shape, padding) and kh >= 3 and kw >= 3
    forward = "shifted" if cin == 1 else "s2d" if cin <= 8 and s2d else "xla"
    input_grad = "im2col" if cin <= 8 else "xla"
    kernel_grad = "s2d" if cin == 1 and s2d else "xla"
    if jnp.dtype(dtype) == jnp.float32:
        out_hw = _out_hw(x_shape, kernel_shape, padding)
        forward, input_grad, kernel_grad = (
            "native" if native.beats_xla(which, out_hw, cin, cout) else how
            for which, how in zip(("forward", "input_grad", "kernel_grad"),
                                  (forward, input_grad, kernel_grad)))
    return forward, input_grad, kernel_grad
