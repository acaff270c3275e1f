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
    (np.full((2, 6, 5, 1), 200, np.int16),
     "integer images must be uint8 (0-255), or floats in [0, 1]. Received: dtype=int16"),
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


def test_uint8_can_stay_uint8_for_the_device_after_the_same_checks():
    x = np.full((2, *SHAPE), 51, np.uint8)
    assert check_images(x, SHAPE, keep_uint8=True) is x
    with pytest.raises(DataError, match="images have shape"):
        check_images(np.zeros((2, 5, 6, 1), np.uint8), SHAPE, keep_uint8=True)


def test_a_task_scales_uint8_batches_on_the_device_as_the_edge_would(tmp_path):
    """fit, evaluate and predict pass uint8 as it is; ``TaskModel`` scales it inside the
    compiled step — the same numbers as converting first."""
    import visionhooks as vh

    rng = np.random.default_rng(3)
    u8 = rng.integers(0, 256, (16, 8, 8, 1), dtype=np.uint8)
    f32 = check_images(u8, (8, 8, 1))
    y = rng.integers(0, 3, 16)

    def task():
        return vh.compose(task="classification", model="mlp", input_shape=(8, 8, 1),
                          num_classes=3, model_config={"hidden_units": [8]},
                          augment=[{"name": "flip", "mode": "horizontal"}])

    a, b = task(), task()
    assert a._xy(u8, y)[0].dtype == np.uint8  # reaches Keras as uint8
    np.testing.assert_allclose(a.predict(u8, raw=True), a.predict(f32, raw=True), atol=1e-6)
    ha = a.fit(u8, y, epochs=2, batch_size=8, verbose=0, checkpoint=False)
    hb = b.fit(f32, y, epochs=2, batch_size=8, verbose=0, checkpoint=False)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)
    ea, eb = a.evaluate(u8, y), b.evaluate(f32, y)
    assert ea["loss"] == pytest.approx(eb["loss"], rel=1e-5)
    assert ea["confusion_matrix"] == eb["confusion_matrix"]
    assert a._xy(u8, y, keep_uint8=False)[0].dtype == np.float32  # figures draw floats
    assert all(p.is_file() for p in a.figures((u8, y), tmp_path))
