"""Segmentation metrics from a C×C confusion matrix of pixels (rows: true class,
columns: predicted class).

The predicted class of a pixel is ``p >= threshold`` (0.5) for one sigmoid channel
(the rule of the ``masks`` postprocessor and of ``keras.metrics.BinaryIoU``, so the
metrics describe exactly what ``predict`` returns) and the argmax of the softmax
channels otherwise. Pixels whose true class lies outside [0, C) are not
counted (an "ignore" label such as 255 or -1).

- ``MeanIoU`` ("mean_iou"), ``DiceScore`` ("dice") and ``PixelAccuracy``
  ("pixel_accuracy") are streaming Keras metrics: the matrix is a metric variable
  updated inside the compiled step (a one-hot matrix product, ``keras.ops`` only).
  IoU_c = TP/(TP+FP+FN) and Dice_c = 2TP/(2TP+FP+FN) are averaged over the classes
  present in the truth or the prediction (TP+FP+FN > 0); with none, the mean is 0.
  A batch's matrix is counted exactly (per image, summed as integers); the metric
  variable is float32, so totals past 2**24 pixels a cell are rounded when batches are
  added (relative error about 1e-7 per batch) rather than overflowing.
- ``PerClassIoU`` ("iou") is the evaluator: the same matrix in NumPy (int64, exact)
  over ``predict`` batches, with IoU and Dice per class by name.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from visionhooks import DataInfo, Evaluator

#: A sigmoid output at or above this is class 1.
THRESHOLD = 0.5


def confusion_matrix(y_true, y_pred, num_classes: int, threshold: float = THRESHOLD,
                     sample_weight=None):
    """Pixel confusion matrix of one batch, jit-compatible.

    Args:
        y_true: (N, H, W) (or (N, H, W, 1)) integer class ids, any dtype.
        y_pred: (N, H, W, 1) sigmoid probabilities of class 1, or (N, H, W, C) softmax
            probabilities (or (N, H, W) sigmoid probabilities).
        num_classes: C.
        threshold: for the sigmoid form.
        sample_weight: optional weights: a scalar, (N,) or (N, 1) per image, or
            (N, H, W) per pixel.

    Returns:
        (C, C) float32 counts, [true, predicted].
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if keras.backend.is_float_dtype(y_true.dtype):
        y_true = ops.round(y_true)
    labels = ops.cast(y_true, "int32")
    if len(y_pred.shape) == 3 or y_pred.shape[-1] == 1:
        probs = ops.reshape(ops.cast(y_pred, "float32"), tuple(labels.shape))
        pred = ops.cast(probs >= threshold, "int32")
    else:
        if y_pred.shape[-1] != num_classes:
            raise ValueError(f"the model outputs {y_pred.shape[-1]} channels but there are "
                             f"{num_classes} classes")
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    n = labels.shape[0]
    t = ops.one_hot(ops.reshape(labels, (n, -1)), num_classes, dtype="float32")  # (N, P, C)
    p = ops.one_hot(ops.reshape(pred, (n, -1)), num_classes, dtype="float32")
    if sample_weight is None:
        # per image (exact in float32 below 2**24 pixels an image), then summed as
        # integers: one float32 sum over the whole batch stops counting at 2**24 pixels a
        # cell (a 300×256×256 batch of one class read 16,777,216 for 19,660,799)
        counts = ops.cast(ops.einsum("npi,npj->nij", t, p), "int32")
        return ops.cast(ops.sum(counts, axis=0), "float32")
    w = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    if len(w.shape) == 4 and w.shape[-1] == 1:
        w = ops.squeeze(w, axis=-1)
    if len(w.shape) <= 1:
        # per image (or one scalar): weight exact per-image counts, so the weights never
        # pass through a (possibly reduced-precision, e.g. TF32) matrix product
        w = ops.broadcast_to(ops.reshape(w, (-1,)), (n,))
        counts = ops.einsum("npi,npj->nij", t, p)
        return ops.sum(counts * w[:, None, None], axis=0)
    if len(w.shape) == 2:  # (N, 1) as Keras may expand it
        w = ops.reshape(w, (n, 1, 1))
    w = ops.reshape(ops.broadcast_to(w, tuple(labels.shape)), (n, -1, 1))
    return ops.einsum("npi,npj->ij", t * w, p)


def scores(matrix) -> dict[str, Any]:
    """Per-class IoU and Dice (NaN for a class absent from truth and prediction), their
    means over present classes, and pixel accuracy, from a NumPy (C, C) matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(m)
    fp = m.sum(0) - tp
    fn = m.sum(1) - tp
    union = tp + fp + fn
    present = union > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, tp / union, np.nan)
        dice = np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan)
    total = m.sum()
    return {"iou": iou, "dice": dice,
            "mean_iou": float(iou[present].mean()) if present.any() else float("nan"),
            "mean_dice": float(dice[present].mean()) if present.any() else float("nan"),
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else float("nan")}


class _ConfusionMetric(keras.metrics.Metric):
    """Base of the streaming metrics: a (C, C) float32 confusion-matrix variable."""

    def __init__(self, num_classes: int, threshold: float = THRESHOLD, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.threshold = float(threshold)
        self.matrix = self.add_variable(shape=(self.num_classes, self.num_classes),
                                        initializer="zeros", dtype="float32",
                                        name="confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.matrix.assign(self.matrix + confusion_matrix(
            y_true, y_pred, self.num_classes, self.threshold, sample_weight))

    def _parts(self):
        m = ops.convert_to_tensor(self.matrix)
        tp = ops.diagonal(m)
        fp = ops.sum(m, axis=0) - tp
        fn = ops.sum(m, axis=1) - tp
        return m, tp, fp, fn

    def _mean_over_present(self, num, den):
        present = ops.cast(den > 0, "float32")
        per_class = num / ops.maximum(den, 1e-12)
        count = ops.sum(present)
        return ops.where(count > 0, ops.sum(per_class * present) / ops.maximum(count, 1.0), 0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class MeanIoU(_ConfusionMetric):
    """Mean over present classes of TP / (TP + FP + FN), streamed over pixels.

    Args:
        num_classes: C (2 for one sigmoid channel).
        threshold: a sigmoid output at or above it is class 1.

    Example:
        >>> model.compile(loss=..., metrics=[MeanIoU(num_classes=3)], jit_compile=True)
    """

    def __init__(self, num_classes: int, threshold: float = THRESHOLD, name: str = "mean_iou",
                 dtype: Any = None) -> None:
        super().__init__(num_classes, threshold, name=name, dtype=dtype)

    def result(self):
        _, tp, fp, fn = self._parts()
        return self._mean_over_present(tp, tp + fp + fn)


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class DiceScore(_ConfusionMetric):
    """Mean over present classes of 2TP / (2TP + FP + FN) (the F1 score of each class's
    pixels), streamed.

    Args:
        num_classes: C.
        threshold: a sigmoid output at or above it is class 1.
    """

    def __init__(self, num_classes: int, threshold: float = THRESHOLD, name: str = "dice",
                 dtype: Any = None) -> None:
        super().__init__(num_classes, threshold, name=name, dtype=dtype)

    def result(self):
        _, tp, fp, fn = self._parts()
        return self._mean_over_present(2.0 * tp, 2.0 * tp + fp + fn)


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class PixelAccuracy(_ConfusionMetric):
    """Share of counted pixels whose predicted class is the true one, streamed.

    Args:
        num_classes: C.
        threshold: a sigmoid output at or above it is class 1.
    """

    def __init__(self, num_classes: int, threshold: float = THRESHOLD,
                 name: str = "pixel_accuracy", dtype: Any = None) -> None:
        super().__init__(num_classes, threshold, name=name, dtype=dtype)

    def result(self):
        m, tp, _, _ = self._parts()
        total = ops.sum(m)
        return ops.where(total > 0, ops.sum(tp) / ops.maximum(total, 1e-12), 0.0)


def build_mean_iou(config: Any, info: DataInfo) -> MeanIoU:
    return MeanIoU(info.num_classes)


def build_dice(config: Any, info: DataInfo) -> DiceScore:
    return DiceScore(info.num_classes)


def build_pixel_accuracy(config: Any, info: DataInfo) -> PixelAccuracy:
    return PixelAccuracy(info.num_classes)


class PerClassIoU(Evaluator):
    """IoU and Dice of every class by name (None for a class absent from both the truth
    and the predictions), mean IoU and pixel accuracy, over all ``predict`` batches."""

    name = "iou"

    def __init__(self, config: Any, info: DataInfo, threshold: float = THRESHOLD) -> None:
        self.num_classes = info.num_classes
        self.class_names = list(info.class_names)
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, y_true: Any, outputs: np.ndarray) -> None:
        y = np.asarray(y_true)
        out = np.asarray(outputs)
        if y.ndim == 4 and y.shape[-1] == 1:
            y = y[..., 0]
        if np.issubdtype(y.dtype, np.floating):
            y = np.rint(y)
        y = y.astype(np.int64)
        if out.ndim == 3 or (out.ndim == 4 and out.shape[-1] == 1):
            pred = (out.reshape(out.shape[:3]) >= self.threshold).astype(np.int64)
        elif out.ndim == 4 and out.shape[-1] == self.num_classes:
            pred = out.argmax(-1)
        else:
            raise ValueError(f"outputs must have shape (N, H, W, 1) or (N, H, W, "
                             f"{self.num_classes}). Received: shape={out.shape}")
        if y.shape != pred.shape:
            raise ValueError(f"masks of shape {y.shape} do not match outputs of shape "
                             f"{out.shape}")
        keep = (y >= 0) & (y < self.num_classes)
        idx = y[keep] * self.num_classes + pred[keep]
        self.matrix += np.bincount(idx, minlength=self.num_classes ** 2).reshape(
            self.num_classes, self.num_classes)

    def result(self) -> dict[str, Any]:
        s = scores(self.matrix)

        def named(values: np.ndarray) -> dict[str, float | None]:
            return {n: (None if np.isnan(v) else float(v)) for n, v in zip(self.class_names,
                                                                            values)}

        def opt(v: float) -> float | None:
            return None if np.isnan(v) else v

        return {"per_class_iou": named(s["iou"]), "per_class_dice": named(s["dice"]),
                "mean_iou": opt(s["mean_iou"]), "pixel_accuracy": opt(s["pixel_accuracy"])}
