"""Hypothesis strategies for random, valid, continuous mgdsl systems (as .mgd text) for the ATC property tests.

A system is a radial 12.66 kV feeder (base 1 MVA) of 3-8 buses, built by attaching each new bus to a random
earlier one, with a slack at bus 1 buying at a random price profile and random bus loads; 1-4 microgrids are
attached by tie lines at distinct non-slack buses, each with 1-4 random standard-library devices (continuous
ones only: no CHPUnit, no CapacitorBank); with `switches=True`, switches with binary hourly statuses
and a cluster; with `reactive=True`, each microgrid also holds one reactive device (a LoadPQ of a random power
factor, a WindPQ, or a Microturbine with a reactive range), so its tie (and switches between such microgrids
or to a bus) carry Q as well as P: Q couplings in ATC.

The systems are built to be feasible:
  * every device can sit idle (storage ends where it starts, generation may be curtailed, conversion may stop);
  * a microgrid's fixed electric demand (Load, FlexibleLoad and LoadPQ bases) stays below 80 % of its tie limit,
    and a LoadPQ's reactive demand below 0.6 x 0.7 of its share, so that the apparent power stays within the
    tie's rating and the network can always serve it; the slack bus buys without limit;
  * a heat load appears only next to a GasBoiler and a GasSupply, and stays below 80 % of the largest boiler.
Voltage limits (0.9 .. 1.1 pu) are loose for these line lengths; the tests still skip (hypothesis.assume) a
system whose centralized solve is infeasible.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

# The devices a microgrid may hold (the kinds drawn), all from stdlib/.
DEVICE_KINDS = ("storage_e", "storage_h", "chp", "gas_boiler", "electric_boiler", "power_to_gas", "pv", "wind",
                "load", "flexible_load", "gas_supply", "electricity_trade")
REACTIVE_KINDS = ("load_pq", "wind_pq", "mt_q")


@dataclass
class GeneratedSystem:
    text: str
    steps: int
    dt_h: float
    microgrids: list[str]
    # an upper bound of what 1 kWh of electricity is worth anywhere in the system (yuan/kWh), from every price,
    # cost and efficiency drawn; used for the objective slack that the ATC tolerance implies
    max_price: float
    kinds: dict[str, list[str]] = field(default_factory=dict)    # microgrid -> device kinds, for reports

    def implied_slack(self, deviation_kwh: float) -> float:
        """Money by which an ATC iterate whose responses miss their targets by `deviation_kwh` in all (the sum
        over ties and steps of |target - response| * dt) may differ from a consistent one: each kWh worth at
        most `max_price`, doubled for storage and conversion losses that raise a marginal value above the
        prices. With the 1e-4 p.u. tolerance (0.1 kW) it is at most 2 * max_price * 0.1 kW * dt * T * ties."""
        return 2.0 * self.max_price * deviation_kwh


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _series(values) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _pu(draw, steps: int, lo: int = 0, hi: int = 100) -> list[float]:
    """A per-unit profile over the horizon, in hundredths."""
    return [draw(st.integers(lo, hi)) / 100 for _ in range(steps)]


@st.composite
def feeders(draw, steps: int):
    """A random radial feeder: (number of buses, its line statements, its load statements)."""
    n = draw(st.integers(3, 8))
    lines = []
    for bus in range(2, n + 1):
        parent = draw(st.integers(1, bus - 1))
        r = draw(st.integers(5, 60)) / 100          # ohm: 0.05 .. 0.6 (Z_base = 160 ohm at 12.66 kV, 1 MVA)
        x = draw(st.integers(3, 40)) / 100          # ohm: 0.03 .. 0.4
        lines.append(f"    line {parent} - {bus}: r = {_fmt(r)} ohm, x = {_fmt(x)} ohm")
    loaded = draw(st.lists(st.integers(2, n), min_size=1, max_size=n - 1, unique=True))
    loads = []
    for bus in sorted(loaded):
        p = draw(st.integers(5, 40)) * 10          # kW: 50 .. 400 (the IEEE 33-bus feeder's loads: 45 .. 420)
        pf = draw(st.integers(20, 60)) / 100        # q / p
        loads.append(f"    load {bus}: p = {p} kW * shape, q = {_fmt(p * pf)} kvar * shape")
    return n, lines, loads


@st.composite
def microgrid_devices(draw, steps: int, limit_kw: int, reactive: bool = False):
    """Device lines of one microgrid, their kinds, and the largest price among them (yuan/kWh)."""
    kinds = draw(st.lists(st.sampled_from(DEVICE_KINDS), min_size=1, max_size=4))
    if reactive:
        kinds = kinds + [draw(st.sampled_from(REACTIVE_KINDS))]
    out: list[str] = []
    prices: list[float] = []
    # the fixed electric demand is shared out below 80 % of the tie limit (shapes peak at 1)
    n_el_loads = sum(k in ("load", "flexible_load", "load_pq") for k in kinds)
    budget = 0.8 * limit_kw / max(n_el_loads, 1)
    gas_price = None
    boilers: list[int] = []                                         # GasBoiler ratings, kW
    for i, kind in enumerate(kinds, 1):
        if kind == "storage_e" or kind == "storage_h":
            carrier = "electricity" if kind == "storage_e" else "heat"
            cap = draw(st.integers(5, 100)) * 10                  # kWh: 50 .. 1000
            pmax = draw(st.integers(2, 30)) * 10                  # kW: 20 .. 300
            eta = draw(st.integers(85, 98)) / 100
            soc = draw(st.integers(20, 80)) / 100
            out.append(f"es{i} = Storage({carrier}, capacity = {cap} kWh, p_max = {pmax} kW, eta_ch = {_fmt(eta)}, "
                       f"eta_dis = {_fmt(eta)}, soc_init = {_fmt(soc)})")
        elif kind == "chp":
            pmax = draw(st.integers(5, 50)) * 10                  # kW: 50 .. 500
            ramp = max(10, int(pmax * draw(st.integers(30, 100)) / 100))
            eta_e = draw(st.integers(28, 40)) / 100
            eta_h = draw(st.integers(35, 50)) / 100
            out.append(f"chp{i} = CHP(p_max = {pmax} kW, ramp = {ramp} kW, eta_e = {_fmt(eta_e)}, "
                       f"eta_h = {_fmt(eta_h)})")
            prices.append(0.02)                                   # its O&M per kWh (fuel: gas_price below)
        elif kind == "gas_boiler":
            boilers.append(draw(st.integers(10, 60)) * 10)            # kW: 100 .. 600
            out.append(f"gb{i} = GasBoiler(h_max = {boilers[-1]} kW)")
        elif kind == "electric_boiler":
            out.append(f"eb{i} = ElectricBoiler(p_max = {draw(st.integers(5, 30)) * 10} kW)")
        elif kind == "power_to_gas":
            out.append(f"p2g{i} = PowerToGas(p_max = {draw(st.integers(2, 20)) * 10} kW)")
        elif kind in ("pv", "wind"):
            device = "PV" if kind == "pv" else "Wind"
            pmax = draw(st.integers(5, 50)) * 10
            out.append(f"re{i} = {device}(p_max = {pmax} kW, profile = {_series(_pu(draw, steps))})")
        elif kind == "load":
            base = max(1, int(budget * draw(st.integers(20, 100)) / 100))
            out.append(f"load{i} = Load(electricity, base = {base} kW * shape)")
        elif kind == "flexible_load":
            base = max(1, int(budget * draw(st.integers(20, 100)) / 100))
            shift = draw(st.integers(0, 30))
            curtail = draw(st.integers(0, 10))
            cc = draw(st.integers(30, 150)) / 100
            out.append(f"flex{i} = FlexibleLoad(electricity, base = {base} kW * shape, shift = {shift} %, "
                       f"curtail = {curtail} %, curtail_cost = {_fmt(cc)} yuan/kWh)")
            prices.append(cc)
        elif kind == "gas_supply":
            price = draw(st.integers(25, 50)) / 100
            gas_price = price if gas_price is None else min(gas_price, price)
            out.append(f"gas{i} = GasSupply(price = {_fmt(price)} yuan/kWh)")
        elif kind == "electricity_trade":
            buy = draw(st.integers(30, 150)) / 100
            sell = buy * draw(st.integers(0, 80)) / 100
            pmax = draw(st.integers(10, 100)) * 10
            out.append(f"grid{i} = ElectricityTrade(buy_price = {_fmt(buy)} yuan/kWh, "
                       f"sell_price = {_fmt(round(sell, 3))} yuan/kWh, p_max = {pmax} kW)")
            prices.append(buy)
        elif kind == "load_pq":
            base = max(1, int(0.7 * budget * draw(st.integers(20, 100)) / 100))
            tan_phi = draw(st.integers(20, 60)) / 100                  # pf 0.86 .. 0.98
            out.append(f"lpq{i} = LoadPQ(base = {base} kW * shape, tan_phi = {_fmt(tan_phi)} kvar/kW)")
        elif kind == "wind_pq":
            pmax = draw(st.integers(5, 50)) * 10
            out.append(f"wq{i} = WindPQ(p_max = {pmax} kW, profile = {_series(_pu(draw, steps))})")
        elif kind == "mt_q":
            pmax = draw(st.integers(5, 30)) * 10
            qmax = draw(st.integers(2, 20)) * 10
            fuel = draw(st.integers(40, 120)) / 100
            out.append(f"mt{i} = Microturbine(p_max = {pmax} kW, q_min = -{qmax} kvar, q_max = {qmax} kvar, "
                       f"fuel_price = {_fmt(fuel)} yuan/kWh)")
            prices.append(fuel)
    if gas_price is not None:
        # gas-fired electricity (CHP at 28 % or more) and electricity worth gas (power-to-gas at 60 %)
        prices.append(gas_price / 0.28)
    if boilers and gas_price is not None and draw(st.booleans()):
        # a heat load the boilers can always serve (heat_shape peaks at 1)
        heat = max(1, int(0.8 * max(boilers) * draw(st.integers(20, 100)) / 100))
        out.append(f"heat = Load(heat, base = {heat} kW * heat_shape)")
        kinds = kinds + ["heat_load"]
    return out, kinds, max(prices, default=0.0)


@st.composite
def systems(draw, min_steps: int = 3, max_steps: int = 6, max_microgrids: int = 4,
            switches: bool = False, reactive: bool = False) -> GeneratedSystem:
    """A random valid continuous system: a radial feeder with 1..max_microgrids microgrids. With `switches`,
    at least two microgrids, one to three switches between microgrids or from a microgrid to another bus
    (their hourly statuses are binaries), and the first two microgrids form a cluster."""
    steps = draw(st.integers(min_steps, max_steps))
    dt = draw(st.sampled_from(["1 h", "1 h", "30 min"]))
    dt_h = 1.0 if dt == "1 h" else 0.5
    price = [draw(st.integers(20, 150)) / 100 for _ in range(steps)]          # yuan/kWh
    shape = _pu(draw, steps, 40, 100)
    shape[draw(st.integers(0, steps - 1))] = 1.0                              # peaks at 1
    heat_shape = _pu(draw, steps, 40, 100)
    heat_shape[draw(st.integers(0, steps - 1))] = 1.0
    n, lines, loads = draw(feeders(steps))
    n_mg = draw(st.integers(2 if switches else 1, min(max_microgrids, n - 1)))    # feeders have >= 3 buses
    buses = draw(st.lists(st.integers(2, n), min_size=n_mg, max_size=n_mg, unique=True))
    text = [
        "use stdlib",
        f"horizon {steps} steps of {dt}",
        f"profile price: yuan/kWh = {_series(price)}",
        f"profile shape = {_series(shape)}",
        f"profile heat_shape = {_series(heat_shape)}",
        "",
        "network dn {",
        "    base 1 MVA, 12.66 kV",
        "    voltage 0.9 .. 1.1 pu",
        "    formulation lindistflow",
        f"    buses 1 .. {n}",
        "    slack 1 buys at price",
        *lines,
        *loads,
        "}",
    ]
    names, kinds_of, prices = [], {}, [max(price)]
    for k, bus in enumerate(buses, 1):
        name = f"mg{k}"
        limit = draw(st.integers(4, 20)) * 50                                   # kW: 200 .. 1000
        devices, kinds, top = draw(microgrid_devices(steps, limit, reactive))
        text += ["", f"microgrid {name} at dn.{bus} limit {limit} kW {{", *(f"    {d}" for d in devices), "}"]
        names.append(name)
        kinds_of[name] = kinds
        prices.append(top)
    if switches:
        n_sw = draw(st.integers(1, 3))
        for k in range(1, n_sw + 1):
            a = draw(st.sampled_from(names))
            if draw(st.booleans()) or k == 1:
                b = draw(st.sampled_from([m for m in names if m != a]))
            else:
                b = f"dn.{draw(st.integers(1, n))}"
            text.append(f"switch k{k} between {a} and {b} limit {draw(st.integers(1, 6)) * 50} kW")
        text.append("cluster c1 = {mg1, mg2}")
    text += ["", "minimize cost", ""]
    return GeneratedSystem("\n".join(text), steps, dt_h, names, max(prices), kinds_of)
