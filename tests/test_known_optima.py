"""Small systems whose optimum is computed by hand (in each test's comment) and compared with the solver.

Every case is a few variables over one to three steps, so the whole file runs in a few seconds. Tolerances
are tight: LP optima are exact up to HiGHS's 1e-7 feasibility tolerance; the quadratic case gets 1e-4."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import mgdsl

MODELS = Path(__file__).resolve().parent.parent / "models"


def solve(text: str):
    return mgdsl.loads(text).solve()


def var(results, template: str, name: str, instance: str) -> np.ndarray:
    return np.asarray(results[template][name].sel(instance=instance).values, dtype=float)


def assert_costs_add_up(r) -> None:
    assert sum(r.costs.values()) == pytest.approx(r.objective, rel=1e-9, abs=1e-6)


# ----------------------------------------------------------------------------------------------- storage

STORAGE = """
use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.3, 0.6, 1.2]
microgrid shop {
    grid = ElectricityTrade(buy_price = price)
    load = Load(electricity, base = 100 kW)
    battery = Storage(electricity, capacity = 200 kWh, p_max = 100 kW, eta_ch = 0.9, eta_dis = 0.9,
                      soc_min = 0, soc_max = 1, soc_init = 0)
}
"""


def test_storage_arbitrage_three_steps():
    # Buy at 0.3, 0.6, 1.2 yuan/kWh; 100 kW load; battery 200 kWh / 100 kW, 90 % each way, empty at both ends,
    # no sales. A kWh charged at price c displaces 0.81 kWh at the peak, worth 0.972 > 0.6 > 0.3: charge in
    # both early steps (the cheap one first, at its 100 kW limit) and cover the whole peak from the battery.
    #   needed in store before the peak: 100 / 0.9 = 111.111 kWh
    #   step 0: charge 100 kW -> e = 90;  step 1: charge (111.111 - 90) / 0.9 = 23.457 kW -> e = 111.111
    #   step 2: discharge 100 kW -> e = 0
    #   cost = 0.3 * 200 + 0.6 * 123.457 + 1.2 * 0 = 60 + 74.074 = 134.0741 yuan
    r = solve(STORAGE)
    assert r.summary["status"] == "optimal"
    assert r.objective == pytest.approx(60 + 0.6 * (100 + 100 / 0.81 - 100), abs=1e-6)
    assert r.objective == pytest.approx(134.074074, abs=1e-5)
    np.testing.assert_allclose(var(r, "Storage", "ch", "shop.battery"), [100, 100 / 0.81 - 100, 0], atol=1e-6)
    np.testing.assert_allclose(var(r, "Storage", "dis", "shop.battery"), [0, 0, 100], atol=1e-6)
    np.testing.assert_allclose(var(r, "Storage", "e", "shop.battery"), [90, 100 / 0.9, 0], atol=1e-6)
    np.testing.assert_allclose(var(r, "ElectricityTrade", "buy", "shop.grid"), [200, 100 / 0.81, 0], atol=1e-6)
    assert_costs_add_up(r)


def test_bundled_storage_model_has_its_documented_optimum():
    # models/storage_arbitrage.mgd is the same system; its header carries the same hand computation.
    r = mgdsl.load(MODELS / "storage_arbitrage.mgd").solve()
    assert r.objective == pytest.approx(134.074074, abs=1e-5)


# ----------------------------------------------------------------------------------------------- CHP

CHP = """
use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.4, 1.0, 1.0]
profile heat_demand: kW = [360, 360, 450]
microgrid building {
    grid = ElectricityTrade(buy_price = price)
    chp = CHP(p_max = 300 kW, eta_e = 0.35, eta_h = 0.45, om = 0.02 yuan/kWh)
    boiler = GasBoiler(h_max = 500 kW, eta = 0.9)
    gas = GasSupply(price = 0.35 yuan/kWh)
    power = Load(electricity, base = 400 kW)
    heat = Load(heat, base = heat_demand)
}
"""


def test_chp_with_heat_and_power_loads():
    # CHP electricity: 1 / 0.35 kWh of gas (1.0 yuan) per kWh, with 0.45 / 0.35 = 1.2857 kWh of heat that saves
    # the boiler 1.2857 / 0.9 kWh of gas (0.5 yuan), plus 0.02 O&M: net 0.52 yuan/kWh. Heat cannot be dumped.
    #   step 0, grid 0.4 < 0.52: CHP off; boiler gas 360 / 0.9 = 400 -> 140; grid 400 * 0.4 = 160   -> 300.0
    #   step 1, grid 1.0: CHP heat-led, fuel 360 / 0.45 = 800, p = 280: gas 280, O&M 5.6, grid 120 -> 405.6
    #   step 2, grid 1.0: heat-led p = 350 > 300, so p = 300, fuel 857.143, heat 385.714; boiler 64.286 heat
    #           (71.429 gas); gas (857.143 + 71.429) * 0.35 = 325, O&M 6, grid 100                -> 431.0
    #   total 1136.6 yuan
    r = solve(CHP)
    assert r.objective == pytest.approx(1136.6, abs=1e-6)
    np.testing.assert_allclose(var(r, "CHP", "p", "building.chp"), [0, 280, 300], atol=1e-6)
    np.testing.assert_allclose(var(r, "CHP", "fuel", "building.chp"), [0, 800, 300 / 0.35], atol=1e-6)
    np.testing.assert_allclose(var(r, "GasBoiler", "h", "building.boiler"), [360, 0, 450 - 300 * 0.45 / 0.35],
                               atol=1e-6)
    np.testing.assert_allclose(var(r, "ElectricityTrade", "buy", "building.grid"), [400, 120, 100], atol=1e-6)
    # the heat injections balance the heat load exactly
    heat = sum(np.asarray(r[t]["heat_injection"].sum("instance")) for t in ("CHP", "GasBoiler", "Load"))
    np.testing.assert_allclose(heat, 0, atol=1e-6)
    assert r.costs["building"] == pytest.approx(1136.6, abs=1e-6)


def test_bundled_chp_model_has_its_documented_optimum():
    r = mgdsl.load(MODELS / "chp_heat.mgd").solve()
    assert r.objective == pytest.approx(1136.6, abs=1e-6)


# ----------------------------------------------------------------------------------------------- loads, prices

def test_fixed_load_with_grid_purchase():
    # 2 steps of 30 min; 120 kW then 80 kW bought at 0.5 then 0.8 yuan/kWh:
    #   cost = (120 * 0.5 + 80 * 0.8) * 0.5 h = (60 + 64) / 2 = 62 yuan
    r = solve("""
use stdlib
horizon 2 steps of 30 min
microgrid home {
    grid = ElectricityTrade(buy_price = [0.5 yuan/kWh, 0.8 yuan/kWh])
    load = Load(electricity, base = [120 kW, 80 kW])
}
""")
    assert r.objective == pytest.approx(62.0, abs=1e-9)
    np.testing.assert_allclose(var(r, "ElectricityTrade", "buy", "home.grid"), [120, 80], atol=1e-9)
    np.testing.assert_allclose(var(r, "Load", "electricity_injection", "home.load"), [-120, -80], atol=1e-9)


def test_demand_response_moves_energy_to_the_cheap_step():
    # Base 100 kW in both steps at 1.0 then 0.2 yuan/kWh; up to 20 % of the base may be moved (0.05 yuan per kWh
    # moved), nothing curtailed. Moving a kWh saves 1.0 - 0.2 = 0.8 > 0.05, so the whole 20 kW moves:
    #   p = [80, 120];  cost = 80 * 1.0 + 120 * 0.2 + 20 * 0.05 = 80 + 24 + 1 = 105 yuan  (no DR: 120)
    r = solve("""
use stdlib
horizon 2 steps of 1 h
microgrid mg {
    grid = ElectricityTrade(buy_price = [1.0 yuan/kWh, 0.2 yuan/kWh])
    load = FlexibleLoad(electricity, base = 100 kW, shift = 20 %, shift_cost = 0.05 yuan/kWh)
}
""")
    assert r.objective == pytest.approx(105.0, abs=1e-9)
    np.testing.assert_allclose(var(r, "FlexibleLoad", "p", "mg.load"), [80, 120], atol=1e-9)
    np.testing.assert_allclose(var(r, "FlexibleLoad", "shift_out", "mg.load"), [20, 0], atol=1e-9)
    np.testing.assert_allclose(var(r, "FlexibleLoad", "shift_in", "mg.load"), [0, 20], atol=1e-9)
    np.testing.assert_allclose(var(r, "FlexibleLoad", "cut", "mg.load"), [0, 0], atol=1e-9)
    # the energy moved is conserved
    assert var(r, "FlexibleLoad", "p", "mg.load").sum() == pytest.approx(200, abs=1e-9)


def test_fixed_port_reaches_the_balance_and_constant_costs_count():
    # A port without a variable (`port electricity -= base`) is a fixed injection; the curtailment cost of a
    # wind farm, curtail_cost * (p_max * profile - p) * dt, has a constant part; a cost term without `t` (a fixed
    # fee) counts once, like the cost of an untimed variable. All of them must reach the model.
    # The grid connection carries at most 10 kW either way (sales earn nothing but avoid curtailment).
    #   step 0: wind 0.4 * 50 = 20 kW, all used; grid buys 30 - 20 = 10 kW * 0.5 = 5 yuan
    #   step 1: wind 50 kW available: 30 for the load, 10 sold, 10 curtailed * 0.1 = 1 yuan
    #   fee 3 yuan once                                                            total 5 + 1 + 3 = 9 yuan
    r = solve("""
use stdlib
horizon 2 steps of 1 h
device FixedDemand(base: kW, fee: yuan = 0 yuan) {
    port electricity -= base
    cost += fee
}
microgrid mg {
    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh, p_max = 10 kW)
    demand = FixedDemand(base = 30 kW, fee = 3 yuan)
    wt = Wind(p_max = 50 kW, profile = [0.4, 1.0], curtail_cost = 0.1 yuan/kWh)
}
""")
    assert r.objective == pytest.approx(9.0, abs=1e-9)
    np.testing.assert_allclose(var(r, "ElectricityTrade", "buy", "mg.grid"), [10, 0], atol=1e-9)
    np.testing.assert_allclose(var(r, "ElectricityTrade", "sell", "mg.grid"), [0, 10], atol=1e-9)
    np.testing.assert_allclose(var(r, "Wind", "p", "mg.wt"), [20, 40], atol=1e-9)
    np.testing.assert_allclose(var(r, "FixedDemand", "electricity_injection", "mg.demand"), [-30, -30], atol=1e-12)
    # `cost` per step, `cost_total` over the horizon: the fee belongs to no step, the curtailment to step 1
    assert r["FixedDemand"]["cost_total"].sel(instance="mg.demand") == pytest.approx(3.0)
    np.testing.assert_allclose(var(r, "FixedDemand", "cost", "mg.demand"), [0, 0], atol=1e-9)
    assert r["Wind"]["cost_total"].sel(instance="mg.wt") == pytest.approx(1.0)
    np.testing.assert_allclose(var(r, "Wind", "cost", "mg.wt"), [0, 1], atol=1e-9)
    assert r.summary["instance_costs"]["mg.demand"] == pytest.approx(3.0)
    assert_costs_add_up(r)


def test_quadratic_fuel_cost():
    # Microturbine cost (a p^2 + b p) dt with a = 0.01 yuan/kWh/kW, b = 0.4 yuan/kWh against a grid at 1.0:
    # the marginal cost 2 a p + b equals 1.0 at p = 30 kW. Load 50 kW for one hour:
    #   turbine 0.01 * 900 + 0.4 * 30 = 21; grid 20 * 1.0 = 20 -> 41 yuan
    r = solve("""
use stdlib
horizon 1 steps of 1 h
microgrid mg {
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
    load = UninterruptibleLoad(base = 50 kW)
    mt = MicroturbineQuadratic(p_max = 40 kW, a = 0.01 yuan/kWh/kW, b = 0.4 yuan/kWh)
}
""")
    assert r.summary["size"]["quadratic"]
    assert r.objective == pytest.approx(41.0, rel=1e-5)
    assert var(r, "MicroturbineQuadratic", "p", "mg.mt")[0] == pytest.approx(30.0, rel=1e-4)
    assert_costs_add_up(r)


# ----------------------------------------------------------------------------------------------- network

def test_tie_line_limit_binds_and_lindistflow_voltage_drop():
    # Three buses, base 1 MVA / 12.66 kV: Z_base = 12.66^2 / 1 = 160.2756 ohm. Slack 1 buys at 0.5 yuan/kWh.
    # Line 1-2: r = 1, x = 2 ohm; line 2-3: r = 0.5, x = 0.5 ohm; bus 3 load 200 kW + 100 kvar.
    # Microgrid at bus 2 with a 300 kW load and a 0.8 yuan/kWh microturbine; its tie is limited to 100 kW.
    # Grid power is cheaper, so the tie runs at its 100 kW limit and the turbine makes the other 200 kW.
    #   cost = (200 + 100) * 0.5 + 200 * 0.8 = 150 + 160 = 310 yuan
    # Flows: P12 = 300 kW = 0.3 pu, Q12 = 0.1 pu; P23 = 0.2 pu, Q23 = 0.1 pu. v = |V|^2, v1 = 1:
    #   v2 = 1 - 2 (r P + x Q) / Z_base = 1 - 2 (1 * 0.3 + 2 * 0.1) / 160.2756 = 1 - 1 / 160.2756 = 0.99376075
    #   v3 = v2 - 2 (0.5 * 0.2 + 0.5 * 0.1) / 160.2756 = v2 - 0.3 / 160.2756 = 0.99188897
    r = solve("""
use stdlib
horizon 1 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.95 .. 1.05 pu
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 1 ohm, x = 2 ohm
    line 2 - 3: r = 0.5 ohm, x = 0.5 ohm
    load 3: p = 200 kW, q = 100 kvar
}
microgrid mg at dn.2 limit 100 kW {
    load = Load(electricity, base = 300 kW)
    mt = Microturbine(p_max = 500 kW, fuel_price = 0.8 yuan/kWh)
}
""")
    z_base = 12.66 ** 2 / 1.0
    v2 = 1 - 2 * (1 * 0.3 + 2 * 0.1) / z_base
    v3 = v2 - 2 * (0.5 * 0.2 + 0.5 * 0.1) / z_base
    assert r.objective == pytest.approx(310.0, abs=1e-6)
    assert r["ties"]["import"].sel(microgrid="mg").values[0] == pytest.approx(100.0, abs=1e-6)
    assert var(r, "Microturbine", "p", "mg.mt")[0] == pytest.approx(200.0, abs=1e-6)
    dn = r["dn"]
    np.testing.assert_allclose(dn["P"].sel(line=["1-2", "2-3"]).values[:, 0], [300, 200], atol=1e-6)
    np.testing.assert_allclose(dn["Q"].sel(line=["1-2", "2-3"]).values[:, 0], [100, 100], atol=1e-6)
    np.testing.assert_allclose(dn["v"].sel(bus=[1, 2, 3]).values[:, 0], [1.0, v2, v3], rtol=0, atol=1e-9)
    assert v2 == pytest.approx(0.99376075, abs=1e-8) and v3 == pytest.approx(0.99188897, abs=1e-8)
    assert dn["buy"].values[0] == pytest.approx(300.0, abs=1e-6)
    # an LP: the nodal price at the buses is the slack's 0.5 yuan/kWh (no voltage or line limit binds)
    np.testing.assert_allclose(dn["price"].values[:, 0], 0.5, atol=1e-9)
    assert r.costs == pytest.approx({"dn": 150.0, "mg": 160.0}, abs=1e-6)


# ----------------------------------------------------------------------------------------------- structure

def test_switch_closes_when_beneficial():
    # Microgrid a has a 0.3 yuan/kWh generator and no load; b has a 100 kW load and a 1.2 yuan/kWh diesel.
    # The switch between them carries at most 80 kW, and only when closed (a binary per step):
    #   closed: a sends 80 kW (24 yuan), b's diesel makes 20 kW (24 yuan) -> 48 yuan (open: 120 yuan)
    r = solve("""
use stdlib
horizon 1 steps of 1 h
microgrid a {
    gen = DieselEngine(p_max = 200 kW, fuel_price = 0.3 yuan/kWh)
}
microgrid b {
    load = Load(electricity, base = 100 kW)
    diesel = DieselEngine(p_max = 200 kW, fuel_price = 1.2 yuan/kWh)
}
switch k between a and b limit 80 kW
""")
    assert r.summary["size"]["binaries"] == 2          # one status per step, one copy per side
    assert r.objective == pytest.approx(48.0, abs=1e-6)
    assert r["switches"]["closed"].sel(switch="k").values[0] == 1
    assert r["switches"]["flow"].sel(switch="k").values[0] == pytest.approx(80.0, abs=1e-6)
    np.testing.assert_allclose(r["DieselEngine"]["p"].sel(instance=["a.gen", "b.diesel"]).values[:, 0], [80, 20],
                               atol=1e-6)
    assert r.costs == pytest.approx({"a": 24.0, "b": 24.0}, abs=1e-6)


def test_couple_links_two_microgrids():
    # A heat pipe: mg a sends heat (Export), mg b receives 90 % of it (Import), `couple` makes them one flow.
    # a makes heat with a gas boiler at 0.36 / 0.9 = 0.4 yuan/kWh; b needs 100 kW of heat and has only an
    # electric boiler at 0.95 / 0.95 = 1.0 yuan/kWh. A kWh sent costs 0.4 and saves 0.9 * 1.0 = 0.9: send the
    # pipe's 60 kW.
    #   a: boiler 60 kW -> gas 66.667 kWh * 0.36 = 24 yuan
    #   b: receives 54 kW; boiler 46 kW -> 48.421 kWh * 0.95 = 46 yuan                  total 70 yuan
    r = solve("""
use stdlib
horizon 1 steps of 1 h
microgrid a {
    gb = GasBoiler(h_max = 500 kW, eta = 0.9)
    gas = GasSupply(price = 0.36 yuan/kWh)
    pipe = Export(heat, p_max = 60 kW)
}
microgrid b {
    heat = Load(heat, base = 100 kW)
    eb = ElectricBoiler(p_max = 200 kW, eta = 0.95)
    grid = ElectricityTrade(buy_price = 0.95 yuan/kWh)
    pipe = Import(heat, p_max = 60 kW, eta = 0.9)
}
couple heat_ab: a.pipe.p == b.pipe.p
""")
    assert r.objective == pytest.approx(70.0, abs=1e-6)
    assert var(r, "Export", "p", "a.pipe")[0] == pytest.approx(60.0, abs=1e-6)
    assert var(r, "Import", "p", "b.pipe")[0] == pytest.approx(60.0, abs=1e-6)
    assert var(r, "Import", "heat_injection", "b.pipe")[0] == pytest.approx(54.0, abs=1e-6)
    assert var(r, "ElectricBoiler", "p", "b.eb")[0] == pytest.approx(46 / 0.95, abs=1e-6)
    assert r.costs == pytest.approx({"a": 24.0, "b": 46.0}, abs=1e-6)


CAPACITORS = """
use stdlib
horizon 3 steps of 1 h
device VarDemand(q: kvar) {
    port reactive -= q
}
device VarPurchase(price: yuan/kvar/h) {
    var q[t]: kvar >= 0
    port reactive += q
    cost += price * q * dt
}
microgrid plant {
    demand = VarDemand(q = [250 kvar, 120 kvar, 330 kvar])
    bought = VarPurchase(price = 0.1 yuan/kvar/h)
    caps = CapacitorBank(q_step = 100 kvar, units = 3, max_switches = {switches})
}
"""


def test_capacitor_bank_integer_steps():
    # Reactive demand 250, 120, 330 kvar; a bank of 3 x 100 kvar steps (integer, starting with none in) and
    # purchased kvar at 0.1 yuan/kvar/h. The balance is an equality and purchases are >= 0, so the bank may not
    # overshoot: n[t] = floor(demand / 100) = 2, 1, 3 and the rest is bought: 50 + 20 + 30 = 100 kvarh -> 10 yuan.
    # (The LP relaxation would switch in 2.5, 1.2, 3 steps and buy nothing.)
    # Switching: |2 - 0| + |1 - 2| + |3 - 1| = 5 changes; sw[t] only bounds them from above (it has no cost).
    r = solve(CAPACITORS.replace("{switches}", "1000"))
    assert r.summary["size"]["integers"] == 6
    assert r.objective == pytest.approx(10.0, abs=1e-6)
    np.testing.assert_allclose(var(r, "CapacitorBank", "n", "plant.caps"), [2, 1, 3], atol=1e-6)
    np.testing.assert_allclose(var(r, "VarPurchase", "q", "plant.bought"), [50, 20, 30], atol=1e-6)
    changes = np.abs(np.diff(np.concatenate([[0], var(r, "CapacitorBank", "n", "plant.caps")])))
    assert changes.sum() == pytest.approx(5, abs=1e-6)
    assert np.all(var(r, "CapacitorBank", "sw", "plant.caps") >= changes - 1e-6)


def test_capacitor_bank_switching_limit():
    # The same with at most 2 switching operations over the day. n[t] <= 2, 1, 3 (no overshoot) and
    # n0 + |n1 - n0| + |n2 - n1| <= 2. n0 = 2 would need n1 <= 1, a third change; the best plan is
    # n = 1, 1, 2 (1 + 0 + 1 = 2 changes): bought 150 + 20 + 130 = 300 kvarh -> 30 yuan.
    r = solve(CAPACITORS.replace("{switches}", "2"))
    assert r.objective == pytest.approx(30.0, abs=1e-6)
    np.testing.assert_allclose(var(r, "CapacitorBank", "n", "plant.caps"), [1, 1, 2], atol=1e-6)
    np.testing.assert_allclose(var(r, "VarPurchase", "q", "plant.bought"), [150, 20, 130], atol=1e-6)


def test_untimed_capacity_variable():
    # A generator whose capacity `cap` (no [t]) is chosen once at 0.6 yuan/kW; the grid sells at 0.2, 0.5, 1.0
    # yuan/kWh and the load is 10, 6, 8 kW. A kW of capacity saves the grid price of every step whose load
    # exceeds it: above 8 kW only step 0 (0.2 < 0.6: not worth it), between 6 and 8 kW steps 0 and 2
    # (1.2 > 0.6), below 6 kW all three. So cap = 8 kW:
    #   capacity 0.6 * 8 = 4.8; grid (10 - 8) * 0.2 = 0.4 -> 5.2 yuan
    r = solve("""
use stdlib
horizon 3 steps of 1 h
device SizedGen(cap_max: kW, capex: yuan/kW) {
    var cap: kW in 0 .. cap_max
    var p[t]: kW >= 0
    p[t] <= cap
    port electricity += p
    cost += capex * cap
}
microgrid mg {
    grid = ElectricityTrade(buy_price = [0.2 yuan/kWh, 0.5 yuan/kWh, 1.0 yuan/kWh])
    load = Load(electricity, base = [10 kW, 6 kW, 8 kW])
    gen = SizedGen(cap_max = 20 kW, capex = 0.6 yuan/kW)
}
""")
    assert r.objective == pytest.approx(5.2, abs=1e-9)
    ds = r["SizedGen"]
    assert ds["cap"].dims == ("instance",)
    assert float(ds["cap"].sel(instance="mg.gen")) == pytest.approx(8.0, abs=1e-9)
    np.testing.assert_allclose(var(r, "SizedGen", "p", "mg.gen"), [8, 6, 8], atol=1e-9)
    # the capacity's cost belongs to no step: in the total only
    assert float(ds["cost_total"].sel(instance="mg.gen")) == pytest.approx(4.8, abs=1e-9)
    np.testing.assert_allclose(var(r, "SizedGen", "cost", "mg.gen"), [0, 0, 0], atol=1e-9)
    assert_costs_add_up(r)


def test_fixed_demand_that_nothing_can_supply_is_infeasible():
    # `port electricity -= base` with no other electricity device: the balance row has no variable
    # (0 == 30), which linopy would drop; mgdsl reports it instead of solving without it.
    system = mgdsl.loads("""
use stdlib
horizon 2 steps of 1 h
device FixedDemand(base: kW) {
    port electricity -= base
}
microgrid mg {
    demand = FixedDemand(base = 30 kW)
    gas = GasSupply(price = 0.3 yuan/kWh)
}
""")
    with pytest.raises(mgdsl.MgdError) as err:
        system.solve()
    assert err.value.diagnostics[0].code == "E0601"
    assert "electricity" in err.value.diagnostics[0].message


def test_infeasibility_report_groups_the_steps_of_one_declaration():
    # a 30 kW load for six hours from a battery holding 50 kWh: the conflict runs through every step (the
    # balance and the state of charge at each), reported once per declaration and instance with its steps
    system = mgdsl.loads("""
use stdlib
horizon 6 steps of 1 h
microgrid mg {
    load = Load(electricity, base = 30 kW)
    es = Storage(electricity, capacity = 100 kWh, p_max = 50 kW, soc_init = 0.5)
}
""")
    with pytest.raises(mgdsl.MgdError) as err:
        system.solve()
    d = err.value.diagnostics[0]
    assert d.code == "E0601"
    assert any(re.search(r"at t=\d+–\d+$", n) for n in d.notes), d.notes
    # one line per declaration and instance, not one per step
    heads = [n.split(" at t=")[0] for n in d.notes if n.startswith("conflict:")]
    assert len(heads) == len(set(heads)), d.notes
