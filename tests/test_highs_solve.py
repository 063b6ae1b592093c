"""A centralized solve at its time limit: a feasible point is returned, marked `time limit (feasible)` with its
MIP gap; without one, E0605. The by-product runs (unboundedness search) are bounded too."""
from __future__ import annotations

import json

import linopy
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl import highs
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.solve.centralized import TIME_LIMIT_FEASIBLE, diagnose_unbounded, solve_lowered

# an on/off CHP (a MILP) that must run: 500 kW of load, 300 kW of heat
MILP = """use stdlib
horizon 24 steps of 1 h

microgrid mg1 {
    chp = CHPUnit(p_max = 800 kW, p_min = 200 kW)
    load = Load(electricity, base = 500 kW)
    heat = Load(heat, base = 300 kW)
    gb = GasBoiler(h_max = 600 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    grid = ElectricityTrade(buy_price = 0.9 yuan/kWh)
}
"""


def test_time_limit_without_a_feasible_point_is_E0605():
    with pytest.raises(MgdError) as e:
        mgdsl.loads(MILP).solve(time_limit=0)
    (d,) = e.value.diagnostics
    assert d.code == "E0605" and "without finding a feasible point" in d.message
    assert "--time-limit" in d.help


@pytest.fixture
def stopped_at_the_time_limit(monkeypatch):
    """HiGHS solves the model, then reports that it stopped at its time limit: which point it holds then is
    HiGHS's timing, not something a test can rely on, so the status is what is simulated."""
    solve = linopy.Model.solve

    def solve_then_time_limit(self, *args, **kwargs):
        status, _ = solve(self, *args, **kwargs)
        return status, "time_limit"

    monkeypatch.setattr(linopy.Model, "solve", solve_then_time_limit)


def test_time_limit_with_a_feasible_point_returns_it_marked(stopped_at_the_time_limit, tmp_path):
    info = solve_lowered(mgdsl.loads(MILP).lower(), time_limit=60)
    assert info.termination == TIME_LIMIT_FEASIBLE == "time limit (feasible)"
    assert info.mip_gap is not None and 0 <= info.mip_gap <= 1e-3
    path = tmp_path / "m.mgd"
    path.write_text(MILP)
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["solve", str(path), "--time-limit", "60", "-o", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "time limit (feasible)"
    assert summary["objective"] == pytest.approx(mgdsl.loads(MILP).solve().objective, rel=1e-3)


def test_optimal_milp_reports_its_gap_and_an_lp_none():
    info = solve_lowered(mgdsl.loads(MILP).lower())
    assert info.termination == "optimal" and info.mip_gap is not None and info.mip_gap <= 1e-4
    lp = MILP.replace("chp = CHPUnit(p_max = 800 kW, p_min = 200 kW)", "chp = CHP(p_max = 800 kW)")
    assert solve_lowered(mgdsl.loads(lp).lower()).mip_gap is None


UNBOUNDED = """horizon 2 steps of 1 h
device Seller(price: yuan/kWh) {
    var sell[t]: kW >= 0
    var buy[t]: kW >= 0
    port electricity += buy - sell
    cost += (0.1 yuan/kWh * buy - price * sell) * dt
}
microgrid mg1 {
    s = Seller(price = 0.5 yuan/kWh)
}
"""


def test_unboundedness_search_is_bounded_in_time(monkeypatch):
    low = mgdsl.loads(UNBOUNDED).lower()
    with pytest.raises(MgdError) as e:
        diagnose_unbounded(low)
    assert any("`sell`" in n for n in e.value.diagnostics[0].notes)
    # a search that reaches its bound (simulated: this model is solved before HiGHS looks at the clock) says so
    seen = []

    def stopped(h, time_limit):
        seen.append(time_limit)
        return highs.TIME_LIMIT

    monkeypatch.setattr("mgdsl.solve.centralized.run", stopped)
    with pytest.raises(MgdError) as e:
        diagnose_unbounded(low)
    (d,) = e.value.diagnostics
    assert seen == [highs.UNBOUNDED_TIME_LIMIT]
    assert d.code == "E0602" and "stopped at its time limit" in d.notes[-1]


def test_any_other_stop_is_E0603(monkeypatch):
    """A stop that is neither optimal, a limit, infeasible nor unbounded (a HiGHS solve or model error: no model
    that passes `mgdsl check` is known to cause one, so the status is simulated)."""
    solve = linopy.Model.solve

    def solve_then_fail(self, *args, **kwargs):
        status, _ = solve(self, *args, **kwargs)
        return "error", "internal_solver_error"

    monkeypatch.setattr(linopy.Model, "solve", solve_then_fail)
    with pytest.raises(MgdError) as e:
        mgdsl.loads(MILP).solve()
    (d,) = e.value.diagnostics
    assert d.code == "E0603" and "internal_solver_error" in d.message
