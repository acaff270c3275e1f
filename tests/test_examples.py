"""The example scripts run (tiny settings) and write the figures they promise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_augmentation_preview(tmp_path):
    load("augmentation_preview").main(tmp_path)
    for name in ("augment_mnist.png", "augment_shapes.png", "augment_detection.png"):
        assert is_png(tmp_path / name)


def test_interpretation_figures(tmp_path):
    paths = load("interpretation_figures").main([str(tmp_path), "--quick"])
    names = {p.name for p in paths}
    assert {"saliency.png", "gradients.png", "filters_conv1.png", "filters_conv2.png",
            "projections_0.png", "latent.png"} <= names
    assert all(is_png(p) for p in paths)


def test_model_parallel_example_splits_kernels_over_two_devices():
    """In its own process (it asks XLA for two CPU devices), under a timeout: a hung
    collective fails this test instead of stalling the suite."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "model_parallel.py"), "--steps", "2",
                           "--depth", "1"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sharded as P(None, None, None, 'model')" in proc.stdout
    assert "mean IoU after 4 steps" in proc.stdout


def test_streaming_example_trains_on_files_and_on_a_memory_map(tmp_path):
    import visionhooks as vh

    results = load("streaming").main([str(tmp_path), "--quick"])
    assert set(results) == {"image-folder, streamed", "LazySplit over a memory map"}
    assert all(a > 0.15 for a in results.values()), results  # chance is 0.1
    assert len(list((tmp_path / "digits" / "train").rglob("*.png"))) == 256
    assert (tmp_path / "folder" / "checkpoints").is_dir()  # the runs stay under OUT
    assert (tmp_path / "memmap" / "checkpoints").is_dir()
    task = vh.load(tmp_path / "streamed.keras")
    assert task.predict(np.zeros((2, 28, 28, 1), np.uint8))["labels"].shape == (2,)
