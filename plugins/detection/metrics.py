"""Mean average precision: COCO AP@[.5:.95] and the ``map`` evaluator (which also reports
Pascal VOC AP@0.5, from ``voc_ap``).

``evaluate_coco`` is a NumPy reimplementation of pycocotools' ``COCOeval`` for boxes
(``iouType="bbox"``, default parameters) and returns the same twelve numbers as
``COCOeval.stats``. The steps follow pycocotools (``cocoeval.py``, ``maskApi.c``):

1. Per image and category, detections are sorted by descending score (a stable sort, so
   ties keep their input order) and cut to the 100 best.
2. IoU of (x, y, w, h) boxes; against a crowd annotation the union is the detection's
   own area. Crowd annotations are ignored, and so are those outside the area range
   (bounds inclusive); ignored annotations are never false negatives.
3. Greedy matching, for each IoU threshold: each detection takes the unmatched
   annotation of highest IoU ≥ the threshold (on ties, the later one), preferring
   annotations that are not ignored; crowd annotations can absorb many detections. A
   detection matched to an ignored annotation, or unmatched and outside the area range,
   is ignored.
4. Per category, area range and maxDets: the images' detections (cut to maxDets each)
   are merged in a stable sort by score; precision is made monotone and read at 101
   recall points. Categories without annotations get -1 and are left out of the means.

Inputs are validated first (``coco_json.load_coco``): a bad entry is a ValueError naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import DataInfo, Evaluator

from .coco_json import BoxTable, load_coco
from .config import MeanAPConfig

# Exactly pycocotools' Params.setDetParams (np.arange would give slightly different values).
IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0.0, 1e5 ** 2), "small": (0.0, 32.0 ** 2),
               "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e5 ** 2)}
#: The keys of ``evaluate_coco`` in the order of ``COCOeval.stats``.
STATS_KEYS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
              "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


def _groups(image: np.ndarray, category: np.ndarray, num_images: int) -> dict:
    """Row indices of each (category, image) pair, each in input order."""
    key = category * num_images + image
    order = np.argsort(key, kind="stable")
    uniq, starts = np.unique(key[order], return_index=True)
    parts = np.split(order, starts[1:])
    return {(int(k) // num_images, int(k) % num_images): p for k, p in zip(uniq, parts)}


# -- IoU and matching -----------------------------------------------------------------------

def coco_box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """pycocotools' box IoU (``maskApi.c`` ``bbIou``), float64.

    Args:
        dt: (D, 4) detections, (x, y, w, h).
        gt: (G, 4) ground truth, (x, y, w, h).
        crowd: (G,) bool; for a crowd box the union is the detection's area.

    Returns:
        (D, G) IoU; 0 where the boxes do not overlap.
    """
    d, g = dt[:, None, :], gt[None, :, :]
    w = np.minimum(d[..., 2] + d[..., 0], g[..., 2] + g[..., 0]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 3] + d[..., 1], g[..., 3] + g[..., 1]) - np.maximum(d[..., 1], g[..., 1])
    inter = w * h
    da, ga = d[..., 2] * d[..., 3], g[..., 2] * g[..., 3]
    union = np.where(crowd[None, :], da, da + ga - inter)
    overlap = (w > 0) & (h > 0)
    return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def match_detections(ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                     dt_outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's greedy matching of one image and category, for every area range and
    IoU threshold at once.

    Args:
        ious: (D, G), detections in descending score.
        gt_ignore: (A, G) bool, per area range (crowd or area outside the range).
        gt_crowd: (G,) bool; crowd boxes can match any number of detections.
        dt_outside: (A, D) bool, detection area outside the range.

    Returns:
        matched, ignored: (A, T, D) bool, T = ``len(IOU_THRESHOLDS)``.
    """
    n_area, n_gt = gt_ignore.shape
    n_dt = ious.shape[0]
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    matched = np.zeros((n_area, len(thr), n_dt), bool)
    ignored = np.zeros_like(matched)
    if n_gt and n_dt:
        taken = np.zeros((n_area, len(thr), n_gt), bool)
        regular = ~gt_ignore[:, None, :]
        for d in np.flatnonzero(ious.max(axis=1) >= thr[0, 0]):
            row = ious[d]
            cand = (~taken | gt_crowd) & (row >= thr)
            reg = cand & regular
            pick = np.where(reg.any(-1, keepdims=True), reg, cand)  # regular first
            a, t = np.nonzero(pick.any(-1))
            if not len(a):
                continue
            score = np.where(pick[a, t], row, -1.0)
            g = n_gt - 1 - np.argmax(score[:, ::-1], axis=-1)  # the last of equal IoUs
            taken[a, t, g] = True
            matched[a, t, d] = True
            ignored[a, t, d] = gt_ignore[a, g]
    ignored |= ~matched & dt_outside[:, None, :]
    return matched, ignored


def _evaluate_image(table: BoxTable, gt_rows: np.ndarray, dt_rows: np.ndarray,
                    ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image and category → scores (D,), tp, fp (A, T, D), non-ignored gts (A,)."""
    order = np.argsort(-table.dt_scores[dt_rows], kind="mergesort")[: MAX_DETS[-1]]
    dt_rows = dt_rows[order]
    dt, gt = table.dt_boxes[dt_rows], table.gt_boxes[gt_rows]
    crowd, area = table.gt_crowd[gt_rows], table.gt_area[gt_rows]
    lo, hi = ranges[:, :1], ranges[:, 1:]
    gt_ignore = crowd[None, :] | (area < lo) | (area > hi)
    dt_area = dt[:, 2] * dt[:, 3]
    matched, ignored = match_detections(coco_box_iou(dt, gt, crowd), gt_ignore, crowd,
                                        (dt_area < lo) | (dt_area > hi))
    return (table.dt_scores[dt_rows], matched & ~ignored, ~matched & ~ignored,
            (~gt_ignore).sum(axis=1))


# -- accumulation and summary ---------------------------------------------------------------

def _accumulate(scores: list, tps: list, fps: list, npig: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """One category's images → precision (T, R, A, M) and recall (T, A, M), -1 where the
    area range has no non-ignored ground truth."""
    n_thr, n_rec, n_area = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(npig)
    precision = -np.ones((n_thr, n_rec, n_area, len(MAX_DETS)))
    recall = -np.ones((n_thr, n_area, len(MAX_DETS)))
    for m, max_det in enumerate(MAX_DETS):
        s = np.concatenate([x[:max_det] for x in scores]) if scores else np.zeros(0)
        order = np.argsort(-s, kind="mergesort")
        none = [np.zeros((n_area, n_thr, 0), bool)]  # so that no images concatenate
        tp = np.concatenate(none + [x[..., :max_det] for x in tps], axis=-1)[..., order]
        fp = np.concatenate(none + [x[..., :max_det] for x in fps], axis=-1)[..., order]
        tp_sum = np.cumsum(tp, axis=-1).astype(float)
        fp_sum = np.cumsum(fp, axis=-1).astype(float)
        for a in np.flatnonzero(npig):
            precision[:, :, a, m], recall[:, a, m] = _pr_curve(tp_sum[a], fp_sum[a], npig[a])
    return precision, recall


def _pr_curve(tp: np.ndarray, fp: np.ndarray, npig: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative tp, fp (T, N) → precision at the recall points (T, R), recall (T,)."""
    n = tp.shape[1]
    rc = tp / npig
    pr = tp / (fp + tp + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # monotone envelope
    q = np.zeros((len(tp), len(RECALL_THRESHOLDS)))
    for t in range(len(tp)):
        inds = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
        ok = inds < n
        q[t, ok] = pr[t, inds[ok]]
    return q, (rc[:, -1] if n else np.zeros(len(tp)))


def coco_precision_recall(table: BoxTable) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluate + accumulate.

    Returns:
        precision (T, R, K, A, M) and recall (T, K, A, M) as ``COCOeval.eval``: T = 10 IoU
        thresholds, R = 101 recall points, K categories, A = 4 area ranges
        (all, small, medium, large), M = 3 maxDets (1, 10, 100); -1 where a category has
        no non-ignored ground truth in the area range.
    """
    n_img = len(table.image_ids)
    ranges = np.array(list(AREA_RANGES.values()))
    gts = _groups(table.gt_image, table.gt_category, n_img)
    dts = _groups(table.dt_image, table.dt_category, n_img)
    empty = np.zeros(0, np.int64)
    shape_p = (len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(table.category_ids),
               len(ranges), len(MAX_DETS))
    precision, recall = -np.ones(shape_p), -np.ones(shape_p[:1] + shape_p[2:])
    for k in range(len(table.category_ids)):
        pairs = sorted({i for (c, i) in gts if c == k} | {i for (c, i) in dts if c == k})
        per_image = [_evaluate_image(table, gts.get((k, i), empty), dts.get((k, i), empty),
                                     ranges) for i in pairs]
        npig = sum((r[3] for r in per_image), np.zeros(len(ranges), np.int64))
        precision[:, :, k], recall[:, k] = _accumulate(
            [r[0] for r in per_image], [r[1] for r in per_image], [r[2] for r in per_image],
            npig)
    return precision, recall


def mean_present(values: np.ndarray) -> float:
    """Mean of the entries > -1 (-1 marks a category or range without ground truth);
    -1 when there are none, as pycocotools reports it."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """COCOeval.summarize: the twelve ``STATS_KEYS`` from precision and recall arrays."""
    area = {name: i for i, name in enumerate(AREA_RANGES)}

    def ap(iou=None, rng="all", max_det=100):
        s = precision if iou is None else precision[np.where(iou == IOU_THRESHOLDS)[0]]
        return mean_present(s[:, :, :, area[rng], MAX_DETS.index(max_det)])

    def ar(rng="all", max_det=100):
        return mean_present(recall[:, :, area[rng], MAX_DETS.index(max_det)])

    values = (ap(), ap(.5), ap(.75), ap(rng="small"), ap(rng="medium"), ap(rng="large"),
              ar(max_det=1), ar(max_det=10), ar(), ar("small"), ar("medium"), ar("large"))
    return dict(zip(STATS_KEYS, values))


def per_class_ap(precision: np.ndarray, iou: float | None = None) -> np.ndarray:
    """(K,) AP of each category (area all, 100 detections), at one IoU threshold or
    averaged over all; -1 for categories without ground truth."""
    s = precision if iou is None else precision[np.where(iou == IOU_THRESHOLDS)[0]]
    return np.array([mean_present(s[:, :, k, 0, -1]) for k in range(s.shape[2])])


def coco_metrics(table: BoxTable) -> dict[str, Any]:
    """``evaluate_coco`` on a validated table."""
    precision, recall = coco_precision_recall(table)
    out: dict[str, Any] = summarize(precision, recall)
    out["per_class_ap"] = dict(zip(table.category_keys, per_class_ap(precision).tolist()))
    out["per_class_ap50"] = dict(zip(table.category_keys, per_class_ap(precision, .5).tolist()))
    return out


def evaluate_coco(ground_truth: Any, detections: Any) -> dict[str, Any]:
    """COCO box AP and AR, equal to pycocotools' ``COCOeval(gt, dt, "bbox")``.

    Args:
        ground_truth: COCO dict or the path of a COCO JSON file (see ``load_coco``).
        detections: list of ``{"image_id", "category_id", "bbox", "score"}`` with bbox
            [x, y, w, h] in pixels, or the path of a JSON file holding it.

    Returns:
        ``{"ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10",
        "ar100", "ar_small", "ar_medium", "ar_large"}`` (``COCOeval.stats`` in order; -1
        where no category has ground truth), plus ``"per_class_ap"`` (AP@[.5:.95]) and
        ``"per_class_ap50"``: {category name (or id when names are missing or repeated):
        AP, -1 for categories without ground truth}.

    Raises:
        ValueError: a malformed input, naming the offending entry.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "cat"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
        ...                        "bbox": [10, 10, 50, 40], "area": 2000}]}
        >>> out = evaluate_coco(gt, [{"image_id": 1, "category_id": 1,
        ...                           "bbox": [10, 10, 50, 40], "score": 0.9}])
        >>> round(out["ap"], 9)  # COCOeval's precision is tp / (tp + fp + eps)
        1.0
    """
    return coco_metrics(load_coco(ground_truth, detections))


# -- the evaluator --------------------------------------------------------------------------

class MeanAP(Evaluator):
    """``map``: COCO AP@[.5:.95], AP50, AP75, VOC AP@0.5 and per-class AP50 of a split.

    ``update`` runs the detection postprocessing (decode, score threshold, per-class NMS)
    on each batch of model outputs and keeps every image's ground truth and detections in
    pixels of ``info.input_shape``; ``result`` evaluates them with ``evaluate_coco``'s code.
    Images without ground truth or without detections count like in COCO (their
    detections are false positives; their absence of detections costs recall).
    """

    name = "map"

    def __init__(self, config: MeanAPConfig, info: DataInfo) -> None:
        self.config = config
        self.info = info
        self.reset()

    def reset(self) -> None:
        self._gt: list[tuple[np.ndarray, np.ndarray]] = []
        self._dt: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def update(self, y_true: Any, outputs: np.ndarray) -> None:
        """Add a batch.

        Args:
            y_true: ``{"boxes": (n, M, 4) in info.box_format, "labels": (n, M) int}``,
                label -1 for padding.
            outputs: (n, S, S, B·5 + C) decoded model outputs.
        """
        from .boxes import convert_boxes
        from .postprocess import detect

        boxes, labels = np.asarray(y_true["boxes"]), np.asarray(y_true["labels"])
        outputs = np.asarray(outputs)
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:2] \
                or outputs.ndim != 4 or len(outputs) != len(boxes):
            raise ValueError(f"MeanAP.update takes boxes (n, M, 4), labels (n, M) and "
                             f"outputs (n, S, S, B*5+C) with the same n. Received: "
                             f"{boxes.shape}, {labels.shape}, {outputs.shape}")
        cfg, (h, w, _) = self.config, self.info.input_shape
        out = detect(outputs, self._num_anchors(outputs), cfg.iou_threshold,
                     cfg.score_threshold, cfg.max_detections, True)
        gt_xywh = convert_boxes(boxes, self.info.box_format or "rel_center_xywh", "xywh",
                                height=h, width=w).astype(np.float64)
        dt_xywh = convert_boxes(out["boxes"], "rel_xyxy", "xywh", height=h, width=w)
        dt_xywh = dt_xywh.astype(np.float64)
        dt_xywh[..., 2:] = np.maximum(dt_xywh[..., 2:], 0)
        for i in range(len(boxes)):
            keep = labels[i] >= 0
            self._gt.append((gt_xywh[i][keep], labels[i][keep].astype(np.int64)))
            n = int(out["counts"][i])
            self._dt.append((dt_xywh[i, :n], out["scores"][i, :n].astype(np.float64),
                             out["classes"][i, :n].astype(np.int64)))

    def _num_anchors(self, outputs: np.ndarray) -> int:
        c = self.info.num_classes
        b, rem = divmod(outputs.shape[-1] - c, 5)
        if rem or b < 1:
            raise ValueError(f"outputs with {outputs.shape[-1]} channels do not match "
                             f"B*5 + {c} classes")
        return b

    def table(self) -> BoxTable:
        """Everything seen since ``reset`` as a ``BoxTable`` (image ids 0..n-1, category
        ids 0..C-1 keyed by the class names)."""
        def cat(parts, shape, dtype):
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)

        gt_img = [np.full(len(g[1]), i) for i, g in enumerate(self._gt)]
        dt_img = [np.full(len(d[1]), i) for i, d in enumerate(self._dt)]
        gt_boxes = cat([g[0] for g in self._gt], (0, 4), np.float64)
        n_gt = len(gt_boxes)
        return BoxTable(
            image_ids=list(range(len(self._gt))),
            category_ids=list(range(self.info.num_classes)),
            category_keys=list(self.info.class_names),
            gt_image=cat(gt_img, (0,), np.int64), gt_category=cat(
                [g[1] for g in self._gt], (0,), np.int64),
            gt_boxes=gt_boxes, gt_area=gt_boxes[:, 2] * gt_boxes[:, 3],
            gt_crowd=np.zeros(n_gt, bool), gt_difficult=np.zeros(n_gt, bool),
            dt_image=cat(dt_img, (0,), np.int64),
            dt_category=cat([d[2] for d in self._dt], (0,), np.int64),
            dt_boxes=cat([d[0] for d in self._dt], (0, 4), np.float64),
            dt_scores=cat([d[1] for d in self._dt], (0,), np.float64))

    def result(self) -> dict[str, Any]:
        """``{"map50", "map", "ap75", "voc_map50", "per_class_ap50": {class: AP50}}``;
        -1 for a class without ground truth (and for the means when no class has any)."""
        from .voc_ap import voc_per_class_ap  # voc_ap builds on this module

        table = self.table()
        coco = coco_metrics(table)
        return {"map50": coco["ap50"], "map": coco["ap"], "ap75": coco["ap75"],
                "voc_map50": mean_present(voc_per_class_ap(table)),
                "per_class_ap50": coco["per_class_ap50"]}
