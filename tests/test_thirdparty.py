"""The example third-party plugin, installed by the test command, found by entry point."""

from __future__ import annotations

import numpy as np
import pytest

import visionhooks as vh


@pytest.fixture(scope="module")
def info():
    infos = {p.name: p for p in vh.plugins()}
    if "tinycnn" not in infos:
        pytest.fail("visionhooks-tinycnn is not installed: run the README's test command "
                    "(pip install -e '.[test]' && pip install ./examples/thirdparty_plugin)")
    return infos["tinycnn"]


def test_discovered_through_its_entry_point(info):
    assert info.distribution == "visionhooks-tinycnn"
    assert info.version == "0.1.0"
    assert info.entry_point == "visionhooks_tinycnn.hooks"
    assert info.components == {"model": ["tiny-cnn"]}
    assert info.status == "ok" and info.error is None
    assert "tiny-cnn" in vh.components("model")


def test_compose_train_save_load(info, tmp_path):
    data = vh.datasets.load("mnist", train_size=512, test_size=128)
    task = vh.compose(task="classification", model="tiny-cnn", data=data,
                      optimizer={"learning_rate": 3e-3})
    history = task.fit(data.train, epochs=3, batch_size=64, run_dir=tmp_path / "run", verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    metrics = task.evaluate(data.test)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    path = task.save(tmp_path / "tiny.keras")
    loaded = vh.load(path)
    assert loaded.provenance()["tiny-cnn"]["distribution"] == "visionhooks-tinycnn"
    np.testing.assert_array_equal(loaded.predict(data.test.x, raw=True),
                                  task.predict(data.test.x, raw=True))


def test_conformance_kit_passes_for_the_thirdparty_model(info, tmp_path):
    from visionhooks.testing import check_model

    task = check_model("tiny-cnn", task="classification", params={"filters": [4]},
                       input_shape=(20, 24, 3), num_classes=5, tmp_path=tmp_path)
    assert task.network.output_shape == (None, 5)


def test_conformance_kit_accepts_layers_keras_named_itself(host, tmp_path):
    """Keras renames the layers it named (dense -> dense_1) when a file loads: the kit
    compares layer types and weight shapes, as the plugin guide says."""
    import keras

    from visionhooks.testing import check_model

    class Unnamed:
        @vh.hookimpl
        def register_models(self, register):
            def build(config, info):
                i = keras.Input(info.input_shape)
                x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(i))
                return keras.Model(i, keras.layers.Dense(info.num_classes)(x))
            register("unnamed-cnn", build, tasks=("classification",))

    host.register_plugin(Unnamed(), name="unnamed")
    check_model("unnamed-cnn", task="classification", input_shape=(12, 12, 1), num_classes=3,
                tmp_path=tmp_path, host=host)
