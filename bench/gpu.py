#!/usr/bin/env python
"""Speed on a GPU: training and inference images/s of LeNet-5, U-Net and YOLOv1 (the small
variant and the paper's), each beside the same network in PyTorch on the same GPU, in the
same process.

Rows (model, batch): LeNet-5 on MNIST at 128 (the CPU table's batch) and 1024; U-Net
(base 16, depth 4, batch norm, 128×128×3 shapes) at 16 and 64; yolov1-tiny on 96×96
mnist-detection scenes at 64; the paper's YOLOv1 (24 convolutions, 4096-unit dense
layer, 7×7 grid) on 448×448 scenes at 32. Per row: the framework as configured by
default, the CPU formulations of ``visionhooks.plugins.layers`` forced on (what the
default skips off the CPU), ``mixed_bfloat16`` (YOLOv1), and PyTorch — the same layers
(YOLO: with a squared error on the raw grid standing in for the YOLO loss), Adam,
TF32 matmuls as JAX's default on GPUs, each batch copied from host memory.

Usage, on a machine with a GPU (~5 min on an H200)::

    python bench/gpu.py --json gpu.json         # measure; the JSON grows as it goes
    python bench/gpu.py --render gpu.json       # write "## Speed (GPU)" in RESULTS.md
                                                # (a full run on a GPU writes it too)
    python bench/gpu.py --only unet:16 --json b.json && python bench/gpu.py --render gpu.json b.json
    python bench/gpu.py --quick --allow-cpu     # smoke run without a GPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import (RESULTS, as_float, as_uint8, default_data_path, machine,  # noqa: E402
                    machine_line, versions, write_section)
from speed import fit_rate, torch_fit_rate, torch_lenet, torch_unet  # noqa: E402

TITLE = "## Speed (GPU)"
KINDS = ("conv", "pool", "transpose", "concat", "pool_first")  # ops.PLATFORMS' keys and
# the graph rewrite (``visionhooks.rewrite.PLATFORMS``)
HEADLINE = ("framework", "torch", "framework_infer", "torch_infer")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- set-ups -------------------------------------------------------------------------------


def scenes(size: int, n: int, quick: bool):
    import visionhooks as vh

    scale = (16, 40) if size <= 128 else (64, 192)
    return vh.datasets.load("mnist-detection", image_size=size, train_scenes=n,
                            test_scenes=16, min_scale=scale[0], max_scale=scale[1],
                            mnist_path=default_data_path(), full=None if quick else True)


def setups(quick: bool) -> list[dict[str, Any]]:
    """(model, batch, images, how to load data and compose the task, PyTorch twin)."""
    import visionhooks as vh

    from speed import compose_task, load_data

    big = 448 if not quick else 64
    yolo_cfg = {"grid": 7} if not quick else {"grid": 1, "width": 0.125, "dense_units": 64}

    def n(full: int, small: int) -> int:
        return small if quick else full

    lenet = {"model": "lenet5", "infer_batch": 1024, "torch": "lenet5",
             "data": lambda k: load_data("lenet5", k),
             "task": lambda d, **kw: compose_task("lenet5", d, **kw)}
    unet = {"model": "unet", "infer_batch": 64, "torch": "unet",
            "data": lambda k: load_data("unet", k),
            "task": lambda d, **kw: compose_task("unet", d, **kw)}
    # the CPU table's batches first, with the CPU formulations as a second variant
    return [
        {**lenet, "batch": 128, "images": n(60000, 1024),
         "kinds": ("conv", "pool", "pool_first")},
        {**unet, "batch": 16, "images": n(2048, 32),
         "kinds": ("conv", "pool", "transpose", "concat")},
        {"model": "yolov1-tiny", "batch": 64, "images": n(16384, 128), "infer_batch": 256,
         "data": lambda k: scenes(96, k, quick),
         "task": lambda d, **kw: vh.compose(task="detection", model="yolov1-tiny", data=d,
                                            model_config={"grid": 12}, **kw),
         "torch": "yolov1-tiny"},
        {"model": "yolov1", "batch": 32, "images": n(1024, 64), "infer_batch": 64,
         "data": lambda k: scenes(big, k, quick),
         "task": lambda d, **kw: vh.compose(task="detection", model="yolov1", data=d,
                                            model_config=yolo_cfg, **kw),
         "torch": "yolov1", "bf16": True},
        {**lenet, "batch": 1024, "images": n(60000, 2048)},
        {**unet, "batch": 64, "images": n(2048, 128)},
    ]


def torch_yolo(task) -> tuple[Any, Callable]:
    """The task's YOLO network in PyTorch, layer for layer (NCHW), with a squared error on
    the raw grid standing in for the YOLO loss (a few elementwise ops at the end)."""
    from torch import nn

    layers: list[Any] = []
    c = task.info.input_shape[-1]
    for layer in task.network.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            k, s, f = layer.kernel_size[0], layer.strides[0], layer.filters
            layers.append(nn.Conv2d(c, f, k, stride=s, padding=(k - 1) // 2,
                                    bias=layer.use_bias))
            c = f
        elif kind == "BatchNormalization":
            layers.append(nn.BatchNorm2d(c))
        elif kind == "LeakyReLU":
            layers.append(nn.LeakyReLU(0.1))
        elif kind == "MaxPooling2D":
            layers.append(nn.MaxPool2d(2, ceil_mode=layer.padding == "same"))
        elif kind == "Flatten":
            layers.append(nn.Flatten())
        elif kind == "Dense":
            layers.append(nn.LazyLinear(layer.units))
        elif kind == "Dropout":
            layers.append(nn.Dropout(layer.rate))
    return nn.Sequential(*layers), lambda out, y: ((out.reshape(y.shape) - y) ** 2).mean()


def torch_model(setup: dict[str, Any], task) -> tuple[Any, Callable, Callable]:
    """(model, loss, the labels → the loss's target array)."""
    kind = setup["torch"]
    if kind == "lenet5":
        return (*torch_lenet(), lambda y: y.astype("int64"))
    if kind == "unet":
        return (*torch_unet(), lambda y: y.astype("int64"))
    # YOLO: regress the raw grid towards zeros (the network's work, not the loss', is timed)
    model, loss = torch_yolo(task)
    shape = tuple(task.network.output_shape[1:])
    return model, loss, lambda n: np.zeros((n, *shape), "float32")


# -- measurements ------------------------------------------------------------------------


_DEFAULT_PLATFORMS: dict[str, tuple[str, ...]] = {}


def use_formulations(kinds: tuple[str, ...]) -> None:
    """Make the fast layers of ``kinds`` use their CPU formulations on this device too
    (``ops.PLATFORMS``), and with "pool_first" the graph rewrite
    (``rewrite.PLATFORMS``); ``()`` restores the defaults."""
    import jax

    from visionhooks import rewrite
    from visionhooks.plugins.layers import ops

    if not _DEFAULT_PLATFORMS:
        _DEFAULT_PLATFORMS.update(ops.PLATFORMS, pool_first=rewrite.PLATFORMS)
    here = jax.default_backend()
    on = {k: (*v, here) if k in kinds else v for k, v in _DEFAULT_PLATFORMS.items()}
    rewrite.PLATFORMS = on.pop("pool_first")
    ops.PLATFORMS = on


def vh_infer_rate(task, x, batch: int) -> float:
    batch = min(batch, len(x))
    n = len(x) // batch * batch
    task.predict(x[:n], batch_size=batch, raw=True)  # compile
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        task.predict(x[:n], batch_size=batch, raw=True)
        times.append(time.perf_counter() - t0)
    return n / min(times)


def torch_infer_rate(model, x, batch: int, device: str) -> float:
    import torch

    model = model.to(device).eval()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    batch = min(batch, len(x))
    n = len(x) // batch * batch
    times = []
    with torch.no_grad():
        for _ in range(4):
            t0 = time.perf_counter()
            for i in range(0, n, batch):
                model(xt[i:i + batch].to(device)).cpu()
            times.append(time.perf_counter() - t0)
    return n / min(times[1:])


_DATA: dict[tuple[str, int], Any] = {}  # rows of one model share their data


def measure(setup: dict[str, Any], args, device: str) -> dict[str, Any]:
    import keras

    row: dict[str, Any] = {"model": setup["model"], "batch": setup["batch"]}
    t0 = time.perf_counter()
    key = (setup["model"], setup["images"])
    data = _DATA[key] = _DATA.get(key) or setup["data"](setup["images"])
    row["images"] = len(data.train)
    log(f"{setup['model']} batch {setup['batch']}: {len(data.train)} images "
        f"({time.perf_counter() - t0:.1f} s)")
    x, y = data.train
    x = as_float(x)  # the float column; uint8 has its own (below)
    kinds = setup.get("kinds", ())
    variants = [("framework", {}, ())]
    if kinds:  # the CPU formulations on this device: all of them, then one kind at a time
        # the fast layers' formulations together (comparable with earlier GPU rows); the
        # pool-first rewrite only as its own column
        variants += [("cpu_formulations", {}, tuple(k for k in kinds if k != "pool_first"))]
        variants += [(f"cpu_{k}", {}, (k,)) for k in kinds]
    if setup.get("bf16"):
        variants.append(("mixed_bfloat16", {"train": {"precision": "mixed_bfloat16",
                                                      "batch_size": setup["batch"]}}, ()))
    fast = {} if setup["model"].startswith("yolo") else {"fast": True}
    task = None
    for name, kw, cpu in variants:
        try:
            use_formulations(cpu)
            keras.utils.set_random_seed(0)
            task = setup["task"](data, **fast, **kw)
            t0 = time.perf_counter()
            row[name] = fit_rate(task, data.train, setup["batch"], args.epochs)
            row[name + "_s"] = time.perf_counter() - t0
            row[name + "_infer"] = vh_infer_rate(task, x, setup["infer_batch"])
            log(f"  {name}: train {row[name]:,.1f}, inference {row[name + '_infer']:,.1f} "
                f"images/s ({row[name + '_s']:.1f} s)")
            if name == "framework":  # the same images as uint8, scaled on the device
                u8 = as_uint8(x)
                row["framework_infer_uint8"] = vh_infer_rate(task, u8, setup["infer_batch"])
                log(f"  uint8 inference {row['framework_infer_uint8']:,.1f} images/s")
        except Exception:  # keep measuring the other variants and rows
            row[name + "_error"] = traceback.format_exc(limit=3)
            log(f"  {name} failed:\n{row[name + '_error']}")
        finally:
            use_formulations(())
    try:
        import torch

        torch.manual_seed(0)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        model, loss, target = torch_model(setup, task or setup["task"](data, **fast))
        y = target(len(x)) if setup["model"].startswith("yolo") else target(y)
        row["torch"] = torch_fit_rate(model, loss, x, y, setup["batch"], args.epochs, device)
        row["torch_infer"] = torch_infer_rate(model, x, setup["infer_batch"], device)
        log(f"  torch: train {row['torch']:,.1f}, inference {row['torch_infer']:,.1f} "
            f"images/s")
    except ImportError:
        pass
    except Exception:
        row["torch_error"] = traceback.format_exc(limit=3)
        log(f"  torch failed:\n{row['torch_error']}")
    return row


# -- report ---------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:,.1f}")


def _ratio(a: Any, b: Any) -> str:
    return f"{a / b:.2f}" if a and b else "—"


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from several runs: a (model, batch) measured again takes the later run's
    figures only, with each earlier run's headline figures and date under "earlier"."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for rep in reports:
        for row in rep["rows"]:
            key = (row["model"], row["batch"])
            new = {**row, "date": row.get("date", rep["date"])}
            if key in rows:
                old = rows[key]
                new["earlier"] = [*old.get("earlier", []),
                                  {"date": old["date"], **{k: old.get(k) for k in HEADLINE}}]
            rows[key] = new
    return {**reports[-1], "rows": list(rows.values()),
            "date": ", ".join(rep["date"] for rep in reports)}


def render(r: dict[str, Any]) -> str:
    lines = [TITLE, "", f"`python bench/gpu.py` — {r['date']}; {r.get('gpu', '?')}", "",
             "| model | batch | train img/s | PyTorch train | ratio | CPU formulations | "
             "bf16 | inference img/s | uint8 inference | PyTorch inference | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        fw, th = row.get("framework"), row.get("torch")
        fi, ti = row.get("framework_infer"), row.get("torch_infer")
        lines.append(f"| {row['model']} | {row['batch']} | {_fmt(fw)} | {_fmt(th)} | "
                     f"{_ratio(fw, th)} | {_fmt(row.get('cpu_formulations'))} | "
                     f"{_fmt(row.get('mixed_bfloat16'))} | {_fmt(fi)} | "
                     f"{_fmt(row.get('framework_infer_uint8'))} | {_fmt(ti)} | "
                     f"{_ratio(fi, ti)} |")
    kinds = [row for row in r["rows"] if any(k.startswith("cpu_") and k[4:] in KINDS
                                             for k in row)]
    if kinds:
        lines += ["", "Training images/s with one kind of CPU formulation on at a time "
                  "(`ops.PLATFORMS`; pool_first: `rewrite.PLATFORMS`):", "",
                  "| model | batch | default | " + " | ".join(KINDS) + " |",
                  "|---|---|---|" + "---|" * len(KINDS)]
        for row in kinds:
            lines.append(f"| {row['model']} | {row['batch']} | {_fmt(row.get('framework'))} | "
                         + " | ".join(_fmt(row.get(f"cpu_{k}")) for k in KINDS) + " |")
    redone = [row for row in r["rows"] if row.get("earlier")]
    if redone:
        lines += ["", "Rows measured again (the table gives the latest run); the earlier runs' "
                  "train / PyTorch train / inference / PyTorch inference images/s: "
                  + "; ".join(f"{row['model']} {row['batch']} ({e['date'][:16]}): "
                              + " / ".join(_fmt(e.get(k)) for k in HEADLINE)
                              for row in redone for e in row["earlier"]) + "."]
    errors = [f"{row['model']} {k}" for row in r["rows"] for k in row if k.endswith("_error")]
    lines += ["", f"How: training figures are images over the median steady epoch "
              f"({r.get('epochs', 3)} epochs, the first compiles), inference the best of three "
              f"passes of "
              "`task.predict(raw=True)` (PyTorch: `no_grad`, outputs copied to the host); "
              "\"uint8 inference\": the same images given as uint8, which the model scales "
              "on the device. "
              "Both sides copy each batch from host memory and use TF32 matmuls "
              "(JAX's default on GPUs; set for PyTorch). \"CPU formulations\": the fast "
              "layers' CPU paths forced on (by default they defer to Keras' ops, i.e. cuDNN, "
              "off the CPU). PyTorch YOLO: the same layers, a squared error standing in for "
              "the YOLO loss.", ""]
    if errors:
        lines += ["Failed (see the JSON): " + ", ".join(errors) + ".", ""]
    lines.append(machine_line(r))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the measurements (updated after each row), or with "
                   "--render the merged runs, here")
    p.add_argument("--render", metavar="JSON", nargs="+",
                   help="write RESULTS.md's section from these runs' JSON (later wins)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (smoke test)")
    p.add_argument("--only", help="comma-separated models or model:batch, e.g. lenet5,unet:16")
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args(argv)
    if args.render:
        report = merge([json.loads(Path(f).read_text()) for f in args.render])
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(render(report))
        write_section(RESULTS, TITLE, render(report))
        return 0
    import jax

    platform = jax.default_backend()
    if platform == "cpu" and not args.allow_cpu:  # run_all.py runs this everywhere
        reason = "no GPU: JAX's default backend is the CPU (--allow-cpu to run anyway)"
        log(f"skipped: {reason}")
        if args.json:
            Path(args.json).write_text(json.dumps({"skipped": reason}))
        return 0
    device = "cuda" if platform == "gpu" else "cpu"
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "gpu": jax.devices()[0].device_kind, "machine": machine(), "versions": versions(),
        "epochs": args.epochs, "rows": []}
    only = set(args.only.split(",")) if args.only else None
    for setup in setups(args.quick):
        if only and not {setup["model"], f"{setup['model']}:{setup['batch']}"} & only:
            continue
        report["rows"].append(measure(setup, args, device))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print(render(report))
    if not args.quick and platform != "cpu":
        write_section(RESULTS, TITLE, render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
