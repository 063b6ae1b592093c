"""bench/bench_cones.py at its smallest (6 hours): it runs, and the three ways of meeting the cones agree within the
accuracy (no timing is asserted). Slow: the lift's MILP of 6 hours alone takes seconds (make test-all runs it)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cones_benchmark_smoke():
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_cones.py"), "--quick"], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(ROOT / "bench/results/cones_quick.csv")))
    assert {(r["model"], r["cones"]) for r in rows} == {("MILP", "lift"), ("MILP", "lazy"), ("continuous", "exact"),
                                                        ("continuous", "lift"), ("continuous", "lazy")}
    for r in rows:
        assert abs(float(r["error_vs_exact"])) < 1e-4            # the accuracy's allowance, and the MIP gap
    lazy = next(r for r in rows if r["model"] == "MILP" and r["cones"] == "lazy")
    lift = next(r for r in rows if r["model"] == "MILP" and r["cones"] == "lift")
    assert int(lazy["rows"]) < int(lift["rows"]) / 5             # the tangents are not in the lowered model
