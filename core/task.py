"""A composed task: task type + model + loss + postprocessor + metrics + augmentations.

A ``Task`` owns a ``TaskModel`` (a ``keras.Model``) and the parts around it; ``fit``,
``evaluate``, ``predict``, ``explain`` and ``save`` are thin, validated layers over Keras.
Building blocks live in ``parts`` (the components of a config, resolved and checked),
``building`` (components, network, augmenter), ``composition``
(``vh.compose`` and the ``DataInfo`` a task serves), ``inputs`` and ``streaming`` (the
data handed to Keras: checked splits, or batches read one at a time), ``fitting`` (a
training run over ``keras.Model.fit``), ``training`` (callbacks, checkpoints) and
``resume`` (continuing a run from its newest checkpoint).
"""

from __future__ import annotations

import contextlib
import datetime
import operator
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import backend
from .building import build_augmenter, build_network, building_with, resolve
from .composition import compose, resolve_info
from .config import DataInfo, TaskConfig, check_new_config, parse_task_config, \
    train_options
from .contracts import check_metric, check_network, check_serves
from .datasets import LazySplit, Split, rows_of
from .errors import ConfigError, DataError
from .fitting import callback_list, compile_for_training, run
from .manager import Host
from .manager import host as default_host
from .parts import resolve_parts
from .saving import writable_folder
from .tasktype import Evaluator, TaskType, float_images

__all__ = ["Task", "build_augmenter", "build_network", "building_with", "compose", "resolve",
           "resolve_info"]


class Task:
    """A composed task. Build it with ``vh.compose(...)``, ``Task.from_config(...)`` or
    ``vh.load(path)``.

    Attributes:
        config: the validated ``TaskConfig``.
        info: the ``DataInfo`` it serves.
        task_type: the ``TaskType`` instance.
        parts: its components (``visionhooks.parts.Parts``), also read as
            ``task_type``, ``components``, ``metric_specs``, ``metric_components`` and
            ``augment_components``; ``postprocessor`` starts as its own and may be replaced.
        model: the ``TaskModel`` (a ``keras.Model``); ``network`` is the inner model.
    """

    def __init__(self, config: TaskConfig, info: DataInfo, *, model: Any = None,
                 host: Host | None = None, distribution: Any = None) -> None:
        self.host = host or default_host()
        if distribution is not None:  # a keras.distribution object, e.g. ModelParallel
            self.distribution = distribution
        self.config = config
        self.info = info
        self.parts = resolve_parts(config, info, self.host)
        self.postprocessor = self.parts.postprocessor  # what predict uses: replaceable
        keras = backend.keras()
        if model is None:  # a new task (a loaded one keeps what it was saved with)
            if info.num_classes < self.task_type.min_classes:
                raise ConfigError(f"a {info.task} task needs at least "
                                  f"{self.task_type.min_classes} classes. Received: "
                                  f"num_classes={info.num_classes}")
            from .keras_objects import TaskModel

            if config.seed is not None:
                keras.utils.set_random_seed(config.seed)
            with building_with(self.host), self._distributed():
                model = TaskModel(self._resolved_config().dump(), info.model_dump(mode="json"),
                                  self.provenance(),
                                  name=f"{config.task.name}_{config.model.name}")
            check_network(model.network, self.components["model"], self.task_type,
                          self.info)
        self.model = model
        self.run_dir: Path | None = None
        self._schedule_epochs: int | None = None  # epochs the LR schedule was built for
        self._schedule_steps: int | None = None  # and the steps of each of those epochs
        self._compiled_for_evaluation = False  # by evaluate, before any fit: a 1-step schedule

    # The parts it was composed with, read from ``parts`` (what it saves and reports).
    task_type: TaskType = property(lambda self: self.parts.task_type)  # type: ignore
    components = property(lambda self: self.parts.components)
    metric_specs = property(lambda self: self.parts.metric_specs)
    metric_components = property(lambda self: self.parts.metric_components)
    augment_components = property(lambda self: self.parts.augment_components)

    @contextlib.contextmanager
    def _distributed(self):
        """Build and train under ``train.distribution`` (see ``visionhooks.distribute``)."""
        if not hasattr(self, "distribution"):
            from .distribute import resolve

            self.distribution = resolve(self.config.train.distribution)
        if self.distribution is None:
            yield None
        else:
            with self.distribution.scope():
                yield self.distribution

    # -- construction -------------------------------------------------------------

    @classmethod
    def from_config(cls, source: TaskConfig | dict[str, Any] | str | Path, *, data: Any = None,
                    input_shape: Sequence[int] | None = None, num_classes: int | None = None,
                    class_names: Sequence[str] | None = None, host: Host | None = None,
                    distribution: Any = None) -> Task:
        """Compose a task from a config (dict, ``TaskConfig``, or TOML/JSON path).

        ``info`` comes from ``data`` (a Dataset or DataInfo) when given, else from
        ``input_shape``/``num_classes``/``class_names``, else from the model config's
        defaults. A disagreement between them is an error naming both values.
        ``distribution`` (a ``keras.distribution.Distribution``, e.g. ``ModelParallel``
        with a ``LayoutMap``) overrides ``train.distribution`` for building and training.
        """
        config = parse_task_config(source)
        check_new_config(config)
        host = host or default_host()
        task_cls = host.component("task", config.task.name).resolve_factory()
        # before the task type completes the model's parameters for itself (anchors)
        check_serves(host.component("model", config.model.name), config.task.name, host)
        complete = getattr(task_cls, "complete_config", None)
        if complete is not None:
            config = parse_task_config(complete(config.dump(), data))
        info = resolve_info(config, host, data, input_shape, num_classes, class_names)
        return cls(config, info, host=host, distribution=distribution)

    @classmethod
    def from_model(cls, model: Any, host: Host | None = None) -> Task:
        """Wrap a loaded ``TaskModel``."""
        from .building import pin_components

        config = TaskConfig.model_validate(pin_components(model.task_config, model.provenance,
                                                          host))
        info = DataInfo.model_validate(model.info)
        return cls(config, info, model=model, host=host)

    def _resolved_config(self) -> TaskConfig:
        """The config with default component names filled in (what gets saved)."""
        return self.parts.resolved_config(self.config)

    def provenance(self) -> dict[str, Any]:
        """Component name → its kind and the plugin, distribution and version that
        provided it (``parts.provenance``)."""
        return self.parts.provenance(self.host)

    # -- properties ---------------------------------------------------------------

    @property
    def network(self) -> Any:
        return self.model.network

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    def summary(self) -> None:
        self.network.summary()

    def __repr__(self) -> str:
        return (f"Task(task={self.config.task.name!r}, model={self.config.model.name!r}, "
                f"input_shape={self.info.input_shape}, num_classes={self.info.num_classes})")

    # -- data ---------------------------------------------------------------------

    def _xy(self, data: Any, y: Any = None, what: str = "data",
            keep_uint8: bool = True) -> tuple[np.ndarray, Any]:
        """Validated ``(images, targets)`` (``inputs.checked_xy``)."""
        from .inputs import checked_xy

        return checked_xy(self.task_type, data, y, what, keep_uint8)

    # -- training -----------------------------------------------------------------

    def _build_metrics(self) -> list[Any]:
        built = [c.build(s.params, self.info)
                 for c, s in zip(self.metric_components, self.metric_specs)]
        for comp, metric in zip(self.metric_components, built):
            check_metric(comp, metric)
        return built

    def fit(self, data: Any, y: Any = None, *, epochs: int | None = None,
            batch_size: int | None = None, validation_data: Any = None,
            validation_split: float | None = None, run_dir: str | Path | None = None,
            resume: bool = False, checkpoint: bool = True, callbacks: Sequence[Any] = (),
            verbose: int = 1, steps_per_execution: int | None = None) -> Any:
        """Train with ``keras.Model.fit``; returns its ``History`` (earlier epochs included
        when resuming).

        Args:
            data: a split, an ``(x, y)`` pair, a data-model batch dict (``images`` and
                the task's target key), images with ``y``, or a ``keras.utils.PyDataset``
                of such batches for data that does not fit in memory (``streaming``).
            epochs, batch_size, validation_split, steps_per_execution: default to the
                config's ``train`` section, and are checked by its rules.
            validation_data: a split, ``(x, y)`` or a PyDataset, evaluated after each
                epoch.
            run_dir: folder for checkpoints (one per epoch, atomic) and the final model;
                defaults to ``train.run_dir`` or ``runs/<task>-<model>-<time>``.
            resume: continue from the newest checkpoint in ``run_dir`` (weights,
                optimizer state and epoch); without ``run_dir``, this task's last run.
            checkpoint: write checkpoints at all.
            verbose: 0 silent, 1 a tqdm bar per epoch.

        In a multi-process run (``visionhooks.distribute``) every process passes the same
        data and ``batch_size`` is the global batch: each process feeds its own slice of
        it, and only process 0 keeps checkpoints and the model.
        """
        tc = self.config.train
        opts = train_options(tc, "fit() arguments", epochs=epochs, batch_size=batch_size,
                             validation_split=validation_split,
                             steps_per_execution=steps_per_execution)
        epochs, spe = opts.epochs, opts.steps_per_execution
        callbacks = callback_list(callbacks)
        from .distribute import is_main_process
        from .inputs import fit_inputs
        from .streaming import as_stream

        if isinstance(data, LazySplit):  # read batch by batch, of the usual batch_size
            batch_size = None
        # the seed of streamed data's per-epoch orders: the task's, or a fresh one
        order_seed = (self.config.seed if self.config.seed is not None
                      else int(np.random.default_rng().integers(2**31)))
        data = as_stream(data, opts.batch_size, tc.shuffle, order_seed)
        validation_data = as_stream(validation_data, opts.batch_size)
        inputs, steps = fit_inputs(self, data, y, validation_data, opts.batch_size,
                                   opts.validation_split, batch_size, validation_split,
                                   order_seed)
        if run_dir is None and resume and not tc.run_dir:
            if self.run_dir is None:
                raise ConfigError("fit(resume=True) needs run_dir= (or train.run_dir): the "
                                  "default folder is new for every run, so it holds nothing "
                                  "to resume")
            run_dir = self.run_dir  # this task's last run, as a retry after a crash means
        if run_dir is None:
            run_dir = tc.run_dir or Path("runs") / (
                f"{self.config.task.name}-{self.config.model.name}-"
                f"{datetime.datetime.now():%Y%m%d-%H%M%S}")
        self.run_dir = writable_folder(run_dir, "run_dir")
        scratch = None
        if not is_main_process() and checkpoint:
            # Saving takes part in collectives, so every process saves; only process 0
            # keeps what it writes (the others write into a folder deleted afterwards).
            import tempfile

            scratch = tempfile.TemporaryDirectory(prefix="visionhooks-process-")
        try:
            return run(self, inputs, steps, epochs, spe, resume, checkpoint, callbacks,
                       verbose, Path(scratch.name) if scratch else None)
        finally:
            if scratch is not None:
                scratch.cleanup()

    # -- inference ----------------------------------------------------------------

    def evaluate(self, data: Any, y: Any = None, *, batch_size: int | None = None) -> dict:
        """Loss and every metric on a split: streaming Keras metrics and evaluators."""
        from .inputs import evaluate_stream, evaluator_results
        from .streaming import CheckedBatches, is_stream, refuse_arguments

        if y is None and hasattr(data, "test") and hasattr(data, "train"):
            data = data.test
        data, batch_size = self._lazy_batches(data, batch_size, "evaluate() arguments")
        if is_stream(data):
            if y is not None:
                raise DataError("evaluation data: a PyDataset yields its own targets; pass "
                                "it without y")
            refuse_arguments("evaluate()", batch_size=batch_size)
            batches = CheckedBatches(data, self.task_type, "evaluation data")
            self._compile_for_evaluation()
            from .training import values_kept

            with values_kept(self.model):  # a bad batch: Keras leaves the values out
                return evaluate_stream(self, batches)
        batch_size = train_options(self.config.train, "evaluate() arguments",
                                   batch_size=batch_size).batch_size
        x, y = self._xy(data, y, "evaluation data")
        self._compile_for_evaluation()
        with self._distributed():  # batches split over the devices the model lives on
            logs = self.model.evaluate(x, self.task_type.keras_targets(y),
                                       batch_size=batch_size, return_dict=True, verbose=0)
        out = {k: float(v) for k, v in logs.items()}
        evaluators = [m for m in self._build_metrics() if isinstance(m, Evaluator)]
        if evaluators:
            with self._distributed():
                outputs = self.model.predict(x, batch_size=batch_size, verbose=0)
            slices = (slice(i, i + batch_size) for i in range(0, len(x), batch_size))
            out.update(evaluator_results(evaluators, ((rows_of(y, sl), rows_of(outputs, sl))
                                                      for sl in slices)))
        return out

    def _lazy_batches(self, data: Any, batch_size: int | None, where: str) -> tuple[Any, Any]:
        """A ``LazySplit`` as the PyDataset of its batches of ``batch_size`` (or the
        config's), with the batch size used up (None); anything else as it is."""
        if not isinstance(data, LazySplit):
            return data, batch_size
        return data.batches(train_options(self.config.train, where,
                                          batch_size=batch_size).batch_size), None

    def _compile_for_evaluation(self) -> None:
        """Compile a task that has not trained, for its loss and metrics; ``fit``
        compiles it again with the optimizer and schedule its run needs."""
        if not getattr(self.model, "compiled", False):
            compile_for_training(self, 1, 1, 1)
            self._compiled_for_evaluation = True

    def predict(self, images: Any, *, batch_size: int | None = None, raw: bool = False) -> Any:
        """Postprocessed predictions (a dict of arrays); ``raw=True`` gives model outputs.
        ``images`` is a batch (N, H, W, C), a split (its images), a batch dict (its
        ``images``) or a ``keras.utils.PyDataset`` of batches."""
        from .streaming import CheckedBatches, is_stream, refuse_arguments

        if not isinstance(raw, (bool, np.bool_)):  # raw="no" is truthy: raw outputs
            raise ConfigError(f"predict(raw=...) is True or False. Received: {raw!r}")
        if isinstance(images, Split):
            images = images.x
        elif isinstance(images, dict) and "images" in images:
            images = images["images"]
        images, batch_size = self._lazy_batches(images, batch_size, "predict() arguments")
        if is_stream(images):
            refuse_arguments("predict()", batch_size=batch_size)
            x = CheckedBatches(images, self.task_type, "predict data", images_only=True)
        else:
            batch_size = train_options(self.config.train, "predict() arguments",
                                       batch_size=batch_size).batch_size
            x = self.task_type.check_images(images, keep_uint8=True)  # TaskModel scales uint8
        from .training import values_kept

        with self._distributed(), values_kept(self.model):  # see evaluate
            outputs = self.model.predict(x, verbose=0, batch_size=batch_size)
        return outputs if raw else self.postprocessor(outputs)

    def explain(self, images: Any, method: str = "saliency", *, target: Any = None,
                figures_dir: str | Path | None = None, **params: Any) -> dict[str, Any]:
        """Explain the model with a registered explainer (``vh.components("explainer")``).

        Args:
            images: a batch (N, H, W, C) (or None for explainers that start from noise,
                such as ``filters``).
            method: the explainer's name.
            target: what to explain, in the task type's terms (a class, a region, a
                box ...); None explains the model's own prediction.
            figures_dir: also write the explainer's figures (PNG) there; their paths are
                returned under ``"figures"``.
            **params: the explainer's parameters (e.g. ``layer="conv2"``).

        Returns:
            The explainer's dict of NumPy arrays (e.g. ``maps`` for saliency).
        """
        from .explaining import explain

        return explain(self, images, method, target, figures_dir, params)

    def figures(self, data: Any, out_dir: str | Path, y: Any = None,
                max_images: int = 1024) -> list[Path]:
        """The task type's evaluation figures on a split, as PNG files in ``out_dir``; on
        a PyDataset, from its first batches (up to ``max_images`` images)."""
        from .streaming import CheckedBatches, is_stream

        if y is None and hasattr(data, "test") and hasattr(data, "train"):
            data = data.test
        try:
            limit = operator.index(max_images)
        except TypeError:
            limit = 0
        if limit < 1 or isinstance(max_images, bool):
            raise ConfigError(f"max_images must be a positive integer. Received: "
                              f"{max_images!r}")
        max_images = limit
        if isinstance(data, LazySplit):
            data = data.take(max_images)
        if is_stream(data):
            if y is not None:
                raise DataError("figure data: a PyDataset yields its own targets; pass it "
                                "without y")
            x, y = CheckedBatches(data, self.task_type, "figure data").collect(max_images)
            x = float_images(x)  # figures draw floats
        else:
            x, y = self._xy(data, y, "figure data", keep_uint8=False)  # figures draw floats
        out = writable_folder(out_dir, "figures folder")
        out.mkdir(parents=True, exist_ok=True)
        return self.task_type.figures(self, x, y, out)

    def save(self, path: str | Path) -> Path:
        """Save the whole task (model, config, classes, compile state) to one ``.keras``
        file, atomically."""
        from .saving import save_task

        return save_task(self.model, path)
