#!/usr/bin/env python
"""Preview the augmentation pipeline on one sample of each task kind (the seed's
"random transformations ... must look credible"): an MNIST digit, an aerial-like scene
with its building mask, and an MNIST detection scene with its boxes.

    python examples/augmentation_preview.py [OUT_DIR]

Writes ``augment_mnist.png``, ``augment_shapes.png`` and ``augment_detection.png``: the
original first, then 15 draws, masks and boxes moved with their images.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import visionhooks as vh
from visionhooks.plugins.augmentation.preview import preview

PIPELINE = [{"name": "flip"}, {"name": "shift", "x": 0.1, "y": 0.1},
            {"name": "zoom", "min_scale": 0.85, "max_scale": 1.15},
            {"name": "rotate", "max_degrees": 15}, {"name": "brightness", "max_delta": 0.2},
            {"name": "contrast"}]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the bundled MNIST sample is enough
        digits = vh.datasets.load("mnist", train_size=8, test_size=8)
        scenes = vh.datasets.load("mnist-detection", train_scenes=8, test_scenes=8)
    shapes = vh.datasets.load("shapes", image_size=128, train_images=8, test_images=8)
    # Digits are not symmetric: no flips for them.
    preview(digits.train.images[0], PIPELINE[1:], out / "augment_mnist.png")
    x, m = shapes.train
    preview({"images": x[:1], "segmentation_masks": m[:1]}, PIPELINE,
            out / "augment_shapes.png")
    x, y = scenes.train
    preview({"images": x[:1], "bounding_boxes": {k: v[:1] for k, v in y.items()}},
            PIPELINE[1:], out / "augment_detection.png", class_names=scenes.info.class_names,
            box_format=scenes.info.box_format)
    for name in ("augment_mnist.png", "augment_shapes.png", "augment_detection.png"):
        print(out / name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="figures", help="folder for the PNGs")
    main(Path(parser.parse_args().out))
