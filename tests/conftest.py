"""Shared fixtures: a hermetic environment, fresh plugin hosts, fake plugin distributions.

The environment is set here, at import, before anything imports Keras: the JAX backend,
no downloads ever (``VISIONHOOKS_OFFLINE=1``), no compilation cache under the home folder
(``VISIONHOOKS_COMPILATION_CACHE=0``; a test that wants one names its own) and the real
MNIST when the checkout sits beside ``shared/data`` (else datasets fall back to the
bundled sample).
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
import warnings
from importlib import metadata
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ["VISIONHOOKS_OFFLINE"] = "1"
os.environ["VISIONHOOKS_COMPILATION_CACHE"] = "0"  # CLI runs in tests write no ~/.cache
_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if (_DATA / "mnist.npz").is_file():
    os.environ["VISIONHOOKS_DATA"] = str(_DATA)

import pytest  # noqa: E402

from visionhooks import manager  # noqa: E402

#: Variables that change which plugins load; every test starts without them.
PLUGIN_ENV = ("VISIONHOOKS_LOAD_PLUGINS", "VISIONHOOKS_BLOCK_PLUGINS",
              "VISIONHOOKS_DISABLE_PLUGIN_AUTOLOAD", "VISIONHOOKS_STRICT_PLUGINS",
              "VISIONHOOKS_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def _plugin_env(monkeypatch):
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)


def builtin_entry_points() -> list[metadata.EntryPoint]:
    """The ``visionhooks`` entry points of our own distribution (not third parties')."""
    seen, out = set(), []
    for ep in metadata.entry_points(group=manager.GROUP):
        if manager._dist_name(ep) == manager.BUILTIN_DISTRIBUTION and ep.name not in seen:
            seen.add(ep.name)
            out.append(ep)
    return out


class FakeDists:
    """Installs fake plugin distributions in a temporary folder on ``sys.path``.

    Each ``add`` writes the plugin modules and a ``<dist>-<version>.dist-info`` with
    ``METADATA`` and ``entry_points.txt``, so ``importlib.metadata`` yields real
    ``EntryPoint`` objects bound to a real ``Distribution`` (what pluggy's own tests fake
    by monkeypatching). Module names are unique per test, so nothing leaks through
    ``sys.modules``.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._monkeypatch = monkeypatch
        self._tag = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def module_name(self, name: str) -> str:
        return f"vhfake_{name.replace('-', '_')}_{self._tag}"

    def add(self, dist: str, plugins: dict[str, str], version: str = "1.0") -> list[str]:
        """Add distribution ``dist`` with entry points ``{ep_name: module source}``;
        returns the module names."""
        lines, names = ["[visionhooks]"], []
        for ep_name, source in plugins.items():
            mod = self.module_name(ep_name)
            (self.root / f"{mod}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            lines.append(f"{ep_name} = {mod}")
            names.append(mod)
            self.modules.append(mod)
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        import importlib

        importlib.invalidate_caches()
        return names

    def entry_points(self) -> list[metadata.EntryPoint]:
        """Entry points of the fake distributions only, in the order they were added."""
        eps = [ep for d in metadata.distributions(path=[str(self.root)])
               for ep in d.entry_points if ep.group == manager.GROUP]
        order = {m: i for i, m in enumerate(self.modules)}
        return sorted(eps, key=lambda ep: order.get(ep.value, len(order)))

    def cleanup(self) -> None:
        for mod in self.modules:
            sys.modules.pop(mod, None)


@pytest.fixture
def fake_dists(tmp_path, monkeypatch):
    dists = FakeDists(tmp_path / "site", monkeypatch)
    yield dists
    dists.cleanup()


@pytest.fixture
def make_host(fake_dists):
    """``make_host(strict=..., builtins=True)``: a fresh ``Host`` over the built-in entry
    points plus every fake distribution added so far (not the installed third parties)."""

    def make(strict: bool | None = None, builtins: bool = True) -> manager.Host:
        eps = (builtin_entry_points() if builtins else []) + fake_dists.entry_points()
        return manager.Host(entry_points=eps, strict=strict)

    return make


@pytest.fixture
def host() -> manager.Host:
    """A fresh, loaded ``Host`` with only the built-in plugins."""
    return manager.Host(entry_points=builtin_entry_points()).load()


@pytest.fixture
def global_host():
    """``global_host(h)`` makes ``h`` the process-wide host (what ``vh.plugins()``,
    ``vh.compose`` and ``vh.datasets.load`` use) until the test ends."""
    previous = manager.set_host(None)
    manager.set_host(previous)

    def install(new: manager.Host) -> manager.Host:
        manager.set_host(new)
        return new

    yield install
    manager.set_host(previous)


def _load_mnist(**params):
    import visionhooks as vh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return vh.datasets.load("mnist", **params)


@pytest.fixture(scope="session")
def load_mnist():
    """``load_mnist(**params)``: ``vh.datasets.load("mnist", ...)`` without the
    sample-fallback warning (a clean checkout without ``shared/data`` uses the sample)."""
    return _load_mnist


@pytest.fixture(scope="session")
def mnist_small():
    """384 train / 128 test MNIST images (the real set when available)."""
    return _load_mnist(train_size=384, test_size=128)
