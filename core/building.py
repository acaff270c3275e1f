"""What a saved or composed task is built from: components resolved by name (with the
package a saved task needs when one is missing), the network and the training-step
augmenter of a dumped task config. ``TaskModel`` calls these when Keras rebuilds it.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any

from . import backend
from .config import DataInfo, TaskConfig
from .errors import (AmbiguousComponentError, ComponentError, ComponentNotFoundError,
                     ConfigError, VisionhooksError)
from .manager import Host
from .manager import host as default_host
from .registry import Component

#: Task config field → the kind of component it names (``metrics`` and ``augment`` are
#: lists of specs, the others one spec each).
FIELD_KINDS = {"task": "task", "model": "model", "loss": "loss",
               "postprocess": "postprocessor", "metrics": "metric", "augment": "augmentation"}
# Task config fields whose components serve a task type (checked against ``tasks``).
_SINGLE = ("model", "loss", "postprocess")


def _kind(field: str) -> str:
    return FIELD_KINDS[field]


def _map_specs(task_config: dict[str, Any], fields: Any, fn: Any) -> dict[str, Any]:
    """A copy of a dumped task config with ``fn(kind, spec)`` applied to every component
    spec of ``fields``."""
    out = dict(task_config)
    for field in fields:
        value, kind = out.get(field), FIELD_KINDS[field]
        if isinstance(value, list):
            out[field] = [fn(kind, v) for v in value]
        elif value is not None:
            out[field] = fn(kind, value)
    return out


def component_names(task_config: dict[str, Any],
                    fields: Any = tuple(FIELD_KINDS)) -> list[tuple[str, str]]:
    """``(kind, name)`` of every component a dumped task config names in ``fields``."""
    found: list[tuple[str, str]] = []

    def collect(kind: str, spec: Any) -> Any:
        name = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(name, str) and name:
            found.append((kind, name))
        return spec

    _map_specs(task_config, fields, collect)
    return found


# The host whose components a ``TaskModel`` is built from while a Task with an explicit
# host composes, loads or restores one (Keras' ``from_config`` cannot pass it along).
_BUILD_HOST: contextvars.ContextVar[Host | None] = contextvars.ContextVar(
    "visionhooks_build_host", default=None)


@contextlib.contextmanager
def building_with(host: Host):
    """Build ``TaskModel``s from ``host``'s components inside this block."""
    token = _BUILD_HOST.set(host)
    try:
        yield host
    finally:
        _BUILD_HOST.reset(token)


# The fields ``pin_components`` may qualify; not ``task``: its name is the task type's,
# which data, components and messages compare as a bare name.
_PINNED = tuple(f for f in FIELD_KINDS if f != "task")


def saved_record(provenance: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """What a saved task recorded of its ``kind`` component ``name`` (plugin,
    distribution, version): keyed by the name, or by ``kind:name`` where components of two
    kinds share a name (``Task.provenance``); {} if nothing of that kind was recorded."""
    record = provenance.get(f"{kind}:{name}") or provenance.get(name) or {}
    return record if record.get("kind", kind) == kind else {}


def pin_components(task_config: dict[str, Any], provenance: dict[str, Any] | None,
                   host: Host | None = None) -> dict[str, Any]:
    """``task_config`` (dumped) with each component name that several plugins now
    register written as ``plugin:name`` for the plugin it was saved with (``provenance``):
    a saved task still loads after another plugin registers one of its names."""
    host = host or _BUILD_HOST.get() or default_host()
    prov = provenance or {}

    def pin(kind: str, spec: Any) -> Any:
        name = spec.get("name") if isinstance(spec, dict) else None
        saved = saved_record(prov, kind, name) if isinstance(name, str) and ":" not in name \
            else {}
        if not saved.get("plugin"):
            return spec
        try:
            host.component(kind, name)
            return spec
        except AmbiguousComponentError:
            return {**spec, "name": f"{saved['plugin']}:{name}"}
        except ComponentNotFoundError:
            return spec  # ``resolve`` names the package to install

    return _map_specs(task_config, _PINNED, pin)


def unpin_components(task_config: dict[str, Any]) -> dict[str, Any]:
    """A dumped task config with ``plugin:name`` component names as bare names, the
    inverse of ``pin_components``: what a resume compares (a loaded task may have pinned
    a name that the checkpoint's run did not need to)."""
    def bare(kind: str, spec: Any) -> Any:
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            return {**spec, "name": spec["name"].rpartition(":")[2]}
        return spec

    return _map_specs(task_config, FIELD_KINDS, bare)


def resolve(kind: str, name: str, provenance: dict[str, Any] | None = None,
            host: Host | None = None) -> Component:
    """The component, or an error that also says which package a saved task needs."""
    host = host or _BUILD_HOST.get() or default_host()
    try:
        return host.component(kind, name)
    except ComponentNotFoundError as exc:
        prov = saved_record(provenance or {}, kind, name)
        if prov.get("plugin") and prov.get("distribution"):
            dist = prov["distribution"]
            version = f" (version {prov['version']} saved it)" if prov.get("version") else ""
            raise ComponentNotFoundError(
                f"{exc} This task was saved with {kind} {name!r} from plugin "
                f"{prov['plugin']!r} of distribution {dist!r}{version}: install it, e.g. "
                f"`pip install {dist}`.") from None
        if prov.get("plugin"):  # no package on record to name
            raise ComponentNotFoundError(
                f"{exc} This task was saved with {kind} {name!r} from plugin "
                f"{prov['plugin']!r}, which has no distribution on record (registered "
                f"in-process, or installed without package metadata): register or install "
                f"that plugin before loading.") from None
        raise


def build_network(task_config: dict[str, Any], info: dict[str, Any],
                  provenance: dict[str, Any] | None = None) -> Any:
    """Build the model component of a dumped task config (``TaskModel`` uses this)."""
    config = TaskConfig.model_validate(task_config)
    # Import every component's factory module first: that is where a plugin registers
    # its Keras objects (losses, layers, metrics), which Keras then deserializes.
    for kind, name in component_names(config.dump(), ("loss", "postprocess", "metrics")):
        resolve(kind, name, provenance).resolve_factory()
    comp = resolve("model", config.model.name, provenance)
    data_info = DataInfo.model_validate(info)
    keras = backend.keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.train.precision)  # the network's layers follow it
    try:  # Component.build notes a plugin's own error with the plugin, type kept
        network = comp.build(config.model.params, data_info)
    except VisionhooksError:  # the plugin's own message says what is wrong
        raise
    except ValueError as exc:  # e.g. an input too small for the model's pooling
        raise ConfigError(f"model {comp.name!r} (plugin {comp.plugin!r}) cannot be built "
                          f"for input_shape={data_info.input_shape}, num_classes="
                          f"{data_info.num_classes}: {exc}") from exc
    finally:
        keras.config.set_dtype_policy(previous)
    if not isinstance(network, keras.Model):
        raise ComponentError(f"model {comp.name!r} (plugin {comp.plugin!r}) must build a "
                             f"keras.Model. Received: {type(network).__name__}")
    return network


def build_augmenter(task_config: dict[str, Any], info: dict[str, Any],
                    provenance: dict[str, Any] | None = None) -> Any:
    """The training-step augmenter of a dumped task config (``TaskModel`` uses this):
    ``(x, y, seed_state) -> (x, y)``, or None without augmentations."""
    from .augmentation import build_pipeline, train_augmenter

    config = TaskConfig.model_validate(task_config)
    if not config.augment:
        return None
    data_info = DataInfo.model_validate(info)
    task_type = resolve("task", config.task.name, provenance).build(config.task.params,
                                                                    data_info)
    for spec in config.augment:
        resolve("augmentation", spec.name, provenance)
    batch_info = data_info.model_copy(update={"box_format": task_type.batch_box_format})
    host = _BUILD_HOST.get() or default_host()
    pipeline = build_pipeline(config.augment, batch_info, task_target=task_type.target,
                              host=host)
    return train_augmenter(pipeline, task_type)
