"""``shapes``: synthetic aerial-like scenes with building masks (the seed's "segmentation
of buildings from aerial images", drawn instead of photographed).

Each scene is an ``image_size``² RGB image, float32 in [0, 1]:

- **ground**: two octaves of smooth noise blending a grass green and a soil brown
  (colours jittered per scene), plus fine per-pixel noise on every surface;
- **roads**: 0–2 straight grey bands across the scene (mostly near axis-aligned);
- **trees**: a few dark-green discs (not buildings);
- **buildings**: ``min_buildings``..``max_buildings`` (uniform count) rectangles —
  axis-aligned or rotated — plain, L-shaped (a corner notch cut out) or with a wing (a
  second rectangle in the same frame, giving T and L shapes); roofs in slate, grey,
  terracotta, beige, white or blue-grey, either gabled (the two halves along the ridge
  shaded differently) or flat, with a darker one-pixel rim;
- **shadows**: buildings and trees cast a shadow offset towards one direction per scene
  (the sun); shadow pixels are darker ground, never part of the mask.

The mask is 1 on building pixels (pixel centres inside a building's polygon) and 0
elsewhere: ``segmentation_masks`` (N, S, S) int32 with 2 classes. The image uses the very
same pixel sets, so image and mask agree to the pixel.

Generation is vectorised NumPy over blocks of ``CHUNK`` scenes, each drawn from a
generator seeded by ``(seed, split, block)``: a smaller ``train_images`` gives exactly
the first scenes of a larger one, and train and test come from different streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionhooks import ConfigError, DataInfo
from visionhooks.datasets import Dataset, Split

from .config import ShapesConfig

#: Scenes per generator stream (whole blocks are drawn; the extra scenes are dropped).
CHUNK = 64
CLASS_NAMES = ("background", "building")
#: Roof colours (RGB): slate, light grey, terracotta, beige, white, blue-grey, dark brown.
ROOFS = np.array([[0.36, 0.36, 0.38], [0.66, 0.66, 0.64], [0.66, 0.34, 0.24],
                  [0.76, 0.69, 0.56], [0.86, 0.86, 0.84], [0.44, 0.50, 0.58],
                  [0.46, 0.32, 0.24]], np.float32)
GRASS = np.array([0.28, 0.42, 0.17], np.float32)
SOIL = np.array([0.48, 0.40, 0.26], np.float32)
TREE = np.array([0.13, 0.26, 0.10], np.float32)
MAX_ROADS, MAX_TREES = 2, 6
_SPLIT_ID = {"train": 0, "test": 1}


def check_config(config: ShapesConfig) -> None:
    """Raise ``ConfigError`` for combinations the field constraints cannot express."""
    if config.min_buildings > config.max_buildings:
        raise ConfigError(f"invalid shapes config: min_buildings ({config.min_buildings}) > "
                          f"max_buildings ({config.max_buildings})")


def _upsample_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float32 weights of a linear interpolation at pixel centres."""
    pos = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, size_in - 1)
    w = (pos - lo).astype(np.float32)
    m = np.zeros((size_out, size_in), np.float32)
    m[np.arange(size_out), lo] += 1 - w
    m[np.arange(size_out), hi] += w
    return m


def _smooth_noise(rng: np.random.Generator, n: int, cells: int, size: int) -> np.ndarray:
    """(n, size, size) smooth noise in [0, 1]: a ``cells``² random grid, upsampled."""
    grid = rng.random((n, cells, cells), dtype=np.float32)
    r = _upsample_matrix(cells, size)
    return r @ grid @ r.T


def _shift(a: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Shift each (S, S) boolean plane of ``a`` (n, S, S) by its own (dy, dx) pixels,
    filling with False."""
    n, s, _ = a.shape
    out = np.zeros_like(a)
    iy = np.arange(s)[None, :, None] - dy[:, None, None]
    ix = np.arange(s)[None, None, :] - dx[:, None, None]
    ok = (iy >= 0) & (iy < s) & (ix >= 0) & (ix < s)
    src = a[np.arange(n)[:, None, None], np.clip(iy, 0, s - 1), np.clip(ix, 0, s - 1)]
    out[...] = src & ok
    return out


def _erode(a: np.ndarray) -> np.ndarray:
    """4-neighbour binary erosion of (n, S, S) planes (outside the image counts as set)."""
    e = a.copy()
    e[:, 1:] &= a[:, :-1]
    e[:, :-1] &= a[:, 1:]
    e[:, :, 1:] &= a[:, :, :-1]
    e[:, :, :-1] &= a[:, :, 1:]
    return e


def make_scenes(n: int, config: ShapesConfig, split: str = "train") -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Draw ``n`` scenes: images (n, S, S, 3) float32 in [0, 1] and masks (n, S, S) int32
    (1 = building). ``split`` ("train" or "test") picks the random stream."""
    check_config(config)
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be 'train' or 'test'. Received: {split!r}")
    s = config.image_size
    images = np.empty((n, s, s, 3), np.float32)
    masks = np.empty((n, s, s), np.int32)
    for c, start in enumerate(range(0, n, CHUNK)):
        stop = min(start + CHUNK, n)
        rng = np.random.default_rng([config.seed, _SPLIT_ID[split], c])
        x, m = _chunk(rng, config)
        images[start:stop], masks[start:stop] = x[: stop - start], m[: stop - start]
    return images, masks


def _chunk(rng: np.random.Generator, cfg: ShapesConfig) -> tuple[np.ndarray, np.ndarray]:
    """One block of ``CHUNK`` scenes."""
    n, s = CHUNK, cfg.image_size
    f = s / 128.0  # sizes below are in pixels of a 128-px scene
    px = (np.arange(s, dtype=np.float32) + 0.5)
    X, Y = px[None, None, :], px[None, :, None]

    # ground: grass/soil blend of two octaves of smooth noise
    t = 0.65 * _smooth_noise(rng, n, 4, s) + 0.35 * _smooth_noise(rng, n, 11, s)
    contrast = rng.uniform(1.5, 3.0, (n, 1, 1)).astype(np.float32)
    t = np.clip((t - 0.5) * contrast + 0.5, 0, 1)
    grass = GRASS + rng.normal(0, 0.035, (n, 3)).astype(np.float32)
    soil = SOIL + rng.normal(0, 0.035, (n, 3)).astype(np.float32)
    img = (grass[:, None, None] * (1 - t[..., None]) + soil[:, None, None] * t[..., None])
    img *= rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32)

    # roads: straight grey bands (soft edges; not part of the mask)
    n_roads = rng.choice(MAX_ROADS + 1, n, p=[0.3, 0.45, 0.25])
    theta = np.where(rng.random((n, MAX_ROADS)) < 0.7,
                     rng.integers(0, 2, (n, MAX_ROADS)) * (np.pi / 2)
                     + rng.normal(0, 0.05, (n, MAX_ROADS)),
                     rng.uniform(0, np.pi, (n, MAX_ROADS))).astype(np.float32)
    anchor = rng.uniform(0.15 * s, 0.85 * s, (n, MAX_ROADS, 2)).astype(np.float32)
    width = rng.uniform(4, 8, (n, MAX_ROADS)).astype(np.float32) * f
    grey = rng.uniform(0.42, 0.62, (n, MAX_ROADS)).astype(np.float32)
    for j in range(MAX_ROADS):
        on = (j < n_roads)[:, None, None]
        sn, cs = np.sin(theta[:, j])[:, None, None], np.cos(theta[:, j])[:, None, None]
        d = np.abs((X - anchor[:, j, 0, None, None]) * sn - (Y - anchor[:, j, 1, None, None]) * cs)
        a = np.clip(width[:, j, None, None] / 2 - d + 0.5, 0, 1) * on
        col = grey[:, j, None, None, None] * np.array([1.0, 1.0, 0.97], np.float32)
        img += a[..., None] * (col - img)

    # trees: dark green discs
    n_trees = rng.integers(0, MAX_TREES + 1, n)
    tc = rng.uniform(0, s, (n, MAX_TREES, 2)).astype(np.float32)
    tr = rng.uniform(2.0, 4.5, (n, MAX_TREES)).astype(np.float32) * f
    trees = np.zeros((n, s, s), bool)
    for j in range(MAX_TREES):
        on = (j < n_trees)[:, None, None]
        d2 = (X - tc[:, j, 0, None, None]) ** 2 + (Y - tc[:, j, 1, None, None]) ** 2
        trees |= on & (d2 <= tr[:, j, None, None] ** 2)
    tree_col = TREE + rng.normal(0, 0.02, (n, 3)).astype(np.float32)
    img = np.where(trees[..., None], tree_col[:, None, None], img)

    # buildings
    B = cfg.max_buildings
    count = rng.integers(cfg.min_buildings, B + 1, n)
    cxy = rng.uniform(0.06 * s, 0.94 * s, (n, B, 2)).astype(np.float32)
    ha = np.maximum(rng.uniform(5, 15, (n, B)).astype(np.float32) * f, 1)   # half length
    hb = np.maximum(ha * rng.uniform(0.45, 0.9, (n, B)).astype(np.float32), 1)  # half width
    phi = np.where(rng.random((n, B)) < 0.5, 0.0,
                   rng.uniform(0, np.pi / 2, (n, B))).astype(np.float32)
    kind = rng.choice(3, (n, B), p=[0.5, 0.3, 0.2])                    # plain, L, wing
    flip = rng.choice(np.array([-1.0, 1.0], np.float32), (n, B, 2))
    notch = rng.uniform(0.35, 0.6, (n, B, 2)).astype(np.float32)
    wing_u = rng.uniform(-0.5, 0.5, (n, B)).astype(np.float32)
    wing_size = rng.uniform([0.25, 0.5], [0.45, 0.9], (n, B, 2)).astype(np.float32)
    roof = ROOFS[rng.integers(0, len(ROOFS), (n, B))] + rng.normal(0, 0.04, (n, B, 3))
    roof = roof.astype(np.float32)
    gable = rng.random((n, B)) < 0.6
    light = rng.uniform(0.1, 0.2, (n, B)).astype(np.float32)
    owner = np.full((n, s, s), -1, np.int8)  # the building slot drawn last at each pixel
    shade = np.zeros((n, s, s), np.float32)
    for j in range(B):
        on = (j < count)[:, None, None]
        sn, cs = np.sin(phi[:, j])[:, None, None], np.cos(phi[:, j])[:, None, None]
        dx, dy = X - cxy[:, j, 0, None, None], Y - cxy[:, j, 1, None, None]
        u, v = dx * cs + dy * sn, -dx * sn + dy * cs
        a, b = ha[:, j, None, None], hb[:, j, None, None]
        inside = (np.abs(u) <= a) & (np.abs(v) <= b)
        k = kind[:, j, None, None]
        su, sv = flip[:, j, 0, None, None], flip[:, j, 1, None, None]
        cut = (su * u > a * (1 - 2 * notch[:, j, 0, None, None])) & \
              (sv * v > b * (1 - 2 * notch[:, j, 1, None, None]))
        u0 = a * wing_u[:, j, None, None]
        wing = ((np.abs(u - u0) <= a * wing_size[:, j, 0, None, None])
                & (np.abs(v - sv * b) <= b * wing_size[:, j, 1, None, None]))
        shape = np.where(k == 1, inside & ~cut, np.where(k == 2, inside | wing, inside)) & on
        owner[shape] = j
        # gabled roofs: the two halves either side of the ridge (v = 0) lit differently
        side = np.where(v >= 0, light[:, j, None, None], -light[:, j, None, None])
        shade = np.where(shape & gable[:, j, None, None], side, np.where(shape, 0, shade))
    mask = owner >= 0
    colour = roof[np.arange(n)[:, None, None], np.maximum(owner, 0)] * (1 + shade[..., None])

    # shadows of buildings and trees, then roofs with a darker rim
    sun = rng.uniform(0, 2 * np.pi, n)
    length = rng.uniform(2, 4, n) * f
    sdy = np.round(np.sin(sun) * length).astype(int)
    sdx = np.round(np.cos(sun) * length).astype(int)
    shadow = _shift(mask | trees, sdy, sdx) & ~mask & ~trees
    dark = rng.uniform(0.45, 0.6, (n, 1, 1, 1)).astype(np.float32)
    img = np.where(shadow[..., None], img * dark, img)
    rim = mask & ~_erode(mask)
    colour[rim] *= np.float32(0.78)
    img = np.where(mask[..., None], colour, img)

    # fine texture: luminance and a little chroma noise on every surface
    img += np.float32(0.03) * rng.standard_normal((n, s, s, 1), dtype=np.float32)
    img += np.float32(0.012) * rng.standard_normal((n, s, s, 3), dtype=np.float32)
    return np.clip(img, 0, 1, out=img).astype(np.float32, copy=False), mask.astype(np.int32)


def data_info(config: ShapesConfig) -> DataInfo:
    """The ``DataInfo`` of scenes built from ``config``."""
    s = config.image_size
    return DataInfo(task="segmentation", input_shape=(s, s, 3), num_classes=2,
                    class_names=CLASS_NAMES)


def build(config: ShapesConfig, info: Any = None) -> Dataset:
    """Build the ``shapes`` dataset (``info`` is unused: data defines it).

    Returns a ``Dataset`` whose splits are ``(images, masks)``: images (N, S, S, 3)
    float32 in [0, 1], masks (N, S, S) int32 in {0, 1} (1 = building).

    Raises:
        ConfigError: min_buildings > max_buildings.
    """
    check_config(config)
    train = Split(*make_scenes(config.train_images, config, "train"))
    test = Split(*make_scenes(config.test_images, config, "test"))
    return Dataset("shapes", train, test, data_info(config),
                   f"synthetic ({config.train_images} train / {config.test_images} test "
                   f"scenes, seed {config.seed})")
