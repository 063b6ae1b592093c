"""The epsilon-constraint Pareto front (issue 10, item 5): fronts whose points are known by hand, the fuzzy choice
on a hand-made front, exact SOC points when vdi is in the front, infeasible epsilons reported, one model built per
study, errors, a property test (every point feasible, none dominated) and the command line end to end."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.studies import pareto as pareto_module
from mgdsl.studies import resident as resident_module
from mgdsl.studies.pareto import compromise, dominance, memberships

GEN = """device Gen(p_max: kW, price: yuan/kWh) {
    var p[t]: kW in 0 .. p_max
    port electricity += p
    cost += price * p * dt
}
"""

# Two generators for a 100 kW load: the dirty one costs 1 yuan/kWh, the clean one 3. With e the dirty energy,
# cost = e + 3 (100 - e) = 300 - 2 e for e in [0, 100]: the whole front is that segment.
TWO_GENERATORS = """use stdlib
horizon 1 steps of 1 h
""" + GEN + """
microgrid mg {
    dirty = Gen(p_max = 200 kW, price = 1 yuan/kWh)
    clean = Gen(p_max = 200 kW, price = 3 yuan/kWh)
    load = Load(electricity, base = 100 kW)
}

objective dirty_energy: kWh = sum(mg.dirty.p * dt)
"""

# One 50-ohm line (x = 0) to a 1000 kW load and a generator at bus 2 dearer than the slack (tests/test_objectives.py):
# a sending-end flow S p.u. has l = S^2, losses 1000 r S^2 kWh, and costs 1000 (0.5 S + 0.8 (1 - S + r S^2)).
TRADE = """use stdlib
horizon 1 steps of 1 h
""" + GEN + """
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-6)
    buses 1 .. 2
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 50 ohm, x = 0 ohm
    load 2: p = 1000 kW, q = 0 kvar
    at 2: g = Gen(p_max = 2000 kW, price = 0.8 yuan/kWh)
}
"""
R = 50 / (12.66 ** 2)


def trade_cost(S: float) -> float:
    return 1000 * (0.5 * S + 0.8 * (1 - S + R * S * S))


# A subsidized generator (-0.2 yuan/kWh) that exports over a 20-ohm line and sells at 0: the cheapest schedule
# raises bus 2 above 1 p.u. Minimizing vdi under a cost bound, the relaxation can lower that voltage for free with
# squared currents no flow explains (losses the slack does not pay for).
EXPORT = """use stdlib
horizon 1 steps of 1 h
""" + GEN + """
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.2 pu
    formulation distflow_socp(accuracy = 1e-6)
    buses 1 .. 2
    slack 1 buys at 0.5 yuan/kWh sells at 0 yuan/kWh
    line 1 - 2: r = 20 ohm, x = 0 ohm
    load 2: p = 200 kW, q = 0 kvar
    at 2: g = Gen(p_max = 1500 kW, price = -0.2 yuan/kWh)
}
"""


# ---------------------------------------------------------------- fronts known by hand
def test_linear_front_by_hand():
    """cost = 300 - 2 e: the payoff table holds (100 yuan, 100 kWh) and (300 yuan, 0 kWh); five epsilons on e give
    cost 300, 250, 200, 150, 100; the memberships are e/100 and 1 - e/100, so the compromise is e = 50."""
    front = mgdsl.loads(TWO_GENERATORS).pareto("cost", "dirty_energy", points=5)
    assert front.best == pytest.approx({"cost": 100.0, "dirty_energy": 0.0}, abs=1e-6)
    assert front.worst == pytest.approx({"cost": 300.0, "dirty_energy": 100.0}, abs=1e-6)
    p = front.points
    assert list(p["status"].values) == ["optimal"] * 5
    e = p["value"].sel(objective="dirty_energy").values
    assert e == pytest.approx([0, 25, 50, 75, 100], abs=1e-4)
    assert p["value"].sel(objective="cost").values == pytest.approx([300, 250, 200, 150, 100], abs=1e-4)
    assert p["epsilon"].sel(bound="dirty_energy").values == pytest.approx([0, 25, 50, 75, 100], abs=1e-6)
    assert p["membership"].sel(objective="cost").values == pytest.approx(e / 100, abs=1e-6)
    assert p["membership"].sel(objective="dirty_energy").values == pytest.approx(1 - e / 100, abs=1e-6)
    assert front.compromise == 2
    assert float(p["min_membership"].sel(point=2)) == pytest.approx(0.5, abs=1e-6)
    assert not p["dominated"].values.any() and (p["duplicate_of"].values == -1).all()
    # the compromise's schedule: 50 kWh from each generator
    sched = front.results[2]["Gen"]["p"]
    assert float(sched.sel(instance="mg.dirty", t=0)) == pytest.approx(50.0, abs=1e-4)
    assert float(sched.sel(instance="mg.clean", t=0)) == pytest.approx(50.0, abs=1e-4)
    # the other way round: minimize the dirty energy, bound the cost
    back = mgdsl.loads(TWO_GENERATORS).pareto("dirty_energy", ["cost"], points=3)
    assert back.points["value"].sel(objective="dirty_energy").values == pytest.approx([100, 50, 0], abs=1e-4)


def test_network_front_by_hand():
    """Cost against losses on the 2-bus line. Minimizing cost gives S = 0.3 / (2 r 0.8); minimizing losses gives
    S = 0 (the generator covers the load: cost 800). In between, losses <= eps binds: S = sqrt(eps / (1000 r)) and
    the cost is trade_cost(S)."""
    front = mgdsl.loads(TRADE).pareto("cost", ["losses"], points=5)
    S_cost = 0.3 / (2 * R * 0.8)
    payoff = front.payoff["value"]
    assert float(payoff.sel(minimized="cost", objective="cost")) == pytest.approx(trade_cost(S_cost), rel=1e-6)
    assert float(payoff.sel(minimized="cost", objective="losses")) == pytest.approx(1000 * R * S_cost ** 2,
                                                                                    rel=5e-3)   # a flat optimum
    assert float(payoff.sel(minimized="losses", objective="losses")) == pytest.approx(0.0, abs=1e-3)
    assert float(payoff.sel(minimized="losses", objective="cost")) == pytest.approx(800.0, rel=2e-4)
    p = front.points
    eps = p["epsilon"].sel(bound="losses").values
    cost = p["value"].sel(objective="cost").values
    losses = p["value"].sel(objective="losses").values
    for k in (1, 2, 3):                                  # the binding points
        S = math.sqrt(eps[k] / (1000 * R))
        assert losses[k] == pytest.approx(eps[k], rel=1e-6)
        assert cost[k] == pytest.approx(trade_cost(S), rel=1e-5)
    # measured on the solution like summary.json: the same cost and losses as solved
    assert p["measured"].values[:, :2] == pytest.approx(p["value"].values[:, :2], rel=1e-6, abs=1e-6)
    # the memberships and the compromise, recomputed from the hand values between the payoff table's extremes
    # (checked against the hand values above; the polyhedral cone lets a 1e-4 p.u. flow pass without losses)
    hand = np.array([[trade_cost(math.sqrt(max(e, 0.0) / (1000 * R))), e] for e in eps])
    hand[-1] = [trade_cost(S_cost), float(payoff.sel(minimized="cost", objective="losses"))]
    best = np.array([front.best["cost"], front.best["losses"]])
    worst = np.array([front.worst["cost"], front.worst["losses"]])
    mu = (worst - hand) / (worst - best)
    assert p["membership"].values[1:4] == pytest.approx(mu[1:4], abs=1e-4)
    assert front.compromise == int(np.argmax(mu.min(axis=1)))
    assert front.notes == []                             # cost prices losses: no loss weight, nothing inexact


# ---------------------------------------------------------------- the fuzzy choice on a hand-made front
def test_memberships_and_compromise_on_a_hand_made_front():
    values = np.array([[10.0, 5.0, 1.0],
                       [12.0, 3.0, 2.0],
                       [14.0, 2.0, 2.5],
                       [20.0, 1.0, 3.0]])
    best, worst = np.array([10.0, 1.0, 1.0]), np.array([20.0, 5.0, 3.0])
    mu = memberships(values, best, worst)
    assert mu == pytest.approx(np.array([[1.0, 0.0, 1.0],
                                         [0.8, 0.5, 0.5],
                                         [0.6, 0.75, 0.25],
                                         [0.0, 1.0, 0.0]]))
    assert compromise(mu) == 1                           # min memberships 0, 0.5, 0.25, 0
    assert compromise(mu, np.array([True, False, True, True])) == 2
    assert compromise(mu, np.zeros(4, dtype=bool)) is None
    # values beyond the payoff table clip to [0, 1]; an objective whose best is its worst counts 1
    assert memberships([[25.0, 0.0]], [10.0, 1.0], [20.0, 1.0]) == pytest.approx(np.array([[0.0, 1.0]]))
    # a tie on the smallest membership goes to the larger sum
    assert compromise(np.array([[0.5, 0.6], [0.5, 0.9], [0.4, 1.0]])) == 1


def test_dominance_on_a_hand_made_front():
    values = np.array([[1.0, 4.0], [2.0, 3.0], [2.0, 3.0 + 1e-9], [3.0, 3.5], [np.nan, np.nan], [4.0, 1.0]])
    duplicate, dominated = dominance(values, np.array([1e-6, 1e-6]))
    assert list(duplicate) == [-1, -1, 1, -1, -1, -1]
    assert list(dominated) == [False, False, False, True, False, False]     # (3, 3.5) by (2, 3)


# ---------------------------------------------------------------- vdi and the exactness of the relaxation
def test_front_points_are_exact_when_vdi_is_minimized():
    """Without a loss weight the relaxation lowers bus 2's voltage with fictitious losses at every bounded point;
    with the automatic weight every point's flows explain its losses."""
    bare = mgdsl.loads(EXPORT).pareto("vdi", ["cost"], points=5, loss_weight=0)
    fict = bare.points["fictitious_losses_kwh"].values
    assert fict[:4].min() > 100.0                         # hundreds of kWh that no flow explains
    assert not bare.points["exact"].values[:4].any()
    assert any("no flow explains" in n for n in bare.notes)
    front = mgdsl.loads(EXPORT).pareto("vdi", ["cost"], points=5)
    assert front.points["exact"].values.all()
    for k in front.solved:
        losses = front.results[k]["dn"]["losses"].sum()
        assert float(front.points["fictitious_losses_kwh"].sel(point=k)) <= max(1e-3, 1e-3 * float(losses))
    assert (front.points["loss_weight"].values > 0).all()
    assert any("loss" in n and "exact" in n for n in front.notes)
    # the exact front is the physical one: its vdi at the cheapest point is the measured one within the
    # linearization above 1 p.u. ((V - 1)^2 / 2 per bus)
    v2 = float(front.results[0]["dn"]["vm"].sel(bus=2, t=0))
    assert v2 > 1.05
    assert float(front.points["measured"].sel(point=0, objective="vdi")) == pytest.approx((v2 - 1) / 2, abs=1e-7)


def test_three_objectives_report_infeasible_epsilons():
    """vdi against cost and losses on the 2-bus line: combinations of tight bounds have no solution; they are rows
    with status infeasible and no values, and the study goes on."""
    front = mgdsl.loads(TRADE).pareto("vdi", ["cost", "losses"], points=3)
    p = front.points
    assert p.sizes["point"] == 9
    bad = p["status"].values == "infeasible"
    assert bad.any() and (~bad).sum() >= 3
    assert np.isnan(p["value"].values[bad]).all()
    assert p["exact"].values[~bad].all()
    c = front.compromise
    assert c is not None and not bad[c]
    table = front.table()
    assert list(table.columns[:4]) == ["point", "status", "epsilon_cost", "epsilon_losses"]


# ---------------------------------------------------------------- one model, numbers changed only
def test_the_model_is_lowered_and_built_once(monkeypatch):
    """A study lowers and builds one HiGHS model, whatever the number of points (the bounds change in place)."""
    built = []
    real = pareto_module.Resident.__init__

    def counting(self, *args, **kw):
        built.append(1)
        real(self, *args, **kw)
    monkeypatch.setattr(pareto_module.Resident, "__init__", counting)
    lowered = []
    real_lower = resident_module.lower_system        # what the study lowers with (studies/resident.lazy_cones)
    monkeypatch.setattr(resident_module, "lower_system", lambda ir, **kw: lowered.append(1) or real_lower(ir, **kw))
    front = mgdsl.loads(TWO_GENERATORS).pareto("cost", ["dirty_energy"], points=7)
    assert len(front.solved) == 7
    assert built == [1] and lowered == [1]


# ---------------------------------------------------------------- errors
def test_objectives_a_front_cannot_use():
    system = mgdsl.loads(TWO_GENERATORS)
    with pytest.raises(MgdError) as err:
        system.pareto("cost", ["dirty_energie"])
    d = err.value.diagnostics[0]
    assert d.code == "E0801" and "dirty_energie" in d.message and "did you mean `dirty_energy`" in d.help
    with pytest.raises(MgdError, match="named twice"):
        system.pareto("cost", ["cost"])
    with pytest.raises(MgdError, match="at least one bounded objective"):
        system.pareto("cost", [])
    with pytest.raises(MgdError, match="no objective `losses`"):      # no network: no losses
        system.pareto("cost", ["losses"])
    with pytest.raises(ValueError, match="at least 2"):
        system.pareto("cost", ["dirty_energy"], points=1)
    with pytest.raises(ValueError, match="grid"):
        system.pareto("cost", ["dirty_energy"], grid="random")


# ---------------------------------------------------------------- property: feasible, non-dominated
@st.composite
def generator_systems(draw):
    """1-3 steps, 2-3 generators with random capacities, prices and emission factors, random loads within the
    total capacity. The front is cost against emissions (a declared objective)."""
    steps = draw(st.integers(1, 3))
    n = draw(st.integers(2, 3))
    caps = [draw(st.integers(20, 120)) for _ in range(n)]
    prices = [draw(st.integers(1, 50)) / 10 for _ in range(n)]
    factors = [draw(st.integers(0, 20)) / 10 for _ in range(n)]
    loads = [draw(st.integers(0, int(0.9 * sum(caps)))) for _ in range(steps)]
    gens = "\n".join(f"    g{k} = Gen(p_max = {c} kW, price = {p} yuan/kWh)" for k, (c, p) in
                     enumerate(zip(caps, prices)))
    emission = " + ".join(f"{f} * sum(mg.g{k}.p * dt)" for k, f in enumerate(factors))
    text = (f"use stdlib\nhorizon {steps} steps of 1 h\n{GEN}\nprofile demand = [{', '.join(map(str, loads))}]\n"
            f"microgrid mg {{\n{gens}\n    load = Load(electricity, base = 1 kW * demand)\n}}\n\n"
            f"objective emissions: kWh = {emission}\n")
    return text, steps, caps, prices, factors, loads


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(generator_systems(), st.integers(2, 5))
def test_every_point_is_feasible_and_none_dominates_another(system, points):
    text, steps, caps, prices, factors, loads = system
    front = mgdsl.loads(text).pareto("cost", ["emissions"], points=points)
    assert front.solved == list(range(points))                   # every epsilon lies between the extremes
    values = []
    for k in front.solved:
        p = front.results[k]["Gen"]["p"]
        schedule = np.array([[float(p.sel(instance=f"mg.g{g}", t=t)) for t in range(steps)] for g in range(len(caps))])
        # feasible, checked on the schedule itself: bounds and the balance at every step
        assert (schedule >= -1e-6).all() and (schedule <= np.array(caps)[:, None] + 1e-6).all()
        assert schedule.sum(axis=0) == pytest.approx(loads, abs=1e-5)
        cost = float((np.array(prices)[:, None] * schedule).sum())
        emissions = float((np.array(factors)[:, None] * schedule).sum())
        assert float(front.points["value"].sel(point=k, objective="cost")) == pytest.approx(cost, abs=1e-5)
        assert float(front.points["value"].sel(point=k, objective="emissions")) == pytest.approx(emissions, abs=1e-5)
        eps = float(front.points["epsilon"].sel(point=k, bound="emissions"))
        assert emissions <= eps + 1e-6 * max(1.0, abs(eps)) + 1e-6
        values.append((cost, emissions))
    tol = 1e-6 * max(1.0, max(abs(v) for pair in values for v in pair))
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            dominates = b[0] <= a[0] + tol and b[1] <= a[1] + tol and (b[0] < a[0] - tol or b[1] < a[1] - tol)
            assert not dominates, f"point {j} {b} dominates point {i} {a}"
    assert not front.points["dominated"].values.any()
    mu = front.points["min_membership"].values
    assert mu[front.compromise] == pytest.approx(np.nanmax(mu))


# ---------------------------------------------------------------- the command line
def test_cli_pareto_end_to_end(tmp_path):
    model = tmp_path / "two.mgd"
    model.write_text(TWO_GENERATORS)
    out = tmp_path / "front"
    runner = CliRunner()
    r = runner.invoke(main, ["pareto", str(model), "--minimize", "cost", "--bound", "dirty_energy", "--points", "5",
                             "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "compromise (point 2, smallest membership 0.500)" in r.output
    assert "5 epsilon points, 5 solved" in r.output
    for name in ("pareto.csv", "payoff.csv", "pareto.json", "pareto.png", "compromise/summary.json",
                 "compromise/Gen.csv"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "pareto.csv")
    assert list(table["cost"].round(3)) == [300, 250, 200, 150, 100]
    assert table["compromise"].tolist() == [False, False, True, False, False]
    data = json.loads((out / "pareto.json").read_text())
    assert data["compromise"]["values"] == pytest.approx({"cost": 200.0, "dirty_energy": 50.0}, abs=1e-4)
    assert data["payoff"]["cost"] == pytest.approx({"cost": 100.0, "dirty_energy": 100.0}, abs=1e-4)
    summary = json.loads((out / "compromise" / "summary.json").read_text())
    assert summary["objectives"]["cost"]["value"] == pytest.approx(200.0, abs=1e-4)
    payoff = pd.read_csv(out / "payoff.csv")
    assert list(payoff["minimized"]) == ["cost", "dirty_energy"]
    # --json: the same study on stdout, progress on stderr
    r = runner.invoke(main, ["pareto", str(model), "--minimize", "cost", "--bound", "dirty_energy", "--points", "3",
                             "-o", str(tmp_path / "j"), "--json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["counts"] == {"points": 3, "solved": 3, "infeasible": 0, "unsolved": 0, "distinct": 3,
                              "dominated": 0}
    # a bad objective is a located model error (exit 1); a bad count a usage error (exit 2)
    r = runner.invoke(main, ["pareto", str(model), "--minimize", "cost", "--bound", "nox", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0801" in r.output
    r = runner.invoke(main, ["pareto", str(model), "--minimize", "cost", "--bound", "dirty_energy", "--points", "1",
                             "-o", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_cli_default_folder_sits_in_the_results_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("two.mgd").write_text(TWO_GENERATORS)
    runner = CliRunner()
    assert runner.invoke(main, ["solve", "two.mgd"]).exit_code == 0
    r = runner.invoke(main, ["pareto", "two.mgd", "--minimize", "cost", "--bound", "dirty_energy", "--points", "2"])
    assert r.exit_code == 0, r.output
    assert Path("results/two/pareto/pareto.csv").is_file()
    assert runner.invoke(main, ["solve", "two.mgd"]).exit_code == 0          # a new solve keeps the study
    assert Path("results/two/pareto/pareto.csv").is_file()


# One unit with a fixed cost when on (20 yuan/h, then 0.2 yuan/kWh) or the grid at 1 yuan/kWh for a 50 kW load: on,
# the hour costs 20 + 0.2 f + (50 - f) = 70 - 0.8 f with f <= 50 kWh from the unit; off, 50. The relaxation runs
# the unit half on (on = f / 100) for 20 f / 100 less, so no rounding of it is certified and the MILP decides.
UNIT = """use stdlib
horizon 1 steps of 1 h
device Unit(p_max: kW, fixed: yuan, price: yuan/kWh) {
    var on[t]: binary
    var p[t]: kW in 0 .. p_max
    upper: p[t] <= p_max * on[t]
    port electricity += p
    cost += fixed * on + price * p * dt
}

microgrid mg {
    u = Unit(p_max = 100 kW, fixed = 20 yuan, price = 0.2 yuan/kWh)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
    load = Load(electricity, base = 50 kW)
}

objective fuel: kWh = sum(mg.u.p * dt)
"""


def test_milp_points_the_relaxation_cannot_certify():
    """Hand values: fuel <= 0 costs 50 (off); fuel <= 25 costs 50 (off, or on at 70 - 0.8 x 25 = 50); fuel <= 50
    costs 30. The relaxation would claim 35 and 30 - 10 = 20 there: those points go to the MILP."""
    front = mgdsl.loads(UNIT).pareto("cost", ["fuel"], points=3)
    assert front.points["value"].sel(objective="cost").values == pytest.approx([50, 50, 30], abs=1e-6)
    stats = front.settings["relaxation_first"]
    assert stats["milp"] >= 1 and stats["certified"] >= 1          # fuel <= 0: the relaxation is integral


def test_relaxation_certificate_by_hand():
    """A rounding is certified only when it keeps every row and bound at the relaxation's objective."""
    import highspy

    from mgdsl.studies.relaxed import certified

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    # x0 binary, x1 in [0, 1]: x1 <= x0 (a switch that only permits), cost -x1 (flow wanted), 0 on x0
    h.addCols(2, np.array([0.0, -1.0]), np.array([0.0, 0.0]), np.array([1.0, 1.0]), 0, np.array([], dtype=np.int32),
              np.array([], dtype=np.int32), np.array([]))
    h.addRow(-inf, 0.0, 2, np.array([0, 1], dtype=np.int32), np.array([-1.0, 1.0]))
    lp = h.getLp()
    ints = np.array([0], dtype=np.int32)
    assert certified(lp, np.array([0.7, 0.7]), ints) == pytest.approx([1.0, 0.7])       # up: still feasible
    assert certified(lp, np.array([0.2, 0.2]), ints) == pytest.approx([1.0, 0.2])       # nearest fails, up holds
    h.changeColCost(0, 1.0)                                                              # closing now costs
    assert certified(h.getLp(), np.array([0.2, 0.2]), ints) is None


# ---------------------------------------------------------------- a SOC branch flow's cones by tangents
SOC_DAY = """use stdlib
horizon 3 steps of 1 h
profile shape = [0.5, 1.0, 0.8]
profile wind = [0.9, 0.1, 0.5]
network dn {{
    base 1 MVA, 12.66 kV
    voltage 0.93 .. 1.07 pu
    formulation distflow_socp(accuracy = 1e-4, cones = {mode})
    buses 1 .. 4
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 1.2 ohm, x = 0.8 ohm
    line 2 - 3: r = 2.0 ohm, x = 1.5 ohm
    line 3 - 4: r = 2.5 ohm, x = 1.8 ohm
    load 3: p = 900 kW * shape, q = 500 kvar * shape
    load 4: p = 700 kW * shape, q = 400 kvar * shape
    at 4: wt = Wind(p_max = 600 kW, profile = wind)
    at 4: cb = CapacitorBank(q_step = 150 kvar, units = 2, max_switches = 2)
    at 3: bat = Storage(electricity, capacity = 800 kWh, p_max = 300 kW)
}}
"""


def test_front_with_lazy_cones_equals_the_lift():
    """A MILP front (capacitor steps) on a SOC branch flow: its cones met by tangents on the resident model (cones =
    lazy: no lift's columns, the relaxation certified with the tangents) give the lift's front within the cones'
    accuracy (1e-4)."""
    lazy = mgdsl.loads(SOC_DAY.format(mode="lazy")).pareto("cost", ["losses"], points=4)
    lift = mgdsl.loads(SOC_DAY.format(mode="lift")).pareto("cost", ["losses"], points=4)
    assert lazy.settings["cone_tangents"] > 0 and "cone_tangents" not in lift.settings
    assert lazy.settings["columns"] < lift.settings["columns"] / 3          # the lift's columns are not there
    assert lazy.settings["relaxation_first"]["certified"] == 8
    a, b = lazy.points["value"].values, lift.points["value"].values
    np.testing.assert_allclose(a, b, rtol=1e-4)
    assert np.all(np.diff(a[:, 0]) < 0) and np.all(np.diff(a[:, 1]) > 0)   # a front: cost falls as losses rise
