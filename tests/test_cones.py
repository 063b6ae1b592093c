"""The branch-flow cones met three ways (distflow_socp `cones = lazy | lift | exact`): tangents added lazily to HiGHS
(mgdsl/solve/outer_approx.py), the whole polyhedral lift, and exact cones (Clarabel for continuous models,
mgdsl/solve/conic.py; SCIP for models with integers, mgdsl/solve/conic_scip.py), against a hand-solved line and against
one another."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.lower.formulations.distflow_socp import cone_bound
from mgdsl.lower.system import lower_system
from mgdsl.solve import outer_approx

LINE = """use stdlib
horizon 1 steps of 1 h
network dn {{
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-6{cones})
    buses 1 .. 2
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 5 ohm, x = 3 ohm{rating}
    load 2: p = 500 kW, q = 200 kvar
}}
"""
Z = 12.66 ** 2 / 1.0                       # ohm: Z_base = kV^2 / MVA
R, X = 5 / Z, 3 / Z


def line_by_hand() -> tuple[float, float, float]:
    """The exact branch flow of one line at v1 = 1 (p.u.): l = P^2 + Q^2, P = 0.5 + r l, Q = 0.2 + x l (the loss
    r P^2 / V^2 at the sending end), a fixed point; and the marginal cost of the load's P at bus 2 (price 1/kWh):
    dP/dL = 1 / (1 - 2 r P - 2 r Q dQ/dP), dQ/dP = 2 x P / (1 - 2 x Q)."""
    P, Q = 0.5, 0.2
    for _ in range(100):
        l = P * P + Q * Q
        P, Q = 0.5 + R * l, 0.2 + X * l
    dq = 2 * X * P / (1 - 2 * X * Q)
    return P, Q, 1 / (1 - 2 * R * P - 2 * R * Q * dq)


def solve_line(mode: str, rating: str = ""):
    return mgdsl.loads(LINE.format(cones=f", cones = {mode}", rating=rating)).solve()


@pytest.mark.parametrize("mode", ["lazy", "lift", "exact"])
def test_one_line_by_hand(mode):
    """P, Q, the losses and the nodal price of the hand-solved line, whichever way the cone is met."""
    P, Q, price = line_by_hand()
    res = solve_line(mode)
    ds = res["dn"]
    assert float(ds["P"].sel(line="1-2", t=0)) == pytest.approx(1000 * P, rel=1e-6)
    assert float(ds["Q"].sel(line="1-2", t=0)) == pytest.approx(1000 * Q, rel=1e-5)
    assert res.summary["objective"] == pytest.approx(1000 * P, rel=1e-6)      # buys what the load and line take
    assert float(ds["losses"].sum()) == pytest.approx(1000 * R * (P * P + Q * Q), rel=1e-4)
    assert float(ds["price"].sel(bus=2, t=0)) == pytest.approx(price, rel=1e-4)
    assert res.summary["network"]["cones"] == mode


def test_lazy_needs_few_tangents():
    """One line: the first solve ignores the cone (no losses), the second has one tangent, the third meets the
    cone within 1e-6."""
    net = solve_line("lazy").summary["network"]
    assert net["cone_rounds"] <= 4 and net["cone_cuts"] <= 3 and net["cone_mip_solves"] == 0


DAY = """use stdlib
horizon 6 steps of 1 h
profile shape = [0.5, 0.6, 0.9, 1.0, 0.8, 0.6]
profile wind = [0.9, 0.7, 0.2, 0.1, 0.5, 0.8]
network dn {{
    base 1 MVA, 12.66 kV
    voltage 0.93 .. 1.07 pu
    formulation distflow_socp(accuracy = 1e-4, cones = {mode})
    buses 1 .. 5
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 1.2 ohm, x = 0.8 ohm
    line 2 - 3: r = 2.0 ohm, x = 1.5 ohm
    line 3 - 4: r = 2.5 ohm, x = 1.8 ohm
    line 2 - 5: r = 1.5 ohm, x = 1.0 ohm
    load 3: p = 900 kW * shape, q = 500 kvar * shape
    load 4: p = 700 kW * shape, q = 400 kvar * shape
    load 5: p = 400 kW * shape, q = 200 kvar * shape
    at 4: wt = Wind(p_max = 600 kW, profile = wind)
    at 4: cb = CapacitorBank(q_step = 150 kvar, units = 2, max_switches = 2)
    at 3: bat = Storage(electricity, capacity = 800 kWh, p_max = 300 kW)
}}
"""


def test_lazy_milp_meets_the_lift():
    """A MILP (capacitor steps): the lazy tangents reach the lift's cost within the MIP gap and accuracy, with few
    MILP solves, and every cone of the answer is within the accuracy's bound; the nodal prices (the LP of fixed
    integers, which the lazy solve ends with) agree with the lift's."""
    lazy = mgdsl.loads(DAY.format(mode="lazy")).solve(mip_prices=True)
    lift = mgdsl.loads(DAY.format(mode="lift")).solve(mip_prices=True)
    assert lazy.summary["objective"] == pytest.approx(lift.summary["objective"], rel=2e-4)
    np.testing.assert_allclose(lazy["dn"]["price"].values, lift["dn"]["price"].values, rtol=2e-3)
    net = lazy.summary["network"]
    assert net["cones"] == "lazy" and 1 <= net["cone_mip_solves"] <= 2
    assert net["cone_cuts"] < 40 * 4 * 6                           # the lift writes ~60 rows per line and step
    ds = lazy["dn"]
    v = ds["v"]
    v_from = np.array([[float(v.sel(bus=int(name.split("-")[0]), t=t)) for t in ds["t"].values]
                       for name in ds["line"].values])
    p, q, l = ds["P"].values / 1000, ds["Q"].values / 1000, ds["l"].values
    assert np.all(p * p + q * q <= cone_bound(l, v_from, 1e-4) + 1e-9)
    assert int(ds["cone_tangents"].sum()) == net["cone_cuts"]


def test_exact_against_the_relaxed_lazy():
    """The MILP's continuous relaxation solved exactly by Clarabel costs no more than the lazy MILP (less what the
    tangents' allowance lets an outer approximation save), and the lazy tangents on the same relaxation land
    within the accuracy of it."""
    from mgdsl.highs import from_linopy, set_option
    from mgdsl.solve.conic import solve_exact

    system = mgdsl.loads(DAY.format(mode="lazy"))
    milp = system.solve().summary["objective"]
    low = lower_system(system.ir, solver_cones=True)
    exact = solve_exact(low, relax_integers=True)
    constant = low.objective_constant
    assert exact.objective + constant <= milp * (1 + 1e-5)
    relaxed = lower_system(system.ir, solver_cones=True)
    for name in list(relaxed.model.integers):
        relaxed.model.variables[name].attrs["integer"] = False
    h = from_linopy(relaxed.model)
    set_option(h, "output_flag", False)
    out = outer_approx.solve(h, relaxed.network.cones, relaxed.network.cones.columns(relaxed.model))
    assert out.status == "optimal"
    assert out.objective == pytest.approx(exact.objective, rel=1e-5)


def test_exact_milp_through_scip_meets_the_lift():
    """The MILP day with exact cones (SCIP): the lift's cost within its accuracy (the lift, an outer approximation,
    costs no more, less the MIP gaps), the lazy tangents' likewise, every cone met (SCIP's feasibility tolerance),
    and the nodal prices of its integers fixed (Clarabel) those of the lift's fixed-integer LP."""
    exact = mgdsl.loads(DAY.format(mode="exact")).solve(mip_gap=1e-9, mip_prices=True)
    lift = mgdsl.loads(DAY.format(mode="lift")).solve(mip_gap=1e-9, mip_prices=True)
    lazy = mgdsl.loads(DAY.format(mode="lazy")).solve(mip_gap=1e-9)
    cost = exact.summary["objective"]
    assert exact.summary["network"]["cones"] == "exact" and exact.summary["mip_gap"] <= 1e-9
    for other in (lift, lazy):
        assert other.summary["objective"] == pytest.approx(cost, rel=2e-4)
        assert other.summary["objective"] <= cost * (1 + 1e-7)
    ds = exact["dn"]
    v = ds["v"]
    v_from = np.array([[float(v.sel(bus=int(name.split("-")[0]), t=t)) for t in ds["t"].values]
                       for name in ds["line"].values])
    p, q, l = ds["P"].values / 1000, ds["Q"].values / 1000, ds["l"].values
    assert np.all(p * p + q * q <= l * v_from + 1e-6)
    assert np.all(p * p + q * q >= l * v_from - 1e-6)             # and tight: the losses are the line's own
    np.testing.assert_allclose(ds["price"].values, lift["dn"]["price"].values, rtol=2e-3)


def test_an_infeasible_milp_through_scip_is_diagnosed():
    """SCIP proves the MILP day infeasible at a voltage band too narrow for it: the report is the lift's (E0601)."""
    with pytest.raises(MgdError) as err:
        mgdsl.loads(DAY.format(mode="exact").replace("0.93 .. 1.07 pu", "0.99 .. 1.0 pu")).solve()
    assert err.value.diagnostics[0].code == "E0601"


def test_scip_missing_is_E0621(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyscipopt", None)            # `import pyscipopt` raises ImportError
    with pytest.raises(MgdError) as err:
        mgdsl.loads(DAY.format(mode="exact")).solve()
    d = err.value.diagnostics[0]
    assert d.code == "E0621" and "PySCIPOpt" in d.message and "pip install 'mgdsl[conic]'" in d.help


def test_scip_without_a_point_at_the_time_limit_is_E0622():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(DAY.format(mode="exact")).solve(time_limit=1e-9)
    d = err.value.diagnostics[0]
    assert d.code == "E0622" and "SCIP" in d.message and "--time-limit" in d.help


def test_an_unsettled_loop_falls_back_to_the_lift(monkeypatch):
    """If the tangents do not settle within their rounds, the cones are written as the lift and solved so."""
    monkeypatch.setattr(outer_approx, "MAX_ROUNDS", 1)
    res = solve_line("lazy")
    assert res.summary["network"]["cones"] == "lift"
    assert res.summary["objective"] == pytest.approx(1000 * line_by_hand()[0], rel=1e-6)


@pytest.mark.parametrize("mode", ["lazy", "exact"])
def test_infeasible_through_the_cones_is_diagnosed(mode):
    """A line rated below what the load needs: the cone makes it infeasible; the report is the lift's (E0601)."""
    with pytest.raises(MgdError) as err:
        solve_line(mode, rating=", i_max = 20 A")
    assert err.value.diagnostics[0].code == "E0601"


def test_the_model_handed_to_users_has_the_lift():
    system = mgdsl.loads(LINE.format(cones="", rating=""))
    system.solve()
    described = system.size()["constraints"]
    assert described < 10                                          # solved with the cone described, not written
    assert system.model.ncons > described + 40                     # System.model writes the lift


def test_clarabel_missing_is_E0621(monkeypatch):
    monkeypatch.setitem(sys.modules, "clarabel", None)             # `import clarabel` raises ImportError
    with pytest.raises(MgdError) as err:
        solve_line("exact")
    d = err.value.diagnostics[0]
    assert d.code == "E0621" and "pip install 'mgdsl[conic]'" in d.help


def test_clarabel_failure_is_E0622():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINE.format(cones=", cones = exact", rating="")).solve(time_limit=1e-9)
    assert err.value.diagnostics[0].code == "E0622"


def test_unknown_cones_is_E0623():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINE.format(cones="", rating="")).solve(cones="fast")
    assert err.value.diagnostics[0].code == "E0623"


def test_cli_cones_flag(tmp_path):
    path = tmp_path / "line.mgd"
    path.write_text(LINE.format(cones=", cones = lift", rating=""))
    result = CliRunner().invoke(main, ["solve", str(path), "--cones", "exact", "--json", "--no-save"])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.output)
    assert summary["network"]["cones"] == "exact"
    assert summary["objective"] == pytest.approx(1000 * line_by_hand()[0], rel=1e-6)


def test_lazy_time_limit_without_a_point_within_the_accuracy_is_E0605():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(DAY.format(mode="lazy")).solve(time_limit=1e-6)
    assert err.value.diagnostics[0].code == "E0605"


def test_a_milp_declared_infeasible_is_solved_again_without_presolve(monkeypatch):
    """HiGHS's MILP presolve once declared a feasible day infeasible (nearly parallel tangents): the loop solves that
    MILP again without presolve before it gives up."""
    from mgdsl.highs import INFEASIBLE, _has_integers

    calls = []
    run = outer_approx.run

    def first_milp_infeasible(h, limit):
        if _has_integers(h):
            calls.append(h.getOptionValue("presolve")[1])            # (status, value)
            if len(calls) == 1:
                return INFEASIBLE
        return run(h, limit)

    monkeypatch.setattr(outer_approx, "run", first_milp_infeasible)
    res = mgdsl.loads(DAY.format(mode="lazy")).solve()
    assert calls[:2] == ["choose", "off"]
    assert res.summary["network"]["cones"] == "lazy"
