"""Benchmark: time and memory of mgdsl's parse, check and lowering against hand-written linopy and Pyomo.

N microgrids over T steps; the three tools build the same LP, and where it is solved their optima must agree.

The system: N microgrids, ten continuous devices each (CHP with a ramp limit, gas boiler, electric boiler,
battery, heat tank, PV, flexible electric load, heat load, gas supply, electricity trade at a time-of-use
price), sizes 0.6 to 1.0 of a reference microgrid; hourly profiles over T steps built from the daily shapes of
models/data/example/ with weekly, seasonal and day-to-day (cloud) factors, in a CSV file beside the .mgd. No
network: each microgrid trades with the grid on its own, so the hand-written models stay a page each while
the model keeps what scales (one balance per carrier, microgrid and step; time-coupled storage and ramps).
The hand-written models restate the stdlib templates' variables, bounds, rows and costs one for one.

    .venv/bin/python bench/bench_compile.py                 # N = 1 10 100 1000 x T = 24 168 8760, within limits
    .venv/bin/python bench/bench_compile.py --microgrids 10 100 --steps 24 168 --repeat 3
    .venv/bin/python bench/bench_compile.py --smoke         # N = 1, T = 24, all three tools, solved (~10 s)

Every (size, tool) measurement runs in a fresh Python process, so its peak RSS is its own. mgdsl's parse and
check are timed cold (as `mgdsl check` runs); the builds are timed after one tiny warm-up build in the same
process (lazy imports and first-call set-up are not what scales; --cold keeps them in). Wall and CPU times are
both recorded: on a shared machine the CPU time is the steadier one. Sizes above --max-cells are skipped (mgdsl
still parses and checks them), above --pyomo-max-cells Pyomo is skipped, and up to --solve-max-cells all three
models are solved with HiGHS and their objectives compared. Prints a table and the target verdicts and writes
bench/results/compile.csv (compile_smoke.csv with --smoke), the generated .mgd files in compile_systems/ beside
it. The targets (reported, not asserted): lowering at most half of the hand-written linopy build at every size
(issue 13; each declaration's arrays are built with numpy and handed to linopy once, where the hand-written
model goes through linopy's arithmetic), a peak RSS at most the hand-written linopy process's, at least 5x
faster than Pyomo, parse + check of the 1000-microgrid file under 2 s.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLE = ROOT / "models" / "data" / "example"

TOOLS = ("mgdsl", "linopy", "pyomo")
LOWER_TARGET = 0.5              # issue 13: lowering at most half of the hand-written linopy build, at every size
DT_H = 1.0                      # hourly steps: T = 24 is a day, 168 a week, 8760 a year

# The reference microgrid (size 1.0): every power in kW, every energy in kWh; microgrid k has size 0.6 .. 1.0.
REFERENCE = {
    "chp_p_max": 400.0, "chp_ramp": 200.0, "gb_h_max": 600.0, "eb_p_max": 300.0,
    "es_capacity": 1000.0, "es_p_max": 250.0, "hs_capacity": 800.0, "hs_p_max": 200.0,
    "pv_p_max": 300.0, "load_base": 600.0, "heat_base": 500.0,
}
TRADE_P_MAX = 800.0             # kW, the same for every microgrid
GAS_PRICE = 0.35                # yuan/kWh
# stdlib defaults the hand-written models restate (stdlib/*.mgd); if a template changes, the objectives of the
# smoke run stop agreeing (tests/test_bench_compile_smoke.py)
CHP_ETA_E, CHP_ETA_H, CHP_OM = 0.35, 0.45, 0.02
GB_ETA, EB_ETA = 0.9, 0.95
ST_ETA_CH, ST_ETA_DIS, ST_SOC_MIN, ST_SOC_MAX, ST_SOC_INIT = 0.95, 0.95, 0.1, 0.9, 0.5
FLEX_SHIFT, FLEX_CURTAIL, FLEX_SHIFT_COST, FLEX_CURTAIL_COST = 0.15, 0.05, 0.05, 1.0   # shift_cost: the default
GAS_G_MAX = 100_000.0           # GasSupply's default 100 MW


# ----------------------------------------------------------------------------------------- the synthetic system
@dataclass
class SyntheticSystem:
    """The data of one benchmark system: per-microgrid sizes and the hourly profiles, shared by the .mgd text
    and the two hand-written models so that all three read the very same numbers."""

    n: int
    steps: int
    names: list[str]
    params: dict[str, np.ndarray]        # REFERENCE key -> value per microgrid
    profiles: dict[str, np.ndarray]      # tou, feed_in (yuan/kWh), load, pv, heat (p.u.) over t


def _daily_column(path: Path, name: str) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([float(row[name]) for row in csv.DictReader(f)])


def synthetic_system(n: int, steps: int) -> SyntheticSystem:
    """N microgrids over T hourly steps; deterministic (the same arguments give the same numbers)."""
    hour = np.arange(steps) % 24
    day = np.arange(steps) // 24
    season = np.cos(2 * np.pi * day / 365)                  # 1 in mid-winter (day 0), -1 in mid-summer
    weekend = np.where(day % 7 >= 5, 0.9, 1.0)
    # a cloudiness factor per day, so that PV is not the same every day of a long horizon
    cloud = np.random.default_rng(2024).uniform(0.55, 1.0, size=int(day.max()) + 1)[day]
    load24 = _daily_column(EXAMPLE / "profiles.csv", "load")
    pv24 = _daily_column(EXAMPLE / "profiles.csv", "pv")
    heat24 = _daily_column(EXAMPLE / "profiles.csv", "heat")
    tou24 = _daily_column(EXAMPLE / "prices.csv", "tou")
    # rounded to 4 decimals: the .mgd text and the hand-written models then hold identical floats
    profiles = {
        "tou": np.round(tou24[hour], 4),
        "feed_in": np.round(0.45 * tou24[hour], 4),        # sale price below the purchase price
        "load": np.round(load24[hour] * weekend * (1 + 0.1 * season), 4),
        "pv": np.round(pv24[hour] * (1 - 0.3 * season) * cloud, 4),
        "heat": np.round(heat24[hour] * (1 + 0.3 * season), 4),
    }
    k = np.arange(1, n + 1)
    size = 0.6 + 0.4 * ((k * 7) % 5) / 4                     # 0.6 .. 1.0: the microgrids differ a little
    pv_size = 0.5 + 0.5 * ((k * 3) % 4) / 3                  # PV varies on its own: 0.5 .. 1.0
    params = {key: np.round(ref * (pv_size if key == "pv_p_max" else size), 6) for key, ref in REFERENCE.items()}
    return SyntheticSystem(n, steps, [f"mg{i}" for i in k], params, profiles)


def _num(x: float) -> str:
    return f"{float(x):.12g}"


def write_system(s: SyntheticSystem, directory: Path, profiles: str = "csv") -> Path:
    """Write the system as a .mgd file (and, with profiles="csv", its profiles as a CSV file beside it)."""
    directory.mkdir(parents=True, exist_ok=True)
    if profiles == "csv":
        table = directory / f"profiles_T{s.steps}.csv"
        with open(table, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["hour", *s.profiles])
            for t in range(s.steps):
                w.writerow([t + 1, *(_num(s.profiles[c][t]) for c in s.profiles)])
        source = {c: f'csv("{table.name}", "{c}")' for c in s.profiles}
    else:
        source = {c: "[" + ", ".join(_num(v) for v in s.profiles[c]) + "]" for c in s.profiles}
    lines = [
        f"# Generated by bench/bench_compile.py: {s.n} microgrids, {s.steps} hourly steps.",
        "use stdlib",
        f"horizon {s.steps} steps of 1 h",
        f"profile tou: yuan/kWh = {source['tou']}",
        f"profile feed_in: yuan/kWh = {source['feed_in']}",
        f"profile load_shape = {source['load']}",
        f"profile pv_pu = {source['pv']}",
        f"profile heat_shape = {source['heat']}",
    ]
    p = {key: [_num(v) for v in values] for key, values in s.params.items()}
    for i, name in enumerate(s.names):
        lines += [
            "",
            f"microgrid {name} {{",
            f"    chp = CHP(p_max = {p['chp_p_max'][i]} kW, ramp = {p['chp_ramp'][i]} kW)",
            f"    gb = GasBoiler(h_max = {p['gb_h_max'][i]} kW)",
            f"    eb = ElectricBoiler(p_max = {p['eb_p_max'][i]} kW)",
            f"    es = Storage(electricity, capacity = {p['es_capacity'][i]} kWh, p_max = {p['es_p_max'][i]} kW)",
            f"    hs = Storage(heat, capacity = {p['hs_capacity'][i]} kWh, p_max = {p['hs_p_max'][i]} kW)",
            f"    pv = PV(p_max = {p['pv_p_max'][i]} kW, profile = pv_pu)",
            f"    load = FlexibleLoad(electricity, base = {p['load_base'][i]} kW * load_shape, "
            f"shift = {_num(100 * FLEX_SHIFT)} %, curtail = {_num(100 * FLEX_CURTAIL)} %, "
            f"curtail_cost = {_num(FLEX_CURTAIL_COST)} yuan/kWh)",
            f"    heat = Load(heat, base = {p['heat_base'][i]} kW * heat_shape)",
            f"    gas = GasSupply(price = {_num(GAS_PRICE)} yuan/kWh)",
            f"    grid = ElectricityTrade(buy_price = tou, sell_price = feed_in, p_max = {_num(TRADE_P_MAX)} kW)",
            "}",
        ]
    lines += ["", "minimize cost", ""]
    path = directory / f"compile_N{s.n}_T{s.steps}{'_inline' if profiles != 'csv' else ''}.mgd"
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------------------- hand-written vectorized linopy
def build_linopy_model(s: SyntheticSystem):
    """The system as a competent linopy user writes it: one variable per device quantity over (mg, t), the
    stdlib templates' equations term for term (zero O&M costs included, as the templates have them)."""
    import linopy
    import pandas as pd
    import xarray as xr

    linopy.options["semantics"] = "v1"       # the arithmetic convention mgdsl lowers with (lower/builder.py)
    mg = pd.Index(s.names, name="mg")
    t = pd.RangeIndex(s.steps, name="t")
    dt = DT_H

    def per_mg(values):
        return xr.DataArray(np.asarray(values, dtype=float), coords=[mg])

    def per_t(values):
        return xr.DataArray(np.asarray(values, dtype=float), coords=[t])

    P = {key: per_mg(v) for key, v in s.params.items()}
    tou, feed_in = per_t(s.profiles["tou"]), per_t(s.profiles["feed_in"])
    load_base = P["load_base"] * per_t(s.profiles["load"])
    heat_base = P["heat_base"] * per_t(s.profiles["heat"])
    pv_avail = P["pv_p_max"] * per_t(s.profiles["pv"])
    first_step = xr.DataArray(np.arange(s.steps) == 0, coords=[t])
    zero_om = per_mg(np.zeros(s.n))           # the templates' O&M costs that this system leaves at 0

    m = linopy.Model()

    def var(name, lower=-np.inf, upper=np.inf):
        return m.add_variables(lower=lower, upper=upper, coords=[mg, t], name=name)

    # CHP: p = eta_e fuel, |p[t] - p[t-1]| <= ramp from the second step on
    chp_fuel = var("chp_fuel", lower=0)
    chp_p = var("chp_p", 0, P["chp_p_max"])
    m.add_constraints(chp_p - CHP_ETA_E * chp_fuel == 0, name="chp_conversion")
    chp_step = chp_p - chp_p.shift(t=1)          # absent at the first step: that row is not written
    m.add_constraints(chp_step >= -P["chp_ramp"], name="chp_ramp_down")
    m.add_constraints(chp_step <= P["chp_ramp"], name="chp_ramp_up")
    gb_h = var("gb_h", 0, P["gb_h_max"])
    eb_p = var("eb_p", 0, P["eb_p_max"])

    def storage(prefix: str):
        """Storage: e[t] = e[t-1] + (eta_ch ch - dis / eta_dis) dt, e[-1] = soc_init cap, e[last] >= soc_end cap."""
        cap, p_max = P[f"{prefix}_capacity"], P[f"{prefix}_p_max"]
        ch = var(f"{prefix}_ch", 0, p_max)
        dis = var(f"{prefix}_dis", 0, p_max)
        e = var(f"{prefix}_e", ST_SOC_MIN * cap, ST_SOC_MAX * cap)
        e_before = e.shift(t=1).fillna(0)              # the state before the first step is on the right-hand side
        m.add_constraints(e - e_before - (ST_ETA_CH * ch - dis / ST_ETA_DIS) * dt
                          == (ST_SOC_INIT * cap).where(first_step, 0.0), name=f"{prefix}_soc")
        m.add_constraints(e.isel(t=-1, drop=True) >= ST_SOC_INIT * cap, name=f"{prefix}_end")
        return ch, dis

    es_ch, es_dis = storage("es")
    hs_ch, hs_dis = storage("hs")
    pv_p = var("pv_p", 0, pv_avail)
    # flexible electric load: p = base + shift_in - shift_out - cut, energy shifted is not lost
    load_p = var("load_p", lower=0)
    shift_out = var("load_shift_out", 0, FLEX_SHIFT * load_base)
    shift_in = var("load_shift_in", 0, FLEX_SHIFT * load_base.max("t"))
    cut = var("load_cut", 0, FLEX_CURTAIL * load_base)
    m.add_constraints(load_p - shift_in + shift_out + cut == load_base, name="load_demand")
    m.add_constraints((shift_in * dt).sum("t") - (shift_out * dt).sum("t") == 0, name="load_moved")
    heat_p = var("heat_p")
    m.add_constraints(heat_p == heat_base, name="heat_demand")
    gas_g = var("gas_g", 0, GAS_G_MAX)
    buy = var("grid_buy", 0, TRADE_P_MAX)
    sell = var("grid_sell", 0, TRADE_P_MAX)

    # carrier balances of every microgrid and step
    m.add_constraints(chp_p - eb_p + es_dis - es_ch + pv_p - load_p + buy - sell == 0, name="balance_electricity")
    m.add_constraints(CHP_ETA_H * chp_fuel + gb_h + EB_ETA * eb_p + hs_dis - hs_ch - heat_p == 0,
                      name="balance_heat")
    m.add_constraints(gas_g - chp_fuel - gb_h / GB_ETA == 0, name="balance_gas")

    cost = ((CHP_OM * dt) * chp_p).sum() + (zero_om * dt * gb_h).sum() + (zero_om * dt * eb_p).sum()
    cost = cost + (zero_om * dt * (es_ch + es_dis)).sum() + (zero_om * dt * (hs_ch + hs_dis)).sum()
    cost = cost + (zero_om * dt * pv_p).sum() + (zero_om * dt * (pv_avail - pv_p)).sum()   # PV om, curtailment
    cost = cost + (FLEX_SHIFT_COST * dt * shift_out).sum() + (FLEX_CURTAIL_COST * dt * cut).sum()
    cost = cost + (GAS_PRICE * dt * gas_g).sum() + (tou * dt * buy).sum() - (feed_in * dt * sell).sum()
    m.add_objective(cost)
    return m


# ------------------------------------------------------------------------------------------- Pyomo model
def build_pyomo_model(s: SyntheticSystem):
    """The same LP as an idiomatic Pyomo ConcreteModel: indexed Vars with bound rules, indexed Constraints with
    rules (Constraint.Skip where a step has no predecessor), one quicksum objective."""
    import pyomo.environ as pyo

    dt = DT_H
    last = s.steps - 1
    P = {key: v.tolist() for key, v in s.params.items()}
    tou, feed_in = s.profiles["tou"].tolist(), s.profiles["feed_in"].tolist()
    load_shape, pv_pu, heat_shape = (s.profiles[c].tolist() for c in ("load", "pv", "heat"))
    load_peak = [b * max(load_shape) for b in P["load_base"]]

    m = pyo.ConcreteModel()
    m.M = pyo.RangeSet(0, s.n - 1)
    m.T = pyo.RangeSet(0, last)
    nonneg = (0, None)
    m.chp_fuel = pyo.Var(m.M, m.T, bounds=nonneg)
    m.chp_p = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, P["chp_p_max"][i]))
    m.gb_h = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, P["gb_h_max"][i]))
    m.eb_p = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, P["eb_p_max"][i]))
    for st in ("es", "hs"):
        cap, p_max = P[f"{st}_capacity"], P[f"{st}_p_max"]
        setattr(m, f"{st}_ch", pyo.Var(m.M, m.T, bounds=lambda m, i, t, p_max=p_max: (0, p_max[i])))
        setattr(m, f"{st}_dis", pyo.Var(m.M, m.T, bounds=lambda m, i, t, p_max=p_max: (0, p_max[i])))
        setattr(m, f"{st}_e", pyo.Var(m.M, m.T, bounds=lambda m, i, t, cap=cap: (ST_SOC_MIN * cap[i],
                                                                                  ST_SOC_MAX * cap[i])))
    m.pv_p = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, P["pv_p_max"][i] * pv_pu[t]))
    m.load_p = pyo.Var(m.M, m.T, bounds=nonneg)
    m.load_shift_out = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, FLEX_SHIFT * P["load_base"][i] * load_shape[t]))
    m.load_shift_in = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, FLEX_SHIFT * load_peak[i]))
    m.load_cut = pyo.Var(m.M, m.T, bounds=lambda m, i, t: (0, FLEX_CURTAIL * P["load_base"][i] * load_shape[t]))
    m.heat_p = pyo.Var(m.M, m.T)
    m.gas_g = pyo.Var(m.M, m.T, bounds=(0, GAS_G_MAX))
    m.grid_buy = pyo.Var(m.M, m.T, bounds=(0, TRADE_P_MAX))
    m.grid_sell = pyo.Var(m.M, m.T, bounds=(0, TRADE_P_MAX))

    m.chp_conversion = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: m.chp_p[i, t] == CHP_ETA_E * m.chp_fuel[i, t])
    m.chp_ramp_down = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: pyo.Constraint.Skip if t == 0 else
                                     m.chp_p[i, t] - m.chp_p[i, t - 1] >= -P["chp_ramp"][i])
    m.chp_ramp_up = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: pyo.Constraint.Skip if t == 0 else
                                   m.chp_p[i, t] - m.chp_p[i, t - 1] <= P["chp_ramp"][i])
    for st in ("es", "hs"):
        cap = P[f"{st}_capacity"]
        ch, dis, e = getattr(m, f"{st}_ch"), getattr(m, f"{st}_dis"), getattr(m, f"{st}_e")

        def soc(m, i, t, ch=ch, dis=dis, e=e, cap=cap):
            before = ST_SOC_INIT * cap[i] if t == 0 else e[i, t - 1]
            return e[i, t] == before + (ST_ETA_CH * ch[i, t] - dis[i, t] / ST_ETA_DIS) * dt

        setattr(m, f"{st}_soc", pyo.Constraint(m.M, m.T, rule=soc))
        setattr(m, f"{st}_end", pyo.Constraint(m.M, rule=lambda m, i, e=e, cap=cap: e[i, last] >= ST_SOC_INIT * cap[i]))
    m.load_demand = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: m.load_p[i, t] == P["load_base"][i] * load_shape[t]
                                   + m.load_shift_in[i, t] - m.load_shift_out[i, t] - m.load_cut[i, t])
    m.load_moved = pyo.Constraint(m.M, rule=lambda m, i: sum(m.load_shift_in[i, t] * dt for t in m.T)
                                  == sum(m.load_shift_out[i, t] * dt for t in m.T))
    m.heat_demand = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: m.heat_p[i, t] == P["heat_base"][i] * heat_shape[t])
    m.balance_electricity = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: (
        m.chp_p[i, t] - m.eb_p[i, t] + m.es_dis[i, t] - m.es_ch[i, t] + m.pv_p[i, t] - m.load_p[i, t]
        + m.grid_buy[i, t] - m.grid_sell[i, t] == 0))
    m.balance_heat = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: (
        CHP_ETA_H * m.chp_fuel[i, t] + m.gb_h[i, t] + EB_ETA * m.eb_p[i, t] + m.hs_dis[i, t] - m.hs_ch[i, t]
        - m.heat_p[i, t] == 0))
    m.balance_gas = pyo.Constraint(m.M, m.T, rule=lambda m, i, t: (
        m.gas_g[i, t] - m.chp_fuel[i, t] - m.gb_h[i, t] / GB_ETA == 0))

    zero_om = 0.0
    m.cost = pyo.Objective(sense=pyo.minimize, expr=pyo.quicksum(
        CHP_OM * m.chp_p[i, t] * dt + zero_om * m.gb_h[i, t] * dt + zero_om * m.eb_p[i, t] * dt
        + zero_om * (m.es_ch[i, t] + m.es_dis[i, t]) * dt + zero_om * (m.hs_ch[i, t] + m.hs_dis[i, t]) * dt
        + zero_om * m.pv_p[i, t] * dt + zero_om * (P["pv_p_max"][i] * pv_pu[t] - m.pv_p[i, t]) * dt
        + FLEX_SHIFT_COST * m.load_shift_out[i, t] * dt + FLEX_CURTAIL_COST * m.load_cut[i, t] * dt
        + GAS_PRICE * m.gas_g[i, t] * dt + tou[t] * m.grid_buy[i, t] * dt - feed_in[t] * m.grid_sell[i, t] * dt
        for i in m.M for t in m.T))
    return m


# ------------------------------------------------------------------------------------------------ workers
def _peak_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _highs_objective(h) -> float:
    import highspy

    h.setOptionValue("output_flag", False)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS: {h.modelStatusToString(h.getModelStatus())}")
    return h.getInfo().objective_function_value


def _warm_up(tool: str) -> None:
    """Build and hand to HiGHS a tiny instance (1 microgrid, 4 steps) of the model, so that the timed build does
    not include what every process pays once: lazy imports and first-call set-up inside linopy, xarray, Pyomo."""
    tiny = synthetic_system(1, 4)
    if tool == "mgdsl":
        import mgdsl

        with tempfile.TemporaryDirectory() as tmp:
            model = mgdsl.load(write_system(tiny, Path(tmp), "inline")).model
    elif tool == "linopy":
        model = build_linopy_model(tiny)
    else:
        from pyomo.contrib.appsi.solvers import Highs

        Highs().set_instance(build_pyomo_model(tiny))
        return
    model.to_highspy()


class Stopwatch:
    """Wall and CPU seconds of a block. The CPU time (this process's, all threads) is the steadier figure on a
    shared machine; the wall time is what a user waits."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def worker(tool: str, n: int, steps: int, system: Path | None, lower: bool, solve: bool, profile: Path | None,
           warm: bool = True) -> dict:
    """One measurement in this (fresh) process: build the model with `tool`, hand it to HiGHS, solve it.

    mgdsl's parse and check are timed first thing in the process (cold, as `mgdsl check` runs); with `warm`, a
    tiny model is then built once before the timed build of each tool (see _warm_up)."""
    out: dict = {"tool": tool, "microgrids": n, "steps": steps, "warm": warm}
    if tool == "mgdsl":
        sys.path.insert(0, str(ROOT))
        import mgdsl
        import mgdsl.lower.system
    elif tool == "linopy":
        import linopy  # noqa: F401
    else:
        import pyomo.environ  # noqa: F401
        from pyomo.contrib.appsi.solvers import Highs
    import highspy  # noqa: F401
    out["import_mb"] = round(_peak_mb(), 1)

    if tool == "mgdsl":
        with Stopwatch() as load:
            system_model = mgdsl.load(system)
        out["parse_s"] = system_model.timings["parse"]
        out["check_s"] = system_model.timings["check"]
        out["parse_check_cpu_s"] = load.cpu
        out["peak_check_mb"] = round(_peak_mb(), 1)
        if not lower:
            out["peak_mb"] = out["peak_check_mb"]
            return out
        if warm:
            _warm_up(tool)
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        with Stopwatch() as build:
            system_model.lower()
        if profile is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=True, color=False))
        model = system_model.model
    else:
        s = synthetic_system(n, steps)          # the data, as the .mgd file holds it (not timed)
        if warm:
            _warm_up(tool)
        with Stopwatch() as build:
            model = build_linopy_model(s) if tool == "linopy" else build_pyomo_model(s)
    out["build_s"], out["build_cpu_s"] = build.wall, build.cpu
    out["peak_build_mb"] = round(_peak_mb(), 1)
    if tool == "pyomo":
        out["variables"], out["constraints"] = model.nvariables(), model.nconstraints()
    else:
        out["variables"], out["constraints"] = int(model.nvars), int(model.ncons)

    # to the solver: the LP in a HiGHS instance (linopy: Model.to_highspy; Pyomo: the APPSI HiGHS interface)
    with Stopwatch() as hand_over:
        if tool == "pyomo":
            opt = Highs()
            opt.set_instance(model)
        else:
            h = model.to_highspy()
    out["to_solver_s"], out["to_solver_cpu_s"] = hand_over.wall, hand_over.cpu
    out["peak_mb"] = round(_peak_mb(), 1)
    if not solve:
        return out

    with Stopwatch() as solving:
        if tool == "mgdsl":
            del h
            results = system_model.solve()         # through the API, as a user solves (hands the model over again)
            out["objective"] = float(results.summary["objective"])
        elif tool == "linopy":
            out["objective"] = _highs_objective(h)   # the objective has no constant term (its PV term is 0 * ...)
        else:
            # the instance is already in HiGHS: skip APPSI's scan of the model for changes before solving
            for flag in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                         "check_for_new_or_removed_params", "check_for_new_objective", "update_constraints",
                         "update_vars", "update_params", "update_named_expressions", "update_objective"):
                setattr(opt.update_config, flag, False)
            result = opt.solve(model)
            if str(result.termination_condition).split(".")[-1] != "optimal":
                raise RuntimeError(f"Pyomo/HiGHS: {result.termination_condition}")
            out["objective"] = float(result.best_feasible_objective)
    out["solve_s"] = solving.wall
    out["peak_mb"] = round(_peak_mb(), 1)
    return out


def run_worker(tool: str, n: int, steps: int, system: Path | None, lower: bool, solve: bool, profile: Path | None,
               timeout: float, warm: bool = True, repeat: int = 1) -> dict:
    """Run `worker` in a fresh Python process (so peak RSS is this measurement's alone) and return its figures;
    with `repeat` > 1, in that many processes, keeping each time's minimum (the least disturbed run)."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, "--microgrids", str(n),
                   "--steps", str(steps), "--result", str(result)]
            if system is not None:
                cmd += ["--system", str(system)]
            if not lower:
                cmd.append("--no-lower")
            if solve:
                cmd.append("--solve")
            if profile is not None:
                cmd += ["--profile", str(profile)]
            if not warm:
                cmd.append("--cold")
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"tool": tool, "microgrids": n, "steps": steps, "status": f"timeout ({timeout:g} s)"}
            if proc.returncode != 0 or not result.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                return {"tool": tool, "microgrids": n, "steps": steps, "status": f"failed: {tail[0][:200]}",
                        "_stderr": proc.stderr}
            out = json.loads(result.read_text())
            out["process_s"] = round(time.perf_counter() - t0, 2)
            runs.append(out)
    best = dict(runs[0])
    for key in best:
        if key.endswith("_s"):
            best[key] = min(r[key] for r in runs)
    best["repeat"] = repeat
    best["status"] = "ok" if lower else "parse+check only"
    return best


# ------------------------------------------------------------------------------------------------ the driver
def plan(args) -> list[tuple[int, int, str, str]]:
    """Every (N, T, tool) of the run and what to do there: "solve", "build", "check" (mgdsl parse + check only,
    for sizes too big to lower) or "skip"."""
    jobs = []
    for n in args.microgrids:
        for steps in args.steps:
            cells = n * steps
            for tool in args.tools:
                limit = args.pyomo_max_cells if tool == "pyomo" else args.max_cells
                if cells <= limit:
                    jobs.append((n, steps, tool, "solve" if cells <= args.solve_max_cells else "build"))
                elif tool == "mgdsl" and cells <= args.max_check_cells:
                    jobs.append((n, steps, tool, "check"))
                else:
                    jobs.append((n, steps, tool, "skip"))
    return jobs


COLUMNS = [
    ("microgrids", "N", "{}"),
    ("steps", "T", "{}"),
    ("tool", "tool", "{}"),
    ("parse_s", "parse s", "{:.3f}"),
    ("check_s", "check s", "{:.3f}"),
    ("build_s", "build s", "{:.3f}"),
    ("build_cpu_s", "build CPU s", "{:.3f}"),
    ("to_solver_s", "to HiGHS s", "{:.3f}"),
    ("peak_mb", "peak MB", "{:.0f}"),
    ("peak_vs_linopy", "peak/linopy", "{:.2f}x"),
    ("variables", "variables", "{}"),
    ("constraints", "constraints", "{}"),
    ("objective", "objective", "{:.6f}"),
    ("build_vs_linopy", "build/linopy", "{:.2f}x"),
    ("pyomo_over_mgdsl", "Pyomo/mgdsl", "{:.1f}x"),
    ("status", "status", "{}"),
]


def add_comparisons(rows: list[dict]) -> None:
    """Per size: each tool's build time over the hand-written linopy build (wall and CPU); mgdsl from text to a
    HiGHS instance (parse + check + lower + hand-over) against Pyomo from data to a HiGHS instance (build +
    hand-over: Pyomo writes the rows' coefficients only then), and build against build alone; the objectives'
    largest relative difference; whether all models have the same numbers of variables and constraints."""
    by_size: dict[tuple[int, int], dict[str, dict]] = {}
    for r in rows:
        if r.get("status") == "ok":
            by_size.setdefault((r["microgrids"], r["steps"]), {})[r["tool"]] = r
    for tools in by_size.values():
        ref = tools.get("linopy")
        for r in tools.values():
            if ref is not None:
                r["build_vs_linopy"] = r["build_s"] / ref["build_s"]
                r["build_cpu_vs_linopy"] = r["build_cpu_s"] / ref["build_cpu_s"]
                r["peak_vs_linopy"] = r["peak_mb"] / ref["peak_mb"]
        mg, py = tools.get("mgdsl"), tools.get("pyomo")
        if mg is not None:
            mg["compile_s"] = mg["parse_s"] + mg["check_s"] + mg["build_s"]
            mg["compile_cpu_s"] = mg["parse_check_cpu_s"] + mg["build_cpu_s"]
            if py is not None:
                mg["pyomo_over_mgdsl"] = (py["build_s"] + py["to_solver_s"]) / (mg["compile_s"] + mg["to_solver_s"])
                mg["pyomo_over_mgdsl_cpu"] = ((py["build_cpu_s"] + py["to_solver_cpu_s"])
                                              / (mg["compile_cpu_s"] + mg["to_solver_cpu_s"]))
                mg["pyomo_build_over_mgdsl_compile"] = py["build_s"] / mg["compile_s"]
        objectives = [r["objective"] for r in tools.values() if r.get("objective") is not None]
        if len(objectives) > 1:
            spread = (max(objectives) - min(objectives)) / max(abs(min(objectives)), 1.0)
            for r in tools.values():
                r["objective_rel_diff"] = spread
        sizes = {(r["variables"], r["constraints"]) for r in tools.values()}
        for r in tools.values():
            r["same_size"] = len(sizes) == 1


def verdicts(rows: list[dict]) -> list[str]:
    """The issue's targets, reported (not asserted)."""
    ok = [r for r in rows if r.get("status") == "ok" and r["tool"] == "mgdsl"]
    out = []
    lowering = [r for r in ok if r.get("build_vs_linopy") is not None]
    if lowering:
        met = sum(r["build_vs_linopy"] <= LOWER_TARGET for r in lowering)
        out.append(f"mgdsl lowering at most {LOWER_TARGET}x the hand-written linopy build (issue 13): met at {met} "
                   f"of {len(lowering)} sizes (wall, CPU in brackets): " + ", ".join(
                       f"N={r['microgrids']} T={r['steps']} {r['build_vs_linopy']:.2f}x "
                       f"({r['build_cpu_vs_linopy']:.2f}x)" for r in lowering))
    memory = [r for r in ok if r.get("peak_vs_linopy") is not None]
    if memory:
        met = sum(r["peak_vs_linopy"] <= 1.0 for r in memory)
        out.append(f"mgdsl's peak RSS (parse, check, lowering, hand-over) at most the hand-written linopy process's: "
                   f"met at {met} of {len(memory)} sizes: " + ", ".join(
                       f"N={r['microgrids']} T={r['steps']} {r['peak_mb']:.0f} MB against "
                       f"{r['peak_mb'] / r['peak_vs_linopy']:.0f} MB" for r in memory))
    pyomo = [r for r in ok if r.get("pyomo_over_mgdsl") is not None]
    if pyomo:
        met = sum(r["pyomo_over_mgdsl"] >= 5 for r in pyomo)
        out.append(f"mgdsl at least 5x faster than Pyomo, from text/data to a HiGHS instance: met at {met} of "
                   f"{len(pyomo)} sizes (wall, CPU in brackets, build alone after the slash): " + ", ".join(
                       f"N={r['microgrids']} T={r['steps']} {r['pyomo_over_mgdsl']:.1f}x "
                       f"({r['pyomo_over_mgdsl_cpu']:.1f}x) / {r['pyomo_build_over_mgdsl_compile']:.1f}x"
                       for r in pyomo))
    checked = [r for r in rows if r["tool"] == "mgdsl" and r.get("parse_s") is not None]
    biggest = max((r["microgrids"] for r in checked), default=None)
    for r in checked:
        if r["microgrids"] == biggest:
            total = r["parse_s"] + r["check_s"]
            out.append(f"parse + check of the {biggest}-microgrid file (T={r['steps']}) under 2 s: "
                       f"{'met' if total < 2 else 'NOT met'} ({total:.2f} s: parse {r['parse_s']:.2f}, check "
                       f"{r['check_s']:.2f}; {r['parse_check_cpu_s']:.2f} s CPU)")
    solved = [r for r in ok if "objective_rel_diff" in r]
    if solved:
        worst = max(r["objective_rel_diff"] for r in solved)
        out.append(f"objectives of the three models agree to 1e-6: {'yes' if worst <= 1e-6 else 'NO'} (largest "
                   f"relative difference {worst:.1e} over {len(solved)} solved sizes)")
    compared = [r for r in ok if "same_size" in r]
    if compared:
        differ = [f"N={r['microgrids']} T={r['steps']}" for r in compared if not r["same_size"]]
        out.append("same numbers of variables and constraints in every tool's model: "
                   + ("yes" if not differ else "NO at " + ", ".join(differ)))
    return out


CSV_FIELDS = ["microgrids", "steps", "tool", "status", "parse_s", "check_s", "parse_check_cpu_s", "build_s",
              "build_cpu_s", "compile_s", "compile_cpu_s", "to_solver_s", "to_solver_cpu_s", "solve_s", "import_mb",
              "peak_check_mb", "peak_build_mb", "peak_mb", "variables", "constraints", "objective",
              "objective_rel_diff", "same_size", "build_vs_linopy", "build_cpu_vs_linopy", "peak_vs_linopy",
              "pyomo_over_mgdsl", "pyomo_over_mgdsl_cpu", "pyomo_build_over_mgdsl_compile", "warm", "repeat",
              "process_s"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--microgrids", type=int, nargs="+", default=[1, 10, 100, 1000],
                    help="sizes N (default 1 10 100 1000)")
    ap.add_argument("--steps", type=int, nargs="+", default=[24, 168, 8760],
                    help="hourly steps T (default 24 168 8760)")
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="default: all three")
    ap.add_argument("--max-cells", type=int, default=1_000_000,
                    help="largest N*T that mgdsl lowers and linopy builds (default 1000000: all but 1000 x 8760, "
                         "whose 166 million variables would not fit in memory)")
    ap.add_argument("--pyomo-max-cells", type=int, default=100_000,
                    help="largest N*T that Pyomo builds (default 100000: up to 10 x 8760, a few minutes)")
    # 1000 x 8760 (166M variables, 315M rows) is over mgdsl's model-size limit: check refuses it (E0004)
    ap.add_argument("--max-check-cells", type=int, default=2_500_000,
                    help="sizes above --max-cells but up to this N*T still get mgdsl parse + check (default 2.5M)")
    ap.add_argument("--solve-max-cells", type=int, default=2400,
                    help="sizes up to this N*T are also solved by all tools and the objectives compared (default 2400)")
    ap.add_argument("--profiles", choices=["csv", "inline"], default="csv",
                    help="profiles in a CSV file beside the .mgd (default) or written inline as lists")
    ap.add_argument("--repeat", type=int, default=1,
                    help="processes per measurement, keeping the minimum of each time (default 1)")
    ap.add_argument("--cold", action="store_true",
                    help="time the builds without first building a tiny model in the same process (see _warm_up)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measurement (default 3600)")
    ap.add_argument("--profile-lowering", action="store_true",
                    help="run mgdsl's lowering under pyinstrument; text profiles in bench/results/")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--smoke", action="store_true", help="N=1, T=24 only, all tools, solved and compared")
    # the worker side: one measurement, in its own process
    ap.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--system", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--no-lower", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--solve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        out = worker(args.worker, args.microgrids[0], args.steps[0], args.system, not args.no_lower, args.solve,
                     args.profile, warm=not args.cold)
        args.result.write_text(json.dumps(out))
        return 0

    if args.smoke:
        args.microgrids, args.steps, args.tools, args.repeat = [1], [24], list(TOOLS), 1
        args.solve_max_cells = max(args.solve_max_cells, 24)
    out_csv = args.csv or RESULTS / ("compile_smoke.csv" if args.smoke else "compile.csv")
    systems_dir = out_csv.parent / "compile_systems"        # the generated .mgd files, kept beside the CSV
    jobs = plan(args)
    print(f"mgdsl compile benchmark: N microgrids x 10 devices, T hourly steps; tools {', '.join(args.tools)}; "
          f"N*T <= {args.max_cells} built (Pyomo <= {args.pyomo_max_cells}), <= {args.solve_max_cells} solved")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; profiles {args.profiles}, {'cold' if args.cold else 'warm'} builds, "
          f"best of {args.repeat}")
    rows = []
    systems: dict[tuple[int, int], Path] = {}
    for n, steps, tool, action in jobs:
        if action == "skip":
            rows.append({"tool": tool, "microgrids": n, "steps": steps, "status": "skipped (size)"})
            continue
        system = None
        if tool == "mgdsl":
            if (n, steps) not in systems:
                systems[(n, steps)] = write_system(synthetic_system(n, steps), systems_dir, args.profiles)
            system = systems[(n, steps)]
        profile = (RESULTS / f"compile_profile_N{n}_T{steps}.txt"
                   if args.profile_lowering and tool == "mgdsl" and action != "check" else None)
        row = run_worker(tool, n, steps, system, action != "check", action == "solve", profile, args.timeout,
                         warm=not args.cold, repeat=args.repeat)
        rows.append(row)
        figures = ", ".join(f"{k[:-2]} {row[k]:.2f} s" for k in ("parse_s", "check_s", "build_s", "to_solver_s")
                            if k in row)
        print(f"  N={n} T={steps} {tool}: {row['status']}{': ' + figures if figures else ''}"
              f"{', peak ' + format(row['peak_mb'], '.0f') + ' MB' if 'peak_mb' in row else ''}", flush=True)
        if row.get("_stderr"):
            print(row["_stderr"][-2000:], file=sys.stderr)
    add_comparisons(rows)
    print()
    print_table(rows, COLUMNS)
    print()
    for line in verdicts(rows):
        print("* " + line)
    write_csv(out_csv, rows, CSV_FIELDS)
    return 0 if all(not str(r["status"]).startswith(("failed", "timeout")) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
