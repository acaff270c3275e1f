"""Feature projections (the seed's figure after Szegedy et al. 2015): every location of an
image characterized by the scores of a layer's features — the presence or absence of
each pattern there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from visionhooks import DataInfo

from . import graph
from .config import ProjectionsConfig


class Projections:
    """``projections``: a layer's feature maps for each image.

    Returns ``{"features": (N, h, w, k) the raw maps, "top": (N, T) the indices of the T
    maps with the highest mean score in each image, "top_maps": (N, T, H, W) those maps
    upsampled to the image and scaled to [0, 1], "pca": (N, H, W, 3) the first three
    principal components of every location's k scores (over all given images), scaled
    to [0, 1] per component, as colours, "layer": name}``.
    """

    def __init__(self, config: ProjectionsConfig, info: DataInfo) -> None:
        self.config = config

    def __call__(self, task: Any, images: np.ndarray, target: Any = None) -> dict[str, Any]:
        cfg = self.config
        parts = graph.pieces(task, cfg.layer)
        size = min(cfg.batch_size, len(images))
        fn = graph.compiled(task, ("features", parts.layer, size),
                            lambda: graph.call(parts.features))
        v = graph.values(parts.features)
        feats = np.concatenate([np.asarray(fn(v, graph.pad_to(images[sl], size)))
                                [: sl.stop - sl.start]
                                for sl in graph.batches(len(images), size)])
        n, h, w, k = feats.shape
        height, width = images.shape[1:3]
        t = graph.capped(cfg, "top", k, f"layer {parts.layer!r} has feature maps")
        top = np.argsort(-feats.mean(axis=(1, 2)), axis=1)[:, :t]
        chosen = np.take_along_axis(feats, top[:, None, None, :], axis=-1)  # (N, h, w, T)
        maps = jnp.moveaxis(jnp.asarray(chosen), -1, 1).reshape(n * t, h, w)
        top_maps = np.asarray(graph.normalize(graph.upsample(maps, height, width)))
        flat = feats.reshape(-1, k).astype(np.float64)
        flat = flat - flat.mean(0)
        # principal directions of the locations' feature vectors (SVD of the centred data)
        _, _, vt = np.linalg.svd(flat, full_matrices=False)
        comps = flat @ vt[:3].T if k >= 3 else np.pad(flat @ vt.T, ((0, 0), (0, 3 - k)))
        lo, hi = comps.min(0), comps.max(0)
        comps = (comps - lo) / np.where(hi > lo, hi - lo, 1.0)
        pca = jax.image.resize(jnp.asarray(comps.reshape(n, h, w, 3), jnp.float32),
                               (n, height, width, 3), method="linear")
        return {"features": feats, "top": top.astype(np.int32),
                "top_maps": top_maps.reshape(n, t, height, width),
                "pca": np.clip(np.asarray(pca), 0, 1), "layer": parts.layer}

    def figures(self, task: Any, images: np.ndarray, result: dict[str, Any],
                out_dir: Path) -> list[Path]:
        from .figures import projections_figure

        return [projections_figure(images[i], result["top_maps"][i], result["top"][i],
                                   result["pca"][i], out_dir / f"projections_{i}.png",
                                   result["layer"]) for i in range(min(len(images), 8))]
