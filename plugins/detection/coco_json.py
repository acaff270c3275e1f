"""COCO JSON in, a validated table out: the ground truth and detections that
``metrics.evaluate_coco`` scores, as flat NumPy arrays.

``load_coco`` reads the ``instances_*.json`` layout (``images``, ``annotations``,
``categories``) and a detection list (``image_id``, ``category_id``, ``bbox``,
``score``), from dicts, lists, JSON strings or files. Every entry is checked first: a
missing key, a non-finite number, an unknown image or category id or a duplicate
annotation id is a ValueError naming the entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


# -- the validated table --------------------------------------------------------------------

@dataclass
class BoxTable:
    """Ground truth and detections of one evaluation, validated, as flat arrays.

    Images and categories are indices into ``image_ids`` (I,) and ``category_ids`` (K,),
    both sorted (pycocotools' order). Boxes are absolute (x, y, width, height), float64.

    - ground truth (G rows): ``gt_image``, ``gt_category`` (G,) int; ``gt_boxes`` (G, 4);
      ``gt_area`` (G,) (the area used for area ranges); ``gt_crowd``, ``gt_difficult``
      (G,) bool (``difficult`` only matters to VOC AP).
    - detections (D rows, input order): ``dt_image``, ``dt_category`` (D,) int;
      ``dt_boxes`` (D, 4); ``dt_scores`` (D,).
    """

    image_ids: list
    category_ids: list
    category_keys: list
    gt_image: np.ndarray
    gt_category: np.ndarray
    gt_boxes: np.ndarray
    gt_area: np.ndarray
    gt_crowd: np.ndarray
    gt_difficult: np.ndarray
    dt_image: np.ndarray
    dt_category: np.ndarray
    dt_boxes: np.ndarray
    dt_scores: np.ndarray


def load_coco(ground_truth: Any, detections: Any) -> BoxTable:
    """Read and validate COCO ground truth and detections.

    Args:
        ground_truth: a COCO dict (``images``, ``annotations``, ``categories``) or the
            path of a COCO JSON file. Annotations need ``image_id``, ``category_id`` and
            ``bbox`` [x, y, w, h] in pixels; ``area`` (default w·h), ``iscrowd``,
            ``difficult`` (VOC only) and ``id`` are optional.
        detections: a list of ``{"image_id", "category_id", "bbox", "score"}`` or the
            path of a JSON file holding one.

    Raises:
        ValueError: naming the first bad entry: an unknown image or category id, a bbox
            that is not 4 finite numbers with width, height ≥ 0, a missing field, a
            non-finite score, a duplicate annotation id.
    """
    gt = _read_json(ground_truth, "ground_truth")
    if not isinstance(gt, dict):
        raise ValueError(f"ground_truth must be a COCO dict with 'images', 'annotations' "
                         f"and 'categories'. Received: {type(gt).__name__}")
    dts = _read_json(detections, "detections")
    images = _entries(gt, "images")
    categories = _entries(gt, "categories")
    anns = _entries(gt, "annotations", optional=True)
    if not isinstance(dts, list) or not all(isinstance(d, dict) for d in dts):
        raise ValueError(f"detections must be a list of dicts with image_id, category_id, "
                         f"bbox and score. Received: {_short(dts)}")
    image_ids = _sorted_ids([_get(e, "id", "images", i) for i, e in enumerate(images)],
                            "images")
    cat_ids = _sorted_ids([_get(e, "id", "categories", i) for i, e in enumerate(categories)],
                          "categories")
    _check_unique_ids(anns)
    gt_boxes = _boxes(anns, "annotations")
    areas = np.asarray(_numbers(anns, "area", "annotations", gt_boxes[:, 2] * gt_boxes[:, 3],
                                nonnegative=True), np.float64)
    return BoxTable(
        image_ids=image_ids, category_ids=cat_ids,
        category_keys=_category_keys(categories, cat_ids),
        gt_image=_index(anns, "image_id", image_ids, "annotations", "images"),
        gt_category=_index(anns, "category_id", cat_ids, "annotations", "categories"),
        gt_boxes=gt_boxes, gt_area=areas,
        gt_crowd=_flags(anns, "iscrowd"), gt_difficult=_flags(anns, "difficult"),
        dt_image=_index(dts, "image_id", image_ids, "detections", "images"),
        dt_category=_index(dts, "category_id", cat_ids, "detections", "categories"),
        dt_boxes=_boxes(dts, "detections"),
        dt_scores=np.asarray(_numbers(dts, "score", "detections"), np.float64))


def _read_json(source: Any, what: str) -> Any:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{what}: no such file: {path}")
        with open(path, encoding="utf-8") as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{what}: {path} is not valid JSON: {exc}") from exc
    return source


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entries(gt: dict, key: str, optional: bool = False) -> list:
    if key not in gt:
        if optional:
            return []
        raise ValueError(f"ground_truth has no {key!r} list (a COCO dict needs 'images', "
                         f"'annotations' and 'categories'). Keys: {sorted(gt)}")
    items = gt[key]
    if not isinstance(items, list):
        raise ValueError(f"ground_truth[{key!r}] must be a list. Received: {_short(items)}")
    for i, e in enumerate(items):
        if not isinstance(e, dict):
            raise ValueError(f"{key}[{i}] must be a dict. Received: {_short(e)}")
    return items


def _get(entry: dict, key: str, what: str, i: int) -> Any:
    if key not in entry:
        raise ValueError(f"{what}[{i}] has no {key!r}: {_short(entry)}")
    return entry[key]


def _sorted_ids(ids: list, what: str) -> list:
    try:
        return sorted(set(ids))
    except TypeError as exc:  # unhashable or mixed types
        raise ValueError(f"{what} ids must be all integers (or all strings). Received: "
                         f"{_short(ids)}") from exc


def _check_unique_ids(anns: list) -> None:
    # COCOeval keys annotations by id: a duplicate makes it count one annotation twice
    # and drop the other. Ids are optional here (matching never needs them).
    seen: dict[Any, int] = {}
    for i, a in enumerate(anns):
        if "id" in a:
            try:
                j = seen.setdefault(a["id"], i)
            except TypeError:
                raise ValueError(f"annotations[{i}] has an unhashable id: "
                                 f"{_short(a)}") from None
            if j != i:
                raise ValueError(f"annotations[{i}] repeats id {a['id']!r} of "
                                 f"annotations[{j}]: {_short(a)}")


def _index(entries: list, key: str, ids: list, what: str, table: str) -> np.ndarray:
    lookup = {v: k for k, v in enumerate(ids)}
    out = np.empty(len(entries), np.int64)
    for i, e in enumerate(entries):
        v = _get(e, key, what, i)
        try:
            out[i] = lookup[v]
        except (KeyError, TypeError):
            raise ValueError(f"{what}[{i}] has {key} {v!r}, which is not in the ground "
                             f"truth's {table}: {_short(e)}") from None
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _numbers(entries: list, key: str, what: str, default: Any = None,
             nonnegative: bool = False) -> list:
    out = []
    for i, e in enumerate(entries):
        if key not in e and default is not None:
            out.append(default[i])
            continue
        v = _get(e, key, what, i)
        if not _is_number(v) or not np.isfinite(v) or (nonnegative and v < 0):
            need = "a finite number" + (" >= 0" if nonnegative else "")
            raise ValueError(f"{what}[{i}] has {key} {v!r}; it must be {need}: {_short(e)}")
        out.append(float(v))
    return out


def _boxes(entries: list, what: str) -> np.ndarray:
    out = np.zeros((len(entries), 4), np.float64)
    for i, e in enumerate(entries):
        b = _get(e, "bbox", what, i)
        ok = isinstance(b, (list, tuple, np.ndarray)) and len(b) == 4 \
            and all(_is_number(v) and np.isfinite(v) for v in b) and b[2] >= 0 and b[3] >= 0
        if not ok:
            raise ValueError(f"{what}[{i}] has an invalid bbox {_short(b)}: it must be "
                             f"[x, y, width, height], 4 finite numbers with width and height "
                             f">= 0: {_short(e)}")
        out[i] = b
    return out


def _flags(entries: list, key: str) -> np.ndarray:
    out = np.zeros(len(entries), bool)
    for i, e in enumerate(entries):
        v = e.get(key, 0)
        if v not in (0, 1):  # also admits False / True
            raise ValueError(f"annotations[{i}] has {key} {v!r}; it must be 0 or 1: "
                             f"{_short(e)}")
        out[i] = bool(v)
    return out


def _category_keys(categories: list, cat_ids: list) -> list:
    """Category names when every category has a distinct one, else the ids."""
    names = {c["id"]: c.get("name") for c in categories}
    keys = [names[c] for c in cat_ids]
    if all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys):
        return keys
    return list(cat_ids)
