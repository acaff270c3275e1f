"""The classification task type: integer labels, cross-entropy, accuracy, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import DataError, TaskType
from visionhooks.tasktype import not_whole


class ClassificationTask(TaskType):
    """One label per image. Targets: integer class ids of shape (N,)."""

    target = "labels"
    default_loss = "crossentropy"
    default_postprocessor = "labels"
    default_metrics = ("accuracy", "confusion")
    prediction_keys = ("labels", "scores", "probabilities")
    min_classes = 2

    def expected_output(self, shape: Any) -> str | None:
        c = self.info.num_classes
        return None if shape == (c,) else f"one output of shape ({c},): one score per class"

    def check_targets(self, y: Any, n: int) -> np.ndarray:
        """Integer labels in [0, num_classes); (N, 1) is flattened, one-hot is decoded."""
        y = np.asarray(y)
        c = self.info.num_classes
        if y.ndim == 2 and y.shape[1] == c and c > 1 and np.isin(y, (0, 1)).all() \
                and (y.sum(1) == 1).all():
            y = y.argmax(1)
        elif y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            why = (" whose rows are not one-hot (one 1, the rest 0: probabilities or soft "
                   "labels are not targets)") if y.ndim == 2 and y.shape[1] == c else ""
            raise DataError(f"classification labels must have shape (N,) (or one-hot (N, {c}))."
                            f" Received: shape={y.shape}{why}")
        if len(y) != n:
            raise DataError(f"{n} images but {len(y)} labels")
        if np.issubdtype(y.dtype, np.floating):
            bad = np.nonzero(not_whole(y))[0]
            if len(bad):
                raise DataError(f"labels must be integer class ids; label {bad[0]} is "
                                f"{y[bad[0]]!r}")
        elif not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"labels must be integer class ids. Received: dtype={y.dtype}")
        out = (y < 0) | (y >= c)  # before the cast, which would wrap huge ids into range
        if out.any():
            i = int(np.nonzero(out)[0][0])
            raise DataError(f"label {i} is {int(y[i])}, outside the valid range 0..{c - 1} "
                            f"({c} classes); {int(out.sum())} labels are out of range")
        return y.astype(np.int32)

    def explain_targets(self, outputs: np.ndarray, target: Any = None) -> np.ndarray:
        """Class ids (N,): ``target`` (one id, a name, or one per image), else the
        predicted class."""
        n = np.shape(outputs)[0]
        if target is None:
            return np.asarray(outputs).argmax(-1).astype(np.int32)
        return self.class_ids(target, n)

    def explain_score(self, outputs: Any, targets: Any) -> Any:
        """The target's class score (logit) recovered from the softmax output, up to a
        constant shared by the classes: log p_c − mean_k log p_k = z_c − mean_k z_k.
        Unlike p_c or log p_c it does not saturate once the model is confident, so its
        gradients still say where the evidence is (as Grad-CAM's pre-softmax score)."""
        from visionhooks.plugins.classification.scores import centered_logits
        import jax.numpy as jnp

        z = centered_logits(outputs)
        return jnp.take_along_axis(z, jnp.asarray(targets)[:, None], axis=-1)[:, 0]

    def describe(self, prediction: dict[str, Any], i: int) -> str:
        label, names = int(prediction["labels"][i]), self.info.class_names
        name = names[label] if 0 <= label < len(names) else f"no class ({label})"
        return f"{name} (p = {float(prediction['scores'][i]):.3f})"

    def figures(self, task: Any, x: np.ndarray, y: np.ndarray, out_dir: Path) -> list[Path]:
        from .figures import confusion_figure, misclassified_figure

        pred = task.predict(x)
        return [misclassified_figure(x, y, pred["probabilities"], self.info.class_names,
                                     out_dir / "misclassified.png"),
                confusion_figure(y, pred["labels"], self.info.class_names,
                                 out_dir / "confusion.png")]
