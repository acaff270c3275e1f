"""``mask-folder``: tiny PNG folders — matching by stem, resizing (bilinear images,
nearest masks), mask modes, the split, and one named error per kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionhooks.errors import DataError, DatasetNotFoundError
from visionhooks.plugins.segmentation import mask_folder
from visionhooks.plugins.segmentation.config import MaskFolderConfig

H, W = 6, 10  # non-square on purpose


def image_array(i: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def mask_array(i: int, h: int = H, w: int = W, classes: int = 3) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[1:4, 2 + i % 3: 6 + i % 3] = 1 + i % (classes - 1)
    return m


def make_folder(root, n=8, classes=3):
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(n):
        ext = ".jpg" if i == 0 else ".png"  # any image format; masks are PNG
        Image.fromarray(image_array(i)).save(images / f"tile_{i}{ext}")
        Image.fromarray(mask_array(i, classes=classes), mode="L").save(masks / f"tile_{i}.png")
    return images, masks


def cfg(images, masks, **kw) -> MaskFolderConfig:
    return MaskFolderConfig(images=str(images), masks=str(masks), **kw)


def test_reads_matches_resizes_and_splits(tmp_path):
    images, masks = make_folder(tmp_path)
    ds = mask_folder.build(cfg(images, masks, image_size=(12, 20), test_fraction=0.25))
    assert ds.name == "mask-folder"
    assert len(ds.train) == 6 and len(ds.test) == 2
    x, y = ds.train
    assert x.shape == (6, 12, 20, 3) and x.dtype == np.uint8  # pixels as read
    assert y.shape == (6, 12, 20) and y.dtype == np.int32
    info = ds.info
    assert info.task == "segmentation" and info.input_shape == (12, 20, 3)
    assert info.num_classes == 3  # max value 2 + 1
    # recover which file each example is: masks resized NEAREST by 2 are exact repeats
    expected = {i: np.repeat(np.repeat(mask_array(i), 2, 0), 2, 1) for i in range(8)}
    seen = []
    for split in (ds.train, ds.test):
        for img, m in zip(split.x, split.y):
            i = next(k for k, e in expected.items()
                     if np.array_equal(m, e) and k not in seen
                     and np.array_equal(img, _bilinear(images, k)))
            seen.append(i)
    assert sorted(seen) == list(range(8))  # disjoint splits covering every file


def _bilinear(images, i):
    path = next(images.glob(f"tile_{i}.*"))
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB").resize((20, 12), Image.Resampling.BILINEAR))
    return a


def test_split_follows_the_seed(tmp_path):
    images, masks = make_folder(tmp_path, n=10)

    def test_masks(seed):
        return mask_folder.build(cfg(images, masks, seed=seed, test_fraction=0.3)).test.y

    np.testing.assert_array_equal(test_masks(0), test_masks(0))
    assert any(not np.array_equal(test_masks(0), test_masks(s)) for s in (1, 2, 3))
    none = mask_folder.build(cfg(images, masks, test_fraction=0.0))
    assert len(none.train) == 10 and len(none.test) == 0


def test_grayscale_and_explicit_num_classes(tmp_path):
    images, masks = make_folder(tmp_path)
    ds = mask_folder.build(cfg(images, masks, color_mode="grayscale", num_classes=5,
                               image_size=(H, W)))
    assert ds.train.x.shape[1:] == (H, W, 1) and ds.info.num_classes == 5


def test_palette_and_grey_rgb_masks_give_class_ids(tmp_path):
    images, masks = make_folder(tmp_path, n=2)
    ids = mask_array(0)
    p = Image.fromarray(ids, mode="P")
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))  # colours, ids 0..2
    p.save(masks / "tile_0.png")
    Image.fromarray(np.repeat(mask_array(1)[..., None], 3, -1), mode="RGB").save(
        masks / "tile_1.png")
    ds = mask_folder.build(cfg(images, masks, image_size=(H, W), test_fraction=0.0))
    np.testing.assert_array_equal(ds.train.y[0], ids)
    np.testing.assert_array_equal(ds.train.y[1], mask_array(1))


def test_unmatched_files_are_named(tmp_path):
    images, masks = make_folder(tmp_path, n=3)
    (masks / "tile_1.png").unlink()
    Image.fromarray(mask_array(0), mode="L").save(masks / "stray.png")
    with pytest.raises(DataError) as err:
        mask_folder.build(cfg(images, masks))
    msg = str(err.value)
    assert "image(s) without a mask" in msg and "tile_1.png" in msg
    assert "mask(s) without an image" in msg and "stray.png" in msg


def test_size_mismatch_is_named(tmp_path):
    images, masks = make_folder(tmp_path, n=3)
    Image.fromarray(mask_array(2, h=W, w=H), mode="L").save(masks / "tile_2.png")
    with pytest.raises(DataError, match=r"tile_2\.png is 10×6 but tile_2\.png is 6×10"):
        mask_folder.build(cfg(images, masks))


def test_colour_coded_mask_is_named(tmp_path):
    images, masks = make_folder(tmp_path, n=3)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[2:4, 2:4] = (255, 0, 0)
    Image.fromarray(rgb, mode="RGB").save(masks / "tile_1.png")
    with pytest.raises(DataError, match=r"tile_1\.png is RGB with different values"):
        mask_folder.build(cfg(images, masks))


def test_non_integer_mask_is_named(tmp_path):
    f = np.zeros((H, W), np.float32)
    f[1, 1] = 0.5
    Image.fromarray(f, mode="F").save(tmp_path / "soft.tif")
    with pytest.raises(DataError, match=r"soft\.tif holds non-integer"):
        mask_folder.read_mask(tmp_path / "soft.tif")


def test_class_id_out_of_range_is_named(tmp_path):
    images, masks = make_folder(tmp_path, n=3)
    m = mask_array(0)
    m[0, 0] = 7
    Image.fromarray(m, mode="L").save(masks / "tile_0.png")
    with pytest.raises(DataError, match=r"num_classes=3: tile_0\.png \(max 7\)"):
        mask_folder.build(cfg(images, masks, num_classes=3))
    assert mask_folder.build(cfg(images, masks)).info.num_classes == 8


def test_missing_folder_empty_folder_and_twin_stems(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="images folder"):
        mask_folder.build(cfg(tmp_path / "nope", tmp_path))
    images, masks = make_folder(tmp_path / "a", n=0)
    with pytest.raises(DataError, match="holds no images"):
        mask_folder.build(cfg(images, masks))
    images, masks = make_folder(tmp_path / "b", n=2)
    Image.fromarray(image_array(5)).save(images / "tile_1.bmp")
    with pytest.raises(DataError, match="tile_1.bmp / tile_1.png|tile_1.png / tile_1.bmp"):
        mask_folder.build(cfg(images, masks))


def test_all_zero_masks_are_binary(tmp_path):
    images, masks = make_folder(tmp_path, n=2)
    for p in masks.iterdir():
        Image.fromarray(np.zeros((H, W), np.uint8), mode="L").save(p)
    assert mask_folder.build(cfg(images, masks)).info.num_classes == 2


def test_stream_reads_the_same_examples_on_demand_and_trains(tmp_path):
    """stream = true: masks are checked at load, images and masks read per batch."""
    import visionhooks as vh

    images, masks = make_folder(tmp_path)
    kw = dict(image_size=(12, 20), test_fraction=0.25)
    mem = mask_folder.build(cfg(images, masks, **kw))
    lazy = mask_folder.build(cfg(images, masks, stream=True, **kw))
    assert isinstance(lazy.train, vh.datasets.LazySplit) and lazy.info == mem.info
    for a, b in ((lazy.train, mem.train), (lazy.test, mem.test)):
        got = a.take(len(a))
        np.testing.assert_array_equal(got.x, b.x)
        np.testing.assert_array_equal(got.y, b.y)
        assert got.y.dtype == np.int32
    task = vh.compose(task="segmentation", model="unet", data=lazy,
                      model_config={"base_filters": 4, "depth": 1})
    history = task.fit(lazy.train, epochs=1, batch_size=4, verbose=0, checkpoint=False)
    assert np.isfinite(history.history["loss"]).all()
    assert "mean_iou" in task.evaluate(lazy.test)
    # a bad mask is still named at load, before anything trains
    Image.fromarray(np.full((H, W), 9, np.uint8), mode="L").save(masks / "tile_3.png")
    with pytest.raises(DataError, match="tile_3.png"):
        mask_folder.build(cfg(images, masks, stream=True, num_classes=3, **kw))
