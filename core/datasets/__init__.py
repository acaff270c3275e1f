"""Datasets: splits of ``(x, y)`` in the data model plus a ``DataInfo``.

``vh.datasets.load("mnist")`` looks the name up among registered datasets (built-in
ones are registered by ``visionhooks.plugins.datasets.hooks`` through the same entry-point
group as any plugin's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..config import DataInfo


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
        return Split(self.x[:n], _index(self.y, slice(0, n)))


def _index(y: Any, idx: Any) -> Any:
    if isinstance(y, dict):
        return {k: _index(v, idx) for k, v in y.items()}
    return y[idx]


@dataclass
class Dataset:
    """A named dataset: ``train`` and ``test`` splits, its ``info``, and where it came from."""

    name: str
    train: Split
    test: Split
    info: DataInfo
    source: str = ""

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
                f"input_shape={self.info.input_shape}, classes={self.info.num_classes}, "
                f"source={self.source!r})")


def load(name: str, **params: Any) -> Dataset:
    """Load a registered dataset by name with its parameters (validated by its config)."""
    from ..manager import host

    dataset = host().component("dataset", name).build(params, None)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset {name!r} must build a visionhooks.datasets.Dataset. "
                        f"Received: {type(dataset).__name__}")
    return dataset


def names() -> list[str]:
    from ..manager import host

    return host().components("dataset")


__all__ = ["Dataset", "Split", "load", "names"]
