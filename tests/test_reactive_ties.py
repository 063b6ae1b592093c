"""Reactive power at microgrid ties and switches, on cases small enough to check by hand: a load of known power
factor behind a tie (the tie's Q is the load's Q), the tie's apparent-power polygon where it binds, a wind unit's
power-factor range, a switch's Q held by its status, and models without Q left as they were."""
from __future__ import annotations

import numpy as np
import pytest

import mgdsl
from mgdsl.lower.system import PQ_OVERLOAD

NET = """
use stdlib
horizon 2 steps of 1 h

network dn {{
    base 1 MVA, 12.66 kV
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 0.1 ohm, x = 0.05 ohm
    line 2 - 3: r = 0.1 ohm, x = 0.05 ohm
    load 2: p = 100 kW, q = 80 kvar
}}
{body}
"""


def _solve(body: str):
    system = mgdsl.loads(NET.format(body=body))
    return system, system.solve()


def test_tie_apparent_power_polygon_binds_where_computed():
    # 400 kW + 300 kvar behind a 480 kVA tie, and no local Q source: all 300 kvar cross the tie, so the tie's P
    # is limited by the 16-gon's side at 45 degrees, (P + Q) / sqrt(2) <= S: P = 480 sqrt(2) - 300 = 378.82 kW
    # (the exact circle would give sqrt(480^2 - 300^2) = 374.70 kW: the polygon admits 1.1 % more here, at most
    # 1.96 % at its vertices). The microturbine (1 yuan/kWh, dearer than the grid) makes up the rest.
    _, res = _solve("""
microgrid mg1 at dn.3 limit 480 kW {
    mt = Microturbine(p_max = 200 kW, fuel_price = 1 yuan/kWh)
    load = LoadPQ(base = 400 kW, tan_phi = 0.75 kvar/kW)
}""")
    p = res["ties"]["import"].sel(microgrid="mg1").values
    q = res["ties"]["reactive_import"].sel(microgrid="mg1").values
    assert np.allclose(q, 300.0)
    assert np.allclose(p, 480 * np.sqrt(2) - 300, atol=1e-4)
    assert np.allclose(res["Microturbine"]["p"].sel(instance="mg1.mt").values, 700 - 480 * np.sqrt(2), atol=1e-4)
    assert np.all(np.hypot(p, q) <= 480 * (1 + PQ_OVERLOAD) + 1e-6)
    assert PQ_OVERLOAD == pytest.approx(0.0196, abs=1e-4)


# mg1's pf 0.8 load reached over two switches: from bus 3 (s1) and from mg2's wind (k1)
WIND_AND_SWITCHES = """
microgrid mg1 {
    load = LoadPQ(base = 200 kW, tan_phi = 0.75 kvar/kW)
}
microgrid mg2 {
    wt = WindPQ(p_max = 100 kW, profile = 0.5)
    load = Load(electricity, base = 10 kW)
}
switch s1 between mg1 and dn.3 limit 400 kW
switch k1 between mg2 and mg1 limit 100 kW"""


def test_wind_power_factor_range_and_switch_q():
    # mg2's wind (50 kW available) sells 40 kW to mg1 over k1 with at most tan_phi * p = 0.329 * 50 kvar;
    # mg1 takes the rest of its 150 kvar from bus 3 over s1 (a to b is mg1 -> dn: negative)
    _, res = _solve(WIND_AND_SWITCHES)
    sw = res["switches"]
    q_wind = res["WindPQ"]["q"].sel(instance="mg2.wt").values
    p_wind = res["WindPQ"]["p"].sel(instance="mg2.wt").values
    assert np.all(np.abs(q_wind) <= 0.329 * p_wind + 1e-6)
    assert np.allclose(sw["flow"].sel(switch="k1").values, 40.0)
    assert np.allclose(sw["q"].sel(switch="k1").values, q_wind)
    assert np.allclose(sw["q"].sel(switch="s1").values - sw["q"].sel(switch="k1").values, -150.0)
    assert np.allclose(sw["flow"].sel(switch="s1").values, -160.0)


def test_an_open_switch_carries_no_q():
    # mg1 makes its own P and Q (cheaper than the grid); the switch may stay open, and if it does, q is 0
    _, res = _solve("""
microgrid mg1 {
    mt = Microturbine(p_max = 300 kW, q_min = -200 kvar, q_max = 200 kvar, fuel_price = 0.1 yuan/kWh)
    load = LoadPQ(base = 200 kW, tan_phi = 0.75 kvar/kW)
}
switch s1 between mg1 and dn.3 limit 400 kW""")
    sw = res["switches"]
    open_ = sw["closed"].sel(switch="s1").values < 0.5
    assert np.all(np.abs(sw["q"].sel(switch="s1").values[open_]) < 1e-9)
    assert np.all(np.abs(sw["flow"].sel(switch="s1").values[open_]) < 1e-9)
    # closed or open, the switch's |q| is within its polygon
    assert np.all(np.hypot(sw["flow"].values, sw["q"].values) <= 400 * (1 + PQ_OVERLOAD) + 1e-6)


def test_models_without_q_get_no_q_variables():
    # a tie whose microgrid cannot move reactive power (the microturbine's q range is 0 .. 0 by default)
    system, res = _solve("""
microgrid mg1 at dn.3 limit 500 kW {
    mt = Microturbine(p_max = 100 kW)
    load = Load(electricity, base = 200 kW)
}
switch s1 between mg1 and dn.2 limit 400 kW""")
    names = list(system.model.variables)
    assert not [n for n in names if n.startswith(("tie.q", "switch.q"))]
    assert "reactive_import" not in res["ties"] and "q" not in res["switches"]


PF_LOAD = """
microgrid mg1 at dn.3 limit 500 kW {
    mt = Microturbine(p_max = 100 kW, fuel_price = 0.4 yuan/kWh)
    load = LoadPQ(base = 200 kW, tan_phi = 0.75 kvar/kW)
}"""


def test_tie_q_is_the_load_q_centralized_and_by_atc():
    # pf 0.8 lagging: tan(acos(0.8)) = 0.75, so 200 kW draws 150 kvar, all of it over the tie (the microturbine
    # has no reactive range); the microturbine (0.4 yuan/kWh, cheaper than the grid) gives 100 kW, the tie the rest
    from mgdsl.decompose.partition import partition
    from mgdsl.solve.atc import ATCOptions, run_atc

    system, central = _solve(PF_LOAD)
    assert not system.warnings
    ties = central["ties"]
    assert np.allclose(ties["import"].sel(microgrid="mg1").values, 100.0)
    assert np.allclose(ties["reactive_import"].sel(microgrid="mg1").values, 150.0)
    # the tie's Q is a coupling like its P: in the manifest in kvar, measured in p.u. of the base (1 MVA), and
    # ATC's targets agree with the hand-computed values and the centralized objective
    part = partition(system.ir)
    [p, q] = part.manifest()["couplings"]
    assert (p["id"], p["quantity"], p["unit"], p["carrier"]) == ("tie.mg1", "p", "kW", "electricity")
    assert (q["id"], q["quantity"], q["unit"], q["carrier"]) == ("tie.mg1.q", "q", "kvar", "reactive")
    assert q["per_base"] and q["bound"] == 500.0 and q["responders"] == ["mg1"]
    run = run_atc(system.ir, ATCOptions(tolerance=1e-4))
    assert run.converged
    assert np.allclose(run.targets["tie.mg1.q"], 150.0, atol=0.1)
    assert np.allclose(run.targets["tie.mg1"], 100.0, atol=0.1)          # the cheap microturbine first
    assert run.objective == pytest.approx(central.objective, rel=1e-3)
    assert np.allclose(run.results["ties"]["reactive_import"].sel(microgrid="mg1").values, 150.0, atol=0.1)


@pytest.mark.slow
def test_atc_with_q_over_switches_reaches_the_centralized_optimum():
    from mgdsl.solve.atc import ATCOptions, run_atc

    system, central = _solve(WIND_AND_SWITCHES)
    run = run_atc(system.ir, ATCOptions(tolerance=1e-4))
    assert run.converged
    assert {"switch.s1.q", "switch.k1.q"} <= set(run.targets)
    assert run.objective == pytest.approx(central.objective, rel=1e-3)
    assert np.allclose(run.targets["switch.s1.q"] - run.targets["switch.k1.q"], -150.0, atol=0.2)


@pytest.mark.parametrize("link, limit_text", [
    ("microgrid mg1 at dn.3 limit 480 kW {{\n{devices}\n}}", "tie-line limit of `mg1` (apparent power 480 kVA"),
    ("microgrid mg1 {{\n{devices}\n}}\nswitch s1 between mg1 and dn.3 limit 480 kW",
     "limit of switch `s1` (apparent power 480 kVA"),
])
def test_infeasibility_names_the_apparent_power_polygon_as_the_limit(link, limit_text):
    # 400 kW at pf 0.8 needs 500 kVA through a 480 kVA link with nothing local: the report must name the link's
    # limit (its 16-gon rows) as the limit to relax, first among the conflicts
    devices = "    load = LoadPQ(base = 400 kW, tan_phi = 0.75 kvar/kW)"
    with pytest.raises(mgdsl.MgdError) as err:
        _solve(link.format(devices=devices))
    text = str(err.value)
    assert "E0601" in text and limit_text in text
    notes = [line for line in text.splitlines() if "conflict:" in line]
    assert limit_text in notes[0]
    assert "relax a limit" in text
