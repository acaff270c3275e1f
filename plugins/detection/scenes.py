"""``mnist-detection``: synthetic scenes of real MNIST digits, with their boxes and classes.

Each scene is a ``image_size``² grayscale canvas holding ``min_digits``..``max_digits``
MNIST digits (uniform count; 0 allowed), each resized to a side drawn uniformly from
``min_scale``..``max_scale`` pixels, placed uniformly at random where it fits, and
max-composited (overlaps allowed; ``max_overlap`` < 1 rejects a placement whose box IoU
with an earlier box of the scene exceeds it). A digit's box is the tight box of its
resized pixels above ``PIXEL_THRESHOLD`` (pixel edges, so a box covers whole pixels), in
the seed's ``rel_center_xywh``. Train scenes use MNIST train digits only, test scenes
MNIST test digits only.

Generation is vectorised NumPy: digits of one size are resized together with two small
interpolation matrices (Pillow's antialiased bilinear filter, computed in float32), and
pasted per (size, slot) group with one fancy-indexed maximum. Scenes are drawn in chunks
of ``CHUNK`` from a generator seeded by ``(seed, split, chunk)``, so a smaller
``train_scenes`` gives exactly the first scenes of a larger one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import ConfigError, DataInfo
from visionhooks.datasets import Dataset, Split
from visionhooks.errors import warn_user
from visionhooks.tasktype import float_images

from .boxes import convert_boxes
from .config import MNISTDetectionConfig

#: A pixel belongs to a digit's box when it is above this (images are in [0, 1]).
PIXEL_THRESHOLD = 0.1
#: Scenes drawn per generator (and per block of work: bounds the temporary memory).
CHUNK = 2048
#: With ``max_overlap`` < 1: candidate positions tried per round, and rounds per digit.
CANDIDATES, ROUNDS = 32, 8
CLASS_NAMES = tuple(str(i) for i in range(10))
_SPLIT_ID = {"train": 0, "test": 1}


def check_config(config: MNISTDetectionConfig) -> None:
    """Raise ``ConfigError`` for combinations the field constraints cannot express."""
    problems = []
    if config.min_digits > config.max_digits:
        problems.append(f"min_digits ({config.min_digits}) > max_digits ({config.max_digits})")
    if config.min_scale > config.max_scale:
        problems.append(f"min_scale ({config.min_scale}) > max_scale ({config.max_scale})")
    if config.max_scale > config.image_size:
        problems.append(f"max_scale ({config.max_scale} px) > image_size "
                        f"({config.image_size} px): a digit must fit on the canvas")
    if problems:
        raise ConfigError("invalid mnist-detection config: " + "; ".join(problems))


def resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float32 weights of Pillow's bilinear resize along one axis.

    Triangle filter whose support widens by the downscale factor (antialiasing), rows
    normalised to 1, sampling at pixel centres (``(i + 0.5) * scale``).
    """
    scale = size_in / size_out
    support = max(scale, 1.0)
    centre = (np.arange(size_out) + 0.5) * scale
    w = 1.0 - np.abs((np.arange(size_in)[None, :] + 0.5 - centre[:, None]) / support)
    w = np.clip(w, 0.0, None)
    return (w / w.sum(1, keepdims=True)).astype(np.float32)


def resize_digits(digits: np.ndarray, size: int) -> np.ndarray:
    """Resize (n, h, w) float32 images to (n, size, size) with ``resize_matrix``."""
    ry = resize_matrix(digits.shape[1], size)
    rx = resize_matrix(digits.shape[2], size)
    return np.clip(ry @ digits @ rx.T, 0.0, 1.0)


def tight_boxes(patches: np.ndarray) -> np.ndarray:
    """(n, 4) int ``(y0, x0, y1, x1)``, inclusive, of pixels above ``PIXEL_THRESHOLD`` in
    each (n, s, s) patch (above half its maximum for a very faint patch; the whole patch
    for a blank one)."""
    peak = patches.max(axis=(1, 2))
    thr = np.minimum(PIXEL_THRESHOLD, 0.5 * peak)[:, None, None]
    mask = (patches > thr) | (peak <= 0)[:, None, None]
    rows, cols = mask.any(2), mask.any(1)
    s = patches.shape[1]
    y0, x0 = rows.argmax(1), cols.argmax(1)
    y1, x1 = s - 1 - rows[:, ::-1].argmax(1), s - 1 - cols[:, ::-1].argmax(1)
    return np.stack([y0, x0, y1, x1], 1)


def make_scenes(digits: np.ndarray, labels: np.ndarray, n: int,
                config: MNISTDetectionConfig, split: str = "train") -> dict[str, np.ndarray]:
    """Draw ``n`` scenes from ``digits`` (N, 28, 28), uint8 or float32 in [0, 1], and their
    ``labels``.

    Returns a dict: ``images`` (n, S, S, 1) float32, ``boxes`` (n, M, 4) rel_center_xywh,
    ``labels`` (n, M) int32 padded with -1 (boxes with 0), and the layout that made them:
    ``sources`` (n, M) indices into ``digits`` (-1 padding), ``sizes`` (n, M) digit sides in
    pixels and ``positions`` (n, M, 2) top-left ``(y, x)`` of each pasted digit. Objects
    come in pasting order. ``split`` ("train" or "test") picks the random stream.
    """
    check_config(config)
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be 'train' or 'test'. Received: {split!r}")
    digits = float_images(digits)
    if digits.ndim == 4 and digits.shape[-1] == 1:
        digits = digits[..., 0]
    if digits.ndim != 3 or len(digits) != len(labels) or not len(digits):
        raise ValueError(f"digits must be (N, H, W) with N >= 1 labels. Received: "
                         f"{digits.shape}, {len(labels)} labels")
    S, M = config.image_size, config.max_digits
    canvas = np.zeros((n, S, S), np.float32)
    out = {"boxes": np.zeros((n, M, 4), np.float32), "labels": np.full((n, M), -1, np.int32),
           "sources": np.full((n, M), -1, np.int64), "sizes": np.zeros((n, M), np.int64),
           "positions": np.zeros((n, M, 2), np.int64)}
    dropped = 0
    for c, start in enumerate(range(0, n, CHUNK)):
        stop = min(start + CHUNK, n)
        rng = np.random.default_rng([config.seed, _SPLIT_ID[split], c])
        dropped += _chunk(digits, np.asarray(labels), canvas[start:stop], config, rng,
                          {k: v[start:stop] for k, v in out.items()})
    if dropped:
        warn_user(f"mnist-detection: {dropped} digit(s) of {split} scenes found no place "
                  f"with box IoU <= max_overlap={config.max_overlap} after "
                  f"{CANDIDATES * ROUNDS} tries and were left out (those scenes hold "
                  f"fewer digits); lower max_digits or max_scale, or raise max_overlap")
    out["images"] = canvas[..., None]
    return out


def _chunk(digits, labels, canvas, cfg, rng, out) -> int:
    """Fill one chunk of scenes in place; returns the number of digits left out."""
    m, M, S = len(canvas), cfg.max_digits, cfg.image_size
    # Full-CHUNK draws, then the first m rows: a scene does not depend on n.
    count = rng.integers(cfg.min_digits, M + 1, CHUNK)[:m]
    src = rng.integers(0, len(digits), (CHUNK, M))[:m]
    size = rng.integers(cfg.min_scale, cfg.max_scale + 1, (CHUNK, M))[:m]
    u = rng.random((CHUNK, M, 2))[:m]
    present = np.arange(M)[None, :] < count[:, None]
    pos = np.floor(u * (S - size + 1)[..., None]).astype(np.int64)  # uniform where it fits
    patches, tight = {}, np.zeros((m, M, 4), np.int64)
    for s in np.unique(size[present]):
        rows, slots = np.nonzero(present & (size == s))
        p = resize_digits(digits[src[rows, slots]], int(s))
        patches[int(s)] = (rows, slots, p)
        tight[rows, slots] = tight_boxes(p)
    dropped = 0
    if cfg.max_overlap < 1.0:
        dropped = _place_apart(rng, present, size, pos, tight, cfg)
    for s, (rows, slots, p) in patches.items():
        keep = present[rows, slots]
        rows, slots, p = rows[keep], slots[keep], p[keep]
        ar = np.arange(s)
        for j in np.unique(slots):  # one digit per scene per slot: no repeated indices
            sel = slots == j
            r = rows[sel]
            yy = (pos[r, j, 0][:, None] + ar)[:, :, None]
            xx = (pos[r, j, 1][:, None] + ar)[:, None, :]
            idx = (r[:, None, None], yy, xx)
            canvas[idx] = np.maximum(canvas[idx], p[sel])
    # boxes in pixel edges: inclusive pixel rows y0..y1 cover [y0, y1 + 1)
    xyxy = np.stack([pos[..., 1] + tight[..., 1], pos[..., 0] + tight[..., 0],
                     pos[..., 1] + tight[..., 3] + 1, pos[..., 0] + tight[..., 2] + 1], -1)
    boxes = convert_boxes(xyxy.astype(np.float32) / np.float32(S), "rel_xyxy",
                          "rel_center_xywh")
    order = np.argsort(~present, axis=1, kind="stable")  # placed digits first
    take = lambda a: np.take_along_axis(a, order.reshape(order.shape + (1,) * (a.ndim - 2)),
                                        1)
    ok = take(present)
    out["boxes"][:] = np.where(ok[..., None], take(boxes), 0)
    out["labels"][:] = np.where(ok, take(labels[src]), -1)
    out["sources"][:] = np.where(ok, take(src), -1)
    out["sizes"][:] = np.where(ok, take(size), 0)
    out["positions"][:] = np.where(ok[..., None], take(pos), 0)
    return dropped


def _place_apart(rng, present, size, pos, tight, cfg) -> int:
    """Re-draw positions slot by slot so that no box has IoU > ``max_overlap`` with an
    earlier box of its scene; digits without such a place are marked absent."""
    m, M = present.shape
    S, thr = cfg.image_size, cfg.max_overlap

    def boxes(p, t):  # xyxy pixel edges from positions (..., 2) and tight (..., 4)
        return np.stack([p[..., 1] + t[..., 1], p[..., 0] + t[..., 0],
                         p[..., 1] + t[..., 3] + 1, p[..., 0] + t[..., 2] + 1], -1)

    dropped = 0
    for j in range(1, M):
        todo = np.nonzero(present[:, j])[0]
        for _ in range(ROUNDS):
            u = rng.random((CHUNK, CANDIDATES, 2))[:m][todo]
            if not len(todo):
                continue
            cand = np.floor(u * (S - size[todo, j] + 1)[:, None, None]).astype(np.int64)
            cb = boxes(cand, tight[todo, j][:, None, :]).astype(np.float32)  # (k, T, 4)
            eb = boxes(pos[todo, :j], tight[todo, :j]).astype(np.float32)    # (k, j, 4)
            iou = _iou(cb, eb)                                                # (k, T, j)
            iou = np.where(present[todo, None, :j], iou, 0.0)
            fine = (iou <= thr).all(-1)
            hit = fine.any(1)
            first = fine.argmax(1)
            pos[todo[hit], j] = cand[hit, first[hit]]
            todo = todo[~hit]
        present[todo, j] = False
        dropped += len(todo)
    return dropped


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a (k, T, 4) and b (k, J, 4) → (k, T, J)."""
    ix = np.minimum(a[:, :, None, 2], b[:, None, :, 2]) - np.maximum(a[:, :, None, 0],
                                                                     b[:, None, :, 0])
    iy = np.minimum(a[:, :, None, 3], b[:, None, :, 3]) - np.maximum(a[:, :, None, 1],
                                                                     b[:, None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
    union = area(a)[:, :, None] + area(b)[:, None, :] - inter
    return inter / np.maximum(union, 1e-9)


def data_info(config: MNISTDetectionConfig) -> DataInfo:
    """The ``DataInfo`` of scenes built from ``config``."""
    return DataInfo(task="detection", input_shape=(config.image_size, config.image_size, 1),
                    num_classes=10, class_names=CLASS_NAMES, box_format="rel_center_xywh",
                    max_boxes=config.max_digits)


def build(config: MNISTDetectionConfig, info: Any = None) -> Dataset:
    """Build the ``mnist-detection`` dataset (``info`` is unused: data defines it).

    MNIST comes from ``path`` (``--data-path``), else ``VISIONHOOKS_DATA``, the Keras cache or a
    download; ``full=False`` uses the bundled sample (2,000 train / 500 test digits) and
    ``full=None`` falls back to it with a warning — exactly as ``vh.datasets.load("mnist")``.

    Returns a ``Dataset`` whose splits are ``(images, {"boxes", "labels"})``: images
    (N, S, S, 1) float32 in [0, 1], boxes (N, max_digits, 4) rel_center_xywh, labels
    (N, max_digits) int32 with -1 padding.

    Raises:
        ConfigError: min_digits > max_digits, min_scale > max_scale, max_scale > image_size.
        DatasetNotFoundError: ``full=True`` and no full MNIST file.
    """
    from visionhooks.plugins.datasets import mnist
    from visionhooks.plugins.datasets.config import MNISTConfig

    check_config(config)
    digits = mnist.build(MNISTConfig(path=config.path, full=config.full))

    def split(name: str, n: int) -> Split:
        x, y = getattr(digits, name)
        scenes = make_scenes(x, y, n, config, name)
        return Split(scenes["images"], {"boxes": scenes["boxes"], "labels": scenes["labels"]})

    return Dataset("mnist-detection", split("train", config.train_scenes),
                   split("test", config.test_scenes), data_info(config),
                   f"{digits.source} ({config.train_scenes} train / {config.test_scenes} "
                   f"test scenes, seed {config.seed})")

