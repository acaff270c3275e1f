"""Configs: task config files (TOML, JSON), validation errors naming the field, DataInfo."""

from __future__ import annotations

import json

import pydantic
import pytest

import visionhooks as vh
from visionhooks.config import (ComponentSpec, TaskConfig, apply_overrides, parse_task_config,
                                read_config_file)
from visionhooks.errors import ComponentNotFoundError, ConfigError

TOML = """\
task = "classification"
seed = 7

[model]
name = "lenet5"
filters = [4, 8]
dense_units = [32]

[loss]
label_smoothing = 0.1

[postprocess]
top_k = 3

[optimizer]
name = "sgd"
learning_rate = 0.05

[train]
epochs = 2
batch_size = 16
"""

AS_DICT = {
    "task": "classification", "seed": 7,
    "model": {"name": "lenet5", "filters": [4, 8], "dense_units": [32]},
    "loss": {"label_smoothing": 0.1}, "postprocess": {"top_k": 3},
    "optimizer": {"name": "sgd", "learning_rate": 0.05},
    "train": {"epochs": 2, "batch_size": 16},
}


def test_toml_and_json_files_round_trip_through_from_config(tmp_path):
    toml = tmp_path / "task.toml"
    toml.write_text(TOML, encoding="utf-8")
    assert read_config_file(toml) == AS_DICT

    task = vh.Task.from_config(toml)
    assert task.config == parse_task_config(AS_DICT)
    assert task.config.model.params == {"filters": [4, 8], "dense_units": [32]}
    assert task.config.optimizer.name == "sgd" and task.config.train.batch_size == 16
    assert task.network.get_layer("conv1").filters == 4
    assert task.network.get_layer("conv2").filters == 8
    assert task.postprocessor.top_k == 3

    # The dumped config, written as JSON, reads back into the same task config.
    js = tmp_path / "task.json"
    js.write_text(json.dumps(task.config.dump()), encoding="utf-8")
    again = vh.Task.from_config(js)
    assert again.config == task.config
    assert again.network.count_params() == task.network.count_params()
    # ... and so does the resolved one a saved task carries (defaults filled in).
    resolved = task._resolved_config()
    assert resolved.loss.name == "crossentropy" and resolved.postprocess.name == "labels"
    assert TaskConfig.model_validate(resolved.dump()) == resolved


def test_malformed_toml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('task = "classification"\nmodel = [unclosed\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        vh.Task.from_config(bad)
    assert str(bad) in str(exc.value) and "line 2" in str(exc.value)


def test_malformed_json_names_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"task": "classification",', encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.json"):
        parse_task_config(bad)


@pytest.mark.parametrize("name, text, match", [
    ("task.yaml", "task: classification", "must end in .toml or .json"),
    ("list.json", "[1, 2]", "a task config is a dict"),
])
def test_other_config_file_errors(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        parse_task_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found.*nope.toml"):
        vh.Task.from_config(tmp_path / "nope.toml")


@pytest.mark.parametrize("cfg, field", [
    ({"task": "classification"}, "model"),
    ({"task": "classification", "model": {"filters": [1, 2]}}, "model"),
    ({"task": "classification", "model": "mlp", "modle": "x"}, "modle"),
    ({"task": "classification", "model": "mlp", "train": {"epochs": 0}}, "epochs"),
    ({"task": "classification", "model": "mlp", "optimizer": {"name": "adagrad"}}, "name"),
    ({"task": "classification", "model": "mlp", "optimizer": {"learning_rate": -1}},
     "learning_rate"),
    ({"task": "classification", "model": "mlp", "augment": [{"max_degrees": 3}]}, "augment"),
])
def test_invalid_task_configs_name_the_field(cfg, field):
    with pytest.raises(ConfigError) as exc:
        parse_task_config(cfg)
    assert field in str(exc.value)


@pytest.mark.parametrize("kwargs, field", [
    ({"model_config": {"filters": "x"}}, "filters"),
    ({"model_config": {"filterz": [6, 16]}}, "filterz"),
    ({"model_config": {"pooling": "median"}}, "pooling"),
    ({"loss": {"label_smoothing": 2.0}}, "label_smoothing"),
    ({"postprocess": {"top_k": 0}}, "top_k"),
    ({"metrics": [{"name": "top_k_accuracy", "k": 0}]}, "k"),
    ({"metrics": [{"name": "accuracy", "extra": 1}]}, "extra"),
])
def test_invalid_component_parameters_are_config_errors_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError) as exc:
        vh.compose(task="classification", model="lenet5", **kwargs)
    assert field in str(exc.value)


def test_unknown_component_in_a_config():
    with pytest.raises(ComponentNotFoundError, match="(?i)did you mean 'lenet5'"):
        vh.compose(task="classification", model="lenet-5")
    with pytest.raises(ComponentNotFoundError, match="unknown metric 'acuracy'"):
        vh.compose(task="classification", model="mlp", metrics=["acuracy"])


def test_augmentations_are_checked_before_anything_is_built():
    with pytest.raises(ComponentNotFoundError, match="unknown augmentation 'rotat'"):
        vh.compose(task="classification", model="lenet5", augment=["rotat"])
    with pytest.raises(ConfigError, match="(?s)augmentation .rotate.*max_degrees"):
        vh.compose(task="classification", model="lenet5",
                   augment=[{"name": "rotate", "max_degrees": 1000}])


def test_component_spec_forms():
    assert ComponentSpec.model_validate("lenet5").dump() == {"name": "lenet5"}
    spec = ComponentSpec.model_validate({"name": "lenet5", "dropout": 0.5})
    assert (spec.name, spec.params) == ("lenet5", {"dropout": 0.5})
    assert ComponentSpec.model_validate({"top_k": 2}).dump() == {"top_k": 2}


def test_overrides():
    data = {"task": "classification", "model": "lenet5", "train": {"epochs": 1}}
    apply_overrides(data, ["train.epochs=3", "model.dropout=0.25", "optimizer.name=sgd",
                           "model.filters=[4, 8]"])
    assert data["train"]["epochs"] == 3 and data["optimizer"] == {"name": "sgd"}
    assert data["model"] == {"name": "lenet5", "dropout": 0.25, "filters": [4, 8]}
    cfg = parse_task_config(data)
    assert cfg.model.params == {"dropout": 0.25, "filters": [4, 8]}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["train.epochs"])


def test_data_info():
    info = vh.DataInfo(task="classification", input_shape=(28, 28, 1), num_classes=3)
    assert info.class_names == ("0", "1", "2")
    with pytest.raises(pydantic.ValidationError, match="class_names has 2 entries"):
        vh.DataInfo(task="classification", input_shape=(8, 8, 1), num_classes=3,
                    class_names=("a", "b"))
    with pytest.raises(pydantic.ValidationError, match="input_shape must be positive"):
        vh.DataInfo(task="classification", input_shape=(0, 8, 1), num_classes=3)
    with pytest.raises(pydantic.ValidationError):
        vh.DataInfo(task="classification", input_shape=(8, 8, 1), num_classes=0)
