"""What the check does once per template or file instead of once per instance (issue 13) gives each instance the
answer it gave when done per instance: defaults, the template's conditions on its parameters, the currency."""
from __future__ import annotations

import pytest

import mgdsl

HEAD = "horizon 2 steps of 1 h\n"
TEMPLATE = """device D(a: kW, b: kW = 2 * a, fee: yuan/kWh = 0.5 yuan/kWh, k = 0.25) {
    a <= b
    k * b == k * 2 * a
    var p[t]: kW in 0 .. b
    port electricity += p
    cost += fee * p * dt
}
"""


def _system(body: str, currency: str = "yuan", extra: str = "") -> str:
    return (HEAD + TEMPLATE.replace("yuan", currency) + extra + "microgrid m {\n" + body
            + "    l = Load(electricity, base = 1 kW)\n}\n")


def test_each_instance_gets_its_defaults():
    ir = mgdsl.loads("use stdlib\n" + _system("    d1 = D(a = 1 kW)\n    d2 = D(a = 3 kW, k = 0.5)\n"
                                              "    d3 = D(a = 2 kW)\n")).ir
    values = {i.name: i.values for i in ir.instances["D"]}
    assert [values[f"m.d{k}"]["b"] for k in (1, 2, 3)] == [2.0, 6.0, 4.0]          # names `a`: per instance
    assert [values[f"m.d{k}"]["k"] for k in (1, 2, 3)] == [0.25, 0.5, 0.25]        # names nothing: shared
    assert all(values[f"m.d{k}"]["fee"] == 0.5 for k in (1, 2, 3))


def test_conditions_on_parameters_are_checked_per_instance():
    with pytest.raises(mgdsl.MgdError) as caught:
        mgdsl.loads("use stdlib\n" + _system("    ok = D(a = 1 kW)\n    bad = D(a = 2 kW, b = 1 kW)\n"
                                             "    bad2 = D(a = 2 kW, b = 3 kW)\n"))
    found = [(d.code, d.message) for d in caught.value.diagnostics]
    # `bad` breaks `a <= b`; `bad2` keeps it but breaks `k * b == k * 2 * a` (0.75 against 1)
    assert found == [("E0404", "`m.bad` violates the condition of `D`"),
                     ("E0404", "`m.bad2` violates the condition of `D`")]
    # equal within the tolerance of a comparison of computed numbers
    mgdsl.loads("use stdlib\n" + _system("    d = D(a = 1 kW, b = 2.0000001 kW)\n"))


def test_a_foreign_default_is_named_at_every_instance_that_takes_it():
    with pytest.raises(mgdsl.MgdError) as caught:            # the library's fuel price is yuan, the system's eur
        mgdsl.loads("use stdlib\n" + HEAD + "microgrid mg {\n    grid = ElectricityTrade(buy_price = 0.9 eur/kWh)\n"
                    "    b1 = Microturbine(p_max = 10 kW)\n    b2 = Microturbine(p_max = 20 kW)\n"
                    "    b3 = Microturbine(p_max = 20 kW, fuel_price = 0.07 eur/kWh)\n}\n")
    assert [(d.code, d.span.text) for d in caught.value.diagnostics] == [
        ("E0205", "Microturbine(p_max = 10 kW)"), ("E0205", "Microturbine(p_max = 20 kW)")]


def test_the_currency_is_what_units_name_not_comments():
    assert mgdsl.loads("use stdlib\n# prices in usd\n" + _system("    d = D(a = 1 kW)\n")).ir.currency == "yuan"
    with pytest.raises(mgdsl.MgdError) as caught:
        mgdsl.loads("use stdlib\nlet x: eur = 1 eur\n" + _system("    d = D(a = 1 kW)\n"))
    d = caught.value.diagnostics[0]
    assert d.code == "E0201" and "eur and yuan" in d.message and d.span.text == "yuan/kWh"
