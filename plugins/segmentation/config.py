"""Configs of the segmentation components (pydantic only: cheap to import).

Masks follow the data model: ``segmentation_masks`` (N, H, W) integer class ids; a
binary mask is the 2-class case. Models for 2 classes output one logistic channel
(probability of class 1), for more classes a softmax over C channels.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from visionhooks import ComponentConfig
from visionhooks.datasets import StreamOptions
from visionhooks.plugins.datasets.config import MNISTSource


class SegmentationTaskConfig(ComponentConfig):
    """The segmentation task type has no parameters of its own yet."""


class UNetConfig(ComponentConfig):
    """U-Net as the seed describes it: ``depth`` encoder blocks of two 3×3 convolutions
    (ReLU) then 2×2 max pooling, a bottleneck of two convolutions, ``depth`` decoder
    blocks (2×2 transposed convolution, concatenation of the matching encoder block's
    output, two convolutions), and a 1×1 output convolution; unit stride, zero padding."""

    base_filters: int = Field(64, ge=1, description="filters of the first block (64 in the paper)")
    depth: int = Field(4, ge=1, le=8, description="encoder (and decoder) blocks")
    batch_norm: bool = False
    dropout: float = Field(0.0, ge=0, lt=1, description="after each block's convolutions")
    spatial_dropout: bool = Field(False, description="drop whole feature maps (Tompson et al.)")
    fast_layers: bool = Field(True, description=(
        "convolution, pooling and up-convolution layers that pick XLA's fastest "
        "formulation per shape (the same function and weights as Keras' own)"))
    input_shape: tuple[int, int, int] = (128, 128, 3)
    num_classes: int = Field(2, ge=2)


class CrossEntropyConfig(ComponentConfig):
    """Pixel-wise binary (2 classes) or categorical cross-entropy."""


class DiceLossConfig(ComponentConfig):
    """Soft Dice loss, 1 − 2|P∩T| / (|P| + |T|), averaged over classes (the foreground
    class only for binary masks)."""

    smooth: float = Field(1.0, ge=0)


class CEDiceConfig(ComponentConfig):
    """Cross-entropy plus Dice."""

    dice_weight: float = Field(1.0, ge=0)
    smooth: float = Field(1.0, ge=0)


class MasksConfig(ComponentConfig):
    """Postprocessor: threshold (binary) or argmax (several classes) to integer masks."""

    threshold: float = Field(0.5, gt=0, lt=1)


class ShapesConfig(ComponentConfig):
    """Synthetic aerial-like scenes: building-like rectangles and polygons on a textured
    background, with their masks (the seed's building-segmentation example)."""

    image_size: int = Field(128, ge=16)
    train_images: int = Field(2000, ge=1)
    test_images: int = Field(200, ge=1)
    min_buildings: int = Field(1, ge=0)
    max_buildings: int = Field(8, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _ranges(self) -> "ShapesConfig":
        if self.min_buildings > self.max_buildings:
            raise ValueError(f"min_buildings ({self.min_buildings}) > max_buildings "
                             f"({self.max_buildings})")
        return self


class MNISTSegmentationConfig(MNISTSource):
    """Real MNIST digits on a canvas; masks labelled by digit class + 1 (0 = background:
    11 classes)."""

    image_size: int = Field(64, ge=28)
    min_digits: int = Field(1, ge=0)
    max_digits: int = Field(3, ge=1)
    train_images: int = Field(4000, ge=1)
    test_images: int = Field(400, ge=1)
    seed: int = 0


class MaskFolderConfig(StreamOptions):
    """Images and PNG masks in two folders, matched by file name (stem)."""

    images: str
    masks: str
    image_size: tuple[PositiveInt, PositiveInt] = (128, 128)
    color_mode: Literal["rgb", "grayscale"] = "rgb"
    num_classes: int | None = Field(None, ge=2, description="default: max mask value + 1")
    test_fraction: float = Field(0.2, ge=0, lt=1)
    seed: int = 0
