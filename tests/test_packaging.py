"""Packaging guards (STYLE.md 8.5): every package listed, the wheel holds only
``visionhooks/…`` with the entry points and the bundled sample; core imports no plugin."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for folder, prefix in (("core", "visionhooks"), ("plugins", "visionhooks.plugins")):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([prefix, *rel.parts]))
    assert found == listed, f"unlisted: {found - listed}, listed but missing: {listed - found}"


def test_core_imports_no_plugin_module():
    """Everything domain-specific lives in plugins, found through entry points: core may
    name the ``visionhooks.plugins`` package (errors.py: its folder) but import nothing
    inside it."""
    found = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [("." * node.level) + (node.module or "")]
                     if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names
                      if n.startswith(("visionhooks.plugins.", ".plugins", "..plugins"))]
    assert not found, found


def test_builtin_plugins_use_the_public_entry_point_group():
    eps = _pyproject()["project"]["entry-points"]["visionhooks"]
    assert eps["classification"] == "visionhooks.plugins.classification.hooks"
    assert eps["datasets"] == "visionhooks.plugins.datasets.hooks"


@pytest.mark.slow
def test_wheel_holds_only_visionhooks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path),
                           str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("visionhooks-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"visionhooks", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "visionhooks/plugins/classification/hooks.py" in names
    assert "visionhooks/plugins/datasets/data/mnist_sample.npz" in names
    assert not any(n.startswith(("core/", "plugins/", "tests/")) for n in names)
    # the native kernel, compiled (where a C++ compiler is), not its source
    assert not any(n.endswith(".cc") for n in names)
    if shutil.which("c++") or shutil.which("g++"):
        assert any(n.startswith("visionhooks/plugins/layers/_native") for n in names), names
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    eps = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "[visionhooks]" in eps
    assert "classification = visionhooks.plugins.classification.hooks" in eps
    assert "visionhooks = visionhooks.cli:main" in eps
