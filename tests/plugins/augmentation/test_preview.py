"""The preview grid: the original and n draws, masks and boxes drawn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionhooks.plugins.augmentation.preview import preview


def test_preview_grid_of_one_sample_with_mask_and_boxes(tmp_path):
    image = np.full((24, 32, 3), 0.2, np.float32)
    image[6:14, 10:20] = 0.9
    mask = np.zeros((24, 32), np.int32)
    mask[6:14, 10:20] = 1
    boxes = {"boxes": np.array([[10, 6, 20, 14]], np.float32), "labels": np.array([0])}
    path = tmp_path / "preview.png"
    im = preview({"images": image, "segmentation_masks": mask, "bounding_boxes": boxes},
                 ["flip", {"name": "rotate", "max_degrees": 20}], path, n=7, cols=4,
                 box_format="xyxy", scale=2)
    assert Image.open(path).size == im.size
    # 8 tiles of 64x48 (scale 2) in 2 rows of 4, 2-pixel gaps
    assert im.size == (4 * 64 + 3 * 2, 2 * 48 + 2)
    tiles = np.asarray(im)
    assert not np.array_equal(tiles[:48, :64], tiles[:48, 66:130])  # draws differ


def test_preview_takes_a_bare_grayscale_image_and_checks_its_arguments():
    im = preview(np.random.default_rng(0).random((16, 16)), ["zoom"], n=3, cols=2, scale=1)
    assert im.size == (2 * 16 + 2, 2 * 16 + 2)
    with pytest.raises(ValueError, match="n and cols must be >= 1"):
        preview(np.zeros((8, 8)), ["zoom"], n=0)
