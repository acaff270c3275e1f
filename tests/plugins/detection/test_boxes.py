"""Box formats, area, IoU and clipping against hand-computed cases."""

import itertools

import numpy as np
import pytest

from visionhooks.plugins.detection.boxes import (FORMATS, box_area, box_iou, clip_boxes,
                                                 convert_boxes)


def test_iou_hand_computed():
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3],      # inter 1, union 7
                  [0, 0, 2, 2],      # identical
                  [2, 2, 4, 4],      # touching corner
                  [0, 0, 1, 2],      # inside: 2 / 4
                  [5, 5, 6, 6],      # disjoint
                  [1, 1, 1, 1]],     # zero area inside
                 np.float32)
    np.testing.assert_allclose(box_iou(a, b)[0], [1 / 7, 1.0, 0.0, 0.5, 0.0, 0.0], rtol=1e-6)
    # degenerate pairs: empty union gives 0, not NaN
    z = np.zeros((1, 4), np.float32)
    assert box_iou(z, z)[0, 0] == 0.0


def test_iou_is_symmetric_and_bounded():
    rng = np.random.default_rng(0)
    xy = rng.random((30, 2)) * 10
    boxes = np.concatenate([xy, xy + rng.random((30, 2)) * 5], 1)
    m = box_iou(boxes, boxes)
    np.testing.assert_allclose(m, m.T, rtol=1e-6)
    np.testing.assert_allclose(np.diag(m), 1.0, rtol=1e-6)
    assert (m >= 0).all() and (m <= 1 + 1e-6).all()


def test_area_and_clip():
    np.testing.assert_allclose(box_area([[0, 0, 2, 3], [3, 3, 1, 1]]), [6, 0])
    np.testing.assert_allclose(clip_boxes([[-1, 2, 250, 120]], height=100, width=200),
                               [[0, 2, 200, 100]])
    with pytest.raises(ValueError, match="xyxy"):
        clip_boxes([[0, 0, 1, 1]], 10, 10, fmt="center_xywh")


@pytest.mark.parametrize("source,target", list(itertools.permutations(FORMATS, 2)))
def test_every_format_pair_round_trips_on_a_non_square_image(source, target):
    # a 100 (high) x 200 (wide) image: a height/width swap would show (keras#22805)
    h, w = 100, 200
    xyxy = np.array([[20, 10, 60, 50], [0, 0, 200, 100], [150, 30, 170, 90]], np.float32)
    src = convert_boxes(xyxy, "xyxy", source, height=h, width=w)
    out = convert_boxes(convert_boxes(src, source, target, height=h, width=w), target, "xyxy",
                        height=h, width=w)
    np.testing.assert_allclose(out, xyxy, atol=1e-4)


def test_seed_format_is_relative_center():
    # the seed: center x, y, width, height relative to the image, top-left origin
    out = convert_boxes([[50, 25, 150, 75]], "xyxy", "rel_center_xywh", height=100, width=200)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.5, 0.5]])
    out = convert_boxes([[0, 0, 20, 10]], "xyxy", "rel_center_xywh", height=100, width=200)
    np.testing.assert_allclose(out, [[0.05, 0.05, 0.1, 0.1]])


def test_conversion_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown box format.*Valid formats: xyxy"):
        convert_boxes([[0, 0, 1, 1]], "yxyx2", "xyxy")
    with pytest.raises(ValueError, match="height and width"):
        convert_boxes([[0, 0, 1, 1]], "rel_xyxy", "xyxy")
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        convert_boxes([[0, 0, 1]], "xyxy", "xywh")


def test_pad_targets_pads_per_image_lists_with_label_minus_one():
    from visionhooks.errors import DataError
    from visionhooks.plugins.detection import pad_targets

    out = pad_targets([[[0.5, 0.5, 0.2, 0.2]], [], [[0.1, 0.1, 0.1, 0.1], [0.7, 0.7, 0.2, 0.3]]],
                      [[1], [], [0, 2]])
    assert out["boxes"].shape == (3, 2, 4) and out["boxes"].dtype == np.float32
    np.testing.assert_array_equal(out["labels"], [[1, -1], [-1, -1], [0, 2]])
    np.testing.assert_allclose(out["boxes"][2, 1], [0.7, 0.7, 0.2, 0.3])
    assert pad_targets([[[0, 0, 1, 1]]], [[0]], max_boxes=4)["labels"].shape == (1, 4)
    with pytest.raises(DataError, match="an image has 2 boxes, more than max_boxes=1"):
        pad_targets([[[0, 0, 1, 1], [0, 0, 1, 1]]], [[0, 1]], max_boxes=1)
    with pytest.raises(DataError, match=r"image 0: 1 boxes but labels of shape \(2,\)"):
        pad_targets([[[0, 0, 1, 1]]], [[0, 1]])
    with pytest.raises(DataError, match=r"image 0: boxes must be \(k, 4\). Received: "
                                        r"shape=\(1, 8\)"):  # not two boxes
        pad_targets([[[0, 0, 1, 1, 0, 0, 1, 1]]], [[0, 1]])
    with pytest.raises(DataError, match="image 0: labels must be integer class ids"):
        pad_targets([[[0, 0, 1, 1]]], [[1.7]])
