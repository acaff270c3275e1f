"""Keras on JAX: select the backend before Keras is imported, and check it after."""

from __future__ import annotations

import os
import sys

from .errors import BackendError


def select_jax() -> None:
    """Set ``KERAS_BACKEND=jax`` when unset (cheap: imports nothing)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")


def keras():
    """Import Keras on the JAX backend; a clear error if another backend is active."""
    select_jax()
    import keras as _keras

    active = _keras.backend.backend()
    if active != "jax":
        where = ("KERAS_BACKEND=" + os.environ["KERAS_BACKEND"]
                 if os.environ.get("KERAS_BACKEND") else "~/.keras/keras.json")
        raise BackendError(
            f"visionhooks runs Keras on the JAX backend, but Keras is already using "
            f"{active!r} (set by {where}). Set KERAS_BACKEND=jax before importing keras. "
            f"Received: backend={active!r}")
    from . import keras_objects  # noqa: F401  (registers TaskModel for load_model)

    return _keras


def keras_is_imported() -> bool:
    return "keras" in sys.modules
