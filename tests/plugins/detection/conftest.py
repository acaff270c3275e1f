"""A tiny synthetic detection dataset: bright rectangles (class 0) and grey ones
(class 1) on black, with exact boxes."""

import numpy as np
import pytest

from visionhooks import DataInfo
from visionhooks.datasets import Dataset, Split


def rectangles(n, size=48, m=3, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), np.float32)
    boxes = np.zeros((n, m, 4), np.float32)
    labels = -np.ones((n, m), np.int32)
    for i in range(n):
        for j in range(rng.integers(1, m + 1)):
            w, h = rng.integers(size // 7, size // 3, 2)
            x1, y1 = rng.integers(0, size - w), rng.integers(0, size - h)
            c = int(rng.integers(0, 2))
            x[i, y1:y1 + h, x1:x1 + w, 0] = 1.0 if c == 0 else 0.5
            boxes[i, j] = [(x1 + w / 2) / size, (y1 + h / 2) / size, w / size, h / size]
            labels[i, j] = c
    return x, {"boxes": boxes, "labels": labels}


@pytest.fixture(scope="session")
def toy_detection():
    x, y = rectangles(160)
    info = DataInfo(task="detection", input_shape=(48, 48, 1), num_classes=2,
                    class_names=("bright", "grey"), box_format="rel_center_xywh", max_boxes=3)
    train = Split(x[:128], {k: v[:128] for k, v in y.items()})
    test = Split(x[128:], {k: v[128:] for k, v in y.items()})
    return Dataset("rectangles", train, test, info)
