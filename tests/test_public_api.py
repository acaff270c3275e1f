"""The promised public names of DESIGN.md stay usable together."""

import importlib

import visionhooks as vh


def test_plugins_function_survives_importing_plugin_packages():
    importlib.import_module("visionhooks.plugins.classification.hooks")
    assert callable(vh.plugins)
    names = [p.name for p in vh.plugins()]
    assert "classification" in names and "datasets" in names


def test_promised_names_exist():
    for name in ("plugins", "components", "compose", "Task", "datasets", "load", "hookimpl",
                 "register_plugin", "ComponentConfig", "DataInfo", "TaskType", "Evaluator"):
        assert hasattr(vh, name), name
        assert name in dir(vh), name  # lazy ones too (REPL completion)
    assert callable(vh.datasets.load)
    assert vh.Task.from_config is not None
