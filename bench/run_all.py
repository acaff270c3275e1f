#!/usr/bin/env python
"""Run every benchmark and rewrite ``bench/RESULTS.md``: a summary table of the headline
figures, each beside its reference measured in the same run and its target, then one
section per area written by its own script.

    python bench/run_all.py              # everything (about 1.5 hours on 2 cores)
    python bench/run_all.py --only augmentation,interpretation
    python bench/run_all.py --quick      # smoke run of every script; RESULTS.md untouched
    python bench/run_all.py --from-json gpu=gpu.json   # summarize a run made elsewhere

``gpu`` runs only where JAX sees a GPU; elsewhere it is skipped and the summary keeps its
earlier rows.

Each script runs in its own process (``python bench/<area>.py --json ...``), one after
another, so they never share the CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, machine, write_section  # noqa: E402

AREAS = ("classification", "detection", "segmentation", "augmentation", "interpretation",
         "speed", "streaming", "gpu")
TITLE = "## Summary"


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        d = d[p]
    return d


def _classification(r: dict) -> list[list[str]]:
    rows = []
    for m in r["results"]:
        fw = m["accuracy_runs"]["framework"]["accuracy"]
        rows.append([f"classification: {m['model']} test accuracy", f"{fw:.2%}",
                     "seed " + ("99.21%" if m["model"] == "lenet5" else "0.96"),
                     f">= {m['target']:.2%}", "yes" if m["accuracy_ok"] else "no"])
        rows.append([f"classification: {m['model']} train images/s, framework / plain Keras",
                     f"{m['ratio']:.3f}", "plain Keras, same process", ">= 0.97",
                     "yes" if m["ratio_ok"] else "no"])
    return rows


def _detection(r: dict) -> list[list[str]]:
    m = r["training"]["metrics"]
    return [["detection: yolov1-tiny mAP@0.5 on mnist-detection", f"{m['map50']:.3f}",
             "pycocotools-equal evaluator", ">= 0.90 in 20 min",
             "yes" if m["map50"] >= 0.9 else "no"]]


def _segmentation(r: dict) -> list[list[str]]:
    rows = []
    if "accuracy" in r:
        iou = r["accuracy"]["metrics"]["mean_iou"]
        rows.append(["segmentation: U-Net mean IoU on shapes", f"{iou:.3f}", "held-out scenes",
                     ">= 0.90 in 20 min", "yes" if iou >= 0.9 else "no"])
    if "throughput" in r:
        ratio = r["throughput"]["ratio"]
        rows.append(["segmentation: train images/s, framework / plain Keras", f"{ratio:.3f}",
                     "plain Keras, same process", ">= 0.97", "yes" if ratio >= 0.97 else "no"])
    return rows


def _augmentation(r: dict) -> list[list[str]]:
    rows = []
    for t in r["throughput"]:
        best = max(t[k] for k in ("ours", "ours_uint8", "ours_split", "ours_uint8_split")
                   if k in t)
        alb = t.get("albumentations")
        target = 20.0 if t["shape"][1] <= 28 else 1.0
        ratio = best / alb if alb else None
        rows.append([f"augmentation: images/s at {'x'.join(map(str, t['shape']))}",
                     f"{best:,.0f}", f"albumentations {alb:,.0f}" if alb else "n/a",
                     f">= {target:g}x", "n/a" if ratio is None else
                     f"{'yes' if ratio >= target else 'no'} ({ratio:.2f}x)"])
    return rows


def _interpretation(r: dict) -> list[list[str]]:
    return [[f"interpretation: {x['model']} {x['method']} maps/s, batched",
             f"{x['batched']:,.1f}", f"one at a time {x['single']:,.1f}", "–",
             f"{x['batched'] / x['single']:.1f}x"] for x in r["rows"]]


def _speed(r: dict) -> list[list[str]]:
    rows = []
    for name, row in r.get("models", {}).items():
        torch = row.get("torch")
        ratio = row["fast"] / torch if torch else None
        target = row.get("target")
        rows.append([f"speed: {name} train images/s (fast layers)", f"{row['fast']:,.1f}",
                     f"PyTorch {torch:,.1f}" if torch else "PyTorch not installed",
                     f">= {target:g}x PyTorch" if target else "–",
                     "n/a" if ratio is None else
                     f"{'yes' if target and ratio >= target else 'no'} ({ratio:.2f}x)"])
    return rows


def _streaming(r: dict) -> list[list[str]]:
    med = r["median"]
    return [[f"streaming: lenet5 train images/s from a PNG folder read batch by batch, "
             f"{k.split('-')[1]} worker(s)", f"{v:,.0f}", f"in memory {med['memory']:,.0f}",
             "–", f"{v / med['memory']:.2f}x"] for k, v in med.items() if k != "memory"]


def _gpu(r: dict) -> list[list[str]]:
    rows = []
    for row in r["rows"]:
        for what, ours, ref in (("train", "framework", "torch"),
                                ("inference", "framework_infer", "torch_infer")):
            a, b = row.get(ours), row.get(ref)
            if a:
                rows.append([f"gpu: {row['model']} batch {row['batch']} {what} images/s "
                             f"({r.get('gpu', 'GPU')})", f"{a:,.0f}",
                             f"PyTorch {b:,.0f}" if b else "PyTorch n/a", "–",
                             f"{a / b:.2f}x" if b else "n/a"])
    return rows


SUMMARY: dict[str, Callable[[dict], list[list[str]]]] = {
    "classification": _classification, "detection": _detection,
    "segmentation": _segmentation, "augmentation": _augmentation,
    "interpretation": _interpretation, "speed": _speed, "streaming": _streaming,
    "gpu": _gpu}


def _kept_rows(rerun: list[str]) -> list[str]:
    """Table rows of the current summary whose area is not being re-run."""
    if not RESULTS.exists():
        return []
    text = RESULTS.read_text(encoding="utf-8")
    if TITLE not in text:
        return []
    section = text.split(TITLE, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines()
            if line.startswith("| ") and ":" in line.split("|")[1]
            and line.split("|")[1].strip().split(":")[0] not in rerun]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help=f"comma-separated subset of {','.join(AREAS)}")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--from-json", action="append", default=[], metavar="AREA=FILE",
                   help="summarize a report measured elsewhere (e.g. gpu=gpu.json from a "
                        "GPU machine) instead of running that area")
    args = p.parse_args(argv)
    bad = [a for a in args.from_json if "=" not in a]
    if bad:
        p.error(f"--from-json takes AREA=FILE. Received: {', '.join(bad)}")
    given = dict(a.split("=", 1) for a in args.from_json)
    if given:  # the given areas join --only's (or are the only ones)
        extra = [a for a in given if not args.only or a not in args.only.split(",")]
        args.only = ",".join([*(args.only.split(",") if args.only else []), *extra])
    areas = args.only.split(",") if args.only else list(AREAS)
    unknown = sorted((set(areas) | set(given)) - set(AREAS))
    if unknown:
        p.error(f"unknown areas {unknown}; choose from {', '.join(AREAS)}")
    rows: list[list[str]] = []
    failed: list[str] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for area in areas:
            out = Path(given.get(area) or Path(tmp) / f"{area}.json")
            if area not in given:
                cmd = [sys.executable, str(HERE / f"{area}.py"), "--json", str(out)]
                if args.quick:
                    cmd.append("--quick")
                print(f"[{datetime.datetime.now():%H:%M:%S}] {' '.join(cmd[1:])}", flush=True)
                t0 = time.perf_counter()
                code = subprocess.call(cmd)
                print(f"  {area}: exit {code} after {time.perf_counter() - t0:.0f} s",
                      flush=True)
                if code or not out.exists():
                    failed.append(area)
                    continue
            try:
                report = json.loads(out.read_text())
                if "skipped" in report:  # e.g. gpu without a GPU: its earlier rows stay
                    skipped.append(area)
                    print(f"  {area}: skipped ({report['skipped']})", flush=True)
                    continue
                rows += SUMMARY[area](report)
            except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                rows.append([f"{area}: summary unavailable ({type(exc).__name__}: {exc})",
                             "", "", "", ""])
    mc = machine()
    ran = [a for a in areas if a not in skipped]
    kept = _kept_rows(ran) if args.only or skipped else []
    called = " ".join(["python bench/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [TITLE, "", f"`{called}` — "
             f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, "
             f"{mc['nproc']} CPUs ({mc['cpu']}), {mc['ram_gib']} GiB RAM. Each figure beside "
             f"its reference from the same run; details in the sections below."
             + (" Rows of the other areas are kept from the previous summary (each section "
                "gives its own date)." if kept else "")
             + (f" Rows of {', '.join(sorted(given))} come from the report(s) given with "
                f"--from-json (each section gives its machine and date)." if given else ""),
             "",
             "| figure | value | reference | target | met |", "|---|---|---|---|---|"]
    new_rows = {r[0].split(":")[0]: [] for r in rows}
    for r in rows:
        new_rows[r[0].split(":")[0]].append("| " + " | ".join(r) + " |")
    for area in AREAS:  # the areas' order, whichever ran now
        lines += new_rows.get(area, []) if area in ran else [k for k in kept
                                                              if k.startswith(f"| {area}:")]
    if failed:
        lines += ["", f"Failed to run: {', '.join(failed)}."]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.quick:
        write_section(RESULTS, TITLE, section)
        text = RESULTS.read_text(encoding="utf-8")
        if not text.startswith("# Benchmark results\n\n" + TITLE):  # the summary goes first
            body = text.replace(section.rstrip("\n") + "\n", "").replace(
                "# Benchmark results\n", "", 1).strip("\n")
            RESULTS.write_text("# Benchmark results\n\n" + section + "\n" + body + "\n",
                               encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
