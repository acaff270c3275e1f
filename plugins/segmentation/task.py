"""The segmentation task type: integer masks, per-pixel losses, IoU, overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import DataError, TaskType
from visionhooks.tasktype import not_whole


class SegmentationTask(TaskType):
    """A class for every pixel. Targets: ``segmentation_masks`` (N, H, W) integer class
    ids in [0, C) (binary masks: C = 2); (N, H, W, 1) is squeezed."""

    target = "segmentation_masks"
    default_loss = "pixel_crossentropy"
    default_postprocessor = "masks"
    default_metrics = ("mean_iou", "pixel_accuracy", "iou")
    prediction_keys = ("masks", "probabilities")
    min_classes = 2  # binary is the 2-class case

    def expected_output(self, shape: Any) -> str | None:
        h, w, _ = self.info.input_shape
        c = self.info.num_classes
        ok = ((h, w, c),) + (((h, w, 1),) if c == 2 else ())
        return None if shape in ok else (
            f"one output of shape ({h}, {w}, {c}): one score per class and pixel"
            + (" (or (…, 1): one sigmoid channel for 2 classes)" if c == 2 else ""))

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
            bad = not_whole(y)
            if bad.any():
                i = int(np.argwhere(bad)[0][0])
                raise DataError(f"mask {i} holds non-integer or NaN values; masks are integer "
                                f"class ids")
        elif not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"masks must be integer class ids. Received: dtype={y.dtype}")
        c = self.info.num_classes
        out = (y < 0) | (y >= c)  # before the cast, which would wrap huge ids into range
        if out.any():
            i, r, col = np.argwhere(out)[0]
            raise DataError(f"mask {i}, pixel ({r}, {col}): class {int(y[i, r, col])} is "
                            f"outside 0..{c - 1} ({c} classes)")
        return y.astype(np.int32)

    def explain_targets(self, outputs: np.ndarray, target: Any = None) -> dict[str, np.ndarray]:
        """``{"class": (N,), "region": (N, H, W) float}``: the class whose summed score is
        explained and the pixels summed over. ``target`` is a class id (or one per image),
        or a dict with ``class`` and optionally ``region`` (a mask); by default the most
        frequent predicted class other than 0 (background), over the pixels predicted as
        that class."""
        from .postprocess import to_masks

        pred = to_masks(outputs)
        n = pred.shape[0]
        c = self.info.num_classes
        if isinstance(target, dict) and set(target) - {"class", "region"}:
            raise DataError(f"a segmentation target is a class id or a dict with 'class' "
                            f"and 'region'. Received keys: {sorted(target)}")
        t = target.get("class") if isinstance(target, dict) else target
        region = target.get("region") if isinstance(target, dict) else None
        if t is None:
            counts = np.stack([np.bincount(m.reshape(-1), minlength=c) for m in pred])
            counts[:, 0] = -1 if c > 1 else counts[:, 0]
            cls = counts.argmax(1)
        else:
            cls = self.class_ids(t, n)
        if region is None:
            region = pred == cls[:, None, None]
            empty = ~region.reshape(n, -1).any(1)
            region[empty] = True  # nothing predicted as the class: the whole image
        try:
            region = np.asarray(region, np.float32)
        except (TypeError, ValueError):
            raise DataError(f"target region must be a mask of numbers, (H, W) or (N, H, W). "
                            f"Received: {region!r}") from None
        if not np.isfinite(region).all():
            raise DataError("target region holds NaN or infinite values")
        if region.ndim == 2:
            region = np.broadcast_to(region, (n, *region.shape))
        if region.shape != pred.shape:
            raise DataError(f"target region must be (H, W) or (N, H, W) = {pred.shape}. "
                            f"Received: shape={region.shape}")
        return {"class": cls.astype(np.int32), "region": np.ascontiguousarray(region)}

    def explain_score(self, outputs: Any, targets: dict[str, Any]) -> Any:
        """Σ over the region of the class's score per pixel: its logit recovered from the
        output (sigmoid: ±(log p − log(1 − p)); softmax: log p_c − mean_k log p_k), which
        does not saturate where the model is sure."""
        import jax.numpy as jnp

        from visionhooks.plugins.classification.scores import centered_logits, sigmoid_logit

        cls = jnp.asarray(targets["class"])
        if outputs.shape[-1] == 1:
            z = sigmoid_logit(outputs[..., 0])
            score = jnp.where((cls == 1)[:, None, None], z, -z)
        else:
            z = centered_logits(outputs)
            score = jnp.take_along_axis(z, cls[:, None, None, None], axis=-1)[..., 0]
        return jnp.sum(score * targets["region"], axis=(1, 2))

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
