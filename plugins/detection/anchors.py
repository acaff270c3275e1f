"""Anchor priors: k-means on box shapes with the IoU distance (Redmon & Farhadi 2017)."""

from __future__ import annotations

from typing import Any

import numpy as np


def shape_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors aligned at a common center: (N, 2), (K, 2) → (N, K)."""
    inter = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * \
        np.minimum(wh[:, None, 1], anchors[None, :, 1])
    union = wh[:, None, 0] * wh[:, None, 1] + anchors[None, :, 0] * anchors[None, :, 1] - inter
    return inter / np.maximum(union, 1e-12)


def default_anchors(k: int) -> list[tuple[float, float]]:
    """Priors without data: alternately tall and wide (the seed's example), growing."""
    out = []
    for i in range(k):
        size = 0.15 * (1.6 ** (i // 2))
        out.append((round(size, 4), round(2 * size, 4)) if i % 2 == 0
                   else (round(2 * size, 4), round(size, 4)))
    return [(min(w, 1.0), min(h, 1.0)) for w, h in out]


def kmeans_anchors(wh: Any, k: int, seed: int = 0, iterations: int = 100) -> list[tuple[float,
                                                                                        float]]:
    """``k`` anchors (width, height) from box shapes ``wh`` (N, 2) relative to the image,
    clustering with distance 1 − IoU; sorted by area. Fewer distinct boxes than ``k``
    fall back to the defaults for the missing ones."""
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(1) & np.isfinite(wh).all(1)]
    if len(np.unique(wh, axis=0)) < k:
        found = [tuple(map(float, a)) for a in np.unique(wh, axis=0)]
        return sorted(found + default_anchors(k)[len(found):], key=lambda a: a[0] * a[1])
    rng = np.random.default_rng(seed)
    centers = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iterations):
        assign = shape_iou(wh, centers).argmax(1)
        new = np.array([np.median(wh[assign == j], axis=0) if (assign == j).any() else centers[j]
                        for j in range(k)])
        if np.allclose(new, centers):
            break
        centers = new
    centers = centers[np.argsort(centers[:, 0] * centers[:, 1])]
    return [(round(float(w), 4), round(float(h), 4)) for w, h in centers]
