"""The docs keep up with the code: hook specs, CLI commands and config fields.

In the manner of datasette's ``tests/test_docs.py``: a hook, a command or a config field
added without documentation fails here. Fast: imports neither Keras nor JAX.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest

from visionhooks import cli, hookspecs
from visionhooks.config import OptimizerConfig, TaskConfig, TrainConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _read(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"missing {path}"
    return path.read_text(encoding="utf-8")


def _hook_specs() -> list:
    specs = [f for _, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(f, "visionhooks_spec")]
    assert specs, "no hook specs found in visionhooks.hookspecs"
    return specs


def _def_line(func) -> str:
    """The ``def ...:`` line of a function as written in its source, whitespace collapsed
    (a signature spread over several lines becomes one)."""
    source = inspect.getsource(func)
    start = source.index("def ")
    end = source.index(":\n", start)
    return " ".join(source[start:end + 1].split()).replace("( ", "(").replace(" )", ")").replace(",)", ")")


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^#{1,6} ", line)]


@pytest.mark.parametrize("spec", _hook_specs(), ids=lambda f: f.__name__)
def test_hook_spec_docstring_documents_every_parameter(spec):
    doc = inspect.getdoc(spec)
    assert doc, f"hook spec {spec.__name__} has no docstring"
    for name in _params(spec):
        assert f":param {name}:" in doc, f"{spec.__name__}: ':param {name}:' missing"


@pytest.mark.parametrize("spec", _hook_specs(), ids=lambda f: f.__name__)
def test_hook_is_in_the_plugin_guide_with_its_signature(spec):
    text = _read("plugins.md")
    call = f"{spec.__name__}({', '.join(_params(spec))})"
    assert any(call in h for h in _headings(text)), \
        f"docs/plugins.md needs a heading containing {call!r}"
    lines = {" ".join(line.split()) for line in text.splitlines()}
    found = _def_line(spec) in lines
    assert found, f"docs/plugins.md needs the exact signature line {_def_line(spec)!r}"


def _subcommands() -> list[str]:
    actions = [a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert actions, "visionhooks.cli.parser() has no subcommands"
    return sorted(name for a in actions for name in a.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_cli_command_is_in_the_user_guide(command):
    text = _read("user-guide.md")
    found = re.search(rf"visionhooks {re.escape(command)}\b", text) is not None
    assert found, f"docs/user-guide.md never shows `visionhooks {command}`"


@pytest.mark.parametrize("model", [TaskConfig, OptimizerConfig, TrainConfig],
                         ids=lambda m: m.__name__)
def test_config_fields_are_in_the_user_guide(model):
    text = _read("user-guide.md")
    missing = [f for f in model.model_fields if f"`{f}`" not in text]
    assert not missing, f"docs/user-guide.md does not document {model.__name__} fields {missing}"


def test_every_component_kind_is_in_the_plugin_guide():
    text = _read("plugins.md")
    missing = [k for k in hookspecs.KINDS if f"`{k}`" not in text]
    assert not missing, f"docs/plugins.md does not mention kinds {missing}"


def test_docs_index_links_both_guides():
    text = _read("README.md")
    for target in ("user-guide.md", "plugins.md"):
        assert f"({target})" in text, target
