#!/usr/bin/env python
"""Where a training step's time goes on CPU: every XLA fusion, convolution and dot of the
compiled step, with its thread time per step and the layer it comes from.

Traces one epoch of ``task.fit`` with ``jax.profiler.trace``, reads the trace back with
``jax.profiler.ProfileData`` and names each XLA operation from the compiled step's HLO
metadata (dumped with ``--xla_dump_to``). Thread time is summed over XLA's worker
threads, so an operation split over two cores counts twice its wall time; the work that
a convolution hands to Eigen's thread pool is not traced, only its dispatch. The op-level
timings of ``bench/speed.py`` miss what this shows: which values XLA recomputes inside
other fusions, and which fusions run on one core.

Usage: ``python bench/profile_step.py --model unet`` (lenet5 or unet, ~1 min).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DUMP = tempfile.mkdtemp(prefix="visionhooks-hlo-")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={DUMP} "
                           "--xla_dump_hlo_as_text --xla_dump_hlo_pass_re=NONE "
                           "--xla_dump_hlo_module_re=train_step").strip()
os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import BATCH, compose_task, load_data  # noqa: E402


def op_names() -> dict[str, str]:
    """HLO instruction name → the JAX operation (layer path) it was lowered from."""
    names: dict[str, str] = {}
    for path in Path(DUMP).glob("*train_step*cpu_after_optimizations.txt"):
        for m in re.finditer(r"^\s+%([\w.\-]+) = .*?op_name=\"([^\"]+)\"", path.read_text(),
                             re.M):
            names.setdefault(m.group(1), m.group(2).replace("jit(train_step)/", ""))
    return names


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("lenet5", "unet"), default="lenet5")
    p.add_argument("--images", type=int, help="images per traced epoch")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    import jax

    data = load_data(args.model, args.images or (4096 if args.model == "lenet5" else 64))
    task, batch = compose_task(args.model, data), BATCH[args.model]
    task.fit(data.train, epochs=1, batch_size=batch, verbose=0, checkpoint=False)  # compile
    trace = tempfile.mkdtemp(prefix="visionhooks-trace-")
    with jax.profiler.trace(trace):
        task.fit(data.train, epochs=1, batch_size=batch, verbose=0, checkpoint=False)
    steps = len(data.train) // batch
    total: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for xspace in Path(trace).rglob("*.xplane.pb"):
        for plane in jax.profiler.ProfileData.from_file(str(xspace)).planes:
            for line in plane.lines:
                if "XLA" not in line.name:
                    continue
                for ev in line.events:
                    if not ev.name.startswith(("ThunkExecutor", "end: ")):
                        total[ev.name] += ev.duration_ns
                        calls[ev.name] += 1
    names = op_names()
    print(f"{args.model}, batch {batch}, {steps} steps traced: "
          f"{sum(total.values()) / 1e6 / steps:.1f} ms of traced thread time per step\n")
    print(f"{'ms/step':>8} {'calls':>6}  operation  (from)")
    for name, ns in total.most_common(args.top):
        print(f"{ns / 1e6 / steps:8.2f} {calls[name] / steps:6.1f}  {name}  "
              f"({names.get(name, 'no metadata')})")
    shutil.rmtree(trace, ignore_errors=True)
    shutil.rmtree(DUMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
