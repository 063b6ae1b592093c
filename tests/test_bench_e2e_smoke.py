"""The end-to-end benchmark runs at its smallest size (models/example.mgd, one repeat) and HiGHS alone on the
exported MPS reaches mgdsl's objective (no timing is asserted)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_end_to_end_benchmark_smoke(tmp_path):
    out = tmp_path / "e2e.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_end_to_end.py"), "--smoke", "--csv", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = list(csv.DictReader(open(out)))
    assert [r["model"] for r in rows] == ["example"]
    row = rows[0]
    # the same model through the file and HiGHS alone: the same optimum (example.mgd's MILP lands on it exactly)
    assert float(row["objective_rel_diff"]) <= 1e-6
    assert row["objective_match"] == "True" and row["alone_status"] == "Optimal"
    assert float(row["api_cli_rel_diff"]) <= 1e-6          # the API path mirrors `mgdsl solve`
    stages = ["startup_s", "import_s", "parse_check_s", "lower_s", "to_highs_s", "highs_run_s", "read_back_s",
              "collect_s", "save_s"]
    assert all(float(row[s]) >= 0 for s in stages), {s: row[s] for s in stages}
    assert float(row["highs_run_s"]) > 0 and float(row["alone_run_s"]) > 0
    # the stages account for the process: what they leave out is small against the whole
    process = float(row["solve_process_s"])
    assert abs(sum(float(row[s]) for s in stages) - process) < 0.25 * process
