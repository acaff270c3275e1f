"""Pixel cross-entropy, soft Dice and their sum: the segmentation losses.

Targets are ``segmentation_masks`` (N, H, W) integer class ids (Keras may hand them over
as float32, or with a trailing axis of 1; both are accepted). Model outputs are
probabilities: one sigmoid channel (N, H, W, 1), the probability of class 1, for binary
masks, or a softmax over C channels (N, H, W, C). Which form a batch is in is read from
the static channel count, so a 2-class model with a 2-channel softmax works as well.

Every loss returns one value per image, (N,): the cross-entropy is the mean over the
image's pixels; the soft Dice loss of an image is

    1 − mean_c (2 Σ p_c t_c + s) / (Σ p_c + Σ t_c + s)

over the classes c (the foreground class only for a sigmoid output), with sums over the
image's pixels and smoothing s. A class absent from both the target and the prediction
scores 1 (no loss), also when s = 0. Pixels whose target lies outside [0, C) count as
nothing (their one-hot row is zero) in the categorical forms.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from visionhooks import DataInfo

from .config import CEDiceConfig, CrossEntropyConfig, DiceLossConfig

#: Probabilities are clipped to [EPSILON, 1 − EPSILON] before the logarithm.
EPSILON = 1e-7


def _prepare(y_true, y_pred, num_classes: int | None = None):
    """(N, H, W) int32 labels and float32 probabilities, (N, H, W) for one sigmoid
    channel or (N, H, W, C); returns ``(labels, probs, binary)``. With ``num_classes``,
    the channel count must fit it (1 or 2 channels for 2 classes, else C)."""
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if len(y_true.shape) != 3:
        raise ValueError(f"segmentation targets must have shape (N, H, W). Received: "
                         f"shape={tuple(y_true.shape)}")
    if keras.backend.is_float_dtype(y_true.dtype):
        y_true = ops.round(y_true)
    labels = ops.cast(y_true, "int32")
    binary = len(y_pred.shape) == 3 or y_pred.shape[-1] == 1
    if num_classes is not None and len(y_pred.shape) == 4 and y_pred.shape[-1] != num_classes \
            and not (binary and num_classes == 2):
        raise ValueError(f"the model outputs {y_pred.shape[-1]} channels but there are "
                         f"{num_classes} classes (expected {num_classes} softmax channels"
                         f"{', or 1 sigmoid channel' if num_classes == 2 else ''})")
    if len(y_pred.shape) == 4 and binary:
        y_pred = ops.squeeze(y_pred, axis=-1)
    if len(y_pred.shape) not in (3, 4) or tuple(y_pred.shape[1:3]) != tuple(y_true.shape[1:3]):
        raise ValueError(f"segmentation outputs must have shape (N, H, W, 1) or (N, H, W, C) "
                         f"matching the targets' (N, H, W) = {tuple(y_true.shape)}. Received: "
                         f"shape={tuple(y_pred.shape)}")
    return labels, y_pred, binary


def pixel_crossentropy(y_true, y_pred, num_classes: int | None = None):
    """Mean cross-entropy over each image's pixels.

    Args:
        y_true: (N, H, W) integer class ids.
        y_pred: (N, H, W, 1) sigmoid probability of class 1 (binary cross-entropy) or
            (N, H, W, C) softmax probabilities (categorical cross-entropy).
        num_classes: C, checked against the channels when given.

    Returns:
        (N,) float32.
    """
    labels, probs, binary = _prepare(y_true, y_pred, num_classes)
    probs = ops.clip(probs, EPSILON, 1.0 - EPSILON)
    if binary:
        t = ops.cast(ops.equal(labels, 1), "float32")
        per_pixel = -(t * ops.log(probs) + (1.0 - t) * ops.log(1.0 - probs))
    else:
        onehot = ops.one_hot(labels, probs.shape[-1], dtype="float32")
        per_pixel = -ops.sum(onehot * ops.log(probs), axis=-1)
    return ops.mean(per_pixel, axis=(1, 2))


def soft_dice_loss(y_true, y_pred, smooth: float = 1.0, num_classes: int | None = None):
    """1 − soft Dice per image, averaged over classes (the foreground only for a sigmoid
    output).

    Args:
        y_true: (N, H, W) integer class ids.
        y_pred: (N, H, W, 1) or (N, H, W, C) probabilities.
        smooth: s added to the numerator and the denominator.
        num_classes: C, checked against the channels when given.

    Returns:
        (N,) float32 in [0, 1].
    """
    labels, probs, binary = _prepare(y_true, y_pred, num_classes)
    if binary:
        t = ops.cast(ops.equal(labels, 1), "float32")[..., None]
        probs = probs[..., None]
    else:
        t = ops.one_hot(labels, probs.shape[-1], dtype="float32")
    inter = ops.sum(probs * t, axis=(1, 2))  # (N, C)
    total = ops.sum(probs, axis=(1, 2)) + ops.sum(t, axis=(1, 2))
    num = 2.0 * inter + smooth
    den = total + smooth
    # With smooth = 0, a class absent from both sides is 0/0: it scores 1 (no loss).
    dice = ops.where(den > 0, num / ops.maximum(den, EPSILON), 1.0)
    return 1.0 - ops.mean(dice, axis=-1)


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class PixelCrossentropy(keras.losses.Loss):
    """Binary (one sigmoid channel) or categorical (C softmax channels) cross-entropy
    of integer masks, the mean over each image's pixels.

    Args:
        num_classes: C (2 for binary masks).

    Example:
        >>> loss = PixelCrossentropy(num_classes=2)
        >>> loss(masks, model(images))  # masks (N, H, W), outputs (N, H, W, 1)
    """

    def __init__(self, num_classes: int = 2, name: str = "pixel_crossentropy",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)

    def call(self, y_true, y_pred):
        return pixel_crossentropy(y_true, y_pred, self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class DiceLoss(keras.losses.Loss):
    """Soft Dice loss, see ``soft_dice_loss``.

    Args:
        num_classes: C (2 for binary masks: the foreground class only).
        smooth: added to the numerator and the denominator of each class's Dice.
    """

    def __init__(self, num_classes: int = 2, smooth: float = 1.0, name: str = "dice_loss",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        return soft_dice_loss(y_true, y_pred, self.smooth, self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="visionhooks.segmentation")
class CrossentropyDiceLoss(keras.losses.Loss):
    """Pixel cross-entropy + ``dice_weight`` × soft Dice loss, per image.

    Args:
        num_classes: C.
        dice_weight: weight of the Dice term.
        smooth: the Dice smoothing.
    """

    def __init__(self, num_classes: int = 2, dice_weight: float = 1.0, smooth: float = 1.0,
                 name: str = "crossentropy_dice", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        ce = pixel_crossentropy(y_true, y_pred, self.num_classes)
        if not self.dice_weight:
            return ce
        return ce + self.dice_weight * soft_dice_loss(y_true, y_pred, self.smooth,
                                                      self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes,
                "dice_weight": self.dice_weight, "smooth": self.smooth}


def build_crossentropy(config: CrossEntropyConfig, info: DataInfo) -> PixelCrossentropy:
    return PixelCrossentropy(info.num_classes)


def build_dice(config: DiceLossConfig, info: DataInfo) -> DiceLoss:
    return DiceLoss(info.num_classes, smooth=config.smooth)


def build_ce_dice(config: CEDiceConfig, info: DataInfo) -> CrossentropyDiceLoss:
    return CrossentropyDiceLoss(info.num_classes, dice_weight=config.dice_weight,
                                smooth=config.smooth)
