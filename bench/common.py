"""Shared parts of the benchmarks: machine and version records, RESULTS.md sections."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "RESULTS.md"


def default_data_path() -> str | None:
    """Full MNIST: ``VISIONHOOKS_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("VISIONHOOKS_DATA")
    if env:
        return env
    cand = REPO.parent / "shared" / "data" / "mnist.npz"
    return str(cand) if cand.is_file() else None


def as_float(x: Any) -> Any:
    """Images as a reference framework takes them: float32 in [0, 1] (datasets read from
    8-bit files keep uint8, which visionhooks scales inside its compiled step)."""
    from visionhooks.tasktype import float_images

    return float_images(x)


def as_uint8(x: Any) -> Any:
    """Images as uint8 (0-255), from float32 in [0, 1] or as they are."""
    import numpy as np

    x = np.asarray(x)
    return x if x.dtype == np.uint8 else np.round(x * 255).astype(np.uint8)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        ram = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"nproc": usable, "cpu": model, "ram_gib": ram, "platform": platform.platform()}


def versions(extra: tuple[str, ...] = ("torch",)) -> dict[str, str]:
    import jax
    import keras

    out = {"python": platform.python_version(), "keras": keras.__version__,
           "jax": jax.__version__}
    for dist in ("jaxlib", "visionhooks", *extra):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_section(path: Path, title: str, section: str) -> None:
    """Replace (or append) the section headed ``title``; every other section is kept."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i].startswith("## ") or lines[i].startswith("# ")), len(lines))
        new = "\n".join([*lines[:start], *section.rstrip("\n").splitlines(), "",
                         *lines[end:]]).rstrip("\n") + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)


def machine_line(report: dict[str, Any]) -> str:
    """The "Machine: ... Versions: ..." line every section ends with."""
    mc, vs = report["machine"], report["versions"]
    return (f"Machine: {mc['nproc']} CPUs ({mc['cpu']}), {mc['ram_gib']} GiB RAM, "
            f"{mc['platform']}. Versions: " + ", ".join(f"{k} {v}" for k, v in vs.items()) + ".")


def publish(report: dict[str, Any], section: str, title: str, json_path: str | None,
            quick: bool, partial: bool = False) -> int:
    """Write the report as JSON (when asked), print the section, and put it in
    RESULTS.md unless this was a quick (smoke) run or a partial one (a subset of the
    benchmark's parts would replace the section's other parts and notes with nothing)."""
    import json

    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1, default=str))
    print(section)
    if partial and not quick:
        print(f"A partial run: {RESULTS.name} is left as it is (its JSON report goes in with "
              f"`python bench/run_all.py --from-json ...`).", file=sys.stderr)
    if not quick and not partial:
        write_section(RESULTS, title, section)
    return 0
