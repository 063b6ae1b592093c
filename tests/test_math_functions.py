"""Math functions of plain numbers (sqrt, exp, log, sin, cos, tan, asin, acos, atan) in system files and
parameter defaults: their values against Python's math, their units, their domains, and the places they are
refused (a decision variable inside; a template's statements), each a located error."""
from __future__ import annotations

import math

import pytest

import mgdsl
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module

HEAD = "use stdlib\nhorizon 3 steps of 1 h\n"
SHOP = "microgrid m {\n    l = Load(electricity, base = 1 kW)\n    g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n"


def lets(text: str) -> dict:
    """The values of a system file's `let`s and profiles, as the check evaluates them."""
    from mgdsl.sema.system import SystemChecker

    checker = SystemChecker(mgdsl.loads(HEAD + text + SHOP)._program)
    checker.check()
    return {k: c.value for k, c in checker.env.items()}


def error(text: str):
    with pytest.raises(mgdsl.MgdError) as caught:
        mgdsl.loads(HEAD + text)
    d = caught.value.diagnostics[0]
    return d.code, d.span.text, d.message


def test_values_are_python_math():
    env = lets("let a = tan(acos(0.9))\nlet b = sqrt(2)\nlet c = log(exp(3))\nlet d = sin(0.5) ^ 2 + cos(0.5) ^ 2\n"
               "let e = atan(1) * 4\nlet f = asin(1)\nlet g = acos(90 %)\n")
    assert env["a"] == pytest.approx(math.tan(math.acos(0.9)), rel=1e-15)
    assert env["b"] == pytest.approx(math.sqrt(2), rel=1e-15) and env["c"] == pytest.approx(3)
    assert env["d"] == pytest.approx(1) and env["e"] == pytest.approx(math.pi)
    assert env["f"] == pytest.approx(math.pi / 2)
    assert env["g"] == pytest.approx(math.acos(0.9))                       # 90 % is the plain number 0.9


def test_series_and_square_roots_of_units():
    env = lets("profile shape = [1, 4, 9]\nlet r = sqrt(shape)\nlet s = sqrt(4 kW * 9 kW)\n"
               "let z = sqrt(16 kWh * 1 kWh / 1 h / 1 h)\n")
    assert list(env["r"]) == [1.0, 2.0, 3.0]
    assert env["s"] == pytest.approx(6.0) and env["z"] == pytest.approx(4.0)
    system = mgdsl.loads(HEAD + "let s: kW = sqrt(4 kW * 9 kW)\n" + SHOP)        # declared kW: it is kW
    assert system.ir is not None


def test_a_default_computed_per_instance():
    template = ("device Q(base: kW, pf = 0.9, tan_phi: kvar/kW = tan(acos(pf)) * 1 kvar/kW) {\n"
                "    var q[t]: kvar\n    q[t] == tan_phi * base\n    port electricity -= base\n"
                "    port reactive -= q\n}\n")
    ir = mgdsl.loads(HEAD + template + "microgrid m {\n    a = Q(base = 10 kW)\n    b = Q(base = 10 kW, pf = 0.8)\n"
                     "    c = Q(base = 10 kW, tan_phi = 0.1 kvar/kW)\n"
                     "    g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n").ir
    tan_phi = {i.name: i.values["tan_phi"] for i in ir.instances["Q"]}
    assert tan_phi == pytest.approx({"m.a": math.tan(math.acos(0.9)), "m.b": 0.75, "m.c": 0.1})


def test_a_power_factor_given_to_a_stdlib_load():
    system = mgdsl.loads(HEAD + "let pf = 0.95\nmicrogrid m {\n"
                         "    l = LoadPQ(base = 100 kW, tan_phi = tan(acos(pf)) * 1 kvar/kW)\n"
                         "    g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n")
    assert system.ir.instances["LoadPQ"][0].values["tan_phi"] == pytest.approx(0.32868410517886, rel=1e-12)


@pytest.mark.parametrize("text, code, where", [
    ("let x = sqrt(1 kW)\n", "E0410", "1 kW"),
    ("let x = exp(2 h)\n", "E0410", "2 h"),
    ("let x = acos(1.5)\n", "E0411", "1.5"),
    ("let x = sqrt(-4)\n", "E0411", "-4"),
    ("profile p = [1, 0, 2]\nlet x = log(p)\n", "E0411", "p"),
    ("let x = tan(1, 2)\n", "E0106", "tan(1, 2)"),
    ("let x = tan(y = 1)\n", "E0106", "tan(y = 1)"),
    ("device D(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n    p[t] <= sqrt(p[t] / 1 kW) * 1 kW\n"
     "    port electricity += p\n}\n", "E0412", "p[t] / 1 kW"),
    ("device D(p_max: kW) {\n    var p[t]: kW in 0 .. sqrt(p_max * p_max)\n    port electricity += p\n}\n",
     "E0413", "sqrt(p_max * p_max)"),
    ("device D(p_max: kW, k = exp(p_max)) {\n    var p[t]: kW in 0 .. p_max\n    port electricity += p\n}\n",
     "E0410", "p_max"),
    ("device D(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n    port electricity += p\n}\n"
     "microgrid m {\n    d = D(p_max = 1 kW)\n}\nminimize cost + 1 yuan * exp(1)\n", "E0413", "exp(1)"),
])
def test_located_errors(text, code, where):
    found, span_text, _ = error(text)
    assert (found, span_text) == (code, where)


@pytest.mark.parametrize("tail, where", [
    ("minimize cost + 1 yuan * exp(1)\n", "an objective"),
    ("couple c: m.g.buy == sqrt(4) * n.g.buy\n", "a coupling"),
])
def test_in_a_system_files_objective_or_coupling_a_let_holds_the_value(tail, where):
    # the fix there is a `let` of the system file, not a parameter's default
    shops = SHOP + SHOP.replace("microgrid m", "microgrid n")
    code, _, message = error(shops + tail)
    assert (code, message) == ("E0413", f"`{tail.split('(')[0].split()[-1]}` is evaluated in a `let`, not in {where}")
    with pytest.raises(mgdsl.MgdError) as caught:
        mgdsl.loads(HEAD + shops + tail)
    assert "`let k = " in caught.value.diagnostics[0].help
    fixed = tail.replace("exp(1)", "k").replace("sqrt(4)", "k")
    assert mgdsl.loads(HEAD + "let k = sqrt(4)\n" + shops + fixed).ir is not None


def test_the_message_names_the_value_outside_the_domain():
    _, _, message = error("profile p = [0.5, 1.2, 0.3]\nlet x = acos(p)\n")
    assert message == "`acos` is not defined at 1.2: numbers from -1 to 1"


def test_formatted_as_written():
    src = "let tan_phi: kvar/kW = tan(acos(0.95)) * 1 kvar/kW\n"
    assert format_module(parse_text(src)) == src


def _all(text: str) -> list:
    with pytest.raises(mgdsl.MgdError) as caught:
        mgdsl.loads(HEAD + text)
    return caught.value.diagnostics


def test_a_default_outside_its_domain_names_the_instances_that_give_the_values():
    # acos(pf) fails for b and c alike (one error, a label at each), for d at another value (its own error);
    # sqrt(-1) names nothing: it fails for every instance and is reported once
    found = _all("device Q(base: kW, pf = 0.9, k = acos(pf), r = sqrt(-1)) {\n    var p[t]: kW in 0 .. base\n"
                 "    port electricity -= p\n}\nmicrogrid m {\n    a = Q(base = 1 kW)\n"
                 "    b = Q(base = 1 kW, pf = 1.5)\n    c = Q(base = 1 kW, pf = 1.5)\n    d = Q(base = 1 kW, pf = 2)\n"
                 "    g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n")
    assert [(d.code, d.span.text, d.message.split(":")[0]) for d in found] == [
        ("E0411", "pf", "`acos` is not defined at 1.5"), ("E0411", "pf", "`acos` is not defined at 2"),
        ("E0411", "-1", "`sqrt` is not defined at -1")]
    assert [lab.span.text for lab in found[0].secondary] == ["Q(base = 1 kW, pf = 1.5)"] * 2
    assert [lab.message for lab in found[0].secondary] == ["`m.b` gives the values", "`m.c` gives the values"]
    assert [lab.message for lab in found[1].secondary] == ["`m.d` gives the values"] and not found[2].secondary


def test_a_unit_inside_a_default_is_reported_once():
    # the template's check finds it; evaluating the default for the instance would find it again
    found = _all("device D(base: kW, k: kW = sqrt(base), e = exp(2 h)) {\n    var p[t]: kW in 0 .. k\n"
                 "    port electricity += p\n}\nmicrogrid m {\n    a = D(base = 1 kW)\n    b = D(base = 4 kW)\n}\n")
    assert [(d.code, d.span.text) for d in found] == [("E0410", "base"), ("E0410", "2 h")]
    assert not found[0].secondary                       # a unit is wrong whatever the instance gives


def test_a_math_default_of_numbers_only_is_the_same_for_every_instance():
    ir = mgdsl.loads(HEAD + "device D(base: kW, k = tan(acos(0.8))) {\n    var p[t]: kW in 0 .. base * k\n"
                     "    port electricity -= p\n}\nmicrogrid m {\n    a = D(base = 1 kW)\n    b = D(base = 2 kW)\n"
                     "    c = D(base = 2 kW, k = 2)\n    g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n").ir
    assert [i.values["k"] for i in ir.instances["D"]] == pytest.approx([0.75, 0.75, 2.0])


def test_the_editor_grammar_highlights_every_function():
    import json
    import re
    from pathlib import Path

    from mgdsl.sema.typing import FUNCTIONS, MATH_FUNCTIONS

    grammar = json.loads((Path(__file__).resolve().parent.parent / "editors" / "vscode" / "syntaxes"
                          / "mgdsl.tmLanguage.json").read_text(encoding="utf-8"))
    builtin = next(p["match"] for p in grammar["repository"]["call"]["beginCaptures"]["1"]["patterns"]
                   if p.get("name") == "support.function.builtin.mgdsl")
    assert all(re.fullmatch(builtin, f) for f in ("csv", *FUNCTIONS, *MATH_FUNCTIONS))
