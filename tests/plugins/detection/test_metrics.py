"""mAP: ``evaluate_coco`` against pycocotools' COCOeval, VOC AP by hand, the ``map`` evaluator.

pycocotools is only a reference here (never a runtime dependency); its tests are skipped
when it is not installed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from visionhooks import DataInfo
from visionhooks.plugins.detection.config import MeanAPConfig
from visionhooks.plugins.detection.metrics import STATS_KEYS, MeanAP, evaluate_coco
from visionhooks.plugins.detection.voc_ap import voc_ap50, voc_average_precision


def cocoeval(gt: dict, dts: list):
    """pycocotools' COCOeval (bbox) run quietly; returns the evaluated object."""
    # a test dependency (pyproject's `test` extra): the reference must run, never skip
    import pycocotools.coco as coco_mod
    import pycocotools.cocoeval as eval_mod
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_mod.COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dts))
        ev = eval_mod.COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_same_as_cocoeval(gt: dict, dts: list) -> dict:
    ours = evaluate_coco(gt, dts)
    ev = cocoeval(gt, dts)
    for key, ref in zip(STATS_KEYS, ev.stats):
        assert ours[key] == pytest.approx(ref, abs=1e-9), key
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for k, cat_id in enumerate(ev.params.catIds):
        for key, p in (("per_class_ap", ev.eval["precision"][:, :, k, 0, 2]),
                       ("per_class_ap50", ev.eval["precision"][0, :, k, 0, 2])):
            ref = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
            assert ours[key][names[cat_id]] == pytest.approx(ref, abs=1e-9), (key, cat_id)
    return ours


def one_box(gt_box, dt_box, area=None, iscrowd=0):
    gt = {"images": [{"id": 1, "width": 640, "height": 480}],
          "categories": [{"id": 1, "name": "thing"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": gt_box,
                           "area": area or gt_box[2] * gt_box[3], "iscrowd": iscrowd}]}
    return gt, [{"image_id": 1, "category_id": 1, "bbox": dt_box, "score": 0.9}]


# -- hand-made cases ------------------------------------------------------------------------

def test_one_perfect_detection():
    gt, dts = one_box([10, 20, 50, 40], [10, 20, 50, 40])
    out = assert_same_as_cocoeval(gt, dts)
    # precision is tp / (tp + fp + eps) in COCOeval, so "1" is 1 - 2e-16
    for key in ("ap", "ap50", "ap75", "ap_medium", "ar1", "ar100"):
        assert out[key] == pytest.approx(1.0, abs=1e-12), key
    assert out["ap_small"] == out["ap_large"] == -1.0  # no ground truth in those ranges
    assert out["per_class_ap"] == pytest.approx({"thing": 1.0})


def test_detection_at_iou_0_6():
    gt, dts = one_box([0, 0, 100, 100], [0, 0, 100, 60])  # IoU 6000 / 10000
    out = assert_same_as_cocoeval(gt, dts)
    assert out["ap50"] == pytest.approx(1.0) and out["ap75"] == 0.0
    assert 0.0 < out["ap"] < 1.0


def test_detection_on_a_crowd_is_ignored_and_crowd_is_no_false_negative():
    gt, dts = one_box([0, 0, 200, 200], [10, 10, 30, 30], iscrowd=1)
    gt["annotations"].append({"id": 2, "image_id": 1, "category_id": 1,
                              "bbox": [300, 300, 50, 50], "area": 2500, "iscrowd": 0})
    dts.append({"image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 0.5})
    out = assert_same_as_cocoeval(gt, dts)
    assert out["ap"] == pytest.approx(1.0)  # the higher-scored detection on the crowd is free


def test_no_detections_and_categories_without_ground_truth():
    gt, _ = one_box([10, 20, 50, 40], [0, 0, 1, 1])
    gt["categories"].append({"id": 2, "name": "other"})
    out = evaluate_coco(gt, [])  # pycocotools' loadRes cannot take an empty list
    assert out["ap"] == out["ap50"] == out["ar100"] == 0.0
    assert out["per_class_ap"] == {"thing": 0.0, "other": -1.0}
    dts = [{"image_id": 1, "category_id": 2, "bbox": [10, 20, 50, 40], "score": 0.3}]
    out = assert_same_as_cocoeval(gt, dts)
    assert out["per_class_ap50"] == {"thing": 0.0, "other": -1.0}


def test_optional_area_and_iscrowd_default_to_box_area_and_zero():
    gt, dts = one_box([0, 0, 100, 100], [0, 0, 100, 70])
    bare = copy.deepcopy(gt)
    for a in bare["annotations"]:
        del a["area"], a["iscrowd"], a["id"]
    assert evaluate_coco(bare, dts) == evaluate_coco(gt, dts)


def test_category_ids_key_per_class_when_names_repeat():
    gt, dts = one_box([0, 0, 100, 100], [0, 0, 100, 100])
    gt["categories"].append({"id": 5, "name": "thing"})
    assert set(evaluate_coco(gt, dts)["per_class_ap"]) == {1, 5}


# -- random scenes against COCOeval ---------------------------------------------------------

def random_scenes(seed: int, num_images: int = 50) -> tuple[dict, list]:
    """Scenes with every case COCOeval distinguishes: small/medium/large boxes (area
    sometimes unlike w·h, as for segment areas), crowds, jittered/duplicate/missed/
    mislabeled detections, false positives, tied scores, >100 detections in an image,
    images with no ground truth or no detections, a category with no ground truth."""
    rng = np.random.default_rng(seed)
    cat_ids = [1, 3, 7, 10, 12][: int(rng.integers(3, 6))]
    gt = {"images": [{"id": int(i), "width": 640, "height": 480}
                     for i in rng.permutation(np.arange(100, 100 + num_images))],
          "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids], "annotations": []}
    dts: list[dict] = []

    def box(size):
        w, h = size * rng.uniform(0.5, 1.5, 2)
        return [float(rng.uniform(0, 600)), float(rng.uniform(0, 440)), float(w), float(h)]

    def det(img, cat, b, score=None):
        score = float(np.round(rng.uniform(0, 1), 2)) if score is None else score
        dts.append({"image_id": img, "category_id": cat, "bbox": b, "score": score})

    for n, img in enumerate(im["id"] for im in gt["images"]):
        for _ in range(int(rng.integers(0, 8)) if n % 10 else 0):
            cat = int(rng.choice(cat_ids[:-1]))  # the last category never has ground truth
            b = box(float(rng.choice([12.0, 24, 45, 70, 120, 200])))
            crowd = int(rng.uniform() < 0.08)
            area = b[2] * b[3] * (rng.uniform(0.5, 1.0) if rng.uniform() < 0.3 else 1.0)
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": img,
                                      "category_id": cat, "bbox": b, "area": float(area),
                                      "iscrowd": crowd})
            if n % 10 == 1:
                continue  # an image whose objects are all missed
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):  # missed, found, duplicates
                jit = rng.normal(0, 0.12, 4) * [b[2], b[3], b[2], b[3]]
                label = cat if rng.uniform() > 0.1 else int(rng.choice(cat_ids))
                det(img, label, [b[0] + jit[0], b[1] + jit[1], max(b[2] + jit[2], 0.0),
                                 max(b[3] + jit[3], 0.0)])
        for _ in range(int(rng.integers(0, 12))):  # false positives, some on empty images
            det(img, int(rng.choice(cat_ids)), box(float(rng.choice([10.0, 40, 150]))))
    heavy = gt["annotations"][0]  # >100 detections of one image and category, tied scores
    for _ in range(120):
        det(heavy["image_id"], heavy["category_id"],
            [heavy["bbox"][0] + float(rng.normal(0, 5)), heavy["bbox"][1], heavy["bbox"][2],
             heavy["bbox"][3]], score=float(rng.choice([0.3, 0.5, 0.7])))
    order = rng.permutation(len(dts))
    return gt, [dts[i] for i in order]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_scenes_equal_cocoeval(seed):
    gt, dts = random_scenes(seed)
    out = assert_same_as_cocoeval(gt, dts)
    assert 0 < out["ap"] < out["ap50"] < 1
    assert {"ap_small", "ap_medium", "ap_large"} <= set(out)
    assert all(out[k] > -1 for k in ("ap_small", "ap_medium", "ap_large"))
    assert min(out["per_class_ap"].values()) == -1.0  # the category without ground truth


def test_integer_boxes_and_exact_threshold_ties_equal_cocoeval():
    # IoUs exactly on thresholds (0.5, 0.75, ...) and areas exactly on the area-range
    # bounds (32², 96²) on an integer grid, many equal scores.
    rng = np.random.default_rng(7)
    gt = {"images": [{"id": i} for i in range(1, 31)], "categories": [{"id": 1, "name": "a"},
                                                                       {"id": 2, "name": "b"}],
          "annotations": []}
    dts = []
    for img in range(1, 31):
        for _ in range(int(rng.integers(1, 5))):
            x, y = (int(v) for v in rng.integers(0, 400, 2))
            cat, size = int(rng.integers(1, 3)), int(rng.choice([32, 40, 96]))
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": img,
                                      "category_id": cat, "bbox": [x, y, size, size],
                                      "area": size * size, "iscrowd": 0})
            for f in rng.choice([1, 0.75, 0.5, 0.9, 0.95, 0.25], size=int(rng.integers(0, 4))):
                dts.append({"image_id": img, "category_id": cat,
                            "bbox": [x, y, size, int(round(size * f))],
                            "score": float(rng.choice([0.5, 0.6]))})
    assert_same_as_cocoeval(gt, dts)


def test_equal_ious_go_to_the_later_ground_truth():
    # The first detection overlaps both boxes with IoU 0.6 exactly; COCOeval gives it the
    # later box, which leaves the earlier one to the second detection.
    gt, dts = one_box([0, 0, 10, 10], [2.5, 0, 10, 10])
    gt["annotations"].append({"id": 2, "image_id": 1, "category_id": 1,
                              "bbox": [5, 0, 10, 10], "area": 100, "iscrowd": 0})
    dts.append({"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.8})
    assert assert_same_as_cocoeval(gt, dts)["ap50"] == pytest.approx(1.0)


# -- paths and bad inputs -------------------------------------------------------------------

def test_json_paths(tmp_path):
    gt, dts = random_scenes(5, num_images=12)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dts))
    expected = evaluate_coco(gt, dts)
    assert evaluate_coco(tmp_path / "gt.json", str(tmp_path / "dt.json")) == expected
    with pytest.raises(ValueError, match="no such file"):
        evaluate_coco(tmp_path / "missing.json", dts)


@pytest.mark.parametrize("where, change, message", [
    ("dt", {"image_id": 999}, r"detections\[1\] has image_id 999, which is not in"),
    ("dt", {"category_id": 4}, r"detections\[1\] has category_id 4"),
    ("dt", {"bbox": [1.0, float("nan"), 3.0, 4.0]}, r"detections\[1\] has an invalid bbox"),
    ("dt", {"bbox": [1, 2, 3]}, r"detections\[1\] has an invalid bbox"),
    ("dt", {"score": float("nan")}, r"detections\[1\] has score nan"),
    ("dt", {"score": None}, r"detections\[1\] has score None"),
    ("gt", {"bbox": [0, 0, -5, 10]}, r"annotations\[1\] has an invalid bbox \[0, 0, -5, 10\]"),
    ("gt", {"image_id": "x"}, r"annotations\[1\] has image_id 'x'"),
    ("gt", {"id": 1}, r"annotations\[1\] repeats id 1 of annotations\[0\]"),
    ("gt", {"iscrowd": 2}, r"annotations\[1\] has iscrowd 2"),
    ("gt", {"area": -1}, r"annotations\[1\] has area -1"),
])
def test_bad_entries_raise_naming_them(where, change, message):
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [0, 0, 10, 10]}
                          for i in (1, 2)]}
    dts = [{"image_id": i, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}
           for i in (1, 2)]
    (dts if where == "dt" else gt["annotations"])[1].update(change)
    with pytest.raises(ValueError, match=message):
        evaluate_coco(gt, dts)


def test_missing_fields_raise():
    with pytest.raises(ValueError, match="no 'categories'"):
        evaluate_coco({"images": [], "annotations": []}, [])
    gt, dts = one_box([0, 0, 10, 10], [0, 0, 10, 10])
    del dts[0]["score"]
    with pytest.raises(ValueError, match=r"detections\[0\] has no 'score'"):
        evaluate_coco(gt, dts)


# -- Pascal VOC -----------------------------------------------------------------------------

def test_voc_ap50_by_hand():
    # class "a": 3 boxes to find (+1 difficult). Ranked detections: TP, duplicate (FP),
    # on the difficult box (ignored), TP, far away (FP) → precision/recall points
    # (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2): AP = 1/3·1 + 1/3·2/3 = 5/9.
    # class "b": one perfect detection → 1. Class "c": no ground truth → -1, left out.
    ann = [(1, 1, [0, 0, 10, 10], 0), (1, 1, [20, 20, 10, 10], 0), (2, 1, [0, 0, 10, 10], 0),
           (2, 1, [50, 50, 10, 10], 1), (2, 2, [5, 5, 20, 20], 0)]
    gt = {"images": [{"id": 1}, {"id": 2}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
          "annotations": [{"id": i + 1, "image_id": im, "category_id": c, "bbox": b,
                           "difficult": d} for i, (im, c, b, d) in enumerate(ann)]}
    dts = [{"image_id": im, "category_id": c, "bbox": b, "score": s} for im, c, b, s in [
        (1, 1, [0, 0, 10, 10], 0.9), (1, 1, [1, 0, 10, 10], 0.8), (2, 1, [50, 50, 10, 10], 0.7),
        (2, 1, [0, 1, 10, 10], 0.6), (1, 1, [200, 200, 10, 10], 0.5), (2, 2, [5, 5, 20, 20], 0.4),
        (1, 3, [0, 0, 5, 5], 0.3)]]
    out = voc_ap50(gt, dts)
    assert out["per_class_voc_ap50"] == pytest.approx({"a": 5 / 9, "b": 1.0, "c": -1.0})
    assert out["voc_ap50"] == pytest.approx(7 / 9)


def test_voc_average_precision_all_points():
    # precision 1 up to recall 0.5, then 0.5 up to recall 1 (envelope of a dip).
    rec = np.array([0.25, 0.5, 0.5, 0.75, 1.0])
    prec = np.array([1.0, 1.0, 0.4, 0.5, 0.5])
    assert voc_average_precision(rec, prec) == pytest.approx(0.5 + 0.5 * 0.5)
    assert voc_average_precision(np.zeros(0), np.zeros(0)) == 0.0


# -- the map evaluator ----------------------------------------------------------------------

INFO = DataInfo(task="detection", input_shape=(96, 128, 3), num_classes=3,
                class_names=("zero", "one", "two"), box_format="rel_center_xywh", max_boxes=4)
GRID, ANCHORS = 4, 2


def scene_batch():
    """Targets (rel_center_xywh, padded) and matching decoded outputs: one box per cell,
    predictor 0 with confidence 1 and a one-hot class; image 2 has no objects."""
    objects = [[(0.2, 0.2, 0.3, 0.25, 0), (0.7, 0.6, 0.2, 0.5, 2)],
               [(0.55, 0.35, 0.4, 0.3, 0)],
               []]
    boxes = np.zeros((3, 4, 4), np.float32)
    labels = -np.ones((3, 4), np.int32)
    outputs = np.zeros((3, GRID, GRID, ANCHORS * 5 + 3), np.float32)
    for i, objs in enumerate(objects):
        for j, (x, y, w, h, c) in enumerate(objs):
            boxes[i, j], labels[i, j] = (x, y, w, h), c
            row, col = int(y * GRID), int(x * GRID)
            outputs[i, row, col, :5] = (x, y, w, h, 1.0)
            outputs[i, row, col, ANCHORS * 5 + c] = 1.0
    return {"boxes": boxes, "labels": labels}, outputs


def test_map_exact_detections_score_one():
    y, outputs = scene_batch()
    ev = MeanAP(MeanAPConfig(), INFO)
    ev.update({k: v[:2] for k, v in y.items()}, outputs[:2])
    ev.update({k: v[2:] for k, v in y.items()}, outputs[2:])  # an image without objects
    out = ev.result()
    assert out["map50"] == out["map"] == out["ap75"] == pytest.approx(1.0)
    assert out["voc_map50"] == pytest.approx(1.0)
    assert out["per_class_ap50"] == pytest.approx({"zero": 1.0, "one": -1.0, "two": 1.0})
    table = ev.table()  # pixels of the 96×128 (h×w) input, (x, y, w, h)
    np.testing.assert_allclose(table.gt_boxes[0], [0.05 * 128, 0.075 * 96, 0.3 * 128, 0.25 * 96],
                               rtol=1e-6)


def test_map_absolute_box_format_and_reset():
    y, outputs = scene_batch()
    info = INFO.model_copy(update={"box_format": "xyxy"})
    h, w = INFO.input_shape[:2]
    b = y["boxes"]
    y = {"boxes": np.stack([(b[..., 0] - b[..., 2] / 2) * w, (b[..., 1] - b[..., 3] / 2) * h,
                            (b[..., 0] + b[..., 2] / 2) * w, (b[..., 1] + b[..., 3] / 2) * h],
                           -1), "labels": y["labels"]}
    ev = MeanAP(MeanAPConfig(), info)
    ev.update(y, outputs)
    assert ev.result()["map50"] == pytest.approx(1.0)
    ev.reset()
    ev.update(y, np.zeros_like(outputs))  # no detections at all
    out = ev.result()
    assert out["map50"] == out["map"] == out["voc_map50"] == 0.0


def test_map_without_data_or_with_bad_outputs():
    ev = MeanAP(MeanAPConfig(), INFO)
    assert ev.result()["map"] == -1.0  # nothing seen: no class has ground truth
    y, outputs = scene_batch()
    with pytest.raises(ValueError, match="channels"):
        ev.update(y, outputs[..., :-1])
