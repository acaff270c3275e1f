"""Keras on JAX: select the backend before Keras is imported, and check it after."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
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


class _RegisterAfterKerasImport(importlib.abc.MetaPathFinder):
    """Registers ``TaskModel`` the moment Keras finishes importing.

    ``import visionhooks`` must not import Keras, yet ``keras.saving.load_model`` must
    find ``visionhooks>TaskModel`` once visionhooks is imported, whichever came first.
    This finder wraps Keras' own loader once, then removes itself.
    """

    def find_spec(self, name, path, target=None):  # noqa: D102
        if name != "keras":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            try:
                importlib.import_module("visionhooks.keras_objects")
            except Exception:  # never break `import keras` itself
                pass

        spec.loader.exec_module = exec_then_register
        return spec


def register_keras_objects_on_import() -> None:
    """Make ``keras.saving.load_model`` understand task files (cheap, imports nothing)."""
    if "keras" in sys.modules:
        try:
            keras()
        except BackendError:
            pass
    elif not any(isinstance(f, _RegisterAfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKerasImport())
