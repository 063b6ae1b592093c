"""A results folder -> one self-contained `report.html`: interactive plotly figures with plotly.js embedded, so the
page opens anywhere without a network.

    write_report("results/example")                    # results/example/report.html
    write_report("results/example", "/tmp/r.html")     # elsewhere (written atomically)
    sections("results/example")                        # the report's sections, for programs and tests

The report reads only the folder: its netCDF files, summary.json and the study files beside them (never the model),
so it can be made again later from an old folder, and a section whose data is absent is left out. Each section is
a function of the folder in SECTIONS that returns a Section or None; a new kind of result (a study that writes its
own files) adds its function there. Files the report understands beyond a solve's (docs/report.md):

    pareto.json        a Pareto front written by `mgdsl pareto` (minimize, bound, units, points, compromise)
    pareto*.csv        a Pareto front: one row per point, one numeric column per objective ("cost [yuan]" or "cost")
    igdt.json          robustness and opportunity curves written by `mgdsl igdt` (results: mode, budget, alpha)
    capability*.csv    capability bands over time: a column t and, per band, NAME_min and NAME_max (NAME optional)
    ac_check.csv       an AC power flow of the dispatch (mgdsl verify): t, bus, vm_ac, vm_model

each in the folder itself or one level below it (`study/`, `pareto/`).
"""
from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .files import atomic_write
from .result_names import TIES

REPORT = "report.html"
_TOL = 1e-6                     # kW: smaller injections are left out of a dispatch
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d"]


# ------------------------------------------------------------------------------------------------ the folder
@dataclass
class Folder:
    """What a results folder holds: summary.json, the datasets of its *.nc files, and its other files."""

    path: Path
    summary: dict
    datasets: dict[str, xr.Dataset]

    @property
    def dt(self) -> float:
        try:
            dt = float(self.summary.get("dt_h", 1.0))
        except (TypeError, ValueError):
            return 1.0
        return dt if dt > 0 else 1.0

    @property
    def currency(self) -> str:
        return str(self.summary.get("currency", ""))

    def files(self, pattern: str) -> list[Path]:
        """Files matching `pattern` in the folder and one level below it, sorted."""
        found = list(self.path.glob(pattern)) + list(self.path.glob(f"*/{pattern}"))
        return sorted(p for p in found if p.is_file() and not p.name.startswith("."))

    def network(self) -> tuple[str, xr.Dataset] | None:
        for name, ds in self.datasets.items():
            if "vm" in ds.data_vars and "bus" in ds.dims:
                return name, ds
        return None

    def templates(self):
        for name, ds in self.datasets.items():
            if "instance" in ds.dims and "owner" in ds.coords:
                yield name, ds


def read_folder(folder: str | Path) -> Folder:
    """Read a results folder written by `mgdsl solve` (raises FileNotFoundError when it is not one)."""
    path = Path(folder)
    summary_file = path / "summary.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{path} is not a results folder (no summary.json)")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    datasets = {}
    for f in sorted(path.glob("*.nc")):
        with xr.open_dataset(f) as ds:
            datasets[f.stem] = ds.load()
    return Folder(path, summary, datasets)


# ------------------------------------------------------------------------------------------------ sections
@dataclass
class Section:
    """One part of the report: a title, an anchor, text (HTML) and plotly figures."""

    id: str
    title: str
    text: str = ""
    figures: list = field(default_factory=list)         # plotly.graph_objects.Figure


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _number(value, unit: str = "") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return str(v)
    text = f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"
    return f"{text} {unit}".strip()


def _hours(folder: Folder, steps: int) -> np.ndarray:
    return np.arange(steps) * folder.dt


def _go():
    import plotly.graph_objects as go

    return go


def _layout(fig, title: str, height: int = 420, **axes):
    fig.update_layout(title={"text": title, "x": 0.01}, height=height, template="plotly_white",
                      margin={"l": 70, "r": 30, "t": 60, "b": 55}, legend={"orientation": "v"}, **axes)
    return fig


def summary_section(folder: Folder) -> Section:
    s = folder.summary
    rows = [("model", s.get("model", "")), ("status", s.get("status", ""))]
    unit = s.get("objective_unit", folder.currency)
    if "objective" in s:
        rows.append((f"objective ({s.get('objective_name', 'cost')})", _number(s["objective"], unit)))
    rows.append(("currency", folder.currency))
    if "steps" in s:
        rows.append(("horizon", f"{s['steps']} steps of {folder.dt:g} h"))
    if s.get("mip_gap") is not None:
        rows.append(("MIP gap", f"{float(s['mip_gap']):.2e}"))
    net = s.get("network") or {}
    if net:
        rows.append(("voltage", f"{net.get('min_voltage_pu', float('nan')):.4f} .. "
                                f"{net.get('max_voltage_pu', float('nan')):.4f} p.u."))
        if "losses_kwh" in net:
            rows.append(("network losses", _number(net["losses_kwh"], "kWh")))
    atc = s.get("atc")
    if isinstance(atc, dict):
        method = str(atc.get("options", {}).get("method", "atc")).upper()
        state = "converged" if atc.get("converged") else "not converged"
        worst = float(atc.get("final_inconsistency_pu", 0))
        rows.append((f"decomposition ({method})",
                     f"{state} after {atc.get('iterations')} iterations, max inconsistency {worst:.2e} p.u."))
    compare = atc.get("compare") if isinstance(atc, dict) else None
    if isinstance(compare, dict) and "relative_gap" in compare:
        rows.append(("centralized objective (--compare)", _number(compare.get("centralized_objective"), unit)))
        rows.append(("gap to the centralized optimum", f"{100 * float(compare['relative_gap']):+.4f} %"))
    text = _table(rows)
    objectives = s.get("objectives") or {}
    if objectives:
        text += "<h3>Objectives</h3>" + _table([(n, _number(o.get("value"), o.get("unit", "")))
                                                for n, o in objectives.items()], ("objective", "value"))
    timings = dict(s.get("timings_s") or {})
    if isinstance(atc, dict):
        timings.update({f"ATC {k.replace('_', ' ')}": v for k, v in (atc.get("time_s") or {}).items()})
    if timings:
        text += "<h3>Timings</h3>" + _table([(k, f"{float(v):.3f} s") for k, v in timings.items()
                                             if isinstance(v, (int, float))], ("part", "time"))
    for note in s.get("notes", []):
        text += f"<p class='note'>note: {html.escape(str(note))}</p>"
    return Section("summary", "Summary", text)


def costs_section(folder: Folder) -> Section | None:
    costs = folder.summary.get("costs") or {}
    if not costs:
        return None
    go = _go()
    names, values = list(costs), [float(v) for v in costs.values()]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=_COLORS[0], text=[_number(v) for v in values],
                           textposition="outside", hovertemplate="%{x}: %{y:,.2f} " + folder.currency))
    _layout(fig, f"Cost per subsystem over the horizon (total {_number(sum(values), folder.currency)})",
            yaxis_title=f"cost ({folder.currency})", xaxis_title="subsystem")
    table = _table([(n, _number(v, folder.currency)) for n, v in zip(names, values)], ("subsystem", "cost"))
    return Section("costs", "Costs per subsystem", table, [fig])


def _owners(folder: Folder) -> list[str]:
    owners = [str(m) for m in folder.summary.get("microgrids", [])]
    for _, ds in folder.templates():
        for o in np.atleast_1d(ds["owner"].values).astype(str):
            if o not in owners:
                owners.append(o)
    return owners


def dispatch_figures(folder: Folder) -> list:
    """One stacked bar chart per owner (microgrid, or the network's own devices) and carrier: each device's
    injection (supply > 0, consumption < 0), the tie-line import for a microgrid's electricity, and what else
    closes the balance (a switch, a coupling) as a residual."""
    go = _go()
    ties = folder.datasets.get(TIES)
    figures = []
    for owner in _owners(folder):
        carriers: dict[str, list[tuple[str, np.ndarray]]] = {}
        steps = 0
        for template, ds in folder.templates():
            owned = np.atleast_1d(ds["owner"].values).astype(str) == owner
            for var in ds.data_vars:
                if not var.endswith("_injection"):
                    continue
                carrier = var[: -len("_injection")]
                for inst in ds["instance"].values[owned]:
                    vals = np.nan_to_num(np.asarray(ds[var].sel(instance=inst).transpose("t").values, dtype=float))
                    steps = len(vals)
                    if np.max(np.abs(vals), initial=0.0) > _TOL:
                        local = str(inst)[len(owner) + 1:] if str(inst).startswith(owner + ".") else str(inst)
                        carriers.setdefault(carrier, []).append((f"{local} ({template})", vals))
        if ties is not None and "microgrid" in ties.dims and owner in [str(m) for m in ties["microgrid"].values]:
            imp = np.nan_to_num(np.asarray(ties["import"].sel(microgrid=owner).transpose("t").values, dtype=float))
            carriers.setdefault("electricity", []).append(("tie-line import", imp))
            steps = len(imp)
        is_network = folder.network() is not None and owner == folder.network()[0]
        for carrier, series in carriers.items():
            unit = "kvar" if carrier == "reactive" else "kW"
            total = np.sum([v for _, v in series], axis=0)
            scale = max(1.0, max(float(np.max(np.abs(v))) for _, v in series))
            if not is_network and np.max(np.abs(total), initial=0.0) > 5e-3 * scale:
                series = series + [("other exchange (switch, coupling)", -total)]
            fig = go.Figure()
            x = _hours(folder, steps)
            for k, (label, vals) in enumerate(series):
                hover = "t=%{x} h: %{y:,.1f} " + unit + f"<extra>{html.escape(label)}</extra>"
                fig.add_trace(go.Bar(x=x, y=vals, name=label, marker_color=_COLORS[k % len(_COLORS)],
                                     hovertemplate=hover))
            what = "devices at the network's buses" if is_network else f"{owner}"
            _layout(fig, f"{what}: {carrier} dispatch (supply > 0, consumption < 0)", barmode="relative",
                    showlegend=True,
                    xaxis_title="time (h)", yaxis_title=f"{carrier} ({unit})")
            fig.update_xaxes(dtick=max(1.0, folder.dt) if steps * folder.dt <= 48 else None)
            fig._mgdsl_id = f"dispatch-{owner}-{carrier}"
            figures.append(fig)
    return figures


def dispatch_section(folder: Folder) -> Section | None:
    figures = dispatch_figures(folder)
    if not figures:
        return None
    return Section("dispatch", "Dispatch per microgrid and carrier",
                   "<p>Each device's injection into its owner's balance, step by step.</p>", figures)


def voltage_section(folder: Folder) -> Section | None:
    found = folder.network()
    if found is None:
        return None
    go = _go()
    name, ds = found
    vm = ds["vm"].transpose("bus", "t")
    z = np.asarray(vm.values, dtype=float)
    buses = [str(b) for b in vm["bus"].values]
    fig = go.Figure(go.Heatmap(z=z, x=_hours(folder, z.shape[1]), y=buses, colorscale="Viridis",
                               colorbar={"title": {"text": "|V| (p.u.)"}},
                               hovertemplate="bus %{y}, t=%{x} h: %{z:.4f} p.u.<extra></extra>"))
    worst = np.unravel_index(int(np.nanargmin(z)), z.shape)
    _layout(fig, f"{name}: voltage magnitude by bus and hour (lowest {z[worst]:.4f} p.u. at bus {buses[worst[0]]}, "
                 f"t={worst[1]})", height=max(420, min(1100, 160 + 9 * len(buses))),
            xaxis_title="time (h)", yaxis_title="bus")
    fig.update_yaxes(type="category")
    figures = [fig]
    if "price" in ds.data_vars:
        price = ds["price"].transpose("bus", "t")
        unit = price.attrs.get("units", f"{folder.currency}/kWh")
        pz = np.asarray(price.values, dtype=float)
        fig = go.Figure(go.Heatmap(z=pz, x=_hours(folder, pz.shape[1]), y=[str(b) for b in price["bus"].values],
                                   colorscale="Cividis", colorbar={"title": {"text": unit}},
                                   hovertemplate="bus %{y}, t=%{x} h: %{z:.4f} " + unit + "<extra></extra>"))
        _layout(fig, f"{name}: nodal price by bus and hour", height=fig.layout.height or 420,
                xaxis_title="time (h)", yaxis_title="bus")
        fig.update_yaxes(type="category")
        figures.append(fig)
    return Section("voltages", "Voltages", "", figures)


def line_currents(ds: xr.Dataset) -> tuple[np.ndarray, str] | None:
    """Line current magnitudes (A) by line and step, from the squared currents (distflow_socp) or from the flows
    and sending-end voltages (lindistflow); None when the folder lacks the base voltage (folders before it)."""
    base_kv = ds.attrs.get("base_kv")
    base_kva = ds.attrs.get("base_kva")
    if not base_kv or not base_kva:
        return None
    if "l" in ds.data_vars:
        i_base = float(base_kva) / (math.sqrt(3) * float(base_kv))
        return np.sqrt(np.clip(np.asarray(ds["l"].transpose("line", "t").values, dtype=float), 0, None)) * i_base, \
            "squared currents"
    p = np.asarray(ds["P"].transpose("line", "t").values, dtype=float)
    q = np.asarray(ds["Q"].transpose("line", "t").values, dtype=float)
    vm = ds["vm"]
    starts = [int(str(name).split("-")[0]) for name in ds["line"].values]
    v_from = np.asarray(vm.sel(bus=starts).transpose("bus", "t").values, dtype=float)
    return np.hypot(p, q) / (math.sqrt(3) * float(base_kv) * np.clip(v_from, 1e-6, None)), "flows and voltages"


def loading_section(folder: Folder) -> Section | None:
    found = folder.network()
    if found is None or "P" not in found[1].data_vars or not found[1].sizes.get("line"):
        return None                                      # no network, or one bus without lines
    go = _go()
    name, ds = found
    lines = [str(x) for x in ds["line"].values]
    hours = _hours(folder, ds.sizes["t"])
    currents = line_currents(ds)
    limits = np.asarray(ds["i_max"].values, dtype=float) if "i_max" in ds.data_vars else np.full(len(lines), np.nan)
    height = max(420, min(1100, 160 + 9 * len(lines)))
    if currents is not None and np.isfinite(limits).any():
        current, _ = currents
        z = current / limits[:, None] * 100
        fig = go.Figure(go.Heatmap(z=z, x=hours, y=lines, colorscale="YlOrRd", zmin=0,
                                   colorbar={"title": {"text": "% of limit"}}, customdata=current,
                                   hovertemplate="line %{y}, t=%{x} h: %{z:.1f} % (%{customdata:.1f} A)"
                                                 "<extra></extra>"))
        title = f"{name}: line loading, current in % of its limit (highest {np.nanmax(z):.1f} %)"
        text = "<p>Lines without a current limit are blank.</p>" if np.isnan(limits).any() else ""
    elif currents is not None:
        current, _ = currents
        z = current
        fig = go.Figure(go.Heatmap(z=z, x=hours, y=lines, colorscale="YlOrRd", zmin=0,
                                   colorbar={"title": {"text": "A"}},
                                   hovertemplate="line %{y}, t=%{x} h: %{z:.1f} A<extra></extra>"))
        title = f"{name}: line current (no line has a limit; highest {np.nanmax(z):.1f} A)"
        text = ""
    else:
        z = np.hypot(np.asarray(ds["P"].transpose("line", "t").values, dtype=float),
                     np.asarray(ds["Q"].transpose("line", "t").values, dtype=float))
        fig = go.Figure(go.Heatmap(z=z, x=hours, y=lines, colorscale="YlOrRd", zmin=0,
                                   colorbar={"title": {"text": "kVA"}},
                                   hovertemplate="line %{y}, t=%{x} h: %{z:,.1f} kVA<extra></extra>"))
        title = f"{name}: apparent power flow by line and hour (this folder has no base voltage for currents)"
        text = ""
    _layout(fig, title, height=height, xaxis_title="time (h)", yaxis_title="line")
    fig.update_yaxes(type="category")
    figures = [fig]
    if "losses" in ds.data_vars:
        losses = np.asarray(ds["losses"].sum("line").values, dtype=float)
        loss_fig = go.Figure(go.Bar(x=hours, y=losses, marker_color=_COLORS[3],
                                    hovertemplate="t=%{x} h: %{y:,.2f} kW<extra></extra>"))
        _layout(loss_fig, f"{name}: active losses per step (total {losses.sum() * folder.dt:,.1f} kWh)",
                xaxis_title="time (h)", yaxis_title="losses (kW)")
        figures.append(loss_fig)
    return Section("loading", "Line loading", text, figures)


def storage_section(folder: Folder) -> Section | None:
    from plotly.subplots import make_subplots

    go = _go()
    stores = [(name, ds) for name, ds in folder.templates() if {"ch", "dis", "e"} <= set(ds.data_vars)]
    if not stores:
        return None
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("stored energy at the end of each step (kWh)", "power dis - ch (kW)"))
    k = 0
    for template, ds in stores:
        for inst in ds["instance"].values:
            sel = ds.sel(instance=inst)
            e = np.asarray(sel["e"].transpose("t").values, dtype=float)
            power = np.asarray((sel["dis"] - sel["ch"]).transpose("t").values, dtype=float)
            color = _COLORS[k % len(_COLORS)]
            label = f"{inst} ({template})"
            fig.add_trace(go.Scatter(x=(np.arange(len(e)) + 1) * folder.dt, y=e, name=label, legendgroup=label,
                                     mode="lines+markers", line={"color": color},
                                     hovertemplate="end of t=%{x} h: %{y:,.1f} kWh<extra>" + html.escape(label)
                                                   + "</extra>"), row=1, col=1)
            fig.add_trace(go.Scatter(x=np.arange(len(power) + 1) * folder.dt, y=np.append(power, power[-1:]),
                                     name=label, legendgroup=label, showlegend=False, mode="lines",
                                     line={"color": color, "shape": "hv"},
                                     hovertemplate="from %{x} h: %{y:,.1f} kW<extra>" + html.escape(label)
                                                   + "</extra>"), row=2, col=1)
            k += 1
    _layout(fig, "Storage: state of charge and power", height=620)
    fig.update_xaxes(title_text="time (h)", row=2, col=1)
    return Section("storage", "Storage", "", [fig])


def convergence_section(folder: Folder) -> Section | None:
    from plotly.subplots import make_subplots

    go = _go()
    atc = folder.summary.get("atc")
    history = atc.get("history") if isinstance(atc, dict) else None
    if not history:
        return None
    k = [int(h.get("iteration", n + 1)) for n, h in enumerate(history)]
    objective = [float(h["objective"]) for h in history]
    inconsistency = [max(abs(float(h["inconsistency_pu"])), 1e-16) for h in history]
    method = str(atc.get("options", {}).get("method", "atc")).upper()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=(f"objective ({folder.summary.get('objective_unit', folder.currency)})",
                                        "largest inconsistency |target - response| (p.u.)"))
    fig.add_trace(go.Scatter(x=k, y=objective, mode="lines+markers", name="objective",
                             line={"color": _COLORS[0]}), row=1, col=1)
    where = [f"{h.get('where', '')} at t={h.get('step', '')}" for h in history]
    fig.add_trace(go.Scatter(x=k, y=inconsistency, mode="lines+markers", name="max inconsistency",
                             line={"color": _COLORS[3]}, customdata=where,
                             hovertemplate="iteration %{x}: %{y:.2e} p.u. (%{customdata})<extra></extra>"),
                  row=2, col=1)
    tol = atc.get("options", {}).get("tolerance")
    if tol:
        fig.add_trace(go.Scatter(x=[k[0], k[-1]], y=[tol, tol], mode="lines", name=f"tolerance {tol:g}",
                                 line={"color": "gray", "dash": "dash"}), row=2, col=1)
    fig.update_yaxes(type="log", row=2, col=1)
    fig.update_xaxes(title_text="iteration", row=2, col=1)
    state = "converged" if atc.get("converged") else "did not converge"
    _layout(fig, f"{method} {state} in {len(history)} iterations", height=620)
    rows = [(n, f"{v:.2e}") for n, v in sorted((atc.get("per_pair_inconsistency_pu") or {}).items(),
                                                 key=lambda kv: -float(kv[1]))]
    text = ("<h3>Final inconsistency per coupling (p.u.)</h3>" + _table(rows, ("coupling", "inconsistency"))
            if rows else "")
    return Section("convergence", f"Convergence ({method})", text, [fig])


_UNIT = re.compile(r"^(.*?)\s*\[(.+)\]\s*$")


def _split_unit(column: str) -> tuple[str, str]:
    m = _UNIT.match(column)
    return (m.group(1), m.group(2)) if m else (column, "")


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _pareto_study_figure(data: dict, rel: Path):
    """The front of `mgdsl pareto` (its pareto.json): the minimized objective against each bounded one (and the
    two bounded ones against each other), points coloured by their smallest fuzzy membership, the compromise
    starred."""
    from plotly.subplots import make_subplots

    go = _go()
    minimize, bound = str(data["minimize"]), [str(b) for b in data.get("bound", [])]
    names = [minimize] + bound
    units = data.get("units") or {}
    points = [p for p in data.get("points", []) if all(_finite(p.get(k)) for k in names)]
    if not points or not bound:
        return None
    pairs = [(b, minimize) for b in bound] + ([(bound[0], bound[1])] if len(bound) == 2 else [])
    fig = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.12)
    label = {k: f"{k} ({units[k]})" if units.get(k) else k for k in names}
    membership = [p.get("min_membership") if _finite(p.get("min_membership")) else None for p in points]
    compromise = (data.get("compromise") or {}).get("point")
    for n, (a, b) in enumerate(pairs, start=1):
        fig.add_trace(go.Scatter(
            x=[p[a] for p in points], y=[p[b] for p in points], mode="markers", name="points", showlegend=n == 1,
            customdata=[p.get("point") for p in points],
            marker={"size": 9, "color": [m if m is not None else 0 for m in membership], "colorscale": "Viridis",
                    "cmin": 0, "cmax": 1, "showscale": n == 1,
                    "colorbar": {"title": {"text": "smallest<br>membership"}}},
            hovertemplate=f"point %{{customdata}}<br>{a}: %{{x:,.6g}}<br>{b}: %{{y:,.6g}}<extra></extra>"),
            row=1, col=n)
        chosen = [p for p in points if compromise is not None and p.get("point") == compromise]
        if chosen:
            fig.add_trace(go.Scatter(x=[chosen[0][a]], y=[chosen[0][b]], mode="markers", name="compromise",
                                     showlegend=n == 1, marker={"symbol": "star", "size": 18, "color": "crimson",
                                                                "line": {"color": "black", "width": 1}}),
                          row=1, col=n)
        fig.update_xaxes(title_text=label[a], row=1, col=n)
        fig.update_yaxes(title_text=label[b], row=1, col=n)
    _layout(fig, f"Pareto front ({rel}): minimize {minimize}, bounded {', '.join(bound)}; {len(points)} points",
            height=480)
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": -0.22}, margin={"b": 90})   # clear of the colour bar
    return fig


def pareto_section(folder: Folder) -> Section | None:
    """Pareto fronts: a study's pareto.json (`mgdsl pareto`), else `pareto*.csv` with one row per point and one
    numeric column per objective."""
    go = _go()
    figures, text = [], ""
    studies = set()
    for f in folder.files("pareto.json"):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("study") != "pareto" or "minimize" not in data:
            continue
        studies.add(f.parent)
        fig = _pareto_study_figure(data, f.parent.relative_to(folder.path))
        if fig is not None:
            figures.append(fig)
        c = data.get("compromise")
        if isinstance(c, dict) and isinstance(c.get("values"), dict):
            units = data.get("units") or {}
            text += (f"<p>Compromise of {html.escape(str(f.parent.relative_to(folder.path)))} (point "
                     f"{html.escape(str(c.get('point')))}, smallest membership "
                     f"{float(c.get('min_membership', float('nan'))):.3f}): "
                     + ", ".join(f"{html.escape(k)} {_number(v, units.get(k, ''))}" for k, v in c["values"].items())
                     + "</p>")
    files = [f for f in folder.files("pareto*.csv") if f.parent not in studies]
    if not files and not figures:
        return None
    for f in files:
        table = pd.read_csv(f)
        columns = [c for c in table.columns if c.lower() not in ("point", "k", "index", "status", "epsilon")
                   and pd.api.types.is_numeric_dtype(table[c])]
        if len(columns) < 2:
            text += f"<p>{html.escape(f.name)}: fewer than two objective columns; not drawn.</p>"
            continue
        rel = f.relative_to(folder.path)
        if len(columns) == 2:
            (xn, xu), (yn, yu) = _split_unit(columns[0]), _split_unit(columns[1])
            ordered = table.sort_values(columns[0])
            fig = go.Figure(go.Scatter(x=ordered[columns[0]], y=ordered[columns[1]], mode="lines+markers",
                                       marker={"size": 8, "color": _COLORS[0]}, name="front",
                                       hovertemplate=f"{xn}: %{{x:,.4g}} {xu}<br>{yn}: %{{y:,.4g}} {yu}"
                                                     "<extra></extra>"))
            _layout(fig, f"Pareto front ({rel}): {len(table)} points", xaxis_title=columns[0],
                    yaxis_title=columns[1])
        else:                                   # every pair of objectives (SVG: no WebGL, which headless lacks)
            from plotly.subplots import make_subplots

            pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1:]]
            cols = min(3, len(pairs))
            rows = -(-len(pairs) // cols)
            fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.09, vertical_spacing=0.14)
            for n, (a, b) in enumerate(pairs):
                fig.add_trace(go.Scatter(x=table[a], y=table[b], mode="markers", showlegend=False,
                                         marker={"size": 7, "color": _COLORS[0]},
                                         hovertemplate=f"{a}: %{{x:,.4g}}<br>{b}: %{{y:,.4g}}<extra></extra>"),
                              row=n // cols + 1, col=n % cols + 1)
                fig.update_xaxes(title_text=a, row=n // cols + 1, col=n % cols + 1)
                fig.update_yaxes(title_text=b, row=n // cols + 1, col=n % cols + 1)
            _layout(fig, f"Pareto front ({rel}): {len(table)} points over {len(columns)} objectives, by pairs",
                    height=340 * rows + 100)
        figures.append(fig)
        text += f"<h3>{html.escape(str(rel))}</h3>" + _table(
            [tuple(_number(v) for v in row) for row in table[columns].itertuples(index=False)], tuple(columns))
    if not figures and not text:
        return None
    return Section("pareto", "Pareto fronts", text, figures)


def capability_section(folder: Folder) -> Section | None:
    """Capability bands (`capability*.csv`): per band, NAME_min and NAME_max over t, NAME (a central line) if given."""
    go = _go()
    files = folder.files("capability*.csv")
    if not files:
        return None
    figures = []
    for f in files:
        table = pd.read_csv(f)
        if "t" not in table.columns:
            continue
        bands = [c[: -len("_min")] for c in table.columns if c.endswith("_min") and c[: -len("_min")] + "_max" in table]
        if not bands:
            continue
        hours = table["t"].to_numpy(dtype=float) * folder.dt
        fig = go.Figure()
        for k, band in enumerate(bands):
            color = _COLORS[k % len(_COLORS)]
            lo, hi = table[f"{band}_min"].to_numpy(dtype=float), table[f"{band}_max"].to_numpy(dtype=float)
            fig.add_trace(go.Scatter(x=hours, y=lo, mode="lines", line={"color": color, "width": 1},
                                     name=f"{band} min", legendgroup=band, showlegend=False))
            fig.add_trace(go.Scatter(x=hours, y=hi, mode="lines", line={"color": color, "width": 1}, fill="tonexty",
                                     name=f"{band} band", legendgroup=band))
            if band in table.columns:
                fig.add_trace(go.Scatter(x=hours, y=table[band].to_numpy(dtype=float), mode="lines",
                                         line={"color": color, "dash": "dash"}, name=band, legendgroup=band))
        _layout(fig, f"Capability bands ({f.relative_to(folder.path)})", xaxis_title="time (h)",
                yaxis_title="value")
        figures.append(fig)
    if not figures:
        return None
    return Section("capability", "Capability bands", "", figures)


def igdt_section(folder: Folder) -> Section | None:
    """Robustness and opportunity curves of `mgdsl igdt` (its igdt.json): the uncertainty radius per budget."""
    go = _go()
    figures = []
    for f in folder.files("igdt.json"):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("study") != "igdt":
            continue
        rows = [r for r in data.get("results", []) if _finite(r.get("budget"))]
        if not rows:
            continue
        fig = go.Figure()
        for k, mode in enumerate(dict.fromkeys(str(r.get("mode")) for r in rows)):
            mine = sorted((r for r in rows if str(r.get("mode")) == mode), key=lambda r: float(r["budget"]))
            fig.add_trace(go.Scatter(
                x=[100 * float(r["budget"]) for r in mine],
                y=[100 * float(r["alpha"]) if _finite(r.get("alpha")) else None for r in mine],
                mode="lines+markers", name=mode, line={"color": _COLORS[k % len(_COLORS)]},
                hovertemplate="budget %{x:.4g} %: radius %{y:.4g} %<extra>" + html.escape(mode) + "</extra>"))
        base = data.get("base_objective")
        _layout(fig, f"IGDT ({f.parent.relative_to(folder.path)}): {', '.join(map(str, data.get('uncertain', [])))}; "
                     f"base {data.get('objective', '')} {_number(base, data.get('unit', ''))}",
                xaxis_title="budget (% of the base objective)", yaxis_title="uncertainty radius (%)")
        figures.append(fig)
    if not figures:
        return None
    return Section("igdt", "Robustness (IGDT)", "", figures)


def ac_check_section(folder: Folder) -> Section | None:
    """An AC power flow of the dispatch (`ac_check.csv`: t, bus, vm_ac, vm_model): the voltage error by bus and hour."""
    go = _go()
    files = folder.files("ac_check.csv")
    if not files:
        return None
    table = pd.read_csv(files[0])
    if not {"t", "bus", "vm_ac", "vm_model"} <= set(table.columns):
        return None
    error = table.assign(err=table["vm_model"] - table["vm_ac"]).pivot(index="bus", columns="t", values="err")
    fig = go.Figure(go.Heatmap(z=error.to_numpy(), x=error.columns.to_numpy() * folder.dt,
                               y=[str(b) for b in error.index], colorscale="RdBu", zmid=0,
                               colorbar={"title": {"text": "p.u."}, "exponentformat": "e"},
                               hovertemplate="bus %{y}, t=%{x} h: %{z:.2e} p.u.<extra></extra>"))
    _layout(fig, f"Voltage of the model minus the AC power flow (largest {np.nanmax(np.abs(error.to_numpy())):.2e} "
                 "p.u.)", height=max(420, min(1100, 160 + 9 * len(error))), xaxis_title="time (h)",
            yaxis_title="bus")
    fig.update_yaxes(type="category")
    text = ""
    summary_file = files[0].parent / "ac_check.json"
    if summary_file.is_file():
        try:
            s = json.loads(summary_file.read_text(encoding="utf-8"))
        except ValueError:
            s = {}
        if "losses_ac_kwh" in s:
            lo, hi = s.get("voltage_limits_pu", [float("nan")] * 2)
            rows = [("losses in AC", _number(s["losses_ac_kwh"], "kWh")),
                    ("losses in the model", _number(s["losses_model_kwh"], "kWh")),
                    ("losses the model misses", _number(s["loss_error_kwh"], "kWh")),
                    ("lowest voltage in AC", f"{s.get('min_voltage_ac_pu', float('nan')):.4f} p.u."),
                    ("largest voltage difference", f"{s.get('max_voltage_difference_pu', float('nan')):.2e} p.u."),
                    (f"steps outside {lo:g} .. {hi:g} p.u. in AC", len(s.get("steps_with_voltage_violations", []))),
                    ("steps with a line above its current limit", len(s.get("steps_with_current_violations", [])))]
            text = (f"<p>An AC power flow of the dispatch step by step (<code>mgdsl verify</code>), under "
                    f"{html.escape(str(s.get('formulation', '')))}.</p>" + _table(rows))
    return Section("ac-check", "AC power flow check", text, [fig])


SECTIONS: list[Callable[[Folder], Section | None]] = [
    summary_section, costs_section, dispatch_section, voltage_section, loading_section, storage_section,
    convergence_section, pareto_section, igdt_section, capability_section, ac_check_section,
]


def sections(folder: str | Path | Folder) -> list[Section]:
    """The report's sections for a results folder, in order; those whose data is absent are left out."""
    data = folder if isinstance(folder, Folder) else read_folder(folder)
    return [s for s in (make(data) for make in SECTIONS) if s is not None]


# ------------------------------------------------------------------------------------------------ the page
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }
header { background: #1f3b57; color: white; padding: 14px 24px; }
header h1 { margin: 0; font-size: 1.4em; }
header p { margin: 4px 0 0; opacity: 0.85; }
nav { padding: 8px 24px; background: #eef2f6; position: sticky; top: 0; z-index: 10; }
nav a { margin-right: 16px; color: #1f3b57; text-decoration: none; }
main { padding: 0 24px 40px; max-width: 1400px; }
section { margin-top: 28px; }
h2 { border-bottom: 2px solid #1f3b57; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #ccd; padding: 3px 10px; text-align: left; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
th { background: #eef2f6; }
.figure { margin: 12px 0 24px; }
.note { color: #8a5a00; }
"""


def report_html(folder: str | Path | Folder) -> str:
    """The whole page: plotly.js once in the head, then each section's text and figures."""
    import plotly
    from plotly.offline import get_plotlyjs

    data = folder if isinstance(folder, Folder) else read_folder(folder)
    parts = sections(data)
    s = data.summary
    title = f"mgdsl report: {s.get('model', data.path.name)}"
    subtitle = f"{s.get('status', '')}" + (f", objective {_number(s['objective'], s.get('objective_unit', ''))}"
                                           if "objective" in s else "")
    nav = "".join(f"<a href='#{p.id}'>{html.escape(p.title)}</a>" for p in parts)
    body = []
    n = 0
    for p in parts:
        body.append(f"<section id='{p.id}'><h2>{html.escape(p.title)}</h2>{p.text}")
        for fig in p.figures:
            n += 1
            div = getattr(fig, "_mgdsl_id", f"{p.id}-{n}")
            div = re.sub(r"[^A-Za-z0-9_-]", "_", div)
            body.append("<div class='figure'>" + fig.to_html(
                full_html=False, include_plotlyjs=False, div_id=f"fig-{div}",
                config={"displaylogo": False, "responsive": True}) + "</div>")
        body.append("</section>")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script type='text/javascript'>/* plotly.js {plotly.__version__}, embedded */{get_plotlyjs()}</script>"
            f"</head><body><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(body)}</main></body></html>\n")


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the results folder `folder` to `out` (default: folder/report.html), atomically."""
    page = report_html(folder)
    target = Path(out) if out is not None else Path(folder) / REPORT
    return atomic_write(target, lambda p: Path(p).write_text(page, encoding="utf-8"))
