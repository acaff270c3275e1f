"""Cutting a task's network at a layer, and compiled stateless calls of the pieces.

Explainers need a layer's activations A and gradients with respect to them. A Keras 3
functional model can be rebuilt from any of its tensors, so the network splits into
``features`` (images → A) and ``head`` ((images, A) → outputs; the images feed the
skip connections that bypass A, as in U-Net). Both share the network's variables; the
calls below are pure functions of those variables (``stateless_call``), jit-compiled
once per task, layer and purpose, and reused for every batch.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import keras
import numpy as np

from visionhooks import ConfigError
from visionhooks.errors import warn_user

#: Layers that never make a good default feature layer.
_SKIPPED = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Dropout,
            keras.layers.SpatialDropout2D, keras.layers.InputLayer, keras.layers.Concatenate,
            keras.layers.Reshape)
_ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                keras.layers.ELU, keras.layers.PReLU)


def spatial_layers(network: keras.Model, ranks: tuple[int, ...] = (4,)) -> list[str]:
    """Names of the layers whose output is a (N, h, w, k) feature map (``ranks=(2, 4)``
    adds the (N, k) vectors of dense layers)."""
    out = []
    for layer in network.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) in ranks:
            out.append(layer.name)
    return out


def default_layer(network: keras.Model, deepest: bool = False) -> str:
    """The last convolutional feature layer: the last activation with a spatial output
    that is not the network's output (else the last such convolution). ``deepest``: of
    those, the one with the fewest locations (the last of equals), an encoder-decoder's
    bottleneck (the seed's latent space) and a plain CNN's last feature layer."""
    spatial = set(spatial_layers(network))
    final = {id(t) for t in network.outputs}
    candidates = [layer for layer in network.layers if layer.name in spatial
                  and id(layer.output) not in final and not isinstance(layer, _SKIPPED)]
    for kinds in (_ACTIVATIONS, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
        chosen = [layer for layer in candidates if isinstance(layer, kinds)]
        if chosen and deepest:  # min of the reversed list: the last of equals
            return min(reversed(chosen),
                       key=lambda layer: layer.output.shape[1] * layer.output.shape[2]).name
        if chosen:
            return chosen[-1].name
    raise ConfigError(f"network {network.name!r} has no convolutional feature layer to "
                      f"explain (layers with spatial outputs: {sorted(spatial) or 'none'}); "
                      f"use method='gradients', or name one with layer=...")


def _last_hidden_vector(network: keras.Model) -> str:
    """The last activation with a (N, k) output that is not the network's output."""
    final = {id(t) for t in network.outputs}
    vectors = set(spatial_layers(network, (2,)))
    hidden = [layer for layer in network.layers if isinstance(layer, _ACTIVATIONS)
              and layer.name in vectors and id(layer.output) not in final]
    if not hidden:
        raise ConfigError(f"network {network.name!r} has neither feature maps nor a hidden "
                          f"activation to take features from; name one with layer=... "
                          f"(valid: {', '.join(spatial_layers(network, (2, 4)))})")
    return hidden[-1].name


def check_layer(network: keras.Model, name: str | None, vectors: bool = False,
                deepest: bool = False) -> str:
    """``name`` if it is a spatial layer of ``network`` (or a vector layer, with
    ``vectors``), else the default (``default_layer``); other names are errors listing
    the valid ones."""
    if name is None:
        if vectors and not set(spatial_layers(network)) - {t.name for t in network.inputs}:
            return _last_hidden_vector(network)  # a network without feature maps (MLP)
        return default_layer(network, deepest)
    valid = spatial_layers(network, (2, 4) if vectors else (4,))
    if name not in valid:
        known = {layer.name for layer in network.layers}
        shape = "(N, h, w, k) or (N, k)" if vectors else "(N, h, w, k)"
        why = "is not a layer of" if name not in known else f"has no {shape} output in"
        raise ConfigError(f"layer {name!r} {why} network {network.name!r}. Valid layers: "
                          f"{', '.join(valid)}")
    return name


class Pieces:
    """``features`` and ``head`` models of one network cut at one layer."""

    def __init__(self, network: keras.Model, layer: str) -> None:
        self.network = network
        self.layer = layer
        a = network.get_layer(layer).output
        self.features = keras.Model(network.inputs, a, name=f"{network.name}_to_{layer}")
        self.head = keras.Model([*network.inputs, a], network.outputs,
                                name=f"{network.name}_from_{layer}")


def _values(model: keras.Model) -> tuple[list[Any], list[Any]]:
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables])


def _cache(task: Any) -> dict:
    cache = getattr(task, "_explain_cache", None)
    if cache is None or cache.get("model") is not task.model:
        cache = {"model": task.model}
        task._explain_cache = cache
    return cache


def capped(config: Any, field: str, limit: float, why: str) -> Any:
    """``config.field`` limited to ``limit``; a value the user set above it is named in a
    warning (a default above it is capped without one: it was not asked for)."""
    value = getattr(config, field)
    if value > limit and field in config.model_fields_set:
        warn_user(f"{field}={value:g} is more than {why} ({limit:g}): using {limit:g}")
    return min(value, limit)


def pieces(task: Any, layer: str | None, vectors: bool = False,
           deepest: bool = False) -> Pieces:
    """The network of ``task`` cut at ``layer`` (cached on the task)."""
    name = check_layer(task.network, layer, vectors, deepest)
    cache = _cache(task)
    key = ("pieces", name)
    if key not in cache:
        cache[key] = Pieces(task.network, name)
    return cache[key]


def compiled(task: Any, key: Any, build: Callable[[], Callable]) -> Callable:
    """A jit-compiled function cached on ``task`` under ``key``."""
    cache = _cache(task)
    if key not in cache:
        cache[key] = jax.jit(build())
    return cache[key]


def call(model: keras.Model) -> Callable:
    """``f(values, inputs) -> outputs``: a pure call of ``model`` (inference mode)."""

    def run(values, inputs):
        tv, ntv = values
        out, _ = model.stateless_call(tv, ntv, inputs, training=False)
        return out

    return run


def values(model: keras.Model) -> tuple[list[Any], list[Any]]:
    """The current variable values of ``model``, to pass to ``call``."""
    return _values(model)


def batches(n: int, size: int):
    """Slices of ``size`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def pad_to(x: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` with copies of the last item (static shapes for
    the compiled calls: one compilation for every batch)."""
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)])


def tree_slice(tree: Any, sl: slice, size: int) -> Any:
    """``pad_to(leaf[sl], size)`` for every array leaf of ``tree``."""
    return jax.tree_util.tree_map(lambda a: pad_to(np.asarray(a)[sl], size), tree)


def upsample(maps: Any, height: int, width: int) -> Any:
    """(N, h, w) → (N, height, width), bilinear."""
    return jax.image.resize(maps, (maps.shape[0], height, width), method="linear")


def normalize(maps: Any) -> Any:
    """Scale each (h, w) map to [0, 1] (an all-zero map stays zero)."""
    import jax.numpy as jnp

    top = maps.max(axis=(1, 2), keepdims=True)
    low = maps.min(axis=(1, 2), keepdims=True)
    return jnp.where(top > low, (maps - low) / jnp.where(top > low, top - low, 1.0), 0.0)
