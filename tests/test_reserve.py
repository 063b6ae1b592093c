"""Spinning reserve (docs/language.md, section Spinning reserve): device shares, the slack's limit, requirements per
pool, against hand-computed optima; infeasible requirements reported at their line; results; ATC; `mgdsl fmt`."""
from __future__ import annotations

import numpy as np
import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module


def one_unit(requirement: str, steps: int = 1) -> str:
    return f"""use stdlib
horizon {steps} steps of 1 h
microgrid mg1 {{
    g = DieselEngine(p_max = 100 kW, fuel_price = 1 yuan/kWh)
    load = Load(electricity, base = 60 kW)
    {requirement}
}}
"""


def test_one_unit_holds_its_headroom():
    # p = 60 (the load), so r_up <= 100 - 60 = 40 >= 30; down: r_dn <= 60 >= 10 % of 60
    res = mgdsl.loads(one_unit("reserve up >= 30 kW\n    reserve down >= 10 % * load", steps=2)).solve()
    assert res.objective == pytest.approx(120.0)
    ds = res["DieselEngine"]
    assert np.all(ds["reserve_up"].values >= 30 - 1e-6) and np.all(ds["reserve_up"].values <= 40 + 1e-6)
    assert np.all(ds["p"].values + ds["r_up"].values <= 100 + 1e-6)
    pool = res["reserve"].sel(pool="mg1")
    np.testing.assert_allclose(pool["requirement"].sel(direction="up"), [30, 30])
    np.testing.assert_allclose(pool["requirement"].sel(direction="down"), [6, 6])        # load means 60 kW
    assert np.all(pool["margin"].values >= -1e-6)
    np.testing.assert_allclose(pool["held"] - pool["requirement"], pool["margin"])


def test_a_requirement_beyond_the_headroom_is_infeasible_at_its_line():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(one_unit("reserve up >= 50 kW"), path="one.mgd").solve()
    d = err.value.diagnostics[0]
    assert d.code == "E0601"
    text = err.value.render(color=False)
    assert "up spinning reserve of `mg1`" in text
    assert "reserve up >= 50 kW" in text                  # the requirement's line is shown
    assert "headroom_up" in text                          # and the template's limit it meets


def test_holding_reserve_forces_a_dearer_dispatch():
    # A (0.5 yuan/kWh) and B (1 yuan/kWh), 100 kW each; B's reserve is ramp-limited to 30 kW. Load 120 kW.
    # Without reserve: A 100, B 20 -> 70 yuan. With 60 kW up: r_B <= 30, so r_A >= 30, p_A <= 70, p_B = 50:
    # 0.5 * 70 + 1 * 50 = 85 yuan.
    text = """use stdlib
horizon 1 steps of 1 h
microgrid mg1 {
    a = DieselEngine(p_max = 100 kW, fuel_price = 0.5 yuan/kWh)
    b = DieselEngine(p_max = 100 kW, ramp = 30 kW, fuel_price = 1 yuan/kWh)
    load = Load(electricity, base = 120 kW)
    RESERVE
}
"""
    assert mgdsl.loads(text.replace("RESERVE", "")).solve().objective == pytest.approx(70.0)
    res = mgdsl.loads(text.replace("RESERVE", "reserve up >= 60 kW")).solve()
    assert res.objective == pytest.approx(85.0)
    ds = res["DieselEngine"]
    np.testing.assert_allclose(ds["p"].sel(instance=["mg1.a", "mg1.b"]).values[:, 0], [70, 50], atol=1e-6)


def test_storage_holds_reserve_within_its_energy():
    # e0 = 50 kWh, soc_min 10 kWh, reserve_time 1 h, efficiencies 1: r_up <= e - 10. The end state keeps e >= 50,
    # so 40 kW is free; 45 kW needs 5 kWh more charged, bought at 1 yuan/kWh: (20 + 5) yuan.
    text = """use stdlib
horizon 1 steps of 1 h
microgrid mg1 {
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
    es = Storage(electricity, capacity = 100 kWh, p_max = 50 kW, eta_ch = 1, eta_dis = 1)
    load = Load(electricity, base = 20 kW)
    reserve up >= AMOUNT
}
"""
    assert mgdsl.loads(text.replace("AMOUNT", "40 kW")).solve().objective == pytest.approx(20.0)
    res = mgdsl.loads(text.replace("AMOUNT", "45 kW")).solve()
    assert res.objective == pytest.approx(25.0)
    assert res["Storage"]["ch"].values[0, 0] == pytest.approx(5.0)
    assert res["Storage"]["reserve_up"].values[0, 0] == pytest.approx(45.0)


NETWORK = """use stdlib
horizon 1 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    formulation lindistflow
    buses 1 .. 2
    slack 1 limit 100 kW buys at 1 yuan/kWh
    line 1 - 2: r = 0.01 ohm, x = 0.01 ohm
    load 2: p = 60 kW, q = 0 kvar
    at 2: gen = DieselEngine(p_max = 50 kW, ramp = 5 kW, fuel_price = 2 yuan/kWh)
    NETRESERVE
}
"""


def test_the_slack_holds_its_headroom():
    # the slack's up reserve is 100 - import: 40 kW while it buys the whole 60 kW load
    assert mgdsl.loads(NETWORK.replace("NETRESERVE", "reserve up >= 40 kW")).solve().objective \
        == pytest.approx(60.0)
    # 50 kW: slack 100 - (60 - p) and the unit's min(5, 50 - p): p >= 5 kW at 2 yuan/kWh -> 55 + 10 = 65 yuan
    res = mgdsl.loads(NETWORK.replace("NETRESERVE", "reserve up >= 50 kW")).solve()
    assert res.objective == pytest.approx(65.0)
    assert res["dn"]["buy"].values[0] == pytest.approx(55.0)
    pool = res["reserve"].sel(pool="dn", direction="up")
    assert float(pool["held"][0]) == pytest.approx(50.0)
    # down: the slack can lower its import to 0 (it cannot sell), 60 kW, and the unit its output
    res = mgdsl.loads(NETWORK.replace("NETRESERVE", "reserve down >= 60 kW")).solve()
    assert res.objective == pytest.approx(60.0)


def test_the_slack_limit_bounds_the_purchase():
    text = NETWORK.replace("NETRESERVE", "").replace("limit 100 kW", "limit 58 kW")
    res = mgdsl.loads(text).solve()
    assert res["dn"]["buy"].values[0] == pytest.approx(58.0)            # the unit gives the other 2 kW
    assert res.objective == pytest.approx(58.0 + 4.0)


def test_an_unlimited_slack_holds_no_reserve():
    text = NETWORK.replace("slack 1 limit 100 kW", "slack 1").replace("gen = DieselEngine", "gen = Load").replace(
        "(p_max = 50 kW, ramp = 5 kW, fuel_price = 2 yuan/kWh)", "(electricity, base = 0 kW)")
    with pytest.raises(MgdError) as err:
        mgdsl.loads(text.replace("NETRESERVE", "reserve up >= 10 kW")).solve()
    assert err.value.diagnostics[0].code == "E0836"
    assert "slack 1 limit" in err.value.render(color=False)


MGPOOL = """use stdlib
horizon 1 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    formulation lindistflow
    buses 1 .. 2
    slack 1 limit 1 MW buys at 1 yuan/kWh
    line 1 - 2: r = 0.01 ohm, x = 0.01 ohm
    NETRESERVE
}
microgrid mg1 at dn.2 limit 200 kW {
    g = DieselEngine(p_max = 100 kW, ramp = 20 kW, fuel_price = 2 yuan/kWh)
    load = Load(electricity, base = 60 kW)
    MGRESERVE
}
"""


def test_a_microgrid_pool_holds_its_own_devices_only():
    # the unit can hold at most 20 kW (its ramp): 30 kW in mg1 is infeasible although the slack has 940 kW spare
    with pytest.raises(MgdError) as err:
        mgdsl.loads(MGPOOL.replace("NETRESERVE", "").replace("MGRESERVE", "reserve up >= 30 kW")).solve()
    assert "up spinning reserve of `mg1`" in err.value.render(color=False)
    # the same 30 kW in the network's pool: the slack holds it, and mg1 keeps importing its load
    res = mgdsl.loads(MGPOOL.replace("NETRESERVE", "reserve up >= 30 kW").replace("MGRESERVE", "")).solve()
    assert res.objective == pytest.approx(60.0)
    assert list(res["reserve"]["pool"].values) == ["dn"]


ATC_CASE = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.4, 0.9, 0.6]
network dn {
    base 1 MVA, 12.66 kV
    formulation lindistflow
    buses 1 .. 3
    slack 1 limit 400 kW buys at price
    line 1 - 2: r = 0.05 ohm, x = 0.05 ohm
    line 2 - 3: r = 0.05 ohm, x = 0.05 ohm
    load 2: p = 150 kW, q = 0 kvar
    at 3: es = Storage(electricity, capacity = 200 kWh, p_max = 80 kW)
    reserve up >= 10 % * load + 200 kW
}
microgrid mg1 at dn.3 limit 300 kW {
    mt = Microturbine(p_max = 120 kW, ramp = 40 kW, fuel_price = 0.7 yuan/kWh)
    load = Load(electricity, base = 90 kW)
    reserve up >= 35 kW
    reserve down >= 10 kW
}
"""


def test_atc_reaches_the_centralized_optimum_with_reserve():
    system = mgdsl.loads(ATC_CASE)
    central = system.solve()
    run = system.solve_atc(system.atc_options(tolerance=1e-4))
    assert run.converged
    assert run.objective == pytest.approx(central.objective, rel=1e-4)
    pools = run.results["reserve"]
    assert sorted(pools["pool"].values) == ["dn", "mg1"]
    assert np.all(pools["margin"].sel(direction="up").values >= -1e-3)
    # the network's pool: 10 % of its 150 kW load plus 200 kW
    np.testing.assert_allclose(pools["requirement"].sel(pool="dn", direction="up"), [215, 215, 215])


def test_a_study_changes_a_requirement_in_a_resident_model():
    from mgdsl.highs import from_linopy, quiet_stdout, run
    from mgdsl.lower.reserve import row_name, set_requirement

    system = mgdsl.loads(NETWORK.replace("NETRESERVE", "reserve up >= 40 kW"))
    low = system.lower()
    assert row_name("dn", "up") in low.model.constraints
    h = from_linopy(low.model)
    set_requirement(h, low, "dn", "up", 50.0)
    with quiet_stdout():
        run(h, None)
    assert h.getInfo().objective_function_value + low.objective_constant == pytest.approx(65.0)


def test_fmt_round_trip():
    text = """device Gen(p_max: kW) {
    var p[t]: kW in 0 .. p_max
    var r[t]: kW >= 0
    p[t] + r[t] <= p_max
    port electricity += p
    reserve up += r
    reserve down -= 0 kW
}

network dn {
    slack 1 at 1.02 pu limit 5 MW buys at 0.5 yuan/kWh
    reserve up >= 10 % * load + 200 kW  # the system's pool
}

microgrid mg1 {
    reserve down >= 20 kW
}
"""
    once = format_module(parse_text(text))
    assert once == text
    assert format_module(parse_text(once)) == once


def test_reserve_in_math_and_check_messages():
    from mgdsl.mathgen import stdlib_template, template_math

    m = template_math(stdlib_template("Storage"))
    assert [line.note.split("}")[0] for line in m.reserve] == [r"\text{into up reserve", r"\text{into down reserve"]


def test_load_is_the_pools_electric_demand():
    text = NETWORK.replace("NETRESERVE", "reserve up >= 10 % * load").replace(
        "at 2: gen", "at 2: ld = Load(electricity, base = 20 kW)\n    at 2: gen") + """microgrid mg1 {
    g = DieselEngine(p_max = 100 kW)
    a = Load(electricity, base = 60 kW)
    b = InterruptibleLoad(base = 40 kW)
    h = Load(heat, base = 100 kW)
    boiler = GasBoiler(h_max = 200 kW)
    gas = GasSupply(price = 0.3 yuan/kWh)
    let extra = 2 kW
    reserve up >= 10 % * load + extra
}
"""
    ir = mgdsl.loads(text).ir
    amounts = {r.owner: float(r.amount_kw[0]) for r in ir.reserves}
    assert amounts == pytest.approx({"dn": 8.0, "mg1": 12.0})   # 10 % of 60 + 20 kW; of 60 + 40 kW, plus its `let`


def test_a_system_without_requirements_is_lowered_as_without_reserve():
    names = set(mgdsl.loads(one_unit("")).lower().model.variables)
    assert "DieselEngine.r_up" not in names and "DieselEngine.r_dn" not in names
    model = mgdsl.loads(one_unit("reserve up >= 30 kW")).lower().model
    assert "DieselEngine.r_up" in model.variables and "DieselEngine.r_dn" not in model.variables
    assert "DieselEngine.headroom_down" not in model.constraints and "reserve.mg1.up" in model.constraints


def test_cli_writes_the_reserve_table(tmp_path):
    from click.testing import CliRunner

    from mgdsl.cli import main

    path = tmp_path / "m.mgd"
    path.write_text(one_unit("reserve up >= 30 kW", steps=2))
    r = CliRunner().invoke(main, ["solve", str(path), "-o", str(tmp_path / "res")])
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "res" / "reserve.csv").read_text().splitlines()
    assert lines[0] == "pool,direction,t,requirement,held,margin"
    assert lines[1].startswith("mg1,up,0,30.0,")
    assert (tmp_path / "res" / "reserve.nc").is_file()


def test_reserve_from_a_committed_unit_only():
    # A user template with an on/off status: only a unit that is on holds reserve (p + r <= p_max * on). Load 60 kW:
    # A alone holds 100 - 60 = 40 kW; 50 kW needs B on (10 yuan per step on, at p = 0): 0.5 * 60 + 10 = 40 yuan.
    text = """device Unit(p_max: kW, price: money/kWh, no_load: money) {
    var on[t]: binary
    var p[t]: kW >= 0
    var r[t]: kW >= 0
    p[t] + r[t] <= p_max * on[t]
    port electricity += p
    reserve up += r
    cost += price * p * dt + no_load * on
}
horizon 1 steps of 1 h
microgrid mg1 {
    a = Unit(p_max = 100 kW, price = 0.5 yuan/kWh, no_load = 0 yuan)
    b = Unit(p_max = 50 kW, price = 1 yuan/kWh, no_load = 10 yuan)
    load = Load(electricity, base = 60 kW)
    RESERVE
}
"""
    text = "use stdlib\n" + text
    assert mgdsl.loads(text.replace("RESERVE", "reserve up >= 40 kW")).solve().objective == pytest.approx(30.0)
    res = mgdsl.loads(text.replace("RESERVE", "reserve up >= 50 kW")).solve()
    assert res.objective == pytest.approx(40.0)
    np.testing.assert_allclose(res["Unit"]["on"].values[:, 0], [1, 1])
    assert res["Unit"]["reserve_up"].values[:, 0].sum() >= 50 - 1e-6


def test_a_fixed_share():
    # a template whose share has no variable (a reserve contract of 20 kW): enough for 15 kW, not for 30 kW
    text = """use stdlib
device Contract(amount: kW) {
    var p[t]: kW in 0 .. 0 kW
    port electricity += p
    reserve up += amount
}
horizon 2 steps of 1 h
microgrid mg1 {
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
    c = Contract(amount = 20 kW)
    load = Load(electricity, base = 10 kW)
    reserve up >= AMOUNT
}
"""
    assert mgdsl.loads(text.replace("AMOUNT", "15 kW")).solve().objective == pytest.approx(20.0)
    with pytest.raises(MgdError) as err:
        mgdsl.loads(text.replace("AMOUNT", "30 kW")).solve()
    assert err.value.diagnostics[0].code == "E0601" and "fixed at 20 kW" in err.value.diagnostics[0].message


def test_reserve_summary():
    from mgdsl.reserve_results import reserve_summary

    res = mgdsl.loads(one_unit("reserve up >= 30 kW", steps=2)).solve()
    s = reserve_summary(res)
    assert list(s) == ["mg1.up"] and s["mg1.up"]["max_requirement_kw"] == 30.0
    assert s["mg1.up"]["min_margin_kw"] >= -1e-6
    assert res.summary["reserve"] == s                  # the solve's own summary (summary.json) carries it
    bare = mgdsl.loads(one_unit("")).solve()
    assert reserve_summary(bare) == {} and "reserve" not in bare.summary


def test_an_idle_reserve_variable_an_objective_names_stays():
    text = one_unit("", steps=2) + "objective held: kWh = sum(mg1.g.r_up * dt)\nminimize cost\n"
    res = mgdsl.loads(text).solve()
    assert res.objective == pytest.approx(120.0) and "r_up" in res["DieselEngine"]
    assert "r_dn" not in res["DieselEngine"]


def test_a_share_of_parameters_and_a_share_summed_over_the_horizon():
    text = """use stdlib
device Gen(p_max: kW, derate = 1) {
    var p[t]: kW in 0 .. p_max
    var r[t]: kW >= 0
    p[t] + r[t] <= p_max
    port electricity += p
    reserve up += derate^2 * r - 0 * max(p_max) / 2
    cost += 1 money/kWh * p * dt
}
horizon 1 steps of 1 h
microgrid mg1 {
    g = Gen(p_max = 100 kW, derate = 0.5)
    load = Load(electricity, base = 60 kW)
    reserve up >= 10 kW
}
"""
    res = mgdsl.loads(text).solve()                   # r >= 10 / 0.25 = 40 kW <= 100 - 60: feasible
    assert res.objective == pytest.approx(60.0) and res["Gen"]["r"].values[0, 0] >= 40 - 1e-6
    with pytest.raises(MgdError) as err:
        mgdsl.loads(text.replace("derate^2 * r", "sum(r)"))
    assert err.value.diagnostics[0].code == "E0833"
