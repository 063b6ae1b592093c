"""The supervisory simulation of paper 002 (section 4): step a sequence of events (load steps, PV drops) at the
supervisory interval on the quasi-static cluster model and apply one strategy: `droop` (no coordination: the
grid-forming units carry every mismatch), `oohc` (each controller restores its own microgrid with its own storage
and asks the hydro unit for its own deficit at once), `ccmac` (every controller proposes commands for every
microgrid; the system-level Arbiter fuses or projects them). Deterministic; never prints."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..cluster_domain import ClusterDomain, domain
from ..cluster_state import State, initial_state, respond
from ..diagnostics import Diagnostic, MgdError
from .arbitrate import Arbiter, Options
from .commands import Command, Event, read_commands, read_events
from .output import figure, plain, write_csv, write_json

STRATEGIES = ("ccmac", "oohc", "droop")
RECOVERED = 0.02           # a microgrid has recovered once its mismatch is within 2 % of its grid-forming rating


@dataclass
class Controllers:
    """The candidate-command rules of CCMAC's coordination controllers (paper 002, eq. 22), one gain set each:
    dP_ij = K_p * m_j + K_soc * (SOC_j - mean SOC) * p_rated_j, and a hydro request K_h * (the storage support
    given since the first step), so each controller has its own view and their candidates differ."""

    gains: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0),     # frequency first
                                                     (0.5, 2.0, 1.0),     # SOC first, hydro takes over
                                                     (1.0, 1.0, 0.5))     # balanced

    def candidates(self, dom: ClusterDomain, st: State, m: np.ndarray, support: np.ndarray) -> list[Command]:
        out = []
        avg = st.soc.mean()
        for i, (kp, ks, kh) in enumerate(self.gains):
            name = f"A{i + 1}"
            for j, mg in enumerate(dom.microgrids):
                out.append(Command(0, name, mg.name, kp * m[j] + ks * (st.soc[j] - avg) * mg.p_rated))
            for h in dom.hydros:
                if kh:
                    out.append(Command(0, name, h.name, kh * float(support.sum())))
        return out


@dataclass
class Simulation:
    """Per step and microgrid (`trajectory`) and the strategy's metrics (`metrics`, paper 002's Table 1)."""

    control: str
    trajectory: xr.Dataset
    hydro: xr.Dataset
    metrics: dict
    model: str = ""
    timings: dict = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)   # instances with no supervisory role (cluster_domain.py)

    def to_json(self) -> dict:
        return plain({"study": "simulate", "model": self.model, "control": self.control, "metrics": self.metrics,
                      "timings_s": self.timings, "ignored": self.ignored})

    def save(self, folder: str | Path) -> list[Path]:
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """simulate.json, trajectory.csv, hydro.csv, simulate.png."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        return [write_json(out / "simulate.json", self.to_json()),
                write_csv(out / "trajectory.csv", self.trajectory.to_dataframe().reset_index()),
                write_csv(out / "hydro.csv", self.hydro.to_dataframe().reset_index()),
                figure(out / "simulate.png", self.draw)]

    def draw(self, new_figure):
        fig, axes = new_figure(4, 1, figsize=(7, 8.5))
        tr = self.trajectory
        t = tr["time_s"].values
        for mg in tr["microgrid"].values:
            axes[0].plot(t, tr["df_hz"].sel(microgrid=mg), label=mg)
            axes[1].plot(t, tr["storage_output_kw"].sel(microgrid=mg), label=mg)
            axes[2].plot(t, 100 * tr["soc"].sel(microgrid=mg), label=mg)
        for h in self.hydro["unit"].values:
            axes[3].step(t, self.hydro["p_kw"].sel(unit=h), where="post", label=f"{h} output")
            axes[3].step(t, self.hydro["requested_kw"].sel(unit=h), "--", where="post", label=f"{h} requested")
        for ax, lab in zip(axes, ("frequency deviation (Hz)", "storage output (kW)", "SOC (%)", "hydro (kW)")):
            ax.set_ylabel(lab, fontsize=8)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:      # a cluster without hydro leaves the last panel empty
                ax.legend(fontsize=7)
        axes[0].set_title(f"{self.control}: max |df| {self.metrics['max_df_hz']:.3f} Hz, max SOC deviation "
                          f"{self.metrics['max_soc_deviation_pct']:.1f} %", fontsize=10)
        axes[-1].set_xlabel("time (s)")
        return fig


def _at_event(err: MgdError, k: int, evs: list[Event]) -> MgdError:
    """E0812 of the Arbiter, said of step k and located at the last event before it."""
    last = [e for e in evs if e.step <= k]
    d = err.diagnostics[0]
    return MgdError([Diagnostic(d.code, f"no executable command after t={k}: the cluster cannot stay within its "
                                "limits even with every sheddable load shed", last[-1].span if last else None,
                                "after this event", help=d.help)])


def simulate(system, events: str | Path | list[Event], control: str = "ccmac", options: Options | None = None,
             controllers: Controllers | None = None, commands: str | Path | list[Command] | None = None
             ) -> Simulation:
    """Step the events over the horizon under `control`: loads and PV availability follow the model's profiles step
    by step, with the events' changes on top; the rest of the cluster's data are those of step 0."""
    if control not in STRATEGIES:
        raise MgdError([Diagnostic("E0814", f"unknown control strategy `{control}`", None,
                                   help="choose ccmac, oohc or droop")])
    t0 = time.perf_counter()
    dom = domain(system.ir, 0)
    names = [m.name for m in dom.microgrids]
    evs = read_events(events, names, system.ir.steps) if isinstance(events, (str, Path)) else list(events)
    arbiter = Arbiter(dom, options) if control == "ccmac" else None
    # explicit candidates (a commands file whose `event` is the step they are issued after), CCMAC only
    extra = read_commands(commands, dom.targets()) if isinstance(commands, (str, Path)) else list(commands or [])
    ctrl = controllers or Controllers()
    st = initial_state(dom)
    out0 = respond(dom, st).output.copy()
    rated = np.array([m.p_rated for m in dom.microgrids])
    rows, hrows = [], []
    load_off, pv_off = np.zeros(len(names)), np.zeros(len(names))
    violations, unserved_kwh, critical_kwh = 0, 0.0, 0.0
    requested = st.hydro.copy()
    dt = dom.dt_s
    for k in range(system.ir.steps):
        # the profiles' values at this step, then every event so far on top
        here = domain(system.ir, k) if k else dom
        for e in evs:
            if e.step == k:
                (load_off if e.kind == "load" else pv_off)[names.index(e.microgrid)] += e.value
        st.load = np.array([here.load(j) for j in range(len(names))]) + load_off
        st.pv_avail = np.maximum(np.array([m.pv_avail for m in here.microgrids]) + pv_off, 0.0)
        # without a supervisor PV follows its availability (maximum power point); CCMAC's PV reference holds
        st.pv = np.minimum(st.pv, st.pv_avail) if control == "ccmac" else st.pv_avail.copy()
        r = respond(dom, st)
        critical = np.array([m.critical for m in dom.microgrids]) + np.array(
            [sum(s.base - p for s, p in zip(dom.sheds, st.shed) if s.owner == n) for n in names])
        lost_critical = np.maximum(r.unserved - np.array(
            [sum(s.base - p for s, p in zip(dom.sheds, st.shed) if s.owner == n) for n in names]), 0.0)
        unserved_kwh += float(lost_critical.sum()) * dt / 3600.0
        critical_kwh += float(np.array([m.critical for m in dom.microgrids]).sum()) * dt / 3600.0
        del critical
        for j, n in enumerate(names):
            rows.append({"step": k, "time_s": k * dt, "microgrid": n, "df_hz": r.df[j], "dv_pu": r.dv[j],
                         "storage_ref_kw": st.eref[j], "storage_output_kw": r.output[j], "mismatch_kw": r.mismatch[j],
                         "soc": st.soc[j], "load_kw": st.load[j], "pv_kw": min(st.pv[j], st.pv_avail[j]),
                         "shed_kw": sum(p for s, p in zip(dom.sheds, st.shed) if s.owner == n),
                         "unserved_kw": r.unserved[j]})
        for h, p, q in zip(dom.hydros, st.hydro, requested):
            hrows.append({"step": k, "time_s": k * dt, "unit": h.name, "p_kw": p, "requested_kw": q})
        st.soc = r.soc_next
        # the controllers see this interval's measurements; their references act from the next step
        prev_hydro = st.hydro.copy()
        if control == "oohc":
            st.eref = np.clip(r.output, -rated, rated)           # each restores its own microgrid's frequency
            support = r.output - out0
            requested = np.array([st.hydro[i] + support[names.index(h.owner)] for i, h in enumerate(dom.hydros)])
        elif control == "ccmac":
            cmds = ctrl.candidates(dom, st, r.mismatch, r.output - out0) + [c for c in extra if c.event == k]
            try:
                st = arbiter.decide(st, cmds, prev_hydro).state
            except MgdError as err:
                raise _at_event(err, k, evs) from None
            requested = st.hydro.copy()
        else:
            requested = st.hydro.copy()
        ramp = np.array([h.ramp for h in dom.hydros])
        violations += int(np.sum(np.abs(requested - prev_hydro) > ramp + 1e-6))
        # the unit follows within its ramp whatever it was asked
        st.hydro = np.clip(requested, prev_hydro - ramp, prev_hydro + ramp)
    traj = pd.DataFrame(rows)
    first = min((e.step for e in evs), default=0)
    settled = traj.groupby("step").apply(
        lambda g: bool(np.all(np.abs(g["mismatch_kw"].values) <= RECOVERED * rated)), include_groups=False)
    late = [s for s in settled.index if s >= first and not settled[s]]
    recovery = (max(late) + 1 - first) * dt if late else 0.0
    if late and max(late) == system.ir.steps - 1:
        recovery = float("inf")
    soc = traj.pivot(index="step", columns="microgrid", values="soc")
    metrics = {
        "max_df_hz": float(traj["df_hz"].abs().max()), "max_dv_pu": float(traj["dv_pu"].abs().max()),
        "max_soc_deviation_pct": float(100 * soc.sub(soc.mean(axis=1), axis=0).abs().max(axis=1).max()),
        "hydro_ramp_violations": violations,
        "critical_load_supply_pct": 100.0 * (1 - unserved_kwh / critical_kwh) if critical_kwh else 100.0,
        "recovery_time_s": recovery,
        "energy_shed_kwh": float(traj["shed_kw"].sum() * dt / 3600.0)}
    tds = xr.Dataset.from_dataframe(traj.set_index(["step", "microgrid"]))
    tds["time_s"] = ("step", np.arange(system.ir.steps) * dt)
    hds = xr.Dataset.from_dataframe(pd.DataFrame(hrows).set_index(["step", "unit"])) if hrows else \
        xr.Dataset(coords={"step": np.arange(system.ir.steps), "unit": []})
    return Simulation(control, tds, hds, metrics, system.ir.main_file,
                      {"simulate": round(time.perf_counter() - t0, 4)}, list(dom.ignored))
