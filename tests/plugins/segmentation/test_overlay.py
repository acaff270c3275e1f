"""Overlays: valid PNGs of the expected size, class colours exactly where the mask is
(non-square images), background untouched, legends, grids of image / truth / prediction."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionhooks.plugins.segmentation import overlay

H, W = 20, 30  # non-square on purpose


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return np.asarray(im.convert("RGB"))


def two_regions() -> np.ndarray:
    m = np.zeros((H, W), np.int64)
    m[2:8, 3:12] = 1
    m[10:18, 15:28] = 2
    return m


def test_colours_exactly_where_the_mask_is(tmp_path):
    black = np.zeros((H, W, 3), np.float32)
    m = two_regions()
    im = overlay.overlay_masks(black, m, alpha=0.5, path=tmp_path / "o.png", scale=1)
    a = png(tmp_path / "o.png")
    assert a.shape == (H, W, 3) and im.size == (W, H)
    for c in (1, 2):
        half = np.round(np.array(overlay.color_for(c)) * 0.5)
        assert (a[m == c] == half).all()
    assert (a[m == 0] == 0).all()  # background untouched
    assert overlay.color_for(1) != overlay.color_for(2)


def test_upscaled_with_full_colour_outlines(tmp_path):
    grey = np.full((H, W), 0.5, np.float32)  # (H, W) grayscale input
    m = two_regions()
    overlay.overlay_masks(grey, m[..., None], path=tmp_path / "o.png")  # (H, W, 1) mask
    a = png(tmp_path / "o.png")
    k = overlay.auto_scale(H, W)
    assert k > 1 and a.shape == (H * k, W * k, 3) and min(a.shape[:2]) >= overlay.MIN_SIDE
    big = np.repeat(np.repeat(m, k, 0), k, 1)
    assert (a[big == 0] == 128).all()
    assert (a[big > 0] != 128).any(-1).all()  # every mask pixel coloured
    assert tuple(a[2 * k, 3 * k]) == overlay.color_for(1)  # corner: boundary, full colour
    inside = a[5 * k, 7 * k]
    blended = np.round(0.5 * 128 + 0.5 * np.array(overlay.color_for(1)))
    assert np.abs(inside.astype(int) - blended).max() <= 1


def test_legend_only_with_class_names_and_only_present_classes(tmp_path):
    img = np.zeros((H, W, 3), np.uint8)
    m = two_regions()
    plain = overlay.overlay_masks(img, m, scale=2)
    named = overlay.overlay_masks(img, m, ["bg", "roof", "road", "car"], scale=2,
                                  path=tmp_path / "l.png")
    assert plain.size == (2 * W, 2 * H)
    assert named.width == 2 * W and named.height > 2 * H
    assert png(tmp_path / "l.png").shape[:2] == (named.height, named.width)
    legend = np.asarray(named)[2 * H:]
    assert (legend == overlay.color_for(1)).all(-1).any()
    assert (legend == overlay.color_for(2)).all(-1).any()
    assert not (legend == overlay.color_for(3)).all(-1).any()  # "car" is absent


def test_bad_masks_are_refused():
    img = np.zeros((H, W), np.float32)
    with pytest.raises(ValueError, match="differ in size"):
        overlay.overlay_masks(img, np.zeros((W, H), np.int32))
    with pytest.raises(ValueError, match="integer class ids"):
        overlay.overlay_masks(img, np.full((H, W), 0.3, np.float32))
    with pytest.raises(ValueError, match="alpha"):
        overlay.overlay_masks(img, np.zeros((H, W), np.int32), alpha=2)
    with pytest.raises(ValueError, match="background"):
        overlay.color_for(0)


def test_grid_rows_image_truth_prediction(tmp_path):
    n, cols, k, gap = 5, 2, 2, 4
    images = np.zeros((n, H, W, 1), np.float32)
    truth = np.stack([two_regions()] * n)
    pred = np.zeros_like(truth)
    pred[:, 0:5, 0:5] = 3
    g = overlay.segmentation_grid(images, truth, pred, ["bg", "a", "b", "c"],
                                  tmp_path / "g.png", cols=cols, scale=k)
    a = png(tmp_path / "g.png")
    assert a.shape[:2] == (g.height, g.width)
    tw, th = W * k, H * k
    margin = g.width - (cols * tw + (cols - 1) * gap)
    assert margin > 0  # row titles on the left
    band_h = 3 * th + 2 * gap
    bands = 3
    assert g.height > bands * band_h + (bands - 1) * 3 * gap  # plus the legend

    def tile(i, row):
        x0 = margin + (i % cols) * (tw + gap)
        y0 = (i // cols) * (band_h + 3 * gap) + row * (th + gap)
        return a[y0:y0 + th, x0:x0 + tw]

    big_t = np.repeat(np.repeat(truth[0], k, 0), k, 1)
    big_p = np.repeat(np.repeat(pred[0], k, 0), k, 1)
    for i in range(n):
        assert (tile(i, 0) == 0).all()  # the image row: black, uncoloured
        t, p = tile(i, 1), tile(i, 2)
        assert (t[big_t > 0] != 0).any(-1).all() and (t[big_t == 0] == 0).all()
        assert (p[big_p > 0] != 0).any(-1).all() and (p[big_p == 0] == 0).all()


def test_grid_without_prediction_has_two_rows():
    images = np.random.default_rng(0).random((3, H, W, 3)).astype(np.float32)
    g2 = overlay.segmentation_grid(images, np.zeros((3, H, W), np.int32), None, None, None,
                                   cols=3, scale=1)
    g3 = overlay.segmentation_grid(images, np.zeros((3, H, W), np.int32),
                                   np.zeros((3, H, W), np.int32), None, None, cols=3, scale=1)
    assert g2.height == 2 * H + 4 and g3.height == 3 * H + 8  # all-background: no legend
    with pytest.raises(ValueError, match="3 images but 2 truth masks"):
        overlay.segmentation_grid(images, np.zeros((2, H, W), np.int32), None, None, None)
