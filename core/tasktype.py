"""Task types and evaluators: the Keras-free contracts a task plugin fills in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .config import DataInfo
from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task


class TaskType:
    """What is task-specific and nothing else: targets, defaults, validation, figures.

    Subclass it in a plugin and register the class (``factory(config, info)`` is the
    class itself). Targets stay in the data-model form (the user guide's "The data
    model") all the way into the compiled step; encodings such as YOLO grids happen
    inside the loss.
    """

    #: ``"labels"``, ``"segmentation_masks"`` or ``"bounding_boxes"``.
    target: ClassVar[str] = "labels"
    default_loss: ClassVar[str] = ""
    default_postprocessor: ClassVar[str] = ""
    default_metrics: ClassVar[tuple[str, ...]] = ()
    #: Keys of the postprocessor's output that ``predict`` returns.
    prediction_keys: ClassVar[tuple[str, ...]] = ()
    #: Format of ``bounding_boxes`` in ``augmentation_batch`` (detection tasks).
    batch_box_format: ClassVar[str | None] = None
    #: Fewest classes a new task of this type may have (a softmax over one class learns
    #: nothing, yet trains to loss 0); ``compose`` refuses fewer, loading does not.
    min_classes: ClassVar[int] = 1

    def __init__(self, config: Any, info: DataInfo) -> None:
        self.config = config
        self.info = info

    @property
    def name(self) -> str:
        return self.info.task

    def expected_output(self, shape: Any) -> str | None:
        """None if a network's output ``shape`` per image suits this task type, else the
        shape it needs, in words (``compose`` names the model with it). ``shape`` is a
        tuple without the batch axis, or a list of them for a network with several
        outputs. The default accepts anything."""
        return None

    def check_images(self, x: Any, keep_uint8: bool = False) -> np.ndarray:
        """Validate a batch of images and return NHWC float32 in [0, 1].

        uint8 is converted once here (the edge), or with ``keep_uint8`` returned as it is
        for the task's model to scale on the device (a quarter of the bytes to copy to an
        accelerator); a single-channel HW batch gains its channel axis. Wrong rank or
        shape, an empty batch, NaN/inf or values outside [0, 1] are errors naming the
        problem.
        """
        return check_images(x, self.info.input_shape, keep_uint8)

    def class_ids(self, target: Any, n: int) -> np.ndarray:
        """An explain target's classes as (n,) int32 ids: one class id or name, or one per
        image; an unknown name or an id outside the classes is a ``DataError``."""
        t, names, c = np.asarray(target), list(self.info.class_names), self.info.num_classes
        if t.dtype.kind in "US":
            bad = [str(v) for v in np.atleast_1d(t) if str(v) not in names]
            if bad:
                raise DataError(f"unknown class name(s) {bad}; classes: {names}")
            t = np.array([names.index(str(v)) for v in np.atleast_1d(t)]).reshape(t.shape)
        ok = t.dtype.kind in "iu" or (t.dtype.kind == "f" and not not_whole(t).any())
        if ok:
            t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
        if not ok or t.shape != (n,) or (t < 0).any() or (t >= c).any():
            raise DataError(f"target must be a class id in 0..{c - 1} or a class name (one, "
                            f"or {n}: one per image). Received: {np.asarray(target).tolist()}")
        return t.astype(np.int32)

    def check_targets(self, y: Any, n: int) -> Any:
        """Validate targets for ``n`` images; return them in the data-model form."""
        raise NotImplementedError

    def keras_targets(self, y: Any) -> Any:
        """What ``keras.Model.fit`` receives for data-model targets ``y``.

        Keras matches a target's structure to the model's outputs, so a task whose
        targets are a dict (boxes and labels) packs them into one array here; the loss
        unpacks them. Encodings such as YOLO grids still happen inside the loss.
        """
        return y

    def augmentation_batch(self, x: Any, y: Any) -> dict[str, Any]:
        """Inside the compiled training step: images and ``keras_targets`` → a data-model
        batch dict for the augmentation pipeline (JAX arrays; boxes, if any, in
        ``batch_box_format``). The default puts ``y`` under the target's key."""
        return {"images": x, self.target: y}

    def from_augmentation_batch(self, batch: dict[str, Any]) -> tuple[Any, Any]:
        """The inverse of ``augmentation_batch``: ``(x, keras_targets)``."""
        return batch["images"], batch[self.target]

    def explain_targets(self, outputs: np.ndarray, target: Any = None) -> Any:
        """Resolve what an explainer explains, per image, from the model's ``outputs`` for
        the images and the user's ``target`` (None: the model's own prediction). Returns
        arrays that ``explain_score`` takes. Task types that support explainers override
        this and ``explain_score``."""
        raise NotImplementedError(f"task type {self.name!r} does not define explanation "
                                  f"targets")

    def explain_score(self, outputs: Any, targets: Any) -> Any:
        """The differentiable score an explainer attributes (JAX): (N,) from the model's
        ``outputs`` (N, ...) and the resolved ``targets``."""
        raise NotImplementedError(f"task type {self.name!r} does not define an explanation "
                                  f"score")

    @classmethod
    def complete_config(cls, config: dict[str, Any], data: Any) -> dict[str, Any]:
        """Fill parameters derived from the task or the training data into a dumped task
        config before anything is built (e.g. detection anchors estimated from the
        training boxes, copied to the model, loss and postprocessor). ``data`` is the
        Dataset given to ``compose``/``from_config``, or None. The completed config is
        what gets saved, so a loaded task never needs the data again.
        """
        return config

    def figures(self, task: Task, x: np.ndarray, y: Any, out_dir: Path) -> list[Path]:
        """Write this task type's evaluation figures as PNG files; return their paths."""
        return []

    def describe(self, prediction: dict[str, Any], i: int) -> str:
        """One line of text for image ``i`` of a postprocessed prediction (the CLI's
        ``predict``)."""
        return ", ".join(f"{k}={np.asarray(v[i]).tolist()}" for k, v in prediction.items())


class Evaluator:
    """A metric that needs every prediction (mAP, a confusion matrix).

    ``Task.evaluate`` calls ``reset()``, then ``update(y_true, outputs)`` with NumPy
    batches (targets in data-model form, raw model outputs), then ``result()``.
    """

    name: ClassVar[str] = "evaluator"

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, y_true: Any, outputs: np.ndarray) -> None:
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        raise NotImplementedError


#: How to give per-image boxes of different counts (named by the errors below).
PAD_HINT = ("pad every image to the same number of boxes with label -1: "
            "visionhooks.plugins.detection.pad_targets(boxes, labels) pads per-image lists")


def padded(a: Any, dtype: Any = None) -> np.ndarray:
    """Targets as an array; ragged per-image lists (different numbers of boxes) are a
    ``DataError`` saying how to pad them, not NumPy's "inhomogeneous shape"."""
    try:
        return np.asarray(a, dtype)
    except (TypeError, ValueError) as exc:
        hint = f": {PAD_HINT}" if "inhomogeneous" in str(exc) else ""
        raise DataError(f"boxes and labels must be arrays of numbers, (N, M, 4) and (N, M)"
                        f"{hint} ({exc})") from None


def not_whole(a: np.ndarray) -> np.ndarray:
    """Where a numeric array holds no finite whole number (NaN, ±inf, 2.5): what a cast
    to integer class ids would silently change. All False for integer dtypes."""
    if not np.issubdtype(a.dtype, np.floating):
        return np.zeros(a.shape, bool)
    return ~np.isfinite(a) | (a != np.round(a))


def float_images(x: Any) -> np.ndarray:
    """Images as float32: uint8 pixels divided by 255 (one pass, one new array), other
    dtypes cast with their values kept. The host-side twin of the scaling ``Task`` does
    inside the compiled step."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return np.divide(x, np.float32(255.0), dtype=np.float32)
    return x.astype(np.float32, copy=False)


def check_batch_keys(batch: dict[str, Any], target: str, what: str,
                     images_only: bool = False) -> None:
    """A data-model batch dict for training or evaluation has ``images`` and ``target``
    and nothing else (another key would be ignored without a word)."""
    need = {"images"} if images_only else {"images", target}
    missing, extra = need - set(batch), set(batch) - {"images", target}
    if missing:
        raise DataError(f"{what}: a batch dict needs 'images' and {target!r}; "
                        f"{sorted(missing)} missing. Received keys: {sorted(map(str, batch))}")
    if extra:
        raise DataError(f"{what}: a batch dict has 'images' and {target!r} only; "
                        f"{sorted(map(str, extra))} would be ignored. Received keys: "
                        f"{sorted(map(str, batch))}")


def check_images(x: Any, input_shape: tuple[int, int, int] | None,
                 keep_uint8: bool = False) -> np.ndarray:
    """See ``TaskType.check_images``."""
    what = None  # what was passed where images go, when it cannot be images
    if x is None:
        what = "None"
    elif hasattr(x, "train"):
        what = "a dataset (pass one of its splits, e.g. data.test, or data.test.images)"
    elif isinstance(x, dict):
        what = (f"a dict without 'images' (a batch dict has 'images' and the targets). "
                f"Received keys: {sorted(map(str, x))}")
    elif isinstance(x, (str, bytes)):
        what = "a file name (read it first, e.g. with PIL.Image.open)"
    if what is not None:
        raise DataError(f"images must be an array of shape (N, H, W, C). Received: {what}")
    try:
        x = np.asarray(x)
    except Exception as exc:  # ragged lists
        raise DataError(f"images must be an array of shape (N, H, W, C): {exc}") from exc
    if input_shape is not None and x.ndim == 3 and input_shape[2] == 1 \
            and x.shape[1:] == tuple(input_shape[:2]):
        x = x[..., None]
    if x.ndim != 4:
        raise DataError("images must have shape (N, H, W, C)"
                        + (f" = (N, {', '.join(map(str, input_shape))})" if input_shape else "")
                        + f". Received: shape={x.shape}")
    if x.shape[0] == 0:
        raise DataError("the batch of images is empty. Received: shape=" + str(x.shape))
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(f"images have shape {tuple(x.shape[1:])} but the model expects "
                        f"{tuple(input_shape)} (H, W, C). Resize the images or compose the "
                        f"task with input_shape={tuple(x.shape[1:])}.")
    if x.dtype == np.uint8:
        return x if keep_uint8 else float_images(x)
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating)
                               or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"images must be uint8 or float in [0, 1]. Received: dtype={x.dtype}")
    integer, dtype = np.issubdtype(x.dtype, np.integer), x.dtype
    x = x.astype(np.float32, copy=False)
    # two passes over the data (inference on a GPU waited on a third, np.isfinite's): NaN
    # propagates into both extremes and an infinity is one of them
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = np.unique(np.nonzero(~np.isfinite(x))[0])
        raise DataError(f"images contain NaN or infinite values (image indices "
                        f"{bad[:10].tolist()}{' ...' if len(bad) > 10 else ''})")
    if lo < -1e-6 or hi > 1.0 + 1e-6:
        if integer:
            raise DataError(f"integer images must be uint8 (0-255), or floats in [0, 1]. "
                            f"Received: dtype={dtype}, min={lo:g}, max={hi:g}")
        raise DataError(f"float images must be in [0, 1] (the data model); divide 0-255 "
                        f"intensities by 255. Received: min={lo:g}, max={hi:g}")
    return x
