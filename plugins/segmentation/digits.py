"""``mnist-segmentation``: real MNIST digits on a canvas, masks labelled by digit class.

Each scene is an ``image_size``² grayscale canvas holding ``min_digits``..``max_digits``
MNIST digits (uniform count; 0 allowed), pasted at their own 28×28 size, uniformly at
random where they fit, and max-composited (overlaps allowed). The mask of a digit is the
set of its pixels above ``MASK_THRESHOLD``, labelled ``digit + 1``; 0 is background (11
classes, ``class_names`` ``("background", "0", ..., "9")``). Where digits overlap, the
later one wins in the mask on its own pixels; since the image is the pixel-wise maximum,
``mask > 0`` exactly where ``image > MASK_THRESHOLD``. Train scenes use MNIST train digits
only, test scenes MNIST test digits only.

Generation is vectorised NumPy: one fancy-indexed paste per digit slot for every scene at
once. Scenes are drawn in blocks of ``CHUNK`` from a generator seeded by
``(seed, split, block)``, so a smaller ``train_images`` gives exactly the first scenes of
a larger one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import ConfigError, DataInfo
from visionhooks.tasktype import float_images
from visionhooks.datasets import Dataset, Split

from .config import MNISTSegmentationConfig

#: A digit's pixel is in its mask when above this (images are in [0, 1]).
MASK_THRESHOLD = 0.5
#: Scenes drawn per generator (and per block of work).
CHUNK = 2048
CLASS_NAMES = ("background",) + tuple(str(i) for i in range(10))
_SPLIT_ID = {"train": 0, "test": 1}


def check_config(config: MNISTSegmentationConfig) -> None:
    """Raise ``ConfigError`` for combinations the field constraints cannot express."""
    if config.min_digits > config.max_digits:
        raise ConfigError(f"invalid mnist-segmentation config: min_digits "
                          f"({config.min_digits}) > max_digits ({config.max_digits})")


def make_scenes(digits: np.ndarray, labels: np.ndarray, n: int,
                config: MNISTSegmentationConfig, split: str = "train") -> dict[str, np.ndarray]:
    """Draw ``n`` scenes from ``digits`` (N, 28, 28[, 1]), uint8 or float32 in [0, 1], and
    ``labels``.

    Returns a dict: ``images`` (n, S, S, 1) float32, ``masks`` (n, S, S) int32 in 0..10,
    and the layout that made them: ``sources`` (n, M) indices into ``digits`` (-1 for no
    digit) and ``positions`` (n, M, 2) top-left ``(y, x)`` of each pasted digit, in pasting
    order (M = ``max_digits``). ``split`` ("train" or "test") picks the random stream.
    """
    check_config(config)
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be 'train' or 'test'. Received: {split!r}")
    digits = float_images(digits)
    if digits.ndim == 4 and digits.shape[-1] == 1:
        digits = digits[..., 0]
    labels = np.asarray(labels).astype(np.int32)
    if digits.ndim != 3 or len(digits) != len(labels) or not len(digits):
        raise ValueError(f"digits must be (N, H, W) with N >= 1 labels. Received: "
                         f"{digits.shape}, {len(labels)} labels")
    if digits.shape[1] > config.image_size or digits.shape[2] > config.image_size:
        raise ValueError(f"digits of {digits.shape[1:]} px do not fit on a "
                         f"{config.image_size}-px canvas")
    S, M = config.image_size, config.max_digits
    out = {"images": np.zeros((n, S, S), np.float32), "masks": np.zeros((n, S, S), np.int32),
           "sources": np.full((n, M), -1, np.int64), "positions": np.zeros((n, M, 2), np.int64)}
    for c, start in enumerate(range(0, n, CHUNK)):
        stop = min(start + CHUNK, n)
        rng = np.random.default_rng([config.seed, _SPLIT_ID[split], c])
        _chunk(digits, labels, config, rng, {k: v[start:stop] for k, v in out.items()})
    out["images"] = out["images"][..., None]
    return out


def _chunk(digits: np.ndarray, labels: np.ndarray, cfg: MNISTSegmentationConfig,
           rng: np.random.Generator, out: dict[str, np.ndarray]) -> None:
    """Fill one block of scenes in place."""
    m, M, S = len(out["images"]), cfg.max_digits, cfg.image_size
    h, w = digits.shape[1:]
    # Full-CHUNK draws, then the first m rows: a scene does not depend on n.
    count = rng.integers(cfg.min_digits, M + 1, CHUNK)[:m]
    src = rng.integers(0, len(digits), (CHUNK, M))[:m]
    u = rng.random((CHUNK, M, 2))[:m]
    pos = np.floor(u * np.array([S - h + 1, S - w + 1])).astype(np.int64)
    present = np.arange(M)[None, :] < count[:, None]
    canvas, masks = out["images"], out["masks"]
    ay, ax = np.arange(h), np.arange(w)
    for j in range(M):  # one digit per scene per slot: no repeated indices
        r = np.nonzero(present[:, j])[0]
        if not len(r):
            continue
        patch = digits[src[r, j]]
        idx = (r[:, None, None], (pos[r, j, 0][:, None] + ay)[:, :, None],
               (pos[r, j, 1][:, None] + ax)[:, None, :])
        canvas[idx] = np.maximum(canvas[idx], patch)
        cls = (labels[src[r, j]] + 1)[:, None, None]
        masks[idx] = np.where(patch > MASK_THRESHOLD, cls, masks[idx])
    out["sources"][:] = np.where(present, src, -1)
    out["positions"][:] = np.where(present[..., None], pos, 0)


def data_info(config: MNISTSegmentationConfig) -> DataInfo:
    """The ``DataInfo`` of scenes built from ``config``."""
    return DataInfo(task="segmentation", input_shape=(config.image_size, config.image_size, 1),
                    num_classes=11, class_names=CLASS_NAMES)


def build(config: MNISTSegmentationConfig, info: Any = None) -> Dataset:
    """Build the ``mnist-segmentation`` dataset (``info`` is unused: data defines it).

    MNIST comes from ``path`` (``--data-path``), else ``VISIONHOOKS_DATA``, the Keras cache or a
    download; ``full=False`` uses the bundled sample (2,000 train / 500 test digits) and
    ``full=None`` falls back to it with a warning — exactly as ``vh.datasets.load("mnist")``.

    Returns a ``Dataset`` whose splits are ``(images, masks)``: images (N, S, S, 1) float32
    in [0, 1], masks (N, S, S) int32 in 0..10 (digit + 1; 0 = background).

    Raises:
        ConfigError: min_digits > max_digits.
        DatasetNotFoundError: ``full=True`` and no full MNIST file.
    """
    from visionhooks.plugins.datasets import mnist
    from visionhooks.plugins.datasets.config import MNISTConfig

    check_config(config)
    digits = mnist.build(MNISTConfig(path=config.path, full=config.full))

    def split(name: str, n: int) -> Split:
        x, y = getattr(digits, name)
        scenes = make_scenes(x, y, n, config, name)
        return Split(scenes["images"], scenes["masks"])

    return Dataset("mnist-segmentation", split("train", config.train_images),
                   split("test", config.test_images), data_info(config),
                   f"{digits.source} ({config.train_images} train / {config.test_images} "
                   f"test scenes, seed {config.seed})")
