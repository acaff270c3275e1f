"""``image-folder``: a classification dataset from one subfolder per class (Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionhooks.config import DataInfo
from visionhooks.errors import DataError, DatasetNotFoundError
from visionhooks.datasets import Dataset, LazySplit, Split
from visionhooks.datasets.images import opened, read_image
from .config import ImageFolderConfig


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def _list(root: Path, classes: list[str], cfg: ImageFolderConfig) -> tuple[np.ndarray, np.ndarray]:
    """Every image file under ``root/<class>`` and its label, nothing read yet."""
    paths, ys = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = _files(folder, cfg.extensions) if folder.is_dir() else []
        if not files:
            raise DataError(f"class folder {folder} holds no images with extensions "
                            f"{list(cfg.extensions)}")
        paths.extend(files)
        ys.extend([label] * len(files))
    return np.asarray(paths, object), np.asarray(ys, np.int32)


def _split(files: np.ndarray, labels: np.ndarray, cfg: ImageFolderConfig) -> Split | LazySplit:
    """The images of ``files`` in memory, or read on demand with ``stream = true`` (in a
    seeded random order, so that its first rows, and any run of rows, mix the classes)."""
    shape = (*cfg.image_size, 1 if cfg.color_mode == "grayscale" else 3)
    if cfg.stream:
        order = np.random.default_rng(cfg.seed).permutation(len(files))
        files, labels = files[order], labels[order]
        if cfg.check_files:
            _check_headers(files)

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = [read_image(f, cfg.image_size, cfg.color_mode) for f in files[rows]]
        return (np.stack(images) if images else np.zeros((0, *shape), np.uint8)), labels[rows]

    if cfg.stream:
        return LazySplit(len(files), read, workers=cfg.workers)
    return Split(*read(np.arange(len(files))))


def _check_headers(files: np.ndarray) -> None:
    """Open every file's header (Pillow decodes nothing until asked): a file that is not
    an image is named at load. A truncated image still fails where it is decoded."""
    for f in files:
        with opened(f, " (found while checking the streamed files; check_files = false "
                       "skips this)"):
            pass


def build(config: ImageFolderConfig, info: None = None) -> Dataset:
    root = Path(config.path).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"image-folder: {str(root)!r} is a file, not a folder of "
                                   f"class folders" if root.is_file() else
                                   f"image-folder: no such folder {str(root)!r}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = [p.name for p in _class_dirs(root / "train")]
        test_classes = [p.name for p in _class_dirs(root / "test")]
        if set(test_classes) - set(classes):
            raise DataError(f"image-folder: test classes {sorted(set(test_classes) - set(classes))}"
                            f" have no train folder in {root / 'train'}")
        f_train, y_train = _list(root / "train", classes, config)
        present = [c for c in classes if c in test_classes]
        f_test, y_test = _list(root / "test", present, config)
        y_test = _remap(y_test, present, classes)
    else:
        classes = [p.name for p in _class_dirs(root)]
        if not classes:
            raise DataError(f"image-folder: {root} has no class subfolders (expected "
                            f"{root}/<class>/<image> or {root}/train/<class>/<image>)")
        files, y = _list(root, classes, config)
        rng = np.random.default_rng(config.seed)
        test_idx = []
        for label in range(len(classes)):  # stratified split
            idx = rng.permutation(np.nonzero(y == label)[0])
            test_idx.extend(idx[: int(round(len(idx) * config.test_fraction))])
        if not test_idx and config.test_fraction > 0 and len(y) >= 2:
            # every class rounded to none: one image of the largest class, so that a test
            # split asked for exists (as mask-folder and the detection readers do)
            largest = int(np.argmax(np.bincount(y, minlength=len(classes))))
            test_idx.append(rng.permutation(np.nonzero(y == largest)[0])[0])
        mask = np.zeros(len(y), bool)
        mask[test_idx] = True
        f_train, y_train, f_test, y_test = files[~mask], y[~mask], files[mask], y[mask]
    channels = 1 if config.color_mode == "grayscale" else 3
    info = DataInfo(task="classification", input_shape=(*config.image_size, channels),
                    num_classes=len(classes), class_names=tuple(classes))
    return Dataset("image-folder", _split(f_train, y_train, config),
                   _split(f_test, y_test, config), info, str(root))  # uint8 pixels, as read


def _remap(y: np.ndarray, present: list[str], classes: list[str]) -> np.ndarray:
    lookup = np.asarray([classes.index(c) for c in present], np.int32)
    return lookup[y]
