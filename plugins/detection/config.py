"""Configs of the detection components (pydantic only: cheap to import)."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field, PositiveInt, field_validator, model_validator

from visionhooks import ComponentConfig
from visionhooks.datasets import StreamOptions
from visionhooks.plugins.datasets.config import MNISTSource

Anchor = tuple[float, float]


def _check_anchors(value):
    if value is None or value == "auto":
        return value
    for w, h in value:
        if not (0 < w <= 1 and 0 < h <= 1):
            raise ValueError(f"anchors are (width, height) relative to the image, in (0, 1]. "
                             f"Received: {value}")
    return value


class DetectionTaskConfig(ComponentConfig):
    """Detection as in the seed (YOLO): boxes are relative center-x, center-y, width,
    height; each of ``num_anchors`` predictors per cell has a prior shape (anchor).

    ``anchors``: list of (width, height) relative to the image, or ``"auto"``: k-means
    with IoU distance on the training boxes when data is given, else one tall and one
    wide default. ``complete_config`` copies them into the model, loss and postprocessor.
    """

    anchors: Union[list[Anchor], Literal["auto"]] = "auto"
    num_anchors: int = Field(2, ge=1, le=16)
    _v = field_validator("anchors")(classmethod(lambda cls, v: _check_anchors(v)))


class YOLOv1Config(ComponentConfig):
    """YOLOv1 (Redmon et al. 2016): 24 convolutional layers with leaky ReLU, then dense
    layers; output S×S×(B·5+C). ``width`` scales every layer's filters (1.0 = paper)."""

    grid: int = Field(7, ge=1, description="S, cells per side")
    anchors: list[Anchor] | None = Field(None, description="B priors (w, h); set by the task")
    input_shape: tuple[int, int, int] = (448, 448, 3)
    num_classes: int = Field(20, ge=1)
    width: float = Field(1.0, gt=0, le=4, description="filter multiplier")
    dense_units: int = Field(4096, ge=1)
    dropout: float = Field(0.5, ge=0, lt=1)
    batch_norm: bool = Field(False, description="BatchNorm after each convolution (YOLOv2)")
    _v = field_validator("anchors")(classmethod(lambda cls, v: _check_anchors(v)))


class YOLOv1TinyConfig(ComponentConfig):
    """A small Fast-YOLO-like variant for CPU training (96–224 px): 3×3 convolutions with
    BatchNorm and leaky ReLU, the first with stride 2, max-pooling down to the S×S grid,
    and a 1×1 convolutional head."""

    grid: int = Field(12, ge=1)
    anchors: list[Anchor] | None = None
    input_shape: tuple[int, int, int] = (96, 96, 1)
    num_classes: int = Field(10, ge=1)
    filters: tuple[int, ...] = (16, 32, 64, 128, 256)
    batch_norm: bool = True
    _v = field_validator("anchors")(classmethod(lambda cls, v: _check_anchors(v)))


class YOLOLossConfig(ComponentConfig):
    """The seed's YOLO loss: localization (λ_coord, square roots of w and h), object and
    no-object confidence (λ_noobj), and class sum-squared error (or cross-entropy)."""

    anchors: list[Anchor] | None = Field(None, description="set by the task")
    lambda_coord: float = Field(5.0, ge=0)
    lambda_noobj: float = Field(0.5, ge=0)
    lambda_obj: float = Field(1.0, ge=0)
    lambda_class: float = Field(1.0, ge=0)
    class_loss: Literal["sse", "crossentropy"] = "sse"
    confidence_target: Literal["one", "iou"] = Field(
        "one", description="1 for responsible predictors, or their IoU with the object")
    _v = field_validator("anchors")(classmethod(lambda cls, v: _check_anchors(v)))


class NMSConfig(ComponentConfig):
    """Postprocessor: decode, class-specific confidence (object × class probability),
    then the seed's Algorithm 1 per class."""

    iou_threshold: float = Field(0.5, ge=0, le=1, description="τ")
    score_threshold: float = Field(0.25, ge=0, le=1, description="T")
    max_outputs: int = Field(100, ge=1)
    per_class: bool = True


class MeanAPConfig(ComponentConfig):
    """mAP on held-out images: COCO AP@[.5:.95], AP50, AP75, per-class AP, VOC AP@0.5."""

    score_threshold: float = Field(0.001, ge=0, le=1)
    iou_threshold: float = Field(0.5, ge=0, le=1, description="NMS τ")
    max_detections: int = Field(100, ge=1)


class MNISTDetectionConfig(MNISTSource):
    """Synthetic scenes of real MNIST digits pasted at random positions and scales."""

    image_size: int = Field(96, ge=32)
    min_digits: int = Field(1, ge=0)
    max_digits: int = Field(4, ge=1)
    min_scale: int = Field(16, ge=4, description="smallest digit side in pixels")
    max_scale: int = Field(40, ge=4)
    train_scenes: int = Field(20000, ge=1)
    test_scenes: int = Field(2000, ge=1)
    max_overlap: float = Field(1.0, ge=0, le=1, description="max IoU between two boxes")
    seed: int = 0

    @model_validator(mode="after")
    def _ranges(self) -> "MNISTDetectionConfig":
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({self.min_digits}) > max_digits ({self.max_digits})")
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale ({self.min_scale}) > max_scale ({self.max_scale})")
        if self.max_scale > self.image_size:
            raise ValueError(f"max_scale ({self.max_scale}) > image_size ({self.image_size})")
        return self


class VOCConfig(StreamOptions):
    """Pascal VOC: ``Annotations/*.xml`` and ``JPEGImages`` (or ``images``)."""

    path: str
    image_size: tuple[PositiveInt, PositiveInt] = (224, 224)
    classes: tuple[str, ...] | None = None
    max_boxes: int = Field(50, ge=1)
    test_fraction: float = Field(0.2, ge=0, lt=1)
    seed: int = 0


class COCOConfig(StreamOptions):
    """COCO JSON annotations and an image folder."""

    annotations: str
    images: str
    image_size: tuple[PositiveInt, PositiveInt] = (224, 224)
    max_boxes: int = Field(50, ge=1)
    test_fraction: float = Field(0.2, ge=0, lt=1)
    seed: int = 0
