"""Image validation at the edge (``visionhooks.tasktype.check_images``): the data model."""

from __future__ import annotations

import numpy as np
import pytest

from visionhooks.errors import DataError
from visionhooks.tasktype import check_images

SHAPE = (6, 5, 1)


def test_float_images_pass_through_as_float32():
    x = np.random.default_rng(0).random((3, *SHAPE))
    out = check_images(x, SHAPE)
    assert out.dtype == np.float32 and np.allclose(out, x)


def test_uint8_is_scaled_once_to_unit_range():
    x = np.array([0, 51, 255], np.uint8).reshape(3, 1, 1, 1) * np.ones((1, 6, 5, 1), np.uint8)
    out = check_images(x, SHAPE)
    assert out.dtype == np.float32
    assert out[:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_grayscale_batches_gain_their_channel_axis():
    assert check_images(np.zeros((2, 6, 5)), SHAPE).shape == (2, 6, 5, 1)


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 5, 6, 1)), "images have shape (5, 6, 1) but the model expects (6, 5, 1)"),
    (np.zeros((2, 6, 5, 3)), "images have shape (6, 5, 3) but the model expects (6, 5, 1)"),
    (np.zeros((6, 5, 1)), "images must have shape (N, H, W, C) = (N, 6, 5, 1)"),
    (np.zeros((2, 30)), "Received: shape=(2, 30)"),
    (np.zeros((0, 6, 5, 1)), "the batch of images is empty"),
    (np.zeros((2, 6, 5, 1), bool), "must be uint8 or float in [0, 1]. Received: dtype=bool"),
    (np.full((2, 6, 5, 1), 255.0), "float images must be in [0, 1]"),
    (np.full((2, 6, 5, 1), -0.5), "min=-0.5"),
    (np.array([[["a"] * 5] * 6] * 2), "dtype=<U1"),
])
def test_bad_images_name_the_problem(x, message):
    with pytest.raises(DataError) as exc:
        check_images(x, SHAPE)
    assert message in str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_name_the_images(bad):
    x = np.zeros((12, *SHAPE), np.float32)
    x[3, 1, 1, 0] = bad
    x[11, 0, 0, 0] = bad
    with pytest.raises(DataError, match=r"NaN or infinite values \(image indices \[3, 11\]\)"):
        check_images(x, SHAPE)


def test_ragged_input():
    with pytest.raises(DataError, match="images must be an array"):
        check_images([np.zeros((6, 5, 1)), np.zeros((4, 5, 1))], SHAPE)
