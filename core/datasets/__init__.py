"""Datasets: splits of ``(x, y)`` in the data model plus a ``DataInfo``.

``vh.datasets.load("mnist")`` looks the name up among registered datasets (built-in
ones are registered by ``visionhooks.plugins.datasets.hooks`` through the same entry-point
group as any plugin's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from pydantic import Field, PositiveInt

from ..config import ComponentConfig, DataInfo


@dataclass
class Split:
    """One split: ``x`` images (N, H, W, C), uint8 as read from 8-bit files (``Task``
    scales them inside the compiled step: a quarter of the bytes to gather and copy each
    batch) or float32 in [0, 1]; ``y`` targets per the data model. Unpacks as
    ``x, y = split``."""

    x: np.ndarray
    y: Any

    def __iter__(self) -> Iterator[Any]:
        yield self.x
        yield self.y

    def __len__(self) -> int:
        return len(self.x)

    @property
    def images(self) -> np.ndarray:
        return self.x

    @property
    def targets(self) -> Any:
        return self.y

    def take(self, n: int) -> Split:
        """The first ``n`` examples."""
        return Split(self.x[:n], rows_of(self.y, slice(0, n)))


class StreamOptions(ComponentConfig):
    """The options of a dataset that can stream (a base for its config): with ``stream``
    its splits are ``LazySplit``s read batch by batch, by ``workers`` threads."""

    stream: bool = Field(False, description=(
        "read the images batch by batch during training instead of all at once (data too "
        "large for memory); annotations and masks are still checked at load"))
    workers: PositiveInt = Field(1, description=(
        "threads reading batches when streaming (1: read between steps, while the device "
        "computes the last; more pay off with spare cores, e.g. beside a GPU)"))


class LazySplit:
    """A split read on demand, for data too large to hold in memory: ``read(rows)``
    returns the images and targets of those rows (as a ``Split`` holds them).

    ``Task.fit``, ``evaluate`` and ``predict`` read it batch by batch of the usual
    ``batch_size`` (``batches``): with one worker between steps (JAX computes the last
    step meanwhile), with more in threads loading ahead; ``take(n)`` reads the first ``n`` rows into an in-memory ``Split`` (figures use
    it). ``len`` is the number of images, as for a ``Split``.
    """

    def __init__(self, n: int, read: Callable[[np.ndarray], tuple[np.ndarray, Any]],
                 workers: int = 1, known_targets: Any = None) -> None:
        self._n, self.read, self.workers = int(n), read, int(workers)
        #: every row's targets when the dataset holds them already (detection boxes read
        #: from annotation files): what needs targets alone (auto anchors) reads no pixels
        self.known_targets = known_targets

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Any]:
        from ..errors import DataError

        raise DataError(f"this split of {self._n} images is read on demand: pass it to "
                        f"fit/evaluate/predict/figures, or take(n) for arrays")

    def take(self, n: int) -> Split:
        """The first ``n`` examples, read into memory."""
        x, y = self.read(np.arange(min(int(n), self._n)))
        return Split(x, y)

    def __getattr__(self, name: str) -> Any:
        if name in ("x", "y", "images", "targets"):
            from ..errors import DataError

            raise DataError(f"this split of {self._n} images is read on demand and has no "
                            f"{name!r} array: take(n) reads the first n into memory")
        raise AttributeError(name)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
        """A ``keras.utils.PyDataset`` of its batches: in row order, or with ``shuffle``
        in a new seeded order each epoch."""
        from ..streaming import ReadBatches

        return ReadBatches(self, batch_size, shuffle, seed)

    def __repr__(self) -> str:
        return f"LazySplit({self._n} images, workers={self.workers})"


def rows_of(y: Any, idx: Any) -> Any:
    """Rows ``idx`` of data-model targets (a dict of arrays for detection)."""
    if isinstance(y, dict):
        return {k: rows_of(v, idx) for k, v in y.items()}
    return y[idx]


@dataclass
class Dataset:
    """A named dataset: ``train`` and ``test`` splits, its ``info``, and where it came from."""

    name: str
    train: Split | LazySplit
    test: Split | LazySplit
    info: DataInfo
    source: str = ""

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
                f"input_shape={self.info.input_shape}, classes={self.info.num_classes}, "
                f"source={self.source!r})")


def load(name: str, host: Any = None, **params: Any) -> Dataset:
    """Load a registered dataset by name with its parameters (validated by its config),
    from ``host`` (a ``vh.Host``; default: the process-wide one; anything else is the
    dataset's own ``host`` parameter)."""
    from ..errors import ComponentError
    from ..manager import Host
    from ..manager import host as default_host

    if host is not None and not isinstance(host, Host):  # a dataset's own `host` parameter
        params, host = {**params, "host": host}, None
    comp = (host or default_host()).component("dataset", name)
    dataset = comp.build(params, None)
    if not isinstance(dataset, Dataset):
        raise ComponentError(f"dataset {name!r} (plugin {comp.plugin!r}) must build a "
                             f"visionhooks.datasets.Dataset. Received: "
                             f"{type(dataset).__name__}")
    return dataset


def names() -> list[str]:
    from ..manager import host

    return host().components("dataset")


__all__ = ["Dataset", "LazySplit", "Split", "StreamOptions", "load", "names"]
