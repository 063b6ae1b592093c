"""Objectives (issue 10, items 1 and 3): built-ins cost, losses and vdi, declared objectives, weighted sums,
device quantities; their values in the results; their errors; decomposition by parts. Every figure is computed
by hand from the branch-flow equations of a 2-bus line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.decompose.partition import partition
from mgdsl.diagnostics import MgdError
from mgdsl.ir import BuiltinQuantity, VariableQuantity
from mgdsl.lower.objectives import VDI_TOLERANCE, vdi_tangent_points
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module

from .atc_cases import CONTINUOUS

ROOT = Path(__file__).resolve().parent.parent
Z_BASE = 12.66 ** 2 / 1.0                      # ohm, base 1 MVA and 12.66 kV

# One 50-ohm line (x = 0) to a 1000 kW load and a generator at bus 2 that costs more than the slack. With x = 0
# and no reactive load, a sending-end flow of S p.u. has l = S^2 and losses r S^2, delivers S - r S^2, and
# v2 = (1 - r S)^2 exactly: V2 = 1 - r S.
TRADE = """use stdlib
horizon 1 steps of 1 h

device Gen(p_max: kW, price: yuan/kWh) {
    var p[t]: kW in 0 .. p_max
    port electricity += p
    cost += price * p * dt
}

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-6)
    buses 1 .. 2
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 50 ohm, x = 0 ohm
    load 2: p = 1000 kW, q = 0 kvar
    at 2: g = Gen(p_max = GEN_MAX, price = 0.8 yuan/kWh)
}

objective loss_cost: yuan = 0.2 yuan/kWh * losses
objective gen: kWh = sum(dn.g.p * dt)
objective gen_mwh: MWh = gen
MINIMIZE
"""
R = 50 / Z_BASE


def trade(minimize: str, gen_max: str = "2000 kW") -> str:
    return TRADE.replace("MINIMIZE", minimize).replace("GEN_MAX", gen_max)


def hand_trade(S: float) -> dict:
    """Every figure of the trade model at a sending-end flow of S p.u."""
    gen = 1.0 - S + R * S * S
    losses = 1000 * R * S * S
    cost = 1000 * (0.5 * S + 0.8 * gen)
    return {"cost": cost, "losses": losses, "vdi": R * S / 2, "gen": 1000 * gen, "loss_cost": 0.2 * losses}


# ---------------------------------------------------------------- hand-computed values
def test_two_bus_losses_voltage_and_vdi_by_hand():
    """A 500 + 200j kW load on 5 + 3j ohm over two hours (the second at half load): losses per line and hour,
    voltage per bus and hour, vdi per hour, and the objectives' values, from the exact branch-flow equations."""
    text = """use stdlib
horizon 2 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-6)
    buses 1 .. 2
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 5 ohm, x = 3 ohm
    load 2: p = 500 kW * [1, 0.5], q = 200 kvar * [1, 0.5]
}
objective loss_mwh: MWh = losses
minimize losses
"""
    r, x = 5 / Z_BASE, 3 / Z_BASE
    losses, vm, buy = [], [], []
    for k in (1.0, 0.5):
        P, Q = 0.5 * k, 0.2 * k
        for _ in range(100):                  # fixed point of the exact branch flow, v1 = 1
            l = P * P + Q * Q
            P, Q = 0.5 * k + r * l, 0.2 * k + x * l
        losses.append(1000 * r * l)
        vm.append(math.sqrt(1 - 2 * (r * P + x * Q) + (r * r + x * x) * l))
        buy.append(1000 * P)
    res = mgdsl.loads(text).solve()
    ds = res["dn"]
    assert ds["losses"].sel(line="1-2").values == pytest.approx(losses, rel=1e-5)          # kW per hour
    assert ds["vm"].sel(bus=2).values == pytest.approx(vm, abs=1e-7)
    vdi_per_hour = [(0.0 + 1.0 - v) / 2 for v in vm]                                       # mean over 2 buses
    assert ds["vdi"].values == pytest.approx(vdi_per_hour, abs=1e-7)
    o = res.objectives
    assert o["losses"] == pytest.approx(sum(losses), rel=1e-5)
    assert o["loss_mwh"] == pytest.approx(sum(losses) / 1000, rel=1e-5)
    assert o["vdi"] == pytest.approx(sum(vdi_per_hour) / 2, abs=1e-7)
    assert o["cost"] == pytest.approx(sum(buy), rel=1e-5)
    assert res.objective == pytest.approx(sum(losses), rel=1e-5)                           # minimize losses
    assert res.summary["objective_name"] == "losses" and res.summary["objective_unit"] == "kWh"
    assert res.summary["objectives"]["loss_mwh"]["unit"] == "MWh"


def test_weighted_sum_by_hand():
    """minimize cost + 0.2 yuan/kWh * losses: d/dS [0.5 S + 0.8 (1 - S + r S^2) + 0.2 r S^2] = 0 gives
    S = 0.3 / (2 r (0.8 + 0.2)); minimize cost alone gives S = 0.3 / (2 r 0.8)."""
    for minimize, S in (("minimize cost + loss_cost", 0.3 / (2 * R * 1.0)),
                        ("minimize cost + 0.2 yuan/kWh * losses", 0.3 / (2 * R * 1.0)),
                        ("minimize cost", 0.3 / (2 * R * 0.8))):
        res = mgdsl.loads(trade(minimize)).solve()
        hand = hand_trade(S)
        expected = hand["cost"] + (hand["loss_cost"] if "loss" in minimize else 0.0)
        assert res.objective == pytest.approx(expected, rel=1e-6), minimize
        assert float(res["dn"]["P"].sum()) == pytest.approx(1000 * S, rel=2e-3), minimize  # a flat optimum
        for name in ("cost", "losses", "vdi", "gen", "loss_cost"):
            assert res.objectives[name] == pytest.approx(hand[name], rel=5e-3), (minimize, name)
        assert res.objectives["gen_mwh"] == pytest.approx(res.objectives["gen"] / 1000, rel=1e-12)
        assert res.summary["objective_unit"] == "yuan"


def test_objective_over_a_device_quantity():
    """minimize the generator's energy: import as much as the 0.8 p.u. voltage floor allows, V2 = 1 - r S = 0.8,
    so S = 0.2 / r and the generator makes 1 - S + r S^2."""
    S = 0.2 / R
    hand = hand_trade(S)
    for minimize, value in (("minimize gen", hand["gen"]), ("minimize gen_mwh", hand["gen"] / 1000),
                            ("minimize sum(dn.g.p * dt)", hand["gen"])):
        res = mgdsl.loads(trade(minimize)).solve()
        assert res.objective == pytest.approx(value, rel=1e-5), minimize
        assert float(res["dn"]["vm"].sel(bus=2, t=0)) == pytest.approx(0.8, abs=1e-6)
        assert res.objectives["gen"] == pytest.approx(hand["gen"], rel=1e-5)
    assert res.summary["objective_name"] == "sum(dn.g.p * dt)"


def test_minimized_vdi_by_hand():
    """With the generator at its 500 kW limit, the line must deliver 0.5 p.u.: S - r S^2 = 0.5, so
    S = (1 - sqrt(1 - 2 r)) / (2 r) and vdi = (0 + r S) / 2. The model minimizes tangent cuts of 1 - V, within
    VDI_TOLERANCE below the exact value; the reported vdi is exact."""
    S = (1 - math.sqrt(1 - 2 * R)) / (2 * R)
    res = mgdsl.loads(trade("minimize vdi", gen_max="500 kW")).solve()
    exact = R * S / 2
    assert res.objectives["vdi"] == pytest.approx(exact, abs=1e-7)
    assert exact - VDI_TOLERANCE / 2 <= res.objective <= exact + 1e-9
    assert res.summary["network"]["fictitious_losses_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert "notes" not in res.summary


def test_vdi_alone_can_make_the_relaxation_inexact_and_says_so():
    """With a free generator, minimizing vdi alone has optima where the line carries losses that no flow explains
    (the relaxation is not exact); the summary says so. A small weight on losses removes them."""
    res = mgdsl.loads(trade("minimize vdi")).solve()
    assert res.objectives["vdi"] == pytest.approx(0.0, abs=1e-6)
    ds = res["dn"]
    explained = 1000 * R * float(((ds["P"] / 1000) ** 2 / ds["v"].sel(bus=1)).sum())      # r P^2 / v1, in kWh
    fictitious = res.summary["network"]["fictitious_losses_kwh"]
    assert fictitious == pytest.approx(res.objectives["losses"] - explained, abs=1e-6)
    assert ("notes" in res.summary) == (fictitious > 1e-3)
    if fictitious > 1e-3:
        assert "not exact" in res.summary["notes"][0]
    res = mgdsl.loads(trade("minimize vdi + 1e-6 pu/kWh * losses")).solve()
    assert res.objectives["losses"] == pytest.approx(0.0, abs=1e-6)      # the generator covers the load
    assert res.objectives["gen"] == pytest.approx(1000.0, rel=1e-6)
    assert "notes" not in res.summary


def test_vdi_under_lindistflow_by_hand():
    """LinDistFlow has vdi (and no losses): v2 = 1 - 2 (r P + x Q) with the load's P, Q."""
    text = """use stdlib
horizon 1 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 2
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 5 ohm, x = 3 ohm
    load 2: p = 500 kW, q = 200 kvar
}
minimize vdi
"""
    r, x = 5 / Z_BASE, 3 / Z_BASE
    exact = (1 - math.sqrt(1 - 2 * (r * 0.5 + x * 0.2))) / 2
    res = mgdsl.loads(text).solve()
    assert set(res.objectives) == {"cost", "vdi"}
    assert res.objectives["vdi"] == pytest.approx(exact, abs=1e-9)
    assert exact - VDI_TOLERANCE / 2 <= res.objective <= exact + 1e-9


def test_tangent_points_meet_the_tolerance():
    """Between the tangent cuts of 1 - sqrt(w), the cut value stays within VDI_TOLERANCE of it on [vmin^2, 1]."""
    for vmin in (0.8, 0.9, 0.95):
        pts = vdi_tangent_points(vmin)
        w = np.linspace(vmin ** 2, 1.0, 20001)
        cuts = np.max([1 - np.sqrt(p) / 2 - w / (2 * np.sqrt(p)) for p in pts], axis=0)
        error = (1 - np.sqrt(w)) - cuts
        assert error.min() >= -1e-12 and error.max() <= VDI_TOLERANCE


def test_default_objective_is_cost():
    """No `minimize` and `minimize cost` are the same model; the cost objective is the sum of the owners' costs."""
    without = mgdsl.loads(trade("")).solve()
    with_cost = mgdsl.loads(trade("minimize cost")).solve()
    assert without.objective == pytest.approx(with_cost.objective, rel=1e-9)
    assert without.objectives["cost"] == pytest.approx(without.objective, rel=1e-9)
    assert without.summary["objective_name"] == "cost"
    assert sum(without.costs.values()) == pytest.approx(without.objective, rel=1e-9)


def test_objective_ir_is_a_normal_form():
    ir = mgdsl.loads(trade("minimize 2 * (cost + loss_cost) - cost + sum(0.1 yuan/kWh * dn.g.p * dt)")).ir
    terms = {t.quantity: t.coef for t in ir.objective.terms}
    assert terms[BuiltinQuantity("cost", None)] == pytest.approx(1.0)
    assert terms[BuiltinQuantity("losses", "dn")] == pytest.approx(0.4)
    q = VariableQuantity("dn.g", "Gen", "p", "dn", True)
    assert np.asarray(terms[q]) == pytest.approx([0.1])
    assert list(ir.objectives) == ["cost", "losses", "vdi", "loss_cost", "gen", "gen_mwh"]
    assert ir.objectives["gen_mwh"].scale == 1000.0 and ir.objectives["gen_mwh"].unit == "MWh"


def test_fixed_step_and_untimed_quantities():
    """`x[last]` is one step's value; a storage's end state can be an objective."""
    text = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5, 1.0]
microgrid mg1 {
    es = Storage(electricity, capacity = 100 kWh, p_max = 50 kW, soc_init = 0.5, soc_end = 0.1)
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = 10 kW)
}
objective end: kWh = mg1.es.e[last]
objective first_two: kWh = mg1.es.e[first] + mg1.es.e[first+1]
minimize end
"""
    res = mgdsl.loads(text).solve()
    e = res["Storage"]["e"].sel(instance="mg1.es").values
    assert res.objective == pytest.approx(10.0, abs=1e-6)          # soc_min 0.1 of 100 kWh
    assert res.objectives["end"] == pytest.approx(e[-1], abs=1e-9)
    assert res.objectives["first_two"] == pytest.approx(e[0] + e[1], abs=1e-9)


# ---------------------------------------------------------------- errors
NET = """use stdlib
horizon 2 steps of 1 h
profile price: yuan/kWh = [0.3, 0.6]
network dn {
    base 1 MVA, 12.66 kV
    formulation FORM
    buses 1 .. 2
    slack 1 buys at price
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm
    load 2: p = 100 kW, q = 20 kvar
    at 2: pv = PV(p_max = 50 kW, profile = [0.2, 0.8])
}
"""


def _error(text: str, form: str = "distflow_socp"):
    with pytest.raises(MgdError) as e:
        mgdsl.loads(NET.replace("FORM", form) + text, path="m.mgd")
    return e.value.diagnostics


@pytest.mark.parametrize("text, code, where, words", [
    ("minimize cost + 0.2 * losses", "E0201", "cost + 0.2 * losses", "cannot add yuan and kWh"),
    ("objective l: yuan = 0.2 yuan/kW * losses", "E0203", "0.2 yuan/kW * losses", "declared yuan"),
    ("objective l: kW = losses", "E0203", "losses", "declared kW but its value is kWh"),
    ("minimize cost - 0.2 yuan/kWh * losses", "E0304", "losses", "negative weight"),
    ("minimize cost - 100 yuan * vdi", "E0304", "vdi", "negative weight"),
    ("minimize cost * losses", "E0301", "cost * losses", "nonlinear product of quantities"),
    ("minimize losses^2", "E0302", "losses^2", "not linear"),
    ("objective p: kW = dn.pv.p", "E0503", "dn.pv.p", "one number for the whole horizon"),
    ("objective p: kWh = sum(dn.pv.p[t-1] * dt)", "E0503", "[t-1]", "offset"),
    ("objective p: kWh = price * losses", "E0503", "price * losses", "value per step"),
    ("minimize foo", "E0101", "foo", "unknown objective `foo`"),
    ("objective a = b\nobjective b = cost", "E0101", "b", "declared below"),
    ("objective losses: kWh = losses", "E0103", "losses", "built-in objective"),
    ("objective a = cost\nobjective a = cost", "E0103", "a", "defined twice"),
    ("minimize dn.pv.q", "E0109", "dn.pv.q", "not a variable of an instance"),
    ("minimize cost\nminimize losses", "E0504", "minimize losses", "given twice"),
    ("minimize 5 yuan", "E0506", "5 yuan", "nothing to minimize"),
    ("objective x: yuan = 1e13 * cost", "E0404", "cost", "out of range"),
])
def test_errors_are_located(text, code, where, words):
    diags = _error(text)
    d = next((d for d in diags if d.code == code), None)
    assert d is not None, [(x.code, x.message) for x in diags]
    assert d.span.text == where and d.span.file.path == "m.mgd"
    assert words in d.message
    assert len(diags) == 1, [(x.code, x.message) for x in diags]


def test_lindistflow_refuses_losses_and_says_which_formulation_has_them():
    for text in ("minimize losses", "objective l: kWh = losses", "minimize cost + 0.2 yuan/kWh * losses"):
        (d,) = _error(text, "lindistflow")
        assert d.code == "E0506" and d.span.text == "losses"
        assert "lindistflow" in d.message and "no losses" in d.message
        assert "distflow_socp" in d.help
        assert "`cost`, `vdi`" in d.help                   # what can be minimized instead
        assert d.secondary and d.secondary[0].span.text.startswith("network dn")
    rendered = MgdError([d]).render(color=False)
    assert "m.mgd:13:32" in rendered                    # line and column of `losses`


def test_losses_and_vdi_need_a_network():
    text = """use stdlib
horizon 2 steps of 1 h
microgrid mg1 {
    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)
    load = Load(electricity, base = 10 kW)
}
minimize vdi
"""
    with pytest.raises(MgdError) as e:
        mgdsl.loads(text)
    (d,) = e.value.diagnostics
    assert d.code == "E0506" and "no network" in d.message and d.span.text == "vdi"


def test_a_broken_network_is_reported_once():
    """`losses` of a network with errors of its own: the network's error, not also `no network`."""
    with pytest.raises(MgdError) as e:
        mgdsl.loads(NET.replace("FORM", "distflow_socp").replace("buses 1 .. 2", "buses 1 .. 2\n    buses 3")
                    + "minimize losses")
    codes = [d.code for d in e.value.diagnostics]
    assert codes and "E0506" not in codes and "E0101" not in codes


def test_unknown_objective_names_what_can_be_minimized():
    (d,) = _error("objective loss_cost: yuan = 0.2 yuan/kWh * losses\nminimize los")
    assert d.code == "E0101"
    assert "did you mean" in d.help and "`cost`, `losses`, `vdi`, `loss_cost`" in d.help


# ---------------------------------------------------------------- syntax
def test_objectives_round_trip_through_fmt():
    text = ("objective loss_cost: yuan = 0.2 yuan/kWh * losses  # the paper's price of losses\n"
            "objective fuel = sum(mg1.chp.fuel * dt) / 1000\n"
            "minimize cost + 2 * (loss_cost - 1 yuan) + 10 yuan * vdi\n")
    once = format_module(parse_text(text))
    assert once == text
    assert format_module(parse_text(once)) == once


def test_the_reference_example_checks_and_solves():
    """The objectives example of docs/language.md, in a system that has what it names."""
    doc = (ROOT / "docs" / "language.md").read_text()
    block = doc.split("## Objectives", 1)[1].split("```", 2)[1]
    text = SOC.replace("microgrid a at dn.3", "microgrid mg1 at dn.3") + block     # mg1 has a CHP and a storage
    res = mgdsl.loads(text).solve()
    o = res.objectives
    assert res.summary["objective_name"] == "cost + loss_cost + 500 yuan * vdi"
    assert res.objective == pytest.approx(o["cost"] + o["loss_cost"] + 500 * o["vdi"], rel=1e-4)
    assert o["chp_fuel"] == pytest.approx(float(res["CHP"]["fuel"].sum()) / 1000, rel=1e-9)
    assert o["end_soc"] == pytest.approx(float(res["Storage"]["e"].sel(instance="mg1.es").isel(t=-1)), rel=1e-9)


# ---------------------------------------------------------------- results, command line
def test_cli_reports_every_objective(tmp_path):
    path = tmp_path / "trade.mgd"
    path.write_text(trade("minimize cost + loss_cost"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(cost + loss_cost)" in result.output and "losses" in result.output
    summary = json.loads((out / "summary.json").read_text())
    hand = hand_trade(0.3 / (2 * R))
    assert summary["objectives"]["losses"]["value"] == pytest.approx(hand["losses"], rel=5e-3)
    assert summary["objectives"]["vdi"]["unit"] == "pu"
    assert summary["objective_unit"] == "yuan"


# ---------------------------------------------------------------- decomposition
SOC = CONTINUOUS.replace("formulation lindistflow", "formulation distflow_socp(accuracy = 1e-4)")


def test_parts_hold_their_share_of_the_objective():
    ir = mgdsl.loads(SOC + "\nminimize cost + 0.2 yuan/kWh * losses + sum(0.01 yuan/kWh * a.chp.p * dt)\n").ir
    p = partition(ir)
    shares = {part.name: {t.quantity for t in part.ir.objective.terms} for part in p.parts}
    cost = BuiltinQuantity("cost", None)
    chp = VariableQuantity("a.chp", "CHP", "p", "a", True)
    assert shares["dn"] == {cost, BuiltinQuantity("losses", "dn")}
    assert shares["a"] == {cost, chp}
    assert shares["b"] == {cost}
    assert all(not part.ir.objectives for part in p.parts)


def test_atc_reaches_the_centralized_optimum_of_cost_and_losses():
    """Each part minimizes its share (the network its purchases and 0.2 yuan/kWh of its losses, each microgrid its
    costs); ATC meets the centralized optimum."""
    text = SOC + "\nminimize cost + 0.2 yuan/kWh * losses\n"
    central = mgdsl.loads(text).solve()
    system = mgdsl.loads(text)
    run = system.solve_atc(system.atc_options(tolerance=1e-4))
    assert run.converged
    assert abs(run.objective - central.objective) / central.objective < 1e-3
    got = run.results.summary
    assert got["objective_name"] == "cost + 0.2 yuan/kWh * losses"
    assert got["objectives"]["losses"]["value"] == pytest.approx(central.objectives["losses"], rel=0.02)
    assert got["objectives"]["losses"]["value"] > 0
    # the reported objective is what its parts add up to: cost plus the price of the losses
    assert got["objective"] == pytest.approx(got["objectives"]["cost"]["value"]
                                             + 0.2 * got["objectives"]["losses"]["value"], rel=1e-4)
