"""Affine maps of the image plane, and how they move images, masks and boxes.

Maps are (N, 3, 3) float32 matrices acting on continuous pixel coordinates
``(u, v, 1)``: ``u`` runs from 0 at the left edge of the image to W at its right edge,
``v`` from 0 at the top to H at the bottom, so pixel (row i, column j) covers
[j, j + 1] × [i, i + 1] and has its centre at (j + 0.5, i + 0.5), and a relative box
coordinate is ``u / W``. A *forward* map sends a point of the input to where it lands
in the output; composing transforms in config order multiplies their forward maps.
Images are resampled through the inverse map (``warp_affine``); box corners go through
the forward map.
"""

from __future__ import annotations

import jax.numpy as jnp

from .warp import warp_affine


def translation(tu, tv):
    """Forward maps moving content by (tu, tv) pixels; ``tu``, ``tv`` are (N,)."""
    n = tu.shape[0]
    m = jnp.tile(jnp.eye(3, dtype=jnp.float32), (n, 1, 1))
    return m.at[:, 0, 2].set(tu).at[:, 1, 2].set(tv)


def about_center(linear, height: int, width: int):
    """Forward maps applying the (N, 2, 2) ``linear`` part about the image centre."""
    n = linear.shape[0]
    cu, cv = width / 2.0, height / 2.0
    m = jnp.tile(jnp.eye(3, dtype=jnp.float32), (n, 1, 1)).at[:, :2, :2].set(linear)
    center = jnp.array([cu, cv], jnp.float32)
    # x' = L (x − c) + c  →  translation c − L c
    shift = center - jnp.einsum("nij,j->ni", linear, center)
    return m.at[:, :2, 2].set(shift)


def rotation(radians, height: int, width: int):
    """Forward maps rotating content by ``radians`` (N,) about the centre, counter-clockwise
    as displayed (rows grow downwards)."""
    c, s = jnp.cos(radians), jnp.sin(radians)
    linear = jnp.stack([jnp.stack([c, s], -1), jnp.stack([-s, c], -1)], -2)
    return about_center(linear, height, width)


def scaling(su, sv, height: int, width: int):
    """Forward maps scaling content by (su, sv) (N,) about the centre (> 1 zooms in)."""
    zero = jnp.zeros_like(su)
    linear = jnp.stack([jnp.stack([su, zero], -1), jnp.stack([zero, sv], -1)], -2)
    return about_center(linear, height, width)


def affine_inverse(m):
    """Inverse of (N, 3, 3) affine maps (last row 0, 0, 1), in closed form."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    ic = -(ia * c + ib * f)
    if_ = -(id_ * c + ie * f)
    rows = [jnp.stack([ia, ib, ic], -1), jnp.stack([id_, ie, if_], -1),
            jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0], m.dtype), ia.shape + (3,))]
    return jnp.stack(rows, -2)


def sampling_matrices(forward):
    """Forward maps in continuous coordinates → the (N, 3, 3) maps ``warp_affine`` takes
    (output pixel index → input pixel index, centres at integers)."""
    inv = affine_inverse(forward)
    # index = continuous − 0.5:  M_idx = T(−½) · inv · T(+½)
    half = jnp.array([0.5, 0.5], jnp.float32)
    shift = jnp.einsum("nij,j->ni", inv[:, :2, :2], half) + inv[:, :2, 2] - half
    return inv.at[:, :2, 2].set(shift)


def transform_boxes(xyxy, forward, height: int, width: int, min_visibility: float):
    """Move pixel ``xyxy`` boxes (N, M, 4) through ``forward`` (N, 3, 3).

    Each box becomes the enclosing box of its four transformed corners, clipped to the
    image. It is dropped when the clipped box keeps less than ``min_visibility`` of the
    enclosing box's area, or has no area left.

    Returns:
        ``(boxes, keep)``: (N, M, 4) clipped xyxy boxes and (N, M) bool.
    """
    x1, y1, x2, y2 = (xyxy[..., i] for i in range(4))
    corners = jnp.stack([jnp.stack([x1, y1], -1), jnp.stack([x2, y1], -1),
                         jnp.stack([x1, y2], -1), jnp.stack([x2, y2], -1)], -2)  # (N, M, 4, 2)
    lin, t = forward[:, None, None, :2, :2], forward[:, None, None, :2, 2]
    moved = jnp.einsum("nmkij,nmkj->nmki", jnp.broadcast_to(lin, corners.shape[:3] + (2, 2)),
                       corners) + t
    lo, hi = moved.min(axis=2), moved.max(axis=2)  # (N, M, 2)
    area = jnp.prod(hi - lo, axis=-1)
    limit = jnp.array([width, height], jnp.float32)
    clo, chi = jnp.clip(lo, 0.0, limit), jnp.clip(hi, 0.0, limit)
    kept_area = jnp.prod(jnp.maximum(chi - clo, 0.0), axis=-1)
    keep = (kept_area > 0) & (kept_area >= min_visibility * area)
    return jnp.concatenate([clo, chi], axis=-1), keep


def apply_forward(batch: dict, forward, *, fill_mode: str, fill_value: float,
                  min_visibility: float, box_format: str) -> dict:
    """Move everything spatial in a data-model batch through per-image forward maps.

    ``images`` (float32 in [0, 1], or uint8, which come out as float32 in [0, 1]) are
    resampled bilinearly, ``segmentation_masks`` by nearest neighbour
    (filled with class 0 outside the input under ``"constant"``), ``bounding_boxes`` by
    their corners (dropped boxes get label -1 and zero coordinates, the padding of the
    data model). Other keys (``labels``) pass through untouched.
    """
    from keras.utils import bounding_boxes as kbb

    out = dict(batch)
    images = batch["images"]
    _, height, width = images.shape[:3]
    sampling = sampling_matrices(forward)
    if jnp.issubdtype(images.dtype, jnp.integer):  # uint8 in: gather bytes, scale after
        out["images"] = warp_affine(images, sampling, order=1, fill_mode=fill_mode,
                                    fill_value=fill_value * 255.0, dtype=jnp.float32) / 255.0
    else:
        out["images"] = warp_affine(images, sampling, order=1, fill_mode=fill_mode,
                                    fill_value=fill_value)
    if "segmentation_masks" in batch:
        out["segmentation_masks"] = warp_affine(batch["segmentation_masks"], sampling, order=0,
                                                fill_mode=fill_mode, fill_value=0)
    if "bounding_boxes" in batch:
        bb = batch["bounding_boxes"]
        labels = bb["labels"]
        xyxy = kbb.convert_format(bb["boxes"], box_format, "xyxy", height=height, width=width)
        moved, keep = transform_boxes(xyxy, forward, height, width, min_visibility)
        keep = keep & (labels >= 0)
        boxes = kbb.convert_format(moved, "xyxy", box_format, height=height, width=width)
        out["bounding_boxes"] = {
            **bb, "boxes": jnp.where(keep[..., None], boxes, 0.0).astype(bb["boxes"].dtype),
            "labels": jnp.where(keep, labels, -1).astype(labels.dtype)}
    return out
