"""One affine resampling per image, batched and jit-compatible (JAX).

``warp_affine`` samples every output pixel of every image at the input location its own
matrix gives: bilinear for images, nearest for masks. Pixel centres sit at integer
coordinates (``x`` = column, ``y`` = row), as in ``scipy.ndimage`` and OpenCV's inverse
maps. Outside the input, ``fill_mode`` decides what a tap reads:

- ``"constant"``: ``fill_value`` (taps outside read the constant and are still
  interpolated: scipy's ``grid-constant``);
- ``"nearest"``: the closest edge pixel (``a a a | a b c d | d d d``);
- ``"reflect"``: the image mirrored about its edges (``d c b a | a b c d | d c b a``);
- ``"wrap"``: the image repeated (``a b c d | a b c d | a b c d``).

The work is a plain per-image 2-D gather under ``vmap`` (the fastest single-device form
measured on CPU, see ``bench/RESULTS.md``); tap indices and weights pass through
``lax.optimization_barrier`` so XLA cannot recompute ``floor`` differently for the
index and the weight of one tap. Integer images are gathered as they are and converted
after (exact, and cheaper to move than float32).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

FillMode = Literal["constant", "nearest", "reflect", "wrap"]
FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def _taps(idx, size: int, mode: str):
    """Integer tap coordinates → in-range indices and (for ``constant``) a validity mask."""
    if mode == "constant":
        return jnp.clip(idx, 0, size - 1), (idx >= 0) & (idx < size)
    if mode == "nearest":
        return jnp.clip(idx, 0, size - 1), None
    if mode == "reflect":
        m = jnp.mod(idx, 2 * size)
        return jnp.where(m < size, m, 2 * size - 1 - m), None
    return jnp.mod(idx, size), None  # wrap


def _coordinates(matrix, height: int, width: int):
    """Source (x, y) of every output pixel: (H, W) float32 each."""
    ys = jnp.arange(height, dtype=jnp.float32)[:, None]
    xs = jnp.arange(width, dtype=jnp.float32)[None, :]
    sx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    sy = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return sx, sy


def _bilinear(image, matrix, mode: str, fill_value: float):
    h, w = image.shape[:2]
    sx, sy = _coordinates(matrix, h, w)
    x0f, y0f = jnp.floor(sx), jnp.floor(sy)
    x0, y0, fx, fy = jax.lax.optimization_barrier(
        (x0f.astype(jnp.int32), y0f.astype(jnp.int32), sx - x0f, sy - y0f))
    out = None
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        yi, vy = _taps(y0 + dy, h, mode)
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, vx = _taps(x0 + dx, w, mode)
            v = image[yi, xi].astype(jnp.float32)
            if vy is not None:
                v = jnp.where((vy & vx)[..., None], v, jnp.float32(fill_value))
            term = (wy * wx)[..., None] * v
            out = term if out is None else out + term
    return out


def _bilinear_padded(image, matrix, fill_value: float):
    """``constant`` mode without per-tap masks: the image gains a border of
    ``fill_value`` and coordinates are clamped into it, so every tap reads in bounds.
    Cheaper per pixel, at the cost of one padded copy: the faster form for integer
    images (a small copy), measured in ``bench/augmentation.py``."""
    h, w = image.shape[:2]
    padded = jnp.pad(image, ((1, 2), (1, 2), (0, 0)),
                     constant_values=jnp.asarray(fill_value).astype(image.dtype))
    sx, sy = _coordinates(matrix, h, w)
    sx = jnp.clip(sx, -1.0, float(w)) + 1.0
    sy = jnp.clip(sy, -1.0, float(h)) + 1.0
    x0f, y0f = jnp.floor(sx), jnp.floor(sy)
    fx, fy = (sx - x0f)[..., None], (sy - y0f)[..., None]
    x0, y0 = x0f.astype(jnp.int32), y0f.astype(jnp.int32)

    def tap(yy, xx):
        return padded.at[yy, xx].get(mode="promise_in_bounds").astype(jnp.float32)

    top = tap(y0, x0) * (1.0 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1.0 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1.0 - fy) + bottom * fy


def _nearest(image, matrix, mode: str, fill_value: float):
    h, w = image.shape[:2]
    sx, sy = _coordinates(matrix, h, w)
    xi, vx = _taps(jnp.floor(sx + 0.5).astype(jnp.int32), w, mode)
    yi, vy = _taps(jnp.floor(sy + 0.5).astype(jnp.int32), h, mode)
    v = image[yi, xi]
    if vx is not None:
        v = jnp.where((vx & vy)[..., None], v, jnp.asarray(fill_value, v.dtype))
    return v


def warp_affine(images, matrices, *, order: int = 1, fill_mode: FillMode = "constant",
                fill_value: float = 0.0, dtype=None):
    """Resample each image at the locations its affine matrix gives.

    Args:
        images: (N, H, W, C) or (N, H, W) (masks), float or integer.
        matrices: (N, 2, 3) or (N, 3, 3): row 0 gives the source x (column) and row 1
            the source y (row) of output pixel (x, y): ``src = M @ [x, y, 1]``.
        order: 1 bilinear (images), 0 nearest (masks: class ids are never blended).
        fill_mode: ``"constant"``, ``"nearest"``, ``"reflect"`` or ``"wrap"``.
        fill_value: what ``"constant"`` reads outside the input (0: black, background).
        dtype: the output dtype (default: the input's). Integer images warped to a float
            dtype keep the interpolated values unrounded (gather bytes, convert after).

    Returns:
        The warped batch, same shape; integer outputs are rounded and clipped to their
        dtype's range after bilinear interpolation.

    Example:
        >>> m = jnp.array([[[1., 0., 2.], [0., 1., 0.]]])   # content moves 2 px left
        >>> warp_affine(images[:1], m)
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {list(FILL_MODES)}. Received: {fill_mode!r}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear). Received: {order}")
    images = jnp.asarray(images)
    matrices = jnp.asarray(matrices, jnp.float32)
    squeeze = images.ndim == 3
    if squeeze:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or masks (N, H, W). Received: "
                         f"shape={images.shape}")
    if matrices.ndim != 3 or matrices.shape[1:] not in ((2, 3), (3, 3)) \
            or matrices.shape[0] != images.shape[0]:
        raise ValueError(f"matrices must be (N, 2, 3) or (N, 3, 3) with N = {images.shape[0]}. "
                         f"Received: shape={matrices.shape}")
    dtype = jnp.dtype(dtype or images.dtype)
    if order == 0:
        out = jax.vmap(lambda im, m: _nearest(im, m, fill_mode, fill_value))(images, matrices)
    else:
        integer = jnp.issubdtype(images.dtype, jnp.integer)
        if fill_mode == "constant" and integer:
            out = jax.vmap(lambda im, m: _bilinear_padded(im, m, fill_value))(images, matrices)
        else:
            out = jax.vmap(lambda im, m: _bilinear(im, m, fill_mode, fill_value))(images,
                                                                                 matrices)
        if jnp.issubdtype(dtype, jnp.integer):
            lim = jnp.iinfo(dtype)
            out = jnp.clip(jnp.round(out), lim.min, lim.max)
    out = out.astype(dtype)
    return out[..., 0] if squeeze else out


def identity(n: int) -> np.ndarray:
    """(n, 3, 3) identity matrices."""
    return np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy()
