"""The segmentation task type: integer masks, per-pixel losses, IoU, overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import DataError, TaskType


class SegmentationTask(TaskType):
    """A class for every pixel. Targets: ``segmentation_masks`` (N, H, W) integer class
    ids in [0, C) (binary masks: C = 2); (N, H, W, 1) is squeezed."""

    target = "segmentation_masks"
    default_loss = "pixel_crossentropy"
    default_postprocessor = "masks"
    default_metrics = ("mean_iou", "pixel_accuracy", "iou")
    prediction_keys = ("masks", "probabilities")

    def check_targets(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        h, w, _ = self.info.input_shape
        if y.ndim == 4 and y.shape[-1] == 1:
            y = y[..., 0]
        if y.ndim != 3 or y.shape[1:] != (h, w):
            raise DataError(f"segmentation masks must have shape (N, {h}, {w}) to match the "
                            f"images. Received: shape={y.shape}")
        if len(y) != n:
            raise DataError(f"{n} images but {len(y)} masks")
        if y.dtype == bool:
            y = y.astype(np.int32)
        if np.issubdtype(y.dtype, np.floating):
            bad = ~np.isfinite(y) | (y != np.round(np.nan_to_num(y)))
            if bad.any():
                i = int(np.argwhere(bad)[0][0])
                raise DataError(f"mask {i} holds non-integer or NaN values; masks are integer "
                                f"class ids")
        elif not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"masks must be integer class ids. Received: dtype={y.dtype}")
        y = y.astype(np.int32)
        c = self.info.num_classes
        out = (y < 0) | (y >= c)
        if out.any():
            i, r, col = np.argwhere(out)[0]
            raise DataError(f"mask {i}, pixel ({r}, {col}): class {y[i, r, col]} is outside "
                            f"0..{c - 1} ({c} classes)")
        return y

    def describe(self, prediction: dict[str, Any], i: int) -> str:
        mask = prediction["masks"][i]
        counts = np.bincount(mask.reshape(-1), minlength=self.info.num_classes)
        share = counts / max(1, mask.size)
        return ", ".join(f"{name} {s:.1%}" for name, s in zip(self.info.class_names, share)
                         if s > 0)

    def figures(self, task: Any, x: np.ndarray, y: np.ndarray, out_dir: Path) -> list[Path]:
        from .overlay import segmentation_grid

        n = min(8, len(x))
        pred = task.predict(x[:n])
        path = out_dir / "segmentation.png"
        segmentation_grid(x[:n], y[:n], pred["masks"], self.info.class_names, path)
        return [path]
