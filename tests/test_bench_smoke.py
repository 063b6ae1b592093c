"""The benchmarks run at their smallest size, so they do not rot (no timing is asserted)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_atc_iteration_benchmark_smoke(tmp_path):
    out = tmp_path / "atc.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_atc_iteration.py"), "--smoke", "--csv", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(out)))
    assert rows and float(rows[0]["rebuild_max_objective_diff"]) < 1e-6
