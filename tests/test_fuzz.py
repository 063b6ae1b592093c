"""Robustness: text generated from the grammar's pieces, and mutations of the bundled models, go through every
stage a user can reach (check, compile, centralized solve, ATC) and either succeed or raise MgdError whose
diagnostics carry a location. No other exception may escape: anything else is a bug in mgdsl.

The default run draws a few hundred inputs in under a minute; `--runslow` (make test-all) draws thousands."""
from __future__ import annotations

import re
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
            "switch", "between", "and", "couple", "objective", "minimize", "decompose", "t", "first", "last", "dt",
            "losses", "vdi"]
NAMES = ["p", "e", "x", "mg1", "mg2", "dn", "p_max", "capacity", "Storage", "CHP", "PV", "Load", "electricity",
         "heat", "gas", "reactive", "shape", "price", "sum", "csv", "max"]
UNITS = ["kW", "kWh", "MW", "h", "min", "yuan/kWh", "kvar", "%", "pu", "ohm", "kV", "MVA", "A", "KW", "yuan"]
SYMBOLS = ["(", ")", "[", "]", "{", "}", ",", ":", ".", "..", "=", "==", "<=", ">=", "+=", "-=", "+", "-", "*",
           "/", "^", "\n", "\n", "\n", "#", '"', "$", ";", "\\\n", "\x00", "\ufeff"]
NUMBERS = ["0", "1", "2", "24", "0.5", "1e-3", "250", "-1", "3.0"]
# Numbers at the edges: zero, beyond floats, beyond the magnitude limit, huge counts, fractions where whole
# numbers are expected. Mutations put them where the models have numbers.
EDGE_NUMBERS = ["0", "0.0", "1e309", "1e300", "1e-300", "1e13", "1e12", "99999999999999999999", "2147483648",
                "100000000", "3.5", "1e-12", "-0"]

token = st.one_of(st.sampled_from(KEYWORDS), st.sampled_from(NAMES), st.sampled_from(UNITS),
                  st.sampled_from(SYMBOLS), st.sampled_from(NUMBERS), st.sampled_from(EDGE_NUMBERS),
                  st.text(max_size=3))

# Statement-shaped fragments, so that generated files reach the checker and not only the parser.
FRAGMENTS = [
    "use stdlib\n", "horizon 3 steps of 1 h\n", "horizon 0 steps of 1 h\n", "profile p = [1, 2, 3]\n",
    "profile price: yuan/kWh = [0.2, 0.5, 1.0]\n", "let c = 5 kW\n", "let big = 1e300 * 1e300\n",
    "device D(p_max: kW) {\n var x[t]: kW in 0 .. p_max\n port electricity += x\n"
    " cost += 0.1 yuan/kWh * x * dt\n}\n",
    "device E(carrier c, cap: kWh) {\n var e[t]: kWh in 0 .. cap\n e[t] == e[t-1] * 0.9\n initial e = cap\n"
    " port c -= e / dt\n}\n",
    "device F(k = 1) {\n var y[t]: kW >= 0\n port electricity += y / k\n cost += 1 yuan/kWh * y * dt\n}\n",
    "microgrid mg1 {\n d = D(p_max = 10 kW)\n l = Load(electricity, base = 5 kW)\n}\n",
    "microgrid mg2 at dn.2 limit 1 MW {\n s = Storage(electricity, capacity = 1 MWh, p_max = 100 kW)\n"
    " f = F(k = 0)\n}\n",
    "network dn {\n base 1 MVA, 12.66 kV\n buses 1 .. 3\n slack 1 buys at price\n"
    " line 1 - 2: r = 0.1 ohm, x = 0.1 ohm\n line 2 - 3: r = 0.1 ohm, x = 0.1 ohm\n}\n",
    "network dn {\n base 1 MVA, 0 kV\n buses 1 .. 2\n slack 1 buys at price sells at 2 yuan/kWh\n"
    " line 1 - 2: r = 0.1 ohm, x = 0.1 ohm\n at 2: h = Load(heat, base = 1 kW)\n}\n",
    "cluster c1 = {mg1, mg2}\n", "switch k between mg1 and mg2 limit 100 kW\n",
    "couple h: mg1.d.x == mg2.s.ch\n", "minimize cost\n", "decompose atc {\n tolerance 1e-3\n}\n",
    "objective l: kWh = losses\n", "objective f: yuan = 0.2 yuan/kWh * losses + sum(mg1.d.x * dt) * price\n",
    "minimize cost + 0.2 yuan/kWh * losses + 10 yuan * vdi\n", "minimize sum(mg2.s.e[last] * dt)\n",
]

# A small system that every ATC path can take: a network with two microgrids, a cluster, a switch (binaries)
# and a coupling. Its mutations go through check, compile, the centralized solve and ATC.
ATC_SEED = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.3, 0.6, 1.2]
profile shape = [0.5, 1, 0.8]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-3)
    buses 1 .. 4
    slack 1 buys at price sells at 0.1 yuan/kWh
    line 1 - 2: r = 0.1 ohm, x = 0.05 ohm, i_max = 200 A
    line 2 - 3: r = 0.2 ohm, x = 0.1 ohm
    line 2 - 4: r = 0.2 ohm, x = 0.1 ohm
    load 3: p = 100 kW * shape, q = 30 kvar * shape
    at 4: SVC(q_min = -50 kvar, q_max = 50 kvar)
}

microgrid mg1 at dn.3 limit 500 kW {
    es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)
    pv = PV(p_max = 100 kW, profile = shape)
    load = Load(electricity, base = 80 kW * shape)
}

microgrid mg2 at dn.4 limit 300 kW {
    chp = CHP(p_max = 100 kW)
    gb = GasBoiler(h_max = 200 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    heat = Load(heat, base = 50 kW * shape)
    load = Load(electricity, base = 40 kW)
}

cluster c1 = {mg1}
switch k1 between mg1 and mg2 limit 50 kW
couple hx: mg1.es.ch == mg2.chp.p

decompose atc {
    tolerance 1e-3
}

objective loss_cost: yuan = 0.2 yuan/kWh * losses
minimize cost + loss_cost + 10 yuan * vdi
"""
ATC_PATH = str(ROOT / "models" / "fuzz_atc.mgd")          # beside the models: `use stdlib` and data resolve
SMALL = {str(p): p.read_text() for p in MODELS if p.stem in ("storage_arbitrage", "chp_heat")}
SMALL[ATC_PATH] = ATC_SEED

# ATC option variants the fuzzed systems are solved with (two iterations each: the paths, not convergence)
atc_options = st.fixed_dictionaries({
    "penalty": st.sampled_from(["pwl", "quadratic", "l1"]),
    "children": st.sampled_from(["microgrids", "clusters"]),
    "weights": st.sampled_from(["balanced", "classic"]),
    "initial": st.sampled_from(["zero", "value", "random"]),
    "fix_integers": st.sampled_from([0, 1]),
})

# Errors of a stage that carry no .mgd span, because their cause is an option of the call or the installation,
# not the model: ATC refuses a quadratic penalty for a part with integers (E0604) or without HiGHS's HiPO
# (E0606). A subproblem that HiGHS fails on (E0603, E0605) points at its part's declaration.
LOCATED_EXCEPT = {"atc": {"E0604", "E0606"}}


def check_error(err: MgdError, stage: str) -> None:
    assert err.diagnostics, "MgdError without diagnostics"
    for d in err.diagnostics:
        if d.code not in LOCATED_EXCEPT.get(stage, ()):
            assert d.span is not None, f"{stage}: {d.code} has no location: {d.message}"
        d.render()


def run_stages(text: str, path: str, stages: tuple[str, ...] = ("check", "lower"), options: dict | None = None):
    """Run `text` through the stages in order; only MgdError may escape, with located diagnostics."""
    stage = "check"
    try:
        system = mgdsl.loads(text, path=path)
        if "lower" in stages:
            stage = "lower"
            system.lower()
        if "solve" in stages:
            stage = "solve"
            system.solve(time_limit=1.0)
        if "atc" in stages and (system.ir.network is not None or len(system.ir.microgrids) > 1):
            stage = "atc"
            fresh = mgdsl.loads(text, path=path)
            fresh.solve_atc(fresh.atc_options(max_iterations=2, **(options or {})))
    except MgdError as err:
        check_error(err, stage)



MUTATIONS = ["delete", "insert", "replace", "dup_line", "drop_line", "number", "number"]
# Mutations that mostly keep a model valid, so that it reaches the later stages (compile, solve, ATC).
MILD_MUTATIONS = ["dup_line", "drop_line", "number", "number", "number"]


@st.composite
def mutated_model(draw, models: dict[str, str] | None = None, kinds: list[str] = MUTATIONS, most: int = 3):
    models = models or {str(p): p.read_text() for p in MODELS}
    path = draw(st.sampled_from(sorted(models)))
    text = models[path]
    for _ in range(draw(st.integers(1, most))):
        kind = draw(st.sampled_from(kinds))
        n = len(text)
        i = draw(st.integers(0, max(0, n - 1)))
        if kind == "delete":
            j = min(n, i + draw(st.integers(1, 12)))
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + " " + draw(token) + " " + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(token) + text[i + 1:]
        elif kind == "number":
            numbers = list(re.finditer(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", text))
            if numbers:
                m = numbers[draw(st.integers(0, len(numbers) - 1))]
                text = text[:m.start()] + draw(st.sampled_from(EDGE_NUMBERS + NUMBERS)) + text[m.end():]
        else:
            lines = text.splitlines(keepends=True)
            k = draw(st.integers(0, max(0, len(lines) - 1)))
            if kind == "dup_line" and lines:
                lines.insert(k, lines[k])
            elif lines:
                del lines[k]
            text = "".join(lines)
    return path, text


FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ default run (a few hundred inputs)
@settings(max_examples=100, **FAST)
@given(st.lists(token, max_size=40).map(" ".join))
@example("device D( {")
@example('profile p = csv("')
@example("microgrid m at dn.1.5 limit {\n}")
@example('profile p = csv("a\x00b.csv", "x")')
@example("\ufeffhorizon 1e309 steps of 1 h")
def test_token_soup(text: str):
    run_stages(text, str(ROOT / "fuzz.mgd"), ("check", "lower", "solve"))


# Most soups start with the library, a horizon and a price, so that they reach compile and solve.
SOUP_HEAD = "use stdlib\nhorizon 3 steps of 1 h\nprofile price: yuan/kWh = [0.2, 0.5, 1.0]\n"


def statement_soup(most: int):
    heads = st.sampled_from([SOUP_HEAD, SOUP_HEAD, SOUP_HEAD, ""])
    bodies = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=most).map("".join)
    return st.tuples(heads, bodies).map("".join)


@settings(max_examples=50, **FAST)
@given(statement_soup(8))
def test_statement_soup(text: str):
    run_stages(text, str(ROOT / "fuzz.mgd"), ("check", "lower", "solve"))


@settings(max_examples=80, **FAST)
@given(mutated_model())
def test_mutated_models_check(case):
    """Mutations of every bundled model: checking only (lowering the large ones costs seconds each)."""
    path, text = case
    run_stages(text, path, ("check",))


@settings(max_examples=30, **FAST)
@given(mutated_model(SMALL))
def test_mutated_small_models_solve(case):
    path, text = case
    run_stages(text, path, ("check", "lower", "solve"))


@settings(max_examples=12, **FAST)
@given(mutated_model({ATC_PATH: ATC_SEED}, MILD_MUTATIONS, most=1), atc_options)
def test_mutated_systems_atc(case, options):
    path, text = case
    run_stages(text, path, ("check", "atc"), options)


def test_seed_system_solves_both_ways():
    """The ATC seed itself is valid: its mutations start from a system that reaches every stage."""
    system = mgdsl.loads(ATC_SEED, path=ATC_PATH)
    assert system.solve(time_limit=10).summary["status"] == "optimal"
    run = system.solve_atc(system.atc_options(max_iterations=2))
    assert len(run.iterations) == 2


# ------------------------------------------------------------------ --runslow: thousands of inputs
SLOW = dict(FAST, max_examples=1500)


@pytest.mark.slow
@settings(**SLOW)
@given(st.lists(token, max_size=60).map(" ".join))
def test_token_soup_slow(text: str):
    run_stages(text, str(ROOT / "fuzz.mgd"), ("check", "lower", "solve"))


@pytest.mark.slow
@settings(**dict(SLOW, max_examples=1000))
@given(statement_soup(10))
def test_statement_soup_slow(text: str):
    run_stages(text, str(ROOT / "fuzz.mgd"), ("check", "lower", "solve"))


@pytest.mark.slow
@settings(**dict(SLOW, max_examples=2000))
@given(mutated_model())
def test_mutated_models_check_slow(case):
    path, text = case
    run_stages(text, path, ("check",))


@pytest.mark.slow
@settings(**dict(SLOW, max_examples=1000))
@given(mutated_model(SMALL))
def test_mutated_small_models_solve_slow(case):
    path, text = case
    run_stages(text, path, ("check", "lower", "solve"))


@pytest.mark.slow
@settings(**dict(SLOW, max_examples=300))
@given(mutated_model({ATC_PATH: ATC_SEED}, MUTATIONS + MILD_MUTATIONS), atc_options)
def test_mutated_systems_atc_slow(case, options):
    path, text = case
    run_stages(text, path, ("check", "atc"), options)
