"""``mnist-segmentation`` scenes: masks labelled by digit class exactly where the pasted
digits exceed the threshold, later digits winning, split discipline, determinism and the
bundled-sample fallback."""

from __future__ import annotations

import numpy as np
import pytest

from visionhooks.errors import ConfigError, DatasetNotFoundError
from visionhooks.plugins.segmentation import digits
from visionhooks.plugins.segmentation.config import MNISTSegmentationConfig

THR = digits.MASK_THRESHOLD


def cfg(**kw) -> MNISTSegmentationConfig:
    return MNISTSegmentationConfig(**({"train_images": 48, "test_images": 24, "full": False}
                                      | kw))


@pytest.fixture(scope="module")
def sample():
    """The bundled MNIST sample (2,000 train / 500 test digits) as loaded by the core."""
    from visionhooks.plugins.datasets import mnist
    from visionhooks.plugins.datasets.config import MNISTConfig

    return mnist.build(MNISTConfig(full=False))


def replay(digit_images, labels, layout, i, size):
    """Scene i rebuilt digit by digit: the image as the maximum of the pasted digits, the
    mask with each digit's pixels above the threshold overwriting earlier ones."""
    image = np.zeros((size, size), np.float32)
    mask = np.zeros((size, size), np.int32)
    for j, src in enumerate(layout["sources"][i]):
        if src < 0:
            continue
        y, x = layout["positions"][i, j]
        alone = np.zeros((size, size), np.float32)
        alone[y:y + 28, x:x + 28] = digit_images[src]
        image = np.maximum(image, alone)
        mask[alone > THR] = labels[src] + 1
    return image, mask


def test_build_shapes_dtypes_and_info():
    ds = digits.build(cfg(image_size=40))
    assert ds.name == "mnist-segmentation" and "bundled sample" in ds.source
    x, y = ds.train
    assert x.shape == (48, 40, 40, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (48, 40, 40) and y.dtype == np.int32
    assert ds.test.x.shape == (24, 40, 40, 1) and ds.test.y.shape == (24, 40, 40)
    assert ds.info.task == "segmentation" and ds.info.input_shape == (40, 40, 1)
    assert ds.info.num_classes == 11
    assert ds.info.class_names == ("background", *"0123456789")
    for split in (ds.train, ds.test):
        assert set(np.unique(split.y)) <= set(range(11))
        # the image is the maximum of the digits: mask > 0 exactly above the threshold
        np.testing.assert_array_equal(split.y > 0, split.x[..., 0] > THR)


def test_masks_match_the_pasted_digits_later_ones_winning(sample):
    x, labels = sample.train.x[..., 0] / np.float32(255), sample.train.y  # MNIST keeps uint8
    config = cfg(min_digits=2, max_digits=4, image_size=48)
    scenes = digits.make_scenes(x, labels, 64, config, "train")
    overlapping = 0
    for i in range(64):
        image, mask = replay(x, labels, scenes, i, 48)
        np.testing.assert_array_equal(scenes["images"][i, ..., 0], image)
        np.testing.assert_array_equal(scenes["masks"][i], mask)
        present = scenes["sources"][i] >= 0
        assert 2 <= present.sum() <= 4 and present[:present.sum()].all()
        covered = np.zeros((48, 48), np.int32)
        for j in np.nonzero(present)[0]:
            y0, x0 = scenes["positions"][i, j]
            covered[y0:y0 + 28, x0:x0 + 28] += x[scenes["sources"][i, j]] > THR
        overlapping += int((covered > 1).any())
    assert overlapping > 0  # the test saw digits overlapping


def test_train_from_mnist_train_test_from_mnist_test(sample):
    config = cfg()
    ds = digits.build(config)
    for name in ("train", "test"):
        x, y = getattr(sample, name)
        expected = digits.make_scenes(x, y, len(getattr(ds, name)), config, name)
        np.testing.assert_array_equal(getattr(ds, name).x, expected["images"])
        np.testing.assert_array_equal(getattr(ds, name).y, expected["masks"])
    flat = ds.train.x.reshape(len(ds.train), -1)
    for img in ds.test.x.reshape(len(ds.test), -1):
        assert not (flat == img).all(1).any()


def test_deterministic_and_seeded():
    a, b, c = digits.build(cfg()), digits.build(cfg()), digits.build(cfg(seed=3))
    for s in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, s).x, getattr(b, s).x)
        np.testing.assert_array_equal(getattr(a, s).y, getattr(b, s).y)
        assert not np.array_equal(getattr(a, s).y, getattr(c, s).y)


def test_fewer_scenes_are_a_prefix_and_zero_digits_allowed(sample):
    x, y = sample.train
    small = digits.make_scenes(x, y, 5, cfg(), "train")
    large = digits.make_scenes(x, y, 50, cfg(), "train")
    for k in ("images", "masks", "sources", "positions"):
        np.testing.assert_array_equal(small[k], large[k][:5])
    none = digits.make_scenes(x, y, 30, cfg(min_digits=0, max_digits=1), "train")
    empty = none["sources"][:, 0] < 0
    assert empty.any() and not none["masks"][empty].any() and not none["images"][empty].any()


def test_sample_fallback_warns_and_full_true_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("VISIONHOOKS_DATA", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("VISIONHOOKS_OFFLINE", "1")
    with pytest.warns(UserWarning, match="bundled sample"):
        ds = digits.build(cfg(full=None, train_images=4, test_images=4))
    assert "bundled sample" in ds.source
    with pytest.raises(DatasetNotFoundError):
        digits.build(cfg(full=True))


def test_invalid_config():
    with pytest.raises(ConfigError, match="min_digits"):
        digits.build(cfg(min_digits=4, max_digits=2))
    with pytest.raises(ValueError, match="split"):
        digits.make_scenes(np.zeros((2, 28, 28)), [0, 1], 2, cfg(), "val")
