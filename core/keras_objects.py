"""Keras objects of the core: ``TaskModel``, the model a ``.keras`` task file holds.

Its ``get_config`` carries the whole task config, the ``DataInfo`` and the provenance of
every component (plugin, distribution, version); ``from_config`` rebuilds the network
from the registered factories, so loading runs installed plugin code only, never code
from the file (``safe_mode``).
"""

from __future__ import annotations

import json
from typing import Any

import keras


@keras.saving.register_keras_serializable(package="visionhooks", name="TaskModel")
class TaskModel(keras.Model):
    """A task's network plus what is needed to rebuild and use it.

    Args:
        task_config: ``TaskConfig.dump()`` of the task.
        info: ``DataInfo.model_dump()`` of the data it serves.
        provenance: component kind → {name, plugin, distribution, version}.
    """

    def __init__(self, task_config: dict[str, Any], info: dict[str, Any],
                 provenance: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from .task import build_network

        self._task_config_json = json.dumps(task_config)
        self._info_json = json.dumps(info)
        self._provenance_json = json.dumps(provenance or {})
        self.network = build_network(self.task_config, self.info, self.provenance)
        if not self.network.built:
            self.network.build((None, *self.info["input_shape"]))
        self.built = True

    @property
    def task_config(self) -> dict[str, Any]:
        return json.loads(self._task_config_json)

    @property
    def info(self) -> dict[str, Any]:
        return json.loads(self._info_json)

    @property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self._provenance_json)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.network(inputs, training=training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "task_config": self.task_config, "info": self.info,
                "provenance": self.provenance}
