"""Keras layers of the detection models."""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="visionhooks.detection")
class YOLODecode(keras.layers.Layer):
    """Decodes the raw S×S×(B·5+C) YOLO tensor into boxes, confidences and class
    probabilities, keeping the layout (see ``postprocess.decode``).

    Per predictor b with anchor (a_w, a_h) in cell (row, col):
    x = (col + σ(t_x)) / S, y = (row + σ(t_y)) / S, w = a_w·exp(t_w), h = a_h·exp(t_h),
    confidence = σ(t_c); the cell's class probabilities are a softmax over its C scores.

    Args:
        anchors: B (width, height) priors relative to the image.
        num_classes: C.
    """

    def __init__(self, anchors: Sequence[Sequence[float]], num_classes: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.anchors = [[float(w), float(h)] for w, h in anchors]
        self.num_classes = int(num_classes)

    def call(self, raw):
        b, c = len(self.anchors), self.num_classes
        s1, s2 = raw.shape[1], raw.shape[2]
        raw = ops.cast(raw, "float32")
        t = ops.reshape(raw[..., : 5 * b], (-1, s1, s2, b, 5))
        col = ops.reshape(ops.arange(s2, dtype="float32"), (1, 1, s2, 1))
        row = ops.reshape(ops.arange(s1, dtype="float32"), (1, s1, 1, 1))
        anchors = ops.convert_to_tensor(self.anchors, dtype="float32")
        x = (col + ops.sigmoid(t[..., 0])) / s2
        y = (row + ops.sigmoid(t[..., 1])) / s1
        wh = anchors * ops.exp(ops.clip(t[..., 2:4], -8.0, 4.0))
        conf = ops.sigmoid(t[..., 4:5])
        boxes = ops.concatenate([x[..., None], y[..., None], wh, conf], axis=-1)
        scores = raw[..., 5 * b: 5 * b + c]
        # one class: p = 1 (what the softmax gives, without Keras' warning about it)
        probs = ops.softmax(scores, axis=-1) if c > 1 else ops.ones_like(scores)
        return ops.concatenate([ops.reshape(boxes, (-1, s1, s2, 5 * b)), probs], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "anchors": self.anchors, "num_classes": self.num_classes}
