"""Backend selection: Keras on JAX, and the XLA CPU defaults visionhooks adds."""

from __future__ import annotations

import os
import subprocess
import sys

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
