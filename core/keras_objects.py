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

from .rewrite import executed

#: Added to the task seed for the augmentation stream, so it differs from the others.
AUGMENT_SEED_OFFSET = 7919


def scale_uint8(x: Any) -> Any:
    """uint8 images scaled to float32 in [0, 1] inside the compiled step (``Task`` passes
    uint8 batches as they are: a quarter of the bytes to copy to the device; yolov1-tiny's
    forward pass from host batches ran 3.2× faster on an H200); anything else unchanged."""
    if keras.backend.standardize_dtype(x.dtype) == "uint8":
        return keras.ops.divide(keras.ops.cast(x, "float32"), 255.0)
    return x


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
        from .building import build_augmenter, build_network, pin_components

        # saved as given; built from names pinned to the plugins that made it (a name
        # another plugin has registered since is ambiguous)
        self._task_config_json = json.dumps(task_config)
        self._info_json = json.dumps(info)
        self._provenance_json = json.dumps(provenance or {})
        pinned = pin_components(task_config, provenance)
        self.network = build_network(pinned, self.info, self.provenance)
        if not self.network.built:
            self.network.build((None, *self.info["input_shape"]))
        # What ``call`` runs: the network's layers, max-pooling moved before the ReLU it
        # alone reads (``rewrite``). Held untracked: its variables are the network's, and
        # saved files and checkpoints hold the network alone.
        object.__setattr__(self, "_executed", executed(self.network))
        # Augmentation runs inside the compiled train step, keyed by its own seed stream
        # (a SeedGenerator: its state is saved in checkpoints, so a resumed run goes on
        # with the very draws it would have made).
        self._augmenter = build_augmenter(pinned, self.info, self.provenance)
        if self._augmenter is not None:
            seed = self.task_config.get("seed")
            self.augment_seed = keras.random.SeedGenerator(
                None if seed is None else int(seed) + AUGMENT_SEED_OFFSET,
                name="augment_seed")
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
        return self._executed(scale_uint8(inputs), training=training)

    def train_step(self, state: Any, data: Any) -> Any:
        """Keras' JAX train step, after augmenting ``(x, y)`` with the task's pipeline
        (training only: evaluation and prediction never see it)."""
        if self._augmenter is None:
            return super().train_step(state, data)
        import jax.numpy as jnp

        trainable, non_trainable, optimizer_vars, metrics_vars = state
        index = next(i for i, v in enumerate(self.non_trainable_variables)
                     if v is self.augment_seed.state)
        seed = non_trainable[index]
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, y = self._augmenter(scale_uint8(x), y, seed)
        non_trainable = list(non_trainable)
        non_trainable[index] = seed + jnp.array([0, 1], seed.dtype)
        return super().train_step((trainable, non_trainable, optimizer_vars, metrics_vars),
                                  keras.utils.pack_x_y_sample_weight(x, y, sample_weight))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "task_config": self.task_config, "info": self.info,
                "provenance": self.provenance}
