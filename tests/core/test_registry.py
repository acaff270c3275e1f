"""The registry: register callbacks, lookups, unknown and ambiguous names."""

from __future__ import annotations

import pydantic
import pytest

import visionhooks as vh
from visionhooks.errors import (AmbiguousComponentError, ComponentError,
                                ComponentNotFoundError, ConfigError)
from visionhooks.registry import Registry


class Params(vh.ComponentConfig):
    size: int = 3


def factory(config, info):
    return ("built", config.size, info)


def no_dup(first, dup):  # pragma: no cover - fails the test if called
    raise AssertionError(f"unexpected duplicate {first} / {dup}")


def test_register_find_build_and_schema():
    reg = Registry()
    register = reg.make_register("model", "plug", no_dup)
    register("net-a", factory, config=Params, tasks="classification", description="A")
    register("net.b_2", "visionhooks.registry:Registry")
    comp = reg.get("model", "net-a")
    assert (comp.kind, comp.name, comp.plugin, comp.qualified_name) == \
        ("model", "net-a", "plug", "plug:net-a")
    assert comp.tasks == ("classification",) and comp.metadata["description"] == "A"
    assert comp.build({"size": 5}, "info") == ("built", 5, "info")
    assert comp.build(None, None) == ("built", 3, None)
    assert comp.config.model_json_schema()["properties"]["size"]["default"] == 3
    # "module:attribute" factories are imported on first use.
    lazy = reg.get("model", "plug:net.b_2")
    assert lazy.config is vh.EmptyConfig and lazy.resolve_factory() is Registry
    assert reg.names("model") == ["net-a", "net.b_2"]
    assert reg.names("loss") == []


def test_a_factory_string_that_does_not_import_names_plugin_and_factory():
    reg = Registry()
    reg.make_register("loss", "plug", no_dup)("gone", "no_such_module_xyz:build")
    with pytest.raises(ComponentError) as exc:
        reg.get("loss", "gone").resolve_factory()
    msg = str(exc.value)
    assert "'gone'" in msg and "'plug'" in msg and "no_such_module_xyz:build" in msg


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "", "-dash-first", "a/b", "a:b", 42,
                                  None])
def test_bad_names_are_rejected(name):
    register = Registry().make_register("model", "plug", no_dup)
    with pytest.raises(ComponentError, match=r"name must be lower-case.*Received: name="):
        register(name, factory)


@pytest.mark.parametrize("bad", [42, "no-colon", None])
def test_non_callable_factories_are_rejected(bad):
    register = Registry().make_register("model", "plug", no_dup)
    with pytest.raises(ComponentError, match="must be callable or a 'module:attribute'"):
        register("net", bad)


@pytest.mark.parametrize("kind, key, meant", [
    ("augmentation", "geometic", "geometric"), ("augmentation", "move", "moves"),
    ("model", "task", "tasks"), ("explainer", "needs_image", "needs_images")])
def test_near_misses_of_metadata_the_core_reads_are_rejected(kind, key, meant):
    """geometic=True was stored as is: the augmentation then passed as photometric and
    compose let it shift images under their masks."""
    register = Registry().make_register(kind, "plug", no_dup)
    with pytest.raises(ComponentError, match=rf"registers metadata '{key}'; did you mean "
                                             rf"'{meant}'\?"):
        register("roll", factory, **{key: True})


@pytest.mark.parametrize("key", ["masks", "moved", "geometry", "is_geometric", "needs_masks",
                                 "description_md", "descriptor", "tags", "mode", "task_types"])
def test_other_metadata_keys_are_the_plugins_own(key):
    register = Registry().make_register("augmentation", "plug", no_dup)
    register("roll", factory, geometric=True, **{key: 1})


@pytest.mark.parametrize("bad", [dict, {"size": int}, Params(), int])
def test_configs_that_are_not_pydantic_models_are_rejected(bad):
    register = Registry().make_register("model", "plug", no_dup)
    with pytest.raises(ComponentError, match="must be a pydantic model class"):
        register("net", factory, config=bad)


def test_plain_pydantic_models_are_accepted_as_configs():
    class Plain(pydantic.BaseModel):
        x: int = 1

    reg = Registry()
    reg.make_register("model", "plug", no_dup)("net", factory, config=Plain)
    assert reg.get("model", "net").validate({"x": 2}).x == 2


def test_registering_one_name_twice_in_one_plugin_is_an_error():
    register = Registry().make_register("model", "plug", no_dup)
    register("net", factory)
    with pytest.raises(ComponentError, match="registered model 'net' twice"):
        register("net", factory)


def test_duplicates_across_plugins():
    reg, seen = Registry(), []
    reg.make_register("model", "first", no_dup)("net", factory)
    reg.make_register("model", "second", lambda a, b: seen.append((a, b)))("net", factory)
    assert [(a.qualified_name, b.qualified_name) for a, b in seen] == \
        [("first:net", "second:net")]
    assert reg.names("model") == ["first:net", "second:net"]
    with pytest.raises(AmbiguousComponentError, match="'first:net', 'second:net'"):
        reg.get("model", "net")
    assert reg.get("model", "second:net").plugin == "second"
    assert reg.find("model", "third:net") is None
    reg.remove_plugin("first")
    assert reg.get("model", "net").plugin == "second"
    assert reg.names("model") == ["net"]


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ComponentNotFoundError) as exc:
        Registry().names("modle")
    assert "did you mean 'model'?" in str(exc.value).lower()
    assert "augmentation" in str(exc.value)


BROKEN = 'raise ImportError("needs libfoo")\n'


def test_unknown_name_suggests_lists_and_names_failed_plugins(fake_dists, make_host):
    fake_dists.add("vh-broken", {"broken": BROKEN})
    h = make_host()
    with pytest.raises(ComponentNotFoundError) as exc:
        h.component("model", "lenet")
    msg = str(exc.value)
    assert "unknown model 'lenet'" in msg
    # The closest name comes first (other near misses may follow it).
    assert "did you mean 'lenet5'" in msg.lower()
    listed = msg.split("Registered models: ")[1].split(".")[0].split(", ")
    assert listed == sorted(h.components("model")) and {"lenet5", "mlp"} <= set(listed)
    assert "broken (import: ImportError: needs libfoo)" in msg
    assert "visionhooks plugins" in msg


def test_unknown_name_without_failed_plugins_or_near_miss(host):
    with pytest.raises(ComponentNotFoundError) as exc:
        host.component("loss", "zzzzzz")
    msg = str(exc.value)
    assert "did you mean" not in msg.lower() and "failed to load" not in msg
    assert "Registered losses: " + ", ".join(host.components("loss")) + "." in msg
    assert "crossentropy" in host.components("loss")


class BadName:
    @vh.hookimpl
    def register_models(self, register):
        register("Bad Name", factory)


class NotCallable:
    @vh.hookimpl
    def register_models(self, register):
        register("fine", factory)
        register("not-callable", 42)


class DictConfig:
    @vh.hookimpl
    def register_losses(self, register):
        register("dict-config", factory, config={"size": 3})


@pytest.mark.parametrize("plugin, expected", [
    (BadName, "register: ComponentError: plugin 'bad-name': model name must be lower-case"),
    (NotCallable, "register: ComponentError: plugin 'not-callable': the factory of model "
                  "'not-callable' must be callable"),
    (DictConfig, "register: ComponentError: plugin 'dict-config': the config of loss "
                 "'dict-config' must be a pydantic model class"),
])
def test_bad_register_calls_are_recorded_as_the_plugins_error(host, plugin, expected):
    name = {BadName: "bad-name", NotCallable: "not-callable", DictConfig: "dict-config"}[plugin]
    info = host.register_plugin(plugin(), name=name)
    assert info.status == "partial" and info.error.startswith(expected)
    assert "ComponentError" in info.traceback
    assert host.failed()[name] == info.error
    assert host.component("model", "lenet5").plugin == "classification"  # others unharmed
    if plugin is NotCallable:  # what it registered before the bad call is kept
        assert info.components == {"model": ["fine"]}


def test_invalid_parameters_name_the_field(host):
    comp = host.component("model", "lenet5")
    with pytest.raises(ConfigError) as exc:
        comp.validate({"filters": "x"})
    assert "filters" in str(exc.value) and "model 'lenet5'" in str(exc.value)
    with pytest.raises(ConfigError, match="filterz"):
        comp.validate({"filterz": [6, 16]})
    with pytest.raises(ConfigError, match="num_classes"):
        comp.validate({"num_classes": 1})
    assert comp.validate({"filters": [4, 8]}).filters == (4, 8)


def test_a_name_that_is_not_a_string_is_a_config_error(host):
    with pytest.raises(ConfigError, match=r"loss names are strings, e.g. \['.*'\]. "
                                          r"Received: \{'name': 'x'\}"):
        host.component("loss", {"name": "x"})
