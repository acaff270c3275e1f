"""``shapes`` scenes: shapes and ranges, determinism, split streams, masks aligned with the
drawn buildings, not separable by one colour threshold, config checks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from visionhooks.plugins.segmentation import shapes
from visionhooks.plugins.segmentation.config import ShapesConfig


def cfg(**kw) -> ShapesConfig:
    return ShapesConfig(**({"train_images": 24, "test_images": 12} | kw))


@pytest.fixture(scope="module")
def scenes():
    """64 test-stream scenes of 128 px (one generator block)."""
    return shapes.make_scenes(64, ShapesConfig(), "test")


def test_build_shapes_dtypes_ranges_and_info():
    ds = shapes.build(cfg(image_size=48))
    assert ds.name == "shapes"
    x, y = ds.train
    assert x.shape == (24, 48, 48, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (24, 48, 48) and y.dtype == np.int32
    assert len(ds.test) == 12 and ds.test.y.shape == (12, 48, 48)
    info = ds.info
    assert info.task == "segmentation" and info.input_shape == (48, 48, 3)
    assert info.num_classes == 2 and info.class_names == ("background", "building")
    for split in (ds.train, ds.test):
        assert set(np.unique(split.y)) <= {0, 1}


def test_same_seed_same_scenes_other_seed_and_split_differ():
    a, b, c = shapes.build(cfg()), shapes.build(cfg()), shapes.build(cfg(seed=1))
    for s in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, s).x, getattr(b, s).x)
        np.testing.assert_array_equal(getattr(a, s).y, getattr(b, s).y)
        assert not np.array_equal(getattr(a, s).x, getattr(c, s).x)
    # train and test come from different streams: no test scene is a train scene
    flat_train = a.train.x.reshape(len(a.train), -1)
    for img in a.test.x.reshape(len(a.test), -1):
        assert not (flat_train == img).all(1).any()


def test_fewer_scenes_are_a_prefix_of_more():
    small = shapes.make_scenes(10, cfg(image_size=32), "train")
    large = shapes.make_scenes(shapes.CHUNK + 6, cfg(image_size=32), "train")
    np.testing.assert_array_equal(small[0], large[0][:10])
    np.testing.assert_array_equal(small[1], large[1][:10])


def test_building_counts_follow_the_config():
    none_or_one = shapes.make_scenes(32, cfg(min_buildings=0, max_buildings=1), "train")[1]
    area = none_or_one.reshape(32, -1).sum(1)
    assert (area == 0).any() and (area > 0).any()  # scenes without buildings exist
    some = shapes.make_scenes(32, cfg(min_buildings=1, max_buildings=3), "train")[1]
    assert (some.reshape(32, -1).sum(1) > 0).all()
    many = shapes.make_scenes(32, cfg(min_buildings=8, max_buildings=8), "train")[1]
    assert many.mean() > some.mean()


def test_mask_edges_are_image_edges(scenes):
    """Colour changes across the mask's boundary far more than elsewhere, and a mask
    shifted by one pixel no longer lines up with the drawn buildings."""
    x, y = scenes

    def contrast(m):
        dv = np.abs(x[:, 1:] - x[:, :-1]).sum(-1)
        edge = m[:, 1:] != m[:, :-1]
        return dv[edge].mean() / dv[~edge].mean()

    aligned, shifted = contrast(y), contrast(np.roll(y, 1, axis=1))
    assert aligned > 4.0
    assert aligned > 2.0 * shifted


def test_buildings_vary_and_are_not_one_colour_threshold(scenes):
    x, y = scenes
    t = y > 0
    assert 0.02 < t.mean() < 0.3
    roofs = x[t]
    assert roofs.std(0).min() > 0.1  # varied roof colours
    best = 0.0
    features = [x[..., 0], x[..., 1], x[..., 2], x.mean(-1), x.max(-1) - x.min(-1)]
    for f in features:
        for q in np.quantile(f, np.linspace(0.02, 0.98, 49)):
            for p in (f > q, f <= q):
                best = max(best, (p & t).sum() / (p | t).sum())
    assert best < 0.6


def test_invalid_config_and_split():
    with pytest.raises(ValidationError, match="min_buildings"):
        ShapesConfig(min_buildings=5, max_buildings=2)
    with pytest.raises(ValueError, match="split"):
        shapes.make_scenes(2, cfg(), "val")
