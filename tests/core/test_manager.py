"""Plugin discovery and load-error reporting (``visionhooks.manager.Host``).

Fake plugins are real distributions written to a temporary folder (see ``FakeDists`` in
``tests/conftest.py``): their entry points load through ``importlib.metadata`` exactly
like an installed third party's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types

from importlib import metadata

import pytest

import visionhooks as vh
from visionhooks import manager
from visionhooks.errors import (AmbiguousComponentError, ComponentNotFoundError,
                                PluginLoadError)

GOOD = """
from visionhooks import ComponentConfig, hookimpl

class ScaleConfig(ComponentConfig):
    scale: float = 1.0

def build_scale(config, info):
    return lambda outputs: outputs * config.scale

@hookimpl
def register_postprocessors(register):
    register("scale", build_scale, config=ScaleConfig, description="multiply outputs")
"""

BROKEN_IMPORT = """
raise ImportError("needs libfoo >= 2")
"""

RAISES_REGISTERING = """
from visionhooks import hookimpl

@hookimpl
def register_losses(register):
    register("half-done", "somewhere:factory")
    raise RuntimeError("boom while registering")

@hookimpl
def register_metrics(register):
    register("still-here", "somewhere:factory")
"""

MISSPELLED = """
from visionhooks import hookimpl

@hookimpl
def register_model(register):
    register("never-registered", "somewhere:factory")

@hookimpl
def register_losses(register):
    register("never-either", "somewhere:factory")
"""

DUPLICATE = """
from visionhooks import hookimpl
from visionhooks.plugins.classification.config import LeNet5Config

@hookimpl
def register_models(register):
    register("lenet5", "visionhooks.plugins.classification.models:build_lenet5",
             config=LeNet5Config, tasks=("classification",))
"""

WRONG_API = """
from visionhooks import hookimpl

VISIONHOOKS_API = ">=2,<3"

@hookimpl
def register_losses(register):
    register("from-the-future", "somewhere:factory")
"""


@pytest.fixture
def zoo(fake_dists):
    """One healthy third-party plugin and one of every kind of broken one."""
    fake_dists.add("vh-good", {"good": GOOD}, version="2.1.0")
    fake_dists.add("vh-broken", {"broken": BROKEN_IMPORT}, version="0.3")
    fake_dists.add("vh-raises", {"raises": RAISES_REGISTERING})
    fake_dists.add("vh-misspelled", {"misspelled": MISSPELLED})
    fake_dists.add("vh-dup", {"dup": DUPLICATE}, version="0.9")
    fake_dists.add("vh-future", {"future": WRONG_API})
    return fake_dists


def by_name(host: manager.Host) -> dict[str, manager.PluginInfo]:
    return {i.name: i for i in host.plugins()}


# The built-in plugins: the `visionhooks` group entry points of our own distribution.
BUILTINS = {ep.name for ep in metadata.entry_points(group="visionhooks")
            if ep.dist is not None and ep.dist.metadata["Name"] == "visionhooks"}


def test_builtins_are_found_through_the_entry_point_group(host):
    infos = by_name(host)
    assert set(infos) == BUILTINS and {"classification", "datasets"} <= BUILTINS
    cls = infos["classification"]
    assert (cls.status, cls.error, cls.traceback) == ("ok", None, None)
    assert cls.distribution == "visionhooks" and cls.version == vh.__version__
    assert cls.entry_point == "visionhooks.plugins.classification.hooks"
    assert cls.components["model"] == ["lenet5", "mlp"]
    assert "register_models" in cls.hooks
    assert infos["datasets"].components == {"dataset": ["image-folder", "mnist"]}
    assert host.failed() == {}


def test_every_broken_plugin_is_reported_and_the_others_still_work(zoo, make_host):
    h = make_host()
    infos = by_name(h)

    broken = infos["broken"]
    assert broken.status == "failed" and not broken.loaded
    assert broken.error == "import: ImportError: needs libfoo >= 2"
    assert (broken.distribution, broken.version) == ("vh-broken", "0.3")
    assert broken.entry_point == zoo.module_name("broken")
    assert "needs libfoo" in broken.traceback and f"{zoo.module_name('broken')}.py" \
        in broken.traceback
    assert broken.components == {}

    raises = infos["raises"]
    assert raises.status == "partial" and raises.loaded
    assert "register: RuntimeError: boom while registering" in raises.error
    assert "boom while registering" in raises.traceback
    # What it registered before raising, and its other hook, are kept and reported.
    assert raises.components == {"loss": ["half-done"], "metric": ["still-here"]}

    misspelled = infos["misspelled"]
    assert misspelled.status == "failed"
    assert "unknown hook 'register_model'" in misspelled.error
    assert "did you mean 'register_models'?" in misspelled.error
    assert not h.pm.has_plugin("misspelled")  # unregistered: none of its hooks ran
    assert misspelled.components == {}
    assert "never-registered" not in h.components("model")
    assert "never-either" not in h.components("loss")

    dup = infos["dup"]
    assert dup.status == "partial"
    assert "model 'lenet5' is also registered by plugin 'classification'" in dup.error
    assert (dup.distribution, dup.version) == ("vh-dup", "0.9")

    future = infos["future"]
    assert future.status == "failed"
    assert future.error == "api: supports plugin API >=2,<3, this visionhooks provides 1.0"
    assert "from-the-future" not in h.components("loss")

    good = infos["good"]
    assert (good.status, good.error, good.distribution, good.version) == \
        ("ok", None, "vh-good", "2.1.0")
    assert good.components == {"postprocessor": ["scale"]}
    assert h.component("postprocessor", "scale").build({"scale": 2.0}, None)(3.0) == 6.0
    assert infos["classification"].status == "ok"
    assert "mlp" in h.components("model")
    assert h.component("model", "mlp").plugin == "classification"

    assert set(h.failed()) == {"broken", "raises", "misspelled", "dup", "future"}
    json.dumps([i.to_dict() for i in h.plugins()])  # what `visionhooks plugins --json` prints


def test_a_duplicate_name_stays_reachable_by_plugin_and_the_bare_name_is_ambiguous(
        fake_dists, make_host):
    fake_dists.add("vh-dup", {"dup": DUPLICATE})
    h = make_host()
    assert "lenet5" not in h.components("model")
    assert {"classification:lenet5", "dup:lenet5", "mlp"} <= set(h.components("model"))
    assert h.component("model", "classification:lenet5").plugin == "classification"
    assert h.component("model", "dup:lenet5").plugin == "dup"
    with pytest.raises(AmbiguousComponentError) as exc:
        h.component("model", "lenet5")
    assert "'classification:lenet5'" in str(exc.value) and "'dup:lenet5'" in str(exc.value)
    # The first owner is untouched; only the newcomer carries the problem.
    infos = by_name(h)
    assert infos["classification"].status == "ok" and infos["dup"].status == "partial"
    # A task composed from the qualified name keeps it, so its network rebuilds (load,
    # resume) from the same plugin.
    task = vh.compose(task="classification", model="classification:lenet5", host=h)
    assert task.config.model.name == "classification:lenet5"
    assert task.network.count_params() == 61706


def test_api_range_that_includes_this_version_loads(fake_dists, make_host):
    fake_dists.add("vh-ok", {"ok": "VISIONHOOKS_API = '>=1,<2'\n" + GOOD})
    fake_dists.add("vh-bad", {"nonsense": "VISIONHOOKS_API = 'banana'\n" + GOOD})
    infos = by_name(make_host(builtins=False))
    assert infos["ok"].status == "ok"
    assert infos["nonsense"].status == "failed"
    assert "VISIONHOOKS_API='banana' is not a version range" in infos["nonsense"].error


def test_syntax_error_in_a_plugin_is_an_import_problem(fake_dists, make_host):
    fake_dists.add("vh-syntax", {"syntax": "def broken(:\n"})
    info = by_name(make_host())["syntax"]
    assert info.status == "failed" and info.error.startswith("import: SyntaxError")


TAKES_A_BUILTIN_NAME = """
from visionhooks import hookimpl

@hookimpl
def register_losses(register):
    register("impostor-loss", "somewhere:factory")
"""


@pytest.mark.parametrize("first", [True, False])
def test_a_builtin_keeps_its_name_whatever_the_discovery_order(fake_dists, first, monkeypatch):
    fake_dists.add("vh-taken", {"classification": TAKES_A_BUILTIN_NAME})
    theirs = fake_dists.entry_points()
    ours = [ep for ep in metadata.entry_points(group="visionhooks")
            if ep.dist is not None and ep.dist.metadata["Name"] == "visionhooks"]
    h = manager.Host(entry_points=theirs + ours if first else ours + theirs)
    infos = by_name(h)
    assert infos["classification"].distribution == "visionhooks"
    assert infos["classification#2"].distribution == "vh-taken"
    assert "already registered (by visionhooks)" in infos["classification#2"].error
    assert {"lenet5", "mlp"} <= set(h.components("model"))
    # blocking by distribution:name leaves the built-in of that name alone
    monkeypatch.setenv("VISIONHOOKS_BLOCK_PLUGINS", "vh-taken:classification")
    infos = by_name(manager.Host(entry_points=theirs + ours))
    assert "classification#2" not in infos and infos["classification"].loaded


def test_a_plugin_calling_sys_exit_on_import_is_recorded(fake_dists, make_host):
    fake_dists.add("vh-exits", {"exits": "import sys\nsys.exit('no GPU, giving up')\n"})
    h = make_host()
    info = by_name(h)["exits"]
    assert info.status == "failed" and info.error.startswith("import: SystemExit")
    assert "lenet5" in h.components("model")


WRAPPER = """
from visionhooks import hookimpl

@hookimpl(wrapper=True)
def register_losses(register):
    register("wrapped-loss", "somewhere:factory")
    return (yield)
"""


def test_a_registration_hook_marked_as_wrapper_is_reported(fake_dists, make_host):
    fake_dists.add("vh-wrapper", {"wrapper": WRAPPER})
    h = make_host()
    info = by_name(h)["wrapper"]
    assert info.status == "failed"
    assert "hooks ['register_losses'] of plugin 'wrapper' are wrappers" in info.error
    assert "wrapped-loss" not in h.components("loss")


def test_a_hook_without_the_hookimpl_marker_is_reported(host):
    class Undecorated:
        def register_models(self, register):
            register("never", "somewhere:factory")

    info = host.register_plugin(Undecorated(), name="undecorated")
    assert "'register_models' of plugin 'undecorated' is not marked @visionhooks.hookimpl" \
        in info.error
    assert "never" not in host.components("model")


def test_strict_mode_raises_every_load_error_at_once(zoo, make_host):
    with pytest.raises(PluginLoadError) as exc:
        make_host(strict=True).load()
    msg = str(exc.value)
    for name in ("broken", "raises", "misspelled", "dup", "future"):
        assert f"- {name}:" in msg
    assert "needs libfoo" in msg and "- good:" not in msg
    h = make_host(strict=True)
    for _ in range(2):  # every call, not only the first: a strict host serves nothing broken
        with pytest.raises(PluginLoadError):
            h.load()


def test_strict_mode_from_the_environment(zoo, make_host, monkeypatch):
    monkeypatch.setenv("VISIONHOOKS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="needs libfoo"):
        make_host().load()


def test_strict_mode_is_quiet_when_everything_loads(fake_dists, make_host):
    fake_dists.add("vh-good", {"good": GOOD})
    h = make_host(strict=True).load()
    assert h.failed() == {}


def test_load_plugins_env_selects_thirdparty_entry_points(zoo, make_host, monkeypatch):
    # Built-ins always load (unless blocked by name); the list selects third parties.
    monkeypatch.setenv("VISIONHOOKS_LOAD_PLUGINS", "good")
    assert set(by_name(make_host())) == {"good"} | BUILTINS
    monkeypatch.setenv("VISIONHOOKS_LOAD_PLUGINS", "")
    h = make_host()
    assert set(by_name(h)) == BUILTINS
    assert {"lenet5", "mlp"} <= set(h.components("model"))
    assert "tiny-cnn" not in h.components("model")
    monkeypatch.setenv("VISIONHOOKS_BLOCK_PLUGINS", "classification")
    assert set(by_name(make_host())) == BUILTINS - {"classification"}


def test_block_plugins_env_skips_entry_points(zoo, make_host, monkeypatch):
    monkeypatch.setenv("VISIONHOOKS_BLOCK_PLUGINS", "broken,dup,raises")
    h = make_host()
    names = set(by_name(h))
    assert not names & {"broken", "dup", "raises"}
    assert {"good", "classification", "datasets", "misspelled", "future"} <= names
    assert "lenet5" in h.components("model")  # no longer ambiguous


def test_disable_autoload_keeps_only_the_builtins(zoo, make_host, monkeypatch):
    monkeypatch.setenv("VISIONHOOKS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert set(by_name(make_host())) == BUILTINS


def test_trace_env_prints_each_hook_call(fake_dists, make_host, monkeypatch, capsys):
    fake_dists.add("vh-good", {"good": GOOD})
    monkeypatch.setenv("VISIONHOOKS_TRACE_PLUGINS", "1")
    make_host().load()
    err = capsys.readouterr().err
    assert "register_models of plugin 'classification'" in err
    assert "register_postprocessors of plugin 'good'" in err


class InlineLosses:
    """A notebook plugin: no packaging, just an object with hook implementations."""

    @vh.hookimpl
    def register_losses(self, register):
        register("inline-loss", lambda config, info: ("built", info),
                 description="a loss defined in a notebook")


def test_register_plugin_inline_and_unregister(host):
    info = host.register_plugin(InlineLosses(), name="inline", version="0.0.1",
                                distribution="my-notebook")
    assert (info.status, info.hooks, info.components) == \
        ("ok", ["register_losses"], {"loss": ["inline-loss"]})
    assert info in host.plugins() and host.plugin_of(host.component("loss", "inline-loss")) \
        is info
    assert host.component("loss", "inline-loss").build(None, "info") == ("built", "info")

    host.unregister_plugin("inline")
    assert "inline-loss" not in host.components("loss")
    assert "inline" not in {i.name for i in host.plugins()}
    with pytest.raises(ComponentNotFoundError):
        host.component("loss", "inline-loss")
    # ...and it can come back.
    assert host.register_plugin(InlineLosses(), name="inline").status == "ok"


def test_register_plugin_accepts_a_module(host):
    mod = types.ModuleType("my_plugin_module")
    mod.register_losses = vh.hookimpl(lambda register: register("mod-loss", "a:b"))
    info = host.register_plugin(mod)
    assert info.name == "my_plugin_module" and info.components == {"loss": ["mod-loss"]}


def test_register_plugin_twice_under_one_name_is_reported(host):
    host.register_plugin(InlineLosses(), name="inline")
    second = host.register_plugin(InlineLosses(), name="inline")
    assert second.status == "failed"
    assert "a plugin named 'inline' is already registered" in second.error
    assert host.component("loss", "inline-loss").plugin == "inline"  # the first still works


def test_hook_with_arguments_not_in_the_spec_is_rejected_and_named(host):
    class BadArgs:
        @vh.hookimpl
        def register_models(self, register, colour):
            register("never", "a:b")

    info = host.register_plugin(BadArgs(), name="bad-args")
    assert info.status == "failed" and info.error.startswith("validate: PluginValidationError")
    assert "colour" in info.error and "bad-args" in info.error
    assert "never" not in host.components("model")


def test_a_raising_lifecycle_hook_is_recorded_and_skipped(host, capsys):
    class Raises:
        @vh.hookimpl
        def fit_callbacks(self, task):
            raise ValueError("no callbacks today")

    class Gives:
        @vh.hookimpl
        def fit_callbacks(self, task):
            return ["a callback"]

    host.register_plugin(Raises(), name="raises")
    host.register_plugin(Gives(), name="gives")
    assert host.call_lifecycle("fit_callbacks", task=None) == [["a callback"]]
    assert "fit_callbacks: ValueError: no callbacks today" in by_name(host)["raises"].error
    assert "plugin 'raises' raised in fit_callbacks" in capsys.readouterr().err


def test_public_api_uses_the_process_wide_host(global_host, fake_dists, make_host):
    fake_dists.add("vh-good", {"good": GOOD})
    h = global_host(make_host())
    assert manager.host() is h
    assert "good" in {p.name for p in vh.plugins()}
    assert "scale" in vh.components("postprocessor")
    vh.register_plugin(InlineLosses(), name="inline")
    assert "inline-loss" in h.components("loss")
    vh.unregister_plugin("inline")
    assert "inline-loss" not in vh.components("loss")


def test_global_host_fixture_restored_the_previous_host():
    # Runs after the test above (file order): the real host must be back.
    names = {p.name for p in vh.plugins()}
    assert "classification" in names and "good" not in names
    assert "scale" not in vh.components("postprocessor")


def test_listing_plugins_imports_neither_jax_nor_keras():
    code = ("import sys, visionhooks as vh; vh.plugins(); vh.components('model'); "
            "print('jax' in sys.modules, 'keras' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_warn_user_points_past_visionhooks_and_the_calling_module(tmp_path):
    """A warning raised deep inside visionhooks, or by a plugin module that visionhooks
    called, is attributed to the first caller outside both: the user's line."""
    import importlib.util
    import warnings

    plugin = tmp_path / "someplugin.py"
    plugin.write_text("from visionhooks.errors import warn_user\n"
                      "def component():\n    warn_user('capped')\n")
    spec = importlib.util.spec_from_file_location("someplugin", plugin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        module.component()
    assert record[0].filename == __file__ and record[0].category is UserWarning
