"""Figures of the explainers (matplotlib, Agg): saliency overlays, filter grids, feature
projections and latent-space scatters with thumbnails. Each function writes a PNG and
returns its path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from visionhooks.tasktype import float_images


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _show(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    img = np.clip(float_images(image), 0, 1)
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0], "gray"
    if img.ndim == 3 and img.shape[-1] != 3:
        return img.mean(-1), "gray"
    return img, None if img.ndim == 3 else "gray"


def saliency_figure(images: np.ndarray, maps: np.ndarray, path: str | Path,
                    titles: Sequence[str] | None = None, alpha: float = 0.5,
                    boxes: np.ndarray | None = None) -> Path:
    """Two rows per image column: the image, and the map over it (jet colormap).
    ``boxes`` (N, 4) rel_xyxy, when given, are outlined on both."""
    plt = _plt()
    n = len(images)
    cols = min(n, 8)
    bands = math.ceil(n / cols)
    fig, axes = plt.subplots(2 * bands, cols, figsize=(1.9 * cols, 3.9 * bands), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = 2 * (i // cols), i % cols
        img, cmap = _show(images[i])
        axes[r, c].imshow(img, cmap=cmap)
        axes[r + 1, c].imshow(img, cmap=cmap)
        axes[r + 1, c].imshow(maps[i], cmap="jet", alpha=alpha, vmin=0, vmax=max(
            1e-12, float(np.max(maps[i]))))
        if titles is not None:
            axes[r, c].set_title(titles[i], fontsize=8)
        if boxes is not None:
            h, w = img.shape[:2]
            x1, y1, x2, y2 = np.asarray(boxes[i]) * [w, h, w, h]
            for ax in (axes[r, c], axes[r + 1, c]):
                ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                           edgecolor="white", linewidth=1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def image_grid(images: np.ndarray, path: str | Path, titles: Sequence[str] | None = None,
               cols: int = 8, suptitle: str | None = None) -> Path:
    """A grid of (N, H, W[, C]) images (float in [0, 1] or uint8) with optional titles."""
    plt = _plt()
    n = len(images)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        img, cmap = _show(images[i])
        ax = axes[i // cols, i % cols]
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def projections_figure(image: np.ndarray, top_maps: np.ndarray, top: Sequence[int],
                       pca: np.ndarray, path: str | Path, layer: str) -> Path:
    """One image, its PCA colour projection and its strongest feature maps."""
    tiles = [image, pca] + [m for m in top_maps]
    titles = ["image", "PCA of features"] + [f"map {k}" for k in top]
    return image_grid(np.stack([_rgb(t) for t in tiles]), path, titles, cols=5,
                      suptitle=f"feature projections at {layer}")


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def latent_figure(embedding: np.ndarray, clusters: np.ndarray, images: np.ndarray,
                  path: str | Path, layer: str, thumbnails: int = 60, seed: int = 0) -> Path:
    """t-SNE scatter coloured by mean-shift cluster, with image thumbnails at a sample
    of the points (as in the seed's latent-space figure)."""
    plt = _plt()
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = plt.subplots(figsize=(8, 8))
    ax.scatter(embedding[:, 0], embedding[:, 1], c=clusters, cmap="tab10", s=10)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), min(thumbnails, len(images)), replace=False)
    zoom = 24 / max(images.shape[1:3])
    for i in pick:
        img, cmap = _show(images[i])
        box = OffsetImage(img, cmap=cmap, zoom=zoom)
        ax.add_artist(AnnotationBbox(box, embedding[i], frameon=True, pad=0.1,
                                     bboxprops={"edgecolor": plt.cm.tab10(clusters[i] % 10)}))
    ax.set_title(f"t-SNE of average feature maps at {layer} "
                 f"({len(np.unique(clusters))} mean-shift clusters)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
