"""2×2 max pooling for XLA on CPU: the forward pass as the elementwise maximum of each
window's four corners, the backward pass routing each gradient through the index of its
window's first maximum (``FastMaxPooling2D``; ``bench/RESULTS.md``, "Speed attempts")."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from visionhooks.fusion import boundary


def max_pool_2x2(x):
    """2×2 max pooling with stride 2 ("valid": an odd last row or column is dropped), with
    a backward pass that routes each gradient to the first maximum of its window (as
    XLA's ``select_and_scatter`` does) from that maximum's index, saved by the forward
    pass."""
    n, h, w, c = x.shape
    return _pool(x[:, : h // 2 * 2, : w // 2 * 2, :])  # JAX pads the gradient of the crop


def _up2(a):
    """(N, h, w, C) → (N, 2h, 2w, C), each value repeated over its 2×2 block."""
    return jnp.repeat(jnp.repeat(a, 2, axis=1), 2, axis=2)


@jax.custom_vjp
def _pool(x):
    # Inference: the elementwise maximum of the four window corners, one loop fused with
    # the producer (a window reduce of the NHWC input, or of its channel-major transpose,
    # ran 2.5-12× slower: LeNet-5's first pool 1.0 → 0.4 ms, U-Net's at 128² 6-8 → 0.6).
    return _corner_max(_window_corners(x))


def _window_corners(x):
    """The four pixels of each 2×2 window of ``x`` (row-major), each (N, H/2, W/2, C)."""
    n, h, w, c = x.shape
    r = x.reshape(n, h // 2, 2, w // 2, 2, c)
    return r[:, :, 0, :, 0], r[:, :, 0, :, 1], r[:, :, 1, :, 0], r[:, :, 1, :, 1]


def _corner_max(corners):
    a, b, c, d = corners
    return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def _window_first_max(corners, m):
    """Index (int8, row-major 0-3) of the first of the four ``corners`` of each 2×2 window
    equal to its maximum ``m``; 4 where none is (a NaN in the window)."""
    a, b, c, d = corners
    return jnp.where(a == m, 0, jnp.where(b == m, 1, jnp.where(
        c == m, 2, jnp.where(d == m, 3, 4)))).astype(jnp.int8)


def _pool_fwd(x):
    # Training: the maximum of the four window corners, elementwise, which XLA fuses with
    # the first-maximum index into one loop over the input (a window reduce goes to a
    # separate single-threaded kernel: LeNet-5's first pool 1.4 → 1.0 ms, U-Net's at 128²
    # 2.7 → 1.3); as the residual each window's first maximum (a quarter-size int8 array)
    # instead of the input. The boundary keeps XLA from fusing the index into the
    # backward's upsampled select, which would recompute each window's compares four times.
    corners = _window_corners(x)
    m = _corner_max(corners)
    return boundary((m, _window_first_max(corners, m)), x)


def _pool_bwd(first, g):
    # Each window's gradient goes to its first maximum in row-major order (as XLA's
    # select_and_scatter does; nowhere for a window holding a NaN): one elementwise select
    # over the upsampled gradient (bench/RESULTS.md: LeNet-5's train step 3-9% faster than
    # when the backward recomputed the maxima from the saved input).
    n, h2, w2, c = first.shape
    pos = ((jnp.arange(2 * h2)[:, None] % 2) * 2 + jnp.arange(2 * w2)[None, :] % 2)
    return (jnp.where(pos[None, :, :, None] == _up2(first), _up2(g), 0.0).astype(g.dtype),)


_pool.defvjp(_pool_fwd, _pool_bwd)
