"""The ATC-against-centralized benchmark runs in its quick mode (the 33-bus case on 6 hours), so it does not rot:
both runs finish, ATC converges near the centralized optimum, and every iteration is broken down (no timing is
asserted)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# slow (12 s: the benchmark end to end at its quick size); `make test-all`
@pytest.mark.slow
def test_atc_vs_central_benchmark_quick(tmp_path):
    out = tmp_path / "vs.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_atc_vs_central.py"), "--quick", "--csv", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (row,) = list(csv.DictReader(open(out)))
    assert row["converged"] == "True"
    assert abs(float(row["gap_pct"])) < 0.01
    assert float(row["ratio"]) > 0 and float(row["central_s"]) > 0
    iterations = list(csv.DictReader(open(tmp_path / "vs_iterations.csv")))
    assert len(iterations) == int(row["iterations"])
    for it in iterations:
        assert {"part_dn_s", "part_mg1_s", "part_mg2_s", "part_mg3_s", "transfer_s", "coordination_s"} <= set(it)
        assert float(it["part_dn_s"]) >= 0 and float(it["coordination_s"]) >= 0
    # the network part answers relaxed (integers and cones) first, and exactly at the end
    assert iterations[0]["relaxed_parts"] == "dn" and iterations[-1]["relaxed_parts"] == ""
    assert "ATC / centralized" in proc.stdout
