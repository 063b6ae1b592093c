"""The compile-scaling benchmark runs at its smallest size and its three models (mgdsl, hand-written linopy,
Pyomo) reach the same optimum; no timing is asserted."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_compile_benchmark_smoke(tmp_path):
    pytest.importorskip("pyomo", reason="the Pyomo baseline comes with the dev extra (make setup)")
    out = tmp_path / "compile.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_compile.py"), "--smoke", "--csv", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = list(csv.DictReader(open(out)))
    assert rows, "the benchmark wrote no rows"
    assert {r["tool"] for r in rows} == {"mgdsl", "linopy", "pyomo"}
    assert all(r["status"] == "ok" for r in rows), [(r["tool"], r["status"]) for r in rows]
    objectives = [float(r["objective"]) for r in rows]
    reference = objectives[0]
    for value in objectives[1:]:
        assert abs(value - reference) <= 1e-6 * abs(reference), objectives
    # the same LP: the hand-written models restate the templates' variables and rows one for one
    assert len({(r["variables"], r["constraints"]) for r in rows}) == 1
