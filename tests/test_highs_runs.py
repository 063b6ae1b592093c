"""mgdsl.highs, the one module that talks to highspy: silent objects, refused options, runs bounded per run,
the QP solver choice (HiPO only where HiGHS accepts it), and the label-to-position maps."""
from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

import mgdsl
from mgdsl import highs
from mgdsl.diagnostics import MgdError
from mgdsl.solve.atc import ATCOptions, run_atc

from .atc_cases import CONTINUOUS

TINY_LP = """use stdlib
horizon 2 steps of 1 h
microgrid mg {
    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)
    load = Load(electricity, base = 10 kW)
}
"""


def _tiny_highs():
    return highs.from_linopy(mgdsl.loads(TINY_LP).lower().model)


def test_run_bounds_each_run_not_the_objects_lifetime():
    """HiGHS compares time_limit with the object's accumulated run time: a resident ATC subproblem given a plain
    limit would stop every solve at once after it had run that long in all. `run` bounds each run."""
    h = _tiny_highs()
    limit = 0.02
    runs = 0
    while h.getRunTime() < 5 * limit and runs < 20000:      # accumulate well past the limit
        h.clearSolver()
        assert highs.run(h, limit) == highs.OPTIMAL, f"run {runs} stopped: {highs.status_text(h)}"
        runs += 1
    assert h.getRunTime() >= 5 * limit
    assert h.getOptionValue("time_limit")[1] == pytest.approx(h.getRunTime() + limit, abs=limit)
    highs.run(h, None)
    assert h.getOptionValue("time_limit")[1] == float("inf")


def test_refused_option_is_raised_not_ignored():
    h = highs.new_highs()
    with pytest.raises(RuntimeError, match="no_such_option"):
        highs.set_option(h, "no_such_option", 1)
    with pytest.raises(RuntimeError, match="time_limit"):
        highs.set_option(h, "time_limit", -1.0)


def test_objects_are_silent(capfd):
    """highspy 1.16 prints its banner when a Highs object is created, before output_flag can be set."""
    h = _tiny_highs()
    highs.run(h, 10)
    highs.new_highs()
    out = capfd.readouterr().out
    assert "HiGHS" not in out and "Running" not in out


def _versions() -> tuple[str, str | None]:
    try:
        extras = metadata.version("highspy-extras")
    except metadata.PackageNotFoundError:
        extras = None
    return metadata.version("highspy"), extras


def test_qp_solver_is_hipo_only_where_highs_accepts_it():
    """Importing highspy_extras is not enough: highspy 1.16 refuses the extras of 1.15 (an ABI check), and a
    refused `solver hipo` left the active-set solver in place, which stalled for 40 minutes on an ATC part."""
    highspy_version, extras_version = _versions()
    if extras_version is not None and extras_version.split(".")[:2] == highspy_version.split(".")[:2]:
        assert highs.hipo_available(), f"highspy {highspy_version} with extras {extras_version} should offer HiPO"
    if extras_version is None:
        assert not highs.hipo_available()
    expected = "hipo" if highs.hipo_available() else "qpasm"
    assert highs.qp_solver() == expected
    assert highs.solve_options(quadratic=True)["solver"] == expected
    h = highs.new_highs()
    highs.set_option(h, "solver", highs.qp_solver())           # what mgdsl asks for is always accepted
    assert "highspy" in highs.installed_versions()


def test_quadratic_penalty_without_hipo_is_refused_at_once(monkeypatch):
    monkeypatch.setattr("mgdsl.solve.atc.hipo_available", lambda: False)
    with pytest.raises(MgdError) as e:
        run_atc(mgdsl.loads(CONTINUOUS).ir, ATCOptions(penalty="quadratic"))
    (d,) = e.value.diagnostics
    assert d.code == "E0606" and "HiPO" in d.message
    assert "penalty pwl" in d.help and "highspy" in d.notes[0]
    # pwl does not need HiPO
    run = run_atc(mgdsl.loads(CONTINUOUS).ir, ATCOptions(penalty="pwl", max_iterations=2))
    assert len(run.iterations) == 2


def test_label_maps_mark_absent_entries():
    m = mgdsl.loads(TINY_LP).lower().model
    var = m.variables["Load.p"]
    labels = np.asarray(var.labels.values)
    cols = highs.column_positions(m, labels)
    assert cols.shape == labels.shape and (cols >= 0).all()
    assert [highs.column_label(m, int(c)) for c in cols.ravel()] == labels.ravel().tolist()
    assert highs.column_positions(m, np.array([-1, labels.ravel()[0]])).tolist() == [-1, cols.ravel()[0]]
    con = m.constraints["Load.c1"]
    rows = highs.row_positions(m, con.labels.values)
    assert [highs.row_label(m, int(r)) for r in rows.ravel()] == np.asarray(con.labels.values).ravel().tolist()
