"""Verify a result in AC: an AC power flow of the optimized dispatch, step by step, against the model's own network.

    check = verify("results/example")        # reads the results folder only
    check.summary()                          # losses (AC and model), voltages and currents out of their limits
    check.write_into("results/example")      # ac_check.csv (t, bus, vm_ac, vm_model) and ac_check.json

The dispatch fixes what every bus takes from the network: its loads, the output of the devices at it and the tie-line
imports of the microgrids there. The model's own balances give it without the model: at each bus, what its lines
bring in (a line's flow less the losses the formulation takes at its receiving end) less what they carry away. An AC
power flow (mgdsl.acpf, exact for a radial network) with those withdrawals and the slack at its set point (1 p.u.
unless `slack N at V pu`) shows what the
linearized or relaxed network model left out: LinDistFlow neglects losses (so the slack must buy more) and
misjudges voltages; the SOC relaxation is exact where it is tight. The results folder must hold the network's line
impedances (written by mgdsl since the verify command; solve again for an older folder).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .acpf import radial_power_flow
from .files import atomic_write

CSV = "ac_check.csv"
JSON = "ac_check.json"
_TOL = 1e-6                     # p.u. / relative: what counts as out of a limit


class VerifyError(ValueError):
    """A results folder that cannot be checked (no network, or written before it kept the line impedances)."""


@dataclass
class Verification:
    network: str
    formulation: str
    dt: float
    buses: list[int]
    lines: list[str]
    vm_ac: np.ndarray               # (bus, t) p.u.; NaN at a step whose power flow has no solution
    vm_model: np.ndarray            # (bus, t) p.u.
    i_ac: np.ndarray                # (line, t) A
    i_max: np.ndarray               # (line,) A, NaN: no limit
    losses_ac: np.ndarray           # (t,) kW
    losses_model: np.ndarray        # (t,) kW
    vmin: float
    vmax: float
    diverged: list[int] = field(default_factory=list)     # steps without an AC solution
    slack_voltage: float = 1.0      # p.u., the slack's set point in the model and in the AC power flow

    def voltage_violations(self) -> list[tuple[int, int, float, float]]:
        """(t, bus, |V| AC, the limit it passes), by step then bus."""
        out = []
        for t in range(self.vm_ac.shape[1]):
            for k, bus in enumerate(self.buses):
                v = self.vm_ac[k, t]
                if v < self.vmin - _TOL:
                    out.append((t, bus, float(v), self.vmin))
                elif v > self.vmax + _TOL:
                    out.append((t, bus, float(v), self.vmax))
        return out

    def current_violations(self) -> list[tuple[int, str, float, float]]:
        """(t, line, current AC in A, its limit), by step then line."""
        out = []
        for t in range(self.i_ac.shape[1]):
            for k, line in enumerate(self.lines):
                limit = self.i_max[k]
                if math.isfinite(limit) and self.i_ac[k, t] > limit * (1 + _TOL):
                    out.append((t, line, float(self.i_ac[k, t]), float(limit)))
        return out

    def summary(self) -> dict:
        ok = np.isfinite(self.vm_ac)
        diff = np.where(ok, np.abs(self.vm_ac - self.vm_model), np.nan)
        worst = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if ok.any() else None
        low = np.unravel_index(int(np.nanargmin(self.vm_ac)), self.vm_ac.shape) if ok.any() else None
        volts = self.voltage_violations()
        amps = self.current_violations()
        loss_ac = float(np.nansum(self.losses_ac)) * self.dt
        loss_model = float(np.sum(self.losses_model)) * self.dt
        return {
            "network": self.network, "formulation": self.formulation, "steps": int(self.vm_ac.shape[1]),
            "slack_voltage_pu": self.slack_voltage,
            "losses_ac_kwh": loss_ac, "losses_model_kwh": loss_model, "loss_error_kwh": loss_ac - loss_model,
            "max_voltage_difference_pu": float(diff[worst]) if worst else None,
            "max_voltage_difference_at": {"bus": self.buses[worst[0]], "t": int(worst[1])} if worst else None,
            "min_voltage_ac_pu": float(self.vm_ac[low]) if low else None,
            "min_voltage_ac_at": {"bus": self.buses[low[0]], "t": int(low[1])} if low else None,
            "min_voltage_model_pu": float(np.min(self.vm_model)),
            "voltage_limits_pu": [self.vmin, self.vmax],
            "steps_with_voltage_violations": sorted({t for t, *_ in volts}),
            "voltage_violations": [{"t": t, "bus": b, "vm_pu": v, "limit_pu": lim} for t, b, v, lim in volts],
            "steps_with_current_violations": sorted({t for t, *_ in amps}),
            "current_violations": [{"t": t, "line": ln, "current_a": i, "limit_a": lim} for t, ln, i, lim in amps],
            "steps_without_ac_solution": list(self.diverged),
        }

    def frame(self) -> pd.DataFrame:
        """ac_check.csv: one row per bus and step."""
        steps = self.vm_ac.shape[1]
        return pd.DataFrame({"t": np.repeat(np.arange(steps), len(self.buses)),
                             "bus": np.tile(self.buses, steps),
                             "vm_ac": self.vm_ac.T.ravel(), "vm_model": self.vm_model.T.ravel()})

    def write_into(self, folder: str | Path) -> list[Path]:
        out = Path(folder)
        frame, summary = self.frame(), self.summary()
        return [atomic_write(out / CSV, lambda p: frame.to_csv(p, index=False)),
                atomic_write(out / JSON, lambda p: Path(p).write_text(json.dumps(summary, indent=2) + "\n"))]


def _network(folder: Path) -> tuple[str, xr.Dataset, dict]:
    summary_file = folder / "summary.json"
    if not summary_file.is_file():
        raise VerifyError(f"{folder} is not a results folder (no summary.json): write one with `mgdsl solve`")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    for f in sorted(folder.glob("*.nc")):
        with xr.open_dataset(f) as ds:
            if "vm" in ds.data_vars and "bus" in ds.dims and "P" in ds.data_vars:
                return f.stem, ds.load(), summary
    raise VerifyError(f"{folder} holds no network results: only a system with a network can be checked in AC")


def verify(folder: str | Path) -> Verification:
    """The AC power flow of the dispatch in the results folder `folder` (see the module's docstring)."""
    folder = Path(folder)
    name, ds, summary = _network(folder)
    missing = [v for v in ("r", "x") if v not in ds.data_vars] + [a for a in ("base_kv", "slack_bus")
                                                                   if a not in ds.attrs]
    if missing:
        raise VerifyError(f"{folder} was written before mgdsl kept the network's line impedances ({', '.join(missing)} "
                          "missing): solve the model again to check it in AC")
    base_kva, base_kv = float(ds.attrs["base_kva"]), float(ds.attrs["base_kv"])
    z_base = base_kv ** 2 / (base_kva / 1000.0)
    buses = [int(b) for b in ds["bus"].values]
    pos = {b: k for k, b in enumerate(buses)}
    lines = [str(x) for x in ds["line"].values]
    ends = [tuple(int(e) for e in name_.split("-")) for name_ in lines]
    p = np.asarray(ds["P"].transpose("line", "t").values, dtype=float)
    q = np.asarray(ds["Q"].transpose("line", "t").values, dtype=float)
    if "l" in ds.data_vars:          # distflow_socp takes r l and x l at the receiving end
        l_sq = np.asarray(ds["l"].transpose("line", "t").values, dtype=float)
        r_pu = np.asarray(ds["r"].values, dtype=float)[:, None] / z_base
        x_pu = np.asarray(ds["x"].values, dtype=float)[:, None] / z_base
        loss_p, loss_q = r_pu * l_sq * base_kva, x_pu * l_sq * base_kva
    else:
        loss_p = loss_q = np.zeros_like(p)
    steps = p.shape[1]
    take_p, take_q = np.zeros((len(buses), steps)), np.zeros((len(buses), steps))
    for k, (a, b) in enumerate(ends):
        take_p[pos[a]] -= p[k]
        take_q[pos[a]] -= q[k]
        take_p[pos[b]] += p[k] - loss_p[k]
        take_q[pos[b]] += q[k] - loss_q[k]
    slack = int(ds.attrs["slack_bus"])
    take_p[pos[slack]] = take_q[pos[slack]] = 0.0       # held at its set point: what it takes changes no voltage
    v_slack = float(ds.attrs.get("slack_voltage_pu", 1.0))
    line_pu = [(a, b, float(r) / z_base, float(x) / z_base)
               for (a, b), r, x in zip(ends, ds["r"].values, ds["x"].values)]
    vm = np.full((len(buses), steps), np.nan)
    current = np.full((len(lines), steps), np.nan)
    losses = np.full(steps, np.nan)
    diverged = []
    try:
        pf = radial_power_flow(buses, slack, line_pu, take_p / base_kva, take_q / base_kva, v_slack)
        vm, current, losses = pf.vm, pf.i, pf.losses.sum(axis=0)
    except ValueError:                                   # some step has no solution: solve them one by one
        for t in range(steps):
            try:
                pf = radial_power_flow(buses, slack, line_pu, take_p[:, t] / base_kva, take_q[:, t] / base_kva,
                                        v_slack)
            except ValueError:
                diverged.append(t)
                continue
            vm[:, t], current[:, t], losses[t] = pf.vm, pf.i, float(pf.losses.sum())
    i_base = base_kva / (math.sqrt(3) * base_kv)                    # A
    i_max = np.asarray(ds["i_max"].values, dtype=float) if "i_max" in ds.data_vars else np.full(len(lines), np.nan)
    model_losses = (np.asarray(ds["losses"].sum("line").values, dtype=float) if "losses" in ds.data_vars
                    else np.zeros(steps))
    dt = float(summary.get("dt_h", 1.0) or 1.0)
    return Verification(name, str(ds.attrs.get("formulation", "")), dt, buses, lines, vm,
                        np.asarray(ds["vm"].transpose("bus", "t").values, dtype=float), current * i_base, i_max,
                        losses * base_kva, model_losses, float(ds.attrs.get("vmin_pu", 0.0)),
                        float(ds.attrs.get("vmax_pu", math.inf)), diverged, v_slack)
