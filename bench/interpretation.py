#!/usr/bin/env python
"""Interpretation benchmark: saliency maps per second (Grad-CAM and input gradients) for
LeNet-5 (28×28×1) and U-Net (base 16, 128×128×3) on CPU, batched (one compiled call per
batch of 32) against one image at a time (the same compiled function with batch 1), and
against the obvious per-image loop written with ``jax.grad`` on the Keras model without
caching (rebuilding the sub-models for each image, as a naive user script would).

Usage: ``python bench/interpretation.py`` (~2 min), ``--quick`` (smoke check,
RESULTS.md untouched). Writes the section "## Interpretation" of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, machine_line, publish, versions  # noqa: E402

TITLE = "## Interpretation"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def rate(fn: Callable[[], Any], n: int, seconds: float) -> float:
    fn()  # compile
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def naive_gradcam(task, x):
    """Per image: build features/head models, take jax.grad through the Keras models."""
    import jax
    import jax.numpy as jnp
    import keras

    net = task.network
    from visionhooks.plugins.interpretation.graph import default_layer

    layer = net.get_layer(default_layer(net)).output
    out = []
    for img in x:
        feats = keras.Model(net.inputs, layer)
        head = keras.Model([*net.inputs, layer], net.outputs)
        xi = jnp.asarray(img[None])
        a = feats(xi)
        t = task.task_type.explain_targets(task.predict(img[None], raw=True))

        def score(a):
            return task.task_type.explain_score(head([xi, a]), t).sum()

        g = jax.grad(score)(a)
        out.append(jax.nn.relu((a * g.mean(axis=(1, 2), keepdims=True)).sum(-1)))
    return out


def models(quick: bool):
    import numpy as np

    import visionhooks as vh

    rng = np.random.default_rng(0)
    lenet = vh.compose(task="classification", model="lenet5")
    side = 64 if quick else 128
    unet = vh.compose(task="segmentation", model="unet", input_shape=(side, side, 3),
                      num_classes=2, model_config={"base_filters": 16, "depth": 4})
    return [("lenet5", lenet, rng.random((32, 28, 28, 1)).astype("float32")),
            (f"unet (base 16, {side}x{side}x3)", unet,
             rng.random((32, side, side, 3)).astype("float32"))]


def render(r: dict[str, Any]) -> str:
    lines = [TITLE, "", f"`python bench/interpretation.py` — {r['date']}", "",
             "| model | method | batched maps/s (batch 32) | one at a time maps/s | batched / "
             "one at a time | naive per-image script maps/s |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        naive = row.get("naive")
        lines.append(f"| {row['model']} | {row['method']} | {row['batched']:,.1f} | "
                     f"{row['single']:,.1f} | {row['batched'] / row['single']:.1f}x | "
                     + (f"{naive:,.2f}" if naive else "–") + " |")
    lines += ["", "How: `task.explain(images, method)` timed after a first (compiling) call; "
              "\"one at a time\" calls it with one image per call (its own compiled function "
              "for batch 1, reused); the naive script rebuilds the feature and head models "
              "and differentiates the Keras models eagerly for each image (Grad-CAM only). "
              "Maps are the seed's saliency (Grad-CAM at the last feature layer) and input "
              "gradients; both include the prediction that picks the explained class.", ""]
    lines.append(machine_line(r))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 0.5
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(()), "rows": []}
    for name, task, x in models(args.quick):
        for method in ("saliency", "gradients"):
            batched = rate(lambda: task.explain(x, method), len(x), args.seconds)
            single = rate(lambda: [task.explain(x[i:i + 1], method) for i in range(4)], 4,
                          args.seconds)
            row = {"model": name, "method": method, "batched": batched, "single": single}
            if method == "saliency":
                k = 4 if name == "lenet5" else 2
                t0 = time.perf_counter()
                naive_gradcam(task, x[:k])
                row["naive"] = k / (time.perf_counter() - t0)
            report["rows"].append(row)
            log(f"{name} {method}: batched {batched:,.1f}/s, one at a time {single:,.1f}/s"
                + (f", naive {row['naive']:.2f}/s" if "naive" in row else ""))
    return publish(report, render(report), TITLE, args.json, args.quick)


if __name__ == "__main__":
    sys.exit(main())
