"""The graph a task trains and predicts with: its network with max-pooling moved in front
of the activation that feeds it — the same layers, variables and outputs, less work.

A monotone non-decreasing activation f commutes with max-pooling: max(f(z)) = f(max(z)),
bitwise, since f is applied to the same float either way. Pooling first applies f (and
its gradient) to a quarter of the pixels: LeNet-5's training step on CPU lost its
full-resolution ReLU fusions, 0.6-0.8 ms of ~8, and trained 2-10% faster in interleaved
runs (``bench/RESULTS.md``, "Speed attempts"). The gradients are those of the original graph
too: a window's gradient reaches its first maximum either way, except where f ties
distinct inputs (ReLU's zeros, ReLU6's sixes), and there f' is 0 either way.

The network itself keeps its order, so summaries, saved files and the explainers (which
need the full-resolution activations, e.g. ``conv2_relu``) see the model as written.
"""

from __future__ import annotations

from typing import Any

#: JAX platforms where ``executed`` rewrites (measured on CPU; ``bench/gpu.py`` times
#: the rewrite on a GPU as its "pool_first" kind).
PLATFORMS: tuple[str, ...] = ("cpu",)


def _monotone(layer: Any) -> bool:
    """Whether ``layer`` is ReLU, ReLU6 or the identity: monotone non-decreasing and
    flat wherever it maps two inputs to one output, so pooling first moves no gradient.
    Leaky ReLU, ELU and SELU are monotone too, but in float32 they round neighbouring
    inputs to one output where their slope is not zero (0.1·x, expm1 near -16): a tied
    window's gradient would reach another pixel."""
    import keras

    if type(layer) is keras.layers.Activation:
        return any(layer.activation is f for f in (keras.activations.relu,
                                                   keras.activations.relu6,
                                                   keras.activations.linear))
    if type(layer) is keras.layers.ReLU:
        return layer.negative_slope == 0 and layer.threshold >= 0
    return False


def _max_pool(layer: Any) -> bool:
    import keras

    return isinstance(layer, (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
                              keras.layers.MaxPooling3D))


def _sole_readers(network: Any) -> dict[str, str]:
    """Layer name → the name of its one reader, for layers called once whose output one
    other layer reads once, the model returning neither (read off a throwaway clone)."""
    import keras

    producer: dict[int, Any] = {}
    calls: dict[str, int] = {}
    readers: dict[str, list[str]] = {}

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in keras.tree.flatten((args, kwargs)):
            if id(arg) in producer:
                readers.setdefault(producer[id(arg)].name, []).append(layer.name)
        out = layer(*args, **kwargs)
        calls[layer.name] = calls.get(layer.name, 0) + 1
        for tensor in keras.tree.flatten(out):
            producer[id(tensor)] = layer
        return out

    trial = keras.models.clone_model(network, clone_function=lambda layer: layer,
                                     call_function=call)
    for tensor in keras.tree.flatten(trial.outputs):
        if id(tensor) in producer:
            readers.setdefault(producer[id(tensor)].name, []).append("<output>")
    return {name: found[0] for name, found in readers.items()
            if len(found) == 1 and calls.get(name) == 1
            and "<output>" not in readers.get(found[0], ["<output>"])}


def pool_first(network: Any) -> Any:
    """A functional model sharing ``network``'s layers in which every max-pooling layer
    that is the only reader of a ReLU, ReLU6 or identity activation (``_monotone``) pools
    first; ``network`` itself when there is none (or it is not a functional model).

    An activation that something else also reads (U-Net's skip connections) keeps its
    place: pooling first would then add work, not save it.
    """
    import keras

    if not isinstance(network, keras.Model) or not hasattr(network, "_nodes_by_depth"):
        return network
    by_name = {layer.name: layer for layer in network.layers}
    kinds = [(_monotone(layer), _max_pool(layer)) for layer in network.layers]
    if not (any(m for m, _ in kinds) and any(p for _, p in kinds)):
        return network  # nothing to swap: no need to trace the graph's readers
    swap = {name: reader for name, reader in _sole_readers(network).items()
            if _monotone(by_name[name]) and _max_pool(by_name[reader])}
    if not swap:
        return network
    pools = set(swap.values())
    pending: dict[int, tuple[Any, Any]] = {}  # activation output id → (layer, its input)

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if layer.name in pools and len(args) == 1 and id(args[0]) in pending:
            activation, source = pending.pop(id(args[0]))
            return activation(layer(source, **kwargs))
        out = layer(*args, **kwargs)
        if layer.name in swap and len(args) == 1:
            pending[id(out)] = (layer, args[0])
        return out

    return keras.models.clone_model(network, clone_function=lambda layer: layer,
                                    call_function=call)


def executed(network: Any) -> Any:
    """The graph a ``TaskModel`` runs: ``pool_first(network)`` on ``PLATFORMS``, else
    ``network``."""
    import jax

    return pool_first(network) if jax.default_backend() in PLATFORMS else network
