"""Saliency: Grad-CAM (the seed's saliency map) and input gradients (plain and smoothed).

The score explained comes from the task type (``explain_targets``/``explain_score``): a
class's log-probability for classification, a class's summed probability over a region
for segmentation, a box's class confidence for detection. Every map is computed for a
whole batch in one compiled call, without rebuilding anything per image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from visionhooks import DataInfo
from visionhooks.errors import warn_user

from . import graph
from .config import GradientsConfig, SaliencyConfig


def _titles(task: Any, targets: Any) -> list[str]:
    """One title per image: the class whose score is explained."""
    names = task.class_names
    cls = targets["class"] if isinstance(targets, dict) else targets
    return [f"{names[int(c)]}" for c in np.asarray(cls)]


def _boxes(targets: Any) -> np.ndarray | None:
    return targets.get("box") if isinstance(targets, dict) else None


def _single(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs


class GradCAM:
    """``saliency``: Σ_k ReLU-rectified α_k A_k, α_k the average over locations of
    ∂score/∂A_k, upsampled bilinearly to the image.

    Returns ``{"maps": (N, H, W) float32, "scores": (N,), "targets": ..., "layer": name}``.
    """

    def __init__(self, config: SaliencyConfig, info: DataInfo) -> None:
        self.config = config

    def __call__(self, task: Any, images: np.ndarray, target: Any = None) -> dict[str, Any]:
        cfg = self.config
        parts = graph.pieces(task, cfg.layer)
        h, w = images.shape[1:3]
        targets = task.task_type.explain_targets(task.predict(images, raw=True), target)
        size = min(cfg.batch_size, len(images))
        score_fn = task.task_type.explain_score

        def build():
            features, head = graph.call(parts.features), graph.call(parts.head)

            def run(vf, vh, x, t):
                a = features(vf, x)

                def total(a):
                    s = score_fn(_single(head(vh, [x, a])), t)
                    return s.sum(), s

                grads, scores = jax.grad(total, has_aux=True)(a)
                alpha = grads.mean(axis=(1, 2))  # (N, k): the average gradient per map
                cam = jax.nn.relu(jnp.einsum("nhwk,nk->nhw", a, alpha))
                cam = graph.upsample(cam, h, w)
                return (graph.normalize(cam) if cfg.normalize else cam), scores

            return run

        fn = graph.compiled(task, ("gradcam", parts.layer, size, h, w, cfg.normalize), build)
        vf, vh = graph.values(parts.features), graph.values(parts.head)
        maps, scores = [], []
        for sl in graph.batches(len(images), size):
            m, s = fn(vf, vh, graph.pad_to(images[sl], size),
                      graph.tree_slice(targets, sl, size))
            maps.append(np.asarray(m)[: sl.stop - sl.start])
            scores.append(np.asarray(s)[: sl.stop - sl.start])
        maps = np.concatenate(maps).astype(np.float32)
        empty = np.flatnonzero(maps.reshape(len(maps), -1).max(axis=1) <= 0)
        if len(empty):  # the ReLU removed everything: an empty map, not "no evidence"
            warn_user(f"saliency: the map of image(s) {empty[:10].tolist()}"
                      f"{' ...' if len(empty) > 10 else ''} is zero everywhere: at layer "
                      f"{parts.layer!r} the gradient-weighted sum of the feature maps is "
                      f"negative or zero at every location, so no feature there raises "
                      f"the target's score; try another layer or the 'gradients' method")
        return {"maps": maps, "scores": np.concatenate(scores), "targets": targets,
                "layer": parts.layer}

    def figures(self, task: Any, images: np.ndarray, result: dict[str, Any],
                out_dir: Path) -> list[Path]:
        from .figures import saliency_figure

        return [saliency_figure(images, result["maps"], out_dir / "saliency.png",
                                _titles(task, result["targets"]),
                                boxes=_boxes(result["targets"]))]


class InputGradients:
    """``gradients``: max over channels of |∂score/∂x| per pixel; with ``noise`` > 0, the
    average over ``samples`` copies of the image with Gaussian noise (SmoothGrad,
    Smilkov et al. 2017).

    Returns ``{"maps": (N, H, W) float32, "scores": (N,), "targets": ...}``.
    """

    def __init__(self, config: GradientsConfig, info: DataInfo) -> None:
        self.config = config

    def __call__(self, task: Any, images: np.ndarray, target: Any = None) -> dict[str, Any]:
        cfg = self.config
        network = task.network
        targets = task.task_type.explain_targets(task.predict(images, raw=True), target)
        size = min(cfg.batch_size, len(images))
        samples = cfg.samples if cfg.noise > 0 else 1
        score_fn = task.task_type.explain_score

        def build():
            net = graph.call(network)

            def run(v, x, t, key):
                def total(xx):
                    s = score_fn(_single(net(v, xx)), t)
                    return s.sum(), s

                def one(k):
                    noisy = x + cfg.noise * jax.random.normal(k, x.shape) if cfg.noise else x
                    g, s = jax.grad(total, has_aux=True)(noisy)
                    return jnp.abs(g).max(axis=-1), s

                maps, scores = jax.lax.map(one, jax.random.split(key, samples))
                m = maps.mean(axis=0)
                return (graph.normalize(m) if cfg.normalize else m), scores[0]

            return run

        fn = graph.compiled(task, ("gradients", size, samples, cfg.noise, cfg.normalize), build)
        v = graph.values(network)
        key = jax.random.PRNGKey(cfg.seed)
        maps, scores = [], []
        for i, sl in enumerate(graph.batches(len(images), size)):
            m, s = fn(v, graph.pad_to(images[sl], size), graph.tree_slice(targets, sl, size),
                      jax.random.fold_in(key, i))
            maps.append(np.asarray(m)[: sl.stop - sl.start])
            scores.append(np.asarray(s)[: sl.stop - sl.start])
        return {"maps": np.concatenate(maps).astype(np.float32),
                "scores": np.concatenate(scores), "targets": targets}

    def figures(self, task: Any, images: np.ndarray, result: dict[str, Any],
                out_dir: Path) -> list[Path]:
        from .figures import saliency_figure

        return [saliency_figure(images, result["maps"], out_dir / "gradients.png",
                                _titles(task, result["targets"]),
                                boxes=_boxes(result["targets"]))]
