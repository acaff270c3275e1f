"""Latent spaces (the seed's representations): each image mapped to the average of a
layer's feature maps, a 2-D t-SNE of those vectors with mean-shift clusters, and
representation arithmetic — an image's vector minus its cluster's mean plus another
cluster's mean, and the real image nearest to the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionhooks import ConfigError, DataInfo

from . import graph
from .config import LatentConfig


def pooled_features(task: Any, images: np.ndarray, layer: str | None,
                    batch_size: int = 32) -> tuple[np.ndarray, str]:
    """(N, k) average-pooled feature maps of ``layer`` (a dense layer's (N, k) output as
    it is) and the layer's name. The default layer is the deepest feature layer (the
    fewest locations: an encoder-decoder's bottleneck, as in the seed)."""
    import jax.numpy as jnp

    parts = graph.pieces(task, layer, vectors=True, deepest=True)
    size = min(batch_size, len(images))

    def build():
        features = graph.call(parts.features)

        def pooled(v, x):
            a = features(v, x)
            return jnp.mean(a, axis=(1, 2)) if a.ndim == 4 else a

        return pooled

    fn = graph.compiled(task, ("pooled", parts.layer, size), build)
    v = graph.values(parts.features)
    out = [np.asarray(fn(v, graph.pad_to(images[sl], size)))[: sl.stop - sl.start]
           for sl in graph.batches(len(images), size)]
    return np.concatenate(out), parts.layer


def cluster_means(vectors: np.ndarray, clusters: np.ndarray) -> dict[int, np.ndarray]:
    """Mean vector of each cluster label."""
    return {int(c): vectors[clusters == c].mean(0) for c in np.unique(clusters)}


def arithmetic(vectors: np.ndarray, clusters: np.ndarray, index: int, to_cluster: int,
               exclude_self: bool = True) -> tuple[int, np.ndarray]:
    """``vectors[index] − mean(its cluster) + mean(to_cluster)`` and the index of the
    nearest vector to it (Euclidean; ``index`` itself excluded by default).

    Returns:
        ``(nearest_index, result_vector)``.
    """
    vectors = np.asarray(vectors, np.float64)
    clusters = np.asarray(clusters)
    if vectors.ndim != 2 or len(vectors) != len(clusters):
        raise ValueError(f"vectors (N, k) and clusters (N,) must match. Received: "
                         f"{vectors.shape}, {clusters.shape}")
    if not 0 <= index < len(vectors):
        raise ValueError(f"index must be in 0..{len(vectors) - 1}. Received: {index}")
    means = cluster_means(vectors, clusters)
    if to_cluster not in means:
        raise ValueError(f"no cluster {to_cluster}; clusters: {sorted(means)}")
    result = vectors[index] - means[int(clusters[index])] + means[to_cluster]
    dist = np.linalg.norm(vectors - result, axis=1)
    if exclude_self:
        dist[index] = np.inf
    return int(dist.argmin()), result


class LatentSpace:
    """``latent``: pooled features → t-SNE (2-D) → mean-shift clusters.

    Returns ``{"features": (N, k), "embedding": (N, 2), "clusters": (N,) int,
    "centers": (K, 2), "layer": name}``. Needs at least 5 images.
    """

    def __init__(self, config: LatentConfig, info: DataInfo) -> None:
        self.config = config

    def __call__(self, task: Any, images: np.ndarray, target: Any = None) -> dict[str, Any]:
        from sklearn.cluster import MeanShift, estimate_bandwidth
        from sklearn.manifold import TSNE

        cfg = self.config
        if len(images) < 5:
            raise ConfigError(f"a latent space needs at least 5 images. Received: "
                              f"{len(images)}")
        feats, layer = pooled_features(task, images, cfg.layer, cfg.batch_size)
        perplexity = graph.capped(cfg, "perplexity", (len(images) - 1) / 3,
                                  f"t-SNE allows for {len(images)} images, (N - 1) / 3")
        emb = TSNE(n_components=2, perplexity=perplexity, init="pca",
                   random_state=cfg.seed).fit_transform(feats.astype(np.float64))
        bandwidth = cfg.bandwidth or estimate_bandwidth(emb, quantile=cfg.quantile,
                                                        random_state=cfg.seed)
        ms = MeanShift(bandwidth=bandwidth if bandwidth > 0 else None).fit(emb)
        return {"features": feats, "embedding": emb.astype(np.float32),
                "clusters": ms.labels_.astype(np.int32),
                "centers": ms.cluster_centers_.astype(np.float32), "layer": layer}

    def figures(self, task: Any, images: np.ndarray, result: dict[str, Any],
                out_dir: Path) -> list[Path]:
        from .figures import latent_figure

        return [latent_figure(result["embedding"], result["clusters"], images,
                              out_dir / "latent.png", result["layer"], seed=self.config.seed)]
