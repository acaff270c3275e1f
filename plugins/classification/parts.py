"""Loss, postprocessor and metrics of the classification task."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from visionhooks import DataError, DataInfo, Evaluator
from visionhooks.errors import warn_user
from visionhooks.tasktype import not_whole

from .config import CrossEntropyConfig, LabelsConfig, TopKConfig


def build_crossentropy(config: CrossEntropyConfig, info: DataInfo) -> keras.losses.Loss:
    """The seed's cross-entropy (negative multinomial log-likelihood) of integer labels."""
    if config.label_smoothing:
        return _SmoothedCrossEntropy(info.num_classes, config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(name="crossentropy")


@keras.saving.register_keras_serializable(package="visionhooks.classification")
class _SmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy with label smoothing on integer labels."""

    def __init__(self, num_classes: int, label_smoothing: float, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", "crossentropy"), **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        onehot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                                   self.num_classes)
        return keras.losses.categorical_crossentropy(onehot, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}


class Labels:
    """Probabilities → ``{"labels", "scores", "probabilities"[, "top_k"]}`` (NumPy)."""

    def __init__(self, config: LabelsConfig, info: DataInfo) -> None:
        if config.top_k > info.num_classes:  # capped, and said (it was silent)
            warn_user(f"postprocess top_k={config.top_k} is more than the "
                      f"{info.num_classes} classes: giving all {info.num_classes}")
        self.top_k = min(config.top_k, info.num_classes)

    def __call__(self, outputs: Any) -> dict[str, np.ndarray]:
        probs = np.asarray(outputs, dtype=np.float32)
        labels = probs.argmax(axis=-1).astype(np.int32)
        out = {"labels": labels, "scores": np.take_along_axis(probs, labels[:, None], -1)[:, 0],
               "probabilities": probs}
        if self.top_k > 1:
            out["top_k"] = np.argsort(-probs, axis=-1)[:, : self.top_k].astype(np.int32)
        return out


def build_accuracy(config: Any, info: DataInfo) -> keras.metrics.Metric:
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def build_top_k(config: TopKConfig, info: DataInfo) -> keras.metrics.Metric:
    if config.k >= info.num_classes:  # a warning: task files saved with it still load
        warn_user(f"top_k_accuracy with k={config.k} and {info.num_classes} classes is "
                  f"always 1; choose k in 1..{info.num_classes - 1}")
    return keras.metrics.SparseTopKCategoricalAccuracy(k=config.k, name=f"top_{config.k}_accuracy")


class Confusion(Evaluator):
    """Confusion matrix (rows: true class, columns: predicted) and per-class accuracy."""

    name = "confusion"

    def __init__(self, config: Any, info: DataInfo) -> None:
        self.num_classes = info.num_classes
        self.class_names = list(info.class_names)
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, y_true: Any, outputs: np.ndarray) -> None:
        pred = np.asarray(outputs).argmax(-1)
        y = np.asarray(y_true).reshape(-1)
        c = len(self.matrix)
        numeric = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
        if not numeric or not_whole(y).any() or (y < 0).any() or (y >= c).any():
            # NumPy would count -1 as the last class
            raise DataError(f"confusion: labels must be class ids in 0..{c - 1}. "
                            f"Received: {y[:10].tolist()}")
        np.add.at(self.matrix, (y.astype(np.int64), pred), 1)

    def result(self) -> dict[str, Any]:
        totals = self.matrix.sum(1)
        per_class = np.where(totals > 0, np.diag(self.matrix) / np.maximum(totals, 1), np.nan)
        return {"confusion_matrix": self.matrix.tolist(),
                "per_class_accuracy": {name: (None if np.isnan(a) else float(a))
                                       for name, a in zip(self.class_names, per_class)}}
