"""Task files: what a ``.keras`` task carries, and loading errors that say what to do."""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

import visionhooks as vh
from visionhooks.errors import CheckpointError, ComponentNotFoundError, ConfigError
from visionhooks.keras_objects import TaskModel
from visionhooks.plugins.classification.config import MLPConfig
from visionhooks.saving import read_task_file


class TinyPlugin:
    @vh.hookimpl
    def register_models(self, register):
        register("tiny-mlp", "visionhooks.plugins.classification.models:build_mlp",
                 config=MLPConfig, tasks=("classification",))


def images(n=3, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    task = vh.compose(task="classification", model="mlp",
                      model_config={"hidden_units": [8], "dropout": 0.0},
                      class_names=list("abcdefghij"))
    path = task.save(tmp_path_factory.mktemp("saved") / "task.keras")
    return task, path


def test_the_file_carries_the_whole_task(saved):
    task, path = saved
    assert [p.name for p in path.parent.iterdir()] == ["task.keras"]  # no temporary left
    config = read_task_file(path)
    assert config["task_config"]["model"] == {"name": "mlp", "hidden_units": [8],
                                              "dropout": 0.0}
    assert config["task_config"]["loss"] == {"name": "crossentropy"}
    assert config["info"]["class_names"] == list("abcdefghij")
    assert config["provenance"]["mlp"] == {"kind": "model", "plugin": "classification",
                                           "distribution": "visionhooks",
                                           "version": vh.__version__}


def test_load_gives_back_a_task_that_predicts_the_same(saved):
    task, path = saved
    x = images()
    again = vh.load(path)
    assert isinstance(again, vh.Task) and again.class_names == tuple("abcdefghij")
    assert again.config == task._resolved_config()
    assert np.array_equal(again.predict(x, raw=True), task.predict(x, raw=True))


def test_keras_load_model_works_once_visionhooks_is_imported(saved):
    task, path = saved
    model = keras.saving.load_model(path)
    assert isinstance(model, TaskModel)
    x = images()
    assert np.array_equal(model.predict(x, verbose=0), task.predict(x, raw=True))


def test_save_needs_the_keras_suffix(saved, tmp_path):
    task, _ = saved
    with pytest.raises(ConfigError, match=r"must end in \.keras"):
        task.save(tmp_path / "task.h5")
    (tmp_path / "folder.keras").mkdir()
    with pytest.raises(ConfigError, match=r"folder\.keras' is a folder; name the \.keras file"):
        task.save(tmp_path / "folder.keras")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"file' is a file, not a folder"):
        task.save(tmp_path / "file" / "task.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.keras"]  # no strays


def test_missing_plugin_names_the_package_to_install(host, tmp_path):
    host.register_plugin(TinyPlugin(), name="tiny", distribution="vh-tiny", version="0.3")
    task = vh.compose(task="classification", model="tiny-mlp", host=host,
                      model_config={"hidden_units": [4]})
    path = task.save(tmp_path / "tiny.keras")
    # The process-wide host does not have the plugin:
    with pytest.raises(ComponentNotFoundError) as exc:
        vh.load(path)
    msg = str(exc.value)
    assert "model 'tiny-mlp' from plugin 'tiny' of distribution 'vh-tiny'" in msg
    assert "(version 0.3 saved it)" in msg and "pip install vh-tiny" in msg
    # ... the host that has it loads it.
    again = vh.load(path, host=host)
    x = images(2)
    assert np.array_equal(again.predict(x, raw=True), task.predict(x, raw=True))


def test_a_plugin_registered_in_process_is_not_named_as_a_package(host, tmp_path):
    host.register_plugin(TinyPlugin(), name="tiny")  # no distribution: not pip-installable
    task = vh.compose(task="classification", model="tiny-mlp", host=host,
                      model_config={"hidden_units": [4]})
    with pytest.raises(ComponentNotFoundError) as exc:
        vh.load(task.save(tmp_path / "tiny.keras"))
    msg = str(exc.value)
    assert "has no distribution on record (registered in-process" in msg
    assert "pip install" not in msg


@pytest.mark.parametrize("write, match", [
    (None, "no such task file"),
    (lambda p: p.write_bytes(b"not a zip"), "is not a .keras file"),
    (lambda p: zipfile.ZipFile(p, "w").close(), "is not a .keras file"),
])
def test_unreadable_task_files(tmp_path, write, match):
    path = tmp_path / "task.keras"
    if write:
        write(path)
    with pytest.raises(CheckpointError, match=match):
        vh.load(path)


def test_a_task_loads_after_another_plugin_registers_one_of_its_names(host, tmp_path):
    task = vh.compose(task="classification", model="mlp", host=host,
                      model_config={"hidden_units": [4]})
    path = task.save(tmp_path / "mlp.keras")

    class Newcomer:
        @vh.hookimpl
        def register_models(self, register):
            register("mlp", "visionhooks.plugins.classification.models:build_mlp",
                     config=MLPConfig, tasks=("classification",))

    host.register_plugin(Newcomer(), name="newcomer")
    with pytest.raises(vh.AmbiguousComponentError):
        host.component("model", "mlp")
    again = vh.load(path, host=host)  # the file says which plugin built it
    assert again.config.model.name == "classification:mlp"
    x = images()
    assert np.array_equal(again.predict(x, raw=True), task.predict(x, raw=True))
    # the file keeps the name as saved, and a resume compares names without the pin
    resaved = again.save(tmp_path / "again.keras")
    assert vh.saving.read_task_file(resaved)["task_config"]["model"]["name"] == "mlp"
    host.unregister_plugin("newcomer")
    run = tmp_path / "run"
    again.fit(np.zeros((4, 28, 28, 1), np.float32), np.arange(4), epochs=1, run_dir=run,
              verbose=0)
    composed = vh.compose(task="classification", model="mlp", host=host,
                          model_config={"hidden_units": [4]})
    composed.fit(np.zeros((4, 28, 28, 1), np.float32), np.arange(4), epochs=2, run_dir=run,
                 resume=True, verbose=0)


def test_a_loss_and_a_metric_of_one_name_are_both_recorded(host, tmp_path):
    """The metric's record replaced the loss's (provenance was keyed by name alone), so
    the loss was not pinned when another plugin registered its name: 'ambiguous'."""
    from visionhooks.plugins.classification import config as cc

    parts = "visionhooks.plugins.classification.parts"

    class Shared:
        @vh.hookimpl
        def register_losses(self, register):
            register("xent", f"{parts}:build_crossentropy", config=cc.CrossEntropyConfig,
                     tasks=("classification",))

        @vh.hookimpl
        def register_metrics(self, register):
            register("xent", f"{parts}:build_accuracy", tasks=("classification",))

    class Newcomer:
        @vh.hookimpl
        def register_losses(self, register):
            register("xent", f"{parts}:build_crossentropy", config=cc.CrossEntropyConfig,
                     tasks=("classification",))

    host.register_plugin(Shared(), name="shared")
    task = vh.compose(task="classification", model="mlp", loss="xent", metrics=["xent"],
                      host=host, model_config={"hidden_units": [4]})
    prov = task.provenance()
    assert prov["xent"]["kind"] == "loss" and prov["metric:xent"]["kind"] == "metric"
    path = task.save(tmp_path / "shared.keras")
    host.register_plugin(Newcomer(), name="newcomer")
    again = vh.load(path, host=host)
    assert again.config.loss.name == "shared:xent"


@pytest.mark.parametrize("config, match", [
    ('{"registered_name": "visionhooks>TaskModel", "config": {}}', "lacks its task config"),
    ('{"registered_name": "visionhooks>TaskModel", "config": {"task_config": "x", '
     '"info": {}}}', "lacks its task config"),
    ('[1, 2]', "its config.json holds a list, not a model config"),
])
def test_a_file_claiming_to_be_a_task_without_its_config(tmp_path, config, match):
    path = tmp_path / "task.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", config)
    with pytest.raises(CheckpointError, match=match):
        vh.load(path)


def test_a_folder_or_no_path_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder; a task file is a .keras file"):
        vh.load(tmp_path)
    with pytest.raises(CheckpointError, match="a task file is a path to a .keras file. "
                                              "Received: None"):
        vh.load(None)


def test_a_plain_keras_model_is_not_a_task(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "plain.keras"
    model.save(path)
    with pytest.raises(CheckpointError, match="not a visionhooks task"):
        vh.load(path)


def test_keras_load_model_works_once_visionhooks_is_imported_either_order(tmp_path):
    """DESIGN: `keras.saving.load_model(path)` also works once visionhooks is imported —
    whether keras was imported before or after it, and without visionhooks importing
    keras itself."""
    import subprocess
    import sys

    import visionhooks as vh

    task = vh.compose(task="classification", model="mlp", model_config={"hidden_units": [8]})
    path = task.save(tmp_path / "t.keras")
    for first, second in (("visionhooks", "keras"), ("keras", "visionhooks")):
        code = (f"import sys, {first}; light = 'keras' not in sys.modules; import {second}; "
                f"import keras; m = keras.saving.load_model(sys.argv[1], safe_mode=True); "
                f"print(type(m).__name__, light)")
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, timeout=120, env={**__import__("os").environ,
                                                           "KERAS_BACKEND": "jax"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        name, light = proc.stdout.split()
        assert name == "TaskModel"
        if first == "visionhooks":
            assert light == "True"  # importing visionhooks did not import keras


class TinyAugmentation:
    @vh.hookimpl
    def register_augmentations(self, register):
        from visionhooks.plugins.augmentation import config as c

        register("tiny-brightness", "visionhooks.plugins.augmentation.transforms:Brightness",
                 config=c.BrightnessConfig, geometric=False, moves=("images",))


def test_a_missing_augmentation_plugin_names_its_package_too(host, tmp_path):
    host.register_plugin(TinyAugmentation(), name="tiny-aug", distribution="vh-tiny-aug")
    task = vh.compose(task="classification", model="mlp", host=host,
                      augment=["tiny-brightness"], model_config={"hidden_units": [4]})
    path = task.save(tmp_path / "aug.keras")
    with pytest.raises(ComponentNotFoundError,
                       match="augmentation 'tiny-brightness' from plugin 'tiny-aug' of "
                             "distribution 'vh-tiny-aug'.*pip install vh-tiny-aug"):
        vh.load(path)
    assert vh.load(path, host=host).config.augment[0].name == "tiny-brightness"
