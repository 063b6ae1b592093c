"""Physical units and dimensions: parse unit text, convert to canonical units (kW, h, kvar, currency)."""
from __future__ import annotations

from dataclasses import dataclass

# Base dimensions. Power and reactive power are distinct so that kW + kvar is caught. Money is one
# dimension: yuan, usd, eur and the neutral `money` (the standard library declares its prices in it, so its
# templates serve a model in any currency) all measure it; a system file that names two currencies is an error
# (mgdsl/sema/system.py), as mgdsl knows no exchange rates, and so is an instance that takes a default written
# in another currency than the system's (the library's non-zero price defaults are yuan: E0205).
BASES = ("power", "time", "reactive", "money", "voltage", "current", "impedance")


@dataclass(frozen=True)
class Dim:
    exps: tuple[int, ...] = (0,) * len(BASES)

    def __mul__(self, other: Dim) -> Dim:
        return Dim(tuple(a + b for a, b in zip(self.exps, other.exps)))

    def __truediv__(self, other: Dim) -> Dim:
        return Dim(tuple(a - b for a, b in zip(self.exps, other.exps)))

    def __pow__(self, k: int) -> Dim:
        return Dim(tuple(a * k for a in self.exps))

    @property
    def dimensionless(self) -> bool:
        return not any(self.exps)

    def __str__(self) -> str:
        return describe(self)


def base(name: str) -> Dim:
    exps = [0] * len(BASES)
    exps[BASES.index(name)] = 1
    return Dim(tuple(exps))


NONE = Dim()
POWER = base("power")
TIME = base("time")
ENERGY = POWER * TIME
REACTIVE = base("reactive")
VOLTAGE = base("voltage")
CURRENT = base("current")
IMPEDANCE = base("impedance")
MONEY = base("money")
CURRENCIES = ("yuan", "usd", "eur")

# unit name -> (scale to the canonical unit of its dimension, dimension)
UNITS: dict[str, tuple[float, Dim]] = {
    "W": (1e-3, POWER), "kW": (1.0, POWER), "MW": (1e3, POWER), "GW": (1e6, POWER),
    # apparent power is measured in the power dimension (used for network bases and ratings)
    "VA": (1e-3, POWER), "kVA": (1.0, POWER), "MVA": (1e3, POWER),
    "Wh": (1e-3, ENERGY), "kWh": (1.0, ENERGY), "MWh": (1e3, ENERGY), "GWh": (1e6, ENERGY),
    "h": (1.0, TIME), "min": (1 / 60, TIME), "s": (1 / 3600, TIME),
    "var": (1e-3, REACTIVE), "kvar": (1.0, REACTIVE), "Mvar": (1e3, REACTIVE),
    "varh": (1e-3, REACTIVE * TIME), "kvarh": (1.0, REACTIVE * TIME), "Mvarh": (1e3, REACTIVE * TIME),
    "V": (1e-3, VOLTAGE), "kV": (1.0, VOLTAGE),
    "A": (1.0, CURRENT), "kA": (1e3, CURRENT),
    "ohm": (1.0, IMPEDANCE),
    "yuan": (1.0, MONEY), "usd": (1.0, MONEY), "eur": (1.0, MONEY), "money": (1.0, MONEY),
    "pu": (1.0, NONE), "%": (0.01, NONE),
}

# Canonical unit names for printing a dimension.
_NAMED = {
    NONE: "1", POWER: "kW", ENERGY: "kWh", TIME: "h", REACTIVE: "kvar", VOLTAGE: "kV", CURRENT: "A",
    IMPEDANCE: "ohm", REACTIVE * TIME: "kvarh", POWER / TIME: "kW/h",
}
for _c, _d in (("money", MONEY),):
    _NAMED[_d] = _c
    _NAMED[_d / ENERGY] = f"{_c}/kWh"
    _NAMED[_d / POWER] = f"{_c}/kW"
    _NAMED[_d / REACTIVE / TIME] = f"{_c}/kvarh"
    _NAMED[_d / TIME] = f"{_c}/h"
    _NAMED[_d / ENERGY / POWER] = f"{_c}/kWh/kW"
    _NAMED[_d / (POWER * POWER) / TIME] = f"{_c}/kW^2h"


class UnitError(ValueError):
    """An unknown unit name; `.name` is the offending part."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def parse_unit(text: str) -> tuple[float, Dim]:
    """`yuan/kWh` -> (scale, dimension); raises UnitError naming the unknown part."""
    parts = text.split("/")
    scale, dim = 1.0, NONE
    for k, part in enumerate(parts):
        if part not in UNITS:
            raise UnitError(part)
        s, d = UNITS[part]
        if k == 0:
            scale, dim = s, d
        else:
            scale, dim = scale / s, dim / d
    return scale, dim


def describe(dim: Dim) -> str:
    """A readable unit for a dimension, in canonical units (kW, kWh, yuan/kWh ...)."""
    if dim in _NAMED:
        return _NAMED[dim]
    num, den = [], []
    canon = {"power": "kW", "time": "h", "reactive": "kvar", "voltage": "kV", "current": "A",
             "impedance": "ohm", "money": "money"}
    for name, e in zip(BASES, dim.exps):
        unit = canon[name]
        if e > 0:
            num.append(unit if e == 1 else f"{unit}^{e}")
        elif e < 0:
            den.append(unit if e == -1 else f"{unit}^{-e}")
    text = "*".join(num) or "1"
    if den:
        text += "/" + "/".join(den)
    return text


def is_money(dim: Dim) -> bool:
    return dim == MONEY
