"""The YOLO loss and its on-device target assignment, against the seed's rules and
hand-computed values; encoding → decoding round-trips boxes."""

import numpy as np
import pytest

from visionhooks.plugins.detection.loss import YOLOLoss, assign, encode
from visionhooks.plugins.detection.postprocess import detect

ANCHORS = [[0.1, 0.3], [0.3, 0.1]]  # one tall, one wide


def packed(objects, m=4):
    """[(cx, cy, w, h, label), ...] per image → (N, m, 5), padding label -1."""
    out = np.zeros((len(objects), m, 5), np.float32)
    out[..., 4] = -1
    for i, objs in enumerate(objects):
        for j, o in enumerate(objs):
            out[i, j] = o
    return out


def test_object_goes_to_its_center_cell_and_best_anchor():
    y = packed([[(0.55, 0.3, 0.08, 0.25, 1), (0.15, 0.85, 0.3, 0.12, 0)]])
    slot, cell, resp, owner = (np.asarray(a) for a in assign(y, (4, 4), np.array(ANCHORS)))
    # center (0.55, 0.3) on a 4x4 grid: row 1, col 2 -> cell 6; tall box -> anchor 0
    assert cell[0, 0] == 6 and slot[0, 0] == 6 * 2 + 0
    # center (0.15, 0.85): row 3, col 0 -> cell 12; wide box -> anchor 1
    assert cell[0, 1] == 12 and slot[0, 1] == 12 * 2 + 1
    assert resp[0, :2].all() and not resp[0, 2:].any() and owner[0, :2].all()


def test_two_objects_in_one_cell_and_predictor_keep_the_larger():
    y = packed([[(0.3, 0.3, 0.05, 0.2, 0), (0.31, 0.32, 0.08, 0.25, 1),
                 (0.3, 0.3, 0.08, 0.25, 2)]])
    _, _, resp, owner = (np.asarray(a) for a in assign(y, (4, 4), np.array(ANCHORS)))
    # objects 1 and 2 tie on area: the earlier (1) wins; 0 is smaller
    assert resp[0].tolist() == [False, True, False, False]
    assert owner[0].tolist() == [False, True, False, False]


def test_perfect_prediction_has_zero_loss_and_decodes_to_the_targets():
    rng = np.random.default_rng(0)
    objects = []
    for _ in range(6):
        objs = []
        for k in range(rng.integers(0, 4)):
            # one object per cell (distinct rows) so none is dropped
            objs.append((rng.uniform(0.05, 0.2) + 0.25 * k, rng.uniform(0.05, 0.95),
                         rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), rng.integers(0, 3)))
        objects.append(objs)
    y = packed(objects)
    perfect = np.asarray(encode(y, (4, 4), ANCHORS, 3))
    loss = YOLOLoss(ANCHORS, 3)
    terms = {k: np.asarray(v) for k, v in loss.terms(y, perfect).items()}
    for name, value in terms.items():
        np.testing.assert_allclose(value, 0.0, atol=1e-6, err_msg=name)
    det = detect(perfect, 2, iou_threshold=0.99, score_threshold=0.5)
    for i, objs in enumerate(objects):
        assert det["counts"][i] == len(objs)
        got = det["boxes"][i, : len(objs)]
        want = np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                         for cx, cy, w, h, _ in objs]).reshape(-1, 4)
        want = np.clip(want, 0.0, 1.0)  # detections are clipped to the image
        order = np.lexsort(want.T[::-1]), np.lexsort(got.T[::-1])
        np.testing.assert_allclose(got[order[1]], want[order[0]], atol=1e-6)
        assert sorted(det["classes"][i, : len(objs)].tolist()) == sorted(o[4] for o in objs)


def test_loss_value_by_hand():
    """One object, one deliberately wrong prediction: every term computed by hand."""
    y = packed([[(0.375, 0.625, 0.16, 0.25, 1)]], m=1)  # 2x2 grid: row 1, col 0 -> cell 2
    pred = np.asarray(encode(y, (2, 2), ANCHORS, 2)).copy()
    # responsible predictor: cell 2, anchor 0 (tall) -> channels 0..4 of cell (1, 0)
    pred[0, 1, 0, 0:5] = [0.425, 0.6, 0.25, 0.16, 0.6]   # x off by .05, y by .025
    pred[0, 0, 0, 4] = 0.2          # a no-object predictor with confidence .2
    pred[0, 1, 0, 10:12] = [0.3, 0.7]  # class probs of the object's cell (true class 1)
    t = {k: float(np.asarray(v)[0]) for k, v in YOLOLoss(ANCHORS, 2).terms(y, pred).items()}
    assert t["localization"] == pytest.approx(5 * ((0.05 * 2) ** 2 + (0.025 * 2) ** 2), rel=1e-5)
    assert t["size"] == pytest.approx(5 * ((0.4 - 0.5) ** 2 + (0.5 - 0.4) ** 2), rel=1e-5)
    assert t["object"] == pytest.approx((1 - 0.6) ** 2, rel=1e-5)
    assert t["no_object"] == pytest.approx(0.5 * 0.2 ** 2, rel=1e-5)
    assert t["class"] == pytest.approx(0.3 ** 2 + 0.3 ** 2, rel=1e-5)
    ce = YOLOLoss(ANCHORS, 2, class_loss="crossentropy").terms(y, pred)["class"]
    assert float(np.asarray(ce)[0]) == pytest.approx(-np.log(0.7), rel=1e-5)


def test_empty_images_only_penalise_confidence():
    y = packed([[]])
    pred = np.zeros((1, 2, 2, 12), np.float32)
    pred[..., 4] = 0.5
    pred[..., 9] = 0.5
    t = YOLOLoss(ANCHORS, 2).terms(y, pred)
    assert float(np.asarray(t["no_object"])[0]) == pytest.approx(0.5 * 8 * 0.25)
    for k in ("localization", "size", "object", "class"):
        assert float(np.asarray(t[k])[0]) == 0.0


def test_config_round_trip():
    loss = YOLOLoss(ANCHORS, 3, lambda_coord=2.0, class_loss="crossentropy",
                    confidence_target="iou")
    again = YOLOLoss.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
