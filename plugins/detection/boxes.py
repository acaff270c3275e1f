"""Box utilities: format conversion, area, pairwise IoU, clipping, validation.

Pure functions over ``(..., 4)`` arrays (NumPy or JAX; ``keras.ops`` where they run
inside compiled steps). Formats, with Keras' names:

- ``xyxy``: (x1, y1, x2, y2), absolute pixels; ``rel_xyxy``: the same divided by the image
  width and height.
- ``xywh``: (x1, y1, width, height); ``rel_xywh``.
- ``center_xywh``: (center x, center y, width, height); ``rel_center_xywh`` is the seed's
  format (relative to the image, top-left origin, all in [0, 1]) and the data model's
  default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORMATS = ("xyxy", "rel_xyxy", "xywh", "rel_xywh", "center_xywh", "rel_center_xywh")
DEFAULT_FORMAT = "rel_center_xywh"


def _check_format(fmt: str, what: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown box format for {what}: {fmt!r}. Valid formats: "
                         f"{', '.join(FORMATS)}")


def convert_boxes(boxes: Any, source: str, target: str, height: float | None = None,
                  width: float | None = None) -> np.ndarray:
    """Convert ``boxes`` of shape ``(..., 4)`` from ``source`` to ``target`` format.

    ``height`` and ``width`` (of the image, in pixels) are needed when exactly one of the
    formats is relative. Returns float32 NumPy (float64 input stays float64).

    Raises:
        ValueError: an unknown format, a last axis other than 4, or missing image size.
    """
    _check_format(source, "source")
    _check_format(target, "target")
    b = np.asarray(boxes)
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes must have shape (..., 4). Received: shape={b.shape}")
    b = b.astype(np.float64 if b.dtype == np.float64 else np.float32)
    if source == target:
        return b.copy()
    a, c = b[..., 0], b[..., 1]
    p, q = b[..., 2], b[..., 3]
    base_s, base_t = source.removeprefix("rel_"), target.removeprefix("rel_")
    if base_s == "xyxy":
        x1, y1, x2, y2 = a, c, p, q
    elif base_s == "xywh":
        x1, y1, x2, y2 = a, c, a + p, c + q
    else:
        x1, y1, x2, y2 = a - p / 2, c - q / 2, a + p / 2, c + q / 2
    rel_s, rel_t = source.startswith("rel_"), target.startswith("rel_")
    if rel_s != rel_t:
        if height is None or width is None:
            raise ValueError(f"converting {source} to {target} needs the image height and "
                             f"width. Received: height={height}, width={width}")
        sx, sy = (width, height) if rel_s else (1.0 / width, 1.0 / height)
        x1, x2, y1, y2 = x1 * sx, x2 * sx, y1 * sy, y2 * sy
    if base_t == "xyxy":
        out = (x1, y1, x2, y2)
    elif base_t == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    else:
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    return np.stack(out, axis=-1).astype(b.dtype)


def box_area(boxes: Any) -> np.ndarray:
    """Areas of ``(..., 4)`` xyxy boxes; degenerate boxes (x2 < x1) have area 0."""
    b = np.asarray(boxes)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_iou(a: Any, b: Any) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: ``a`` (N, 4) and ``b`` (M, 4) → (N, M).

    IoU = area(a ∩ b) / area(a ∪ b); 0 where the union is empty.
    """
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[-1] != 4 or b.shape[-1] != 4:
        raise ValueError(f"box_iou takes (N, 4) and (M, 4) xyxy boxes. Received: "
                         f"{a.shape}, {b.shape}")
    return iou_matrix(a, b)


def iou_matrix(a: Any, b: Any) -> Any:
    """IoU of (..., N, 4) and (..., M, 4) xyxy boxes with ``keras.ops``-compatible math.

    One formula shared by NMS, target assignment and the NumPy references, so that
    decisions at a threshold agree between them.
    """
    xp = _xp(a, b)
    ax1, ay1, ax2, ay2 = (a[..., :, None, i] for i in range(4))
    bx1, by1, bx2, by2 = (b[..., None, :, i] for i in range(4))
    iw = xp.maximum(xp.minimum(ax2, bx2) - xp.maximum(ax1, bx1), 0)
    ih = xp.maximum(xp.minimum(ay2, by2) - xp.maximum(ay1, by1), 0)
    inter = iw * ih
    area_a = xp.maximum(ax2 - ax1, 0) * xp.maximum(ay2 - ay1, 0)
    area_b = xp.maximum(bx2 - bx1, 0) * xp.maximum(by2 - by1, 0)
    union = area_a + area_b - inter
    return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0)


def _xp(*arrays: Any) -> Any:
    if all(isinstance(x, np.ndarray) for x in arrays):
        return np
    import jax.numpy as jnp

    return jnp


def clip_boxes(boxes: Any, height: float, width: float, fmt: str = "xyxy") -> np.ndarray:
    """Clip boxes to the image (``fmt`` is ``xyxy`` or ``rel_xyxy``)."""
    if fmt not in ("xyxy", "rel_xyxy"):
        raise ValueError(f"clip_boxes works on xyxy or rel_xyxy boxes; convert first. "
                         f"Received: fmt={fmt!r}")
    b = np.asarray(boxes, np.float32).copy()
    hi_x, hi_y = (1.0, 1.0) if fmt == "rel_xyxy" else (float(width), float(height))
    b[..., 0::2] = np.clip(b[..., 0::2], 0, hi_x)
    b[..., 1::2] = np.clip(b[..., 1::2], 0, hi_y)
    return b


def pad_targets(boxes: Any, labels: Any, max_boxes: int | None = None) -> dict[str, np.ndarray]:
    """Per-image boxes ``[(k_i, 4), ...]`` and labels ``[(k_i,), ...]`` (lists of
    different lengths, as annotations come) as the data model's padded targets:
    ``{"boxes": (N, M, 4) float32, "labels": (N, M) int32}`` with label -1 for padding;
    ``M`` is ``max_boxes`` or the most boxes of one image."""
    from visionhooks import DataError
    from visionhooks.tasktype import not_whole

    if len(boxes) != len(labels):
        raise DataError(f"boxes for {len(boxes)} images but labels for {len(labels)}")
    per, ids = [], []
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        try:
            b = np.asarray(b, np.float32).reshape(-1, 4) if len(b) == 0 else np.asarray(
                b, np.float32)
            lab = np.asarray(lab)
        except (TypeError, ValueError) as exc:
            raise DataError(f"image {i}: boxes and labels must be numbers ({exc})") from None
        if b.ndim != 2 or b.shape[1] != 4:
            raise DataError(f"image {i}: boxes must be (k, 4). Received: shape={b.shape}")
        if lab.shape != (len(b),):
            raise DataError(f"image {i}: {len(b)} boxes but labels of shape {lab.shape}")
        if lab.size and (not np.issubdtype(lab.dtype, np.number) or not_whole(lab).any()):
            raise DataError(f"image {i}: labels must be integer class ids. Received: "
                            f"{lab.tolist()}")
        per.append(b)
        ids.append(lab)
    most = max((len(b) for b in per), default=0)
    m = most if max_boxes is None else int(max_boxes)
    if most > m:
        raise DataError(f"an image has {most} boxes, more than max_boxes={m}")
    out_boxes = np.zeros((len(per), m, 4), np.float32)
    out_labels = np.full((len(per), m), -1, np.int32)
    for i, (b, lab) in enumerate(zip(per, ids)):
        out_boxes[i, :len(b)], out_labels[i, :len(lab)] = b, lab
    return {"boxes": out_boxes, "labels": out_labels}
