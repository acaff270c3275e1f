"""A conformance kit for plugin authors (like Keras' ``run_layer_test``).

    from visionhooks.testing import check_model
    def test_my_model(tmp_path):
        check_model("tiny-cnn", task="classification", tmp_path=tmp_path)

``check_model`` composes a task around a registered model, checks the forward shape
and the postprocessor, trains a few steps, and checks that a safe-mode ``.keras`` round
trip predicts exactly as before. It returns the task for further checks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def random_targets(task: Any, n: int, rng: np.random.Generator) -> Any:
    """Random targets of the task type's data-model form."""
    target = task.task_type.target
    c = task.info.num_classes
    if target == "labels":
        return rng.integers(0, c, size=n).astype(np.int32)
    if target == "segmentation_masks":
        h, w, _ = task.info.input_shape
        return rng.integers(0, c, size=(n, h, w)).astype(np.int32)
    raise NotImplementedError(f"random targets for {target!r}: pass targets=...")


def check_model(name: str, task: str, params: dict[str, Any] | None = None, *,
                input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
                targets: Any = None, batch: int = 4, tmp_path: str | Path | None = None,
                host: Any = None) -> Any:
    """Run the conformance checks on model ``name`` for task type ``task``."""
    from .composition import compose

    t = compose(task=task, model=name, model_config=params, input_shape=input_shape,
                num_classes=num_classes, host=host)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *t.info.input_shape), dtype=np.float32)
    y = targets if targets is not None else random_targets(t, batch, rng)
    raw = t.predict(x, raw=True)
    assert np.all(np.isfinite(np.asarray(raw))), f"{name}: non-finite outputs"
    assert np.asarray(raw).shape[0] == batch, f"{name}: output batch {np.asarray(raw).shape}"
    post = t.predict(x)
    for key in t.task_type.prediction_keys:
        assert key in post, f"{name}: the postprocessor output lacks {key!r}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp_path) if tmp_path is not None else Path(tmp)
        t.fit(x, y, epochs=1, batch_size=batch, verbose=0, run_dir=root / "run")
        path = t.save(root / f"{name}.keras")
        from .saving import load

        again = load(path, host=host)
        np.testing.assert_array_equal(np.asarray(again.predict(x, raw=True)),
                                      np.asarray(t.predict(x, raw=True)))
        difference = _first_difference(_architecture(t.network), _architecture(again.network))
        assert difference is None, (f"{name}: the network differs after a .keras round trip "
                                    f"(layer types and weight shapes): {difference}")
        assert _unnamed(t.network) == _unnamed(again.network), (
            f"{name}: get_config differs after a .keras round trip (beyond the layer names "
            f"Keras gives itself)")
    return t


def _architecture(network: Any) -> list[tuple[str, list[tuple[int, ...]]]]:
    """Each layer's class and weight shapes: what a round trip must keep (Keras may
    rename layers it named itself, ``dense`` → ``dense_1``)."""
    return [(type(layer).__name__, [tuple(w.shape) for w in layer.weights])
            for layer in network.layers]


def _first_difference(before: list[Any], after: list[Any]) -> str | None:
    for i in range(max(len(before), len(after))):
        a = before[i] if i < len(before) else None
        b = after[i] if i < len(after) else None
        if a != b:
            return f"layer {i}: {a} became {b}"
    return None


def _unnamed(network: Any) -> Any:
    """``network.get_config()`` with its own and its layers' names replaced by their
    positions: a loaded model may rename the layers Keras named (``dense_1``)."""
    names = {network.name: "#model", **{layer.name: f"#{i}"
                                         for i, layer in enumerate(network.layers)}}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    return walk(network.get_config())

