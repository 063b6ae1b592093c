"""The supervisory state of a cluster (references, SOC, disturbances) and its quasi-static response: a power
mismatch m_j the grid-forming units carry shifts frequency by f_coef * m_j and voltage by v_coef * m_j, their
actual output is their reference plus m_j, and SOC moves with that output over the interval. The indices J_f, J_v,
J_soc, J_h, J_load of paper 002 (eq. 21) are evaluated here for any set of references."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .cluster_domain import ClusterDomain

INDICES = ("frequency", "voltage", "soc", "hydro_ramp", "load_shed")


@dataclass
class Bases:
    """Normalization bases of the indices and the hard limits (paper 002, section 4.1)."""

    df_max: float = 0.5        # Hz
    dv_max: float = 0.05       # p.u.
    dsoc_max: float = 0.10     # SOC fraction
    f_limit: float = 0.5       # Hz: 59.5 .. 60.5 Hz
    v_limit: float = 0.05      # p.u.: 0.95 .. 1.05 p.u.


@dataclass
class State:
    """References in kW (storage output: discharge positive; tie flow from `a` to `b`), SOC, actual loads and PV."""

    eref: np.ndarray
    pv: np.ndarray
    hydro: np.ndarray
    tie: np.ndarray
    shed: np.ndarray
    soc: np.ndarray
    load: np.ndarray           # each microgrid's actual total load, kW
    pv_avail: np.ndarray

    def copy(self) -> State:
        return State(**{f.name: np.array(getattr(self, f.name), dtype=float) for f in dataclasses.fields(self)})


def initial_state(dom: ClusterDomain) -> State:
    """The balanced operating point at the domain's step: PV at its availability, hydro at p_init, ties at 0, no
    shedding, and each storage reference carrying what is left of its microgrid's load (mismatch 0)."""
    n = len(dom.microgrids)
    load = np.array([dom.load(j) for j in range(n)])
    pv = np.array([m.pv_avail for m in dom.microgrids])
    st = State(np.zeros(n), pv.copy(), np.array([h.p_init for h in dom.hydros], dtype=float),
               np.zeros(len(dom.ties)), np.zeros(len(dom.sheds)), np.array([m.soc for m in dom.microgrids]),
               load, pv.copy())
    st.eref = load - supply_without_storage(dom, st)
    return st


def supply_without_storage(dom: ClusterDomain, st: State) -> np.ndarray:
    """Per microgrid: PV (up to what is available) + hydro + tie imports + shed load, kW."""
    names = [m.name for m in dom.microgrids]
    out = np.minimum(st.pv, st.pv_avail).astype(float)
    for h, p in zip(dom.hydros, st.hydro):
        out[names.index(h.owner)] += p
    for t, p in zip(dom.ties, st.tie):
        if t.a in names:                # the other end may be the network
            out[names.index(t.a)] -= p
        if t.b in names:
            out[names.index(t.b)] += p
    for s, p in zip(dom.sheds, st.shed):
        out[names.index(s.owner)] += p
    return out


@dataclass
class Response:
    mismatch: np.ndarray       # kW the grid-forming units carry beyond their reference
    output: np.ndarray         # their actual output, kW (within +-p_rated; what they cannot carry is unserved)
    unserved: np.ndarray       # kW of load lost because a converter hit its limit
    df: np.ndarray             # Hz
    dv: np.ndarray             # p.u.
    soc_next: np.ndarray


def respond(dom: ClusterDomain, st: State) -> Response:
    """The quasi-static response over one interval to the references in `st`."""
    rated = np.array([m.p_rated for m in dom.microgrids])
    need = st.load - supply_without_storage(dom, st)
    output = np.clip(need, -rated, rated)
    unserved = np.maximum(need - output, 0.0)
    # A converter at its limit cannot carry more: the load it drops leaves the mismatch at its limit too.
    mismatch = output - st.eref
    f = np.array([m.f_coef for m in dom.microgrids])
    v = np.array([m.v_coef for m in dom.microgrids])
    cap = np.array([m.capacity for m in dom.microgrids])
    soc = st.soc - output * dom.dt_s / 3600.0 / np.where(cap > 0, cap, np.inf)
    return Response(mismatch, output, unserved, -f * mismatch, -v * mismatch, soc)


def indices(dom: ClusterDomain, st: State, prev_hydro: np.ndarray, bases: Bases) -> dict[str, float]:
    """Paper 002's normalized indices (eq. 21) for the references in `st`."""
    r = respond(dom, st)
    n = len(dom.microgrids)
    dev = r.soc_next - r.soc_next.mean()
    ramp = np.array([max(h.ramp, 1e-12) for h in dom.hydros])
    over = np.maximum(0.0, np.abs(st.hydro - prev_hydro) / ramp - 1.0) if len(ramp) else np.zeros(0)
    loads = {s.owner: dom.load(dom.index(s.owner)) for s in dom.sheds}
    lam = priorities(dom)
    return {"frequency": float(np.sum((r.df / bases.df_max) ** 2) / n),
            "voltage": float(np.sum((r.dv / bases.dv_max) ** 2) / n),
            "soc": float(np.sum((dev / bases.dsoc_max) ** 2) / n),
            "hydro_ramp": float(np.sum(over ** 2)),
            "load_shed": float(sum(lam[i] * p / max(loads[s.owner], 1e-9)
                                   for i, (s, p) in enumerate(zip(dom.sheds, st.shed))))}


def priorities(dom: ClusterDomain) -> np.ndarray:
    """The load priority weights lambda_L: each sheddable load's compensation over their mean (1 when all equal)."""
    comp = np.array([s.priority for s in dom.sheds], dtype=float)
    if not len(comp):
        return comp
    mean = comp.mean()
    return comp / mean if mean > 0 else np.ones_like(comp)
