"""``mnist-detection`` scenes: determinism, split discipline, boxes against the pixels,
padding, zero-digit scenes, overlap control, config checks (bundled sample and real
MNIST)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import visionhooks as vh
from visionhooks.errors import ConfigError, DatasetNotFoundError
from visionhooks.plugins.detection import scenes
from visionhooks.plugins.detection.boxes import convert_boxes
from visionhooks.plugins.detection.config import MNISTDetectionConfig

THR = scenes.PIXEL_THRESHOLD


def cfg(**kw) -> MNISTDetectionConfig:
    base = dict(train_scenes=64, test_scenes=32, full=False)
    return MNISTDetectionConfig(**(base | kw))


@pytest.fixture(scope="module")
def sample():
    """The bundled MNIST sample (2,000 train / 500 test digits) as loaded by the core."""
    from visionhooks.plugins.datasets import mnist
    from visionhooks.plugins.datasets.config import MNISTConfig

    return mnist.build(MNISTConfig(full=False))


def digits_of(split):
    return split.x[..., 0] / np.float32(255), split.y  # MNIST keeps uint8


def render_alone(digits, layout, i, j, size):
    """Scene i's digit j pasted alone on a blank canvas."""
    canvas = np.zeros((size, size), np.float32)
    s = layout["sizes"][i, j]
    y, x = layout["positions"][i, j]
    canvas[y:y + s, x:x + s] = scenes.resize_digits(digits[layout["sources"][i, j]][None], s)[0]
    return canvas


def test_build_shapes_info_and_padding():
    ds = scenes.build(cfg(max_digits=5))
    assert ds.name == "mnist-detection" and "bundled sample" in ds.source
    x, y = ds.train
    assert x.shape == (64, 96, 96, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y["boxes"].shape == (64, 5, 4) and y["boxes"].dtype == np.float32
    assert y["labels"].shape == (64, 5) and y["labels"].dtype == np.int32
    assert len(ds.test) == 32
    assert ds.info.task == "detection" and ds.info.input_shape == (96, 96, 1)
    assert ds.info.num_classes == 10 and ds.info.class_names == tuple("0123456789")
    assert ds.info.box_format == "rel_center_xywh" and ds.info.max_boxes == 5
    for split in (ds.train, ds.test):
        labels, boxes = split.y["labels"], split.y["boxes"]
        present = labels >= 0
        assert set(np.unique(labels)) <= set(range(-1, 10))
        counts = present.sum(1)
        assert counts.min() >= 1 and counts.max() <= 5
        # padding comes after the objects, with zero boxes
        assert (present == (np.arange(5)[None] < counts[:, None])).all()
        assert (boxes[~present] == 0).all()


def test_same_seed_same_scenes_other_seed_differs():
    a, b, c = scenes.build(cfg()), scenes.build(cfg()), scenes.build(cfg(seed=1))
    for s in ("train", "test"):
        sa, sb, sc = getattr(a, s), getattr(b, s), getattr(c, s)
        np.testing.assert_array_equal(sa.x, sb.x)
        np.testing.assert_array_equal(sa.y["boxes"], sb.y["boxes"])
        np.testing.assert_array_equal(sa.y["labels"], sb.y["labels"])
        assert not np.array_equal(sa.x, sc.x)


def test_fewer_scenes_are_a_prefix_of_more(sample):
    digits, labels = digits_of(sample.train)
    few = scenes.make_scenes(digits, labels, 5, cfg())
    many = scenes.make_scenes(digits, labels, scenes.CHUNK + 10, cfg())  # two chunks
    for key in ("images", "boxes", "labels", "sources"):
        np.testing.assert_array_equal(few[key], many[key][:5])
    assert not np.array_equal(many["images"][:10], many["images"][scenes.CHUNK:])


def test_train_and_test_scenes_come_from_their_own_mnist_split(sample):
    c = cfg()
    ds = scenes.build(c)
    for name in ("train", "test"):
        digits, labels = digits_of(getattr(sample, name))
        made = scenes.make_scenes(digits, labels, len(getattr(ds, name)), c, name)
        np.testing.assert_array_equal(getattr(ds, name).x, made["images"])
        np.testing.assert_array_equal(getattr(ds, name).y["labels"], made["labels"])
    # and a scene's pixels are exactly its layout's digits from that split
    digits, labels = digits_of(sample.test)
    made = scenes.make_scenes(digits, labels, 32, cfg(min_digits=1, max_digits=1), "test")
    for i in range(32):
        np.testing.assert_array_equal(made["images"][i, ..., 0],
                                      render_alone(digits, made, i, 0, 96))
        assert made["labels"][i, 0] == labels[made["sources"][i, 0]]
    assert made["sources"].max() < len(digits)  # the test split has 500 digits


def test_train_and_test_streams_differ(sample):
    digits, labels = digits_of(sample.train)
    a = scenes.make_scenes(digits, labels, 8, cfg(), "train")
    b = scenes.make_scenes(digits, labels, 8, cfg(), "test")
    assert not np.array_equal(a["sources"], b["sources"])


def test_every_box_is_the_tight_box_of_its_digit(sample):
    digits, labels = digits_of(sample.train)
    c = cfg(max_digits=4, min_scale=8, max_scale=40)
    made = scenes.make_scenes(digits, labels, 100, c)
    xyxy = convert_boxes(made["boxes"], "rel_center_xywh", "rel_xyxy")
    present = made["labels"] >= 0
    assert (xyxy[present] >= 0).all() and (xyxy[present] <= 1 + 1e-6).all()
    assert (made["boxes"][present][:, 2:] > 0).all()
    px = np.round(xyxy * 96).astype(int)  # pixel edges
    for i, j in zip(*np.nonzero(present)):
        alone = render_alone(digits, made, i, j, 96) > THR
        x1, y1, x2, y2 = px[i, j]
        inside = np.zeros_like(alone)
        inside[y1:y2, x1:x2] = True
        assert not (alone & ~inside).any(), (i, j)  # encloses every digit pixel
        # tight: each border row and column holds a digit pixel
        assert alone[y1, x1:x2].any() and alone[y2 - 1, x1:x2].any()
        assert alone[y1:y2, x1].any() and alone[y1:y2, x2 - 1].any()
    # in the composite, every bright pixel lies in some box
    for i in range(100):
        covered = np.zeros((96, 96), bool)
        for j in np.nonzero(present[i])[0]:
            x1, y1, x2, y2 = px[i, j]
            covered[y1:y2, x1:x2] = True
        assert not ((made["images"][i, ..., 0] > THR) & ~covered).any()


def test_digit_sizes_and_counts_follow_the_config(sample):
    digits, labels = digits_of(sample.train)
    made = scenes.make_scenes(digits, labels, 400, cfg(min_digits=2, max_digits=3,
                                                        min_scale=20, max_scale=24))
    present = made["labels"] >= 0
    assert set(present.sum(1)) == {2, 3}
    assert set(made["sizes"][present]) == set(range(20, 25))
    wh = made["boxes"][present][:, 2:] * 96
    assert wh.max() <= 24 + 1e-4


def test_zero_digit_scenes(sample):
    digits, labels = digits_of(sample.train)
    made = scenes.make_scenes(digits, labels, 200, cfg(min_digits=0, max_digits=2))
    empty = (made["labels"] < 0).all(1)
    assert 0 < empty.sum() < 200
    assert (made["images"][empty] == 0).all()
    assert (made["boxes"][empty] == 0).all()
    assert (made["images"][~empty].reshape(int((~empty).sum()), -1).max(1) > 0.5).all()


def test_max_overlap_limits_box_iou(sample):
    from visionhooks.plugins.detection.boxes import box_iou

    digits, labels = digits_of(sample.train)
    made = scenes.make_scenes(digits, labels, 200, cfg(max_digits=4, min_digits=4,
                                                        max_overlap=0.1))
    xyxy = convert_boxes(made["boxes"], "rel_center_xywh", "rel_xyxy")
    worst = 0.0
    for i in range(200):
        b = xyxy[i][made["labels"][i] >= 0]
        iou = box_iou(b, b)
        np.fill_diagonal(iou, 0)
        worst = max(worst, float(iou.max()))
    assert worst <= 0.1 + 1e-6
    assert (made["labels"] >= 0).sum() == 800  # room for all on a 96 px canvas


def test_impossible_overlap_leaves_digits_out_with_a_warning(sample):
    digits, labels = digits_of(sample.train)
    c = cfg(image_size=32, min_scale=32, max_scale=32, min_digits=3, max_digits=3,
            max_overlap=0.0)
    with pytest.warns(UserWarning, match="max_overlap=0.0"):
        made = scenes.make_scenes(digits, labels, 10, c)
    assert (made["labels"] >= 0).sum(1).max() < 3
    assert (made["labels"][:, 0] >= 0).all()


@pytest.mark.parametrize("kw, fragment", [
    (dict(min_digits=5, max_digits=4), "min_digits (5) > max_digits (4)"),
    (dict(min_scale=30, max_scale=20), "min_scale (30) > max_scale (20)"),
    (dict(image_size=32, max_scale=40), "max_scale (40) > image_size (32)"),
])
def test_invalid_config_combinations(kw, fragment):
    # rejected when the config is validated, before any scene is made
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        vh.datasets.load("mnist-detection", train_scenes=4, test_scenes=4, **kw)


def test_resize_matches_pillow_bilinear():
    rng = np.random.default_rng(0)
    d = rng.random((2, 28, 28)).astype(np.float32)
    for s in (5, 16, 40, 57):
        ours = scenes.resize_digits(d, s)
        for k in range(2):
            pil = np.asarray(Image.fromarray(d[k], mode="F").resize(
                (s, s), Image.Resampling.BILINEAR))
            np.testing.assert_allclose(ours[k], np.clip(pil, 0, 1), atol=1e-5)


@pytest.mark.parametrize("fields", [("path",), ("mnist_path",), ("mnist_path", "path")])
def test_mnist_path_passes_through(tmp_path, fields):
    """--data-path sets data.path, also beside a config's older mnist_path: path wins."""
    params = {f: str(tmp_path / f"{f}.npz") for f in fields}
    with pytest.raises(DatasetNotFoundError, match=f"{fields[-1]}.npz"):
        scenes.build(cfg(full=None, **params))


def test_real_mnist_when_available():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a checkout without shared/data
        ds = scenes.build(MNISTDetectionConfig(train_scenes=50, test_scenes=10))
    assert len(ds.train) == 50 and len(ds.test) == 10
    assert ds.train.y["labels"].max() <= 9


def test_load_through_the_registry():
    ds = vh.datasets.load("mnist-detection", train_scenes=8, test_scenes=4, full=False)
    assert ds.train.x.shape == (8, 96, 96, 1)
    assert ds.train.y["boxes"].shape == (8, 4, 4)
