"""Pydantic configs: component bases, the task config, DataInfo, and config files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ComponentConfig(BaseModel):
    """Base class of component configs: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class EmptyConfig(ComponentConfig):
    """Config of a component without parameters."""


def validate_params(config_cls: type[BaseModel], params: Any, where: str) -> BaseModel:
    """Validate ``params`` (dict, model or None) into ``config_cls``; errors name the field."""
    if isinstance(params, config_cls):
        return params
    if isinstance(params, BaseModel):
        params = params.model_dump()
    try:
        return config_cls.model_validate(params or {})
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid config for {where}: {exc}") from exc


#: Box formats of the data model (those of Keras' bounding-box utilities).
BOX_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
               "rel_xywh", "rel_center_xywh")


class DataInfo(BaseModel):
    """What a dataset is and what components must serve: task kind, shapes, classes.

    ``input_shape`` is (height, width, channels). ``box_format`` and ``max_boxes`` are
    set for detection data; ``class_names`` has ``num_classes`` entries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    input_shape: tuple[int, int, int]
    num_classes: int = Field(ge=1)
    class_names: tuple[str, ...] = ()
    box_format: str | None = None
    max_boxes: int | None = None

    @model_validator(mode="after")
    def _names(self) -> DataInfo:
        if not self.class_names:
            object.__setattr__(self, "class_names", tuple(str(i) for i in range(self.num_classes)))
        elif len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} entries but "
                             f"num_classes={self.num_classes}")
        if self.box_format is not None and self.box_format not in BOX_FORMATS:
            raise ValueError(f"unknown box_format {self.box_format!r}; choose from "
                             f"{list(BOX_FORMATS)}")
        if any(d < 1 for d in self.input_shape):
            raise ValueError(f"input_shape must be positive. Received: {self.input_shape}")
        return self


def repeated(names: Any) -> list[Any]:
    """The names that occur more than once, sorted (class names must tell classes apart:
    figures, results and explain targets name classes by them)."""
    names = list(names)
    return sorted({n for n in names if names.count(n) > 1})


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python numbers and lists, recursively:
    component parameters are saved as JSON (a sweep's ``np.float32(0.1)`` was a
    TypeError deep inside saving)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    return value


class ComponentSpec(BaseModel):
    """A reference to a component: ``"lenet5"`` or ``{"name": "lenet5", **params}``.

    ``name`` may be None where the task type supplies a default (loss, postprocess).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "params" not in value:
            value = dict(value)
            name = value.pop("name", None)
            return {"name": name, "params": plain(value)}
        if isinstance(value, dict) and isinstance(value.get("params"), dict):
            return {**value, "params": plain(value["params"])}
        return value

    def dump(self) -> dict[str, Any]:
        return ({"name": self.name} if self.name else {}) | dict(self.params)


class OptimizerConfig(BaseModel):
    """The optimizer and its learning-rate schedule."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, allow_inf_nan=False)
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0, allow_inf_nan=False, description=(
        "epochs of linear warm-up from 0 (schedule \"cosine\"); fewer than the run's epochs"))
    weight_decay: float | None = Field(None, ge=0, allow_inf_nan=False)
    momentum: float | None = Field(None, ge=0, lt=1,
                                   description="sgd (default 0.9) and rmsprop (default 0)")
    clipnorm: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _momentum(self) -> OptimizerConfig:
        if self.momentum is not None and self.name not in ("sgd", "rmsprop"):
            raise ValueError(f"momentum applies to sgd and rmsprop, not {self.name!r}")
        return self


class TrainConfig(BaseModel):
    """How ``fit`` runs when the config drives it (the CLI, ``Task.fit`` defaults)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    validation_split: float = Field(0.0, ge=0, lt=1)
    steps_per_execution: int = Field(1, ge=1)
    shuffle: bool = True
    run_dir: str | None = None
    keep_checkpoints: int = Field(2, ge=1)
    distribution: Literal["auto", "none", "data_parallel"] = Field(
        "auto", description="data_parallel splits every batch over the devices (and "
                            "processes); auto does so when there are several")
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"] = Field(
        "float32", description="Keras dtype policy the model is built with")

    @field_validator("epochs", "batch_size", "steps_per_execution", "keep_checkpoints",
                     mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic would take True as 1
            raise ValueError(f"must be an integer, not {value!r}")
        return value


def train_options(train: TrainConfig, where: str, **given: Any) -> TrainConfig:
    """``train`` with the values a call passed (None keeps the config's), checked by the
    rules of the config's ``train`` section: ``fit(batch_size=0)`` fails as the file would."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return train
    try:
        return TrainConfig.model_validate({**train.model_dump(), **given})
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid {where}: {exc}") from exc


class TaskConfig(BaseModel):
    """A whole task: task type, model, loss, postprocessor, metrics, augmentations,
    optimizer, training options and (for the CLI) its data."""

    model_config = ConfigDict(extra="forbid")

    task: ComponentSpec
    model: ComponentSpec
    loss: ComponentSpec = Field(default_factory=ComponentSpec)
    postprocess: ComponentSpec = Field(default_factory=ComponentSpec)
    metrics: list[ComponentSpec] | None = None
    augment: list[ComponentSpec] = Field(default_factory=list)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    data: ComponentSpec | None = None
    seed: int | None = Field(0, ge=0, lt=2**32)

    @model_validator(mode="after")
    def _required_names(self) -> TaskConfig:
        for field in ("task", "model"):
            if not getattr(self, field).name:
                raise ValueError(f"'{field}' needs a name, e.g. {field} = \"...\"")
        for spec in self.augment + (self.metrics or []):
            if not spec.name:
                raise ValueError("every entry of 'augment' and 'metrics' needs a 'name'")
        return self

    def dump(self) -> dict[str, Any]:
        """A plain dict that ``TaskConfig.model_validate`` reads back (JSON-safe)."""
        out = {
            "task": self.task.dump(), "model": self.model.dump(), "loss": self.loss.dump(),
            "postprocess": self.postprocess.dump(),
            "metrics": None if self.metrics is None else [m.dump() for m in self.metrics],
            "augment": [a.dump() for a in self.augment],
            "optimizer": self.optimizer.model_dump(), "train": self.train.model_dump(),
            "data": None if self.data is None else self.data.dump(), "seed": self.seed,
        }
        return json.loads(json.dumps(out))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a dict; errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot parse {str(path)!r}: {exc}") from exc
    raise ConfigError(f"config files must end in .toml or .json. Received: {str(path)!r}")


def check_new_config(config: TaskConfig) -> None:
    """Rules for a config a user writes now, not for one read back from a saved file
    (files saved before a rule must keep loading): settings that would be ignored or
    duplicated are errors."""
    opt = config.optimizer
    if opt.warmup_epochs and opt.schedule == "constant":
        raise ConfigError(f"optimizer.warmup_epochs={opt.warmup_epochs:g} applies to schedule "
                          f"'cosine' (valid schedules: 'constant', 'cosine'); the constant "
                          f"schedule has no warm-up")
    twice = repeated(json.dumps(m.dump(), sort_keys=True) for m in config.metrics or [])
    if twice:  # Keras would report the copy as accuracy_1
        raise ConfigError(f"metrics lists the same metric more than once: {twice[0]}")


def parse_task_config(source: TaskConfig | dict[str, Any] | str | Path) -> TaskConfig:
    """A validated ``TaskConfig`` from a model, dict, or TOML/JSON path."""
    if isinstance(source, TaskConfig):
        return source
    if isinstance(source, (str, Path)):
        source = read_config_file(source)
    if not isinstance(source, dict):
        raise ConfigError(f"a task config is a dict or a path to a .toml/.json file. "
                          f"Received: {type(source).__name__}")
    try:
        return TaskConfig.model_validate(source)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid task config: {exc}") from exc


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply CLI ``--set a.b=value`` overrides (values parsed as JSON, else strings)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=3). Received: {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if isinstance(child, str):  # "model = 'lenet5'" then --set model.dropout=0.1
                child = {"name": child}
            node[part] = child if isinstance(child, dict) else {}
            node = node[part]
        node[parts[-1]] = value
    return data
