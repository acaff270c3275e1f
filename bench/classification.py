#!/usr/bin/env python
"""Classification benchmark on full MNIST: visionhooks against plain Keras (and PyTorch).

For each model (LeNet-5, the MLP) it

1. trains with the framework (``vh.compose`` + ``Task.fit``: a checkpoint each epoch, as
   a user runs it) and with the SAME network written directly in Keras (same layers and
   initialisation, optimizer and schedule, seed and data), and reports the test accuracy
   and wall time of both (the "accuracy runs");
2. times short runs interleaved in rotating order (framework, plain Keras, framework
   with its tqdm bars; then PyTorch CPU eager on LeNet-5 where ``import torch`` works)
   and reports steady-state training images/s (the first epoch of every run compiles
   and is left out; median epoch over all runs of a series) and the ratios;
3. times the framework's own parts inside one ``Task.fit`` (callbacks, input
   validation, saving) and compares the ``TaskModel`` wrapper with the bare network
   (compiled XLA operations and step time);
4. writes the section "## Classification (MNIST)" of ``bench/RESULTS.md`` (other
   sections are kept).

Usage (from the repository root)::

    python bench/classification.py                     # full run (~8 min on 2 cores)
    python bench/classification.py --quick             # smoke check, RESULTS.md untouched
    python bench/classification.py --models lenet5 --epochs 5 --json out.json
    python bench/classification.py --from-json out.json    # re-render RESULTS.md only

The MNIST file comes from ``--data``, else ``VISIONHOOKS_DATA``, else
``../shared/data/mnist.npz`` beside the repository, else the Keras cache (the full set
is required: the bundled sample is never used).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import as_float, default_data_path, machine, versions, write_section  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "## Classification (MNIST)"
BATCH = 128
SEED = 0

# The recipe of each model, expressed through the framework's config only. The plain
# Keras and PyTorch versions are built from the same values.
SPECS: dict[str, dict[str, Any]] = {
    "lenet5": {
        "model_config": {"dropout": 0.25},
        "optimizer": {"name": "adam", "learning_rate": 2e-3, "schedule": "cosine",
                      "warmup_epochs": 1.0},
        "epochs": 12,
        "target": 0.992,
        "timing_epochs": 3,
        "repeats": 3,
    },
    "mlp": {
        "model_config": {"hidden_units": [512, 256], "dropout": 0.2},
        "optimizer": {"name": "adam", "learning_rate": 1e-3, "schedule": "cosine",
                      "warmup_epochs": 0.0},
        "epochs": 6,
        "target": 0.97,
        "timing_epochs": 4,
        "repeats": 6,
    },
}
RATIO_TARGET = 0.97  # framework images/s at least 97% of plain Keras'


# --------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(msg, flush=True)


def make_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall-clock time at the end of every epoch (after the callbacks before it, so
        a framework run's checkpoint writing is included), and the epoch logs.

        Keras synchronises with the device at each epoch end (it turns the logs into
        Python floats), so the differences are true epoch times.
        """

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.ends: list[float] = []
            self.logs: list[dict[str, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())
            self.logs.append({k: float(v) for k, v in (logs or {}).items()})

        def steady_images_per_s(self, n: int) -> float | None:
            """Images/s over every epoch but the first (which compiles)."""
            if len(self.ends) < 2:
                return None
            return n * (len(self.ends) - 1) / (self.ends[-1] - self.ends[0])

        def steady_epoch_seconds(self) -> list[float]:
            return [b - a for a, b in zip(self.ends, self.ends[1:])]

        def epoch_seconds(self) -> list[float]:
            t = [self.start, *self.ends]
            return [round(b - a, 3) for a, b in zip(t, t[1:])]

    return EpochTimer()


# --------------------------------------------------------------------- plain Keras

def model_params(name: str, model_config: dict[str, Any]) -> Any:
    """The model's validated config (defaults filled in) from the plugin's config class."""
    from visionhooks.plugins.classification import config as cc

    cls = {"lenet5": cc.LeNet5Config, "mlp": cc.MLPConfig}[name]
    return cls.model_validate(model_config)


def _act(keras, name):
    return keras.layers.LeakyReLU(0.1) if name == "leaky_relu" else keras.layers.Activation(name)


def build_plain(name: str, p: Any, input_shape, num_classes: int):
    """The same functional network, written directly with Keras layers (layers created
    in the same order, so the same seed gives the same initial weights)."""
    import keras

    inputs = keras.Input(tuple(input_shape))
    x = inputs
    if name == "lenet5":
        pool = keras.layers.MaxPooling2D if p.pooling == "max" else keras.layers.AveragePooling2D
        for filters, padding in zip(p.filters, p.padding):
            x = keras.layers.Conv2D(filters, p.kernel_size, padding=padding)(x)
            x = _act(keras, p.activation)(x)
            x = pool(2)(x)
        x = keras.layers.Flatten()(x)
        for units in p.dense_units:
            if p.dropout:
                x = keras.layers.Dropout(p.dropout)(x)
            x = keras.layers.Dense(units)(x)
            x = _act(keras, p.activation)(x)
    else:
        x = keras.layers.Flatten()(x)
        for units in p.hidden_units:
            x = keras.layers.Dense(units)(x)
            x = _act(keras, p.activation)(x)
            if p.dropout:
                x = keras.layers.Dropout(p.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def plain_optimizer(opt: dict[str, Any], steps_per_epoch: int, epochs: int):
    """Adam with the same learning-rate schedule as the framework's config describes."""
    import keras

    if opt.get("name", "adam") != "adam":
        raise SystemExit("the plain-Keras side of this benchmark only mirrors adam")
    lr = opt.get("learning_rate", 1e-3)
    if opt.get("schedule", "constant") == "cosine":
        total = max(1, steps_per_epoch * epochs)
        warmup = int(opt.get("warmup_epochs", 0.0) * steps_per_epoch)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr, decay_steps=max(1, total - warmup),
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    return keras.optimizers.Adam(learning_rate=lr)


def run_plain(name: str, spec: dict[str, Any], data: Any, epochs: int,
              evaluate: bool) -> dict[str, Any]:
    import keras

    x, y = data.train
    x = as_float(x)  # plain Keras takes float32 in [0, 1], as its users feed it
    t0 = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    p = model_params(name, spec["model_config"])
    model = build_plain(name, p, data.info.input_shape, data.info.num_classes)
    build_s = time.perf_counter() - t0
    model.compile(optimizer=plain_optimizer(spec["optimizer"], math.ceil(len(x) / BATCH),
                                            epochs),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True)
    keras.utils.set_random_seed(SEED)
    timer = make_timer()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[timer])
    fit_s = time.perf_counter() - t0
    out = {"build_s": build_s, "fit_s": fit_s,
           "images_per_s": timer.steady_images_per_s(len(x)),
           "epoch_s": timer.epoch_seconds(), "steady_epoch_s": timer.steady_epoch_seconds(),
           "loss": [lg.get("loss") for lg in timer.logs],
           "params": model.count_params(),
           "weight_shapes": [tuple(w.shape) for w in model.weights]}
    if evaluate:
        t1 = time.perf_counter()
        res = model.evaluate(as_float(data.test.x), data.test.y, batch_size=BATCH,
                             return_dict=True, verbose=0)
        out["eval_s"] = time.perf_counter() - t1
        out["accuracy"] = float(res["accuracy"])
        out["test_loss"] = float(res["loss"])
    out["wall_s"] = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------- framework

@contextlib.contextmanager
def quiet_stderr(on: bool):
    """Send the tqdm bars (written to ``sys.stderr``) to /dev/null: they are still
    formatted and written, as in a user's run, without flooding the benchmark's log."""
    if not on:
        yield
        return
    old = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            yield
        finally:
            sys.stderr = old


def run_framework(name: str, spec: dict[str, Any], data: Any, epochs: int, evaluate: bool,
                  verbose: int, workdir: Path, show_bars: bool = False) -> dict[str, Any]:
    import visionhooks as vh

    x, _ = data.train
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    t0 = time.perf_counter()
    task = vh.compose(task="classification", model=name, model_config=spec["model_config"],
                      optimizer=spec["optimizer"], data=data, seed=SEED)
    compose_s = time.perf_counter() - t0
    timer = make_timer()
    with quiet_stderr(verbose and not show_bars):
        task.fit(data.train, epochs=epochs, batch_size=BATCH, verbose=verbose,
                 run_dir=run_dir, callbacks=[timer])
    fit_s = time.perf_counter() - t0
    out = {"build_s": compose_s, "fit_s": fit_s,
           "images_per_s": timer.steady_images_per_s(len(x)),
           "epoch_s": timer.epoch_seconds(), "steady_epoch_s": timer.steady_epoch_seconds(),
           "loss": [lg.get("loss") for lg in timer.logs],
           "params": task.network.count_params(),
           "weight_shapes": [tuple(w.shape) for w in task.network.weights]}
    if evaluate:
        t1 = time.perf_counter()
        res = task.evaluate(data.test, batch_size=BATCH)
        out["eval_s"] = time.perf_counter() - t1
        out["accuracy"] = float(res["accuracy"])
        out["test_loss"] = float(res["loss"])
    out["wall_s"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------- PyTorch

def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def run_torch_lenet5(spec: dict[str, Any], data: Any, epochs: int) -> dict[str, Any]:
    """The same LeNet-5 (and optimizer) in PyTorch CPU eager; softmax + NLL is fused into
    ``cross_entropy`` on logits, the idiomatic PyTorch form."""
    import torch
    from torch import nn

    p = model_params("lenet5", spec["model_config"])
    torch.manual_seed(SEED)
    h, w, c = data.info.input_shape
    layers: list[nn.Module] = []
    pool = nn.MaxPool2d if p.pooling == "max" else nn.AvgPool2d
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
            "gelu": nn.GELU, "selu": nn.SELU, "swish": nn.SiLU,
            "leaky_relu": lambda: nn.LeakyReLU(0.1)}
    ch, size = c, h
    for filters, padding in zip(p.filters, p.padding):
        pad = p.kernel_size // 2 if padding == "same" else 0
        layers += [nn.Conv2d(ch, filters, p.kernel_size, padding=pad), acts[p.activation](),
                   pool(2)]
        size = (size + 2 * pad - p.kernel_size + 1) // 2
        ch = filters
    layers.append(nn.Flatten())
    features = ch * size * size
    for units in p.dense_units:
        if p.dropout:
            layers.append(nn.Dropout(p.dropout))
        layers += [nn.Linear(features, units), acts[p.activation]()]
        features = units
    layers.append(nn.Linear(features, data.info.num_classes))
    net = nn.Sequential(*layers)
    x = torch.from_numpy(np.ascontiguousarray(as_float(data.train.x).transpose(0, 3, 1, 2)))
    y = torch.from_numpy(data.train.y.astype(np.int64))
    n = len(x)
    steps = math.ceil(n / BATCH)
    opt = spec["optimizer"]
    optim = torch.optim.Adam(net.parameters(), lr=opt.get("learning_rate", 1e-3), eps=1e-7)
    total = steps * epochs
    warm = int(opt.get("warmup_epochs", 0.0) * steps) if opt.get("schedule") == "cosine" else 0
    base = opt.get("learning_rate", 1e-3)

    def lr_at(step: int) -> float:
        if opt.get("schedule") != "cosine":
            return base
        if step < warm:
            return base * step / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        return base * 0.5 * (1 + math.cos(math.pi * t))

    gen = torch.Generator().manual_seed(SEED)
    ends = []
    t0 = time.perf_counter()
    step = 0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(steps):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            for g in optim.param_groups:
                g["lr"] = lr_at(step)
            optim.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            optim.step()
            step += 1
        ends.append(time.perf_counter())
    fit_s = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        xt = torch.from_numpy(np.ascontiguousarray(
            as_float(data.test.x).transpose(0, 3, 1, 2)))
        pred = torch.cat([net(xt[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
    acc = float((pred.numpy() == data.test.y).mean())
    ips = n * (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else None
    return {"fit_s": fit_s, "images_per_s": ips, "accuracy": acc,
            "threads": torch.get_num_threads(),
            "epoch_s": [round(b - a, 3) for a, b in zip([t0, *ends], ends)],
            "steady_epoch_s": [b - a for a, b in zip(ends, ends[1:])],
            "params": sum(q.numel() for q in net.parameters())}


# ------------------------------------------------------------------ machine record

def cpu_times() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by every process (for telling whether the machine was
    shared during the run)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out[int(d.name)] = (cmd.strip()[:80] or stat[stat.index("(") + 1:stat.rindex(")")],
                                cpu)
        except (OSError, ValueError, IndexError):
            continue
    return out


def other_cpu_use(before: dict, after: dict, wall: float) -> dict[str, Any]:
    me = os.getpid()
    rows = []
    for pid, (cmd, cpu) in after.items():
        if pid == me:
            continue
        used = cpu - before.get(pid, (cmd, 0.0))[1]
        if used > 1.0:
            rows.append((used, pid, cmd))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    return {"cpu_s": round(total, 1), "cores_busy": round(total / wall, 2) if wall else 0.0,
            "top": [{"pid": pid, "cpu_s": round(u, 1), "cmd": cmd} for u, pid, cmd in rows[:5]]}


# ----------------------------------------------------------------------- the bench

def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def rate(n: int, seconds: float | None) -> float | None:
    return n / seconds if seconds else None


# Framework internals timed by ``measure_overheads`` (module, class, method); entries
# that the installed version lacks are skipped.
HOOKED = [
    ("visionhooks.training", "TqdmProgress", "on_epoch_begin"),
    ("visionhooks.training", "TqdmProgress", "on_train_batch_end"),
    ("visionhooks.training", "TqdmProgress", "on_epoch_end"),
    ("visionhooks.training", "EpochCheckpoint", "on_epoch_end"),
    ("visionhooks.training", "EpochSeed", "on_epoch_begin"),
    ("visionhooks.task", "Task", "_xy"),
    ("visionhooks.task", "Task", "_compile"),
    ("visionhooks.task", "Task", "save"),
]


def hlo_op_counts(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """Operation counts of the optimised XLA program of one training gradient (forward,
    loss, backward) of ``model``: equal counts mean a wrapper adds no compiled work."""
    import collections

    import jax
    import keras

    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]

    def loss(tv, ntv, x, y):
        out, _ = model.stateless_call(tv, ntv, x, training=True)
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out))

    text = jax.jit(jax.grad(loss)).lower(tv, ntv, x, y).compile().as_text()
    ops = re.findall(r"=\s*(?:\([^)]*\)|\S+)\s+([a-z][a-z0-9-]*)\(", text)
    return dict(sorted(collections.Counter(ops).items()))


def expected_ratios(hooks: dict[str, Any]) -> dict[str, float]:
    """The framework / plain Keras ratio that the timed per-epoch parts alone predict
    (the wrapper adds no compiled work; verbose=0 runs have no tqdm bars)."""
    def share(prefixes: tuple[str, ...]) -> float:
        return sum(h["share_of_epoch"] or 0.0 for k, h in hooks.items()
                   if k.startswith(prefixes))

    return {"verbose0": round(1 / (1 + share(("EpochCheckpoint", "EpochSeed"))), 4),
            "verbose1": round(1 / (1 + share(("EpochCheckpoint", "EpochSeed", "Tqdm"))), 4)}


def measure_overheads(name: str, spec: dict[str, Any], data: Any, epochs: int,
                      workdir: Path) -> dict[str, Any]:
    """Where a framework run spends time outside ``keras.Model.fit``'s own work.

    One ``Task.fit(verbose=1)`` run with the framework's callbacks and helpers wrapped
    in timers (wall time inside each; the tqdm batch hook runs on Keras' callback
    thread, beside the compiled step, so its figure is an upper bound of what it
    takes from the step). Then the ``TaskModel`` wrapper alone: ``train_on_batch`` on
    the wrapper and on its bare inner network, compiled alike, in alternating blocks
    of steps; the best block of each is compared (machine noise only adds time).
    """
    import importlib

    import keras

    totals: dict[str, list[float]] = {}
    patched = []
    for mod_name, cls_name, meth in HOOKED:
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError):
            continue
        if meth not in vars(cls):
            continue
        orig = vars(cls)[meth]
        key = f"{cls_name}.{meth}"
        acc = totals.setdefault(key, [0.0, 0])

        def wrapper(*a, __orig=orig, __acc=acc, **kw):
            t = time.perf_counter()
            try:
                return __orig(*a, **kw)
            finally:
                __acc[0] += time.perf_counter() - t
                __acc[1] += 1

        setattr(cls, meth, wrapper)
        patched.append((cls, meth, orig))
    try:
        run = run_framework(name, spec, data, epochs, False, 1, workdir)
    finally:
        for cls, meth, orig in patched:
            setattr(cls, meth, orig)
    epoch_s = median(run["steady_epoch_s"])
    hooks = {}
    for key, (total, calls) in totals.items():
        per_fit = not key.startswith(("Tqdm", "Epoch"))
        per_epoch_s = total / epochs
        hooks[key] = {"calls": calls, "total_ms": round(total * 1e3, 2),
                      "ms_per_epoch": None if per_fit else round(per_epoch_s * 1e3, 2),
                      "share_of_epoch": None if per_fit or not epoch_s
                      else round(per_epoch_s / epoch_s, 5)}

    # The TaskModel wrapper vs its inner network, same compile, same batch.
    import visionhooks as vh

    x, y = as_float(data.train.x[:BATCH]), data.train.y[:BATCH]  # both take float32
    task = vh.compose(task="classification", model=name, model_config=spec["model_config"],
                      optimizer=spec["optimizer"], data=data, seed=SEED)
    keras.utils.set_random_seed(SEED)
    # the bare network: the same layers without the wrapper (its own variables)
    bare = build_plain(name, model_params(name, spec["model_config"]), data.info.input_shape,
                       data.info.num_classes)
    models = {"TaskModel": task.model, "bare network": bare}
    for m in models.values():
        m.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True)
        for _ in range(3):
            m.train_on_batch(x, y)
    steps = 60 if name == "lenet5" else 200
    blocks: dict[str, list[float]] = {k: [] for k in models}
    for r in range(8):
        for k in (list(models) if r % 2 == 0 else list(models)[::-1]):
            m = models[k]
            t = time.perf_counter()
            for _ in range(steps):
                out = m.train_on_batch(x, y)
            float(out[0])
            blocks[k].append((time.perf_counter() - t) / steps)
    best = {k: min(v) for k, v in blocks.items()}
    hlo = {k: hlo_op_counts(m, x, y) for k, m in models.items()}
    expected = expected_ratios(hooks)
    return {"epochs": epochs, "verbose": 1, "framework_epoch_s": epoch_s, "hooks": hooks,
            "expected_ratio": expected,
            "wrapper": {"steps_per_block": steps,
                        "best_ms_per_step": {k: round(v * 1e3, 4) for k, v in best.items()},
                        "median_ms_per_step": {k: round(median(v) * 1e3, 4)
                                               for k, v in blocks.items()},
                        "bare_over_wrapper": round(best["bare network"] / best["TaskModel"],
                                                    4),
                        "same_compiled_ops": hlo["TaskModel"] == hlo["bare network"],
                        "compiled_ops": {k: sum(v.values()) for k, v in hlo.items()}}}


def bench_model(name: str, spec: dict[str, Any], data: Any, args: argparse.Namespace,
                workdir: Path, use_torch: bool) -> dict[str, Any]:
    epochs = args.epochs or spec["epochs"]
    n = len(data.train)
    res: dict[str, Any] = {"model": name, "epochs": epochs, "target": spec["target"],
                           "config": {k: spec[k] for k in ("model_config", "optimizer")},
                           "batch_size": BATCH, "train_images": n,
                           "test_images": len(data.test)}

    # Build the network once, untimed: JAX compiles each weight initialiser per shape on
    # first use, which would otherwise be charged to whichever side builds first.
    build_plain(name, model_params(name, spec["model_config"]), data.info.input_shape,
                data.info.num_classes)

    # 1. accuracy runs: the framework as a user runs it, then plain Keras.
    log(f"[{name}] accuracy run, framework, {epochs} epochs ...")
    fw = run_framework(name, spec, data, epochs, True, args.verbose, workdir,
                       show_bars=args.verbose == 1)
    log(f"[{name}]   framework: accuracy {fw['accuracy']:.4f}, compose {fw['build_s']:.1f} s, "
        f"compose + fit {fw['fit_s']:.1f} s, evaluate {fw['eval_s']:.1f} s, "
        f"wall {fw['wall_s']:.1f} s, epochs {fw['epoch_s']}")
    log(f"[{name}] accuracy run, plain Keras, {epochs} epochs ...")
    pk = run_plain(name, spec, data, epochs, True)
    log(f"[{name}]   plain Keras: accuracy {pk['accuracy']:.4f}, build {pk['build_s']:.1f} s, "
        f"build + fit {pk['fit_s']:.1f} s, evaluate {pk['eval_s']:.1f} s, "
        f"wall {pk['wall_s']:.1f} s, epochs {pk['epoch_s']}")
    same_arch = fw["weight_shapes"] == pk["weight_shapes"]
    res["same_architecture"] = same_arch
    res["params"] = fw["params"]
    for r in (fw, pk):
        r.pop("weight_shapes")
    res["accuracy_runs"] = {"framework": fw, "plain_keras": pk}
    if not same_arch:
        log(f"[{name}] WARNING: the plain-Keras network differs from the framework's")

    # 2. interleaved timing runs (the first epoch of each compiles and is left out).
    te = args.timing_epochs or spec["timing_epochs"]
    rounds = args.repeats or spec["repeats"]
    series = ["framework", "plain_keras"]
    if args.tqdm:
        series.append("framework_tqdm")
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in series}
    if use_torch and name == "lenet5":
        runs["torch"] = []
    for r in range(rounds):
        # rotate, so that every series takes every position in turn (a Latin square)
        order = series[r % len(series):] + series[:r % len(series)]
        if "torch" in runs:
            order = [*order, "torch"]
        for which in order:
            if which == "framework":
                out = run_framework(name, spec, data, te, False, 0, workdir)
            elif which == "framework_tqdm":
                out = run_framework(name, spec, data, te, False, 1, workdir)
            elif which == "plain_keras":
                out = run_plain(name, spec, data, te, False)
            else:
                out = run_torch_lenet5(spec, data, te)
            runs[which].append(out)
            log(f"[{name}] timing {r + 1}/{rounds} {which:<14} "
                f"{out['images_per_s'] or float('nan'):8.0f} images/s  epochs {out['epoch_s']}")
    timing: dict[str, Any] = {"epochs_per_run": te, "rounds": rounds, "series": {}}
    for k, outs in runs.items():
        epochs_s = [t for o in outs for t in o["steady_epoch_s"]]
        timing["series"][k] = {
            # primary: the median steady epoch over every run of the series
            "images_per_s": rate(n, median(epochs_s)),
            "median_of_runs": median([o["images_per_s"] for o in outs]),
            "best": rate(n, min(epochs_s)) if epochs_s else None,
            "runs": [round(o["images_per_s"], 1) if o["images_per_s"] else None for o in outs],
            "steady_epoch_s": [round(t, 3) for t in epochs_s],
        }
        if k == "torch":
            timing["series"][k]["accuracy_after_last_run"] = outs[-1]["accuracy"]
            timing["series"][k]["threads"] = outs[-1]["threads"]
    res["timing"] = timing
    ser = timing["series"]

    def ratio(a: str, b: str, stat: str = "images_per_s") -> float | None:
        if a in ser and b in ser and ser[a][stat] and ser[b][stat]:
            return ser[a][stat] / ser[b][stat]
        return None

    res["ratio"] = ratio("framework", "plain_keras")
    res["ratio_best"] = ratio("framework", "plain_keras", "best")
    res["ratio_median_of_runs"] = ratio("framework", "plain_keras", "median_of_runs")
    res["ratio_per_round"] = [round(a["images_per_s"] / b["images_per_s"], 4)
                              for a, b in zip(runs["framework"], runs["plain_keras"])
                              if a["images_per_s"] and b["images_per_s"]]
    res["ratio_tqdm"] = ratio("framework_tqdm", "plain_keras")
    res["torch_ratio"] = ratio("framework", "torch")
    res["plain_keras_over_torch"] = ratio("plain_keras", "torch")
    # the accuracy runs' own steady epochs, as a second opinion
    res["accuracy_run_images_per_s"] = {
        k: rate(n, median(v["steady_epoch_s"])) for k, v in (("framework", fw),
                                                               ("plain_keras", pk))}
    res["accuracy_ok"] = fw["accuracy"] >= spec["target"]
    res["ratio_ok"] = res["ratio"] is not None and res["ratio"] >= RATIO_TARGET
    log(f"[{name}] images/s framework {fmt(ser['framework']['images_per_s'], '.0f')}, plain "
        f"Keras {fmt(ser['plain_keras']['images_per_s'], '.0f')}, ratio "
        f"{fmt(res['ratio'], '.3f')} (best-epoch ratio {fmt(res['ratio_best'], '.3f')})"
        + (f", with tqdm {fmt(res['ratio_tqdm'], '.3f')}" if res["ratio_tqdm"] else "")
        + (f", torch {fmt(ser['torch']['images_per_s'], '.0f')} (framework/torch "
           f"{fmt(res['torch_ratio'], '.2f')})" if "torch" in ser else ""))

    # 3. where the framework's time goes.
    if not args.no_overheads:
        log(f"[{name}] overhead breakdown ...")
        res["overheads"] = measure_overheads(name, spec, data, te, workdir)
        ov = res["overheads"]
        for key, h in ov["hooks"].items():
            extra = (f"{h['ms_per_epoch']} ms/epoch ({h['share_of_epoch']:.2%} of an epoch)"
                     if h["ms_per_epoch"] is not None else f"{h['total_ms']} ms per fit")
            log(f"[{name}]   {key:<34} {h['calls']:>5} calls  {extra}")
        w = ov["wrapper"]
        log(f"[{name}]   ratio expected from these parts: {ov['expected_ratio']['verbose0']} "
            f"(verbose=0), {ov['expected_ratio']['verbose1']} (tqdm bars)")
        log(f"[{name}]   TaskModel wrapper: best ms/step {w['best_ms_per_step']}, bare/wrapper "
            f"{w['bare_over_wrapper']}; same compiled ops: {w['same_compiled_ops']} "
            f"{w['compiled_ops']}")
    return res


# --------------------------------------------------------------------- RESULTS.md

def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def noise_sentence(results: list[dict[str, Any]]) -> str:
    """How much the same work's epoch time varied: the sign of a host shared with others
    (other virtual machines do not show in this machine's process list)."""
    worst = []
    for r in results:
        for k, x in r["timing"]["series"].items():
            if len(x["steady_epoch_s"]) > 1:
                worst.append((max(x["steady_epoch_s"]) / min(x["steady_epoch_s"]),
                              r["model"], k))
    if not worst:
        return ""
    spread, model, k = max(worst)
    if spread < 1.15:
        return (f"Steady epochs of one series varied by at most {spread:.2f}x: a quiet "
                f"machine.")
    return (f"Steady epochs of one series varied by up to {spread:.2f}x ({model}, {k}): the "
            f"CPU was shared with work not visible from this machine, so single ratios are "
            f"noisy; the per-part breakdown above is the steadier estimate of the overhead.")


def render_section(report: dict[str, Any]) -> str:
    m, v, a = report["machine"], report["versions"], report["args"]
    results = report["results"]
    any_torch = any("torch" in r["timing"]["series"] for r in results)
    any_tqdm = any("framework_tqdm" in r["timing"]["series"] for r in results)
    head = ["model", "params", "epochs", "test acc framework", "test acc plain Keras",
            "wall s framework", "wall s plain Keras", "images/s framework",
            "images/s plain Keras", "ratio"]
    if any_tqdm:
        head += ["ratio with tqdm bars"]
    if any_torch:
        head += ["images/s PyTorch eager", "framework / PyTorch"]
    lines = [SECTION, "",
             f"`{report['command']}` — {report['date']}, repository {report['git']}"
             + (" (quick smoke run: not representative)" if report["quick"] else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        fw, pk = r["accuracy_runs"]["framework"], r["accuracy_runs"]["plain_keras"]
        ser = r["timing"]["series"]
        row = [r["model"], f"{r['params']:,}", str(r["epochs"]),
               f"{fw['accuracy'] * 100:.2f}%", f"{pk['accuracy'] * 100:.2f}%",
               fmt(fw["wall_s"], ".1f"), fmt(pk["wall_s"], ".1f"),
               fmt(ser["framework"]["images_per_s"], ",.0f"),
               fmt(ser["plain_keras"]["images_per_s"], ",.0f"), fmt(r["ratio"], ".3f")]
        if any_tqdm:
            row += [fmt(r.get("ratio_tqdm"), ".3f")]
        if any_torch:
            row += [fmt(ser.get("torch", {}).get("images_per_s"), ",.0f"),
                    fmt(r.get("torch_ratio"), ".2f")]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Targets: LeNet-5 >= 99.2% and MLP >= 97% test accuracy (framework run); "
              f"framework images/s >= {RATIO_TARGET:.0%} of plain Keras' (ratio >= "
              f"{RATIO_TARGET})."]
    for r in results:
        ser = r["timing"]["series"]
        fw, pk = r["accuracy_runs"]["framework"], r["accuracy_runs"]["plain_keras"]
        ok = "met" if r["accuracy_ok"] else "MISSED"
        rk = "met" if r["ratio_ok"] else "MISSED"
        spread = {k: f"{min(x['steady_epoch_s']):.2f}-{max(x['steady_epoch_s']):.2f}"
                  for k, x in ser.items() if x["steady_epoch_s"]}
        lines.append(
            f"- **{r['model']}**: accuracy target {ok}, throughput target {rk}. Recipe "
            f"(framework config) `{json.dumps(r['config'])}`, batch {r['batch_size']}. "
            f"Ratio of best epochs {fmt(r['ratio_best'], '.3f')}, of per-run medians "
            f"{fmt(r['ratio_median_of_runs'], '.3f')}, per round {r['ratio_per_round']}. "
            f"Steady epoch seconds (min-max) {spread}. Accuracy runs' own steady "
            f"images/s: framework "
            f"{fmt(r['accuracy_run_images_per_s']['framework'], ',.0f')}, plain Keras "
            f"{fmt(r['accuracy_run_images_per_s']['plain_keras'], ',.0f')}. Wall s: "
            f"framework compose {fw['build_s']:.1f} + compile & fit "
            f"{fw['fit_s'] - fw['build_s']:.1f} + evaluate {fw['eval_s']:.1f} (evaluate also "
            f"runs `predict` for the default confusion-matrix evaluator); plain Keras build "
            f"{pk['build_s']:.1f} + compile & fit {pk['fit_s'] - pk['build_s']:.1f} + evaluate "
            f"{pk['eval_s']:.1f}."
            + (f" PyTorch test accuracy after its last {r['timing']['epochs_per_run']}-epoch "
               f"timing run: {ser['torch']['accuracy_after_last_run'] * 100:.2f}%."
               if "torch" in ser else ""))
        ov = r.get("overheads")
        if ov:
            parts = []
            for key, h in ov["hooks"].items():
                if h["ms_per_epoch"] is not None:
                    parts.append(f"`{key}` {h['ms_per_epoch']:.1f} ms/epoch "
                                 f"({h['share_of_epoch']:.2%})")
                else:
                    parts.append(f"`{key}` {h['total_ms']:.0f} ms/fit")
            w = ov["wrapper"]
            exp = ov.get("expected_ratio", {})
            lines.append("  Overheads (one `Task.fit(verbose=1)` run, time inside each part): "
                         + ", ".join(parts) + "; ratio these parts predict: "
                         f"{exp.get('verbose0')} without bars, {exp.get('verbose1')} with "
                         "bars; TaskModel wrapper vs bare network, best train_on_batch "
                         f"ms/step {w['best_ms_per_step']} (bare/wrapper "
                         f"{w['bare_over_wrapper']}); same optimised XLA ops in a training "
                         f"gradient: {w['same_compiled_ops']} ({w['compiled_ops']}).")
    lines += ["",
              "How: the accuracy runs train once with the framework (`vh.compose` + "
              f"`Task.fit(..., batch_size={BATCH}, verbose={a['verbose']})`: a checkpoint each "
              "epoch and the final save included) and once with the same network written "
              "directly in Keras (`model.compile(Adam + the same schedule, "
              "sparse_categorical_crossentropy, jit_compile=True)` + `model.fit(verbose=0)`), "
              "same seed and data; wall s = build + compile + fit + evaluate. The two are not "
              "bit-identical: the framework reseeds at every epoch start so the shuffle order "
              "does not depend on earlier epochs (resume), plain Keras draws from one stream. "
              "Images/s: short runs, interleaved in rotating order (framework, plain Keras"
              + (", framework with tqdm bars" if any_tqdm else "")
              + (", then PyTorch" if any_torch else "")
              + " per round); the first epoch of every run compiles and is left out; the "
              "figure is the training set size over the median steady epoch of all runs of "
              "a series. "
              + (f"PyTorch: the same LeNet-5, Adam (eps 1e-7) and schedule in CPU eager mode "
                 f"({report.get('torch_threads')} threads), logits + `cross_entropy`."
                 if any_torch else "PyTorch: not installed, not measured."),
              "",
              f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, "
              f"{m['platform']}. Versions: " + ", ".join(f"{k} {val}" for k, val in v.items())
              + ".",
              f"Shared machine: processes of this machine other than the benchmark used "
              f"{report['others']['cpu_s']} CPU-seconds during the {report['total_s']:.0f} s "
              f"run (≈ {report['others']['cores_busy']} cores busy on average)"
              + (": " + "; ".join(f"`{t['cmd']}` ({t['cpu_s']} s)"
                                  for t in report["others"]["top"][:3])
                 if report["others"]["top"] else "")
              + f"; steal time {report['steal_s']} s. " + noise_sentence(results)
              + (" " + report["note"] if report.get("note") else ""), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def steal_ticks() -> int:
    """Steal time of all CPUs so far (ticks; the hypervisor gave the CPU to others)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return 0


def git_state() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "core", "plugins"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}" + (" + uncommitted changes in core/ or plugins/" if dirty
                                     else "")


def warm_up() -> None:
    """Start JAX and XLA once before anything is timed, so that neither side of the first
    comparison pays for the process' first compile."""
    import keras

    keras.utils.set_random_seed(SEED)
    m = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(2, 3),
                          keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                          keras.layers.Dropout(0.1),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
              jit_compile=True)
    x, y = np.zeros((64, 12, 12, 1), np.float32), np.zeros((64,), np.int32)
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    m.evaluate(x, y, batch_size=32, verbose=0)
    m.predict(x, batch_size=32, verbose=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke check: 1-epoch accuracy runs, one round of 2-epoch timing "
                         "runs; RESULTS.md is left alone unless --results is given")
    ap.add_argument("--models", default="lenet5,mlp", help="comma-separated: lenet5,mlp")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs of the accuracy runs (default: per model, lenet5 "
                         f"{SPECS['lenet5']['epochs']}, mlp {SPECS['mlp']['epochs']})")
    ap.add_argument("--timing-epochs", type=int, default=None,
                    help="epochs per timing run, the first left out (default: lenet5 "
                         f"{SPECS['lenet5']['timing_epochs']}, mlp "
                         f"{SPECS['mlp']['timing_epochs']})")
    ap.add_argument("--repeats", type=int, default=None,
                    help="interleaved timing rounds (default: lenet5 "
                         f"{SPECS['lenet5']['repeats']}, mlp {SPECS['mlp']['repeats']})")
    ap.add_argument("--verbose", type=int, default=0, choices=(0, 1),
                    help="verbose= of Task.fit in the accuracy runs (1: tqdm bars); default 0")
    ap.add_argument("--no-tqdm", dest="tqdm", action="store_false",
                    help="do not time the framework with its tqdm bars (verbose=1) as well")
    ap.add_argument("--no-overheads", action="store_true",
                    help="skip the breakdown of the framework's overheads")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--data", default=None, help="mnist.npz (Keras layout) or its folder")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    ap.add_argument("--results", default=None,
                    help="RESULTS.md to update (default bench/RESULTS.md; not in --quick)")
    ap.add_argument("--note", default="", help="a sentence to add to RESULTS.md")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 when a target is missed")
    ap.add_argument("--from-json", default=None,
                    help="measure nothing: rewrite RESULTS.md from a report saved by --json")
    args = ap.parse_args(argv)
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        if args.note:
            report["note"] = args.note
        for r in report["results"]:
            if r.get("overheads") and "expected_ratio" not in r["overheads"]:
                r["overheads"]["expected_ratio"] = expected_ratios(r["overheads"]["hooks"])
        results_path = args.results or str(HERE / "RESULTS.md")
        write_section(Path(results_path), SECTION, render_section(report))
        log(f"updated {results_path} from {args.from_json}")
        return 0
    if args.quick:
        args.epochs = args.epochs or 1
        args.timing_epochs = args.timing_epochs or 2
        args.repeats = args.repeats or 1
    if args.timing_epochs is not None and args.timing_epochs < 2:
        ap.error("--timing-epochs must be >= 2 (the first epoch compiles)")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in SPECS]
    if unknown or not names:
        ap.error(f"unknown model(s) {unknown}; choose from {sorted(SPECS)}")

    t_start = time.perf_counter()
    before, steal0, git = cpu_times(), steal_ticks(), git_state()
    import visionhooks as vh

    data_path = args.data or default_data_path()
    data = vh.datasets.load("mnist", path=data_path, full=True) if data_path else \
        vh.datasets.load("mnist", full=True)
    log(f"MNIST from {data.source}: {len(data.train)} train, {len(data.test)} test images")
    use_torch = not args.no_torch and "lenet5" in names and torch_available()
    torch_threads = None
    if use_torch:
        import torch

        torch_threads = torch.get_num_threads()
    elif not args.no_torch and "lenet5" in names:
        log("PyTorch is not installed: skipping the PyTorch comparison")
    warm_up()
    results = []
    with tempfile.TemporaryDirectory(prefix="vh-bench-") as tmp:
        for name in names:
            results.append(bench_model(name, SPECS[name], data, args, Path(tmp), use_torch))
    total = time.perf_counter() - t_start
    report = {
        "command": " ".join(["python", "bench/classification.py", *(argv if argv is not None
                                                                     else sys.argv[1:])]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git, "quick": args.quick, "args": vars(args), "machine": machine(),
        "versions": versions(), "torch_threads": torch_threads, "data": data.source,
        "results": results, "total_s": total,
        "others": other_cpu_use(before, cpu_times(), total),
        "steal_s": round((steal_ticks() - steal0) / os.sysconf("SC_CLK_TCK"), 1),
        "loadavg_end": os.getloadavg(), "note": args.note,
    }

    log("")
    log(f"{'model':<8}{'acc fw':>8}{'acc k':>8}{'wall fw':>9}{'wall k':>8}"
        f"{'img/s fw':>10}{'img/s k':>10}{'ratio':>7}{'tqdm':>7}{'img/s torch':>12}"
        f"{'fw/torch':>9}")
    for r in results:
        fw, pk = r["accuracy_runs"]["framework"], r["accuracy_runs"]["plain_keras"]
        ser = r["timing"]["series"]
        log(f"{r['model']:<8}{fw['accuracy']:>8.4f}{pk['accuracy']:>8.4f}"
            f"{fw['wall_s']:>9.1f}{pk['wall_s']:>8.1f}"
            f"{fmt(ser['framework']['images_per_s'], ',.0f'):>10}"
            f"{fmt(ser['plain_keras']['images_per_s'], ',.0f'):>10}"
            f"{fmt(r['ratio'], '.3f'):>7}{fmt(r['ratio_tqdm'], '.3f'):>7}"
            f"{fmt(ser.get('torch', {}).get('images_per_s'), ',.0f'):>12}"
            f"{fmt(r['torch_ratio'], '.2f'):>9}")
    missed = []
    for r in results:
        if not r["accuracy_ok"]:
            missed.append(f"{r['model']} accuracy "
                          f"{r['accuracy_runs']['framework']['accuracy']:.4f} < {r['target']}")
        if not r["ratio_ok"]:
            missed.append(f"{r['model']} throughput ratio {fmt(r['ratio'], '.3f')} < "
                          f"{RATIO_TARGET}")
    log(("targets (not expected to be met by --quick): " if args.quick else "targets: ")
        + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    log(f"other processes: {report['others']['cpu_s']} CPU-s during the run "
        f"({report['others']['cores_busy']} cores busy on average), steal "
        f"{report['steal_s']} s; total {total:.0f} s")

    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
        log(f"wrote {args.json}")
    results_path = args.results or (None if args.quick else str(HERE / "RESULTS.md"))
    if results_path:
        write_section(Path(results_path), SECTION, render_section(report))
        log(f"updated {results_path}")
    return 1 if (missed and args.strict and not args.quick) else 0


if __name__ == "__main__":
    sys.exit(main())
