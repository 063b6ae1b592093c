"""The dask executor: the same iterates as serial (objective and inconsistency per iteration, final targets) on
the ATC test systems and on property-test systems, on a small LocalCluster of this test module and on one the
executor starts itself; a Dask worker killed mid-run is replaced and the run reaches the same optimum; a worker
that keeps dying is E0610; without `distributed` the message says what to install (E0611); an unreachable or
malformed scheduler address is E0612 within the connect timeout; and the command line runs it."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.solve import dask_executor
from mgdsl.solve.atc import ATCOptions, run_atc
from mgdsl.solve.dask_executor import DaskExecutor

from .atc_cases import CONTINUOUS, MILP
from .strategies import systems
from .test_atc_faults import TWO_MICROGRIDS

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of two single-threaded worker processes for this module; its address."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.CRITICAL)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=30)


def _same_iterates(a, b) -> None:
    """Two ATC runs took the same path: iterations, objective and inconsistency of each, final targets."""
    assert len(a.iterations) == len(b.iterations)
    for x, y in zip(a.iterations, b.iterations):
        assert (x.k, x.where, x.step, x.phase) == (y.k, y.where, y.step, y.phase)
        assert x.objective == pytest.approx(y.objective, rel=1e-9, abs=1e-9)
        assert x.inconsistency == pytest.approx(y.inconsistency, rel=1e-9, abs=1e-12)
    assert a.converged == b.converged
    assert a.objective == pytest.approx(b.objective, rel=1e-9, abs=1e-9)
    assert set(a.targets) == set(b.targets)
    for cid in a.targets:
        np.testing.assert_allclose(a.targets[cid], b.targets[cid], rtol=1e-9, atol=1e-9)


def _serial_and_dask(text: str, scheduler: str | None, **options):
    serial = run_atc(mgdsl.loads(text).ir, ATCOptions(**options))
    dask = run_atc(mgdsl.loads(text).ir, ATCOptions(executor="dask", workers=2, scheduler=scheduler, **options))
    return serial, dask


@pytest.mark.parametrize("text", [CONTINUOUS, MILP], ids=["continuous", "milp"])
def test_same_iterates_as_serial_on_an_existing_cluster(scheduler, text):
    serial, dask = _serial_and_dask(text, scheduler, tolerance=1e-3)
    assert serial.converged
    _same_iterates(serial, dask)
    # the results of every part come back: the same costs per subsystem as serial
    assert dask.results.costs == pytest.approx(serial.results.costs, rel=1e-9, abs=1e-9)


@settings(max_examples=2, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(system=systems(max_steps=4, max_microgrids=3))
def test_same_iterates_as_serial_on_property_systems(scheduler, system):
    try:
        mgdsl.loads(system.text).solve()
    except MgdError as err:
        assume(err.diagnostics[0].code != "E0601")       # infeasible: not a system ATC speaks of
        raise
    serial, dask = _serial_and_dask(system.text, scheduler, tolerance=1e-4)
    _same_iterates(serial, dask)


@pytest.mark.slow            # 7 s: a LocalCluster started and stopped; existing-cluster runs cover the iterates
def test_a_local_cluster_of_its_own_gives_the_same_iterates():
    """No scheduler: the executor starts a LocalCluster (two workers here), and stops it at the end."""
    before = {p.pid for p in __import__("multiprocessing").active_children()}
    serial, dask = _serial_and_dask(TWO_MICROGRIDS, None, tolerance=1e-4)
    _same_iterates(serial, dask)
    time.sleep(0.5)
    left = [p for p in __import__("multiprocessing").active_children() if p.pid not in before and p.is_alive()]
    assert not left, f"worker processes left running: {left}"


def _capture_executors(monkeypatch) -> list[DaskExecutor]:
    seen: list[DaskExecutor] = []
    start = DaskExecutor.start

    def recording_start(self, specs, steps):
        seen.append(self)
        return start(self, specs, steps)

    monkeypatch.setattr(DaskExecutor, "start", recording_start)
    return seen


def _kill_worker(executor: DaskExecutor, slot: int = 0) -> int:
    """SIGKILL the Dask worker process holding a slot (the largest part is in slot 0); its pid."""
    address = executor.slots[slot].address
    pid = executor.client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_worker_is_replaced_and_the_optimum_is_unchanged(monkeypatch, caplog):
    seen = _capture_executors(monkeypatch)
    killed = []

    def progress(it):
        if it.k == 2:
            killed.append(_kill_worker(seen[0]))

    reference = run_atc(mgdsl.loads(TWO_MICROGRIDS).ir, ATCOptions(tolerance=1e-4))
    with caplog.at_level("WARNING", logger="mgdsl.atc"):
        run = run_atc(mgdsl.loads(TWO_MICROGRIDS).ir, ATCOptions(tolerance=1e-4, executor="dask", workers=2),
                      progress=progress)
    assert killed, "no worker was killed"
    assert run.converged and reference.converged
    assert run.objective == pytest.approx(reference.objective, rel=1e-4)
    for cid, r in reference.targets.items():
        np.testing.assert_allclose(run.targets[cid], r, atol=1e-4 * 1000 * 2)   # within twice the tolerance (kW)
    assert seen[0].restarts == 1
    lost = [r.getMessage() for r in caplog.records if "was lost" in r.getMessage()]
    assert len(lost) == 1 and "rebuilding its parts on tcp://" in lost[0], lost


def test_a_worker_killed_on_an_existing_cluster_is_replaced(monkeypatch, caplog, scheduler):
    seen = _capture_executors(monkeypatch)

    def progress(it):
        if it.k == 3:
            _kill_worker(seen[0], slot=1)

    reference = run_atc(mgdsl.loads(CONTINUOUS).ir, ATCOptions(tolerance=1e-3))
    with caplog.at_level("WARNING", logger="mgdsl.atc"):
        run = run_atc(mgdsl.loads(CONTINUOUS).ir,
                      ATCOptions(tolerance=1e-3, executor="dask", workers=2, scheduler=scheduler), progress=progress)
    assert run.converged
    assert run.objective == pytest.approx(reference.objective, rel=1e-4)
    assert seen[0].restarts == 1 and any("was lost" in r.getMessage() for r in caplog.records)
    # the cluster is not ours: it is still there, and its nanny brings the killed worker back
    client = distributed.Client(scheduler, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=60)
    finally:
        client.close()


@pytest.mark.slow            # 7 s; the same limit of the processes executor is tested by default (test_atc_faults)
def test_a_worker_that_keeps_dying_is_E0610(monkeypatch):
    monkeypatch.setattr(DaskExecutor, "max_restarts", 1)
    seen = _capture_executors(monkeypatch)

    def kill_every_time(it):
        _kill_worker(seen[0])

    with pytest.raises(MgdError) as err:
        run_atc(mgdsl.loads(TWO_MICROGRIDS).ir,
                ATCOptions(tolerance=1e-6, executor="dask", workers=2, max_iterations=20), progress=kill_every_time)
    (diag,) = err.value.diagnostics
    assert diag.code == "E0610"
    assert "Dask worker at `tcp://" in diag.message and "after 1 restarts" in diag.message
    assert seen[0].client is None and seen[0].cluster is None         # closed: no cluster left behind


def test_without_distributed_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)       # `import distributed` raises ImportError
    with pytest.raises(MgdError) as err:
        run_atc(mgdsl.loads(TWO_MICROGRIDS).ir, ATCOptions(executor="dask"))
    (diag,) = err.value.diagnostics
    assert diag.code == "E0611"
    assert "pip install 'mgdsl[dask]'" in diag.help and "--executor processes" in diag.help
    assert "`distributed`" in diag.message


@pytest.mark.parametrize("address, says", [
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at `tcp://127.0.0.1:1`"),
    ("no-port-here", "`no-port-here` is not a Dask scheduler address"),
])
def test_an_unreachable_scheduler_is_E0612_within_the_timeout(monkeypatch, address, says):
    monkeypatch.setattr(DaskExecutor, "connect_timeout", 2.0)
    t0 = time.monotonic()
    with pytest.raises(MgdError) as err:
        run_atc(mgdsl.loads(TWO_MICROGRIDS).ir, ATCOptions(executor="dask", scheduler=address))
    assert time.monotonic() - t0 < 20
    (diag,) = err.value.diagnostics
    assert diag.code == "E0612" and says in diag.message


def test_workers_without_mgdsl_are_E0612(monkeypatch, scheduler):
    def no_mgdsl():
        raise ModuleNotFoundError("No module named 'mgdsl'")

    monkeypatch.setattr(dask_executor, "mgdsl_version", no_mgdsl)
    with pytest.raises(MgdError) as err:
        run_atc(mgdsl.loads(TWO_MICROGRIDS).ir, ATCOptions(executor="dask", scheduler=scheduler))
    (diag,) = err.value.diagnostics
    assert diag.code == "E0612" and "cannot run mgdsl" in diag.message and "No module named" in diag.notes[0]


def test_write_brings_a_part_model_file_back(tmp_path, scheduler):
    from mgdsl.decompose.partition import partition
    from mgdsl.solve.atc import specs_for

    ir = mgdsl.loads(TWO_MICROGRIDS).ir
    options = ATCOptions()
    specs = specs_for(partition(ir, options.children), options, ir.network.base_kva)
    executor = DaskExecutor(workers=2, scheduler=scheduler)
    try:
        executor.start(specs, ir.steps)
        executor.write("mg1", str(tmp_path / "mg1.lp"))
    finally:
        executor.close()
    text = (tmp_path / "mg1.lp").read_text()
    assert text.lower().startswith("\\") or "minimize" in text.lower(), text[:200]
    assert len(text) > 200


def _mgdsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mgdsl.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_says_what_to_install_without_distributed(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from mgdsl.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)
    r = CliRunner().invoke(main, ["solve", str(ROOT / "models/storage_arbitrage.mgd"), "--decompose", "atc",
                                  "--executor", "dask", "-o", str(tmp_path / "out")])
    assert r.exit_code == 6, r.output          # the workers cannot be had, not a model error
    assert "E0611" in r.output and "pip install 'mgdsl[dask]'" in r.output and "Traceback" not in r.output


def test_cli_solves_a_bundled_model_with_the_dask_executor(tmp_path):
    proc = _mgdsl("solve", "models/storage_arbitrage.mgd", "--decompose", "atc", "--executor", "dask",
                  "-o", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["objective"] == pytest.approx(mgdsl.load(ROOT / "models/storage_arbitrage.mgd").solve().objective,
                                                 rel=1e-6)
    assert "Traceback" not in proc.stderr


def test_cli_uses_an_existing_scheduler(tmp_path, scheduler):
    model = tmp_path / "two.mgd"
    model.write_text(TWO_MICROGRIDS)
    proc = _mgdsl("solve", str(model), "--decompose", "atc", "--executor", "dask", "--scheduler", scheduler,
                  "--tolerance", "1e-4", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "executor dask" in proc.stdout and "converged after" in proc.stdout
