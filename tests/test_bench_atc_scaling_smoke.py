"""The ATC scaling benchmark runs at its smallest size (N = 3, 4 steps, both variants and executors): ATC
converges within 1 % of the centralized cost in every case (no timing is asserted)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# slow (about 18 s: both variants under serial and processes executors); `make test-all`
@pytest.mark.slow
def test_atc_scaling_benchmark_smoke(tmp_path):
    out = tmp_path / "scaling.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_atc_scaling.py"), "--smoke", "--csv", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = list(csv.DictReader(open(out)))
    assert {(r["microgrids"], r["variant"], r["executor"]) for r in rows} == {
        ("3", v, e) for v in ("continuous", "binary") for e in ("serial", "processes")}
    for r in rows:
        case = f"{r['variant']}/{r['executor']}"
        assert r["central_status"] == "optimal", case
        assert r["converged"] == "True", case
        assert abs(float(r["gap_pct"])) < 1.0, (case, r["gap_pct"])
        assert 0.0 <= float(r["outside_solver_share"]) <= 1.0, case
    # the binary variant is a MILP centrally, the continuous one an LP
    assert all((int(r["central_binaries"]) > 0) == (r["variant"] == "binary") for r in rows)
    # the executor changes where subproblems run, not what they compute
    for variant in ("continuous", "binary"):
        costs = [float(r["atc_cost"]) for r in rows if r["variant"] == variant]
        assert max(costs) - min(costs) <= 1e-6 * abs(costs[0]), (variant, costs)
