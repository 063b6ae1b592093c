"""The executors benchmark runs at its smallest size (N = 3, 4 steps, 3 iterations; serial, processes, a Dask
LocalCluster and a loopback `dask scheduler` with `dask worker` processes): every executor takes serial's path
and the Dask rows count bytes on the wire (no timing is asserted)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parent.parent


# slow (about 18 s: processes, a LocalCluster and loopback dask workers started and stopped); `make test-all`
@pytest.mark.slow
def test_executors_benchmark_smoke(tmp_path):
    out = tmp_path / "executors.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "bench/bench_executors.py"), "--quick", "--csv", str(out)],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {r["executor"]: r for r in csv.DictReader(open(out))}
    assert set(rows) == {"serial", "processes", "dask", "dask-remote"}
    for name, r in rows.items():
        assert r["same_iterates"] == "True", name
        assert int(r["iterations"]) == 3 and float(r["ms_per_iteration"]) > 0, name
        assert float(r["calls_per_iteration"]) >= 1, name
    assert float(rows["serial"]["payload_kb_per_iteration"]) == 0
    assert int(rows["dask-remote"]["workers"]) == 2 and int(rows["dask"]["workers"]) >= 1
    for name in ("processes", "dask", "dask-remote"):
        assert float(rows[name]["payload_kb_per_iteration"]) > 0, name
    for name in ("dask", "dask-remote"):
        # Dask's frames carry the payload and some framing: more bytes than the pickled vectors, not orders more
        payload, wire = float(rows[name]["payload_kb_per_iteration"]), float(rows[name]["wire_kb_per_iteration"])
        assert payload < wire < 20 * payload, (name, payload, wire)
