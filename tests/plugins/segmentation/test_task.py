"""The segmentation task end to end on tiny synthetic masks: validation, training lowers
the loss, save/load round trip, figures."""

import numpy as np
import pytest

import visionhooks as vh
from visionhooks import DataInfo
from visionhooks.datasets import Dataset, Split

UNET = {"base_filters": 4, "depth": 2}


def squares(n, size=16, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3), np.float32) * 0.2
    y = np.zeros((n, size, size), np.int32)
    for i in range(n):
        for c in range(1, classes):
            r, col = rng.integers(0, size - 6, 2)
            y[i, r:r + 6, col:col + 6] = c
            x[i, r:r + 6, col:col + 6, c % 3] += 0.7
    return x, y


@pytest.fixture(scope="module")
def data():
    x, y = squares(48)
    info = DataInfo(task="segmentation", input_shape=(16, 16, 3), num_classes=2,
                    class_names=("background", "square"))
    return Dataset("squares", Split(x[:40], y[:40]), Split(x[40:], y[40:]), info)


def test_bad_masks_are_named(data):
    task = vh.compose(task="segmentation", model="unet", model_config=UNET, data=data)
    x, y = data.train
    cases = [(y[:, :8], "shape \\(N, 16, 16\\)"), (y[:3], "40 images but 3 masks"),
             (np.where(np.arange(16) == 5, 2, y), "mask 0, pixel \\(0, 5\\): class 2 is "
                                                   "outside 0..1"),
             (y.astype(np.float32) + 0.5, "mask 0 holds non-integer"),
             # checked before the cast to int32, which would wrap it to class 1
             (np.where(np.arange(16) == 5, 2**32 + 1, y.astype(np.int64)),
              "class 4294967297 is outside")]
    for bad, message in cases:
        with pytest.raises(vh.DataError, match=message):
            task.fit(x, bad, epochs=1, verbose=0, checkpoint=False)
    np.testing.assert_array_equal(task.task_type.check_targets(y[..., None], 40), y)
    assert task.task_type.check_targets(y.astype(bool), 40).dtype == np.int32


@pytest.mark.parametrize("loss", ["pixel_crossentropy", "dice", "crossentropy_dice"])
def test_training_lowers_the_loss(data, tmp_path, loss):
    task = vh.compose(task="segmentation", model="unet", model_config=UNET, data=data,
                      loss=loss, optimizer={"learning_rate": 5e-3})
    history = task.fit(data.train, epochs=8, batch_size=8, verbose=0, checkpoint=False)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0], history.history


def test_multiclass_round_trip_and_figures(tmp_path):
    x, y = squares(24, classes=4)
    info = DataInfo(task="segmentation", input_shape=(16, 16, 3), num_classes=4)
    data = Dataset("squares4", Split(x[:16], y[:16]), Split(x[16:], y[16:]), info)
    task = vh.compose(task="segmentation", model="unet", model_config=UNET, data=data)
    task.fit(data.train, epochs=2, batch_size=8, verbose=0, run_dir=tmp_path / "run")
    metrics = task.evaluate(data.test)
    assert {"loss", "mean_iou", "pixel_accuracy", "per_class_iou"} <= set(metrics)
    pred = task.predict(data.test.x)
    assert pred["masks"].shape == (8, 16, 16) and pred["masks"].dtype == np.int32
    assert pred["probabilities"].shape == (8, 16, 16, 4)
    again = vh.load(task.save(tmp_path / "unet.keras"))
    np.testing.assert_array_equal(again.predict(data.test.x, raw=True),
                                  task.predict(data.test.x, raw=True))
    (path,) = task.figures(data.test, tmp_path / "figs")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "%" in task.task_type.describe(pred, 0)


# the old one-class file's softmax over one channel is what this test keeps loading
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1:UserWarning")
def test_a_task_saved_with_one_class_still_loads(tmp_path, monkeypatch):
    """Tasks of fewer classes than ``min_classes`` are refused when composed, not when
    loaded: files saved before the rule keep working."""
    from visionhooks.plugins.segmentation.task import SegmentationTask

    with pytest.raises(vh.ConfigError, match="a segmentation task needs at least 2 classes"):
        vh.compose(task="segmentation", model="unet", model_config=UNET,
                   input_shape=(16, 16, 1), num_classes=1)
    monkeypatch.setattr(SegmentationTask, "min_classes", 1)  # as before the rule
    path = vh.compose(task="segmentation", model="unet", model_config=UNET,
                      input_shape=(16, 16, 1), num_classes=1).save(tmp_path / "one.keras")
    monkeypatch.undo()
    loaded = vh.load(path)
    assert loaded.info.num_classes == 1
    assert loaded.predict(np.zeros((1, 16, 16, 1), np.float32))["masks"].shape == (1, 16, 16)
