"""The benchmark scripts' bookkeeping (no benchmark runs here): merging GPU runs and the
summary of reports measured elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture()
def bench(monkeypatch):
    """The bench modules (they put bench/ on sys.path themselves: undone afterwards)."""
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])
    import gpu
    import run_all

    yield gpu, run_all
    for name in ("gpu", "run_all", "speed", "common"):
        sys.modules.pop(name, None)


def _report(date, rows):
    return {"date": date, "gpu": "Test GPU", "machine": {"nproc": 1, "cpu": "x", "ram_gib": 1,
                                                         "platform": "p"},
            "versions": {"jax": "0"}, "rows": rows}


def test_gpu_runs_merge_with_the_earlier_figures_kept(bench):
    gpu, _ = bench
    a = _report("2026-01-01T00:00", [
        {"model": "lenet5", "batch": 128, "framework": 100.0, "torch": 50.0,
         "framework_infer": 400.0, "torch_infer": 800.0},
        {"model": "unet", "batch": 16, "framework": 10.0, "torch": 5.0}])
    b = _report("2026-01-02T00:00", [
        {"model": "lenet5", "batch": 128, "framework": 90.0, "torch": 60.0,
         "framework_infer": 900.0, "torch_infer": 800.0, "cpu_pool": 95.0}])
    merged = gpu.merge([a, b])
    rows = {(r["model"], r["batch"]): r for r in merged["rows"]}
    assert rows["lenet5", 128]["framework"] == 90.0
    assert rows["lenet5", 128]["earlier"] == [{"date": "2026-01-01T00:00", "framework": 100.0,
                                                "torch": 50.0, "framework_infer": 400.0,
                                                "torch_infer": 800.0}]
    assert rows["unet", 16]["framework"] == 10.0 and "earlier" not in rows["unet", 16]
    text = gpu.render(merged)
    assert "| lenet5 | 128 | 90.0 | 60.0 | 1.50 |" in text
    assert "| lenet5 | 128 | 90.0 | — | 95.0 | — | — |" in text  # the per-kind table
    assert "lenet5 128 (2026-01-01T00:00): 100 / 50.0 / 400 / 800" in text


def test_run_all_summarizes_a_report_from_elsewhere_and_keeps_rows_when_skipped(
        bench, tmp_path, monkeypatch):
    _, run_all = bench
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(run_all, "RESULTS", results)
    rep = _report("2026-01-02T00:00", [
        {"model": "unet", "batch": 16, "framework": 3000.0, "torch": 1500.0}])
    (tmp_path / "gpu.json").write_text(json.dumps(rep))
    assert run_all.main(["--from-json", f"gpu={tmp_path / 'gpu.json'}"]) == 0
    row = "| gpu: unet batch 16 train images/s (Test GPU) | 3,000 | PyTorch 1,500 | – | 2.00x |"
    assert row in results.read_text()
    (tmp_path / "skip.json").write_text(json.dumps({"skipped": "no GPU"}))
    assert run_all.main(["--from-json", f"gpu={tmp_path / 'skip.json'}"]) == 0
    assert row in results.read_text()
    for bad in (f"nope={tmp_path / 'gpu.json'}", "gpu"):  # unknown area; no '='
        with pytest.raises(SystemExit):
            run_all.main(["--from-json", bad])


def test_a_third_run_keeps_every_earlier_run_under_its_own_date(bench):
    gpu, _ = bench
    runs = [_report(f"2026-01-0{i}T00:00", [{"model": "unet", "batch": 16,
                                             "framework": float(i),
                                             **({"framework_error": "boom"} if i == 1 else {})}])
            for i in (1, 2, 3)]
    (row,) = gpu.merge(runs)["rows"]
    assert row["framework"] == 3.0 and row["date"] == "2026-01-03T00:00"
    assert [(e["date"], e["framework"]) for e in row["earlier"]] == [
        ("2026-01-01T00:00", 1.0), ("2026-01-02T00:00", 2.0)]
    assert "framework_error" not in row  # a later run's row replaces the earlier figures


def test_a_partial_run_leaves_results_md_as_it_is(bench, monkeypatch, tmp_path, capsys):
    """``speed.py --only training`` would otherwise replace the whole section (its op
    table, start-up figures and notes) with the one part it measured."""
    import common

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Speed (CPU)\n\nop table and notes\n")
    monkeypatch.setattr(common, "RESULTS", results)
    report = {"date": "2026-01-01"}
    common.publish(report, "## Speed (CPU)\n\ntraining only\n", "## Speed (CPU)",
                   str(tmp_path / "r.json"), quick=False, partial=True)
    assert "op table and notes" in results.read_text()
    assert json.loads((tmp_path / "r.json").read_text()) == report
    assert "partial run" in capsys.readouterr().err
    common.publish(report, "## Speed (CPU)\n\nall parts\n", "## Speed (CPU)", None,
                   quick=False)
    assert "all parts" in results.read_text() and "op table" not in results.read_text()
