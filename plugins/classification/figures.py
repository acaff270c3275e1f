"""Figures of the seed: wrongly classified samples with true label, prediction and
probability; a confusion matrix. Matplotlib (Agg), written to PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def misclassified_figure(images: np.ndarray, y_true: np.ndarray, probabilities: np.ndarray,
                         class_names: Sequence[str], path: str | Path, n: int = 10,
                         cols: int = 5) -> Path:
    """A grid of up to ``n`` wrongly classified images, each titled as in the seed:
    ``y = 7, ŷ = 1, p(ŷ|x) = 0.60``. Most confident mistakes first."""
    plt = _plt()
    images, y_true = np.asarray(images), np.asarray(y_true).reshape(-1)
    probs = np.asarray(probabilities)
    pred = probs.argmax(-1)
    wrong = np.nonzero(pred != y_true)[0]
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.7 * rows), squeeze=False,
                             layout="constrained")  # room for two-line titles
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        img = images[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"y = {class_names[y_true[i]]}, ŷ = {class_names[pred[i]]}\n"
                     f"p(ŷ|x) = {probs[i, pred[i]]:.2f}", fontsize=9)
    if not len(wrong):
        axes.flat[0].set_title("no misclassified samples")
    fig.suptitle(f"{len(np.nonzero(pred != y_true)[0])} of {len(y_true)} misclassified")
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     path: str | Path) -> Path:
    """The confusion matrix (rows: true class) as a heat map with counts."""
    plt = _plt()
    c = len(class_names)
    m = np.zeros((c, c), np.int64)
    np.add.at(m, (np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)), 1)
    size = max(4.0, 0.45 * c + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(c), class_names, rotation=90 if c > 12 else 0)
    ax.set_yticks(range(c), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 20:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
