"""Composing a task by name (``vh.compose``) and deciding the ``DataInfo`` it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .config import DataInfo, TaskConfig, repeated
from .errors import ConfigError, DataError, IncompatibleComponentsError
from .manager import Host

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task


def resolve_info(config: TaskConfig, host: Host, data: Any, input_shape: Sequence[int] | None,
                 num_classes: int | None, class_names: Sequence[str] | None) -> DataInfo:
    """Decide the ``DataInfo`` a task serves (see ``Task.from_config``)."""
    model_comp = host.component("model", config.model.name)
    model_cfg = model_comp.validate(config.model.params)
    explicit = {k: getattr(model_cfg, k) for k in ("input_shape", "num_classes")
                if k in model_cfg.model_fields_set}
    defaults = {k: getattr(model_cfg, k, None) for k in ("input_shape", "num_classes")}
    given = {k: v for k, v in (("input_shape", input_shape), ("num_classes", num_classes))
             if v is not None}
    data_info = getattr(data, "info", data) if data is not None else None
    if data_info is not None and not isinstance(data_info, DataInfo):
        raise DataError(f"data must be a Dataset (with .info) or a DataInfo. Received: "
                        f"{type(data).__name__}")
    if data_info is not None:
        if data_info.task != config.task.name:
            raise IncompatibleComponentsError(
                f"the data is for task {data_info.task!r} but the task is "
                f"{config.task.name!r}")
        names = {"class_names": tuple(class_names)} if class_names is not None else {}
        for source, values in (("model config", explicit), ("argument", {**given, **names})):
            for k, v in values.items():
                if tuple(np.atleast_1d(v)) != tuple(np.atleast_1d(getattr(data_info, k))):
                    raise ConfigError(f"{k} from the {source} is {v} but the data has "
                                      f"{getattr(data_info, k)}")
        return data_info
    for k, v in given.items():  # the argument must not quietly override the model config
        if k in explicit and tuple(np.atleast_1d(v)) != tuple(np.atleast_1d(explicit[k])):
            raise ConfigError(f"{k} is {v} as an argument but {explicit[k]} in the model "
                              f"config; give it once")
    values = {**{k: v for k, v in defaults.items() if v is not None}, **explicit, **given}
    missing = [k for k in ("input_shape", "num_classes") if k not in values]
    if missing:
        raise ConfigError(f"cannot tell the task's {' and '.join(missing)}: pass data=..., "
                          f"or {', '.join(m + '=...' for m in missing)}")
    twice = repeated(class_names or ())
    if twice:
        raise ConfigError(f"class_names must differ; named more than once: {twice}")
    try:
        return DataInfo(task=config.task.name, input_shape=tuple(values["input_shape"]),
                        num_classes=values["num_classes"],  # 2.5 is an error, not 2
                        class_names=tuple(class_names or ()))
    except Exception as exc:
        raise ConfigError(f"invalid data description: {exc}") from exc


def compose(task: str, model: str | dict[str, Any], *, model_config: dict[str, Any] | None = None,
            loss: str | dict[str, Any] | None = None, postprocess: Any = None,
            metrics: Sequence[Any] | None = None, augment: Sequence[Any] | None = None,
            optimizer: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
            data: Any = None, seed: int | None = 0, input_shape: Sequence[int] | None = None,
            num_classes: int | None = None, class_names: Sequence[str] | None = None,
            host: Host | None = None, distribution: Any = None) -> Task:
    """Compose a task from registered parts by name (the user guide's "Python API").

    ``model`` is a name (parameters in ``model_config``) or a dict with ``name`` and the
    parameters. ``postprocess`` may be a name, a dict with or without ``name``
    (parameters of the task's default postprocessor), or None.
    """
    if isinstance(model, dict):  # the config's spec form, as loss= and task configs take
        if model_config is not None:
            raise ConfigError("model is a dict with its parameters and model_config gives "
                              "them again; use one: model={'name': ..., ...} or model=NAME, "
                              "model_config={...}")
        if not isinstance(model.get("name"), str):
            raise ConfigError(f"model as a dict needs 'name' (a registered model). Received: "
                              f"{model!r}")
        model_config = {k: v for k, v in model.items() if k != "name"}
        model = model["name"]
    named = (model_config or {}).get("name", model) if isinstance(model_config, dict) else model
    if named != model:
        raise ConfigError(f"model is {model!r} but model_config names {named!r}; model_config "
                          f"holds the model's parameters, model= its name")
    cfg: dict[str, Any] = {"task": task, "model": {"name": model, **(model_config or {})},
                           "seed": seed}
    if loss is not None:
        cfg["loss"] = loss
    if postprocess is not None:
        cfg["postprocess"] = postprocess
    # a lone name or dict is refused by the config ("a valid list"), not split into letters
    if metrics is not None:
        cfg["metrics"] = metrics if isinstance(metrics, (str, bytes, dict)) else list(metrics)
    if augment:
        cfg["augment"] = augment if isinstance(augment, (str, bytes, dict)) else list(augment)
    if optimizer:
        cfg["optimizer"] = optimizer
    if train:
        cfg["train"] = train
    from .task import Task

    return Task.from_config(cfg, data=data, input_shape=input_shape, num_classes=num_classes,
                            class_names=class_names, host=host, distribution=distribution)
