"""Configs of the augmentations (pydantic only: cheap to import).

Each transform draws its own parameters per image from a distribution of "reasonable"
values (the seed: transformed images must look credible) and applies with
``probability``. Geometric transforms share the options of the warp they are fused into.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from visionhooks import ComponentConfig


class WarpConfig(ComponentConfig):
    """Options of the affine warp a geometric transform is fused into. Consecutive
    geometric transforms with equal options share one warp."""

    probability: float = Field(1.0, ge=0, le=1, description="chance to transform an image")
    fill_mode: Literal["constant", "nearest", "reflect", "wrap"] = Field(
        "constant", description="what pixels from outside the image read")
    fill_value: float = Field(0.0, ge=0, le=1,
                              description="image value for fill_mode 'constant', in [0, 1] "
                                          "like the images (masks fill with class 0)")
    min_visibility: float = Field(0.25, ge=0, le=1, description=(
        "a moved box is dropped (with its class) when less than this share of it stays "
        "inside the image"))


class FlipConfig(WarpConfig):
    """Mirror images (and their masks and boxes), each axis with its own coin."""

    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal"
    probability: float = Field(0.5, ge=0, le=1, description="chance to flip each axis")


class ShiftConfig(WarpConfig):
    """Translate by a uniform fraction of the width in [-x, x] and of the height in
    [-y, y]."""

    x: float = Field(0.1, ge=0, le=1, description="largest shift, fraction of the width")
    y: float = Field(0.1, ge=0, le=1, description="largest shift, fraction of the height")


class RotateConfig(WarpConfig):
    """Rotate about the centre by a uniform angle in [-max_degrees, max_degrees]."""

    max_degrees: float = Field(15.0, ge=0, le=180)


class ZoomConfig(WarpConfig):
    """Scale about the centre by a log-uniform factor in [min_scale, max_scale]
    (> 1 zooms in); ``keep_aspect = false`` draws width and height factors apart."""

    min_scale: float = Field(0.9, gt=0)
    max_scale: float = Field(1.1, gt=0)
    keep_aspect: bool = True

    @model_validator(mode="after")
    def _range(self) -> "ZoomConfig":
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale ({self.min_scale}) > max_scale ({self.max_scale})")
        return self


class BrightnessConfig(ComponentConfig):
    """Add a uniform delta in [-max_delta, max_delta] to every pixel, then clip to [0, 1]."""

    max_delta: float = Field(0.2, ge=0, le=1)
    probability: float = Field(1.0, ge=0, le=1)


class ContrastConfig(ComponentConfig):
    """Scale each image's deviation from its mean by a uniform factor in
    [min_factor, max_factor], then clip to [0, 1]."""

    min_factor: float = Field(0.8, ge=0)
    max_factor: float = Field(1.2, ge=0)
    probability: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _range(self) -> "ContrastConfig":
        if self.min_factor > self.max_factor:
            raise ValueError(f"min_factor ({self.min_factor}) > max_factor ({self.max_factor})")
        return self
