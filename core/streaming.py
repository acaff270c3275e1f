"""Data that does not fit in memory: a ``keras.utils.PyDataset`` of data-model batches.

``Task.fit``, ``evaluate`` and ``predict`` take one wherever they take a split. Each batch
is what an in-memory split holds for a slice of it: ``(images, targets)``, or a batch
dict (``images`` and the task's target key); ``predict`` also takes images alone. The
PyDataset makes its own batches, so ``batch_size`` and ``validation_split`` do not apply;
with ``workers`` > 1 its next batches are read ahead in that many threads (here, not in
Keras: ``use_multiprocessing`` is not used, as JAX does not survive a fork), and
``train.shuffle`` draws the order of its batches per epoch, seeded. Every batch is
checked like an in-memory split (the error names the batch) and its targets are packed
for Keras here, on the loading side, never inside the compiled step.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .datasets import rows_of
from .errors import ConfigError, DataError
from .tasktype import check_batch_keys


def is_stream(data: Any) -> bool:
    """Whether ``data`` is a ``keras.utils.PyDataset`` (of batches, not one split)."""
    return isinstance(data, keras.utils.PyDataset)


def refuse_arguments(what: str, **given: Any) -> None:
    """``batch_size`` and ``validation_split`` belong to in-memory data (a name given as
    ``train_NAME`` came from the task config, not the call)."""
    for name, value in given.items():
        if value is None:
            continue
        field = name.removeprefix("train_")
        where = f"train.{field}={value!r} (the config)" if field != name \
            else f"{what}: {field}={value!r}"
        hint = ("set the batch size there" if field == "batch_size"
                else "pass validation data as validation_data")
        raise ConfigError(f"{where} does not apply to a PyDataset or a streamed split, which "
                          f"are read batch by batch ({hint})")


def epoch_order(n: int, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of ``n`` items in ``epoch``: drawn from ``(seed, epoch)`` with
    ``shuffle``, so that a resumed run draws the orders the interrupted one would have."""
    return np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)


class CheckedBatches(keras.utils.PyDataset):
    """The batches of a user's ``PyDataset``, each checked by the task type and with its
    targets in the form Keras fits on (``images_only``: images alone, for predict).

    Keras sees one worker and no shuffling: with ``shuffle`` the batch order is drawn
    here, seeded per epoch (so a resume continues it, ``start_at``), and the source's
    ``workers`` threads read the next batches ahead, keyed by epoch and position. Keras'
    own read-ahead threads would serve stale batches across the epoch boundary it makes
    when it reads a first batch to learn the shapes. The source's epoch hooks are called
    through.
    """

    def __init__(self, source: keras.utils.PyDataset, task_type: Any, what: str,
                 images_only: bool = False, shuffle: bool = False, seed: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False,
                         max_queue_size=source.max_queue_size)
        self.source, self.task_type, self.what = source, task_type, what
        self.images_only, self.shuffle, self.seed = images_only, shuffle, int(seed)
        try:
            n = len(source)
        except TypeError:
            n = None
        if n is None:
            raise DataError(f"{what}: a PyDataset needs a length (an endless one cannot say "
                            f"where an epoch ends)")
        if n == 0:
            raise DataError(f"{what} is empty (no batches)")
        self._len, self._ahead = n, max(0, int(getattr(source, "workers", 1) or 1) - 1)
        self._pool: Any = None
        self._pending: dict[tuple[int, int], Any] = {}
        self.start_at(0)

    def __len__(self) -> int:
        return self._len

    @property
    def num_batches(self) -> int:
        return self._len

    def start_at(self, epoch: int) -> None:
        """Continue the sequence of epochs at ``epoch`` (a resumed run)."""
        self.epoch = int(epoch)
        self._draw()
        if hasattr(self.source, "start_at"):
            self.source.start_at(epoch)

    def _draw(self) -> None:
        self._pending.clear()  # batches read for another epoch's order
        self.order = epoch_order(self._len, self.shuffle, self.seed, self.epoch)

    def on_epoch_begin(self) -> None:
        self.source.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.source.on_epoch_end()
        self.epoch += 1
        self._draw()

    def _read(self, position: int) -> tuple[np.ndarray, Any]:
        return self.checked(int(self.order[position]))

    def _get(self, position: int) -> tuple[np.ndarray, Any]:
        """Batch ``position`` of this epoch's order, and the next ones started reading."""
        if not self._ahead:
            return self._read(position)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._ahead, thread_name_prefix="visionhooks-read")
        epoch = self.epoch
        pending = self._pending.pop((epoch, position), None)
        for j in range(position + 1, min(position + 1 + self._ahead, self._len)):
            if (epoch, j) not in self._pending:
                self._pending[(epoch, j)] = self._pool.submit(self._read, j)
        return pending.result() if pending is not None else self._read(position)

    def checked(self, index: int) -> tuple[np.ndarray, Any]:
        """Batch ``index`` as validated ``(images, data-model targets)`` (targets None for
        images alone)."""
        try:
            x, y = self._split(self.source[index])
            x = self.task_type.check_images(x, keep_uint8=True)  # TaskModel scales uint8
            if y is not None:
                y = self.task_type.check_targets(y, len(x))
        except DataError as exc:
            raise DataError(f"{self.what}, batch {index}: {exc}") from None
        return x, y

    def collect(self, limit: int) -> tuple[np.ndarray, Any]:
        """The first batches, up to ``limit`` images, as one in-memory ``(images,
        targets)`` pair (for figures, which draw from arrays)."""
        xs, ys, n = [], [], 0
        for i in range(len(self)):
            x, y = self.checked(i)
            xs.append(x[: limit - n])
            ys.append(None if y is None else rows_of(y, slice(0, limit - n)))
            n += len(xs[-1])
            if n >= limit:
                break
        return np.concatenate(xs), _concat(ys)

    def __getitem__(self, index: int) -> Any:
        x, y = self._get(index)
        return (x,) if self.images_only else (x, self.task_type.keras_targets(y))

    def _split(self, item: Any) -> tuple[Any, Any]:
        target = self.task_type.target
        if isinstance(item, dict):
            check_batch_keys(item, target, "a batch", self.images_only)
            return item["images"], None if self.images_only else item[target]
        if isinstance(item, tuple) and len(item) in (1, 2, 3):
            if len(item) == 3:
                raise DataError("sample weights (a third element) are not supported")
            if len(item) == 1 or self.images_only:
                if not self.images_only:
                    raise DataError(f"a batch to train or evaluate on is (images, {target}); "
                                    f"it holds images only")
                return item[0], None
            return item
        if self.images_only:
            return item, None
        raise DataError(f"a batch is (images, {target}) or a dict with 'images' and "
                        f"{target!r}. Received: {type(item).__name__}")


def _concat(ys: list[Any]) -> Any:
    if ys[0] is None:
        return None
    if isinstance(ys[0], dict):
        return {k: _concat([y[k] for y in ys]) for k in ys[0]}
    return np.concatenate(ys)


class ReadBatches(keras.utils.PyDataset):
    """The batches of a ``LazySplit``, read by its ``workers``. With ``shuffle`` the rows
    are drawn in a new order each epoch (seeded by ``seed`` and the epoch), so a batch
    mixes classes however the split lists its files; without, in the split's order."""

    def __init__(self, split: Any, batch_size: int, shuffle: bool = False,
                 seed: int = 0) -> None:
        super().__init__(workers=split.workers)  # CheckedBatches reads ahead with these
        self.split, self.batch_size = split, int(batch_size)
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), 0
        self._order()

    def _order(self) -> None:
        self.rows = epoch_order(len(self.split), self.shuffle, self.seed, self.epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order()

    def start_at(self, epoch: int) -> None:
        """Continue a resumed run's sequence of orders (Keras calls ``on_epoch_end``
        once before the first epoch, after reading a batch to learn the shapes)."""
        self.epoch = int(epoch)
        self._order()

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __getitem__(self, index: int) -> Any:
        return self.split.read(self.rows[index * self.batch_size:(index + 1) * self.batch_size])


def as_stream(data: Any, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
    """A ``LazySplit`` as the PyDataset of its batches; anything else as it is."""
    from .datasets import LazySplit

    return data.batches(batch_size, shuffle, seed) if isinstance(data, LazySplit) else data
