"""Pascal VOC average precision at IoU 0.5 (all-point interpolation, VOC2010 and later),
from the same ``BoxTable`` as the COCO evaluation in ``metrics``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .coco_json import BoxTable, load_coco
from .metrics import coco_box_iou, mean_present


def voc_average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (VOC2010 and later): the area under the monotone
    precision envelope.

    Args:
        recall, precision: (N,) over the detections ranked by descending score.
    """
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_per_class_ap(table: BoxTable, iou_threshold: float = 0.5) -> np.ndarray:
    """(K,) VOC AP of each category, -1 for categories without (non-difficult) ground truth.

    Pascal VOC rules (devkit ``VOCevaldet``): detections of a class ranked by score (stable
    ties, images in id order); each takes the ground truth of its image with the highest
    IoU; at IoU ≥ ``iou_threshold`` it is ignored if that box is difficult (or crowd), a
    true positive if the box is still free, else a false positive (duplicate). Boxes are
    continuous coordinates (no +1 pixel).
    """
    out = -np.ones(len(table.category_ids))
    skip = table.gt_difficult | table.gt_crowd
    for k in range(len(table.category_ids)):
        gt_rows = np.flatnonzero(table.gt_category == k)
        npos = int((~skip[gt_rows]).sum())
        if npos == 0:
            continue
        dt_rows = np.flatnonzero(table.dt_category == k)
        dt_rows = dt_rows[np.argsort(table.dt_image[dt_rows], kind="stable")]
        dt_rows = dt_rows[np.argsort(-table.dt_scores[dt_rows], kind="mergesort")]
        best, best_iou = _voc_best_match(table, dt_rows, gt_rows)
        hit = best_iou >= iou_threshold
        ignore = hit & skip[np.maximum(best, 0)]
        tp = np.zeros(len(dt_rows), bool)
        cand = np.flatnonzero(hit & ~ignore)
        _, first = np.unique(best[cand], return_index=True)  # first claim of each box wins
        tp[cand[first]] = True
        tp, fp = tp[~ignore], ~tp[~ignore]
        tp_sum, fp_sum = np.cumsum(tp).astype(float), np.cumsum(fp).astype(float)
        out[k] = voc_average_precision(tp_sum / npos,
                                       tp_sum / np.maximum(tp_sum + fp_sum,
                                                           np.finfo(np.float64).eps))
    return out


def _voc_best_match(table: BoxTable, dt_rows: np.ndarray, gt_rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For each detection: the row of its image's ground truth with the highest IoU
    (-1 if none) and that IoU."""
    best = -np.ones(len(dt_rows), np.int64)
    best_iou = np.zeros(len(dt_rows))
    for img in np.unique(table.dt_image[dt_rows]):
        d = np.flatnonzero(table.dt_image[dt_rows] == img)
        g = gt_rows[table.gt_image[gt_rows] == img]
        if len(g):
            ious = coco_box_iou(table.dt_boxes[dt_rows[d]], table.gt_boxes[g],
                                np.zeros(len(g), bool))
            j = ious.argmax(axis=1)
            best[d], best_iou[d] = g[j], ious[np.arange(len(d)), j]
    return best, best_iou


def voc_ap50(ground_truth: Any, detections: Any, iou_threshold: float = 0.5
             ) -> dict[str, Any]:
    """Pascal VOC AP at IoU 0.5 (all-point interpolation, VOC2010+).

    Args:
        ground_truth, detections: as ``evaluate_coco``; an annotation with
            ``"difficult": 1`` (or ``"iscrowd": 1``) is neither needed nor penalized.
        iou_threshold: the overlap a true positive needs (≥).

    Returns:
        ``{"voc_ap50": mean over categories with ground truth (-1 if none),
        "per_class_voc_ap50": {category: AP, -1 without ground truth}}``.
    """
    table = load_coco(ground_truth, detections)
    per_class = voc_per_class_ap(table, iou_threshold)
    return {"voc_ap50": mean_present(per_class),
            "per_class_voc_ap50": dict(zip(table.category_keys, per_class.tolist()))}
