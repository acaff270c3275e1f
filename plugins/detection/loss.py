"""The seed's YOLO loss, with the grid encoding done on the device inside the loss.

Targets arrive packed as (N, M, 5): relative center-x, center-y, width, height and the
class label (-1 for padding), see ``DetectionTask.keras_targets``. Each object belongs to
the cell containing its center and, within it, to the predictor whose anchor overlaps
it most (highest IoU of the shapes aligned at a common center). When two objects claim
the same cell and predictor, the larger one is kept (ties: the earlier one); when two
objects share a cell, the cell's class target is the larger one's (YOLOv1 predicts one
class per cell).

    λ_coord Σ 1ᵒᵇʲ_ij [(x − x̂)² + (y − ŷ)²] + λ_coord Σ 1ᵒᵇʲ_ij [(√w − √ŵ)² + (√h − √ĥ)²]
    + Σ 1ᵒᵇʲ_ij (C − Ĉ)² + λ_noobj Σ 1ⁿᵒᵒᵇʲ_ij (C − Ĉ)² + Σ_i 1ᵒᵇʲ_i Σ_c (p_i(c) − p̂_i(c))²

x and y are offsets within the cell, w and h relative to the image; the sum runs over
the cells and predictors of one image, and the loss is its mean over the batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from visionhooks import DataInfo

from .config import YOLOLossConfig


def assign(y_true, grid: tuple[int, int], anchors):
    """Responsible predictors of packed targets.

    Args:
        y_true: (N, M, 5) packed targets.
        grid: (S_rows, S_cols).
        anchors: (B, 2) tensor.

    Returns:
        ``slot`` (N, M) flat predictor index (cell·B + b), ``cell`` (N, M) flat cell index,
        ``responsible`` (N, M) bool (object owns its slot), ``cell_owner`` (N, M) bool
        (object gives its cell's class target).
    """
    s1, s2 = grid
    b = anchors.shape[0]
    boxes, labels = y_true[..., :4], y_true[..., 4]
    valid = labels >= 0
    col = ops.clip(ops.floor(boxes[..., 0] * s2), 0, s2 - 1)
    row = ops.clip(ops.floor(boxes[..., 1] * s1), 0, s1 - 1)
    cell = ops.cast(row * s2 + col, "int32")
    w, h = boxes[..., 2:3], boxes[..., 3:4]
    inter = ops.minimum(w, anchors[:, 0]) * ops.minimum(h, anchors[:, 1])
    iou = inter / ops.maximum(w * h + anchors[:, 0] * anchors[:, 1] - inter, 1e-12)
    best = ops.cast(ops.argmax(iou, axis=-1), "int32")
    slot = cell * b + best
    area = boxes[..., 2] * boxes[..., 3]
    m = y_true.shape[1]
    earlier = ops.arange(m)[None, :, None] < ops.arange(m)[None, None, :]  # [i, j]: i < j

    def wins(key):
        same = (key[:, :, None] == key[:, None, :]) & valid[:, :, None] & valid[:, None, :]
        beats = (area[:, :, None] > area[:, None, :]) | (
            (area[:, :, None] == area[:, None, :]) & earlier)  # [n, i, j]: i beats j
        beaten = ops.any(same & beats, axis=1)
        return valid & ~beaten

    return slot, cell, wins(slot), wins(cell)


@keras.saving.register_keras_serializable(package="visionhooks.detection")
class YOLOLoss(keras.losses.Loss):
    """The YOLO loss on ``YOLODecode`` outputs (see the module docstring).

    Args:
        anchors: B (width, height) priors, the model's.
        num_classes: C.
        lambda_coord, lambda_noobj, lambda_obj, lambda_class: term weights.
        class_loss: ``"sse"`` (the seed) or ``"crossentropy"``.
        confidence_target: ``"one"`` or ``"iou"`` (of the predicted and true boxes).
    """

    def __init__(self, anchors: Sequence[Sequence[float]], num_classes: int,
                 lambda_coord: float = 5.0, lambda_noobj: float = 0.5, lambda_obj: float = 1.0,
                 lambda_class: float = 1.0, class_loss: str = "sse",
                 confidence_target: str = "one", name: str = "yolo", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.anchors = [[float(w), float(h)] for w, h in anchors]
        self.num_classes = int(num_classes)
        self.lambda_coord, self.lambda_noobj = float(lambda_coord), float(lambda_noobj)
        self.lambda_obj, self.lambda_class = float(lambda_obj), float(lambda_class)
        self.class_loss, self.confidence_target = class_loss, confidence_target

    def terms(self, y_true, y_pred) -> dict[str, Any]:
        """The loss terms per image, (N,) each: localization, size, object, no-object,
        class."""
        b, c = len(self.anchors), self.num_classes
        s1, s2 = y_pred.shape[1], y_pred.shape[2]
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        anchors = ops.convert_to_tensor(self.anchors, dtype="float32")
        slot, cell, resp, owner = assign(y_true, (s1, s2), anchors)
        p, cells = s1 * s2 * b, s1 * s2
        onehot = ops.one_hot(slot, p) * ops.cast(resp, "float32")[..., None]  # (N, M, P)
        obj = ops.sum(onehot, axis=1)  # (N, P): 1 for responsible predictors
        t_box = ops.einsum("nmp,nmk->npk", onehot, y_true[..., :4])  # (N, P, 4)
        pred = ops.reshape(y_pred[..., : 5 * b], (-1, p, 5))
        probs = ops.reshape(y_pred[..., 5 * b:], (-1, cells, c))
        # offsets within the cell, x·S − col, differ by (x − x̂)·S
        dx = (t_box[..., 0] - pred[..., 0]) * s2
        dy = (t_box[..., 1] - pred[..., 1]) * s1
        loc = ops.sum(obj * (dx ** 2 + dy ** 2), axis=-1)
        sq_t = ops.sqrt(ops.maximum(t_box[..., 2:4], 0.0))
        sq_p = ops.sqrt(ops.maximum(pred[..., 2:4], 1e-12))
        size = ops.sum(obj * ops.sum((sq_t - sq_p) ** 2, axis=-1), axis=-1)
        conf = pred[..., 4]
        if self.confidence_target == "iou":
            target_conf = ops.stop_gradient(_paired_iou(pred[..., :4], t_box))
        else:
            target_conf = ops.ones_like(conf)
        objective = ops.sum(obj * (target_conf - conf) ** 2, axis=-1)
        noobj = ops.sum((1.0 - obj) * conf ** 2, axis=-1)
        cell_onehot = ops.one_hot(cell, cells) * ops.cast(owner, "float32")[..., None]
        cell_obj = ops.sum(cell_onehot, axis=1)  # (N, cells)
        labels = ops.one_hot(ops.cast(ops.maximum(y_true[..., 4], 0), "int32"), c)
        t_cls = ops.einsum("nmk,nmc->nkc", cell_onehot, labels)  # (N, cells, C)
        if self.class_loss == "crossentropy":
            per_cell = -ops.sum(t_cls * ops.log(ops.clip(probs, 1e-7, 1.0)), axis=-1)
        else:
            per_cell = ops.sum((t_cls - probs) ** 2, axis=-1)
        cls = ops.sum(cell_obj * per_cell, axis=-1)
        return {"localization": self.lambda_coord * loc, "size": self.lambda_coord * size,
                "object": self.lambda_obj * objective, "no_object": self.lambda_noobj * noobj,
                "class": self.lambda_class * cls}

    def call(self, y_true, y_pred):
        t = self.terms(y_true, y_pred)
        return t["localization"] + t["size"] + t["object"] + t["no_object"] + t["class"]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "anchors": self.anchors, "num_classes": self.num_classes,
                "lambda_coord": self.lambda_coord, "lambda_noobj": self.lambda_noobj,
                "lambda_obj": self.lambda_obj, "lambda_class": self.lambda_class,
                "class_loss": self.class_loss, "confidence_target": self.confidence_target}


def _paired_iou(a, b):
    """IoU of paired center-format boxes (..., 4)."""
    ax1, ay1 = a[..., 0] - a[..., 2] / 2, a[..., 1] - a[..., 3] / 2
    ax2, ay2 = a[..., 0] + a[..., 2] / 2, a[..., 1] + a[..., 3] / 2
    bx1, by1 = b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2
    bx2, by2 = b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2
    iw = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    ih = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    inter = iw * ih
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return inter / ops.maximum(union, 1e-12)


def build_yolo_loss(config: YOLOLossConfig, info: DataInfo) -> YOLOLoss:
    if not config.anchors:
        from visionhooks import ConfigError

        raise ConfigError("the yolo loss needs the model's anchors; the detection task sets "
                          "them (loss = {name = 'yolo', anchors = [[w, h], ...]})")
    return YOLOLoss(config.anchors, info.num_classes, config.lambda_coord, config.lambda_noobj,
                    config.lambda_obj, config.lambda_class, config.class_loss,
                    config.confidence_target)


def encode(y_true, grid: tuple[int, int], anchors: Sequence[Sequence[float]],
           num_classes: int):
    """The decoded output a perfect model gives for packed targets ``y_true`` (N, M, 5):
    (N, S, S, B·5+C) with each responsible predictor holding its object's box and
    confidence 1, every other confidence 0, and each cell's class probabilities one-hot
    on its owner's class (uniform in empty cells). The same assignment as the loss."""
    y_true = ops.convert_to_tensor(y_true, dtype="float32")
    s1, s2 = grid
    b, c = len(anchors), num_classes
    a = ops.convert_to_tensor(anchors, dtype="float32")
    slot, cell, resp, owner = assign(y_true, (s1, s2), a)
    onehot = ops.one_hot(slot, s1 * s2 * b) * ops.cast(resp, "float32")[..., None]
    boxes = ops.einsum("nmp,nmk->npk", onehot, y_true[..., :4])
    conf = ops.sum(onehot, axis=1)[..., None]
    cell_onehot = ops.one_hot(cell, s1 * s2) * ops.cast(owner, "float32")[..., None]
    labels = ops.one_hot(ops.cast(ops.maximum(y_true[..., 4], 0), "int32"), c)
    probs = ops.einsum("nmk,nmc->nkc", cell_onehot, labels)
    empty = 1.0 - ops.sum(cell_onehot, axis=1)[..., None]
    probs = probs + empty / c
    preds = ops.reshape(ops.concatenate([boxes, conf], -1), (-1, s1, s2, 5 * b))
    return ops.concatenate([preds, ops.reshape(probs, (-1, s1, s2, c))], axis=-1)
