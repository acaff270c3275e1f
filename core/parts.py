"""The parts a task is composed of, resolved from its config: the task type, the model,
loss and postprocessor components, the metrics and the augmentations — each found by
name, checked to serve the task, and its parameters validated before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .building import _SINGLE, _kind
from .config import ComponentSpec, DataInfo, TaskConfig
from .contracts import check_built, check_serves
from .errors import ConfigError, IncompatibleComponentsError
from .manager import Host
from .registry import Component
from .tasktype import TaskType


@dataclass
class Parts:
    """What ``resolve_parts`` found. ``components`` maps "task", "model", "loss" and
    "postprocess" to their components; ``metric_specs`` are the config's metrics (or the
    task type's defaults)."""

    task_type: TaskType
    components: dict[str, Component]
    metric_specs: list[ComponentSpec]
    metric_components: list[Component]
    augment_components: list[Component]
    postprocessor: Any

    def all(self) -> list[Component]:
        return [*self.components.values(), *self.metric_components, *self.augment_components]

    def resolved_config(self, config: TaskConfig) -> TaskConfig:
        """``config`` with default component names filled in (what gets saved)."""
        data = config.model_dump()
        for field in _SINGLE:
            data[field] = {"name": getattr(config, field).name or self.components[field].name,
                           "params": getattr(config, field).params}
        data["metrics"] = [m.model_dump() for m in self.metric_specs]
        return TaskConfig.model_validate(data)

    def provenance(self, host: Host) -> dict[str, Any]:
        """Component name → its kind and the plugin, distribution and version that
        provided it; a name that a component of another kind already holds (a plugin's
        loss and metric both called ``focal``) is keyed ``kind:name``."""
        out: dict[str, Any] = {}
        for comp in self.all():
            info = host.plugin_of(comp)
            key = comp.name if out.get(comp.name, {}).get("kind", comp.kind) == comp.kind \
                else f"{comp.kind}:{comp.name}"
            out[key] = {"kind": comp.kind, "plugin": comp.plugin,
                        "distribution": getattr(info, "distribution", None),
                        "version": getattr(info, "version", None)}
        return out


def resolve_parts(config: TaskConfig, info: DataInfo, host: Host) -> Parts:
    """Every component of ``config`` by name, each checked to serve its task and its
    parameters validated; the task type and the postprocessor built."""
    task_comp = host.component("task", config.task.name)
    task_type = task_comp.build(config.task.params, info)
    if not isinstance(task_type, TaskType):
        raise IncompatibleComponentsError(
            f"task {config.task.name!r} of plugin {task_comp.plugin!r} must build a "
            f"visionhooks.TaskType. Received: {type(task_type).__name__}")
    components: dict[str, Component] = {"task": task_comp}
    for field in _SINGLE:
        spec = getattr(config, field)
        name = spec.name or getattr(task_type, f"default_{_kind(field)}")
        if not name:
            raise ConfigError(f"task type {config.task.name!r} has no default {field}; "
                              f"name one in the config")
        components[field] = host.component(_kind(field), name)
    metric_specs = [ComponentSpec.model_validate(m) for m in (
        config.metrics if config.metrics is not None
        else [{"name": m} for m in task_type.default_metrics])]
    metric_components = [host.component("metric", m.name) for m in metric_specs]
    augment_components = [host.component("augmentation", a.name) for a in config.augment]
    for comp in [*components.values(), *metric_components, *augment_components]:
        check_serves(comp, config.task.name, host)
    # Validate every component's parameters now, before anything is built or trained.
    for field in _SINGLE:
        components[field].validate(getattr(config, field).params)
    for comp, spec in zip(metric_components, metric_specs):
        comp.validate(spec.params)
    for comp, spec in zip(augment_components, config.augment):
        comp.validate(spec.params)
    from .augmentation import check_augmentations

    check_augmentations(augment_components, task_type.target, config.task.name)
    postprocessor = components["postprocess"].build(config.postprocess.params, info)
    check_built(components["postprocess"], postprocessor, 1,
                "a callable post(outputs) -> dict of arrays")
    return Parts(task_type, components, metric_specs, metric_components, augment_components,
                 postprocessor)
