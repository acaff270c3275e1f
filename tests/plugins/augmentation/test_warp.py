"""The affine warp against scipy.ndimage.affine_transform, and its exact identities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from visionhooks.plugins.augmentation.warp import identity, warp_affine

#: Our fill modes and scipy's names for the same extension of the input.
SCIPY_MODE = {"constant": "grid-constant", "nearest": "nearest", "reflect": "reflect",
              "wrap": "grid-wrap"}


def random_matrices(rng, n, height, width):
    """Rotations, scales, shears and shifts about the centre: (n, 2, 3), (x, y) order."""
    out = []
    for _ in range(n):
        th, s = rng.uniform(-0.6, 0.6), rng.uniform(0.7, 1.3)
        lin = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) * s
        lin[0, 1] += rng.uniform(-0.2, 0.2)
        c = np.array([(width - 1) / 2, (height - 1) / 2])
        t = c - lin @ c + rng.uniform(-4, 4, 2)
        out.append(np.c_[lin, t])
    return np.array(out, np.float32)


def scipy_warp(image, m, order, mode, cval):
    """scipy works in (row, col): swap our (x, y) matrix."""
    mat = np.array([[m[1, 1], m[1, 0]], [m[0, 1], m[0, 0]]], np.float64)
    off = np.array([m[1, 2], m[0, 2]], np.float64)
    return ndi.affine_transform(image, mat, offset=off, order=order, mode=SCIPY_MODE[mode],
                                cval=cval)


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
def test_bilinear_matches_scipy(mode):
    rng = np.random.default_rng(0)
    n, h, w, c = 5, 19, 27, 3  # odd, non-square
    images = rng.random((n, h, w, c)).astype(np.float32)
    mats = random_matrices(rng, n, h, w)
    out = np.asarray(warp_affine(images, mats, fill_mode=mode, fill_value=0.25))
    ref = np.stack([np.stack([scipy_warp(images[i, ..., k].astype(np.float64), mats[i], 1, mode,
                                         0.25) for k in range(c)], -1) for i in range(n)])
    np.testing.assert_allclose(out, ref, atol=2e-5)


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
def test_nearest_matches_scipy_on_masks(mode):
    rng = np.random.default_rng(1)
    n, h, w = 5, 21, 16
    masks = rng.integers(0, 7, (n, h, w)).astype(np.int32)
    mats = random_matrices(rng, n, h, w)
    out = np.asarray(warp_affine(masks, mats, order=0, fill_mode=mode))
    assert out.dtype == np.int32 and out.shape == masks.shape
    ref = np.stack([scipy_warp(masks[i], mats[i], 0, mode, 0) for i in range(n)])
    # Rounding of coordinates that land exactly half-way may differ: allow a handful.
    assert (out != ref).mean() < 0.002


def test_uint8_images_round_to_the_nearest_value():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 12, 10, 3)).astype(np.uint8)
    mats = random_matrices(rng, 3, 12, 10)
    out = np.asarray(warp_affine(images, mats))
    ref = np.asarray(warp_affine(images.astype(np.float32), mats))
    assert out.dtype == np.uint8
    assert np.abs(out.astype(np.float32) - ref).max() <= 0.5 + 1e-3


def test_identity_and_flips_are_exact():
    rng = np.random.default_rng(3)
    images = rng.random((2, 9, 14, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(warp_affine(images, identity(2))), images)
    flip = np.array([[[-1, 0, 13], [0, 1, 0]]] * 2, np.float32)  # x → W − 1 − x
    once = np.asarray(warp_affine(images, flip))
    np.testing.assert_array_equal(once, images[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(warp_affine(once, flip)), images)


def test_bad_arguments_are_named():
    images = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        warp_affine(images, identity(2), fill_mode="mirror")
    with pytest.raises(ValueError, match="order must be 0"):
        warp_affine(images, identity(2), order=3)
    with pytest.raises(ValueError, match="matrices must be .* N = 2"):
        warp_affine(images, identity(3))
    with pytest.raises(ValueError, match="images must be"):
        warp_affine(np.zeros((4, 4)), identity(4))
