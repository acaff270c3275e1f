"""`visionhooks explain`: figures and arrays from a saved task and image files."""

from __future__ import annotations

import numpy as np
from PIL import Image

import visionhooks as vh
from visionhooks.cli import main


def test_explain_writes_figures_and_arrays(tmp_path, capsys):
    task = vh.compose(task="classification", model="lenet5")
    model = task.save(tmp_path / "lenet.keras")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        p = tmp_path / f"digit{i}.png"
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    out = tmp_path / "figs"
    assert main(["explain", str(model), *paths, "--out", str(out), "--target", "3"]) == 0
    text = capsys.readouterr().out
    assert "saliency: 2 image(s)" in text and (out / "saliency.png").is_file()
    arrays = np.load(out / "saliency.npz")
    assert arrays["maps"].shape == (2, 28, 28) and list(arrays["targets"]) == [3, 3]
    assert main(["explain", str(model), "--method", "filters", "--layer", "conv1",
                 "--set", "steps=5", "--set", "count=3", "--out", str(out)]) == 0
    assert (out / "filters_conv1.png").is_file()
    assert np.load(out / "filters.npz")["images"].shape == (3, 28, 28, 1)
    capsys.readouterr()
    assert main(["explain", str(model), paths[0], "--method", "filters", "--layer", "conv1",
                 "--set", "steps=2", "--set", "count=2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "explain --method filters reads no images; the 1 given are ignored" in captured.err
    assert f"filters: arrays in {out / 'filters.npz'}" in captured.out
    assert main(["explain", str(model), *paths, "--layer", "nope", "--out", str(out)]) == 2
    assert "layer 'nope' is not a layer" in capsys.readouterr().err
    assert main(["explain", str(model), "--method", "gradients", "--out", str(out)]) == 2
    assert "explain --method gradients explains images: give image files" in \
        capsys.readouterr().err
    # what has its own flag is not an explainer parameter (it was a raw TypeError)
    assert main(["explain", str(model), *paths, "--set", "target=3", "--set", "method=x",
                 "--out", str(out)]) == 2
    assert "explain --set takes explainer parameters (e.g. --set steps=200); method is " \
           "--method, target is --target" in capsys.readouterr().err
