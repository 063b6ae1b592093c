"""The start-up benchmark runs at its smallest size (N = 10, one repeat): every row measured, `mgdsl solve` wrote
its results (no timing is asserted). Marked slow: ~15 s of fresh processes, and tests/test_imports.py already
runs the same commands by default."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_startup_benchmark_smoke(tmp_path):
    out = tmp_path / "startup.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_startup.py"), "--smoke", "--csv", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {r["what"]: r for r in csv.DictReader(open(out))}
    assert set(rows) == {"mgdsl check (small)", "mgdsl solve (small, written)", "parse of the file, N = 10",
                         "parse + check (load), N = 10", "re-check (--watch), N = 10"}
    for r in rows.values():
        assert float(r["seconds"]) > 0 and float(r["baseline_s"]) > 0
        assert abs(float(r["ratio"]) - float(r["seconds"]) / float(r["baseline_s"])) < 1e-9
        assert float(r["cpu_s"]) > 0 and float(r["baseline_cpu_s"]) > 0
