"""Backend selection: Keras on JAX, and the XLA CPU defaults visionhooks adds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from visionhooks import backend

FLAG = "xla_cpu_experimental_ynn_fusion_type"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(backend.XLA_DEFAULTS_ENV, raising=False)
    return monkeypatch


def test_the_cpu_defaults_are_added_once_and_never_override_the_user(env):
    env.setattr(backend, "XLA_CPU_DEFAULTS", {FLAG: ("", "0", "999")})
    added = backend.xla_cpu_defaults()
    assert added == [f"--{FLAG}="]
    assert os.environ["XLA_FLAGS"] == f"--{FLAG}="
    assert backend.xla_cpu_defaults() == []  # already there
    env.setenv("XLA_FLAGS", f"--xla_force_host_platform_device_count=2 --{FLAG}=X")
    assert backend.xla_cpu_defaults() == []
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 --{FLAG}=X"


def test_the_defaults_can_be_turned_off_and_skip_unknown_jaxlib_versions(env):
    env.setenv(backend.XLA_DEFAULTS_ENV, "0")
    assert backend.xla_cpu_defaults() == [] and "XLA_FLAGS" not in os.environ
    env.delenv(backend.XLA_DEFAULTS_ENV)
    env.setattr(backend, "XLA_CPU_DEFAULTS", {FLAG: ("", "0.0.1", "0.0.2")})
    assert backend.xla_cpu_defaults() == [] and "XLA_FLAGS" not in os.environ


def test_xla_accepts_the_defaults_of_the_installed_jaxlib():
    # XLA aborts the process on a flag it does not know: run JAX in a child process
    code = ("import os, visionhooks, jax; print(os.environ.get('XLA_FLAGS', '')); "
            "print(float(jax.numpy.ones(3).sum()))")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", backend.XLA_DEFAULTS_ENV)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    flags, total = out.stdout.split("\n")[:2]
    assert float(total) == 3.0
    from importlib.metadata import version

    from packaging.version import Version

    jaxlib = Version(version("jaxlib"))
    expected = [f"--{name}={value}" for name, (value, lo, hi) in backend.XLA_CPU_DEFAULTS.items()
                if Version(lo) <= jaxlib < Version(hi)]
    assert flags.split() == expected


def _cache_setting(extra_env: dict[str, str]) -> list[str]:
    """What ``compilation_cache()`` decides in a fresh process (JAX not yet imported)."""
    code = ("import os; from visionhooks import backend; print(backend.compilation_cache()); "
            "print(os.environ.get('JAX_COMPILATION_CACHE_DIR')); "
            "print(os.environ.get('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'))")
    env = {k: v for k, v in os.environ.items()
           if k not in (backend.COMPILATION_CACHE_ENV, "JAX_COMPILATION_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", code], env={**env, **extra_env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split("\n")[:3]


def test_the_compilation_cache_folder_follows_the_environment(tmp_path):
    xdg = str(tmp_path / "xdg")
    default = os.path.join(xdg, "visionhooks", "jax", backend._cpu_kind())
    assert _cache_setting({"XDG_CACHE_HOME": xdg}) == [default, default, "0"]
    for on in ("1", "true", "on"):  # "on" words mean the default folder, not a folder "1"
        assert _cache_setting({"XDG_CACHE_HOME": xdg,
                               backend.COMPILATION_CACHE_ENV: on})[0] == default
    mine = str(tmp_path / "mine")
    assert _cache_setting({backend.COMPILATION_CACHE_ENV: mine}) == [mine, mine, "0"]
    assert _cache_setting({backend.COMPILATION_CACHE_ENV: "0"}) == ["None", "None", "None"]
    jax_own = str(tmp_path / "jax-own")  # the user's own JAX setting wins
    assert _cache_setting({"JAX_COMPILATION_CACHE_DIR": jax_own}) == [jax_own, jax_own, "None"]
    # in a process that has imported JAX already (this one), nothing changes
    assert backend.compilation_cache() is None


def test_a_second_cli_run_compiles_nothing_new(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, backend.COMPILATION_CACHE_ENV: str(cache)}
    config = Path(__file__).resolve().parents[2] / "examples" / "configs" / "mlp_mnist.toml"
    cmd = [sys.executable, "-m", "visionhooks", "train", str(config), "--epochs", "1",
           "--batch-size", "64", "--quiet",
           "--set", "data.train_size=256", "--set", "data.test_size=64"]

    def run(name: str) -> set[str]:
        out = subprocess.run([*cmd, "--run-dir", str(tmp_path / name)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return {p.name for p in cache.iterdir()}

    first = run("one")
    assert first  # the train step, evaluation and the variables' initializers
    assert run("two") == first  # every program of the second run came from the cache
