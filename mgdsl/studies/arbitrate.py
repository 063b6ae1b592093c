"""Supervisory arbitration of conflicting candidate commands (paper 002, section 3.2): per target, the direction,
capacity and objective conflicts with the numbers that triggered them; the adaptive-weight fusion when there is
none; otherwise the projection onto the model's feasible domain at the step (mgdsl/studies/projection.py). Takes
a System, returns an Arbitration of Datasets; never prints."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..cluster_domain import ClusterDomain, domain
from ..cluster_state import INDICES, Bases, State, indices, initial_state, respond
from ..diagnostics import Diagnostic, MgdError
from .commands import Command, Event, read_commands, read_events
from .output import figure, plain, write_csv, write_json
from .projection import Projection, Term, Weights

TOL = 1e-6                 # kW: a command smaller than this has no direction
OBJECTIVE_TOL = 1e-6       # a change of a normalized index smaller than this is no trend


@dataclass
class Options:
    weights: Weights = field(default_factory=Weights)
    bases: Bases = field(default_factory=Bases)
    beta: tuple[float, float, float] = (0.5, 0.3, 0.2)   # communication, resource correlation, history
    max_age_s: float = 2.0     # a message older than this fails the freshness check: C_com = 0

    def check(self) -> None:
        values = [*vars(self.weights).values(), *vars(self.bases).values(), *self.beta, self.max_age_s]
        if any(not np.isfinite(v) or v < 0 for v in values) or min(*vars(self.bases).values()) <= 0 \
                or sum(self.beta) <= 0:
            raise MgdError([Diagnostic("E0814", "arbitration weights must be at least 0, bases and limits above 0",
                                       None, help="give alpha, beta >= 0 (beta not all 0) and positive bases")])


# ---------------------------------------------------------------- one target's analysis
def fusion_weights(cands: list[Command], opts: Options) -> np.ndarray:
    """omega_i = eta_i / sum(eta), eta_i = b1 C_com + b2 C_res + b3 C_his (eq. 29). A command whose communication
    failed (C_com = 0, or older than max_age_s) is suppressed: eta_i = 0, as the paper sets its weight to zero."""
    b1, b2, b3 = opts.beta
    eta = np.array([0.0 if (c.comm <= 0 or c.age_s > opts.max_age_s) else b1 * c.comm + b2 * c.res + b3 * c.his
                    for c in cands])
    return eta / eta.sum() if eta.sum() > 0 else eta


def headroom(dom: ClusterDomain, st: State, prev_hydro: np.ndarray, target: str) -> tuple[float, float]:
    """What the target's resources can add (up, down), kW: P_j^ava of eq. (26) for a microgrid (storage margin,
    PV reserve, hydro ramp margin, sheddable load), the device's own margin otherwise."""
    kind = dom.targets()[target][0]
    names = [m.name for m in dom.microgrids]
    if kind == "tie":
        k = [t.name for t in dom.ties].index(target)
        hi, lo = dom.ties[k].limit, -dom.ties[k].limit
        for coef, rlo, rhi, _ in dom.network_rows:      # the network's limits, the other ties where they are
            if k in coef:
                rest = sum(c * st.tie[i] for i, c in coef.items() if i != k)
                a, b = sorted(((rlo - rest) / coef[k], (rhi - rest) / coef[k]))
                lo, hi = max(lo, a), min(hi, b)
        return hi - st.tie[k], st.tie[k] - lo
    if kind == "hydro":
        k = [h.name for h in dom.hydros].index(target)
        h = dom.hydros[k]
        return (min(h.p_max, prev_hydro[k] + h.ramp) - st.hydro[k], st.hydro[k] - max(h.p_min, prev_hydro[k] - h.ramp))
    j = names.index(target) if kind == "microgrid" else [target in m.devices for m in dom.microgrids].index(True)
    out = respond(dom, st).output[j]
    rated = dom.microgrids[j].p_rated
    up, down = rated - out, rated + out
    if kind == "microgrid":
        up += st.pv_avail[j] - min(st.pv[j], st.pv_avail[j])
        down += min(st.pv[j], st.pv_avail[j])
        for k, h in enumerate(dom.hydros):
            if h.owner == target:
                up += min(h.p_max, prev_hydro[k] + h.ramp) - st.hydro[k]
                down += st.hydro[k] - max(h.p_min, prev_hydro[k] - h.ramp)
        up += sum(s.base - p for s, p in zip(dom.sheds, st.shed) if s.owner == target)
    return up, down


def apply(dom: ClusterDomain, st: State, cmds: list[Command]) -> State:
    """The references after these commands, each alone on its target (a microgrid's command on its grid-forming
    storage, the paper's first resource), unclamped: what the controller asked for."""
    new = st.copy()
    names = [m.name for m in dom.microgrids]
    for c in cmds:
        kind = dom.targets()[c.target][0]
        if kind == "microgrid":
            new.eref[names.index(c.target)] += c.value
        elif kind == "storage":
            new.eref[[c.target in m.devices for m in dom.microgrids].index(True)] += c.value
        elif kind == "hydro":
            new.hydro[[h.name for h in dom.hydros].index(c.target)] += c.value
        else:
            new.tie[[t.name for t in dom.ties].index(c.target)] += c.value
    return new


def conflicts(dom, st, prev_hydro, target, cands, by_controller, opts) -> list[dict]:
    """The conflicts among the candidates for one target, each with the numbers that triggered it."""
    found = []
    for a in range(len(cands)):
        for b in range(a + 1, len(cands)):
            ca, cb = cands[a], cands[b]
            if ca.value * cb.value < 0 and min(abs(ca.value), abs(cb.value)) > TOL:
                found.append({"class": "direction", "controllers": [ca.controller, cb.controller],
                              "values_kw": [ca.value, cb.value], "product": ca.value * cb.value})
    up, down = headroom(dom, st, prev_hydro, target)
    total = sum(c.value for c in cands)
    if total > up + TOL or -total > down + TOL:
        found.append({"class": "capacity", "sum_kw": total, "available_kw": up if total > 0 else -down})
    base = indices(dom, st, prev_hydro, opts.bases)
    delta = {}
    for c in cands:
        if c.controller not in delta:
            j = indices(dom, apply(dom, st, by_controller[c.controller]), prev_hydro, opts.bases)
            delta[c.controller] = {k: j[k] - base[k] for k in INDICES}
    ctrls = list(dict.fromkeys(c.controller for c in cands))
    for a in range(len(ctrls)):
        for b in range(a + 1, len(ctrls)):
            da, db = delta[ctrls[a]], delta[ctrls[b]]
            # the two commands move an index in opposite directions: one improves what the other worsens
            opposed = [k for k in INDICES if da[k] * db[k] < 0 and min(abs(da[k]), abs(db[k])) > OBJECTIVE_TOL]
            if opposed:
                found.append({"class": "objective", "controllers": [ctrls[a], ctrls[b]], "indices": opposed,
                              "delta_j": {ctrls[a]: {k: da[k] for k in opposed},
                                          ctrls[b]: {k: db[k] for k in opposed}}})
    return found


# ---------------------------------------------------------------- one event
@dataclass
class Decision:
    """One event's outcome: per target its method and command, and the executed references."""

    targets: list[dict]
    state: State               # the references to execute
    terms: dict[str, float]    # alpha_k * J_k at the executed references, and the distance term
    binding: list[str]         # hard limits the executed command sits on
    shed: dict[str, float]
    indices: dict[str, float]


class Arbiter:
    """The system-level controller of a cluster at one step: one Projection, re-used for every event."""

    def __init__(self, dom: ClusterDomain, opts: Options | None = None):
        self.opts = opts or Options()
        self.opts.check()
        self.dom = dom
        self.proj = Projection(dom, self.opts.weights, self.opts.bases)

    def column(self, target: str) -> tuple[int, float]:
        """(the QP column a target's command sets, the base it is a change from, given st) for a target."""
        dom, p = self.dom, self.proj
        kind = dom.targets()[target][0]
        if kind == "microgrid":
            return int(p.u[dom.index(target)]), 0.0
        if kind == "storage":
            return int(p.eref[[target in m.devices for m in dom.microgrids].index(True)]), None
        if kind == "hydro":
            return int(p.hydro[[h.name for h in dom.hydros].index(target)]), None
        return int(p.tie[[t.name for t in dom.ties].index(target)]), None

    def base_value(self, st: State, col: int) -> float:
        p = self.proj
        for arr, vals in ((p.eref, st.eref), (p.hydro, st.hydro), (p.tie, st.tie)):
            hit = np.flatnonzero(arr == col)
            if len(hit):
                return float(vals[hit[0]])
        return 0.0

    def decide(self, st: State, cmds: list[Command], prev_hydro: np.ndarray | None = None) -> Decision:
        dom, opts = self.dom, self.opts
        prev = np.array(st.hydro if prev_hydro is None else prev_hydro, dtype=float)
        by_target: dict[str, list[Command]] = {}
        by_ctrl: dict[str, list[Command]] = {}
        for c in cmds:
            by_target.setdefault(c.target, []).append(c)
            if c.comm > 0 and c.age_s <= opts.max_age_s:    # a suppressed command is no part of its sender's view
                by_ctrl.setdefault(c.controller, []).append(c)
        rows = []
        for target, cands in by_target.items():
            w = fusion_weights(cands, opts)
            live = [c for c, wi in zip(cands, w) if wi > 0]
            found = conflicts(dom, st, prev, target, live, by_ctrl, opts) if live else []
            col, _ = self.column(target)
            rows.append({"target": target, "kind": dom.targets()[target][0], "col": col,
                         "base": self.base_value(st, col), "rating": dom.targets()[target][1],
                         "candidates": cands, "weights": w, "conflicts": found,
                         "fused": float(np.dot(w, [c.value for c in cands])) if w.sum() > 0 else None})
        x, shed_used = None, False
        for attempt in ("fused", "projected"):
            terms = []
            for r in rows:
                if r["fused"] is None:
                    continue          # every message failed: the target keeps its reference
                if r["conflicts"] or attempt == "projected":
                    r["method"] = "projection" if r["conflicts"] else "fusion, projected"
                    live = [(c, wi) for c, wi in zip(r["candidates"], r["weights"]) if wi > 0]
                    if r["conflicts"]:
                        terms += [Term(r["col"], r["base"] + c.value, c.rho, r["rating"]) for c, _ in live]
                    else:
                        terms.append(Term(r["col"], r["base"] + r["fused"], 1.0, r["rating"]))
                else:
                    r["method"] = "fusion"
            x = self._solve(st, prev, rows, terms, fix=attempt == "fused")
            if x is None:
                x = self._solve_with_shedding(st, prev, rows, terms, fix=attempt == "fused")
                shed_used = x is not None
            if x is not None:
                break
        if x is None:
            raise MgdError([Diagnostic(
                "E0812", f"no executable command at t={dom.step}: the cluster cannot stay within its limits even "
                         "with every sheddable load shed", None,
                help="give the microgrids more storage, PV or hydro capability, more sheddable load, or ties; "
                     "or widen the frequency/voltage limits")])
        return self._decision(st, prev, rows, x, terms, shed_used)

    def _solve(self, st, prev, rows, terms, fix, shed=False):
        p = self.proj
        p.set_state(st, prev, shed)
        if fix:
            for r in rows:
                if r.get("method") == "fusion" and not p.fix(r["col"], r["base"] + r["fused"]):
                    return None
        p.objective(terms)
        return p.run("qp")

    def _solve_with_shedding(self, st, prev, rows, terms, fix):
        """Shed only now that nothing else is left: the least priority-weighted shedding (an LP), then the QP
        with that shedding fixed."""
        p = self.proj
        p.set_state(st, prev, True)
        if fix:
            for r in rows:
                if r.get("method") == "fusion" and not p.fix(r["col"], r["base"] + r["fused"]):
                    return None
        p.objective(terms)
        y = p.run("lp")
        if y is None:
            return None
        return self._solve(st, prev, rows, terms, fix, shed=np.maximum(y[p.shed], 0.0))

    def _decision(self, st, prev, rows, x, terms, shed_used) -> Decision:
        dom, p, opts = self.dom, self.proj, self.opts
        new = st.copy()
        new.eref, new.pv, new.hydro, new.tie = x[p.eref], x[p.pv], x[p.hydro], x[p.tie]
        new.shed = np.maximum(x[p.shed], 0.0)
        idx = indices(dom, new, prev, opts.bases)
        w = vars(opts.weights)
        terms_out = {k: w[k] * idx[k] for k in INDICES}
        terms_out["conflict"] = float(sum(opts.weights.conflict * t.rho * ((x[t.col] - t.value) / t.base) ** 2
                                          for t in terms))
        binding = []
        tol = 1e-6
        for j, m in enumerate(dom.microgrids):
            out = x[p.eref[j]] + x[p.m[j]]
            if abs(abs(out) - m.p_rated) < tol * max(1, m.p_rated):
                binding.append(f"{m.name}: storage output at its limit ({out:.1f} kW)")
            if x[p.soc[j]] <= p.lo[p.soc[j]] + tol or x[p.soc[j]] >= p.hi[p.soc[j]] - tol:
                binding.append(f"{m.name}: SOC at its limit")
            if abs(x[p.m[j]]) >= p.hi[p.m[j]] - 1e-4:
                binding.append(f"{m.name}: frequency/voltage at its limit")
        for k, h in enumerate(dom.hydros):
            if abs(abs(x[p.hydro[k]] - prev[k]) - h.ramp) < 1e-4 and h.ramp > 0:
                binding.append(f"{h.name}: ramp limit ({h.ramp:.1f} kW per step)")
        for k, t in enumerate(dom.ties):
            if abs(abs(x[p.tie[k]]) - t.limit) < 1e-4:
                binding.append(f"{t.name}: tie limit")
        for coef, lo, hi, label in dom.network_rows:
            act = sum(c * x[p.tie[k]] for k, c in coef.items())
            if (min(act - lo, hi - act) < 1e-6 * (1 + abs(act))) and f"{label} limit" not in binding:
                binding.append(f"{label} limit")
        targets = []
        for r in rows:
            final = float(x[r["col"]] - r["base"]) if r["fused"] is not None else 0.0
            targets.append({
                "target": r["target"], "kind": r["kind"], "method": r.get("method", "no live command"),
                "conflicts": r["conflicts"], "fused_kw": r["fused"], "command_kw": final,
                "candidates": [{"controller": c.controller, "value_kw": c.value, "confidence": c.rho,
                                "weight": float(wi), "distance_kw": abs(final - c.value)}
                               for c, wi in zip(r["candidates"], r["weights"])]})
        shed = {s.name: float(v) for s, v in zip(dom.sheds, new.shed) if v > 1e-6}
        return Decision(targets, new, terms_out, binding, shed, idx)


# ---------------------------------------------------------------- the study
@dataclass
class Arbitration:
    """Per event and target: conflicts, method, fused and executed command (`commands`); per candidate its weight
    and distance (`candidates`); per event the executed references (`references`) and the objective terms
    (`terms`)."""

    commands: xr.Dataset
    candidates: xr.Dataset
    references: xr.Dataset
    terms: xr.Dataset
    events: list[dict]
    step: int
    timings: dict = field(default_factory=dict)
    model: str = ""
    builds: int = 1
    solves: int = 0
    ignored: list[str] = field(default_factory=list)   # instances with no supervisory role (cluster_domain.py)

    def to_json(self) -> dict:
        return plain({"study": "arbitrate", "model": self.model, "step": self.step, "qp_builds": self.builds,
                      "qp_solves": self.solves, "timings_s": self.timings, "ignored": self.ignored,
                      "events": self.events})

    def save(self, folder: str | Path) -> list[Path]:
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """arbitrate.json, commands.csv, candidates.csv, references.csv, terms.csv, arbitrate.png."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        return [write_json(out / "arbitrate.json", self.to_json()),
                write_csv(out / "commands.csv", _rows(self.commands, "method")),
                write_csv(out / "candidates.csv", _rows(self.candidates, "controller")),
                write_csv(out / "references.csv", self.references.to_dataframe().reset_index()),
                write_csv(out / "terms.csv", self.terms.to_dataframe().reset_index()),
                figure(out / "arbitrate.png", self.draw)]

    def draw(self, new_figure):
        fig, (ax,) = new_figure(1, 1, figsize=(7, 3.2))
        df = _rows(self.candidates, "controller")
        cm = _rows(self.commands, "method")
        labels = [f"{e}:{t}" for e, t in zip(cm["event"], cm["target"])]
        xs = np.arange(len(labels))
        for i, (e, t) in enumerate(zip(cm["event"], cm["target"])):
            sel = df[(df["event"] == e) & (df["target"] == t)]
            ax.scatter(np.full(len(sel), i), sel["value_kw"], marker="o", color="C0", alpha=0.6,
                       label="candidates" if i == 0 else None)
        ax.scatter(xs, cm["command_kw"], marker="*", s=120, color="C3", label="executed")
        ax.set_xticks(xs, labels, rotation=30, fontsize=8)
        ax.set_ylabel("kW")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("candidate and executed commands per event:target", fontsize=10)
        return fig


def _rows(ds: xr.Dataset, key: str) -> pd.DataFrame:
    """A Dataset's table without the combinations of its index that hold nothing."""
    df = ds.to_dataframe().reset_index()
    return df[df[key].notna()].reset_index(drop=True)


def apply_events(dom: ClusterDomain, st: State, events: list[Event], upto: int) -> State:
    """The state after every event at or before step `upto` (loads and PV availability moved)."""
    new = st.copy()
    names = [m.name for m in dom.microgrids]
    for e in events:
        if e.step <= upto:
            j = names.index(e.microgrid)
            if e.kind == "load":
                new.load[j] += e.value
            else:
                new.pv_avail[j] = max(new.pv_avail[j] + e.value, 0.0)
                new.pv[j] = min(new.pv[j], new.pv_avail[j])
    return new


def arbitrate(system, commands: str | Path | list[Command], at: int = 0,
              events: str | Path | list[Event] | None = None, options: Options | None = None) -> Arbitration:
    """Arbitrate each event of `commands` at step `at` of the system (after the disturbances of `events` up to
    that step), on one Projection built once."""
    t0 = time.perf_counter()
    dom = domain(system.ir, at)
    arb = Arbiter(dom, options)
    cmds = read_commands(commands, dom.targets()) if isinstance(commands, (str, Path)) else list(commands)
    evs = read_events(events, [m.name for m in dom.microgrids], system.ir.steps) if isinstance(events, (str, Path)) \
        else list(events or [])
    st = apply_events(dom, initial_state(dom), evs, at)
    t_build = time.perf_counter() - t0
    out_events, crows, krows, rrows, trows = [], [], [], [], []
    for ev in sorted({c.event for c in cmds}):
        d = arb.decide(st, [c for c in cmds if c.event == ev])
        r = respond(dom, d.state)
        out_events.append({"event": ev, "targets": d.targets, "terms": d.terms, "binding": d.binding,
                           "shed_kw": d.shed, "frequency_deviation_hz": r.df.tolist(),
                           "voltage_deviation_pu": r.dv.tolist(), "soc_next": r.soc_next.tolist()})
        for t in d.targets:
            crows.append({"event": ev, "target": t["target"], "method": t["method"],
                          "conflicts": ",".join(sorted({c["class"] for c in t["conflicts"]})) or "none",
                          "fused_kw": np.nan if t["fused_kw"] is None else t["fused_kw"],
                          "command_kw": t["command_kw"]})
            for i, c in enumerate(t["candidates"]):
                krows.append({"event": ev, "target": t["target"], "candidate": i, **c})
        for j, m in enumerate(dom.microgrids):
            rrows.append({"event": ev, "microgrid": m.name, "storage_ref_kw": d.state.eref[j],
                          "pv_kw": d.state.pv[j], "storage_output_kw": r.output[j], "df_hz": r.df[j],
                          "dv_pu": r.dv[j], "soc_next": r.soc_next[j],
                          "shed_kw": sum(v for s, v in zip(dom.sheds, d.state.shed) if s.owner == m.name)})
        for k, v in d.terms.items():
            trows.append({"event": ev, "term": k, "value": v, "active": v > 1e-9})
    ds = lambda rows, idx: xr.Dataset.from_dataframe(pd.DataFrame(rows).set_index(idx))  # noqa: E731
    return Arbitration(ds(crows, ["event", "target"]), ds(krows, ["event", "target", "candidate"]),
                       ds(rrows, ["event", "microgrid"]), ds(trows, ["event", "term"]), out_events, at,
                       {"build": round(t_build, 4), "arbitrate": round(time.perf_counter() - t0, 4)},
                       system.ir.main_file, arb.proj.builds, arb.proj.solves, list(dom.ignored))
