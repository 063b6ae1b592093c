"""Coefficients that leave the solver's range although every number written is in range: a product of
in-range factors on a variable, and line impedances in p.u. of extreme base values. HiGHS refuses matrix values
beyond 1e15 and linopy then fails reading the solution (an IndexError); `check` reports them at their place."""
from __future__ import annotations

from pathlib import Path

import pytest

import mgdsl
from mgdsl.diagnostics import MgdError

ROOT = Path(__file__).resolve().parent.parent
SHOP = (ROOT / "models" / "storage_arbitrage.mgd").read_text()


def error_of(text: str):
    with pytest.raises(MgdError) as info:
        mgdsl.loads(text, path=str(ROOT / "models" / "robust.mgd"))
    (d,) = info.value.diagnostics
    return d


def with_device(body: str, args: str = "a = 1 kW") -> str:
    device = f"device D(a: kW) {{\n    var p[t]: kW in 0 .. a\n{body}\n    port electricity += p\n}}\n"
    return SHOP.replace("minimize cost", device + f"microgrid z {{ d = D({args}) }}\nminimize cost")


@pytest.mark.parametrize("body, where", [
    ("    p[t] * 1e11 * 1e11 <= a", "p[t] * 1e11 * 1e11"),
    ("    let big = 1e8 * p\n    big * 1e8 <= a", "big * 1e8"),
    ("    cost += 1e10 yuan/kWh/kW * p^2 * dt * 1e3", "1e10 yuan/kWh/kW * p^2 * dt * 1e3"),
    ("    sum(p * 1e7) * 1e7 <= a", "sum(p * 1e7) * 1e7"),
])
def test_products_on_a_variable_are_in_range(body, where):
    d = error_of(with_device(body))
    assert d.code == "E0404" and "coefficient" in d.message and d.span.text == where


def test_coefficient_from_an_argument_names_the_instance():
    d = error_of(with_device("    p[t] * k * k <= a", "a = 1 kW, k = 1e7").replace("D(a: kW)", "D(a: kW, k)"))
    assert d.code == "E0404" and "`z.d`" in d.message and d.secondary[0].message == "with these arguments"


def test_ordinary_coefficients_pass():
    system = mgdsl.loads(with_device("    p[t] * 1e6 <= a * 1e6\n    cost += 1e3 yuan/kWh * p * dt"),
                         path=str(ROOT / "models" / "robust.mgd"))
    assert system.solve(time_limit=10).summary["status"] == "optimal"


NETWORK = """horizon 2 steps of 1 h
network dn {{
    base {base}
    formulation {formulation}
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = {r}, x = 0.1 ohm
    line 2 - 3: r = 0.1 ohm, x = 0.1 ohm
    load 3: p = 10 kW, q = 5 kvar
}}
minimize cost
"""


@pytest.mark.parametrize("base, formulation, r, what", [
    ("1 MVA, 1e-12 kV", "lindistflow", "0.1 ohm", "voltage drop"),
    ("1 MVA, 1e-6 kV", "distflow_socp", "0.1 ohm", "losses"),
    ("1 MVA, 12.66 kV", "distflow_socp", "1e12 ohm", "losses"),
])
def test_line_coefficients_in_per_unit_are_in_range(base, formulation, r, what):
    d = error_of(NETWORK.format(base=base, formulation=formulation, r=r))
    assert d.code == "E0404" and what in d.message and d.span.text.startswith("line 1 - 2")
    assert d.secondary[0].span.text.startswith("base ")


def test_extreme_but_usable_base_values_solve():
    for base in ("1e-9 MVA, 12.66 kV", "1e12 kVA, 1e12 kV"):
        system = mgdsl.loads(NETWORK.format(base=base, formulation="distflow_socp", r="0.1 ohm"),
                             path=str(ROOT / "models" / "robust.mgd"))
        assert system.solve(time_limit=10).summary["status"] == "optimal"
