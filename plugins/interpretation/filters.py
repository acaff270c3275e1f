"""Filter visualization (Zeiler & Fergus 2014; Olah 2017), as the seed describes it: freeze
the parameters and run gradient ascent on the input image to maximize the average score
of one feature map.

All requested filters are optimized at once, one image each, in a single compiled loop.
Plain ascent drifts into high-frequency noise; three regularizers keep the patterns
recognizable: a random jitter (roll) of the image at every step, a Gaussian blur every
few steps, and a small L2 decay towards grey. Each step's gradient is scaled to unit
RMS per image, so one learning rate suits every layer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from visionhooks import ConfigError, DataInfo

from . import graph
from .config import FiltersConfig


def gaussian_blur(x, sigma: float):
    """Separable Gaussian blur of (N, H, W, C), radius ⌈2σ⌉, edges reflected."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(2 * sigma))
    t = jnp.arange(-r, r + 1, dtype=jnp.float32)
    k = jnp.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    rows = sum(k[i] * pad[:, i:i + h, :, :] for i in range(2 * r + 1))
    return sum(k[i] * rows[:, :, i:i + w, :] for i in range(2 * r + 1))


class FilterAscent:
    """``filters``: one synthetic image per filter of ``layer``.

    ``target`` (or ``config.filters``) lists the filter indices; the default is the first
    ``count``. ``images`` are not used (ascent starts from grey plus a little noise);
    they may be None.

    Returns ``{"images": (F, H, W, C) float32 in [0, 1], "filters": (F,),
    "activation": (steps + 1, F) mean activation of each filter's map before each step
    and after the last, "layer": name}``.
    """

    def __init__(self, config: FiltersConfig, info: DataInfo) -> None:
        self.config = config
        self.info = info

    def __call__(self, task: Any, images: Any = None, target: Any = None) -> dict[str, Any]:
        cfg = self.config
        parts = graph.pieces(task, cfg.layer)
        channels = parts.features.output.shape[-1]
        chosen = target if target is not None else cfg.filters
        if chosen is None:
            chosen = range(graph.capped(cfg, "count", channels,
                                        f"layer {parts.layer!r} has filters"))
        filters = np.asarray(np.atleast_1d(chosen), np.int32)
        if filters.ndim != 1 or not len(filters) or (filters < 0).any() \
                or (filters >= channels).any():
            raise ConfigError(f"filters must be indices in 0..{channels - 1} of layer "
                              f"{parts.layer!r}. Received: {np.asarray(chosen).tolist()}")
        h, w, c = task.info.input_shape
        f = len(filters)

        def build():
            features = graph.call(parts.features)

            def activation(v, x, idx):
                a = features(v, x)  # (F, h', w', k)
                maps = jnp.take_along_axis(a, idx[:, None, None, None], axis=-1)[..., 0]
                return maps.mean(axis=(1, 2))

            def run(v, idx, key):
                k0, kloop = jax.random.split(key)
                x = 0.5 + 0.02 * jax.random.normal(k0, (f, h, w, c))

                def step(i, carry):
                    x, hist = carry
                    kx, ky = jax.random.split(jax.random.fold_in(kloop, i))
                    dx = jax.random.randint(kx, (), -cfg.jitter, cfg.jitter + 1)
                    dy = jax.random.randint(ky, (), -cfg.jitter, cfg.jitter + 1)
                    shifted = jnp.roll(x, (dy, dx), axis=(1, 2))
                    act, vjp = jax.vjp(lambda xx: activation(v, xx, idx), shifted)
                    (g,) = vjp(jnp.ones_like(act))
                    g = jnp.roll(g, (-dy, -dx), axis=(1, 2))
                    g = g / (jnp.sqrt(jnp.mean(g ** 2, axis=(1, 2, 3), keepdims=True)) + 1e-8)
                    x = x + cfg.learning_rate * g - cfg.decay * (x - 0.5)
                    if cfg.blur_every:
                        x = jax.lax.cond((i + 1) % cfg.blur_every == 0,
                                         lambda z: gaussian_blur(z, cfg.blur_sigma),
                                         lambda z: z, x)
                    return jnp.clip(x, 0.0, 1.0), hist.at[i].set(act)

                hist = jnp.zeros((cfg.steps + 1, f), jnp.float32)
                x, hist = jax.lax.fori_loop(0, cfg.steps, step, (x, hist))
                return x, hist.at[cfg.steps].set(activation(v, x, idx))

            return run

        key = ("filters", parts.layer, f, cfg.steps, cfg.learning_rate, cfg.jitter,
               cfg.blur_every, cfg.blur_sigma, cfg.decay)
        fn = graph.compiled(task, key, build)
        x, hist = fn(graph.values(parts.features), jnp.asarray(filters),
                     jax.random.PRNGKey(cfg.seed))
        return {"images": np.asarray(x, np.float32), "filters": filters,
                "activation": np.asarray(hist), "layer": parts.layer}

    def figures(self, task: Any, images: Any, result: dict[str, Any],
                out_dir: Path) -> list[Path]:
        from .figures import image_grid

        layer = result["layer"]
        titles = [f"{layer}:{f}" for f in result["filters"]]
        return [image_grid(result["images"], out_dir / f"filters_{layer}.png", titles,
                           suptitle=f"filter visualization, layer {layer}")]
