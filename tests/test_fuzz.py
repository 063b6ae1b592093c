"""Robustness: text generated from the grammar's pieces, and mutations of the bundled models, either
compile or raise MgdError whose diagnostics all carry a location. No other exception may escape."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.diagnostics import MgdError

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted(ROOT.glob("models/*.mgd"))

KEYWORDS = ["use", "stdlib", "horizon", "steps", "of", "profile", "let", "device", "carrier", "var", "binary",
            "integer", "in", "initial", "port", "cost", "network", "base", "voltage", "formulation", "buses",
            "slack", "buys", "sells", "at", "lines", "line", "loads", "load", "microgrid", "limit", "cluster",
            "switch", "between", "and", "couple", "minimize", "decompose", "t", "first", "last", "dt"]
NAMES = ["p", "e", "x", "mg1", "mg2", "dn", "p_max", "capacity", "Storage", "CHP", "PV", "Load", "electricity",
         "heat", "gas", "reactive", "shape", "price", "sum", "csv", "max"]
UNITS = ["kW", "kWh", "MW", "h", "min", "yuan/kWh", "kvar", "%", "pu", "ohm", "kV", "MVA", "A", "KW", "yuan"]
SYMBOLS = ["(", ")", "[", "]", "{", "}", ",", ":", ".", "..", "=", "==", "<=", ">=", "+=", "-=", "+", "-", "*",
           "/", "^", "\n", "\n", "\n", "#", '"', "$", ";", "\\\n"]
NUMBERS = ["0", "1", "2", "24", "0.5", "1e-3", "250", "-1", "3.0"]

token = st.one_of(st.sampled_from(KEYWORDS), st.sampled_from(NAMES), st.sampled_from(UNITS),
                  st.sampled_from(SYMBOLS), st.sampled_from(NUMBERS), st.text(max_size=3))

# Statement-shaped fragments, so that generated files reach the checker and not only the parser.
FRAGMENTS = [
    "use stdlib\n", "horizon 3 steps of 1 h\n", "horizon 0 steps of 1 h\n", "profile p = [1, 2, 3]\n",
    "profile price: yuan/kWh = [0.2, 0.5, 1.0]\n", "let c = 5 kW\n",
    "device D(p_max: kW) {\n var x[t]: kW in 0 .. p_max\n port electricity += x\n cost += 0.1 yuan/kWh * x * dt\n}\n",
    "device E(carrier c, cap: kWh) {\n var e[t]: kWh in 0 .. cap\n e[t] == e[t-1] * 0.9\n initial e = cap\n port c -= e / dt\n}\n",
    "microgrid mg1 {\n d = D(p_max = 10 kW)\n l = Load(electricity, base = 5 kW)\n}\n",
    "microgrid mg2 at dn.2 limit 1 MW {\n s = Storage(electricity, capacity = 1 MWh, p_max = 100 kW)\n}\n",
    "network dn {\n base 1 MVA, 12.66 kV\n buses 1 .. 3\n slack 1 buys at price\n line 1 - 2: r = 0.1 ohm, x = 0.1 ohm\n line 2 - 3: r = 0.1 ohm, x = 0.1 ohm\n}\n",
    "cluster c1 = {mg1, mg2}\n", "switch k between mg1 and mg2 limit 100 kW\n",
    "couple h: mg1.d.x == mg2.s.ch\n", "minimize cost\n", "decompose atc {\n tolerance 1e-3\n}\n",
]


SMALL_MODELS = [p for p in MODELS if p.stem in ("storage_arbitrage", "chp_heat")]


def compile_or_error(text: str, path: str, lower: bool = True) -> None:
    try:
        system = mgdsl.loads(text, path=path)
        if lower:
            system.lower()
    except MgdError as err:
        assert err.diagnostics, "MgdError without diagnostics"
        for d in err.diagnostics:
            assert d.span is not None, f"{d.code} has no location: {d.message}"
            d.render()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(token, max_size=40).map(" ".join))
@example("device D( {")
@example('profile p = csv("')
@example("microgrid m at dn.1.5 limit {\n}")
def test_token_soup(text: str):
    compile_or_error(text, str(ROOT / "fuzz.mgd"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join))
def test_statement_soup(text: str):
    compile_or_error(text, str(ROOT / "fuzz.mgd"))


@st.composite
def mutated_model(draw, models=MODELS):
    path = draw(st.sampled_from(models))
    text = path.read_text()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "dup_line", "drop_line"]))
        n = len(text)
        i = draw(st.integers(0, max(0, n - 1)))
        if kind == "delete":
            j = min(n, i + draw(st.integers(1, 12)))
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + " " + draw(token) + " " + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(token) + text[i + 1:]
        else:
            lines = text.splitlines(keepends=True)
            k = draw(st.integers(0, max(0, len(lines) - 1)))
            if kind == "dup_line" and lines:
                lines.insert(k, lines[k])
            elif lines:
                del lines[k]
            text = "".join(lines)
    return str(path), text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_model())
def test_mutated_models_check(case):
    """Mutations of every bundled model: checking only (lowering the large ones costs seconds each)."""
    path, text = case
    compile_or_error(text, path, lower=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_model(SMALL_MODELS))
def test_mutated_small_models_compile(case):
    path, text = case
    compile_or_error(text, path)
