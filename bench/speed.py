#!/usr/bin/env python
"""Speed on CPU: the fast layers against Keras' own and PyTorch, per op and per model,
plus start-up and compile times.

1. Per op (forward + backward, batch 128 for LeNet-5's shapes, 16 for U-Net's): every
   formulation of ``visionhooks.plugins.layers.ops`` (the native C++ kernels where they
   are built) against XLA's convolution, max-pool and transposed convolution — the
   attempts behind ``ops.choose_conv``.
2. Training images/s, interleaved in one process: LeNet-5 (MNIST shapes, batch 128) and
   U-Net (base 16, 128×128×3, batch 16), each with the fast layers (the default), with
   Keras' own layers (``fast_layers = false``), and the same network in PyTorch (CPU,
   eager) when installed (``pip install torch==2.13.0``). Targets: LeNet-5 >= 1.2x
   PyTorch, U-Net >= 1.0x.
3. Start-up: ``import visionhooks``, ``visionhooks plugins`` and the first progress line
   of ``visionhooks train`` (compile time), each in a fresh process.

Usage: ``python bench/speed.py`` (~10 min), ``--quick``. Writes "## Speed (CPU)" in
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (REPO, as_float, default_data_path, machine, machine_line,  # noqa: E402
                    publish, versions)

TITLE = "## Speed (CPU)"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def best_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


# -- 1. per op ---------------------------------------------------------------------------


def op_timings(args) -> list[dict[str, Any]]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from visionhooks.plugins.layers import native, ops
    from visionhooks.plugins.layers.pooling import max_pool_2x2
    from visionhooks.plugins.layers.transposed import transpose_conv_stride_eq_kernel

    rng = np.random.default_rng(0)
    rows = []
    convs = [("lenet5 conv1", (128, 28, 28, 1), (5, 5, 1, 6), "same"),
             ("lenet5 conv2", (128, 14, 14, 6), (5, 5, 6, 16), "valid"),
             ("unet encoder1 conv1", (16, 128, 128, 3), (3, 3, 3, 16), "same"),
             ("unet encoder1 conv2", (16, 128, 128, 16), (3, 3, 16, 16), "same"),
             ("unet decoder2 conv1", (16, 64, 64, 64), (3, 3, 64, 32), "same")]
    for name, xs, ks, pad in convs:
        x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
        k = jnp.asarray(rng.standard_normal(ks), jnp.float32)
        g = jnp.asarray(rng.standard_normal(ops.conv(x, k, pad, "xla").shape), jnp.float32)
        row = {"op": name, "x": xs, "kernel": ks}
        for how in ops.FORMULATIONS:
            if how == "native" and not native.available():
                continue
            # each pass as the layers run it (conv_op: "native" backward passes are C++ too)
            op = ops.conv_op(pad, how, how, how)
            f = jax.jit(op)
            dx = jax.jit(lambda x, k, g, op=op: jax.vjp(lambda xx: op(xx, k), x)[1](g)[0])
            dk = jax.jit(lambda x, k, g, op=op: jax.vjp(lambda kk: op(x, kk), k)[1](g)[0])
            row[how] = {"forward": best_ms(lambda: f(x, k).block_until_ready(), args.repeats),
                        "input_grad": best_ms(lambda: dx(x, k, g).block_until_ready(),
                                              args.repeats),
                        "kernel_grad": best_ms(lambda: dk(x, k, g).block_until_ready(),
                                               args.repeats)}
        row["chosen"] = ops.choose_conv(xs, ks, pad)
        row["native_isa"] = native.isa()
        rows.append(row)
        log(f"{name}: " + "; ".join(f"{h} " + "/".join(f"{v:.2f}" for v in row[h].values())
                                    for h in ops.FORMULATIONS if h in row)
            + f" ms; chosen {row['chosen']}")
    pools = [("lenet5 pool1", (128, 28, 28, 6)), ("unet encoder1 pool", (16, 128, 128, 16))]
    for name, xs in pools:
        x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
        xla = jax.jit(jax.grad(lambda x: jnp.sum(jax.lax.reduce_window(
            x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") ** 2)))
        ours = jax.jit(jax.grad(lambda x: jnp.sum(max_pool_2x2(x) ** 2)))
        rows.append({"op": name + " (forward + backward)", "x": xs,
                     "xla": best_ms(lambda: xla(x).block_until_ready(), args.repeats),
                     "mask": best_ms(lambda: ours(x).block_until_ready(), args.repeats)})
        log(f"{name}: xla {rows[-1]['xla']:.2f} ms, mask {rows[-1]['mask']:.2f} ms")
    x = jnp.asarray(rng.standard_normal((16, 32, 32, 64)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((2, 2, 32, 64)), jnp.float32)

    def xla_t(x, k):
        return jax.lax.conv_transpose(x, k, (2, 2), "VALID",
                                      dimension_numbers=("NHWC", "HWOI", "NHWC"))

    for label, fn in (("xla", xla_t), ("matmul", transpose_conv_stride_eq_kernel)):
        step = jax.jit(jax.grad(lambda x, k, fn=fn: jnp.sum(fn(x, k) ** 2), argnums=(0, 1)))
        ms = best_ms(lambda: jax.block_until_ready(step(x, k)), args.repeats)
        if label == "xla":
            rows.append({"op": "unet decoder up 2x2/2 (forward + both gradients)",
                         "x": (16, 32, 32, 64), "xla": ms})
        else:
            rows[-1]["matmul"] = ms
    log(f"transposed conv: xla {rows[-1]['xla']:.2f} ms, matmul {rows[-1]['matmul']:.2f} ms")
    return rows


# -- 2. training ---------------------------------------------------------------------------

#: The benchmarked set-ups: LeNet-5 on MNIST shapes, U-Net (base 16, depth 4, batch norm)
#: on 128×128×3 shapes; also used by ``profile_step.py``.
BATCH = {"lenet5": 128, "unet": 16}


def load_data(kind: str, images: int):
    import visionhooks as vh

    if kind == "lenet5":
        return vh.datasets.load("mnist", path=default_data_path(), train_size=images,
                                test_size=100)
    return vh.datasets.load("shapes", image_size=128, train_images=images, test_images=16)


def compose_task(kind: str, data, fast: bool = True):
    import visionhooks as vh

    if kind == "lenet5":
        return vh.compose(task="classification", model="lenet5", data=data,
                          model_config={"fast_layers": fast})
    return vh.compose(task="segmentation", model="unet", data=data,
                      model_config={"base_filters": 16, "depth": 4, "batch_norm": True,
                                    "fast_layers": fast})


def torch_lenet():
    import torch
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10)), torch.nn.functional.cross_entropy


def torch_unet(base=16, depth=4):
    import torch
    from torch import nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList()
            c = 3
            for k in range(depth):
                self.enc.append(block(c, base * 2 ** k))
                c = base * 2 ** k
            self.mid = block(c, base * 2 ** depth)
            self.up, self.dec = nn.ModuleList(), nn.ModuleList()
            c = base * 2 ** depth
            for k in reversed(range(depth)):
                f = base * 2 ** k
                self.up.append(nn.ConvTranspose2d(c, f, 2, stride=2))
                self.dec.append(block(2 * f, f))
                c = f
            self.out = nn.Conv2d(c, 1, 1)

        def forward(self, x):
            skips = []
            for enc in self.enc:
                x = enc(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.mid(x)
            for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
                x = dec(torch.cat([skip, up(x)], 1))
            return self.out(x)

    return UNet(), lambda logits, y: nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], y.float())


def torch_fit_rate(model, loss_fn, x, y, batch: int, epochs: int, device: str = "cpu") -> float:
    """Images/s of the median steady epoch of a plain PyTorch loop (Adam, eps 1e-7): ``x``
    NHWC and ``y`` as NumPy arrays on the host, each batch moved to ``device`` as a data
    loader's would be."""
    import torch

    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)
    ends = []
    for _ in range(epochs):
        for i in range(0, len(xt) - batch + 1, batch):
            opt.zero_grad()
            loss = loss_fn(model(xt[i:i + batch].to(device)), yt[i:i + batch].to(device))
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        ends.append(time.perf_counter())
    return len(x) // batch * batch / statistics.median(b - a for a, b in zip(ends, ends[1:]))


def torch_rate(kind: str, x, y, batch: int, epochs: int) -> float | None:
    """``torch_fit_rate`` of the PyTorch LeNet-5 or U-Net; None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model, loss_fn = torch_lenet() if kind == "lenet5" else torch_unet()
    return torch_fit_rate(model, loss_fn, x, y.astype("int64"), batch, epochs)


def fit_rate(task, split, batch: int, epochs: int) -> float:
    """Images/s of the median steady epoch of ``task.fit`` (the first epoch compiles)."""
    import keras

    ends: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    task.fit(split, epochs=epochs, batch_size=batch, verbose=0, checkpoint=False,
             callbacks=[Timer()])
    n = len(split) // batch * batch
    return n / statistics.median(b - a for a, b in zip(ends, ends[1:]))


def vh_rate(kind: str, data, fast: bool, batch: int, epochs: int) -> float:
    return fit_rate(compose_task(kind, data, fast), data.train, batch, epochs)


def training(args) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    specs = [("lenet5", 1.2, args.lenet_images), ("unet", 1.0, args.unet_images)]
    for kind, target, images in specs:
        data, batch = load_data(kind, images), BATCH[kind]
        x, y = data.train
        xf = as_float(x)  # PyTorch's usual float32 tensors; visionhooks takes MNIST's uint8
        rates: dict[str, list[float]] = {"fast": [], "keras": [], "torch": []}
        for rnd in range(args.lenet_rounds if kind == "lenet5" else args.rounds):
            for who in (("fast", "keras", "torch") if rnd % 2 == 0 else ("torch", "keras", "fast")):
                if who == "torch":
                    r = torch_rate(kind, xf, y, batch, args.epochs)
                else:
                    r = vh_rate(kind, data, who == "fast", batch, args.epochs)
                if r is not None:
                    rates[who].append(r)
                    log(f"{kind} round {rnd + 1} {who}: {r:,.1f} images/s")
        row = {k: statistics.median(v) for k, v in rates.items() if v}
        row.update(batch=batch, images=len(x), target=target, rounds=rates)
        out[kind] = row
    return out


# -- 3. start-up -----------------------------------------------------------------------------


def startup(args) -> dict[str, float]:
    py = sys.executable

    def timed(cmd: list[str], until: str | None = None, env: dict | None = None) -> float:
        env = {**os.environ, **(env or {})}
        t0 = time.perf_counter()
        if until is None:
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            return time.perf_counter() - t0
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                text=True, bufsize=1, env=env)
        for line in proc.stderr:
            if until in line:
                elapsed = time.perf_counter() - t0
                proc.kill()
                proc.wait()
                return elapsed
        proc.wait()
        return float("nan")

    out = {"import_s": min(timed([py, "-c", "import visionhooks"]) for _ in range(3)),
           "plugins_s": min(timed([py, "-m", "visionhooks", "plugins"]) for _ in range(3))}
    with tempfile.TemporaryDirectory() as tmp:
        train = [py, "-m", "visionhooks", "train",
                 str(REPO / "examples/configs/lenet5_mnist.toml"), "--run-dir", tmp,
                 "--set", "data.train_size=4096", "--set", "data.test_size=256"]
        # cold: nothing compiled before; warm: JAX's persistent cache filled by a first run
        cold = {"VISIONHOOKS_COMPILATION_CACHE": "0"}
        out["train_first_progress_s"] = timed(train, until="epoch 1/", env=cold)
        warm = {"VISIONHOOKS_COMPILATION_CACHE": str(Path(tmp) / "jax-cache")}
        timed([*train, "--epochs", "1"], env=warm)
        out["train_first_progress_warm_s"] = min(
            timed(train, until="epoch 1/", env=warm) for _ in range(2))
    log(f"start-up: {out}")
    return out


def render(r: dict[str, Any]) -> str:
    lines = [TITLE, "", f"`{r.get('command', 'python bench/speed.py')}` — {r['date']}", ""]
    t = r.get("training", {})
    if t:
        lines += ["| model | batch | fast layers img/s | Keras layers img/s | fast / Keras | "
                  "PyTorch img/s | fast / PyTorch | target |", "|---|---|---|---|---|---|---|---|"]
        for name, row in t.items():
            torch = row.get("torch")
            ratio = row["fast"] / torch if torch else None
            lines.append(f"| {name} | {row['batch']} | {row['fast']:,.1f} | {row['keras']:,.1f} | "
                         f"{row['fast'] / row['keras']:.2f}x | "
                         + (f"{torch:,.1f} | {ratio:.2f}x" if torch else "not installed | –")
                         + f" | >= {row['target']:g}x PyTorch: "
                         + ("n/a" if ratio is None else "met" if ratio >= row["target"]
                            else "NOT met") + " |")
        lines += ["", "Per round (images/s, in the order run; the table gives medians): " + "; ".join(
            f"{name} " + ", ".join(f"{who} " + " / ".join(f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in vals)
                                   for who, vals in row.get("rounds", {}).items() if vals)
            for name, row in t.items()) + ".", ""]
    ops_rows = r.get("ops", [])
    if ops_rows:
        lines += ["Per op, best of repeated calls, ms (forward / input gradient / kernel "
                  "gradient for convolutions; forward + backward otherwise):", "",
                  "| op | shape | XLA | shifted | im2col | s2d | native | chosen |",
                  "|---|---|---|---|---|---|---|---|"]
        for o in ops_rows:
            if "shifted" in o:
                cells = ["/".join(f"{v:.2f}" for v in o[h].values()) if h in o else "–"
                         for h in ("xla", "shifted", "im2col", "s2d", "native")]
                if o.get("native_isa"):
                    cells[-1] += f" ({o['native_isa']})"
                shape = f"x {tuple(o['x'])}, k {tuple(o['kernel'])}"
                lines.append(f"| {o['op']} | {shape} | " + " | ".join(cells)
                             + f" | {'/'.join(o['chosen'])} |")
            else:
                alt = "mask" if "mask" in o else "matmul"
                label = "mask" if alt == "mask" else "matmul (backward: strided convolution)"
                lines.append(f"| {o['op']} | {tuple(o['x'])} | {o['xla']:.2f} | "
                             f"{label} {o[alt]:.2f} | – | – | – | {alt} |")
        lines.append("")
    s = r.get("startup")
    if s:
        lines += [f"Start-up (fresh processes): `import visionhooks` {s['import_s']:.2f} s, "
                  f"`visionhooks plugins` {s['plugins_s']:.2f} s (target < 0.5 s), first "
                  f"progress line of `visionhooks train examples/configs/lenet5_mnist.toml` "
                  f"{s['train_first_progress_s']:.1f} s (imports, data, model build and the "
                  f"first step's compilation)"
                  + (f"; {s['train_first_progress_warm_s']:.1f} s with JAX's persistent "
                     f"compilation cache filled by an earlier run (the CLI's default)"
                     if "train_first_progress_warm_s" in s else "") + ".", ""]
    lines += ["How: training figures are images over the median steady epoch (the first "
              "epoch compiles and is left out), runs interleaved in rotating order; "
              "PyTorch runs the same networks in CPU eager mode with all cores (Adam, "
              "eps 1e-7), from float32 arrays in [0, 1]; visionhooks from the dataset as "
              "loaded (MNIST: uint8 pixels, scaled inside the compiled step).", ""]
    lines.append(machine_line(r))
    return "\n".join(lines) + "\n"


ALL_PARTS = "ops,training,startup"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2, help="U-Net rounds (~3 min each)")
    p.add_argument("--lenet-rounds", type=int, default=6,
                   help="LeNet-5 rounds (~30 s each; PyTorch's speed varies between runs)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lenet-images", type=int, default=20480)
    p.add_argument("--unet-images", type=int, default=256)
    p.add_argument("--only", default=ALL_PARTS,
                   help="a subset prints its report and leaves RESULTS.md as it is")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.rounds, args.lenet_images, args.unet_images = 2, 1, 1024, 48
        args.lenet_rounds = 1
    parts = set(args.only.split(","))
    report: dict[str, Any] = {
        "command": " ".join(["python bench/speed.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions()}
    if "ops" in parts:
        report["ops"] = op_timings(args)
    if "training" in parts:
        report["training"] = training(args)
        report["models"] = report["training"]
    if "startup" in parts:
        report["startup"] = startup(args)
    return publish(report, render(report), TITLE, args.json, args.quick,
                   partial=parts != set(ALL_PARTS.split(",")))


if __name__ == "__main__":
    sys.exit(main())
