"""Branch-flow formulations: the IEEE 33-bus feeder at nominal load (Baran & Wu) and hand-checked cases."""
from __future__ import annotations

import math

import pytest

import mgdsl
from mgdsl.lower.cones import levels_for

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
FEEDER = f"""use stdlib
horizon 1 steps of 1 h

network dn {{
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation FORMULATION
    buses 1 .. 33
    slack 1 buys at 1 yuan/kWh
    lines csv("{ROOT}/models/data/ieee33/lines.csv")
    loads csv("{ROOT}/models/data/ieee33/loads.csv")
}}
"""


def test_ieee33_nominal_losses_and_voltage():
    """Published AC power flow: 202.7 kW of losses, minimum voltage 0.913 p.u. at bus 18."""
    res = mgdsl.loads(FEEDER.replace("FORMULATION", "distflow_socp(accuracy = 1e-5)")).solve()
    ds = res["dn"]
    losses = float(ds["buy"].sum()) - 3715.0
    assert losses == pytest.approx(202.7, abs=0.3)
    assert float(ds["losses"].sum()) == pytest.approx(losses, abs=1e-3)
    vm = ds["vm"].isel(t=0)
    assert int(vm.idxmin()) == 18 and float(vm.min()) == pytest.approx(0.913, abs=1e-3)
    assert res.summary["network"]["max_relaxation_gap_pu"] < 1e-3     # the relaxation is tight


def test_lindistflow_is_lossless():
    res = mgdsl.loads(FEEDER.replace("FORMULATION", "lindistflow")).solve()
    assert float(res["dn"]["buy"].sum()) == pytest.approx(3715.0, abs=1e-6)
    assert "losses" not in res["dn"]


def test_two_bus_branch_flow_by_hand():
    """One line, 12.66 kV, 1 MVA: Z_base = 160.2756 ohm. A 500 kW + 200 kvar load at bus 2.
    With v1 = 1: l = P^2 + Q^2 (sending end, p.u.), P = 0.5 + r l, Q = 0.2 + x l, v2 = 1 - 2(rP + xQ) + (r^2+x^2) l."""
    text = """use stdlib
horizon 1 steps of 1 h
network dn {
    base 1 MVA, 12.66 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-6)
    buses 1 .. 2
    slack 1 buys at 1 yuan/kWh
    line 1 - 2: r = 5 ohm, x = 3 ohm
    load 2: p = 500 kW, q = 200 kvar
}
"""
    z = 12.66 ** 2 / 1.0
    r, x = 5 / z, 3 / z
    P, Q = 0.5, 0.2
    for _ in range(100):                   # fixed point of the exact branch-flow equations
        l = P * P + Q * Q
        P, Q = 0.5 + r * l, 0.2 + x * l
    v2 = 1 - 2 * (r * P + x * Q) + (r * r + x * x) * l
    ds = mgdsl.loads(text).solve()["dn"]
    assert float(ds["P"].sel(line="1-2", t=0)) == pytest.approx(1000 * P, rel=1e-5)
    assert float(ds["Q"].sel(line="1-2", t=0)) == pytest.approx(1000 * Q, rel=1e-4)
    assert float(ds["v"].sel(bus=2, t=0)) == pytest.approx(v2, rel=1e-6)


def test_cone_levels_meet_the_accuracy():
    for acc in (1e-2, 1e-4, 1e-6):
        nu = levels_for(acc)
        assert 1 / math.cos(math.pi / 2 ** (nu + 1)) - 1 <= acc
        assert 1 / math.cos(math.pi / 2 ** nu) - 1 > acc          # and no more levels than needed
