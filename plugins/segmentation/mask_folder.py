"""``mask-folder``: images in one folder, PNG masks in another, matched by file stem.

``images/roof_01.jpg`` goes with ``masks/roof_01.png``. Images are resized bilinearly to
``image_size`` (height, width) and converted to RGB or grayscale; masks are resized with
nearest-neighbour sampling (class ids are never blended) and read as integer class ids:
single-channel PNGs (mode ``L``, 16-bit ``I``, bilevel ``1``) give their values, palette
PNGs (mode ``P``) their palette indices, and an RGB(A) or LA PNG is accepted only when
its colour channels are equal everywhere (a grey mask saved as RGB). ``num_classes``
comes from the config, else the largest class id + 1 (at least 2).

Every problem is found before anything is returned, and one ``DataError`` lists them all
by file name: images without a mask, masks without an image, an image and its mask of
different sizes, masks that are not class ids (colour-coded RGB, non-integer values,
negative values) and class ids ≥ ``num_classes``. The files are split at random into
train and test by ``test_fraction`` and ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import DataInfo
from visionhooks.datasets import Dataset, LazySplit, Split
from visionhooks.datasets.images import read_image
from visionhooks.errors import DataError, DatasetNotFoundError

from .config import MaskFolderConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png",)
#: Names listed per kind of problem before "and N more".
MAX_LISTED = 10


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def index_folder(folder: Path, extensions: tuple[str, ...], what: str) -> dict[str, Path]:
    """``{stem: path}`` of the files in ``folder`` (not recursive) with ``extensions``.

    Raises:
        DatasetNotFoundError: no such folder.
        DataError: two files share a stem (``a.png`` and ``a.jpg``).
    """
    if not folder.is_dir():
        raise DatasetNotFoundError(f"mask-folder: no such {what} folder {str(folder)!r}")
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions:
            found.setdefault(p.stem, []).append(p)
    twins = [" / ".join(q.name for q in ps) for ps in found.values() if len(ps) > 1]
    if twins:
        raise DataError(f"mask-folder: {what} in {folder} share a name (stem), so they cannot "
                        f"be matched: {_listing(twins)}")
    return {stem: ps[0] for stem, ps in found.items()}


def read_mask(path: Path) -> np.ndarray:
    """One mask as (H, W) int64 class ids, at its own size.

    Raises:
        DataError: unreadable file, colour-coded (channels differ), non-integer or
            negative values, or a mode without class ids.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read mask {path}: {exc}") from exc
    if mode in ("RGB", "RGBA", "LA", "PA", "RGBX"):
        bands = {"RGB": 3, "RGBA": 3, "RGBX": 3, "LA": 1, "PA": 1}[mode]
        colour = a[..., :bands]
        if bands > 1 and not (colour == colour[..., :1]).all():
            raise DataError(f"mask {path.name} is {mode} with different values in its colour "
                            f"channels: masks must hold class ids (a single-channel L or "
                            f"palette P PNG), not colours")
        a = colour[..., 0]
    elif mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        raise DataError(f"mask {path.name} has mode {mode}: masks must hold class ids "
                        f"(a single-channel L or palette P PNG)")
    if a.dtype.kind == "f" and (not np.isfinite(a).all() or (a != np.round(a)).any()):
        raise DataError(f"mask {path.name} holds non-integer values: masks must hold "
                        f"integer class ids")
    a = a.astype(np.int64)
    if a.ndim != 2:
        raise DataError(f"mask {path.name} must be one channel. Received shape {a.shape}")
    if (a < 0).any():
        raise DataError(f"mask {path.name} holds negative values (min {a.min()}): class ids "
                        f"start at 0")
    return a


def resize_nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) → ``size`` (height, width) by nearest-neighbour sampling at pixel centres."""
    h, w = mask.shape
    if (h, w) == tuple(size):
        return mask
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(int), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(int), w - 1)
    return mask[rows[:, None], cols[None, :]]


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size  # (width, height)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def build(config: MaskFolderConfig, info: Any = None) -> Dataset:
    """Build the ``mask-folder`` dataset (``info`` is unused: data defines it).

    Returns a ``Dataset`` whose splits are ``(images, masks)``: images (N, H, W, C) uint8
    as read (C = 3 for ``rgb``, 1 for ``grayscale``), masks (N, H, W) int32 class ids,
    with (H, W) = ``image_size``; files in sorted stem order within each split.

    Raises:
        DatasetNotFoundError: a folder does not exist.
        DataError: no images; unmatched files, size mismatches, masks that are not class
            ids, or class ids ≥ ``num_classes`` (every offending file named).
    """
    image_dir = Path(config.images).expanduser()
    mask_dir = Path(config.masks).expanduser()
    images = index_folder(image_dir, IMAGE_EXTENSIONS, "images")
    masks = index_folder(mask_dir, MASK_EXTENSIONS, "masks")
    if not images:
        raise DataError(f"mask-folder: {image_dir} holds no images with extensions "
                        f"{list(IMAGE_EXTENSIONS)}")
    problems = []
    lonely = [images[s].name for s in sorted(set(images) - set(masks))]
    orphans = [masks[s].name for s in sorted(set(masks) - set(images))]
    if lonely:
        problems.append(f"{len(lonely)} image(s) without a mask in {mask_dir}: "
                        f"{_listing(lonely)}")
    if orphans:
        problems.append(f"{len(orphans)} mask(s) without an image in {image_dir}: "
                        f"{_listing(orphans)}")
    if problems:
        raise DataError("mask-folder: images and masks are matched by file name (stem); "
                        + "; ".join(problems))

    stems = sorted(images)
    height, width = config.image_size
    ys, peaks, bad, mismatch = [], [], [], []
    for stem in stems:  # every mask is read and checked now, streamed or not
        try:
            m = read_mask(masks[stem])
        except DataError as exc:
            bad.append(str(exc))
            continue
        iw, ih = _image_size(images[stem])
        if (ih, iw) != m.shape:
            mismatch.append(f"{images[stem].name} is {iw}×{ih} but {masks[stem].name} is "
                            f"{m.shape[1]}×{m.shape[0]}")
            continue
        peaks.append(int(m.max()))
        if not config.stream:
            ys.append(resize_nearest(m, (height, width)))
    if bad:
        problems.append(f"{len(bad)} mask(s) are not class ids: {_listing(bad)}")
    if mismatch:
        problems.append(f"{len(mismatch)} image(s) and mask(s) differ in size (width×height): "
                        f"{_listing(mismatch)}")
    if problems:
        raise DataError("mask-folder: " + "; ".join(problems))

    num_classes = config.num_classes or max(2, max(peaks) + 1)
    over = [f"{masks[s].name} (max {p})" for s, p in zip(stems, peaks) if p >= num_classes]
    if over:
        raise DataError(f"mask-folder: {len(over)} mask(s) hold class ids >= num_classes="
                        f"{num_classes}: {_listing(over)}; raise num_classes or fix the masks")

    n = len(stems)
    n_test = round(n * config.test_fraction)
    if config.test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)  # both splits non-empty when asked for a test split
    n_test = min(n_test, n - 1)
    order = np.random.default_rng(config.seed).permutation(n)
    is_test = np.zeros(n, bool)
    is_test[order[:n_test]] = True
    channels = 1 if config.color_mode == "grayscale" else 3
    data_info = DataInfo(task="segmentation", input_shape=(height, width, channels),
                         num_classes=num_classes)
    source = f"{image_dir} + {mask_dir} ({n - n_test} train / {n_test} test)"
    if config.stream:
        names = np.asarray(stems, object)
        return Dataset("mask-folder", _lazy(names[~is_test], images, masks, config),
                       _lazy(names[is_test], images, masks, config), data_info, source)
    x = np.stack([read_image(images[s], (height, width), config.color_mode) for s in stems])
    y = np.stack(ys).astype(np.int32)
    return Dataset("mask-folder", Split(x[~is_test], y[~is_test]), Split(x[is_test], y[is_test]),
                   data_info, source)


def _lazy(stems: np.ndarray, images: dict[str, Path], masks: dict[str, Path],
          config: MaskFolderConfig) -> LazySplit:
    """A split whose images and masks are read when a batch needs them."""
    size = config.image_size
    shape = (*size, 1 if config.color_mode == "grayscale" else 3)

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        picked = stems[rows]
        if not len(picked):
            return np.zeros((0, *shape), np.uint8), np.zeros((0, *size), np.int32)
        x = np.stack([read_image(images[s], size, config.color_mode) for s in picked])
        y = np.stack([resize_nearest(read_mask(masks[s]), size) for s in picked])
        return x, y.astype(np.int32)

    return LazySplit(len(stems), read, workers=config.workers)
