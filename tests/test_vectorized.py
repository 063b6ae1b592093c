"""Vectorized lowering: the number of linopy add calls does not grow with the number of instances, and
lowering many microgrids at once gives exactly what lowering each one alone gives (a per-instance reference)."""
from __future__ import annotations

import numpy as np
import pytest

import mgdsl

PRICES = "[0.3, 0.3, 0.6, 0.9, 0.9, 0.6]"


def microgrid(k: int, rng: np.random.Generator) -> str:
    cap = int(rng.integers(100, 900))
    pmax = int(rng.integers(50, 300))
    base = int(rng.integers(50, 400))
    heat = int(rng.integers(20, 200))
    wind = int(rng.integers(0, 300))
    return f"""
microgrid mg{k} {{
    es = Storage(electricity, capacity = {cap} kWh, p_max = {pmax} kW, soc_init = 0.{rng.integers(2, 8)})
    hs = Storage(heat, capacity = {cap // 2} kWh, p_max = {pmax // 2} kW)
    chp = CHP(p_max = {pmax} kW, ramp = {pmax // 3 + 10} kW)
    gb = GasBoiler(h_max = {heat * 2} kW)
    eb = ElectricBoiler(p_max = {heat} kW)
    wt = Wind(p_max = {wind} kW, profile = wind)
    load = FlexibleLoad(electricity, base = {base} kW * shape, shift = {rng.integers(0, 30)} %, curtail = 5 %)
    hl = Load(heat, base = {heat} kW * shape)
    gas = GasSupply(price = 0.3{rng.integers(0, 9)} yuan/kWh)
    grid = ElectricityTrade(buy_price = tou, sell_price = 0.5 * tou)
}}
"""


def system(blocks: list[str]) -> str:
    head = f"""use stdlib
horizon 6 steps of 1 h
profile tou: yuan/kWh = {PRICES}
profile shape = [0.6, 0.7, 0.9, 1.0, 0.95, 0.8]
profile wind = [0.9, 0.7, 0.3, 0.2, 0.5, 0.8]
"""
    return head + "".join(blocks)


def build(n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [microgrid(k, rng) for k in range(n)]


def test_add_calls_do_not_grow_with_instances():
    few = mgdsl.loads(system(build(2))).lower()
    many = mgdsl.loads(system(build(40))).lower()
    assert few.builder.add_calls == many.builder.add_calls
    assert many.model.nvars > 15 * few.model.nvars


def test_one_variable_per_declared_var():
    low = mgdsl.loads(system(build(5))).lower()
    storage = low.templates["Storage"].variables["e"]
    assert storage.shape == (10, 6)            # 5 electric + 5 heat storages over 6 steps


def test_vectorized_equals_per_instance_reference():
    blocks = build(5, seed=7)
    joint = mgdsl.loads(system(blocks)).solve()
    alone = [mgdsl.loads(system([b])).solve() for b in blocks]
    assert joint.objective == pytest.approx(sum(r.objective for r in alone), rel=1e-7, abs=1e-6)
    for k, r in enumerate(alone):
        assert joint.costs[f"mg{k}"] == pytest.approx(r.costs[f"mg{k}"], rel=1e-6, abs=1e-5)


def test_templates_are_lowered_without_linopy_arithmetic(monkeypatch):
    """Each declaration's arrays are built with numpy and handed to linopy once (mgdsl/lower/terms.py): no
    linopy expression goes through its checked, aligning constructor while lowering the templates, the balance
    and the objective (linopy's add_objective makes the one counted here), whatever the number of instances."""
    import linopy

    counted = []
    init = linopy.LinearExpression.__init__

    def counting(self, *args, **kwargs):
        counted.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(linopy.LinearExpression, "__init__", counting)
    for n in (1, 12):
        counted.clear()
        mgdsl.loads(system(build(n))).lower()
        assert len(counted) <= 1, n
