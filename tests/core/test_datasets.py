"""Built-in datasets: MNIST lookup order and file checks; image folders read with Pillow.

Nothing here downloads: ``VISIONHOOKS_OFFLINE=1`` (conftest) or ``download=False``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionhooks as vh
from visionhooks.datasets import Dataset, Split
from visionhooks.errors import DataError, DatasetNotFoundError

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist.npz"


def write_mnist(path: Path, n_train: int, n_test: int = 4, **override) -> Path:
    """A tiny file in the Keras ``mnist.npz`` layout; ``n_train`` tells files apart."""
    rng = np.random.default_rng(n_train)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}
    arrays.update(override)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty VISIONHOOKS_DATA and Keras cache folders (KERAS_HOME) in tmp_path."""
    data, home = tmp_path / "data", tmp_path / "keras_home"
    data.mkdir()
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("VISIONHOOKS_DATA", str(data))
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("VISIONHOOKS_OFFLINE", "1")
    return data, home / "datasets" / "mnist.npz"


def load_quietly(**params) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # finding the file must not warn
        return vh.datasets.load("mnist", **params)


def test_explicit_path_comes_first(places, tmp_path):
    data, cache = places
    write_mnist(data / "mnist.npz", 13)
    write_mnist(cache, 14)
    mine = write_mnist(tmp_path / "mine" / "mnist.npz", 12)
    for path in (mine, mine.parent):  # a file, or a folder holding mnist.npz
        ds = load_quietly(path=str(path))
        assert len(ds.train) == 12 and ds.source == str(mine)


def test_explicit_path_that_does_not_exist(places, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="MNIST not found at path="):
        vh.datasets.load("mnist", path=str(tmp_path / "nowhere"))


def test_visionhooks_data_comes_before_the_keras_cache(places, monkeypatch):
    data, cache = places
    write_mnist(data / "mnist.npz", 13)
    write_mnist(cache, 14)
    ds = load_quietly()
    assert len(ds.train) == 13 and ds.source == str(data / "mnist.npz")
    monkeypatch.setenv("VISIONHOOKS_DATA", str(data / "mnist.npz"))  # a file works too
    assert len(load_quietly().train) == 13


def test_keras_cache_when_visionhooks_data_has_nothing(places, monkeypatch):
    _, cache = places
    write_mnist(cache, 14)
    assert load_quietly().source == str(cache)
    monkeypatch.delenv("VISIONHOOKS_DATA")
    assert len(load_quietly().train) == 14


def test_nothing_found_uses_the_sample_and_names_every_place_looked(places):
    data, cache = places
    with pytest.warns(UserWarning) as record:
        ds = vh.datasets.load("mnist")
    msg = str(record[0].message)
    assert f"{data / 'mnist.npz'} (VISIONHOOKS_DATA)" in msg
    assert f"{cache} (Keras cache)" in msg
    assert "download (disabled by VISIONHOOKS_OFFLINE)" in msg
    assert "bundled sample" in msg
    assert ds.source == "bundled sample"
    assert (len(ds.train), len(ds.test)) == (2000, 500)
    assert ds.info.input_shape == (28, 28, 1) and ds.info.num_classes == 10


def test_unset_data_variable_and_download_off_are_named(places, monkeypatch):
    monkeypatch.delenv("VISIONHOOKS_DATA")
    monkeypatch.delenv("VISIONHOOKS_OFFLINE")
    with pytest.warns(UserWarning) as record:
        vh.datasets.load("mnist", download=False, train_size=10)
    msg = str(record[0].message)
    assert "VISIONHOOKS_DATA (not set)" in msg and "download (disabled)" in msg


def test_full_true_raises_with_the_same_message(places):
    data, cache = places
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DatasetNotFoundError) as exc:
            vh.datasets.load("mnist", full=True)
    msg = str(exc.value)
    assert "the full MNIST set was not found" in msg
    assert str(data / "mnist.npz") in msg and str(cache) in msg
    assert "download (disabled by VISIONHOOKS_OFFLINE)" in msg
    assert "VISIONHOOKS_DATA" in msg and "path=" in msg  # how to get it


def test_full_false_uses_the_sample_silently(places):
    data, _ = places
    write_mnist(data / "mnist.npz", 13)
    ds = load_quietly(full=False, train_size=100, test_size=20)
    assert ds.source == "bundled sample" and (len(ds.train), len(ds.test)) == (100, 20)


def test_full_false_with_a_path_is_a_contradiction_not_a_silent_sample(places, tmp_path):
    with pytest.raises(vh.ConfigError, match="full=false asks for the bundled sample, so "
                                             "path=.* would be ignored"):
        vh.datasets.load("mnist", full=False, path=str(tmp_path / "mnist.npz"))


def test_splits_follow_the_data_model(places):
    data, _ = places
    path = write_mnist(data / "mnist.npz", 13, n_test=6)
    raw = np.load(path)
    ds = load_quietly(train_size=5)
    x, y = ds.train
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int32
    assert np.array_equal(x[..., 0], raw["x_train"][:5])  # pixels as stored
    assert np.array_equal(y, raw["y_train"][:5])
    assert len(ds.test) == 6 and ds.test.take(2).x.shape == (2, 28, 28, 1)
    assert ds.info.class_names == tuple("0123456789")
    assert x.base is None or x.base.size == x.size  # a copy, not a view of all 13 images


def test_pixels_stored_as_another_type_become_floats(places):
    data, _ = places
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.float64)
    write_mnist(data / "mnist.npz", 3, x_train=pixels)
    x = load_quietly().train.x
    assert x.dtype == np.float32 and x.max() <= 1.0
    np.testing.assert_array_equal(x[..., 0], (pixels / 255).astype(np.float32))


def test_float_pixels_already_in_unit_range_are_not_scaled_again(places):
    """Dividing [0, 1] floats by 255 again left near-black images that passed every check."""
    data, _ = places
    pixels = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    write_mnist(data / "mnist.npz", 3, x_train=pixels)
    np.testing.assert_array_equal(load_quietly().train.x[..., 0], pixels)


@pytest.mark.parametrize("bad, message", [(-1.0, r"pixels span \[-1, "),
                                          (300.0, r"pixels span \[0, 300\]; MNIST pixels are "
                                                  r"0-255 \(or floats in \[0, 1\]\)"),
                                          (np.nan, "NaN or infinite pixels")])
def test_float_pixels_outside_any_pixel_range_are_named(places, bad, message):
    data, _ = places
    pixels = np.zeros((3, 28, 28), np.float32)
    pixels[1, 2, 3] = bad
    write_mnist(data / "mnist.npz", 3, x_train=pixels)
    with pytest.raises(DataError, match=message):
        load_quietly()


def _garbage(p):
    p.write_bytes(b"this is not an npz file at all")


def _empty(p):
    p.write_bytes(b"")


def _truncated(p):
    write_mnist(p, 13)
    p.write_bytes(p.read_bytes()[:400])


def _npy(p):
    with open(p, "wb") as f:
        np.save(f, np.zeros((3, 28, 28), np.uint8))


def _missing_key(p):
    with open(p, "wb") as f:
        np.savez(f, x_train=np.zeros((2, 28, 28), np.uint8))


def _wrong_shape(p):
    write_mnist(p, 4, x_train=np.zeros((4, 32, 32), np.uint8))


def _wrong_length(p):
    write_mnist(p, 4, y_test=np.zeros(7, np.uint8))


@pytest.mark.parametrize("make, message", [
    (_garbage, "cannot read"), (_empty, "cannot read"), (_truncated, "cannot read"),
    (_npy, "holds a single array"), (_missing_key, "lacks ['y_train', 'x_test', 'y_test']"),
    (_wrong_shape, "x_train must be (N, 28, 28)"), (_wrong_length, "x_test must be (N, 28, 28)"),
])
def test_malformed_files_are_data_errors_naming_the_file(places, tmp_path, make, message):
    bad = tmp_path / "bad" / "mnist.npz"
    bad.parent.mkdir()
    make(bad)
    with pytest.raises(DataError) as exc:
        vh.datasets.load("mnist", path=str(bad))
    msg = str(exc.value)
    assert str(bad) in msg and message in msg
    assert msg.count(str(bad)) == 1  # one clear message, not an error wrapped in another


@pytest.mark.skipif(not REAL.is_file(), reason="the real MNIST is not beside this checkout")
def test_conftest_points_at_the_real_mnist():
    assert os.environ["VISIONHOOKS_DATA"] == str(REAL.parent)
    ds = load_quietly(train_size=50, test_size=10, full=True)
    assert ds.source == str(REAL)
    assert (len(ds.train), len(ds.test)) == (50, 10)
    assert set(np.unique(ds.train.y)) <= set(range(10))
    assert ds.train.x.dtype == np.uint8 and ds.train.x.max() > 1  # 0-255, as stored


# -- image-folder --------------------------------------------------------------------

COLOURS = {"cat": (220, 20, 20), "dog": (20, 20, 220), "owl": (20, 220, 20)}


def write_images(folder: Path, colour: tuple[int, int, int], n: int,
                 size: tuple[int, int] = (10, 12)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        arr = np.clip(np.array(colour) + rng.integers(-10, 10, (*size, 3)), 0, 255)
        Image.fromarray(arr.astype(np.uint8)).save(folder / f"img{i}.png")


def dominant(x: np.ndarray) -> np.ndarray:
    """Index of the strongest colour channel of each image (0 red, 1 green, 2 blue)."""
    return x.mean(axis=(1, 2)).argmax(-1)


def load_folder(**params) -> Dataset:
    return vh.datasets.load("image-folder", **params)


def test_image_folder_one_folder_per_class(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 5)
    write_images(tmp_path / "dog", COLOURS["dog"], 5, size=(7, 9))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    ds = load_folder(path=str(tmp_path), image_size=(8, 6), test_fraction=0.2)
    assert ds.info.class_names == ("cat", "dog") and ds.info.input_shape == (8, 6, 3)
    assert ds.train.x.shape == (8, 8, 6, 3) and ds.test.x.shape == (2, 8, 6, 3)
    assert ds.train.x.dtype == np.uint8 and ds.train.x.max() > 200  # pixels as read
    assert sorted(ds.test.y.tolist()) == [0, 1]  # stratified: one of each
    for split in (ds.train, ds.test):  # labels belong to the right images
        assert np.array_equal(dominant(split.x), np.where(split.y == 0, 0, 2))


def test_a_test_fraction_too_small_for_any_class_still_gives_a_test_image(tmp_path):
    """Each class's share rounded to none left the test split empty, and `visionhooks
    train` failed after training, at the evaluation of an empty batch."""
    write_images(tmp_path / "cat", COLOURS["cat"], 5)
    write_images(tmp_path / "dog", COLOURS["dog"], 3)
    ds = load_folder(path=str(tmp_path), image_size=(8, 6), test_fraction=0.01)
    assert (len(ds.train), len(ds.test)) == (7, 1) and ds.test.y.tolist() == [0]
    assert len(load_folder(path=str(tmp_path), image_size=(8, 6), test_fraction=0.0).test) == 0


def test_image_folder_grayscale(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 3)
    write_images(tmp_path / "dog", COLOURS["dog"], 3)
    ds = load_folder(path=str(tmp_path), image_size=(5, 5), color_mode="grayscale",
                     test_fraction=0.0)
    assert ds.train.x.shape == (6, 5, 5, 1) and len(ds.test) == 0
    assert ds.info.input_shape == (5, 5, 1)


def test_image_folder_train_and_test_folders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for name in ("cat", "dog", "owl"):
            if split == "test" and name == "cat":
                continue  # a class may be missing from test
            write_images(tmp_path / split / name, COLOURS[name], n)
    ds = load_folder(path=str(tmp_path), image_size=(4, 4))
    assert ds.info.class_names == ("cat", "dog", "owl")
    assert (len(ds.train), len(ds.test)) == (9, 4)
    assert ds.test.y.tolist() == [1, 1, 2, 2]  # remapped to the train class ids
    assert np.array_equal(dominant(ds.test.x), np.array([2, 2, 1, 1]))
    assert np.array_equal(dominant(ds.train.x), np.repeat([0, 2, 1], 3))


def test_image_folder_feeds_a_task(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 4)
    write_images(tmp_path / "dog", COLOURS["dog"], 4)
    ds = load_folder(path=str(tmp_path), image_size=(8, 8), test_fraction=0.25)
    task = vh.compose(task="classification", model="mlp", data=ds,
                      model_config={"hidden_units": [4]})
    pred = task.predict(ds.test.x)
    assert pred["labels"].shape == (2,) and pred["probabilities"].shape == (2, 2)


@pytest.mark.parametrize("dtype, top, suffix", [
    (np.uint16, 65535, ".png"),   # 16-bit PNG (I;16)
    (np.int32, 65535, ".tif"),    # 32-bit integer TIFF (I)
    (np.float32, 1.0, ".tif"),    # float TIFF (F)
])
def test_images_of_more_than_8_bits_are_scaled_by_mode_not_clipped_white(tmp_path, dtype,
                                                                          top, suffix):
    """Pillow's convert("L") clips such pixels at 255: a 16-bit image read as all white.
    The scale follows the mode, so a dark and a bright image keep their ratio."""
    for name, level in (("a", 0.2), ("b", 0.8)):
        (tmp_path / name).mkdir()
        pixels = np.full((6, 8), level * top).astype(dtype)
        Image.fromarray(pixels).save(tmp_path / name / f"x{suffix}")
    data = load_folder(path=str(tmp_path), image_size=(6, 8), color_mode="grayscale",
                       test_fraction=0.0)
    by_class = {int(c): np.unique(data.train.x[data.train.y == c]) for c in (0, 1)}
    assert by_class == {0: [51], 1: [204]}, by_class


def test_images_whose_pixels_fit_no_range_are_named(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((6, 8), -3.0, np.float32)).save(tmp_path / name / "x.tif")
    with pytest.raises(DataError, match=r"x.tif: F pixels span \[-3, -3\]; read as 0-1, "
                                        r"they must lie within it"):
        load_folder(path=str(tmp_path), image_size=(6, 8), test_fraction=0.0)
    pixels = np.full((6, 8), 0.5, np.float32)
    pixels[2, 3] = np.nan  # was "F pixels span [nan, nan]"
    Image.fromarray(pixels).save(tmp_path / "a" / "x.tif")
    with pytest.raises(DataError, match=r"x.tif: 1 of its F pixels are NaN or infinite"):
        load_folder(path=str(tmp_path), image_size=(6, 8), test_fraction=0.0)


def test_image_folder_extensions_match_in_any_case_with_or_without_the_dot(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 2)
    write_images(tmp_path / "dog", COLOURS["dog"], 2)
    for ext in ([".PNG"], ["png"]):
        data = load_folder(path=str(tmp_path), image_size=(4, 4), test_fraction=0.0,
                           extensions=ext)
        assert len(data.train) == 4


def test_unreadable_image_is_named(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 2)
    write_images(tmp_path / "dog", COLOURS["dog"], 2)
    broken = tmp_path / "dog" / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_folder(path=str(tmp_path))


def test_truncated_image_is_named(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 2, size=(40, 40))
    good = tmp_path / "cat" / "img0.png"
    good.write_bytes(good.read_bytes()[:120])
    with pytest.raises(DataError, match="img0.png"):
        load_folder(path=str(tmp_path))


def test_empty_class_folder_is_named(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 2)
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError) as exc:
        load_folder(path=str(tmp_path))
    assert f"class folder {tmp_path / 'dog'} holds no images" in str(exc.value)


def test_empty_class_folder_in_the_test_split_is_named(tmp_path):
    write_images(tmp_path / "train" / "cat", COLOURS["cat"], 2)
    write_images(tmp_path / "train" / "dog", COLOURS["dog"], 2)
    write_images(tmp_path / "test" / "cat", COLOURS["cat"], 1)
    (tmp_path / "test" / "dog").mkdir()
    with pytest.raises(DataError, match=f"class folder {tmp_path / 'test' / 'dog'} holds no"):
        load_folder(path=str(tmp_path))


def test_test_class_without_a_train_folder(tmp_path):
    write_images(tmp_path / "train" / "cat", COLOURS["cat"], 2)
    write_images(tmp_path / "test" / "cat", COLOURS["cat"], 1)
    write_images(tmp_path / "test" / "owl", COLOURS["owl"], 1)
    with pytest.raises(DataError, match=r"test classes \['owl'\] have no train folder"):
        load_folder(path=str(tmp_path))


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        load_folder(path=str(tmp_path / "nope"))
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match="a.png' is a file, not a folder"):
        load_folder(path=str(tmp_path / "a.png"))
    (tmp_path / "a.png").unlink()
    with pytest.raises(DataError, match="has no class subfolders"):
        load_folder(path=str(tmp_path))


@pytest.mark.parametrize("size", [(0, 8), (8, -1)])
def test_image_sizes_must_be_positive(tmp_path, size):
    with pytest.raises(vh.ConfigError, match="(?s)image_size.*greater than 0"):
        vh.datasets.load("image-folder", path=str(tmp_path), image_size=size)


def test_split_helpers():
    split = Split(np.zeros((4, 2, 2, 1)), {"a": np.arange(4), "b": np.arange(4) * 2})
    x, y = split
    assert len(split) == 4 and split.images is x and split.targets is y
    taken = split.take(2)
    assert taken.x.shape == (2, 2, 2, 1) and taken.y["b"].tolist() == [0, 2]


def test_a_streamed_image_folder_reads_the_same_images_in_mixed_batches(tmp_path):
    """stream = true: the files are listed (in a seeded random order, not class by class)
    and read batch by batch; fit draws a new order each epoch."""
    write_images(tmp_path / "cat", COLOURS["cat"], 12)
    write_images(tmp_path / "dog", COLOURS["dog"], 12)
    params = dict(path=str(tmp_path), image_size=(8, 8), test_fraction=0.25)
    mem, lazy = load_folder(**params), load_folder(**params, stream=True, workers=2)
    assert isinstance(lazy.train, vh.datasets.LazySplit)
    assert (len(lazy.train), len(lazy.test)) == (len(mem.train), len(mem.test)) == (18, 6)
    every = lazy.train.take(100)

    def rows(x, y):
        return sorted((int(c), img.tobytes()) for img, c in zip(x, y))

    assert rows(every.x, every.y) == rows(mem.train.x, mem.train.y)  # the same images
    assert np.array_equal(dominant(every.x), np.where(every.y == 0, 0, 2))  # and labels
    assert 0 < every.y[:6].mean() < 1  # the first rows mix the classes
    batches = lazy.train.batches(6, shuffle=True, seed=0)
    first = [batches[i][1].tolist() for i in range(3)]
    batches.on_epoch_end()
    assert [batches[i][1].tolist() for i in range(3)] != first  # a new order each epoch
    assert sorted(sum(first, [])) == sorted(every.y.tolist())
    with pytest.raises(DataError, match="read on demand: pass it to fit"):
        x, y = lazy.train
    with pytest.raises(DataError, match="has no 'images' array: take\\(n\\)"):
        lazy.test.images

    task = vh.compose(task="classification", model="mlp", data=lazy, seed=0,
                      model_config={"hidden_units": [4], "dropout": 0.0},
                      optimizer={"learning_rate": 0.05})
    task.fit(lazy.train, epochs=4, batch_size=6, validation_data=lazy.test, verbose=0,
             run_dir=tmp_path / "run")
    assert task.evaluate(lazy.test, batch_size=4)["accuracy"] == 1.0  # colours: separable
    assert task.predict(lazy.test)["labels"].shape == (6,)
    assert [p.name for p in task.figures(lazy.test, tmp_path / "figs")] == \
        ["misclassified.png", "confusion.png"]


def test_streamed_image_folder_errors_name_the_batch_and_the_empty_split(tmp_path):
    write_images(tmp_path / "cat", COLOURS["cat"], 4)
    write_images(tmp_path / "dog", COLOURS["dog"], 4)
    (tmp_path / "dog" / "zz-broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*zz-broken.png: .*check_files = "
                                        r"false skips this"):  # named at load by default
        load_folder(path=str(tmp_path), image_size=(8, 8), test_fraction=0.0, stream=True)
    lazy = load_folder(path=str(tmp_path), image_size=(8, 8), test_fraction=0.0,
                       stream=True, check_files=False)
    task = vh.compose(task="classification", model="mlp", data=lazy,
                      model_config={"hidden_units": [4]})
    with pytest.raises(DataError, match=r"training data, batch \d: cannot read image "
                                        r".*zz-broken.png"):
        task.fit(lazy.train, epochs=1, batch_size=3, verbose=0, checkpoint=False)
    with pytest.raises(DataError, match=r"^evaluation data is empty \(no batches\)$"):
        task.evaluate(lazy.test)


def test_a_dataset_factory_that_builds_something_else_is_named(global_host):
    from visionhooks import manager
    from visionhooks.errors import ComponentError

    class DictData:
        @vh.hookimpl
        def register_datasets(self, register):
            register("dict-data", lambda config, info: {"train": None})

    host = manager.Host(autoload=False)
    host.register_plugin(DictData(), name="dict-plugin")
    global_host(host)
    with pytest.raises(ComponentError, match=r"dataset 'dict-data' \(plugin 'dict-plugin'\) must "
                                             r"build a visionhooks.datasets.Dataset. Received: "
                                             r"dict"):
        vh.datasets.load("dict-data")


def test_datasets_load_from_an_explicit_host(global_host):
    from visionhooks import manager

    class HostConfig(vh.ComponentConfig):
        host: str = ""  # a dataset's own parameter of that name (a server, say)

    class Tiny:
        @vh.hookimpl
        def register_datasets(self, register):
            def build(config, info):
                x = np.zeros((2, 4, 4, 1), np.float32)
                return vh.datasets.Dataset("tiny", Split(x, np.array([0, 1])),
                                           Split(x, np.array([1, 0])),
                                           vh.DataInfo(task="classification",
                                                       input_shape=(4, 4, 1), num_classes=2),
                                           source=config.host)
            register("tiny-data", build, config=HostConfig)

    host = manager.Host(autoload=False)
    host.register_plugin(Tiny(), name="tiny")
    assert len(vh.datasets.load("tiny-data", host=host).train) == 2
    with pytest.raises(vh.errors.ComponentNotFoundError):
        vh.datasets.load("tiny-data")  # the process-wide host lacks it
    global_host(host)
    assert vh.datasets.load("tiny-data", host="data.example.com").source == "data.example.com"


def test_a_size_above_what_the_file_holds_is_named_not_silently_capped(places):
    data, _ = places
    write_mnist(data / "mnist.npz", 13)
    with pytest.warns(UserWarning, match=r"train_size=100 but .*mnist.npz holds 13 train "
                                         r"images: using all 13"):
        ds = vh.datasets.load("mnist", train_size=100)
    assert len(ds.train) == 13
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(vh.datasets.load("mnist", train_size=13).train) == 13
