"""Faults during ATC: a worker process killed mid-run is replaced and the run reaches the same optimum; a part
that keeps killing its worker ends in E0610 naming the part, never a hang or a traceback."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal

import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.solve import executors

TWO_MICROGRIDS = """
use stdlib
horizon 4 steps of 1 h
profile price: yuan/kWh = [0.3, 0.6, 1.0, 0.4]
network dn {
    base 1 MVA, 12.66 kV
    buses 1 .. 3
    slack 1 buys at price
    line 1 - 2: r = 0.1 ohm, x = 0.1 ohm
    line 2 - 3: r = 0.1 ohm, x = 0.1 ohm
}
microgrid mg1 at dn.2 limit 500 kW {
    pv = PV(p_max = 80 kW, profile = [0.0, 0.5, 1.0, 0.2])
    es = Storage(electricity, capacity = 200 kWh, p_max = 60 kW, soc_init = 0.5)
    load = Load(electricity, base = 50 kW)
}
microgrid mg2 at dn.3 limit 500 kW {
    es = Storage(electricity, capacity = 100 kWh, p_max = 40 kW, soc_init = 0.5)
    load = Load(electricity, base = 70 kW)
}
"""


def _kill_a_worker_at(iteration: int):
    """A progress callback that SIGKILLs one live worker process after the given iteration."""
    def progress(it):
        if it.k == iteration:
            children = mp.active_children()
            assert children, "no worker process to kill"
            os.kill(children[0].pid, signal.SIGKILL)
    return progress


def test_killed_worker_is_replaced_and_the_optimum_is_unchanged(caplog):
    serial = mgdsl.loads(TWO_MICROGRIDS, path="faults.mgd")
    reference = serial.solve_atc(serial.atc_options(tolerance=1e-4))
    system = mgdsl.loads(TWO_MICROGRIDS, path="faults.mgd")
    options = system.atc_options(tolerance=1e-4, executor="processes", workers=2)
    with caplog.at_level("WARNING", logger="mgdsl.atc"):
        run = system.solve_atc(options, progress=_kill_a_worker_at(2))
    assert run.converged and reference.converged
    assert run.objective == pytest.approx(reference.objective, rel=1e-4)
    assert any("was lost (killed by SIGKILL)" in r.getMessage() for r in caplog.records)


def test_a_worker_that_keeps_dying_is_a_located_error(monkeypatch):
    monkeypatch.setattr(executors.ProcessExecutor, "max_restarts", 1)

    def kill_every_time(it):
        for child in mp.active_children():
            os.kill(child.pid, signal.SIGKILL)

    system = mgdsl.loads(TWO_MICROGRIDS, path="faults.mgd")
    options = system.atc_options(tolerance=1e-6, executor="processes", workers=1, max_iterations=20)
    with pytest.raises(MgdError) as err:
        system.solve_atc(options, progress=kill_every_time)
    (diag,) = err.value.diagnostics
    assert diag.code == "E0610"
    assert "`dn`" in diag.message and "`mg1`" in diag.message and "SIGKILL" in diag.message
    assert not mp.active_children() or all(not c.is_alive() for c in mp.active_children())
