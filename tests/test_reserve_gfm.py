"""The grid-forming battery of stdlib/hydro.mgd (GFMStorage) holds spinning reserve as Storage does: its power
headroom and the energy to sustain it for `reserve_time`, against hand-computed optima; a model without a
requirement is the one it was before (models/cluster3_002.mgd: tests/test_arbitrate.py, test_simulate.py)."""
from __future__ import annotations

import pytest

import mgdsl


def battery(reserve_time: str, requirement: str = "reserve up >= 40 kW") -> str:
    """A 100 kWh battery at 50 kWh that must end there (so it serves no load for free), a 10 kW load, one hour."""
    return f"""use stdlib
horizon 1 steps of 1 h
microgrid mg1 {{
    es = GFMStorage(capacity = 100 kWh, p_max = 50 kW, soc_end = 50 %, reserve_time = {reserve_time})
    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)
    load = Load(electricity, base = 10 kW)
    {requirement}
}}
"""


def test_the_energy_to_sustain_the_reserve_is_bought():
    # e = 50 kWh + 0.95 ch; 40 kW for 1 h needs 0.95 (e - 10 kWh) >= 40 kWh: ch = (40 / 0.95 - 40) / 0.95 kW,
    # bought with the load (10 kW) at 0.5 yuan/kWh
    ch = (40 / 0.95 - 40) / 0.95
    res = mgdsl.loads(battery("1 h")).solve()
    ds = res["GFMStorage"].sel(instance="mg1.es")
    assert float(ds["ch"][0]) == pytest.approx(ch, rel=1e-6) and float(ds["dis"][0]) == pytest.approx(0, abs=1e-7)
    assert float(ds["reserve_up"][0]) == pytest.approx(40, rel=1e-6)
    assert res.objective == pytest.approx(0.5 * (10 + ch), rel=1e-6)


def test_a_shorter_reserve_time_needs_no_charge_until_the_headroom_binds():
    # half an hour: 0.95 * 40 kWh / 0.5 h = 76 kW of energy, above the 50 kW headroom: nothing to buy
    res = mgdsl.loads(battery("0.5 h")).solve()
    assert res.objective == pytest.approx(5.0, rel=1e-6)
    # 60 kW: beyond p_max, so the battery charges 10 kW (net) it would stop in an event (r_up <= p_max - dis + ch);
    # the energy then holds (0.95 * (59.5 - 10) / 0.5 = 94 kW)
    res = mgdsl.loads(battery("0.5 h", "reserve up >= 60 kW")).solve()
    ds = res["GFMStorage"].sel(instance="mg1.es")
    assert float(ds["ch"][0] - ds["dis"][0]) == pytest.approx(10, rel=1e-6)
    assert res.objective == pytest.approx(0.5 * (10 + 10), rel=1e-6)
    # 110 kW: more than stopping a full charge and discharging fully (2 p_max)
    with pytest.raises(mgdsl.MgdError) as err:
        mgdsl.loads(battery("0.5 h", "reserve up >= 110 kW"), path="gfm.mgd").solve()
    assert err.value.diagnostics[0].code == "E0601" and "headroom_up" in err.value.render(color=False)


def test_down_reserve_is_the_room_left_to_charge():
    # down: r_dn <= p_max - ch + dis = 50 kW and r_dn * 1 h <= (90 - e) / 0.95 = 42.1 kWh at e = 50: 40 kW holds
    res = mgdsl.loads(battery("1 h", "reserve down >= 40 kW")).solve()
    assert res.objective == pytest.approx(5.0, rel=1e-6)
    assert float(res["GFMStorage"]["reserve_down"].sel(instance="mg1.es")[0]) >= 40 - 1e-6
