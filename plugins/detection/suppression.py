"""Non-maximum suppression: the seed's Algorithm 1, exact, jit-compiled and batched.

Algorithm 1: drop boxes whose score is below the confidence threshold T, sort the rest
by score, then repeatedly keep the best remaining box and remove every remaining box
whose IoU with it is ≥ τ. Here each iteration of a ``lax.while_loop`` selects the next
remaining box and removes its overlaps with one vectorised IoU row, so the loop runs
once per *kept* box (few, for clustered detections) rather than once per box.
With ``classes``, a box only suppresses boxes of its own class (per-class NMS) — by
masking, not by offsetting coordinates, so IoUs are computed exactly as without classes.
Ties in score keep the lower original index first (stable sort).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np


def _jax():
    import jax
    import jax.numpy as jnp

    return jax, jnp


def _bucket(n: int) -> int:
    """Pad sizes to a power of two (≥ 16) so varied box counts reuse few compilations."""
    return max(16, 1 << (max(n, 1) - 1).bit_length())


def _nms_sorted(boxes, scores, classes, valid, iou_threshold, score_threshold, max_outputs):
    """Greedy NMS on one image. Returns (kept original indices padded with -1, count)."""
    jax, jnp = _jax()
    n = boxes.shape[0]
    order = jnp.argsort(-scores, stable=True)
    b, s, c = boxes[order], scores[order], classes[order]
    alive = valid[order] & (s >= score_threshold)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = jnp.maximum(x2 - x1, 0) * jnp.maximum(y2 - y1, 0)
    kept = jnp.full((max_outputs,), -1, jnp.int32)

    def cond(state):
        alive, kept, count = state
        return jnp.any(alive) & (count < max_outputs)

    def body(state):
        alive, kept, count = state
        i = jnp.argmax(alive)  # first alive = highest remaining score
        iw = jnp.maximum(jnp.minimum(x2[i], x2) - jnp.maximum(x1[i], x1), 0)
        ih = jnp.maximum(jnp.minimum(y2[i], y2) - jnp.maximum(y1[i], y1), 0)
        inter = iw * ih
        union = area[i] + area - inter
        iou = jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0)
        remove = (iou >= iou_threshold) & (c == c[i])
        alive = alive & ~remove & (jnp.arange(n) != i)
        kept = kept.at[count].set(order[i].astype(jnp.int32))
        return alive, kept, count + 1

    _, kept, count = jax.lax.while_loop(cond, body, (alive, kept, jnp.int32(0)))
    return kept, count


_compiled: dict[Any, Any] = {}


def _fn(batched: bool, max_outputs: int):
    key = (batched, max_outputs)
    if key not in _compiled:
        jax, _ = _jax()
        f = partial(_nms_sorted, max_outputs=max_outputs)
        if batched:
            f = jax.vmap(f, in_axes=(0, 0, 0, 0, None, None))
        _compiled[key] = jax.jit(f)
    return _compiled[key]


def _check(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None) -> None:
    if boxes.ndim < 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) xyxy. Received: shape={boxes.shape}")
    if scores.shape != boxes.shape[:-1]:
        raise ValueError(f"scores must have shape {boxes.shape[:-1]} (one per box). "
                         f"Received: shape={scores.shape}")
    if classes is not None and classes.shape != scores.shape:
        raise ValueError(f"classes must have shape {scores.shape}. Received: {classes.shape}")
    bad = ~np.isfinite(boxes).all(-1) | ~np.isfinite(scores)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise ValueError(f"boxes or scores contain NaN or infinite values (first at index "
                         f"{where})")


def nms(boxes: Any, scores: Any, iou_threshold: float = 0.5, score_threshold: float = 0.0,
        max_outputs: int | None = None, classes: Any = None) -> np.ndarray:
    """Indices of the boxes kept by non-maximum suppression, in descending score.

    Args:
        boxes: (N, 4) xyxy boxes (x1 ≤ x2, y1 ≤ y2; degenerate boxes have area 0).
        scores: (N,) confidences.
        iou_threshold: τ; a remaining box with IoU ≥ τ with a kept box is removed.
        score_threshold: T; boxes scoring below it are dropped first.
        max_outputs: keep at most this many (default: no limit).
        classes: optional (N,) integer classes; boxes only suppress their own class.

    Returns:
        int64 array of kept indices into ``boxes``, best first.
    """
    _, jnp = _jax()
    b = np.asarray(boxes, np.float32)
    s = np.asarray(scores, np.float32)
    c = None if classes is None else np.asarray(classes).astype(np.int32)
    _check(b, s, c)
    if b.ndim != 2:
        raise ValueError(f"nms takes one image's (N, 4) boxes; use batched_nms for (B, N, 4). "
                         f"Received: shape={b.shape}")
    n = len(b)
    if n == 0:
        return np.zeros((0,), np.int64)
    size = _bucket(n)
    pad = size - n
    bp = np.pad(b, ((0, pad), (0, 0)))
    sp = np.pad(s, (0, pad), constant_values=-np.inf)
    cp = np.pad(c if c is not None else np.zeros(n, np.int32), (0, pad))
    valid = np.arange(size) < n
    limit = size if max_outputs is None else min(int(max_outputs), size)
    if limit <= 0:
        return np.zeros((0,), np.int64)
    kept, count = _fn(False, limit)(jnp.asarray(bp), jnp.asarray(sp), jnp.asarray(cp),
                                    jnp.asarray(valid), float(iou_threshold),
                                    float(score_threshold))
    return np.asarray(kept)[: int(count)].astype(np.int64)


def batched_nms(boxes: Any, scores: Any, iou_threshold: float = 0.5,
                score_threshold: float = 0.0, max_outputs: int = 100, classes: Any = None,
                valid: Any = None) -> tuple[Any, Any]:
    """NMS for a batch of images in one compiled call (vmap of ``nms``'s loop).

    Args:
        boxes: (B, N, 4) xyxy; scores: (B, N); classes: optional (B, N) integers;
        valid: optional (B, N) booleans marking real boxes (padding is ignored).
        max_outputs: fixed number of output slots per image.

    Returns:
        ``(indices, counts)``: (B, max_outputs) kept indices padded with -1, and (B,)
        number kept per image — JAX arrays, usable inside ``jit``.
    """
    _, jnp = _jax()
    b = jnp.asarray(boxes, jnp.float32)
    s = jnp.asarray(scores, jnp.float32)
    if b.ndim != 3 or b.shape[-1] != 4 or s.shape != b.shape[:2]:
        raise ValueError(f"batched_nms takes boxes (B, N, 4) and scores (B, N). Received: "
                         f"{b.shape}, {s.shape}")
    c = jnp.zeros(s.shape, jnp.int32) if classes is None else jnp.asarray(classes, jnp.int32)
    v = jnp.ones(s.shape, bool) if valid is None else jnp.asarray(valid, bool)
    limit = int(min(max_outputs, b.shape[1]))
    return _fn(True, limit)(b, s, c, v, float(iou_threshold), float(score_threshold))


def nms_reference(boxes: Any, scores: Any, iou_threshold: float = 0.5,
                  score_threshold: float = 0.0, max_outputs: int | None = None,
                  classes: Any = None) -> np.ndarray:
    """Algorithm 1 written plainly in NumPy, line by line (tests and benchmarks)."""
    b = np.asarray(boxes, np.float32)
    s = np.asarray(scores, np.float32)
    c = np.zeros(len(s), np.int64) if classes is None else np.asarray(classes)
    remaining = [i for i in np.argsort(-s, kind="stable") if s[i] >= score_threshold]
    area = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    final: list[int] = []
    while remaining and (max_outputs is None or len(final) < max_outputs):
        best = remaining.pop(0)
        final.append(int(best))
        keep = []
        for r in remaining:
            iw = max(min(b[best, 2], b[r, 2]) - max(b[best, 0], b[r, 0]), np.float32(0))
            ih = max(min(b[best, 3], b[r, 3]) - max(b[best, 1], b[r, 1]), np.float32(0))
            inter = np.float32(iw * ih)
            union = np.float32(area[best] + area[r] - inter)
            iou = inter / union if union > 0 else np.float32(0)
            if not (iou >= iou_threshold and c[r] == c[best]):
                keep.append(r)
        remaining = keep
    return np.asarray(final, np.int64)
