"""Training a task: compiling its Keras model for a run, and running ``keras.Model.fit``
with visionhooks' callbacks around it (seeds, progress, the NaN stop, checkpoints,
resume, plugins' callbacks). ``Task.fit`` settles the data and folders, then calls
``run``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import backend
from .contracts import check_built, check_keras_name
from .errors import ConfigError, warn_user
from .tasktype import Evaluator

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task


def compile_for_training(task: Task, steps_per_epoch: int, epochs: int,
                         steps_per_execution: int) -> None:
    """Compile the task's model: its loss (checked), its Keras metrics, and an optimizer
    whose learning-rate schedule spans ``epochs`` of ``steps_per_epoch`` steps."""
    from .training import build_optimizer

    with task._distributed():  # optimizer and metric variables live where the model does
        loss = task.components["loss"].build(task.config.loss.params, task.info)
        check_built(task.components["loss"], loss, 2, "a keras.losses.Loss, a function "
                    "of (y_true, y_pred) or a Keras loss name",
                    (backend.keras().losses.Loss, str))
        if isinstance(loss, str):
            check_keras_name(task.components["loss"], loss, backend.keras().losses.get)
        metrics = [m for m in task._build_metrics() if not isinstance(m, Evaluator)]
        task.model.compile(optimizer=build_optimizer(task.config.optimizer,
                                                     steps_per_epoch, epochs),
                           loss=loss, metrics=metrics, jit_compile=True,
                           steps_per_execution=steps_per_execution)


def run(task: Task, inputs: dict[str, Any], steps: int, epochs: int, spe: int, resume: bool,
        checkpoint: bool, callbacks: Sequence[Any], verbose: int, scratch: Path | None) -> Any:
    """``fit`` once data and folders are settled: ``inputs`` are ``keras.Model.fit``'s
    data arguments, ``steps`` the batches of an epoch, ``scratch`` where a process
    other than 0 writes its throwaway checkpoints."""
    keras = backend.keras()
    from .training import EpochCheckpoint, EpochSeed, StopOnNonFinite, TqdmProgress, \
        set_aside_previous_run, values_kept

    tc = task.config.train
    write_dir = scratch or task.run_dir
    initial_epoch, previous = 0, {}
    if resume:
        from .resume import resume as resume_run

        initial_epoch, previous = resume_run(task, task.run_dir, epochs, steps, verbose)
    elif checkpoint and (moved := set_aside_previous_run(write_dir)):
        warn_user(f"a new run in {write_dir}: the checkpoints and model of the run "
                  f"before it there were moved to {moved} (fit(resume=True) / "
                  f"--resume continues a run instead)")
    if getattr(task.model, "optimizer", None) is None or not task.model.compiled \
            or task._compiled_for_evaluation:
        opt = task.config.optimizer
        if opt.schedule != "constant" and opt.warmup_epochs >= epochs:
            # a quick --epochs 1 of a config with warm-up: allowed, but said
            warn_user(f"optimizer.warmup_epochs={opt.warmup_epochs:g} is not fewer "
                      f"than the run's epochs={epochs}: the learning rate rises from "
                      f"0 for the whole run and never decays")
        compile_for_training(task, steps, epochs, spe)
        task._compiled_for_evaluation = False
        task._schedule_epochs, task._schedule_steps = epochs, steps
    if hasattr(inputs["x"], "start_at"):  # streamed data: its epochs' orders continue
        inputs["x"].start_at(initial_epoch)
    if task.config.seed is not None:
        keras.utils.set_random_seed(task.config.seed + initial_epoch)
    cbs: list[Any] = []
    if task.config.seed is not None:  # first: before anything draws from the generators
        cbs.append(EpochSeed(task.config.seed))
    if verbose:
        cbs.append(TqdmProgress())
    cbs.append(StopOnNonFinite(task.run_dir if checkpoint else None))  # before saving
    if checkpoint:
        cbs.append(EpochCheckpoint(write_dir, tc.keep_checkpoints, previous,
                                   {"schedule_epochs": task._schedule_epochs,
                                    "schedule_steps": task._schedule_steps}))
    for extra in task.host.call_lifecycle("fit_callbacks", check=plugin_callbacks,
                                          task=task):
        cbs.extend(extra)
    cbs.extend(callbacks)
    if initial_epoch >= epochs:
        if verbose:
            print(f"already trained for {initial_epoch} >= {epochs} epochs")
        history = keras.callbacks.History()
        history.history = {k: list(v) for k, v in previous.items()}
        return history
    with task._distributed(), values_kept(task.model, cbs):
        history = task.model.fit(**inputs, epochs=epochs, initial_epoch=initial_epoch,
                                 callbacks=cbs, verbose=0)
    if previous:
        history.history = {k: list(previous.get(k, [])) + list(v)
                           for k, v in history.history.items()}
    if checkpoint:
        task.save(write_dir / "model.keras")
    return history


def callback_list(callbacks: Any) -> list[Any]:
    """``fit``'s callbacks as a list: None, one callback, or any iterable of them."""
    if callbacks is None:
        return []
    if hasattr(callbacks, "set_model"):
        return [callbacks]
    if isinstance(callbacks, (str, bytes, dict)) or not hasattr(callbacks, "__iter__"):
        items = None
    else:
        items = list(callbacks)
    if items is None or not all(hasattr(c, "set_model") for c in items):
        raise ConfigError(f"callbacks must be keras.callbacks.Callback objects (one or a "
                          f"list). Received: {callbacks!r}")
    return items


def plugin_callbacks(answer: Any) -> list[Any]:
    """A ``fit_callbacks`` answer as a list of callbacks, or TypeError (the plugin is then
    reported and skipped, as one that raises; a string in the list failed inside Keras)."""
    items = list(answer) if isinstance(answer, (list, tuple)) else [answer]
    bad = [c for c in items if not hasattr(c, "set_model")]
    if bad:
        raise TypeError(f"fit_callbacks must return keras.callbacks.Callback objects (one or "
                        f"a list). Received: {bad[0]!r}")
    return items
