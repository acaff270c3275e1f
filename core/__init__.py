"""visionhooks: a plugin-based computer-vision framework on Keras 3 and JAX.

Importing this package is light: it loads pluggy and pydantic, never JAX or Keras.
Task building, training and datasets load on first use.

    import visionhooks as vh
    task = vh.compose(task="classification", model="lenet5")
    data = vh.datasets.load("mnist")
    task.fit(data.train, epochs=5, batch_size=128, validation_data=data.test)
"""

from __future__ import annotations

import importlib
from typing import Any

from .backend import select_jax as _select_jax
from .config import ComponentConfig, ComponentSpec, DataInfo, EmptyConfig, TaskConfig
from .errors import (AmbiguousComponentError, BackendError, CheckpointError, ComponentError,
                     ComponentNotFoundError, ConfigError, DataError, DatasetNotFoundError,
                     IncompatibleComponentsError, PluginLoadError, TrainingError,
                     VisionhooksError)
from .hookspecs import KINDS, PLUGIN_API_VERSION, hookimpl, hookspec
from .manager import Host, PluginInfo
from .manager import host as _host
from .tasktype import Evaluator, TaskType

__version__ = "0.1.0"

_select_jax()


def plugins() -> list[PluginInfo]:
    """Every discovered plugin: name, version, distribution, components, load errors."""
    return _host().plugins()


def components(kind: str) -> list[str]:
    """Names registered for one kind: task, model, loss, postprocessor, dataset,
    augmentation, explainer or metric."""
    return _host().components(kind)


def register_plugin(obj: Any, name: str | None = None) -> PluginInfo:
    """Add a plugin (module, class or instance with ``@hookimpl`` functions) to this
    process without packaging it. Problems are reported in the returned ``PluginInfo``."""
    return _host().register_plugin(obj, name=name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin added with ``register_plugin`` and its components."""
    _host().unregister_plugin(name)


_LAZY = {
    "Task": ("visionhooks.task", "Task"),
    "compose": ("visionhooks.composition", "compose"),
    "augment": ("visionhooks.augmentation", "augment"),
    "load": ("visionhooks.saving", "load"),
    "datasets": ("visionhooks.datasets", None),
    "testing": ("visionhooks.testing", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'visionhooks' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for completion in a REPL
    return sorted(set(globals()) | set(_LAZY))


# `keras.saving.load_model` understands task files once visionhooks is imported,
# whether Keras was imported before or after (without importing it here).
from .backend import register_keras_objects_on_import as _register_keras_objects

_register_keras_objects()

__all__ = [
    "AmbiguousComponentError", "augment", "BackendError", "CheckpointError", "ComponentConfig",
    "ComponentError", "ComponentNotFoundError", "ComponentSpec", "ConfigError", "DataError",
    "DataInfo", "DatasetNotFoundError", "EmptyConfig", "Evaluator", "Host",
    "IncompatibleComponentsError", "KINDS", "PLUGIN_API_VERSION", "PluginInfo",
    "PluginLoadError", "Task", "TaskConfig", "TaskType", "TrainingError", "VisionhooksError",
    "components", "compose", "datasets", "hookimpl", "hookspec", "load", "plugins",
    "register_plugin", "unregister_plugin",
]
