"""The augmentations: random geometric transforms (fused into one warp) and photometric
ones, each drawing its own parameters for every image of a batch.

An augmentation is a callable ``aug(batch, key) -> batch`` on data-model batches
(``images`` NHWC float32 in [0, 1], and any of ``labels``, ``segmentation_masks``,
``bounding_boxes``), pure JAX so that it runs inside the compiled training step. A
geometric transform contributes a forward affine map per image; ``fuse`` lets the
pipeline chain consecutive ones so a batch is resampled once, whatever their number.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from visionhooks import DataInfo

from . import config as c
from .geometry import apply_forward, rotation, scaling, translation

DEFAULT_BOX_FORMAT = "rel_center_xywh"


def _coins(key, probability: float, n: int):
    """(n,) bool: which images a transform applies to."""
    if probability >= 1.0:
        return jnp.ones((n,), bool)
    return jax.random.bernoulli(key, probability, (n,))


def _eye(n: int):
    return jnp.tile(jnp.eye(3, dtype=jnp.float32), (n, 1, 1))


class Geometric:
    """A random affine transform per image. Subclasses draw ``_maps(key, n, h, w)``."""

    geometric = True
    accepts_uint8 = True  # the warp gathers bytes and converts the blend

    def __init__(self, config: c.WarpConfig, info: DataInfo | None) -> None:
        self.config = config
        self.box_format = (info.box_format if info is not None and info.box_format
                           else DEFAULT_BOX_FORMAT)
        self.options = (config.fill_mode, float(config.fill_value),
                        float(config.min_visibility), self.box_format)

    @property
    def parts(self) -> list[Geometric]:
        return [self]

    def _maps(self, key, n: int, height: int, width: int):
        raise NotImplementedError

    def forward(self, key, n: int, height: int, width: int):
        """(n, 3, 3) forward maps; images not drawn by the coin get the identity."""
        k_coin, k_maps = jax.random.split(key)
        apply = _coins(k_coin, self.config.probability, n)
        return jnp.where(apply[:, None, None], self._maps(k_maps, n, height, width), _eye(n))

    def fuse(self, other: Any) -> Geometric | None:
        """One transform doing ``self`` then ``other`` with a single warp, when both are
        geometric with the same warp options; else None."""
        if isinstance(other, Geometric) and other.options == self.options:
            return Chain([*self.parts, *other.parts])
        return None

    def __call__(self, batch: dict, key) -> dict:
        n, height, width = batch["images"].shape[:3]
        fill_mode, fill_value, min_visibility, box_format = self.options
        return apply_forward(batch, self.forward(key, n, height, width), fill_mode=fill_mode,
                             fill_value=fill_value, min_visibility=min_visibility,
                             box_format=box_format)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class Chain(Geometric):
    """Geometric transforms applied in order through one warp (their maps multiplied)."""

    def __init__(self, parts: list[Geometric]) -> None:
        self.config = parts[0].config
        self.options = parts[0].options
        self.box_format = parts[0].box_format
        self._parts = list(parts)

    @property
    def parts(self) -> list[Geometric]:
        return list(self._parts)

    def forward(self, key, n: int, height: int, width: int):
        maps = _eye(n)
        for part, k in zip(self._parts, jax.random.split(key, len(self._parts))):
            maps = part.forward(k, n, height, width) @ maps
        return maps

    def __repr__(self) -> str:
        return f"Chain({self._parts!r})"


class Flip(Geometric):
    """Mirror about the vertical axis (horizontal flip) and/or the horizontal axis, each
    with its own coin of ``probability``."""

    def forward(self, key, n: int, height: int, width: int):
        kh, kv = jax.random.split(key)
        mode = self.config.mode
        p = self.config.probability
        fh = _coins(kh, p, n) if mode != "vertical" else jnp.zeros((n,), bool)
        fv = _coins(kv, p, n) if mode != "horizontal" else jnp.zeros((n,), bool)
        su, sv = jnp.where(fh, -1.0, 1.0), jnp.where(fv, -1.0, 1.0)
        return scaling(su, sv, height, width)


class Shift(Geometric):
    def _maps(self, key, n: int, height: int, width: int):
        ku, kv = jax.random.split(key)
        tu = jax.random.uniform(ku, (n,), minval=-self.config.x, maxval=self.config.x) * width
        tv = jax.random.uniform(kv, (n,), minval=-self.config.y, maxval=self.config.y) * height
        return translation(tu, tv)


class Rotate(Geometric):
    def _maps(self, key, n: int, height: int, width: int):
        limit = math.radians(self.config.max_degrees)
        return rotation(jax.random.uniform(key, (n,), minval=-limit, maxval=limit),
                        height, width)


class Zoom(Geometric):
    def _maps(self, key, n: int, height: int, width: int):
        lo, hi = math.log(self.config.min_scale), math.log(self.config.max_scale)
        ku, kv = jax.random.split(key)
        su = jnp.exp(jax.random.uniform(ku, (n,), minval=lo, maxval=hi))
        sv = su if self.config.keep_aspect else jnp.exp(
            jax.random.uniform(kv, (n,), minval=lo, maxval=hi))
        return scaling(su, sv, height, width)


def as_float(x):
    """Images as float32 in [0, 1] (uint8 is scaled once, inside the compiled step)."""
    from visionhooks.keras_objects import scale_uint8

    return scale_uint8(x)


class Brightness:
    """Add one uniform delta per image, clip to [0, 1]."""

    geometric = False
    accepts_uint8 = True  # as_float scales them inside the step

    def __init__(self, config: c.BrightnessConfig, info: DataInfo | None) -> None:
        self.config = config

    def __call__(self, batch: dict, key) -> dict:
        x = as_float(batch["images"])
        k_coin, k_delta = jax.random.split(key)
        d = self.config.max_delta
        delta = jax.random.uniform(k_delta, (x.shape[0],), minval=-d, maxval=d)
        delta = jnp.where(_coins(k_coin, self.config.probability, x.shape[0]), delta, 0.0)
        return {**batch, "images": jnp.clip(x + delta[:, None, None, None], 0.0, 1.0)
                .astype(x.dtype)}


class Contrast:
    """Scale each image's deviation from its own mean (over pixels and channels), clip."""

    geometric = False
    accepts_uint8 = True  # as_float scales them inside the step

    def __init__(self, config: c.ContrastConfig, info: DataInfo | None) -> None:
        self.config = config

    def __call__(self, batch: dict, key) -> dict:
        x = as_float(batch["images"])
        k_coin, k_f = jax.random.split(key)
        f = jax.random.uniform(k_f, (x.shape[0],), minval=self.config.min_factor,
                               maxval=self.config.max_factor)
        f = jnp.where(_coins(k_coin, self.config.probability, x.shape[0]), f, 1.0)
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        out = (x - mean) * f[:, None, None, None] + mean
        return {**batch, "images": jnp.clip(out, 0.0, 1.0).astype(x.dtype)}
