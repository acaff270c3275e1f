"""Drawing: valid PNGs of the expected size, box pixels coloured where the box is
(non-square images), padding not drawn, grids and the NMS figure."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionhooks.plugins.detection import draw

W, H = 100, 60  # non-square on purpose


def png(path) -> Image.Image:
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.convert("RGB")


def test_box_pixels_are_coloured_where_the_box_is(tmp_path):
    black = np.zeros((H, W, 3), np.float32)
    box = [[0.2, 0.25, 0.6, 0.75]]  # rel_xyxy: x 20..60, y 15..45 px
    im = draw.draw_detections(black, box, [3], class_names=list("abcd"),
                              path=tmp_path / "d.png", box_format="rel_xyxy", scale=1,
                              show_labels=False)
    a = np.asarray(png(tmp_path / "d.png"))
    assert a.shape == (H, W, 3) and im.size == (W, H)
    c = draw.color_for(3)
    for x, y in [(20, 30), (59, 30), (40, 15), (40, 44), (20, 15), (59, 44)]:
        assert tuple(a[y, x]) == c, (x, y)
    assert (a[17:43, 22:58] == 0).all()  # inside stays black
    mask = (a != 0).any(-1)
    assert not mask[:15].any() and not mask[46:].any()  # nothing outside the box
    assert not mask[:, :20].any() and not mask[:, 60:].any()


def test_center_format_and_absolute_format_draw_the_same(tmp_path):
    img = np.zeros((H, W), np.float32)
    a = draw.draw_detections(img, [[0.4, 0.5, 0.4, 0.5]], [0], scale=1, show_labels=False)
    b = draw.draw_detections(img, [[20, 15, 60, 45]], [0], box_format="xyxy", scale=1,
                             show_labels=False)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_labels_upscale_padding_and_input_kinds(tmp_path):
    img = np.zeros((96, 96, 1), np.float32)
    boxes = [[0.5, 0.5, 0.3, 0.3], [0.1, 0.1, 0.1, 0.1]]
    im = draw.draw_detections(img, boxes, [7, -1], scores=[0.87, 0.5],
                              class_names=[str(i) for i in range(10)], path=tmp_path / "l.png")
    assert im.size == (288, 288) == png(tmp_path / "l.png").size  # auto upscale to >= 256
    a = np.asarray(im)
    c = np.asarray(draw.color_for(7))
    # the label sits on a filled strip of the class colour just above the box (y = 100)
    strip = a[85:100, 101:140]
    assert (strip == c).all(-1).mean() > 0.3
    assert ((strip != c).any(-1) & (strip != 0).any(-1)).any()  # with text on it
    # the padded box (class -1) near the top-left corner is not drawn
    assert (a[:40, :40] == 0).all()
    u8 = draw.draw_detections(np.zeros((20, 30), np.uint8), [[0.5, 0.5, 0.5, 0.5]], [1],
                              scale=2)
    assert u8.size == (60, 40)
    with pytest.raises(ValueError, match="one entry per box"):
        draw.draw_detections(img, boxes, [1])


def test_detections_grid(tmp_path):
    n = 5
    images = np.random.default_rng(0).random((n, 32, 48, 1)).astype(np.float32) * 0.2
    dets = {"boxes": np.tile([[[0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]]], (n, 1, 1)),
            "classes": np.tile([[2, -1]], (n, 1)), "scores": np.tile([[0.9, 0]], (n, 1)),
            "counts": np.ones(n, np.int32)}
    gt = {"boxes": np.tile([[[0.25, 0.25, 0.2, 0.2]]], (n, 1, 1)),
          "labels": np.full((n, 1), 4, np.int32)}
    im = draw.detections_grid(images, dets, list("abcde"), tmp_path / "g.png", cols=2,
                              ground_truth=gt, scale=3)
    tw, th = 48 * 3, 32 * 3
    assert im.size == (2 * tw + 4, 3 * th + 2 * 4) == png(tmp_path / "g.png").size
    a = np.asarray(im)
    assert tuple(a[th + 4 + th // 2, tw + 4 + tw // 4]) == draw.color_for(2)  # left edge
    gt_left = int(round(0.15 * 48 * 3))  # ground truth: thin white, first tile
    assert tuple(a[int(0.25 * th), gt_left]) == draw.GT_COLOR
    # a list of per-image records works too
    draw.detections_grid(images[:2], [{"boxes": [[0.5, 0.5, 0.2, 0.2]], "classes": [1]},
                                      {"boxes": np.zeros((0, 4)), "classes": []}],
                         None, tmp_path / "g2.png")
    assert png(tmp_path / "g2.png").size[0] > 2 * 48


def test_nms_figure(tmp_path):
    img = np.zeros((H, W, 3), np.float32)
    before = {"boxes": [[0.4, 0.5, 0.4, 0.5], [0.42, 0.5, 0.4, 0.5]], "classes": [1, 1],
              "scores": [0.9, 0.6]}
    after = {"boxes": [[[0.4, 0.5, 0.4, 0.5]]], "classes": [[1]], "scores": [[0.9]]}
    fig = draw.nms_figure(img, before, after, ["x", "y"], tmp_path / "nms.png", scale=2)
    out = png(tmp_path / "nms.png")
    assert out.size == fig.size and out.size[0] == 2 * 2 * W + 8 and out.size[1] > 2 * H
    a = np.asarray(out)
    head = out.size[1] - 2 * H
    left, right = a[head:, :2 * W], a[head:, 2 * W + 8:]
    c = np.asarray(draw.color_for(1))
    # two boxes before, one after: more box-coloured pixels on the left
    assert (left == c).all(-1).sum() > (right == c).all(-1).sum() > 0
    assert (a[:head] != 255).any()  # the titles
