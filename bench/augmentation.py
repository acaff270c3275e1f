#!/usr/bin/env python
"""Augmentation benchmark: a flip + affine (shift, zoom, rotate) + brightness pipeline.

Images/s of the visionhooks pipeline (jit-compiled, one fused warp per image) against,
in the same process, albumentations (per image, OpenCV) and Keras' own preprocessing
layers (``RandomFlip``, ``RandomTranslation``, ``RandomZoom``, ``RandomRotation``,
``RandomBrightness``) on the JAX backend, for batches of 256×28×28×1 and 64×256×256×3.
Targets (issue): at least 20× albumentations at 28×28, at least albumentations' speed at
256×256×3 on CPU. Also: LeNet-5 training images/s with and without the pipeline inside
the compiled step.

Usage: ``python bench/augmentation.py`` (~3 min on 2 cores), ``--quick`` (smoke check,
RESULTS.md untouched). Writes the section "## Augmentation" of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "jax")
# One JAX CPU device per core, so the pipeline can split a batch over them (no
# collectives); everything else here runs on device 0. Set before JAX starts.
if "--one-device" not in sys.argv and "xla_force_host_platform_device_count" not in \
        os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, machine_line, publish, versions  # noqa: E402

TITLE = "## Augmentation"
PIPELINE = [{"name": "flip"}, {"name": "shift", "x": 0.1, "y": 0.1},
            {"name": "zoom", "min_scale": 0.9, "max_scale": 1.1},
            {"name": "rotate", "max_degrees": 15}, {"name": "brightness", "max_delta": 0.2}]
SHAPES = ((256, 28, 28, 1), (64, 256, 256, 3))


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def rate(fn: Callable[[], Any], n_images: int, seconds: float, min_runs: int = 5) -> float:
    """Images/s: the median over repeated calls (after one warm-up call) of n / time."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n_images / statistics.median(times)


def images_for(shape: tuple[int, ...], seed: int = 0):
    """Smooth random images (uint8 and float32 in [0, 1])."""
    rng = np.random.default_rng(seed)
    n, h, w, c = shape
    small = rng.random((n, max(2, h // 8), max(2, w // 8), c)).astype(np.float32)
    big = np.repeat(np.repeat(small, 8, axis=1), 8, axis=2)[:, :h, :w]
    f32 = np.clip(big + 0.05 * rng.standard_normal(big.shape), 0, 1).astype(np.float32)
    return (f32 * 255).round().astype(np.uint8), f32


def ours(images, devices: int = 1) -> Callable[[], Any]:
    """The pipeline as ``vh.augment`` compiles it, on float32 images in [0, 1] (what the
    training step sees) or uint8 (what albumentations gets; bytes are gathered, then
    converted), on one device or split over ``devices`` local devices."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from visionhooks.augmentation import compile_pipeline

    fn = compile_pipeline(PIPELINE, input_shape=images.shape[1:], batch_size=len(images),
                          devices=devices)
    if devices > 1:
        mesh = Mesh(np.array(jax.local_devices()[:devices]), ("batch",))
        x = jax.device_put(images, NamedSharding(mesh, PartitionSpec("batch")))
    else:
        x = jax.device_put(images)
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 100_000))
    return lambda: fn({"images": x}, next(keys))["images"].block_until_ready()


def albumentations_fn(x_u8) -> Callable[[], Any] | None:
    try:
        import albumentations as A
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(os.cpu_count() or 1)
    aug = A.Compose([A.HorizontalFlip(p=0.5),
                     A.Affine(translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), rotate=(-15, 15),
                              border_mode=cv2.BORDER_CONSTANT, p=1.0),
                     A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.0,
                                                p=1.0)])
    return lambda: [aug(image=im)["image"] for im in x_u8]


def keras_layers_fn(x_f32) -> Callable[[], Any]:
    import keras

    layers = keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=1),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=2),
        keras.layers.RandomZoom((-0.1, 0.1), fill_mode="constant", seed=3),
        keras.layers.RandomRotation(15 / 360, fill_mode="constant", seed=4),
        keras.layers.RandomBrightness(0.2, value_range=(0, 1), seed=5)])
    x = keras.ops.convert_to_tensor(x_f32)
    return lambda: keras.ops.convert_to_numpy(layers(x, training=True))


def training_rates(args) -> dict[str, float]:
    """LeNet-5 training images/s on MNIST with and without the pipeline (same process)."""
    import keras

    import visionhooks as vh

    from common import default_data_path

    data = vh.datasets.load("mnist", path=default_data_path(), train_size=args.train_images,
                            test_size=100)
    out: dict[str, list[float]] = {"plain": [], "augmented": []}
    for rnd in range(2 if not args.quick else 1):
        for name in (("plain", "augmented") if rnd % 2 == 0 else ("augmented", "plain")):
            task = vh.compose(task="classification", model="lenet5", data=data,
                              augment=PIPELINE if name == "augmented" else [])
            ends: list[float] = []

            class Timer(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    ends.append(time.perf_counter())

            task.fit(data.train, epochs=3, batch_size=128, verbose=0, checkpoint=False,
                     callbacks=[Timer()])
            out[name].append(len(data.train) / statistics.median(
                [b - a for a, b in zip(ends, ends[1:])]))
            log(f"training round {rnd + 1} {name}: {out[name][-1]:,.0f} images/s")
    return {k: statistics.median(v) for k, v in out.items()}


def training_in_own_process(args) -> dict[str, float]:
    """``training_rates`` in a child process with JAX's usual single CPU device. In this
    process (albumentations/OpenCV and the pipeline benchmarks loaded, the CPU split
    into one device per core) LeNet-5 trained ~30% slower than in a fresh one (11,800
    against 17,100 images/s); the forced devices alone do not do that (measured)."""
    import subprocess

    cmd = [sys.executable, __file__, "--one-device", "--training-only",
           "--train-images", str(args.train_images)] + (["--quick"] if args.quick else [])
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if "xla_force_host_platform_device_count" not in f)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    sys.stderr.write(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(r: dict[str, Any]) -> str:
    lines = [TITLE, "", f"`python bench/augmentation.py` — {r['date']}", "",
             "Pipeline: " + ", ".join(json.dumps(p) for p in PIPELINE) + " (visionhooks fuses "
             "flip, shift, zoom and rotate into one bilinear warp per image).", "",
             "| batch | ours, 1 device: float32 in | uint8 in | ours, split over "
             "devices: float32 in | uint8 in | albumentations (uint8) | Keras layers | "
             "best ours / albumentations | best ours / Keras layers | target |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["throughput"]:
        alb, kl = row.get("albumentations"), row["keras_layers"]
        ours_keys = ("ours", "ours_uint8", "ours_split", "ours_uint8_split")
        best = max(row[k] for k in ours_keys if k in row)
        ratio = best / alb if alb else None
        target = 20.0 if row["shape"][1] <= 28 else 1.0
        verdict = ("n/a" if ratio is None else
                   f"{'met' if ratio >= target else 'NOT met'} (>= {target:g}x)")
        cells = [f"{row[k]:,.0f}" if k in row else "–" for k in ours_keys]
        lines.append(f"| {'x'.join(map(str, row['shape']))} | " + " | ".join(cells) + " | "
                     + (f"{alb:,.0f}" if alb else "not installed") + f" | {kl:,.0f} | "
                     + (f"{ratio:.2f}x" if ratio else "n/a") + f" | {best / kl:.1f}x | "
                     f"{verdict} |")
    t = r.get("training")
    if t:
        lines += ["", f"LeNet-5 training on MNIST ({r['train_images']:,} images, batch 128, "
                      f"median steady epoch of interleaved runs, in a process of its own with "
                      f"one CPU device): {t['plain']:,.0f} images/s "
                      f"without augmentation, {t['augmented']:,.0f} with the pipeline in the "
                      f"compiled step ({t['augmented'] / t['plain']:.2f}x)."]
    lines += ["", "How: each figure is the batch size over the median time of repeated calls "
              "after a warm-up call (compilation excluded), in interleaved rounds (medians over "
              "rounds). visionhooks: `jax.jit` of the pipeline, a new key per call, on float32 "
              "images in [0, 1] (the training step's input) and on uint8 images (gathered as "
              "bytes, returned as float32); \"split\" runs the batch in halves on the two CPU "
              f"devices JAX shows with `--xla_force_host_platform_device_count={r['devices']}` "
              "(a `shard_map` without collectives, what `vh.augment` does by default when "
              "several devices exist). albumentations: `A.Compose([HorizontalFlip, Affine(translate, scale, "
              "rotate), RandomBrightnessContrast])` on uint8 images, one call per image, OpenCV "
              "with all cores. Keras layers: the five preprocessing layers in a "
              "`keras.Sequential`, called eagerly on the batch with `training=True`.", ""]
    lines.append(machine_line(r))
    return "\n".join(lines) + "\n"


def throughput(shape, args) -> dict[str, Any]:
    """Images/s of each method in ``args.rounds`` interleaved rounds (the machine's speed
    drifts; ratios are taken between medians of the same rounds)."""
    u8, f32 = images_for(shape)
    import jax

    fns = {"ours": ours(f32), "ours_uint8": ours(u8)}
    n_dev = len(jax.local_devices())
    if n_dev > 1 and shape[0] % n_dev == 0:
        fns.update(ours_split=ours(f32, n_dev), ours_uint8_split=ours(u8, n_dev))
    fns.update(albumentations=albumentations_fn(u8), keras_layers=keras_layers_fn(f32))
    fns = {k: f for k, f in fns.items() if f is not None}
    rates: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()  # compile / warm up
    for _ in range(args.rounds):
        for name, f in fns.items():
            slow = name == "keras_layers" and shape[1] > 28
            rates[name].append(rate(f, shape[0], 0 if slow else args.seconds / args.rounds,
                                    min_runs=1 if slow or args.quick else 3))
    row: dict[str, Any] = {"shape": shape, "rounds": rates}
    row.update({k: statistics.median(v) for k, v in rates.items()})
    log(f"{'x'.join(map(str, shape))}: " + ", ".join(f"{k} {row[k]:,.0f}" for k in fns))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float, default=10.0, help="timing per method and shape")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--no-training", action="store_true")
    p.add_argument("--one-device", action="store_true",
                   help="do not split JAX's CPU into one device per core")
    p.add_argument("--json")
    p.add_argument("--training-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.train_images, args.rounds = 0.5, 1024, 1
    if args.training_only:
        print(json.dumps(training_rates(args)))
        return 0
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(("albumentations", "opencv-python-headless")),
        "devices": len(__import__("jax").local_devices()),
        "throughput": [throughput(shape, args) for shape in SHAPES],
        "train_images": args.train_images}
    if not args.no_training:
        report["training"] = training_in_own_process(args)
    return publish(report, render(report), TITLE, args.json, args.quick)


if __name__ == "__main__":
    sys.exit(main())
