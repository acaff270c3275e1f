"""What a plugin's parts must be, checked when a task is composed or compiled: a
component serves the task type; a factory built what its kind promises (a loss factory
returning None trained on a loss of 0); the network takes the data's images and gives
outputs the task type reads. Each failure names the component and its plugin."""

from __future__ import annotations

from typing import Any

from . import backend
from .config import DataInfo
from .errors import ComponentError, IncompatibleComponentsError
from .manager import Host
from .registry import Component
from .tasktype import Evaluator, TaskType


def names_for(host: Host, kind: str, task: str) -> list[str]:
    return sorted(c.name for c in host.registry.all(kind) if c.tasks is None or task in c.tasks)


def check_serves(comp: Component, task: str, host: Host) -> None:
    """Raise unless component ``comp`` serves task type ``task``."""
    if comp.kind != "task" and comp.tasks is not None and task not in comp.tasks:
        raise IncompatibleComponentsError(
            f"{comp.kind} {comp.name!r} (plugin {comp.plugin!r}) serves task types "
            f"{list(comp.tasks)}, not {task!r}. Registered "
            f"{comp.kind + ('es' if comp.kind.endswith('s') else 's')} for {task!r}: "
            f"{names_for(host, comp.kind, task)}")


def check_metric(comp: Component, metric: Any) -> None:
    """A metric factory's result is a ``keras.metrics.Metric``, an ``Evaluator``, a
    function of ``(y_true, y_pred)`` or a name Keras knows (``"accuracy"``); anything else
    would fail inside ``fit`` unnamed."""
    keras = backend.keras()
    check_built(comp, metric, 2, "a keras.metrics.Metric, a visionhooks.Evaluator, a "
                 "function of (y_true, y_pred) or a Keras metric name",
                 (keras.metrics.Metric, Evaluator, str))


def check_built(comp: Component, obj: Any, arity: int, expected: str,
                 types: Any = ()) -> None:
    """``obj``, what ``comp``'s factory built, is one of ``types`` or a function taking
    ``arity`` arguments; else a ``ComponentError`` naming the component and what its
    kind's factory returns (a loss factory returning None would train on a loss of 0)."""
    import inspect

    if types and isinstance(obj, types):
        return
    try:
        inspect.signature(obj).bind(*[None] * arity)
        return
    except ValueError:  # a callable without an inspectable signature (a builtin)
        if callable(obj):
            return
        reason = ""
    except TypeError as exc:
        reason = f" ({exc})"
    raise ComponentError(f"{comp.kind} {comp.name!r} (plugin {comp.plugin!r}) built "
                         f"{obj!r}: a {comp.kind} factory returns {expected}{reason}")


def check_keras_name(comp: Component, name: str, lookup: Any) -> None:
    """A factory's answer given as a Keras name must be one Keras knows (an unknown name
    passed ``compose`` and failed inside ``fit``: "Could not interpret loss identifier")."""
    if name.lower() in ("crossentropy", "ce"):  # compile picks binary/categorical/sparse
        return
    try:
        lookup(name)
    except (ValueError, TypeError):
        raise ComponentError(f"{comp.kind} {comp.name!r} (plugin {comp.plugin!r}) built "
                             f"{name!r}, which is not a Keras {comp.kind} name") from None


def check_network(network: Any, comp: Component, task_type: TaskType, info: DataInfo) -> None:
    """The new network takes ``info.input_shape`` and gives outputs the task type
    reads (``TaskType.expected_output``): a mismatch is named now, not by a shape
    error inside ``fit``."""
    keras = backend.keras()
    shape = tuple(info.input_shape)
    where = f"model {comp.name!r} (plugin {comp.plugin!r})"
    try:
        out = network.compute_output_spec(keras.KerasTensor((None, *shape)))
    except Exception as exc:  # noqa: BLE001 - Keras raises several types here
        raise IncompatibleComponentsError(
            f"{where} cannot be applied to images of input_shape={shape}: "
            f"{type(exc).__name__}: {exc}") from None
    specs = list(out.values()) if isinstance(out, dict) else (
        list(out) if isinstance(out, (list, tuple)) else [out])
    shapes = [tuple(s.shape[1:]) for s in specs]
    got = shapes[0] if len(shapes) == 1 else shapes  # one output, even in a list
    expected = task_type.expected_output(got)
    if expected is not None:
        raise IncompatibleComponentsError(
            f"{where} outputs shape {got} per image for input_shape={shape}, "
            f"num_classes={info.num_classes}; a {info.task} task needs "
            f"{expected}")
