"""MNIST: the full set from a file, ``VISIONHOOKS_DATA``, the Keras cache or a download;
else the sample that ships inside the package."""

from __future__ import annotations

import os
import socket
import zipfile
import zlib
from pathlib import Path

import numpy as np

from visionhooks.config import DataInfo
from visionhooks.datasets import Dataset, Split
from visionhooks.errors import DataError, DatasetNotFoundError, warn_user
from .config import MNISTConfig

FILENAME = "mnist.npz"
SAMPLE = Path(__file__).with_name("data") / "mnist_sample.npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")
INFO = DataInfo(task="classification", input_shape=(28, 28, 1), num_classes=10,
                class_names=tuple(str(i) for i in range(10)))
HOW_TO_GET = ("Get the full set with `python -c \"import keras; keras.datasets.mnist.load_data()\"` "
              "(fills the Keras cache) on a machine with internet, or point VISIONHOOKS_DATA at a "
              "folder holding mnist.npz (Keras layout), or pass path=...")


def keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / FILENAME


def _as_file(p: Path) -> Path:
    return p / FILENAME if p.is_dir() else p


def find(config: MNISTConfig) -> tuple[Path | None, list[str]]:
    """The full MNIST file, or None; and every place looked (for messages)."""
    looked: list[str] = []
    if config.path:
        p = _as_file(Path(config.path).expanduser())
        if not p.is_file():
            raise DatasetNotFoundError(f"MNIST not found at path={config.path!r} "
                                       f"(looked for {p})")
        return p, [str(p)]
    env = os.environ.get("VISIONHOOKS_DATA")
    if env:
        p = _as_file(Path(env).expanduser())
        looked.append(f"{p} (VISIONHOOKS_DATA)")
        if p.is_file():
            return p, looked
    else:
        looked.append("VISIONHOOKS_DATA (not set)")
    cache = keras_cache()
    looked.append(f"{cache} (Keras cache)")
    if cache.is_file():
        return cache, looked
    offline = os.environ.get("VISIONHOOKS_OFFLINE", "").lower() in {"1", "true", "yes"}
    if not config.download or offline:
        looked.append("download (disabled" + (" by VISIONHOOKS_OFFLINE)" if offline else ")"))
        return None, looked
    old = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(20)
        from visionhooks import backend

        keras = backend.keras()
        p = Path(keras.utils.get_file(
            FILENAME, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"))
        looked.append(f"download to {p}")
        return p, looked
    except Exception as exc:  # no network, proxy, timeout
        looked.append(f"download (failed: {type(exc).__name__}: {exc})")
        return None, looked
    finally:
        socket.setdefaulttimeout(old)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and check a Keras-layout MNIST file."""
    try:
        # Our own handle: np.load leaks its file when the archive is broken.
        with open(path, "rb") as handle:
            f = np.load(handle, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):  # a bare .npy array
                raise DataError(f"{path} is not a Keras mnist.npz: it holds a single array, "
                                f"expected an .npz archive with keys {KEYS}")
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path} is not a Keras mnist.npz: it lacks {missing}; "
                                f"expected keys {KEYS}")
            arrays = {k: f[k] for k in KEYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # empty or truncated files, broken archives, corrupt members
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise DataError(f"{path}: x_{split} must be (N, 28, 28) with N labels. "
                            f"Received: x_{split}.shape={x.shape}, y_{split}.shape={y.shape}")
    return arrays


def _unit_range(x: np.ndarray, what: str) -> np.ndarray:
    """Pixels stored as other than uint8, as float32 in [0, 1]: integers and floats above
    1 are 0-255 and scaled; floats within [0, 1] are already scaled (dividing them again
    would leave near-black images that pass every check)."""
    f = x.astype(np.float32)
    if not np.isfinite(f).all():
        raise DataError(f"{what} holds NaN or infinite pixels")
    lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
    if lo < 0 or hi > 255:
        raise DataError(f"{what}: pixels span [{lo:g}, {hi:g}]; MNIST pixels are 0-255 "
                        f"(or floats in [0, 1])")
    if np.issubdtype(x.dtype, np.integer) or hi > 1:
        f /= np.float32(255.0)
    return f


def build(config: MNISTConfig, info: None = None) -> Dataset:
    if config.full is False:
        path, source = SAMPLE, "bundled sample"
    else:
        path, looked = find(config)
        if path is None:
            where = "\n  - ".join(looked)
            msg = f"the full MNIST set was not found. Looked in:\n  - {where}\n{HOW_TO_GET}"
            if config.full:
                raise DatasetNotFoundError(msg)
            warn_user(f"{msg}\nUsing the bundled sample (2,000 train / 500 test images) "
                      f"instead: accuracy will be lower than on the full set.")
            path, source = SAMPLE, "bundled sample"
        else:
            source = str(path)
    a = read_npz(path)

    def split(name: str, size: int | None) -> Split:
        have = len(a[f"y_{name}"])
        if size is not None and size > have:
            warn_user(f"{name}_size={size:,} but {source} holds {have:,} {name} images: "
                      f"using all {have:,}")
        x, y = a[f"x_{name}"][:size], a[f"y_{name}"][:size]
        if x.dtype == np.uint8:  # Keras' layout: kept as stored, scaled by the task
            x = x[..., None] if size is None else x[..., None].copy()  # no view of the rest
        else:  # other pixel types: float32 in [0, 1], as the data model asks
            x = _unit_range(x[..., None], f"{source}: x_{name}")
        return Split(x, y.astype(np.int32))

    return Dataset("mnist", split("train", config.train_size), split("test", config.test_size),
                   INFO, source)
