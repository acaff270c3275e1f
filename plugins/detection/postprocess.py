"""Decoding the YOLO output tensor and the ``nms`` postprocessor.

The detection models end in a ``YOLODecode`` layer, so their output (N, S, S, B·5 + C)
is already decoded: for predictor b of a cell, channels ``5b .. 5b+4`` hold the box
(center x, center y, width, height, relative to the image) and its object confidence;
the last C channels hold the cell's class probabilities. A box's class-specific score
is its confidence times the class probability (Redmon et al. 2016, §2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import DataInfo

from .config import NMSConfig


def decode(outputs: Any, num_anchors: int) -> tuple[Any, Any, Any]:
    """Split decoded outputs into per-predictor boxes, confidences and class probabilities.

    Args:
        outputs: (N, S, S, B·5 + C).
        num_anchors: B.

    Returns:
        boxes (N, S·S·B, 4) rel_center_xywh, confidence (N, S·S·B), class probabilities
        (N, S·S·B, C) (each cell's probabilities repeated for its B predictors).
    """
    import jax.numpy as jnp

    out = jnp.asarray(outputs, jnp.float32)
    n, s1, s2, ch = out.shape
    c = ch - 5 * num_anchors
    if c < 1:
        raise ValueError(f"outputs with {ch} channels cannot hold {num_anchors} predictors "
                         f"of 5 values plus classes. Received: shape={out.shape}")
    preds = out[..., : 5 * num_anchors].reshape(n, s1 * s2, num_anchors, 5)
    probs = jnp.broadcast_to(out[..., None, 5 * num_anchors:].reshape(n, s1 * s2, 1, c),
                             (n, s1 * s2, num_anchors, c))
    return (preds[..., :4].reshape(n, -1, 4), preds[..., 4].reshape(n, -1),
            probs.reshape(n, -1, c))


def center_to_xyxy(boxes: Any) -> Any:
    import jax.numpy as jnp

    xy, wh = boxes[..., :2], boxes[..., 2:]
    return jnp.concatenate([xy - wh / 2, xy + wh / 2], axis=-1)


_compiled: dict[Any, Any] = {}


def _detect_fn(num_anchors: int, max_outputs: int, per_class: bool):
    key = (num_anchors, max_outputs, per_class)
    if key in _compiled:
        return _compiled[key]
    import jax
    import jax.numpy as jnp

    from .suppression import _nms_sorted

    def one(boxes, scores, nms_classes, classes, iou_t, score_t):
        kept, count = _nms_sorted(boxes, scores, nms_classes, jnp.ones(scores.shape, bool),
                                  iou_t, score_t, max_outputs=max_outputs)
        idx = jnp.maximum(kept, 0)
        ok = kept >= 0
        # kept boxes clipped to the image (a predicted box may reach past its border)
        return (jnp.where(ok[:, None], jnp.clip(boxes[idx], 0.0, 1.0), 0),
                jnp.where(ok, scores[idx], 0),
                jnp.where(ok, classes[idx], -1), count)

    def run(outputs, iou_t, score_t):
        centers, conf, probs = decode(outputs, num_anchors)
        xyxy = center_to_xyxy(centers)
        n, p, c = probs.shape
        if per_class:  # one candidate per (predictor, class), suppressed within its class
            scores = (conf[..., None] * probs).reshape(n, p * c)
            classes = jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), (n, p, c)).reshape(n, -1)
            boxes = jnp.repeat(xyxy, c, axis=1)
            nms_classes = classes
        else:  # one candidate per predictor (its best class), class-agnostic suppression
            classes = probs.argmax(-1).astype(jnp.int32)
            scores = conf * jnp.take_along_axis(probs, classes[..., None], -1)[..., 0]
            boxes, nms_classes = xyxy, jnp.zeros_like(classes)
        return jax.vmap(one, in_axes=(0, 0, 0, 0, None, None))(boxes, scores, nms_classes,
                                                               classes, iou_t, score_t)

    _compiled[key] = jax.jit(run)
    return _compiled[key]


def detect(outputs: Any, num_anchors: int, iou_threshold: float = 0.5,
           score_threshold: float = 0.25, max_outputs: int = 100,
           per_class: bool = True) -> dict[str, np.ndarray]:
    """Decoded outputs → detections per image, batched and jit-compiled.

    Returns NumPy arrays: ``boxes`` (N, K, 4) rel_xyxy clipped to the image (suppression
    runs on the boxes as predicted), ``scores`` (N, K), ``classes``
    (N, K) int32 padded with -1, ``counts`` (N,), with K = ``max_outputs`` and each
    image's detections first, in descending score.
    """
    boxes, scores, classes, counts = _detect_fn(num_anchors, int(max_outputs), per_class)(
        outputs, float(iou_threshold), float(score_threshold))
    return {"boxes": np.asarray(boxes), "scores": np.asarray(scores),
            "classes": np.asarray(classes), "counts": np.asarray(counts)}


class NMSPostprocessor:
    """``nms``: decoded outputs → ``{"boxes", "scores", "classes", "counts"}``.

    ``boxes`` are in the data's box format (``info.box_format``, default the seed's
    rel_center_xywh), padded rows are zeros with class -1.
    """

    def __init__(self, config: NMSConfig, info: DataInfo) -> None:
        self.config = config
        self.info = info

    def num_anchors(self, outputs: Any) -> int:
        c = self.info.num_classes
        b, rem = divmod(np.shape(outputs)[-1] - c, 5)
        if rem or b < 1:
            raise ValueError(f"outputs with {np.shape(outputs)[-1]} channels do not match "
                             f"B·5 + {c} classes")
        return b

    def __call__(self, outputs: Any) -> dict[str, np.ndarray]:
        from .boxes import convert_boxes

        cfg = self.config
        out = detect(outputs, self.num_anchors(outputs), cfg.iou_threshold,
                     cfg.score_threshold, cfg.max_outputs, cfg.per_class)
        h, w, _ = self.info.input_shape
        fmt = self.info.box_format or "rel_center_xywh"
        boxes = convert_boxes(out["boxes"], "rel_xyxy", fmt, height=h, width=w)
        boxes[out["classes"] < 0] = 0
        out["boxes"] = boxes
        return out
