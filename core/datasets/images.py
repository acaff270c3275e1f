"""Reading image files (Pillow) for any dataset: one image as (H, W, C) uint8 at a given
size, more-than-8-bit files scaled rather than clipped, an unreadable file a
``DataError`` naming it. Used by the built-in dataset plugins (image folders, mask
folders, detection annotations) and by ``visionhooks predict`` on image files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DataError


def eight_bit(im: Any, path: Path) -> Any:
    """A Pillow image of more than 8 bits per pixel as 8-bit ``L``, scaled by its mode
    (the same for every image of a dataset): integer modes (``I;16``: 16-bit PNGs, ``I``:
    32-bit TIFFs) as 0-65535, float ``F`` as 0-1. Pillow's own ``convert`` clips such
    pixels at 255, so a 16-bit image came out white. Pixels outside the mode's range are
    an error naming them."""
    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    from PIL import Image

    a = np.asarray(im, dtype=np.float64)
    top = 1.0 if im.mode == "F" else 65535.0
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if not np.isfinite(a).all():
        raise DataError(f"cannot read image {path}: {int((~np.isfinite(a)).sum())} of its "
                        f"{im.mode} pixels are NaN or infinite")
    if lo < 0 or hi > top:
        raise DataError(f"cannot read image {path}: {im.mode} pixels span [{lo:g}, {hi:g}]; "
                        f"read as 0-{top:g}, they must lie within it")
    return Image.fromarray(np.round(a * (255.0 / top)).astype(np.uint8), "L")


@contextlib.contextmanager
def opened(path: Path, note: str = "") -> Iterator[Any]:
    """The image file opened with Pillow; one that cannot be opened or decoded inside the
    block is a ``DataError`` naming it (``note`` appended to the message)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            yield im
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}{note}") from exc


def read_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """One image as (H, W, C) uint8, resized to ``size`` (height, width)."""
    from PIL import Image

    with opened(path) as im:
        im = eight_bit(im, path).convert("L" if mode == "grayscale" else "RGB")
        if im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr
