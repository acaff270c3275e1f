"""`visionhooks schema` describes exactly the configs the loader accepts."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest

from visionhooks.config import read_config_file
from visionhooks.manager import host
from visionhooks.schema import task_config_schema

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "configs").glob("*.toml"))


@pytest.fixture(scope="module")
def schema():
    return task_config_schema(host())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_validate(schema, path):
    jsonschema.validate(read_config_file(path), schema)


def test_schema_rejects_what_the_loader_rejects(schema):
    good = {"task": "classification", "model": {"name": "lenet5", "kernel_size": 3}}
    jsonschema.validate(good, schema)
    for bad in ({"task": "classification", "model": {"name": "lenet5", "kernel": 3}},
                {"task": "classification", "model": "lenet55"},
                {"task": "classification", "model": {"name": "mlp", "dropout": 1.5}},
                {"task": "classification", "model": "mlp", "optimizer": {"name": "adagrad"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    bad = copy.deepcopy(good)
    bad["train"] = {"epochs": 0}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
