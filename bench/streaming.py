#!/usr/bin/env python
"""Training from files read batch by batch (``image-folder`` with ``stream = true``)
against the same folder read into memory first, in one process.

    python bench/streaming.py [--images 8192] [--workers 1,2,4] [--rounds 2]

MNIST digits are written as PNG files into a temporary class-per-folder tree; LeNet-5
trains on them (batch 128) from memory and streamed with each number of reading threads,
in alternating rounds. Prints images/s over the median steady epoch and the ratio to
memory; the reading rate alone (Pillow, one thread) says how much a core can decode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import default_data_path, machine, machine_line, publish, versions  # noqa: E402

TITLE = "## Streaming (CPU)"


def write_folder(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    import visionhooks as vh

    data = vh.datasets.load("mnist", path=default_data_path())
    x, y = data.train.take(n)
    for i in range(len(x)):
        folder = root / str(int(y[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(x[i, ..., 0], np.uint8)).save(folder / f"{i:06d}.png")


def rate(ds, epochs: int = 3) -> float:
    import keras

    import visionhooks as vh

    task = vh.compose(task="classification", model="lenet5", data=ds, seed=0)
    ends: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    task.fit(ds.train, epochs=epochs, batch_size=128, verbose=0, checkpoint=False,
             callbacks=[Timer()])
    n = len(ds.train) // 128 * 128
    return n / statistics.median(b - a for a, b in zip(ends, ends[1:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8192)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="a smoke run; RESULTS.md untouched")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.rounds, args.workers = 512, 1, "1"
    import datetime

    import numpy as np

    import visionhooks as vh

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root, args.images)
        params = dict(path=str(root), image_size=(28, 28), color_mode="grayscale",
                      test_fraction=0.1)
        lazy = vh.datasets.load("image-folder", **params, stream=True, workers=1)
        n = min(2048, len(lazy.train))
        t0 = time.perf_counter()
        lazy.train.read(np.arange(n))
        decode = n / (time.perf_counter() - t0)
        print(f"reading alone (Pillow, one thread): {decode:,.0f} images/s")
        workers = [int(w) for w in args.workers.split(",")]
        rates: dict[str, list[float]] = {"memory": [], **{f"stream-{w}": [] for w in workers}}
        for rnd in range(args.rounds):
            order = list(rates) if rnd % 2 == 0 else list(reversed(rates))
            for who in order:
                if who == "memory":
                    ds = vh.datasets.load("image-folder", **params)
                else:
                    ds = vh.datasets.load("image-folder", **params, stream=True,
                                          workers=int(who.split("-")[1]))
                r = rate(ds)
                rates[who].append(r)
                print(f"round {rnd + 1} {who}: {r:,.0f} images/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    report = {"machine": machine(), "versions": versions(()), "images": args.images,
              "decode": decode, "rates": rates, "median": med,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    names = {"memory": "in memory", **{f"stream-{w}": f"streamed, {w} worker{'s' * (w > 1)}"
                                       + (" (the default)" if w == 1 else "")
                                       for w in workers}}
    rows = "\n".join(f"| {names[k]} | {v:,.0f} | {v / med['memory']:.2f}x |"
                     for k, v in med.items())
    rounds = "; ".join(f"{names[k]} " + " / ".join(f"{r:,.0f}" for r in v)
                       for k, v in rates.items())
    section = f"""{TITLE}

`python bench/streaming.py --images {args.images} --rounds {args.rounds} --workers {args.workers}` — {report['date']}. {args.images:,} MNIST training digits written as PNG files (one folder per class), `image-folder` with `test_fraction = 0.1`; LeNet-5 at batch 128 trained from the folder read into memory first and streamed (`stream = true`), alternating rounds in one process; images/s over the median steady epoch.

| data | LeNet-5 train images/s | / memory |
|---|---|---|
{rows}

Per round: {rounds}. Decoding alone (Pillow, one thread): {decode:,.0f} images/s. One worker reads each batch in the main thread while JAX still computes the step before (asynchronous dispatch); more workers read the next batches ahead in threads, which share the cores with XLA's own threads (on this 2-core host no faster than one, hence the default of 1; a GPU host with idle cores is where they pay). A model this small is bound by decoding; larger ones (U-Net at ~23 images/s here) leave it a negligible share.

{machine_line(report)}
"""
    return publish(report, section, TITLE, args.json, args.quick)


if __name__ == "__main__":
    sys.exit(main())
