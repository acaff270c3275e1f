"""What ``Task.fit`` and ``Task.evaluate`` hand to Keras: in-memory splits (checked, this
process's rows in a multi-process run, targets packed for Keras) or batches read one at a
time (``streaming``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .datasets import LazySplit, Split, rows_of
from .distribute import process_count, shard_rows
from .errors import ConfigError, DataError
from .streaming import CheckedBatches, ReadBatches, is_stream, refuse_arguments
from .tasktype import Evaluator, TaskType, check_batch_keys

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task


def fit_inputs(task: Task, data: Any, y: Any, validation_data: Any, batch_size: int,
               split: float, given_batch_size: Any, given_split: Any, seed: int = 0
               ) -> tuple[dict[str, Any], int]:
    """The data arguments of ``keras.Model.fit`` (checked, targets packed for Keras,
    this process's rows of a multi-process run) and the steps of one epoch."""
    tt = task.task_type

    def validation(what: str) -> Any:
        if validation_data is None:
            return None
        if is_stream(validation_data):
            return CheckedBatches(validation_data, tt, what)
        return checked_xy(tt, validation_data, None, what)

    if is_stream(data):
        if y is not None:
            raise DataError("training data: a PyDataset yields its own targets; pass it "
                            "without y")
        refuse_arguments("fit()", batch_size=given_batch_size,
                         validation_split=given_split or None,
                         train_validation_split=split or None)
        if process_count() > 1:
            raise ConfigError("a PyDataset or a streamed split (stream = true) is not "
                              "split across processes; give each process in-memory data")
        # train.shuffle: a PyDataset's batch order is drawn per epoch, seeded; a streamed
        # split (ReadBatches) draws its rows itself
        batches = CheckedBatches(data, tt, "training data", seed=seed,
                                 shuffle=task.config.train.shuffle
                                 and not isinstance(data, ReadBatches))
        val = validation("validation_data")
        if isinstance(val, tuple):
            val = (val[0], tt.keras_targets(val[1]))
        return {"x": batches, "validation_data": val, "shuffle": False}, len(batches)
    x, y = checked_xy(tt, data, y, "training data")
    val = validation("validation_data")
    if split and val is not None:  # Keras would ignore the split and train on every row
        if given_split:
            raise ConfigError(f"fit() got validation_split={given_split} and "
                              f"validation_data; pass one")
        split = 0.0  # the config's default split yields to the data given
    # Keras' own rule: the first floor(n·(1 − split)) rows train
    n_train = math.floor(len(x) * (1.0 - split)) if split else len(x)
    if split and not 0 < n_train < len(x):
        raise DataError(f"validation_split={split} of {len(x)} images leaves {n_train} to "
                        f"train on and {len(x) - n_train} to validate; pass more images, "
                        f"another split or validation_data")
    if process_count() > 1:  # each process feeds its slice of every global batch
        if split:
            raise ConfigError("validation_split is not supported across processes; pass "
                              "validation_data")
        if isinstance(val, CheckedBatches):
            raise ConfigError("a PyDataset is not split across processes; pass in-memory "
                              "validation_data")
        rows = shard_rows(len(x), batch_size)
        x, y = x[rows], rows_of(y, rows)
        if val is not None:
            vrows = shard_rows(len(val[0]), batch_size)
            val = (val[0][vrows], rows_of(val[1], vrows))
        batch_size //= process_count()
        n_train = len(x)  # this process's rows (no split across processes)
    if isinstance(val, tuple):
        val = (val[0], tt.keras_targets(val[1]))
    return ({"x": x, "y": tt.keras_targets(y), "batch_size": batch_size,
             "validation_split": split, "shuffle": task.config.train.shuffle,
             "validation_data": val}, math.ceil(n_train / batch_size))


def evaluate_stream(task: Task, batches: Any) -> dict:
    """``evaluate`` on a PyDataset: Keras' metrics in one pass, evaluators in a
    second (they need each batch's predictions beside its targets)."""
    with task._distributed():
        logs = task.model.evaluate(batches, return_dict=True, verbose=0)
    out = {k: float(v) for k, v in logs.items()}
    evaluators = [m for m in task._build_metrics() if isinstance(m, Evaluator)]

    def pairs() -> Iterator[tuple[Any, Any]]:
        for i in range(len(batches)):
            x, y = batches.checked(i)
            with task._distributed():
                outputs = task.model.predict_on_batch(x)
            yield y, outputs

    if evaluators:
        out.update(evaluator_results(evaluators, pairs()))
    return out


def evaluator_results(evaluators: list[Evaluator],
                      pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """Reset the evaluators, feed them every ``(targets, outputs)`` batch of ``pairs``,
    and merge their results."""
    for ev in evaluators:
        ev.reset()
    for y, outputs in pairs:
        for ev in evaluators:
            ev.update(y, outputs)
    out: dict[str, Any] = {}
    for ev in evaluators:
        out.update(ev.result())
    return out


def checked_xy(task_type: TaskType, data: Any, y: Any = None, what: str = "data",
               keep_uint8: bool = True) -> tuple[Any, Any]:
    """Validated ``(images, targets)`` from a split, an ``(x, y)`` pair, a batch dict or
    images with ``y``; uint8 images stay uint8 (``TaskModel`` scales them on the device)
    unless ``keep_uint8`` is False (host code that reads them)."""
    if y is None:
        if hasattr(data, "train") and hasattr(data, "test"):
            raise DataError(f"{what}: pass a split (data.train or data.test), not the "
                            f"whole dataset")
        if isinstance(data, dict):  # a batch in the data model
            target = task_type.target
            check_batch_keys(data, target, what)
            data = (data["images"], data[target])
        if hasattr(data, "ndim"):  # an array of images: two would unpack as (x, y)
            raise DataError(f"{what}: images without targets; pass a split, an (x, y) "
                            f"pair, a batch dict or y=...")
        try:
            x, y = data
        except (TypeError, ValueError):
            raise DataError(f"{what} must be a split or an (x, y) pair. Received: "
                            f"{type(data).__name__}") from None
    else:
        if isinstance(data, (dict, Split, LazySplit)):
            kind = "batch dict" if isinstance(data, dict) else "split"
            raise DataError(f"{what}: a {kind} carries its own targets; pass it without y")
        x = data
    x = task_type.check_images(x, keep_uint8=keep_uint8)
    y = task_type.check_targets(y, len(x))
    return x, y
