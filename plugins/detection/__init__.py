"""Detection: YOLOv1 with anchors, the YOLO loss, box utilities, NMS and mAP.

The primitives are usable on their own (imports are lazy: this package is light)::

    from visionhooks.plugins.detection import nms, box_iou, convert_boxes, evaluate_coco
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "convert_boxes": "boxes", "box_area": "boxes", "box_iou": "boxes", "clip_boxes": "boxes",
    "pad_targets": "boxes",
    "FORMATS": "boxes", "nms": "suppression", "batched_nms": "suppression",
    "nms_reference": "suppression",
    "evaluate_coco": "metrics", "voc_ap50": "voc_ap", "kmeans_anchors": "anchors",
    "decode": "postprocess", "detect": "postprocess",
    "draw_detections": "draw", "nms_figure": "draw",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
