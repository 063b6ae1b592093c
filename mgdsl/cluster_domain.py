"""A checked system seen by the supervisory layer (paper 002): per microgrid its grid-forming storage, PV, loads
(critical and sheddable by priority), small hydro and ties (to each other and to a network, whose limits at the
step are linear rows on the ties: cluster_network.py), with the quasi-static droop coefficients that turn a
power mismatch into frequency and voltage deviations. Numbers in kW, kWh, Hz, p.u.; read from the IR at a step."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cluster_network import network_rows
from .diagnostics import Diagnostic, MgdError

F_NOMINAL_HZ = 60.0        # the paper's rated frequency; a droop in p.u. is turned into Hz with it

# template -> role. Other templates are left out of the supervisory domain (named in `ignored`).
STORAGE = ("GFMStorage",)
SOURCES = ("PV", "Wind")
FIXED_LOADS = ("Load", "UninterruptibleLoad", "FlexibleLoad")
SHEDDABLE = ("InterruptibleLoad",)
HYDRO = ("SmallHydro",)


def _at(value, step: int) -> float:
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else float(arr[step])


@dataclass
class Microgrid:
    name: str
    p_rated: float             # kW, the grid-forming converters' sum
    capacity: float            # kWh
    soc: float                 # state of charge at the step (0..1), energy-weighted over the GFM units
    soc_min: float
    soc_max: float
    f_coef: float              # Hz per kW of mismatch the GFM units carry: f0 / sum(p_max / f_droop)
    v_coef: float              # p.u. per kW: 1 / sum(p_max / v_droop)
    pv_avail: float            # kW available from PV and wind at the step
    critical: float            # kW that cannot be shed
    devices: list[str] = field(default_factory=list)


@dataclass
class Shed:
    name: str                  # the InterruptibleLoad instance, mg2.flexible
    owner: str
    base: float                # kW that may be shed
    priority: float            # its compensation per kWh: a higher one is shed later


@dataclass
class Hydro:
    name: str
    owner: str
    p_min: float
    p_max: float
    ramp: float                # kW per supervisory step (ramp_rate * dt)
    p_init: float


@dataclass
class Tie:
    name: str
    a: str
    b: str
    limit: float               # kW; positive flow goes from a to b
    bus: int | None = None     # the network bus at one end (that end is then named after the network)


@dataclass
class ClusterDomain:
    """The supervisory data of a system at one step."""

    microgrids: list[Microgrid]
    sheds: list[Shed]
    hydros: list[Hydro]
    ties: list[Tie]
    dt_s: float
    step: int
    ignored: list[str] = field(default_factory=list)
    network_rows: list = field(default_factory=list)   # cluster_network.network_rows: lo <= coef . ties <= hi

    def index(self, name: str) -> int:
        return [m.name for m in self.microgrids].index(name)

    def load(self, j: int) -> float:
        """Total load of microgrid j (critical plus sheddable), kW."""
        mg = self.microgrids[j].name
        return self.microgrids[j].critical + sum(s.base for s in self.sheds if s.owner == mg)

    def targets(self) -> dict[str, tuple[str, float]]:
        """Every name a command may target -> (kind, its rating in kW, the normalization base of a distance)."""
        out = {m.name: ("microgrid", m.p_rated) for m in self.microgrids}
        for m in self.microgrids:
            for d in m.devices:
                out[d] = ("storage", m.p_rated)
        out.update({h.name: ("hydro", h.p_max) for h in self.hydros})
        # an unlimited tie to the network is normalized by its microgrid's storage rating
        rated = {m.name: m.p_rated for m in self.microgrids}
        out.update({t.name: ("tie", t.limit if np.isfinite(t.limit) else rated.get(t.b, rated.get(t.a, 1.0)))
                    for t in self.ties})
        return out


def domain(ir, step: int = 0) -> ClusterDomain:
    """The supervisory domain of a checked system at `step` (E0810 when a microgrid has no grid-forming storage)."""
    if not 0 <= step < ir.steps:
        raise MgdError([Diagnostic("E0814", f"t={step} is outside the horizon (0 .. {ir.steps - 1})", None,
                                   help=f"give --at a step from 0 to {ir.steps - 1}")])
    dt_h = ir.dt_h
    by_owner: dict[str, list] = {name: [] for name in ir.microgrids}
    ignored = []
    for template, insts in ir.instances.items():
        for inst in insts:
            if inst.owner in by_owner:
                by_owner[inst.owner].append((template, inst))
            else:
                ignored.append(inst.name)
    mgs, sheds, hydros = [], [], []
    for name, items in by_owner.items():
        ess = [i for t, i in items if t in STORAGE]
        if not ess:
            span = ir.microgrids[name].span
            raise MgdError([Diagnostic(
                "E0810", f"microgrid `{name}` has no grid-forming storage", span, "this microgrid",
                help="add a `GFMStorage(...)` (stdlib/hydro.mgd): the supervisory layer needs a unit that forms "
                     "its frequency and voltage")])
        cap = sum(i.values["capacity"] for i in ess)
        p = sum(i.values["p_max"] for i in ess)
        soc = sum(i.values["soc_init"] * i.values["capacity"] for i in ess) / cap if cap > 0 else 0.5
        mgs.append(Microgrid(
            name, p, cap, soc, max(i.values["soc_min"] for i in ess), min(i.values["soc_max"] for i in ess),
            F_NOMINAL_HZ / sum(i.values["p_max"] / i.values["f_droop"] for i in ess),
            1.0 / sum(i.values["p_max"] / i.values["v_droop"] for i in ess),
            sum(_at(i.values["p_max"], step) * _at(i.values.get("profile", 1.0), step)
                for t, i in items if t in SOURCES),
            sum(_at(i.values["base"], step) for t, i in items if t in FIXED_LOADS)
            + sum(_at(i.values["base"], step) * (1 - _at(i.values["max_share"], step))
                  for t, i in items if t in SHEDDABLE),
            [i.name for i in ess]))
        sheds += [Shed(i.name, name, _at(i.values["base"], step) * _at(i.values["max_share"], step),
                       _at(i.values["compensation"], step)) for t, i in items if t in SHEDDABLE]
        hydros += [Hydro(i.name, name, _at(i.values["p_min"], step), _at(i.values["p_max"], step),
                         _at(i.values["ramp_rate"], step) * dt_h, _at(i.values["p_init"], step))
                   for t, i in items if t in HYDRO]
        ignored += [i.name for t, i in items if t not in STORAGE + SOURCES + FIXED_LOADS + SHEDDABLE + HYDRO]
    ties = [Tie(s.name, s.a.owner, s.b.owner, s.limit_kw) for s in ir.switches
            if s.a.owner in by_owner and s.b.owner in by_owner]
    # a microgrid's tie line to its bus (positive: an import from the network) and a switch from a microgrid to a
    # network bus; the network's side is a source or sink, within the network's rows below
    ties += [Tie(f"tie.{m.name}", m.network, m.name, m.limit_kw if m.limit_kw is not None else np.inf, m.bus)
             for m in ir.microgrids.values() if m.bus is not None]
    ties += [Tie(s.name, s.a.owner, s.b.owner, s.limit_kw, s.a.bus if s.a.bus is not None else s.b.bus)
             for s in ir.switches if (s.a.owner in by_owner) != (s.b.owner in by_owner)
             and ir.network is not None and ir.network.name in (s.a.owner, s.b.owner)]
    rows = network_rows(ir.network, step, ties) if ir.network is not None else []
    return ClusterDomain(mgs, sheds, hydros, ties, dt_h * 3600.0, step, sorted(ignored), rows)
