"""Interchange capability (paper 001, docs/capability.md): per microgrid and step, the range of its tie power that
it can hold within a cost tolerance of its own economic dispatch (the prediction, PIC), corrected by the network
into the largest box of ranges that every point of which the whole system can serve at once, within the
network's voltage, current and reserve limits and every microgrid's budget (the correction, AIC); under the
uncertain profiles' error laws, the mean and standard deviation of the band limits by Hong's 2m+1 point estimate.

Each cooperative group of microgrids (studies/capability_model.py) is one resident model on an executor worker
(serial or processes, mgdsl/solve/executors.py): one economic dispatch, then 2 solves per tie and step that change
only the objective's costs (hot starts). The correction runs on one resident model of the whole system
(studies/capability_network.py)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..decompose.partition import Part, _sub_ir
from ..diagnostics import Diagnostic, MgdError
from .capability_model import BandModel, Group, add_budget_columns, groups_of, slack_prices
from .output import figure, plain, write_csv, write_json

Progress = Callable[[str], None]
NOTE_EVERY_S = 2.0


def budget(cost: float, tolerance: float) -> float:
    """C* + tolerance |C*|; with a tolerance of 0, 1e-9 (1 + |C*|) more, so that the optimum itself stays feasible
    for HiGHS after rounding."""
    return cost + tolerance * abs(cost) + (1e-9 * (1 + abs(cost)) if tolerance == 0 else 0.0)


def error(code: str, message: str, span=None, label: str = "", help_: str = "", notes=()) -> MgdError:
    return MgdError([Diagnostic(code, message, span, label, notes=list(notes), help=help_)])


# ---------------------------------------------------------------- one group's prediction, on a worker
@dataclass
class CapabilitySpec:
    """What a worker needs to build a group's model: plain data, so it can travel to another process."""

    part: Part
    group: Group
    tolerance: float
    buy: np.ndarray
    sell: np.ndarray
    hours: list[int]
    time_limit: float | None = None
    mip_gap: float | None = None
    hot: bool = True


@dataclass
class GroupAnswer:
    part: str
    status: str                   # of the economic dispatch
    cost: float                   # its optimum (the budget's base)
    schedule: np.ndarray          # (tied, t): the dispatch's tie imports
    dn: np.ndarray                # (tied, hours)
    up: np.ndarray
    solves: int
    seconds: float                # HiGHS time
    build_seconds: float


class CapabilityWorker:
    """Owns the groups' resident models (the executors' worker role: build once, then numbers only)."""

    def __init__(self) -> None:
        self.models: dict[str, tuple[CapabilitySpec, BandModel, float]] = {}

    def build(self, specs: list[CapabilitySpec], steps: int) -> list[str]:
        from ..lower.system import lower_system

        for spec in specs:
            t0 = time.perf_counter()
            low = lower_system(spec.part.ir, local=set(spec.part.owners))
            add_budget_columns(low, [spec.group], spec.buy, spec.sell)
            bm = BandModel(low, [spec.group], spec.time_limit, spec.mip_gap)
            bm.hot = spec.hot
            self.models[spec.part.name] = (spec, bm, time.perf_counter() - t0)
        return [s.part.name for s in specs]

    def solve(self, requests: list[tuple]) -> list[GroupAnswer]:
        return [self._predict(name) for name, *_ in requests]

    def _predict(self, name: str) -> GroupAnswer:
        spec, bm, build = self.models[name]
        order = [bm.tie_names.index(m) for m in spec.group.tied]
        n, hours = len(order), spec.hours
        out, cost = bm.economic()
        steps = bm.tie_cols.shape[1]
        if not out.ok:
            nan = np.full((n, len(hours)), np.nan)
            return GroupAnswer(name, out.status, np.nan, np.full((n, steps), np.nan), nan, nan.copy(), bm.solves,
                               bm.seconds, build)
        c = float(cost[0])
        schedule = bm.ties(out.x)[order]
        bm.set_budgets(np.array([budget(c, spec.tolerance)]))
        dn, up = np.full((n, len(hours)), np.nan), np.full((n, len(hours)), np.nan)
        for i, k in enumerate(order):
            for j, t in enumerate(hours):
                dn[i, j], up[i, j], _ = bm.band(k, t)
        return GroupAnswer(name, out.status, c, schedule, dn, up, bm.solves, bm.seconds, build)


# ---------------------------------------------------------------- the result
@dataclass
class CapabilityResult:
    """`bands`: a Dataset over (microgrid, t) of the tie import (kW, positive when the microgrid buys): `schedule`
    (its economic dispatch), `pic_dn`/`pic_up` (the prediction) and `aic_dn`/`aic_up` (the correction), and with
    the point estimate their `_mean` and `_std`; `groups`: one row per group (members, economic cost, budget,
    status, solves, seconds)."""

    bands: xr.Dataset
    groups: pd.DataFrame
    tolerance: float
    hours: list[int]
    currency: str
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    model: str = ""
    pem: dict | None = None

    @property
    def microgrids(self) -> list[str]:
        return [str(m) for m in self.bands["microgrid"].values]

    def table(self) -> pd.DataFrame:
        """One row per microgrid and step of `hours`: every band limit (kW) and the status of the correction."""
        ds = self.bands.sel(t=self.hours)
        cols = [v for v in ds.data_vars if ds[v].dims == ("microgrid", "t")]
        df = ds[cols].to_dataframe().reset_index()
        return df[["microgrid", "t", *cols]]

    def to_json(self) -> dict:
        pic_w = (self.bands["pic_up"] - self.bands["pic_dn"]).sel(t=self.hours)
        data = {"study": "capability", "model": self.model, "tolerance": self.tolerance, "hours": self.hours,
                "currency": self.currency, "unit": "kW", "sign": "tie import: positive when the microgrid buys",
                "microgrids": self.microgrids, "groups": self.groups.to_dict(orient="records"),
                "pic_width_mean_kw": float(pic_w.mean()) if pic_w.size else None,
                "counts": self.counts, "timings_s": self.timings, "notes": self.notes,
                "bands": self.table().to_dict(orient="records")}
        if "aic_dn" in self.bands:
            aic_w = (self.bands["aic_up"] - self.bands["aic_dn"]).sel(t=self.hours)
            data["aic_width_mean_kw"] = float(aic_w.mean()) if aic_w.size else None
        if self.pem is not None:
            data["pem"] = self.pem
        return plain(data)

    def save(self, folder: str | Path) -> list[Path]:
        """Write the study's folder whole (written beside it and swapped in; E0701..E0703 as for results)."""
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """capability.json, capability.csv, groups.csv, capability.nc and one band_MICROGRID.png per microgrid."""
        from ..files import atomic_write
        from ..results import write_netcdf

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        ds = self.bands.copy()
        ds.attrs = {"tolerance": self.tolerance, "unit": "kW", "sign": "tie import, positive when buying",
                    "model": self.model}
        written = [write_json(out / "capability.json", self.to_json()), write_csv(out / "capability.csv", self.table()),
                   write_csv(out / "groups.csv", self.groups),
                   atomic_write(out / "capability.nc", lambda tmp: write_netcdf(ds, tmp))]
        for mg in self.microgrids:
            written.append(figure(out / f"band_{mg}.png", lambda nf, mg=mg: self.draw(nf, mg)))
        return written

    def draw(self, new_figure, mg: str):
        fig, axes = new_figure(1, 1, figsize=(8, 3.6))
        ax = axes[0]
        ds = self.bands.sel(microgrid=mg, t=self.hours)
        t = np.asarray(self.hours)
        ax.fill_between(t, ds["pic_dn"], ds["pic_up"], step="mid", alpha=0.25, color="C0",
                        label=f"PIC (cost within {100 * self.tolerance:g} %)")
        if "aic_dn" in ds:
            ax.fill_between(t, ds["aic_dn"], ds["aic_up"], step="mid", alpha=0.45, color="C1", label="AIC (network)")
        if "pic_dn_std" in ds:
            for v, style in (("pic_dn", "C0--"), ("pic_up", "C0--")):
                ax.plot(t, ds[f"{v}_mean"] - ds[f"{v}_std"], style, lw=0.8)
                ax.plot(t, ds[f"{v}_mean"] + ds[f"{v}_std"], style, lw=0.8)
        ax.step(t, ds["schedule"], "k-", where="mid", lw=1, label="economic dispatch")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel("t")
        ax.xaxis.get_major_locator().set_params(integer=True)          # steps, not fractions of them
        ax.set_ylabel(f"{mg} tie import (kW)")
        ax.set_title(f"{mg}: interchange capability", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return fig


# ---------------------------------------------------------------- the study
def _hours(ir, hours: Sequence[int] | None) -> list[int]:
    if hours is None:
        return list(range(ir.steps))
    out = []
    for h in hours:
        if int(h) != h or not 0 <= int(h) < ir.steps:
            raise error("E0842", f"t={h} is not within the horizon (t=0 .. t={ir.steps - 1})", None, "",
                        "give steps from 0 to the last, like `--hours 0-5,17`")
        if int(h) not in out:
            out.append(int(h))
    if not out:
        raise error("E0842", "no step to study", None, "", "give steps, like `--hours 0-5,17`")
    return sorted(out)


def _groups(ir) -> list[Group]:
    if not ir.microgrids:
        raise error("E0840", "the system has no microgrids: there is no interchange to study",
                    ir.network.span if ir.network is not None else None,
                    "a network without microgrids" if ir.network is not None else "",
                    "declare microgrids tied to the network: `microgrid mg1 at dn.10 limit 1 MW { ... }`")
    groups = [g for g in groups_of(ir) if g.tied]
    if not groups:
        first = next(iter(ir.microgrids.values()))
        raise error("E0840", "no microgrid is tied to a network: there is no interchange to study", first.span,
                    "not tied to a network", "tie it to a bus: `microgrid NAME at dn.BUS limit 1 MW { ... }`")
    return groups


def _check_tolerance(tolerance: float) -> float:
    if not np.isfinite(tolerance) or tolerance < 0:
        raise error("E0842", f"a cost tolerance of {tolerance}", None, "",
                    "give a non-negative fraction of the economic dispatch's cost: 5% or 0.05")
    return float(tolerance)


def predict(ir, groups: list[Group], tolerance: float, hours: list[int], executor: str = "serial",
            workers: int | None = None, time_limit=None, mip_gap=None, hot: bool = True,
            say: Progress | None = None) -> tuple[list[GroupAnswer], float]:
    """Every group's economic dispatch and bands, on the executor's workers (parallel over groups)."""
    from ..solve.executors import ProcessExecutor, SerialExecutor

    say = say or (lambda _: None)
    buy, sell = slack_prices(ir)
    specs = [CapabilitySpec(Part(g.name, frozenset(g.owners), _sub_ir(ir, frozenset(g.owners), False)), g, tolerance,
                            buy, sell, hours, time_limit, mip_gap, hot) for g in groups]
    if executor == "processes":
        ex = ProcessExecutor(workers)
    elif executor == "serial":
        ex = SerialExecutor()
    else:
        raise error("E0842", f"unknown executor `{executor}`", None, "", "use serial or processes")
    ex.worker_class = CapabilityWorker
    t0 = time.perf_counter()
    try:
        ex.start(specs, ir.steps)
        say(f"built {len(specs)} group model(s) ({executor}); {2 * sum(len(g.tied) for g in groups) * len(hours)} "
            "band solves")
        answers = ex.solve([(s.part.name,) for s in specs])
    finally:
        ex.close()
    return answers, time.perf_counter() - t0


def _deterministic(ir, tolerance, hours, network, executor, workers, time_limit, mip_gap, hot, range_reserve,
                   say) -> CapabilityResult:
    say = say or (lambda _: None)
    groups = _groups(ir)
    t0 = time.perf_counter()
    answers, predict_s = predict(ir, groups, tolerance, hours, executor, workers, time_limit, mip_gap, hot, say)
    tied = [m for g in groups for m in g.tied]
    steps = np.arange(ir.steps)
    shape = (len(tied), ir.steps)
    data = {k: np.full(shape, np.nan) for k in ("schedule", "pic_dn", "pic_up")}
    rows, notes = [], []
    budgets, i = {}, 0
    for g, a in zip(groups, answers):
        n = len(g.tied)
        data["schedule"][i:i + n] = a.schedule + 0.0          # no -0.0 in the tables
        data["pic_dn"][i:i + n][:, hours] = a.dn
        data["pic_up"][i:i + n][:, hours] = a.up
        i += n
        budgets[g.name] = budget(a.cost, tolerance)
        rows.append({"group": g.name, "members": " ".join(g.owners), "tied": " ".join(g.tied), "status": a.status,
                     "economic_cost": a.cost, "budget": budgets[g.name], "solves": a.solves,
                     "solver_seconds": a.seconds, "build_seconds": a.build_seconds})
        if a.status != "optimal":
            raise error("E0843", f"the economic dispatch of `{g.name}` on its own has no solution ({a.status})",
                        ir.microgrids[g.owners[0]].span, "this microgrid, with its tie priced at the slack",
                        "the prediction starts from each microgrid's own economic dispatch: make it feasible "
                        "(`mgdsl solve` on the whole system reports which limits conflict)")
    coords = {"microgrid": tied, "t": steps}
    ds = xr.Dataset({k: (("microgrid", "t"), v) for k, v in data.items()}, coords=coords)
    solves = sum(a.solves for a in answers)
    timings = {"predict": predict_s, "predict_solver": sum(a.seconds for a in answers),
               "predict_build": sum(a.build_seconds for a in answers)}
    counts = {"groups": len(groups), "microgrids": len(tied), "steps": len(hours), "predict_solves": solves}
    say(f"prediction: {solves} solves in {predict_s:.2f} s")
    if network and ir.network is not None:
        from .capability_network import correct

        t1 = time.perf_counter()
        aic = correct(ir, groups, budgets, ds, hours, time_limit, mip_gap, hot, range_reserve, say)
        timings["correct"] = time.perf_counter() - t1
        ds["aic_dn"] = (("microgrid", "t"), aic.dn)
        ds["aic_up"] = (("microgrid", "t"), aic.up)
        counts.update(aic.counts)
        notes += aic.notes
    timings["total"] = time.perf_counter() - t0
    return CapabilityResult(ds, pd.DataFrame(rows), tolerance, hours, ir.currency, notes, timings, counts,
                            str(ir.main_file))


def capability(system, tolerance: float = 0.05, hours: Sequence[int] | None = None, network: bool = True,
               pem: bool = False, executor: str = "serial", workers: int | None = None,
               time_limit: float | None = None, mip_gap: float | None = None, hot_start: bool = True,
               range_reserve: bool = False, progress: Progress | None = None) -> CapabilityResult:
    """The interchange capability of every tied microgrid at `hours` (default: every step): the prediction within
    `tolerance` (a fraction) of each group's economic dispatch cost and, when `network` and the system has one,
    the network's correction. `pem`: also the mean and standard deviation of the band limits under the uncertain
    profiles' error laws (Hong's 2m+1 scheme, mgdsl/studies/pem.py). `range_reserve`: the network's up and down
    reserve requirements grow by the widest microgrid range of the step (docs/capability.md)."""
    say = progress or (lambda _: None)
    ir = system.ir
    tolerance = _check_tolerance(tolerance)
    steps = _hours(ir, hours)
    _groups(ir)
    result = _deterministic(ir, tolerance, steps, network, executor, workers, time_limit, mip_gap, hot_start,
                            range_reserve, say)
    if pem:
        from .capability_pem import add_point_estimate

        add_point_estimate(system, result, lambda ir_k, quiet: _deterministic(
            ir_k, tolerance, steps, network, executor, workers, time_limit, mip_gap, hot_start, range_reserve,
            quiet), say)
    return result
