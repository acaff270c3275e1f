"""Several processes through Keras' distribution API (JAX multi-process, gloo on CPU):
two processes on loopback train exactly like one process with the same global batch,
only process 0 writes files, and its checkpoints load on one device. Every run is a
subprocess under a timeout, so a hung collective fails the test instead of the suite."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import visionhooks as vh
from visionhooks.errors import ConfigError

TIMEOUT = 240
SCRIPT = r"""
import json, sys, warnings
import visionhooks as vh
from visionhooks import distribute

distribute.initialize()  # from VISIONHOOKS_* (a no-op without a coordinator)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    data = vh.datasets.load("mnist", train_size=256, test_size=64)
task = vh.compose(task="classification", model="mlp", data=data, seed=1,
                  model_config={"hidden_units": [32], "dropout": 0.0},
                  train={"shuffle": False})
history = task.fit(data.train, epochs=2, batch_size=64, run_dir=sys.argv[1], verbose=0)
json.dump({"loss": history.history["loss"], "accuracy": history.history["accuracy"],
           "process": distribute.process_index(), "count": distribute.process_count(),
           "distribution": type(task.distribution).__name__},
          open(sys.argv[2], "w"))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("VISIONHOOKS_")
           or k in ("VISIONHOOKS_DATA", "VISIONHOOKS_OFFLINE")}
    out.update(KERAS_BACKEND="jax", XLA_FLAGS="", **extra)
    return out


def run_all(procs: list[subprocess.Popen]) -> None:
    try:
        for p in procs:
            p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"a training process did not finish within {TIMEOUT} s (hung collective?)")
    for p in procs:
        err = p.stderr.read().decode() if p.stderr else ""
        assert p.returncode == 0, err[-3000:]


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one = subprocess.Popen([sys.executable, str(script), str(tmp_path / "one"),
                            str(tmp_path / "one.json")], env=env(), stderr=subprocess.PIPE)
    run_all([one])
    port = free_port()
    procs = [subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / f"run{i}"), str(tmp_path / f"p{i}.json")],
        env=env(VISIONHOOKS_COORDINATOR=f"127.0.0.1:{port}", VISIONHOOKS_NUM_PROCESSES="2",
                VISIONHOOKS_PROCESS_ID=str(i)), stderr=subprocess.PIPE) for i in range(2)]
    run_all(procs)
    single = json.loads((tmp_path / "one.json").read_text())
    results = [json.loads((tmp_path / f"p{i}.json").read_text()) for i in range(2)]
    assert single["count"] == 1 and single["distribution"] == "NoneType"
    for i, r in enumerate(results):
        assert r["count"] == 2 and r["process"] == i and r["distribution"] == "DataParallel"
        np.testing.assert_allclose(r["loss"], single["loss"], rtol=1e-5)
        np.testing.assert_allclose(r["accuracy"], single["accuracy"], rtol=1e-6)
    # only process 0 writes checkpoints and the model
    assert (tmp_path / "run0" / "model.keras").is_file()
    assert (tmp_path / "run0" / "checkpoints").is_dir()
    assert not (tmp_path / "run1").exists()
    # and what it wrote loads on one device, predicting as the single-process model
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    a = vh.load(tmp_path / "run0" / "model.keras").predict(x, raw=True)
    b = vh.load(tmp_path / "one" / "model.keras").predict(x, raw=True)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_shard_rows_and_distribution_choices(monkeypatch):
    from visionhooks import distribute

    monkeypatch.setattr(distribute, "process_count", lambda: 2)
    monkeypatch.setattr(distribute, "process_index", lambda: 1)
    np.testing.assert_array_equal(distribute.shard_rows(10, 4), [2, 3, 6, 7])
    with pytest.raises(ConfigError, match="divisible by the 2 processes"):
        distribute.shard_rows(10, 5)
    with pytest.raises(ConfigError, match="do not fill one global batch"):
        distribute.shard_rows(3, 4)
    assert distribute.resolve("none") is None
    with pytest.raises(ConfigError, match="distribution must be one of"):
        distribute.resolve("model_parallel")


def test_initialize_needs_a_complete_description(monkeypatch):
    from visionhooks import distribute

    for k in distribute.ENV.values():
        monkeypatch.delenv(k, raising=False)
    assert distribute.initialize() is False  # no coordinator: a single process
    with pytest.raises(ConfigError, match="number of processes and this process's id"):
        distribute.initialize("127.0.0.1:1234")
    with pytest.raises(ConfigError, match="process_id must be in 0..1"):
        distribute.initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(ConfigError, match=r"--num-processes or VISIONHOOKS_NUM_PROCESSES is "
                                          r"missing$"):  # it ended in a leaked KeyError
        distribute.initialize("127.0.0.1:1234")
    with pytest.raises(ConfigError, match=r"--process-id or VISIONHOOKS_PROCESS_ID is not an "
                                          r"integer: 'x'"):
        monkeypatch.setenv("VISIONHOOKS_PROCESS_ID", "x")
        distribute.initialize("127.0.0.1:1234", 2)
    with pytest.raises(ConfigError, match="num_processes must be at least 1. Received: 0"):
        distribute.initialize("127.0.0.1:1234", 0, 0)
    # without a coordinator, process flags would be ignored: a single-process run
    with pytest.raises(ConfigError, match=r"--process-id \(1\) without a coordinator"):
        distribute.initialize(None, None, 1)
    with pytest.raises(ConfigError, match=r"--num-processes \(0\) without a coordinator"):
        distribute.initialize(None, 0, None)
    assert distribute.initialize(None, 1, 0) is False  # a launch script's one process
