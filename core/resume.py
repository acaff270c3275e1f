"""Resuming a run: the newest readable checkpoint of a run folder, loaded into a task
after checking that the same config made it.

A checkpoint that cannot be read (a truncated file after a power cut) is skipped with a
warning for the one before it; one made with another config, or needing a plugin that is
missing, is an error: resuming it would train something else.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import backend
from .building import building_with, unpin_components
from .config import TaskConfig
from .errors import CheckpointError, VisionhooksError, warn_user
from .training import checkpoints, read_state, restore_seed_states

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task

#: The config sections a checkpoint must share with the task resuming it.
SAME = ("task", "model", "loss", "postprocess", "metrics", "augment", "optimizer")


def resume(task: Task, run_dir: Path, epochs: int, steps: int,
           verbose: int) -> tuple[int, dict]:
    """Load the newest checkpoint of ``run_dir`` into ``task``: (the epoch it ended, its
    history), or (0, {}) when there is none. ``epochs`` and ``steps`` (per epoch) are the
    resumed run's: a learning-rate schedule made for others is refused."""
    schedule = task.config.optimizer.schedule

    def same_schedule(state: dict[str, Any]) -> None:  # before the task takes its state
        planned = state.get("schedule_epochs")
        if schedule != "constant" and planned not in (None, epochs):
            raise CheckpointError(
                f"the checkpoint's {schedule} learning-rate schedule spans {planned} epochs, "
                f"so resuming with epochs={epochs} would train at the wrong rates; resume "
                f"with epochs={planned} or start a new run_dir")
        planned = state.get("schedule_steps")
        if schedule != "constant" and planned not in (None, steps):
            raise CheckpointError(
                f"the checkpoint's {schedule} learning-rate schedule counts {planned} steps "
                f"per epoch, and this run has {steps} (another batch_size, amount of "
                f"training data or number of processes), so it would train at the wrong "
                f"rates (past the schedule's end: rate 0); resume as the first run did or "
                f"start a new run_dir")

    ckpt, state = restore_newest(task, run_dir, same_schedule)
    if ckpt is None:
        if verbose:
            print(f"resume: no checkpoint in {run_dir}, starting from scratch")
        return 0, {}
    initial_epoch, previous = int(state["epoch"]), state.get("history", {})
    restore_seed_states(task.model, state.get("seed_states"))
    if verbose:
        print(f"resuming from {ckpt} (epoch {initial_epoch})")
    return initial_epoch, previous


def restore_newest(task: Task, run_dir: Path, check: Callable[[dict[str, Any]], None]
                   = lambda state: None) -> tuple[Path | None, dict[str, Any]]:
    """Restore the newest readable checkpoint of ``run_dir``; (its folder, its state),
    or (None, {}) when there is none. ``check(state)`` runs before the task is changed
    (a refused resume leaves the task as it was)."""
    failures, last = [], None
    for ckpt in checkpoints(run_dir):
        try:
            state = read_state(ckpt)
            check(state)
            restore(task, ckpt, state)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            if isinstance(exc, VisionhooksError):  # a config mismatch, a missing plugin
                raise
            # what a damaged file raises: JSON, zip, HDF5 (OSError), Keras (ValueError)
            last = exc
            failures.append(f"{ckpt.name}: {type(exc).__name__}: {exc}")
            warn_user(f"checkpoint {ckpt} cannot be read, damaged or incomplete "
                      f"({failures[-1]}); trying the one before it")
            continue
        return ckpt, state
    if failures:
        raise CheckpointError(f"no checkpoint in {run_dir / 'checkpoints'} can be read:\n  "
                              + "\n  ".join(failures)) from last
    return None, {}


def restore(task: Task, ckpt: Path, state: dict[str, Any]) -> None:
    """Load checkpoint ``ckpt`` (its ``state.json`` already read) into ``task``,
    refusing one made with another config."""
    keras = backend.keras()
    with building_with(task.host), task._distributed():
        loaded = keras.saving.load_model(ckpt / "task.keras", safe_mode=True)
    saved = TaskConfig.model_validate(unpin_components(loaded.task_config))
    mine = TaskConfig.model_validate(unpin_components(task._resolved_config().dump()))
    for field in SAME:
        a, b = getattr(saved, field), getattr(mine, field)
        if a != b:
            raise CheckpointError(
                f"the checkpoint in {ckpt} was made with a different {field!r}: "
                f"{_dump(a)} there, {_dump(b)} here. Resume with the same config or use "
                f"another run_dir.")
    task.model = loaded
    task._schedule_epochs = state.get("schedule_epochs")
    task._schedule_steps = state.get("schedule_steps")
    task._compiled_for_evaluation = False  # compiled as the checkpoint's run was


def _dump(v: Any) -> Any:
    if isinstance(v, list):
        return [_dump(i) for i in v]
    return v.dump() if hasattr(v, "dump") else v.model_dump()
