"""Training glue over ``keras.Model.fit``: tqdm progress and atomic epoch checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import keras
import numpy as np
from tqdm.auto import tqdm

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"


class TqdmProgress(keras.callbacks.Callback):
    """A tqdm bar per epoch (steps, loss, metrics) in place of Keras' progress bar.

    Async-safe: Keras dispatches batch-end callbacks to a worker thread, so the bar
    never forces the device to synchronise each step.
    """

    async_safe = True

    def __init__(self, file: Any = None, mininterval: float = 0.2) -> None:
        super().__init__()
        self.file = file if file is not None else sys.stderr
        self.mininterval = mininterval
        self._bar: tqdm | None = None
        self._lock = threading.Lock()
        self._last_postfix = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        total = self.params.get("steps")
        epochs = self.params.get("epochs")
        self._bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                         file=self.file, mininterval=self.mininterval, dynamic_ncols=True,
                         leave=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        with self._lock:
            bar = self._bar
            if bar is None:
                return
            done = batch + 1
            if done > bar.n:
                now = time.monotonic()
                if logs and now - self._last_postfix >= self.mininterval:
                    # formatting the logs costs more than the update: only as often as
                    # the bar redraws
                    self._last_postfix = now
                    bar.set_postfix(_fmt(logs), refresh=False)
                bar.update(done - bar.n)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with self._lock:
            if self._bar is not None:
                if self._bar.total and self._bar.n < self._bar.total:
                    self._bar.update(self._bar.total - self._bar.n)
                if logs:
                    self._bar.set_postfix(_fmt(logs), refresh=False)
                self._bar.close()
                self._bar = None


def _fmt(logs: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in logs.items():
        try:
            out[k] = f"{float(v):.4g}"
        except (TypeError, ValueError):
            continue
    return out


class EpochSeed(keras.callbacks.Callback):
    """Reseeds Python, NumPy and Keras from ``seed + epoch`` as every epoch begins.

    Keras draws each epoch's shuffle order from the global NumPy generator, so without
    this the order of epoch ``k`` would depend on how many epochs ran before it in this
    process, and a resumed run would see other batches than an uninterrupted one.
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        keras.utils.set_random_seed(self.seed + epoch)


def seed_states(model: keras.Model) -> list[list[int]]:
    """The states of the model's ``SeedGenerator``s (dropout ...), in a stable order.

    Keras leaves them out of ``.keras`` files (``Layer.save_own_variables`` saves weights
    only), so checkpoints store them beside the model to resume the same random stream.
    """
    return [np.asarray(v.value).tolist() for v in _seed_variables(model)]


def restore_seed_states(model: keras.Model, states: list[list[int]] | None) -> None:
    variables = _seed_variables(model)
    if states is None or len(states) != len(variables):
        return  # an older checkpoint or another architecture: keep fresh generators
    for v, s in zip(variables, states):
        v.assign(np.asarray(s, dtype=v.dtype))


def _seed_variables(model: keras.Model) -> list[Any]:
    return [v for v in model.variables if v.name == "seed_generator_state"]


@contextmanager
def values_kept(model: keras.Model, callbacks: list[Any] | None = None) -> Iterator[None]:
    """Puts the model's variable values back when Keras' ``fit``, ``evaluate`` or
    ``predict`` fails before it has put them back itself.

    Keras' JAX trainer takes the values out of the variables (model, optimizer, metrics)
    while it runs: ``fit`` puts back those of the last finished step in a ``finally``,
    so a failing first step (a bad first batch from a ``PyDataset``) left none;
    ``evaluate`` and ``predict`` keep the last step's but put nothing back when a batch
    fails. Every later ``fit``, ``predict`` or ``save`` then failed inside Keras
    ("'NoneType' object is not callable"). For ``fit`` pass its ``callbacks``: a first
    callback notes the values when training begins (after the optimizer is built, before
    they are taken out); otherwise they are noted now. A failure inside a step of several
    batches (``steps_per_execution``) after one of them has updated the values consumes
    them; that is a ``TrainingError`` saying so, not a later failure inside Keras."""
    from .errors import TrainingError

    keep = _ValuesAtStart()
    keep.note(model)
    if any(not _usable(value) and getattr(v, "_initializer", None) is None  # not deferred
           for v, value in keep.values):
        raise TrainingError("this task lost its values when a training step of several "
                            "batches (steps_per_execution) failed; load its newest "
                            "checkpoint, vh.load(...), or compose it again")
    if callbacks is not None:  # fit: noted again once the optimizer is built
        callbacks.insert(0, keep)
    model._jax_state = None  # a failed call before may have left its last step's state
    try:
        yield
    except BaseException as exc:
        # the last finished step's values, where Keras kept them (evaluate and predict
        # do, without putting them back); then the values noted at the start
        model.jax_state_sync()
        model._jax_state = None
        lost = 0
        for v, value in keep.values:
            if _usable(getattr(v, "_value", None)):
                continue
            if _usable(value):
                v.assign(value)
            else:
                lost += 1
        if lost:
            raise TrainingError(
                f"{exc}\n(the step that failed had already updated and consumed {lost} of "
                f"the model's values: this task cannot go on; load its newest checkpoint, "
                f"vh.load(...), or compose it again)") from exc
        raise


def _usable(value: Any) -> bool:
    """A variable value that is there and not given away (donated) to a later step."""
    return value is not None and not getattr(value, "is_deleted", lambda: False)()


class _ValuesAtStart(keras.callbacks.Callback):
    async_safe = True  # no batch hooks: keeps Keras' asynchronous batch dispatch on
    values: list[tuple[Any, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.note(self.model)

    def note(self, model: keras.Model) -> None:
        variables = list(model.variables) + list(getattr(model, "metrics_variables", []))
        if getattr(model, "optimizer", None) is not None:
            variables += list(model.optimizer.variables)
        self.values = [(v, v._value) for v in variables]


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the whole task and its optimizer state at the end of every epoch.

    Each checkpoint is a folder ``checkpoints/epoch-NNNN`` written under a temporary
    name and renamed into place, then ``checkpoints/LATEST`` is replaced: a crash at
    any moment leaves the previous checkpoint intact.
    """

    def __init__(self, run_dir: str | Path, keep: int = 2,
                 previous_history: dict[str, list[float]] | None = None,
                 extra_state: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.keep = keep
        self.extra_state = dict(extra_state or {})
        self.history: dict[str, list[float]] = {k: list(v) for k, v in
                                                (previous_history or {}).items()}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for k, v in (logs or {}).items():
            try:
                self.history.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                pass
        save_checkpoint(self.run_dir, self.model, epoch + 1, self.history, self.keep,
                        self.extra_state)


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises ``TrainingError`` when an epoch ends with a NaN or infinite loss. It runs
    before ``EpochCheckpoint``, so those weights are never saved: the newest checkpoint
    stays the last finite epoch (with ``keep_checkpoints`` folders, NaN ones would
    otherwise push the good ones out). A non-finite validation loss alone only warns:
    the weights trained on finite losses, so they are kept."""

    def __init__(self, run_dir: Path | None) -> None:
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from .errors import TrainingError

        logs = logs or {}
        loss, val = logs.get("loss"), logs.get("val_loss")
        if loss is None or np.isfinite(float(loss)):
            if val is not None and not np.isfinite(float(val)):  # finite weights: kept
                kept = "its checkpoint is written" if self.run_dir else "checkpoints are off"
                warnings.warn(f"the validation loss became {float(val)} in epoch {epoch + 1} "
                              f"while the training loss is {loss}: the model overflows on the "
                              f"validation data (or the validation targets are malformed); "
                              f"training goes on ({kept})", stacklevel=2)
            return
        ckpt = None if self.run_dir is None else latest_checkpoint(self.run_dir)
        kept = (f"the newest checkpoint, {ckpt}, is the last finite epoch: fix the cause and "
                f"resume from it" if ckpt is not None else "no checkpoint was written")
        raise TrainingError(f"the training loss became {float(loss)} in epoch {epoch + 1}; "
                            f"training stopped before saving it ({kept}). Usual causes: a "
                            f"learning rate too high for the model (lower "
                            f"optimizer.learning_rate or set optimizer.clipnorm), or NaN in "
                            f"the data.")


def save_checkpoint(run_dir: Path, model: keras.Model, epoch: int,
                    history: dict[str, list[float]], keep: int,
                    extra_state: dict[str, Any] | None = None) -> Path:
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"epoch-{epoch:04d}"
    tmp = root / f".epoch-{epoch:04d}.tmp-{os.getpid()}"
    for stale in root.glob(".epoch-*.tmp-*"):  # ours, or left by a killed run (one writer)
        shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir()
    model.save(tmp / "task.keras")
    with open(tmp / "task.keras", "rb") as f:  # on disk before LATEST can name it
        os.fsync(f.fileno())
    _write_json(tmp / "state.json", {"epoch": epoch, "history": history,
                                     "seed_states": seed_states(model), **(extra_state or {})})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_text(root / LATEST, final.name)
    epochs = sorted((p for p in root.glob("epoch-*") if p.is_dir()), key=_epoch_number)
    for old in epochs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


#: Where a new run in a used folder moves the run before it (one earlier run is kept).
PREVIOUS = "previous-run"
#: What a run leaves in its folder: checkpoints, the final model, the CLI's results.
RUN_OUTPUTS = (CHECKPOINTS, "model.keras", "metrics.json", "figures")


def set_aside_previous_run(run_dir: str | Path) -> Path | None:
    """Move an earlier run's outputs (``RUN_OUTPUTS``) out of the way of a new (not
    resumed) run in the same folder, to ``run_dir/previous-run`` (replacing the run kept
    there before); that folder, or None when there was nothing to move. The new run's
    pruning and resume never mix its epochs with the earlier run's, a crash of the new run
    leaves no stale ``model.keras`` beside its checkpoints, and a forgotten ``--resume``
    does not delete the run it meant to continue."""
    run_dir = Path(run_dir)
    root = run_dir / CHECKPOINTS
    for p in root.glob(".epoch-*.tmp-*"):  # half-written by a crash: never a checkpoint
        shutil.rmtree(p, ignore_errors=True)
    if not (root.is_dir() and any(root.glob("epoch-*"))) \
            and not (run_dir / "model.keras").exists():
        return None
    previous = run_dir / PREVIOUS
    if previous.exists() or previous.is_symlink():  # out of the way first, then deleted
        stale = run_dir / f".{PREVIOUS}-{os.getpid()}-{time.time_ns()}"
        os.replace(previous, stale)
        (shutil.rmtree if stale.is_dir() and not stale.is_symlink() else os.remove)(stale)
    previous.mkdir()
    for name in RUN_OUTPUTS:
        if (run_dir / name).exists():
            os.replace(run_dir / name, previous / name)
    return previous


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    found = checkpoints(run_dir)
    return found[0] if found else None


def checkpoints(run_dir: str | Path) -> list[Path]:
    """A run's complete checkpoint folders, newest first: the one ``LATEST`` names,
    then the others by epoch (what a resume falls back on when one cannot be read)."""
    root = Path(run_dir) / CHECKPOINTS
    done = sorted((p for p in root.glob("epoch-*")
                   if (p / "state.json").is_file() and (p / "task.keras").is_file()),
                  key=_epoch_number, reverse=True)
    marker = root / LATEST
    named = root / marker.read_text().strip() if marker.is_file() else None
    return sorted(done, key=lambda p: p != named)  # stable: LATEST first, then by epoch


def _epoch_number(path: Path) -> int:
    try:
        return int(path.name.removeprefix("epoch-"))
    except ValueError:
        return -1


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / "state.json").read_text())


def _write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(obj, indent=1))


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def build_optimizer(cfg: Any, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """An optimizer from ``OptimizerConfig``; cosine decay spans the whole run."""
    lr: Any = cfg.learning_rate
    if cfg.schedule == "cosine":
        total = max(1, steps_per_epoch * epochs)
        warmup = int(cfg.warmup_epochs * steps_per_epoch)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else cfg.learning_rate,
            decay_steps=max(1, total - warmup), warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup)
    common: dict[str, Any] = {"learning_rate": lr, "weight_decay": cfg.weight_decay}
    if cfg.clipnorm:
        common["clipnorm"] = cfg.clipnorm
    if cfg.name == "adam":
        return keras.optimizers.Adam(**common)
    if cfg.name == "adamw":
        common["weight_decay"] = 0.004 if cfg.weight_decay is None else cfg.weight_decay
        return keras.optimizers.AdamW(**common)
    if cfg.name == "sgd":
        return keras.optimizers.SGD(momentum=0.9 if cfg.momentum is None else cfg.momentum,
                                    **common)
    return keras.optimizers.RMSprop(momentum=cfg.momentum or 0.0, **common)
