"""Checking: unit conversion of arguments, profiles and defaults; scoping; structural statements in the IR."""
from __future__ import annotations

import numpy as np
import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.sema.units import ENERGY, MONEY, POWER, describe, parse_unit

HEAD = "use stdlib\nhorizon 4 steps of 15 min\n"


def ir_of(text: str):
    return mgdsl.loads(HEAD + text).ir


def codes(text: str) -> list[str]:
    with pytest.raises(MgdError) as e:
        mgdsl.loads(HEAD + text)
    return [d.code for d in e.value.diagnostics]


def test_units_parse_and_scale():
    assert parse_unit("MWh") == (1000.0, ENERGY)
    assert parse_unit("W") == (1e-3, POWER)
    scale, dim = parse_unit("yuan/MWh")
    assert scale == pytest.approx(1e-3) and dim == MONEY / ENERGY
    assert describe(MONEY / ENERGY) == "money/kWh"


def test_arguments_are_converted_to_canonical_units():
    ir = ir_of("microgrid m {\n es = Storage(electricity, capacity = 1.5 MWh, p_max = 250000 W)\n}\n")
    inst = ir.instances["Storage"][0]
    assert inst.values["capacity"] == pytest.approx(1500.0)
    assert inst.values["p_max"] == pytest.approx(250.0)
    assert inst.values["soc_end"] == inst.values["soc_init"] == 0.5     # a default naming another parameter
    assert ir.dt_h == 0.25


def test_profiles_take_their_declared_unit_and_scale():
    ir = ir_of("profile price: yuan/MWh = [300, 400, 500, 600]\nmicrogrid m {\n"
               " g = ElectricityTrade(buy_price = price)\n}\n")
    assert np.allclose(ir.instances["ElectricityTrade"][0].values["buy_price"], [0.3, 0.4, 0.5, 0.6])


def test_percent_and_series_arguments():
    ir = ir_of("profile shape = [0.5, 1, 1, 0.5]\nmicrogrid m {\n"
               " l = FlexibleLoad(electricity, base = 200 kW * shape, shift = 20 %)\n}\n")
    v = ir.instances["FlexibleLoad"][0].values
    assert v["shift"] == pytest.approx(0.2) and np.allclose(v["base"], [100, 200, 200, 100])
    assert v["peak"] == pytest.approx(200.0)                            # max(base), a default


def test_power_to_energy_parameter_is_rejected():
    assert codes("microgrid m {\n es = Storage(electricity, capacity = 1 MW, p_max = 1 MW)\n}\n") == ["E0202"]


def test_reactive_is_not_active_power():
    assert codes("microgrid m {\n s = SVC(q_min = 0 kW, q_max = 100 kvar)\n}\n") == ["E0202"]


def test_currency_of_a_system():
    ir = ir_of("microgrid m {\n g = ElectricityTrade(buy_price = 0.1 usd/kWh)\n}\n")
    assert ir.currency == "usd"


def test_currencies_do_not_mix():
    assert "E0201" in codes("microgrid m {\n g = ElectricityTrade(buy_price = 0.1 usd/kWh)\n"
                            " gas = GasSupply(price = 0.3 yuan/kWh)\n}\n")


def test_all_errors_of_a_file_are_reported_together():
    found = codes("microgrid m {\n a = Storage(electricity, capacity = 1 MW, p_max = 1 MW)\n"
                  " b = Nope()\n c = PV(p_max = 1 kWh)\n}\n")
    assert found == ["E0202", "E0102", "E0202"]


def test_structure_in_the_ir():
    ir = ir_of("""network dn {
    base 1 MVA, 12.66 kV
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 0.1 ohm, x = 0.05 ohm
    line 2 - 3: r = 0.1 ohm, x = 0.05 ohm, i_max = 200 A
    load 3: p = 50 kW, q = 10 kvar
    at 2, 3: SVC(q_min = -10 kvar, q_max = 10 kvar)
}
microgrid a at dn.2 limit 1 MW {
    l = Load(electricity, base = 10 kW)
}
microgrid b at dn.3 {
    l = Load(electricity, base = 10 kW)
}
cluster c = {a, b}
switch k between a and dn.3 limit 50 kW
""")
    assert [i.name for i in ir.instances["SVC"]] == ["dn.svc_2", "dn.svc_3"]
    assert ir.microgrids["a"].bus == 2 and ir.microgrids["a"].limit_kw == 1000.0
    assert ir.microgrids["b"].limit_kw is None
    assert ir.clusters["c"].members == ["a", "b"]
    assert ir.switches[0].b.owner == "dn" and ir.switches[0].b.bus == 3
    assert ir.network.load_p[2].tolist() == [50.0] * 4 and ir.network.lines[1].i_max_a == 200.0


def test_couple_needs_two_subsystems():
    assert "E0504" in codes("microgrid m {\n a = PV(p_max = 1 kW)\n b = PV(p_max = 1 kW)\n}\n"
                            "couple x: m.a.p == m.b.p\n")
