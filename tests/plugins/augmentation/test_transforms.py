"""The registered augmentations on data-model batches: images, masks and boxes move
together, identities are exact, seeds reproduce, bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

import visionhooks as vh
from visionhooks.augmentation import Pipeline, build_pipeline
from visionhooks.errors import ComponentNotFoundError, ConfigError, DataError

H, W = 48, 80  # non-square on purpose (keras-team/keras#22805)


def rectangles(n=6, seed=0):
    """Images with one filled rectangle each, its mask (class 1..3) and its xyxy box."""
    rng = np.random.default_rng(seed)
    images = np.full((n, H, W, 3), 0.1, np.float32)
    masks = np.zeros((n, H, W), np.int32)
    boxes = np.zeros((n, 2, 4), np.float32)
    labels = np.full((n, 2), -1, np.int32)
    for i in range(n):
        x1, y1 = rng.integers(20, 40), rng.integers(12, 22)
        x2, y2 = x1 + rng.integers(8, 20), y1 + rng.integers(6, 14)
        images[i, y1:y2, x1:x2] = 0.9
        masks[i, y1:y2, x1:x2] = 1 + i % 3
        boxes[i, 0] = (x1, y1, x2, y2)
        labels[i, 0] = i % 3
    return {"images": images, "segmentation_masks": masks, "labels": np.arange(n),
            "bounding_boxes": {"boxes": boxes, "labels": labels}}


GEOMETRIC = [{"name": "flip", "mode": "horizontal_and_vertical"},
             {"name": "shift", "x": 0.1, "y": 0.1}, {"name": "zoom", "min_scale": 0.8,
                                                      "max_scale": 1.25}]


@pytest.mark.parametrize("augment", [
    GEOMETRIC,
    [{"name": "flip"}, {"name": "zoom", "min_scale": 0.7, "max_scale": 1.3, "keep_aspect": False}],
])
def test_axis_aligned_transforms_keep_boxes_tight_around_the_object(augment):
    batch = rectangles()
    out = vh.augment(batch, augment, seed=4, box_format="xyxy")
    for i in range(len(batch["images"])):
        ys, xs = np.nonzero(out["segmentation_masks"][i])
        box = out["bounding_boxes"]["boxes"][i, 0]
        assert out["bounding_boxes"]["labels"][i, 0] == batch["bounding_boxes"]["labels"][i, 0]
        # The mask's pixel centres lie inside the box, within one pixel of its edges.
        np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                   atol=1.0)
        # Image and mask moved together: they disagree only where bilinear sampling
        # lands half-way across the rectangle's edge (the mask's nearest tap decides).
        v = out["images"][i, ..., 0]
        differ = (v > 0.5) != (out["segmentation_masks"][i] > 0)
        assert (np.abs(v[differ] - 0.5) < 0.15).all()


def test_rotated_boxes_enclose_the_rotated_object():
    batch = rectangles()
    out = vh.augment(batch, [{"name": "rotate", "max_degrees": 40}, *GEOMETRIC], seed=7,
                     box_format="xyxy")
    for i in range(len(batch["images"])):
        ys, xs = np.nonzero(out["images"][i, ..., 0] > 0.5)
        x1, y1, x2, y2 = out["bounding_boxes"]["boxes"][i, 0]
        assert x1 <= xs.min() + 0.5 and y1 <= ys.min() + 0.5
        assert x2 >= xs.max() + 0.5 and y2 >= ys.max() + 0.5
    # The padding row stays padding.
    assert (out["bounding_boxes"]["labels"][:, 1] == -1).all()
    assert (out["bounding_boxes"]["boxes"][:, 1] == 0).all()


def test_relative_center_boxes_on_a_non_square_image():
    batch = rectangles()
    xyxy = batch["bounding_boxes"]["boxes"]
    rel = np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2 / W, (xyxy[..., 1] + xyxy[..., 3]) / 2 / H,
                    (xyxy[..., 2] - xyxy[..., 0]) / W, (xyxy[..., 3] - xyxy[..., 1]) / H], -1)
    a = vh.augment(batch, GEOMETRIC, seed=2, box_format="xyxy")
    b = vh.augment({**batch, "bounding_boxes": {"boxes": rel, "labels":
                                                batch["bounding_boxes"]["labels"]}},
                   GEOMETRIC, seed=2)
    got = b["bounding_boxes"]["boxes"][:, 0]
    want = a["bounding_boxes"]["boxes"][:, 0]
    np.testing.assert_allclose(got[:, 0] * W, (want[:, 0] + want[:, 2]) / 2, atol=1e-3)
    np.testing.assert_allclose(got[:, 1] * H, (want[:, 1] + want[:, 3]) / 2, atol=1e-3)
    np.testing.assert_allclose(got[:, 2] * W, want[:, 2] - want[:, 0], atol=1e-3)
    np.testing.assert_allclose(got[:, 3] * H, want[:, 3] - want[:, 1], atol=1e-3)


def test_neutral_parameters_change_nothing():
    batch = rectangles()
    out = vh.augment(batch, [{"name": "rotate", "max_degrees": 0},
                             {"name": "zoom", "min_scale": 1, "max_scale": 1},
                             {"name": "shift", "x": 0, "y": 0},
                             {"name": "brightness", "max_delta": 0},
                             {"name": "contrast", "min_factor": 1, "max_factor": 1}],
                     seed=3, box_format="xyxy")
    np.testing.assert_array_equal(out["images"], batch["images"])
    np.testing.assert_array_equal(out["segmentation_masks"], batch["segmentation_masks"])
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"],
                                  batch["bounding_boxes"]["labels"])
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"],
                               batch["bounding_boxes"]["boxes"], atol=1e-4)


def test_flipping_twice_is_the_identity_fused_or_not():
    batch = rectangles()
    flip = {"name": "flip", "mode": "horizontal_and_vertical", "probability": 1.0}
    fused = vh.augment(batch, [flip, flip], seed=0, box_format="xyxy")
    apart = vh.augment(batch, [flip, {**flip, "fill_value": 0.5}, flip, flip], seed=0,
                       box_format="xyxy")  # a different fill value breaks the fusion
    for out in (fused, apart):
        np.testing.assert_array_equal(out["images"], batch["images"])
        np.testing.assert_array_equal(out["segmentation_masks"], batch["segmentation_masks"])
        np.testing.assert_allclose(out["bounding_boxes"]["boxes"],
                                   batch["bounding_boxes"]["boxes"], atol=1e-4)
    once = vh.augment(batch, [flip], seed=0, box_format="xyxy")
    np.testing.assert_array_equal(once["images"], batch["images"][:, ::-1, ::-1])


def test_masks_stay_in_their_label_set_and_labels_pass_through():
    rng = np.random.default_rng(5)
    batch = {"images": rng.random((4, H, W, 1)).astype(np.float32),
             "segmentation_masks": rng.choice([0, 2, 5], (4, H, W)).astype(np.int32),
             "labels": np.array([3, 1, 4, 1])}
    out = vh.augment(batch, [{"name": "rotate", "max_degrees": 30}, *GEOMETRIC,
                             "brightness", "contrast"], seed=1)
    assert set(np.unique(out["segmentation_masks"])) <= {0, 2, 5}
    np.testing.assert_array_equal(out["labels"], batch["labels"])
    assert out["images"].min() >= 0 and out["images"].max() <= 1


def test_boxes_pushed_out_of_the_image_are_dropped_with_their_class():
    batch = rectangles()
    batch["bounding_boxes"]["boxes"][:, 0] = (2, 2, 10, 10)  # top-left corner
    out = vh.augment(batch, [{"name": "zoom", "min_scale": 3, "max_scale": 3}], seed=0,
                     box_format="xyxy")
    assert (out["bounding_boxes"]["labels"] == -1).all()
    assert (out["bounding_boxes"]["boxes"] == 0).all()
    kept = vh.augment(batch, [{"name": "zoom", "min_scale": 3, "max_scale": 3,
                               "min_visibility": 0.0}], seed=0, box_format="xyxy")
    assert (kept["bounding_boxes"]["labels"] == -1).all()  # nothing of it is left at all
    half = vh.augment(batch, [{"name": "shift", "x": 0, "y": 0}], seed=0, box_format="xyxy")
    assert (half["bounding_boxes"]["labels"][:, 0] >= 0).all()


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    batch = rectangles()
    pipe = [*GEOMETRIC, {"name": "rotate", "max_degrees": 20}, "brightness"]
    a = vh.augment(batch, pipe, seed=11)
    b = vh.augment(batch, pipe, seed=11)
    c = vh.augment(batch, pipe, seed=12)
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["bounding_boxes"]["boxes"], b["bounding_boxes"]["boxes"])
    assert not np.array_equal(a["images"], c["images"])
    # Every image draws its own parameters: identical inputs come out different.
    same = {"images": np.repeat(batch["images"][:1], 4, axis=0)}
    out = vh.augment(same, pipe, seed=0)["images"]
    assert len({out[i].tobytes() for i in range(4)}) == 4


def test_consecutive_geometric_transforms_fuse_into_one_warp(host):
    pipe = build_pipeline(["flip", "rotate", "brightness", "zoom", "shift",
                           {"name": "rotate", "fill_mode": "reflect"}], None, host=host)
    assert [type(s).__name__ for s in pipe.steps] == ["Chain", "Brightness", "Chain", "Rotate"]
    assert [type(p).__name__ for p in pipe.steps[0].parts] == ["Flip", "Rotate"]
    assert len(Pipeline([])) == 0


def test_uint8_images_are_converted_at_the_edge():
    batch = rectangles()
    u8 = (batch["images"] * 255).round().astype(np.uint8)
    out = vh.augment(u8, [{"name": "shift", "x": 0, "y": 0}])
    assert out["images"].dtype == np.float32
    np.testing.assert_allclose(out["images"], u8 / 255.0, atol=1e-6)


class Invert:
    """The plugin guide's third-party augmentation: it relies on float32 in [0, 1]; and a
    step that declares it takes bytes."""

    @vh.hookimpl
    def register_augmentations(self, register):
        def build(config, info):
            def invert(batch, key):
                seen.append(batch["images"].dtype)
                return {**batch, "images": 1.0 - batch["images"]}
            return invert

        class Bytes:
            accepts_uint8 = True

            def __call__(self, batch, key):
                seen.append(batch["images"].dtype)
                return batch

        register("invert-all", build)
        register("bytes", lambda config, info: Bytes())


seen: list = []


def test_uint8_reaches_only_the_steps_that_declare_they_take_it(host):
    host.register_plugin(Invert(), name="invert")
    u8 = (rectangles()["images"] * 255).round().astype(np.uint8)
    seen.clear()
    out = vh.augment(u8, [{"name": "shift", "x": 0, "y": 0}, "invert-all"], host=host)
    assert [str(d) for d in seen] == ["float32"]  # traced once, after the warp converted
    np.testing.assert_allclose(out["images"], 1.0 - u8 / 255.0, atol=1e-6)
    seen.clear()
    out = vh.augment(u8, ["invert-all"], host=host)  # first step: converted before it
    assert [str(d) for d in seen] == ["float32"]
    np.testing.assert_allclose(out["images"], 1.0 - u8 / 255.0, atol=1e-6)
    seen.clear()
    out = vh.augment(u8, ["bytes", "invert-all"], host=host)
    assert [str(d) for d in seen] == ["uint8", "float32"]
    np.testing.assert_allclose(out["images"], 1.0 - u8 / 255.0, atol=1e-6)


def test_bad_batches_and_specs_are_named():
    batch = rectangles()
    with pytest.raises(DataError, match="unknown batch keys \\['masks'\\]"):
        vh.augment({"images": batch["images"], "masks": batch["segmentation_masks"]}, ["flip"])
    with pytest.raises(DataError, match="segmentation_masks must be \\(N, H, W\\)"):
        vh.augment({"images": batch["images"],
                    "segmentation_masks": batch["segmentation_masks"][:, :10]}, ["flip"])
    with pytest.raises(DataError, match="NaN"):
        vh.augment({"images": np.full((1, 4, 4, 1), np.nan, np.float32)}, ["flip"])
    with pytest.raises(DataError, match="empty"):
        vh.augment(np.zeros((0, 4, 4, 1), np.float32), ["flip"])
    bad = {**batch, "bounding_boxes": {"boxes": batch["bounding_boxes"]["boxes"][..., :3],
                                       "labels": batch["bounding_boxes"]["labels"]}}
    with pytest.raises(DataError, match="boxes \\(N, M, 4\\)"):
        vh.augment(bad, ["flip"])
    n = len(batch["images"])
    with pytest.raises(DataError, match=rf"labels must hold one class id per image \({n}\)"):
        vh.augment({"images": batch["images"], "labels": np.zeros(n + 1, int)}, ["flip"])
    with pytest.raises(DataError, match="labels must be integer class ids. Received: dtype=<U"):
        vh.augment({"images": batch["images"], "labels": np.array(["a"] * n)}, ["flip"])
    ragged = {"boxes": [[[0.5, 0.5, 0.2, 0.2]]] + [[]] * (n - 1), "labels": [[0]] + [[]] * (n - 1)}
    with pytest.raises(DataError, match="pad_targets"):
        vh.augment({"images": batch["images"], "bounding_boxes": ragged}, ["flip"])
    with pytest.raises(ComponentNotFoundError, match="Did you mean 'rotate'"):
        vh.augment(batch, ["rotat"])
    with pytest.raises(ConfigError, match="max_degrees"):
        vh.augment(batch, [{"name": "rotate", "max_degrees": 400}])
    with pytest.raises(ConfigError, match="min_scale .* > max_scale"):
        vh.augment(batch, [{"name": "zoom", "min_scale": 2, "max_scale": 1}])
    with pytest.raises(ConfigError, match="need a 'name'"):
        vh.augment(batch, [{"max_degrees": 3}])
    masks = batch["segmentation_masks"].astype(np.float32)
    for bad_mask in (np.where(masks == 0, np.nan, masks), masks + 0.5):
        with pytest.raises(DataError, match="segmentation_masks must be integer class ids"):
            vh.augment({"images": batch["images"], "segmentation_masks": bad_mask}, ["flip"])
    with pytest.raises(ConfigError, match="unknown box_format 'xyxz'; .*'rel_center_xywh'"):
        vh.augment(batch, ["flip"], box_format="xyxz")
    with pytest.raises(ConfigError, match="fill_value"):  # images stay in [0, 1]
        vh.augment(batch, [{"name": "shift", "fill_value": 2.0}])
    with pytest.raises(ConfigError, match="augment is a list of augmentations, e.g. \\['flip'\\]"):
        vh.augment(batch, "flip")  # not split into the letters f, l, i, p
    for seed in ("a", -1, 2**32, 1.5):
        with pytest.raises(ConfigError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
            vh.augment(batch, ["flip"], seed=seed)
