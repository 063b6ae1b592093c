"""Results -> PNG figures: every function takes data and a path, writes one PNG atomically and returns its path.

Data is a `mgdsl.results.Results`, an ATCRun (its `.results` are used), a mapping of dataset name ->
xarray.Dataset, or a results directory written by `mgdsl solve` (its `*.nc` files). Figures are drawn on
matplotlib's Agg canvas without pyplot, so no global backend or figure state is touched. Time is in hours:
step t covers [t dt, (t + 1) dt) with dt from the results' summary (1 h when unknown).

    power_balance(results, "mg1", "balance_mg1.png")       stacked device injections + tie-line import
    voltage_heatmap(results, "dn", "voltage.png")          squared voltage by bus and hour
    reactive_compensation(results, "dn", "reactive.png")   reactive output of the network's compensators
    storage(results, "storage.png")                        power (dis - ch) and stored energy
    atc_convergence(history, "convergence.png")            objective and max inconsistency per iteration
    tie_convergence({"tie.mg1": [...]}, "ties.png", [10, 20])  coupling values at given steps per iteration
    purchase_comparison(atc, central, "dn", "purchase.png")    the slack purchase, ATC against centralized
    plot_all(results, "figures/")                          every figure that applies, as a list of paths
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .files import atomic_write
from .result_names import SWITCHES, TIES

__all__ = ["power_balance", "voltage_heatmap", "reactive_compensation", "storage", "atc_convergence",
           "tie_convergence", "purchase_comparison", "plot_all"]

_DPI = 120
_TOL = 1e-6                     # kW: smaller injections are left out of a balance
_RESIDUAL = 5e-3                # a balance residual below this share of the largest bar is not drawn (an
                                # ATC iterate's tie values are the parent's targets: off by its inconsistency)
_SWITCH_LABEL = "switch exchange (residual)"


# --------------------------------------------------------------------------------------------- data access
def _datasets(results) -> dict[str, xr.Dataset]:
    """Datasets by name from a Results, an ATCRun, a mapping or a results directory."""
    if hasattr(results, "results") and not hasattr(results, "datasets"):      # an ATCRun
        results = results.results
    if hasattr(results, "datasets"):
        return dict(results.datasets)
    if isinstance(results, Mapping):
        return dict(results)
    if isinstance(results, (str, os.PathLike)):
        folder = Path(results)
        if not folder.is_dir():
            raise FileNotFoundError(f"no results directory at {folder}")
        out = {}
        for f in sorted(folder.glob("*.nc")):
            with xr.open_dataset(f) as ds:
                out[f.stem] = ds.load()
        return out
    raise TypeError("expected Results, an ATCRun, a mapping of datasets or a results directory, "
                    f"not {type(results).__name__}")


def _summary(results) -> dict:
    if hasattr(results, "results") and not hasattr(results, "datasets"):
        results = results.results
    summary = getattr(results, "summary", None)
    if isinstance(summary, dict):
        return summary
    if isinstance(results, (str, os.PathLike)):
        f = Path(results) / "summary.json"
        if f.is_file():
            import json

            try:
                return json.loads(f.read_text())
            except ValueError:
                return {}
    return {}


def _dt(results) -> float:
    dt = _summary(results).get("dt_h", 1.0)
    try:
        return float(dt) if dt and float(dt) > 0 else 1.0
    except (TypeError, ValueError):
        return 1.0


def _is_network(ds: xr.Dataset) -> bool:
    return "v" in ds.data_vars and "bus" in ds.dims


def _networks(data: dict[str, xr.Dataset]) -> list[str]:
    return [name for name, ds in data.items() if _is_network(ds)]


def _network(data: dict[str, xr.Dataset], network: str | None) -> tuple[str, xr.Dataset]:
    nets = _networks(data)
    if network is None:
        if len(nets) != 1:
            raise ValueError(f"give the network's name (networks in these results: {nets or 'none'})")
        network = nets[0]
    if network not in nets:
        raise ValueError(f"no network {network!r} in these results (networks: {nets or 'none'})")
    return network, data[network]


def _templates(data: dict[str, xr.Dataset]):
    """(template name, dataset) for every device-template dataset."""
    for name, ds in data.items():
        if "instance" in ds.dims and "owner" in ds.coords:
            yield name, ds


def _owners(data: dict[str, xr.Dataset]) -> list[str]:
    seen: list[str] = []
    for _, ds in _templates(data):
        for o in np.atleast_1d(ds["owner"].values):
            if str(o) not in seen:
                seen.append(str(o))
    return seen


def _microgrids(data: dict[str, xr.Dataset], summary: dict) -> list[str]:
    if summary.get("microgrids"):
        return [str(m) for m in summary["microgrids"]]
    nets = set(_networks(data))
    mgs = [o for o in _owners(data) if o not in nets]
    if TIES in data:
        mgs += [str(m) for m in data[TIES]["microgrid"].values if str(m) not in mgs]
    return mgs


def _local(instance: str, owner: str) -> str:
    prefix = f"{owner}."
    return instance[len(prefix):] if instance.startswith(prefix) else instance


def _carrier_of(ds: xr.Dataset, instance: str) -> str | None:
    """The carrier an instance actually exchanges with (None when it is idle or exchanges with several)."""
    active = [v[: -len("_injection")] for v in ds.data_vars if v.endswith("_injection")
              and float(np.nanmax(np.abs(ds[v].sel(instance=instance).values), initial=0.0)) > _TOL]
    return active[0] if len(active) == 1 else None


# --------------------------------------------------------------------------------------------- drawing
def _figure(rows: int = 1, width: float = 9.0, height: float = 4.5, sharex: bool = True):
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, list(axes)


def new_figure(rows: int = 1, cols: int = 1, figsize=(9.0, 4.5)):
    """A figure and its axes (flat list), drawn with the Agg canvas, for other modules' figures."""
    fig = Figure(figsize=figsize, dpi=_DPI, layout="constrained")     # labels never overlap ticks
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")  # costs as 60,785, not +6.078e4
    return fig, list(axes)


def save_figure(fig: Figure, path) -> Path:
    return _save(fig, path)


def _save(fig: Figure, path) -> Path:
    """Write the figure as a PNG: to a temporary file beside the target, then renamed over it."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        target = target.with_name(target.name + ".png") if not target.suffix else target.with_suffix(".png")
    return atomic_write(target, lambda tmp: fig.savefig(tmp, format="png", dpi=_DPI, bbox_inches="tight"))


def _hour_axis(ax, steps: int, dt: float) -> None:
    end = steps * dt
    ax.set_xlim(0, end)
    if abs(end - round(end)) < 1e-9 and end <= 48:
        stride = 1 if end <= 12 else 2 if end <= 24 else 4
        ax.set_xticks(np.arange(0, round(end) + 1, stride))
    ax.set_xlabel("time (h)")
    ax.grid(True, alpha=0.3)


def _steps(ax, values, dt: float, **kwargs):
    """A piecewise-constant line: value k over [k dt, (k + 1) dt)."""
    values = np.asarray(values, dtype=float)
    x = np.arange(len(values) + 1) * dt
    return ax.step(x, np.append(values, values[-1:]), where="post", **kwargs)


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(k % cmap.N) for k in range(n)]


def _legend_right(ax, fig: Figure, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  frameon=False, **kwargs)


# --------------------------------------------------------------------------------------------- figures
def power_balance(results, microgrid: str, path, carrier: str = "electricity") -> Path:
    """Stacked bars per step of every device's injection into `microgrid`'s `carrier` balance (supply above
    zero, consumption below) and, for electricity, the tie-line import; whatever else closes the balance
    (a switch to a neighbour) is drawn as a residual bar."""
    data = _datasets(results)
    dt = _dt(results)
    column = f"{carrier}_injection"
    series: list[tuple[str, np.ndarray]] = []
    unit = "kvar" if carrier == "reactive" else "kW"
    steps = None
    for template, ds in _templates(data):
        if column not in ds.data_vars:
            continue
        unit = ds[column].attrs.get("units", unit)
        owners = np.atleast_1d(ds["owner"].values).astype(str)
        for inst, owner in zip(ds["instance"].values, owners):
            if owner != microgrid:
                continue
            vals = np.nan_to_num(np.asarray(ds[column].sel(instance=inst).transpose("t").values, dtype=float))
            steps = len(vals)
            if np.max(np.abs(vals), initial=0.0) > _TOL:
                series.append((f"{_local(str(inst), microgrid)} ({template})", vals))
    ties = data.get(TIES)
    has_tie = (carrier == "electricity" and ties is not None and "microgrid" in ties.dims
               and microgrid in [str(m) for m in ties["microgrid"].values])
    if has_tie:
        imp = np.nan_to_num(np.asarray(ties["import"].sel(microgrid=microgrid).transpose("t").values, dtype=float))
        steps = len(imp)
        series.append(("tie-line import", imp))
    if not series:
        owners = _owners(data)
        raise ValueError(f"nothing injects {carrier} in {microgrid!r} (owners in these results: {owners or 'none'})")
    total = np.sum([v for _, v in series], axis=0)
    scale = max(1.0, float(np.max([np.max(np.abs(v)) for _, v in series], initial=0.0)))
    if np.max(np.abs(total), initial=0.0) > _RESIDUAL * scale:
        label = _SWITCH_LABEL if carrier == "electricity" and SWITCHES in data else "residual (unbalanced)"
        series.append((label, -total))

    fig, (ax,) = _figure(width=10.0, height=5.0)
    ax.use_sticky_edges = False        # stacked bars' bottoms would otherwise pin the y limits to the tallest bar
    x = (np.arange(steps) + 0.5) * dt
    up, down = np.zeros(steps), np.zeros(steps)
    for (label, vals), color in zip(series, _colors(len(series))):
        pos, neg = np.clip(vals, 0, None), np.clip(vals, None, 0)
        hatch = "//" if label in (_SWITCH_LABEL, "residual (unbalanced)") else None
        drawn = False
        if np.any(pos > _TOL):
            ax.bar(x, pos, width=0.8 * dt, bottom=up, color=color, label=label, hatch=hatch,
                   edgecolor="white", linewidth=0.3)
            up += pos
            drawn = True
        if np.any(neg < -_TOL):
            ax.bar(x, neg, width=0.8 * dt, bottom=down, color=color, label=None if drawn else label, hatch=hatch,
                   edgecolor="white", linewidth=0.3)
            down += neg
    ax.axhline(0, color="black", linewidth=0.8)
    _hour_axis(ax, steps, dt)
    ax.set_ylabel(f"{carrier} power ({unit})")
    ax.set_title(f"{microgrid}: {carrier} power balance (supply > 0, consumption < 0)")
    _legend_right(ax, fig)
    return _save(fig, path)


def voltage_heatmap(results, network: str | None, path) -> Path:
    """Squared voltage magnitude (p.u.²) by bus and hour as a heatmap with a colorbar."""
    data = _datasets(results)
    dt = _dt(results)
    network, ds = _network(data, network)
    v = ds["v"].transpose("bus", "t")
    buses = [str(b) for b in v["bus"].values]
    steps = v.sizes["t"]
    fig, (ax,) = _figure(width=9.0, height=max(3.5, min(9.0, 1.5 + 0.18 * len(buses))))
    image = ax.imshow(np.asarray(v.values, dtype=float), aspect="auto", origin="lower", cmap="viridis",
                      interpolation="nearest", extent=(0, steps * dt, -0.5, len(buses) - 0.5))
    stride = max(1, int(np.ceil(len(buses) / 20)))
    ax.set_yticks(np.arange(0, len(buses), stride))
    ax.set_yticklabels(buses[::stride])
    _hour_axis(ax, steps, dt)
    ax.grid(False)
    ax.set_ylabel("bus")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("squared voltage v (p.u.²)")
    vm = np.sqrt(np.clip(np.asarray(v.values, dtype=float), 0, None))
    ax.set_title(f"{network}: squared voltage by bus and hour (|V| {np.nanmin(vm):.4f} .. {np.nanmax(vm):.4f} p.u.)")
    return _save(fig, path)


def _reactive_series(data: dict[str, xr.Dataset], network: str) -> list[tuple[str, np.ndarray]]:
    out = []
    for template, ds in _templates(data):
        if "reactive_injection" not in ds.data_vars:
            continue
        owners = np.atleast_1d(ds["owner"].values).astype(str)
        for inst, owner in zip(ds["instance"].values, owners):
            if owner == network:
                vals = np.asarray(ds["reactive_injection"].sel(instance=inst).transpose("t").values, dtype=float)
                out.append((f"{_local(str(inst), network)} ({template})", vals))
    return out


def reactive_compensation(results, network: str | None, path) -> Path:
    """Reactive output (kvar) over the day of every device the network owns that injects reactive power
    (SVCs, capacitor banks and any other template with a reactive port), as step lines."""
    data = _datasets(results)
    dt = _dt(results)
    network, _ = _network(data, network)
    series = _reactive_series(data, network)
    if not series:
        raise ValueError(f"network {network!r} has no reactive compensation (no device with a reactive port)")
    fig, (ax,) = _figure(width=10.0, height=4.5)
    for (label, vals), color in zip(series, _colors(len(series))):
        _steps(ax, vals, dt, label=label, color=color, linewidth=1.6)
    ax.axhline(0, color="black", linewidth=0.8)
    _hour_axis(ax, len(series[0][1]), dt)
    ax.set_ylabel("reactive output (kvar)")
    ax.set_title(f"{network}: reactive power compensation")
    _legend_right(ax, fig)
    return _save(fig, path)


def _storage_sets(data: dict[str, xr.Dataset]) -> list[tuple[str, xr.Dataset]]:
    return [(name, ds) for name, ds in _templates(data) if {"ch", "dis", "e"} <= set(ds.data_vars)]


def storage(results, path, instances: Iterable[str] | None = None) -> Path:
    """Two panels: power dis - ch (kW, > 0 discharging) per step, and stored energy e (kWh) at the end of each
    step, of the given Storage instances (full names like "mg1.es"; default: all of them)."""
    data = _datasets(results)
    dt = _dt(results)
    found: dict[str, tuple[str, xr.Dataset]] = {}
    for template, ds in _storage_sets(data):
        for inst in ds["instance"].values:
            found.setdefault(str(inst), (template, ds))
    if not found:
        raise ValueError("no Storage instances in these results")
    names = list(found) if instances is None else [str(i) for i in instances]
    missing = [n for n in names if n not in found]
    if missing:
        raise KeyError(f"no storage instance {', '.join(map(repr, missing))} (storage instances: {list(found)})")
    if not names:
        raise ValueError("no storage instances to plot")
    fig, (ax_p, ax_e) = _figure(rows=2, width=10.0, height=6.5)
    steps = 0
    for name, color in zip(names, _colors(len(names))):
        template, ds = found[name]
        sel = ds.sel(instance=name)
        power = np.asarray((sel["dis"] - sel["ch"]).transpose("t").values, dtype=float)
        energy = np.asarray(sel["e"].transpose("t").values, dtype=float)
        steps = len(power)
        carrier = _carrier_of(ds, name)
        label = name + (f" ({carrier})" if carrier else "")
        _steps(ax_p, power, dt, color=color, label=label, linewidth=1.6)
        ax_e.plot((np.arange(steps) + 1) * dt, energy, color=color, marker="o", markersize=3, label=label)
    ax_p.axhline(0, color="black", linewidth=0.8)
    ax_p.set_ylabel("power dis - ch (kW)")
    ax_p.set_title("storage: power (> 0 discharging) and stored energy")
    ax_e.set_ylabel("stored energy e (kWh)\nat the end of each step")
    _hour_axis(ax_p, steps, dt)
    ax_p.set_xlabel("")
    _hour_axis(ax_e, steps, dt)
    _legend_right(ax_p, fig)
    return _save(fig, path)


def _history_rows(history) -> list[tuple[int, float, float]]:
    """(iteration, objective, inconsistency p.u.) from summary.json rows, Iteration objects, an ATCRun,
    or a summary / its `atc` part."""
    if hasattr(history, "iterations"):
        history = history.iterations
    if isinstance(history, Mapping):
        history = history.get("atc", history).get("history", [])
    rows = []
    for k, h in enumerate(history, start=1):
        if isinstance(h, Mapping):
            rows.append((int(h.get("iteration", k)), float(h["objective"]), float(h["inconsistency_pu"])))
        else:
            rows.append((int(h.k), float(h.objective), float(h.inconsistency)))
    return rows


def atc_convergence(history, path, tolerance: float | None = None, currency: str | None = None) -> Path:
    """Two panels over the ATC iterations: the objective (in `currency` when given), and the largest
    inconsistency (p.u., log scale; a dashed line at `tolerance` when given). `history`: summary.json's
    `atc.history` rows ({iteration, objective, inconsistency_pu}), Iteration objects, or an ATCRun."""
    rows = _history_rows(history)
    if not rows:
        raise ValueError("an empty ATC history")
    k = np.array([r[0] for r in rows])
    obj = np.array([r[1] for r in rows])
    inc = np.abs(np.array([r[2] for r in rows]))
    positive = inc[inc > 0]
    floor = float(positive.min()) / 10 if positive.size else 1e-12
    fig, (ax_o, ax_i) = _figure(rows=2, width=8.0, height=6.0)
    ax_o.plot(k, obj, marker="o", markersize=3, color="tab:blue")
    ax_o.set_ylabel(f"objective ({currency or 'cost units'})")
    ax_o.set_title(f"ATC convergence: {len(rows)} iterations, final objective {obj[-1]:,.2f}")
    ax_o.grid(True, alpha=0.3)
    ax_o.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax_i.semilogy(k, np.maximum(inc, floor), marker="o", markersize=3, color="tab:red", label="max |target - response|")
    if np.any(inc == 0):
        ax_i.plot(k[inc == 0], np.full(int(np.sum(inc == 0)), floor), linestyle="none", marker="v", markersize=7,
                  color="tab:red", markerfacecolor="white", label=f"exactly 0 (drawn at {floor:.1e})")
    if tolerance is not None and tolerance > 0:
        ax_i.axhline(tolerance, color="gray", linestyle="--", linewidth=1, label=f"tolerance {tolerance:g}")
    ax_i.set_ylabel("max inconsistency (p.u.)")
    ax_i.set_xlabel("iteration")
    ax_i.grid(True, which="both", alpha=0.3)
    ax_i.legend(fontsize="small")
    ax_i.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def tie_convergence(history_targets: Mapping[str, object], path, hours: Iterable[int]) -> Path:
    """One panel per coupling: its value at each of the given steps (indices into t) across iterations.
    `history_targets`: coupling id -> a list of arrays over t, one per iteration (or an iterations x t array);
    kW for ties and switch flows, kvar for their reactive power (`.q`), 0/1 for `.closed` statuses."""
    hours = [int(h) for h in hours]
    if not history_targets:
        raise ValueError("no couplings to plot")
    if not hours:
        raise ValueError("give at least one step to follow")
    names = list(history_targets)
    fig, axes = _figure(rows=len(names), width=8.0, height=max(3.0, 2.4 * len(names)))
    colors = _colors(len(hours))
    for ax, name in zip(axes, names):
        values = np.atleast_2d(np.asarray([np.asarray(a, dtype=float) for a in history_targets[name]]))
        if values.size == 0:
            continue
        its = np.arange(1, values.shape[0] + 1)
        for h, color in zip(hours, colors):
            if not -values.shape[1] <= h < values.shape[1]:
                raise IndexError(f"t={h} is outside t=0 .. {values.shape[1] - 1} for {name!r}")
            ax.plot(its, values[:, h], marker="o", markersize=3, color=color, label=f"t = {h}")
        unit = ("status 0/1" if name.endswith(".closed") else "kvar" if name.endswith(".q")
                else "kW" if name.startswith(("tie.", "switch.")) else "value")     # ids: ir.coupling_id
        ax.set_ylabel(f"{name}\n({unit})")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    axes[0].set_title("coupling values across ATC iterations")
    axes[-1].set_xlabel("iteration")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def purchase_comparison(atc_results, central_results, network: str | None, path) -> Path:
    """The network's purchase at the slack bus (kW) over the day, by ATC and centralized, as two step lines."""
    a_data, c_data = _datasets(atc_results), _datasets(central_results)
    network, a_ds = _network(a_data, network)
    _, c_ds = _network(c_data, network)
    dt = _dt(central_results)
    a_buy = np.asarray(a_ds["buy"].transpose("t").values, dtype=float)
    c_buy = np.asarray(c_ds["buy"].transpose("t").values, dtype=float)
    if a_buy.shape != c_buy.shape:
        raise ValueError(f"the two results have different horizons ({a_buy.size} and {c_buy.size} steps)")
    fig, (ax,) = _figure(width=9.0, height=4.5)
    _steps(ax, c_buy, dt, color="tab:blue", linewidth=2.2, label=f"centralized ({c_buy.sum() * dt:,.1f} kWh)")
    _steps(ax, a_buy, dt, color="tab:orange", linewidth=1.4, linestyle="--",
           label=f"ATC ({a_buy.sum() * dt:,.1f} kWh)")
    _hour_axis(ax, len(c_buy), dt)
    ax.set_ylabel("purchased power (kW)")
    diff = float(np.max(np.abs(a_buy - c_buy), initial=0.0))
    ax.set_title(f"{network}: power bought at the slack bus, ATC vs centralized (max difference {diff:,.1f} kW)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_all(results, out_dir, history=None) -> list[Path]:
    """Every figure that applies to `results`, into `out_dir`: balance_<microgrid>.png (electricity),
    voltage.png, reactive.png, storage.png, and convergence.png when an ATC history is given or is in the
    results' summary (with several networks: voltage_<network>.png and reactive_<network>.png)."""
    data = _datasets(results)
    summary = _summary(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for mg in _microgrids(data, summary):
        try:
            written.append(power_balance(_WithSummary(data, summary), mg, out / f"balance_{mg}.png"))
        except ValueError:                              # nothing electric in this microgrid
            pass
    nets = _networks(data)
    for net in nets:
        suffix = "" if len(nets) == 1 else f"_{net}"
        written.append(voltage_heatmap(_WithSummary(data, summary), net, out / f"voltage{suffix}.png"))
        if _reactive_series(data, net):
            written.append(reactive_compensation(_WithSummary(data, summary), net, out / f"reactive{suffix}.png"))
    if _storage_sets(data):
        written.append(storage(_WithSummary(data, summary), out / "storage.png"))
    if history is None and hasattr(results, "iterations"):
        history = results.iterations
    if history is None and isinstance(summary.get("atc"), Mapping):
        history = summary["atc"].get("history")
    if history is not None and _history_rows(history):
        tol = None
        if isinstance(summary.get("atc"), Mapping):
            tol = summary["atc"].get("options", {}).get("tolerance")
        written.append(atc_convergence(history, out / "convergence.png", tolerance=tol,
                                       currency=summary.get("currency")))
    return written


class _WithSummary(dict):
    """Datasets by name carrying a summary (so that dt reaches the figure functions)."""

    def __init__(self, data: Mapping[str, xr.Dataset], summary: dict):
        super().__init__(data)
        self.summary = summary
