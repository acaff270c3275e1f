"""Hook specifications: the whole contract between visionhooks and its plugins.

A plugin is any module or object whose functions carry ``@visionhooks.hookimpl``. It
is found through the ``visionhooks`` entry-point group (the built-in plugins too) or
added with ``visionhooks.register_plugin(obj)``.

Registration hooks receive a ``register`` callback (the pattern of llm) and call it
once per component::

    register(name, factory, config=ConfigModel, tasks=("classification",), description="...")

- ``factory`` is a callable ``factory(config, info)``, or a ``"module:attribute"`` string
  naming one, imported only when the component is first built: listing plugins must not
  import JAX or Keras, so heavy imports belong inside the factory's module.
- ``config`` is a pydantic model (subclass of ``visionhooks.ComponentConfig``) of the
  component's parameters; its JSON Schema documents them. Omit it for no parameters.
- Any other keyword is metadata (capabilities): ``tasks`` lists the task types a
  component serves, ``description`` is a one-line summary.

``config`` passed to a factory is the validated pydantic instance; ``info`` is the
``visionhooks.DataInfo`` the component will serve (input shape, classes, box format).
Dataset factories receive ``info=None``: they produce the ``DataInfo``.

The host calls each plugin's registration hooks itself, one plugin at a time inside
its own ``try``, so a plugin that raises is reported and every other one still loads.
Registration hooks therefore cannot be wrappers. Implementations may take fewer
arguments than the spec (pluggy's argument pruning), so specs can grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Register
    from .task import Task

#: Version of the plugin API described here. A plugin may declare the range it supports
#: as a module (or object) attribute ``VISIONHOOKS_API = ">=1,<2"``; a mismatch is
#: reported as that plugin's load error.
PLUGIN_API_VERSION = "1.0"

hookspec = pluggy.HookspecMarker("visionhooks")
hookimpl = pluggy.HookimplMarker("visionhooks")

# -- Registration hooks: called once per plugin at discovery. Import no Keras/JAX here. --


@hookspec
def register_tasks(register: Register) -> None:
    """Add task types (``classification``, ``detection``, ``segmentation`` ...).

    ``factory(config, info)`` returns a ``visionhooks.TaskType``: the target kind
    (``labels``, ``segmentation_masks`` or ``bounding_boxes``), the default loss,
    postprocessor and metrics, target validation, and figures. It holds nothing
    model-specific.

    :param register: ``register(name, factory, config=..., description=...)``.
    """


@hookspec
def register_models(register: Register) -> None:
    """Add model builders.

    ``factory(config, info)`` returns an unbuilt-or-built ``keras.Model`` mapping NHWC
    float32 images of ``info.input_shape`` to the raw outputs the task's loss and
    postprocessor expect. Import Keras inside the factory's module.

    :param register: ``register(name, factory, config=..., tasks=("classification",))``.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Add losses.

    ``factory(config, info)`` returns a ``keras.losses.Loss`` (registered serializable,
    so a saved task reloads with its compile state) taking targets in the data-model
    form of the task type and the model's raw outputs; a function of ``(y_true,
    y_pred)`` or a Keras loss name is accepted too. Anything else (None included, which
    Keras would compile into a loss of 0) is a ``ComponentError`` before training.

    :param register: ``register(name, factory, config=..., tasks=(...))``.
    """


@hookspec
def register_postprocessors(register: Register) -> None:
    """Add postprocessors: raw model outputs → user-facing predictions.

    ``factory(config, info)`` returns a callable ``post(outputs) -> dict`` of NumPy
    arrays (labels and probabilities; masks; boxes, scores and classes).

    :param register: ``register(name, factory, config=..., tasks=(...))``.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Add datasets.

    ``factory(config, None)`` returns a ``visionhooks.datasets.Dataset``: ``train`` and
    ``test`` splits of ``(x, y)`` in the user guide's data model and a ``DataInfo``. A
    split too large for memory is a ``visionhooks.datasets.LazySplit(n, read)``, whose
    ``read(rows)`` returns those rows' ``(x, y)``: tasks then read it batch by batch. A
    config deriving from ``visionhooks.datasets.StreamOptions`` gets the built-in
    datasets' ``stream`` and ``workers`` options.

    :param register: ``register(name, factory, config=..., tasks=(...))``.
    """


@hookspec
def register_augmentations(register: Register) -> None:
    """Add augmentations (applied to training batches inside the compiled step).

    ``factory(config, info)`` returns a callable ``aug(batch, key) -> batch`` of pure
    JAX: ``batch`` is a dict in the data model (``images`` NHWC float32 in [0, 1], and any
    of ``labels``, ``segmentation_masks``, ``bounding_boxes`` in ``info.box_format``),
    ``key`` a JAX PRNG key; it draws its own parameters per image and returns the same
    keys. A step only sees uint8 images (from ``vh.augment`` or a preview) if it sets
    ``accepts_uint8 = True``. An optional ``fuse(next_aug)`` returning one augmentation
    that does both (or None) lets the pipeline merge neighbours, e.g. geometric
    transforms into one warp.
    Declare capabilities as metadata: ``geometric=True`` for transforms that move pixels,
    and ``moves``, the parts of a batch they transform
    (``("images", "segmentation_masks", "bounding_boxes")``); ``compose`` refuses a
    geometric augmentation that does not move the task's masks or boxes.

    :param register: ``register(name, factory, config=..., geometric=..., moves=(...))``.
    """


@hookspec
def register_explainers(register: Register) -> None:
    """Add explainers (saliency, filter visualization, projections ...).

    ``factory(config, info)`` returns a callable ``explain(task, images, target=None)``
    returning a dict of NumPy arrays; its parameters (``layer`` ...) come from ``config``.
    ``images`` is a checked batch, or None when the user gave none: an explainer
    registered with ``needs_images=True`` is then not called (``Task.explain`` names the
    ones that start without images, such as ``filters``); one registered with
    ``needs_images=False`` reads none, and images given to it are ignored with a warning. ``target`` is the user's, as
    given (a class id or name, a region, a box); resolve it with
    ``task.task_type.explain_targets(outputs, target)``. An optional method
    ``figures(task, images, result, out_dir)`` returning PNG paths draws the figures
    that ``figures_dir=`` and ``visionhooks explain`` write: return an object with
    ``__call__`` and ``figures`` (a plain function has none, and ``figures_dir=`` then
    writes nothing). Users call ``task.explain(images, method, target=None,
    figures_dir=None, **params)``.

    :param register: ``register(name, factory, config=..., tasks=(...),
        needs_images=True)``.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Add metrics.

    ``factory(config, info)`` returns either a ``keras.metrics.Metric`` (streaming:
    compiled into training and evaluation) or a ``visionhooks.Evaluator`` (needs every
    prediction, e.g. mAP or a confusion matrix: fed by ``predict`` batches in
    ``Task.evaluate``); a plain function of ``(y_true, y_pred)`` or a Keras metric name is
    passed to Keras as it is (a saved task reloads a function only if it is registered
    with ``keras.saving.register_keras_serializable``). Anything else is refused with the metric's and the plugin's names
    (``ComponentError``) before training.

    :param register: ``register(name, factory, config=..., tasks=(...))``.
    """


# -- Lifecycle hooks: called on every plugin, results concatenated. --


@hookspec
def fit_callbacks(task: Task) -> list[Any] | None:
    """Return extra ``keras.callbacks.Callback`` objects for ``task.fit``, or None.

    Called once per ``fit``, after the task's own progress and checkpoint callbacks
    are created. A plugin that raises here is reported and skipped.

    :param task: the ``visionhooks.Task`` about to be trained.
    """


REGISTRATION_HOOKS = {
    "register_tasks": "task",
    "register_models": "model",
    "register_losses": "loss",
    "register_postprocessors": "postprocessor",
    "register_datasets": "dataset",
    "register_augmentations": "augmentation",
    "register_explainers": "explainer",
    "register_metrics": "metric",
}
#: The component kinds, in the order ``visionhooks components`` lists them.
KINDS = tuple(REGISTRATION_HOOKS.values())
