"""Saving tasks (one ``.keras`` file, written atomically) and loading them: check the file,
name missing plugins, then Keras ``safe_mode``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from . import backend
from .errors import CheckpointError, ConfigError
from .manager import Host
from .manager import host as default_host


def read_task_file(path: str | Path) -> dict[str, Any]:
    """The ``TaskModel`` config stored in a ``.keras`` task file (no code runs)."""
    if not isinstance(path, (str, Path)):
        raise CheckpointError(f"a task file is a path to a .keras file. Received: {path!r}")
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a folder; a task file is a .keras file "
                              f"(a training run keeps its model as model.keras)")
    if not path.is_file():
        raise CheckpointError(f"no such task file: {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a .keras file: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{str(path)!r} is not a .keras file: its config.json holds "
                              f"a {type(config).__name__}, not a model config")
    if config.get("registered_name") != "visionhooks>TaskModel":
        raise CheckpointError(
            f"{str(path)!r} holds a {config.get('class_name')!r}, not a visionhooks task; "
            f"load it with keras.saving.load_model")
    inner = config.get("config")
    if not isinstance(inner, dict) or not {"task_config", "info"} <= set(inner) \
            or not all(isinstance(inner[k], dict) for k in ("task_config", "info")):
        raise CheckpointError(f"{str(path)!r} claims to be a visionhooks task but lacks its "
                              f"task config; it was not written by Task.save")
    return inner


def load(path: str | Path, host: Host | None = None) -> Any:
    """Load a task saved with ``task.save``; returns a ``Task`` that predicts as before.

    Components are rebuilt from installed plugins (a missing one names the package to
    install); weights and compile state load with Keras ``safe_mode=True``.
    """
    from .building import building_with, component_names, pin_components, resolve
    from .task import Task

    host = host or default_host()
    config = read_task_file(path)
    provenance = config.get("provenance", {})
    task_config = pin_components(config["task_config"], provenance, host)
    for kind, name in component_names(task_config):  # a missing one names its package
        resolve(kind, name, provenance, host)
    keras = backend.keras()
    try:
        with building_with(host):
            model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        hint = (" (visionhooks always loads with safe_mode=True: a task file that needs code "
                "to run cannot be loaded)" if "safe_mode" in str(exc) else "")
        raise CheckpointError(f"cannot load {str(path)!r}: {type(exc).__name__}: {exc}{hint}"
                              ) from exc
    return Task.from_model(model, host=host)


def save_task(model: Any, path: str | Path) -> Path:
    """``Task.save``: the ``TaskModel`` to one ``.keras`` file, written to a temporary
    name first so that a failure leaves no partial file."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ConfigError(f"a task file must end in .keras. Received: {str(path)!r}")
    if path.is_dir():
        raise ConfigError(f"{str(path)!r} is a folder; name the .keras file to write")
    writable_folder(path.parent, "the task file's folder").mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # after a failure: no stray partial file
    return path


def writable_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder to write into; a file there is an error now, not after
    training."""
    path = Path(path)
    for p in (path, *path.parents):  # the folder, or the nearest part of it that exists
        if p.exists():
            if not p.is_dir():
                raise ConfigError(f"{what} {str(path)!r}: {str(p)!r} is a file, not a folder")
            break
    return path
