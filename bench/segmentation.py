#!/usr/bin/env python
"""Segmentation benchmark: U-Net on ``shapes`` (128×128 aerial-like scenes).

1. Trains ``examples/configs/unet_shapes.toml`` within a wall-clock budget (default 20
   minutes for compile + training) and reports mean IoU, per-class IoU, Dice and pixel
   accuracy on held-out scenes (target: mean IoU >= 0.90).
2. Times training images/s of the framework (``Task.fit``) against the same U-Net
   (the plugin's builder) compiled and fitted in plain Keras in the same process, in
   interleaved short runs (first epoch of each run compiles and is left out), and
   reports the ratio (target: within 3%).
3. Writes the section "## Segmentation (shapes)" of ``bench/RESULTS.md``.

Usage: ``python bench/segmentation.py`` (~25 min on 2 cores), ``--quick`` (smoke check,
RESULTS.md untouched).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, machine, machine_line, publish, versions  # noqa: E402

TITLE = "## Segmentation (shapes)"
CONFIG = REPO / "examples" / "configs" / "unet_shapes.toml"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


class EpochTimer:
    """Keras callback: wall time at each epoch end; stops training past a budget."""

    def __init__(self, budget_s: float | None = None):
        import keras

        outer = self

        class _CB(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                outer.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                if budget_s is not None and time.perf_counter() - outer.start > budget_s:
                    self.model.stop_training = True
                    outer.stopped = True

            def on_epoch_end(self, epoch, logs=None):
                outer.ends.append(time.perf_counter() - outer.start)
                log(f"epoch {epoch + 1}: {({k: round(float(v), 4) for k, v in (logs or {}).items()})}")

        self.callback = _CB()
        self.start, self.stopped, self.ends = 0.0, False, []

    def steady_epoch_s(self) -> float | None:
        steps = [b - a for a, b in zip(self.ends, self.ends[1:])]
        return statistics.median(steps) if steps else None


def load_task(args, data, epochs: int):
    import visionhooks as vh
    from visionhooks.config import apply_overrides, read_config_file

    raw = apply_overrides(read_config_file(CONFIG), [f"train.epochs={epochs}"])
    return vh.Task.from_config(raw, data=data)


def plain_keras(task, data):
    """The same U-Net, loss and optimizer settings, compiled and fitted in plain Keras."""
    import keras

    from visionhooks.plugins.segmentation.unet import build_unet

    model_cfg = task.components["model"].validate(task.config.model.params)
    keras.utils.set_random_seed(task.config.seed or 0)
    net = build_unet(model_cfg, task.info)
    net.compile(keras.optimizers.Adam(task.config.optimizer.learning_rate),
                keras.losses.BinaryCrossentropy(), jit_compile=True)
    return net


def throughput(args, data) -> dict[str, Any]:
    x, y = data.train
    n = min(len(x), args.timing_images)
    x, y = x[:n], y[:n]
    bs = args.batch_size
    rates: dict[str, list[float]] = {"framework": [], "plain_keras": []}
    for rnd in range(args.rounds):
        order = ("framework", "plain_keras") if rnd % 2 == 0 else ("plain_keras", "framework")
        for who in order:
            timer = EpochTimer()
            if who == "framework":
                task = load_task(args, data, args.timing_epochs)
                with tempfile.TemporaryDirectory() as run_dir:
                    task.fit(x, y, epochs=args.timing_epochs, batch_size=bs, verbose=0,
                             run_dir=run_dir, callbacks=[timer.callback])
            else:
                net = plain_keras(load_task(args, data, 1), data)
                net.fit(x, y[..., None].astype("float32"), epochs=args.timing_epochs,
                        batch_size=bs, verbose=0, callbacks=[timer.callback])
            rates[who].append(n / timer.steady_epoch_s())
            log(f"round {rnd + 1} {who}: {rates[who][-1]:.1f} images/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"images": n, "batch_size": bs, "epochs_per_run": args.timing_epochs,
            "rates": rates, "median": med, "ratio": med["framework"] / med["plain_keras"]}


def accuracy(args, data) -> dict[str, Any]:
    task = load_task(args, data, args.epochs)
    log(f"{task.network.count_params():,} parameters, config {task.config.model.params}")
    timer = EpochTimer(args.minutes * 60)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        task.fit(data.train, run_dir=run_dir, verbose=0, callbacks=[timer.callback])
    train_s = time.perf_counter() - t0
    metrics = task.evaluate(data.test)
    steady = timer.steady_epoch_s()
    return {"parameters": task.network.count_params(), "epochs_planned": args.epochs,
            "epochs_done": len(timer.ends), "stopped_at_budget": timer.stopped,
            "budget_minutes": args.minutes, "train_s": train_s,
            "train_images_per_s": len(data.train) / steady if steady else None,
            "model": task.config.model.params, "loss": task.config.loss.name,
            "metrics": metrics}


def render(r: dict[str, Any]) -> str:
    lines = [TITLE, "", f"`python bench/segmentation.py` — {r['date']}", ""]
    a = r.get("accuracy")
    if a:
        m = a["metrics"]
        ok = "met" if m["mean_iou"] >= 0.90 else "NOT met"
        per = m.get("per_class_iou", {})
        lines += ["| model | params | train / test scenes | epochs | train s | mean IoU | "
                  "per-class IoU | pixel accuracy | train img/s |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| unet {a['model']} | {a['parameters']:,} | {r['train']:,} / {r['test']:,} "
                  f"| {a['epochs_done']}/{a['epochs_planned']} | {a['train_s']:.0f} | "
                  f"{m['mean_iou']:.3f} | "
                  + ", ".join(f"{k} {v:.3f}" for k, v in per.items() if v is not None)
                  + f" | {m['pixel_accuracy']:.4f} | {a['train_images_per_s'] or 0:.1f} |", "",
                  f"Target mean IoU >= 0.90 within {a['budget_minutes']:g} minutes: **{ok}**"
                  + (" (training stopped at the budget)" if a["stopped_at_budget"] else "")
                  + f". Loss `{a['loss']}`; config `examples/configs/unet_shapes.toml`.", ""]
    t = r.get("throughput")
    if t:
        lines += [f"Training throughput, {t['images']} images, batch {t['batch_size']}, "
                  f"{t['epochs_per_run']} epochs per run, runs interleaved (median of steady "
                  f"epochs): framework {t['median']['framework']:.1f} images/s, plain Keras "
                  f"{t['median']['plain_keras']:.1f} images/s, ratio **{t['ratio']:.3f}** "
                  f"(target >= 0.97). Per run: "
                  + "; ".join(f"{k} " + ", ".join(f"{v:.1f}" for v in vs)
                              for k, vs in t["rates"].items()) + ".", ""]
    lines.append(machine_line(r))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--epochs", type=int, default=None, help="default: the config's")
    p.add_argument("--train-images", type=int, default=None)
    p.add_argument("--test-images", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--timing-images", type=int, default=256)
    p.add_argument("--timing-epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-throughput", action="store_true")
    p.add_argument("--json")
    args = p.parse_args(argv)
    import visionhooks as vh
    from visionhooks.config import read_config_file

    cfg = read_config_file(CONFIG)
    params = {k: v for k, v in cfg["data"].items() if k != "name"}
    if args.train_images:
        params["train_images"] = args.train_images
    if args.test_images:
        params["test_images"] = args.test_images
    if args.epochs is None:
        args.epochs = cfg["train"]["epochs"]
    if args.quick:
        params.update(train_images=64, test_images=16)
        args.epochs, args.minutes, args.timing_images, args.timing_epochs = 1, 2.0, 32, 2
        args.rounds = 1
    data = vh.datasets.load("shapes", **params)
    log(f"data: {len(data.train)} train / {len(data.test)} test, {data.info.input_shape}")
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(()), "train": len(data.train),
        "test": len(data.test)}
    report["accuracy"] = accuracy(args, data)
    log(f"metrics: {json.dumps(report['accuracy']['metrics'])}")
    if not args.no_throughput:
        report["throughput"] = throughput(args, data)
    return publish(report, render(report), TITLE, args.json, args.quick)


if __name__ == "__main__":
    sys.exit(main())
