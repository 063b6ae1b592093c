"""Solution -> results named by the .mgd: one xarray Dataset per device template over (instance, t), one
for the network, ties and switches; saved as netCDF and CSV with a JSON summary, the folder written whole."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .files import atomic_write, write_whole
from .ir import BalanceNode
from .lower.exprs import is_linopy
from .lower.formulations import formulation
from .lower.system import Lowered
from .reserve_results import add_reserve
from .result_names import SWITCHES, TIES  # dataset names (also read as mgdsl.results.TIES)
from .sema import units


@dataclass
class Results:
    """What a solve produced: datasets by name, costs by owner, and a summary."""

    datasets: dict[str, xr.Dataset]
    costs: dict[str, float]
    summary: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> xr.Dataset:
        return self.datasets[name]

    @property
    def objective(self) -> float:
        """The minimized objective's value, in its unit (summary `objective_unit`)."""
        return self.summary.get("objective", float("nan"))

    @property
    def objectives(self) -> dict[str, float]:
        """The value of every objective of the system (built-in and declared), each in its unit."""
        return {name: o["value"] for name, o in self.summary.get("objectives", {}).items()}

    def instance_costs(self) -> dict[str, float]:
        """Each device instance's cost over the horizon (COST_TOTAL of its template's dataset), by name."""
        return {str(name): float(value) for ds in self.datasets.values() if COST_TOTAL in ds
                for name, value in zip(ds["instance"].values, ds[COST_TOTAL].values)}

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write the results folder whole (see `write_into` for its files): written beside `out_dir` and swapped
        in at the end, so a reader sees the complete previous folder or the complete new one, never a mix.
        Raises MgdError (E0701..E0703) when the folder cannot be written, is in use or is not a results folder."""
        return write_whole(out_dir, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """Write every dataset as NAME.nc and NAME.csv, and summary.json, into `folder` (a staging folder of
        `mgdsl.files.results_folder`); each file appears whole or not at all."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, ds in self.datasets.items():
            written.append(atomic_write(out / f"{name}.nc", lambda p, ds=ds: write_netcdf(ds, p)))
            written.append(atomic_write(out / f"{name}.csv", lambda p, ds=ds: _to_csv(ds, p)))
        written.append(atomic_write(out / "summary.json",
                               lambda p: Path(p).write_text(json.dumps(self.summary, indent=2) + "\n")))
        return written


def write_netcdf(ds: xr.Dataset, path) -> None:
    """Write `ds` as a netCDF-4 file at `path`: the same bytes as `ds.to_netcdf(path)` (tests/test_results_netcdf.py),
    through xarray's public store API. Why not to_netcdf: it asks dask for its active scheduler before every
    write (to decide whether files must be closed between dask tasks), and with dask installed that imports
    dask and `distributed`, 0.2-0.35 s of a small solve's 1 s, for datasets that hold numpy arrays only.
    The lock is the one to_netcdf takes for netCDF-4 files (netCDF-C and HDF5 are not thread-safe), without
    the per-file lock it adds when a dask scheduler is active."""
    from xarray.backends import NetCDF4DataStore

    try:
        from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK as lock
    except ImportError:                  # moved in another xarray: let xarray choose (and ask dask) again
        lock = None
    store = NetCDF4DataStore.open(str(path), mode="w", format="NETCDF4", lock=lock)
    try:
        ds.dump_to_store(store)
    finally:
        store.close()


# A template's cost over the whole horizon, per instance (netCDF and summary.json `instance_costs`). It is left
# out of the CSV, whose rows are steps: a total repeated on each of them would sum to a wrong number.
COST_TOTAL = "cost_total"


def _to_csv(ds: xr.Dataset, path) -> None:
    """One table per dataset. When every variable's dimensions nest in the widest one (a template's untimed
    variables beside its timed ones) the narrower ones are repeated along the missing dimension; otherwise
    (the network: buses, lines, the slack) each group of variables gets its own rows, blank elsewhere.
    Totals over the horizon (COST_TOTAL) are not per-row values and stay out."""
    ds = ds.drop_vars([COST_TOTAL], errors="ignore")
    def frame_of(names):
        return ds[names].to_dataframe().reset_index()

    groups: dict[tuple, list[str]] = {}
    for name, var in ds.data_vars.items():
        groups.setdefault(tuple(var.dims), []).append(name)
    widest = max(groups, key=len) if groups else ()
    if all(set(d) <= set(widest) for d in groups):
        frame = frame_of(list(ds.data_vars))
    else:
        parts = [frame_of(names) for _, names in sorted(groups.items(), key=lambda kv: -len(kv[0]))]
        frame = pd.concat(parts, ignore_index=True, sort=False)
        dims = [d for d in ds.dims if d in frame.columns]
        extra = [c for c in frame.columns if c not in dims and c not in ds.data_vars]
        frame = frame[dims + extra + [v for v in ds.data_vars if v in frame.columns]]
        for d in dims:                               # bus numbers stay whole numbers beside the blanks
            if np.issubdtype(ds[d].dtype, np.integer):
                frame[d] = frame[d].astype("Int64")
    frame.to_csv(path, index=False)


def _unit(dim) -> str:
    return units.describe(dim)


def collect(low: Lowered) -> Results:
    ir = low.ir
    datasets: dict[str, xr.Dataset] = {}
    costs: dict[str, float] = {owner: 0.0 for owner in ir.owners()}
    for name, lt in low.templates.items():
        dim = name
        data = {}
        for vname, var in lt.variables.items():
            sol = var.solution.rename({dim: "instance"})
            sol.attrs["units"] = _unit(lt.template.vars[vname].dim)
            sol.attrs["kind"] = lt.template.vars[vname].kind
            data[vname] = sol
        # `cost` is what each step costs (the terms written per step); `cost_total` the instance's whole cost,
        # which also holds the terms of no single step (an untimed variable's cost, a `sum(...)` over the horizon)
        inst_cost = np.zeros(len(lt.instances))
        step_cost = np.zeros((len(lt.instances), ir.steps))
        for c in lt.costs:
            sol = c.solution if is_linopy(c) else c          # a cost without variables is a DataArray
            sol = sol.transpose(dim, ...) if dim in sol.dims else sol
            if "t" in sol.dims:
                # a step a t-1 term leaves undefined costs nothing
                per_step = np.nan_to_num(np.asarray(sol.transpose(..., "t").values, dtype=float))
                step_cost += np.broadcast_to(per_step, step_cost.shape)
                inst_cost += np.broadcast_to(per_step.sum(axis=-1), inst_cost.shape)
            else:
                inst_cost += np.broadcast_to(np.nan_to_num(np.asarray(sol.values, dtype=float)), inst_cost.shape)
        names = [i.name for i in lt.instances]
        data["cost"] = xr.DataArray(step_cost, coords={"instance": names, "t": np.arange(ir.steps)},
                                    dims=("instance", "t"),
                                    attrs={"units": ir.currency, "description": "cost at this step"})
        data[COST_TOTAL] = xr.DataArray(inst_cost, coords={"instance": names}, dims="instance",
                                        attrs={"units": ir.currency, "description": "the instance's cost over the "
                                               "horizon, with its terms of no single step"})
        injections: dict[str, np.ndarray] = {}
        for port in list(lt.ports) + list(lt.constants):
            sol = port.expr.solution if is_linopy(port.expr) else port.expr
            if "t" not in sol.dims:
                sol = sol.expand_dims(t=np.arange(ir.steps))
            sol = sol.transpose(dim, "t")
            for k, carrier in enumerate(port.nodes.values):
                carrier = BalanceNode.of(str(carrier)).carrier
                arr = injections.setdefault(carrier, np.zeros((len(lt.instances), ir.steps)))
                arr[k] += np.broadcast_to(np.nan_to_num(np.asarray(sol.values[k], dtype=float)), (ir.steps,))
        for carrier, arr in injections.items():
            data[f"{carrier}_injection"] = xr.DataArray(
                arr, coords={"instance": [i.name for i in lt.instances], "t": np.arange(ir.steps)},
                dims=("instance", "t"), attrs={"units": "kvar" if carrier == "reactive" else "kW"})
        ds = xr.Dataset(data)
        ds = ds.assign_coords(owner=("instance", [i.owner for i in lt.instances]))
        ds.attrs["template"] = name
        datasets[name] = ds
        for inst, c in zip(lt.instances, inst_cost):
            costs[inst.owner] = costs.get(inst.owner, 0.0) + float(c)
    if low.network is not None:
        ln = low.network
        net = ln.net
        v = ln.v.solution
        ds = xr.Dataset({
            "v": v.assign_attrs(units="pu^2", description="squared voltage magnitude"),
            "vm": np.sqrt(v.clip(min=0)).assign_attrs(units="pu", description="voltage magnitude"),
            "vdi": np.abs(np.sqrt(v.clip(min=0)) - 1.0).mean("bus").assign_attrs(
                units="pu", description="voltage deviation index: mean |V - 1| over the buses at this step"),
            "P": ln.P.solution.assign_attrs(units="kW", description="active flow from -> to"),
            "Q": ln.Q.solution.assign_attrs(units="kvar", description="reactive flow from -> to"),
            "buy": ln.buy.solution.assign_attrs(units="kW", description="purchase at the slack bus"),
            "q_slack": ln.q_slack.solution.assign_attrs(units="kvar"),
        })
        if ln.sell is not None:
            ds["sell"] = ln.sell.solution.assign_attrs(units="kW", description="sale at the slack bus")
        ds.attrs["base_kva"] = net.base_kva
        ds.attrs["base_kv"] = net.base_kv
        # what an AC power flow of the dispatch needs besides the flows (mgdsl verify), and the lines' loading
        # (report.html): the slack bus, the voltage limits, each line's impedance and current limit
        ds.attrs.update(slack_bus=net.slack_bus, vmin_pu=net.vmin, vmax_pu=net.vmax, formulation=net.formulation)
        per_line = {"coords": {"line": ds["P"]["line"].values}, "dims": "line"}
        ds["r"] = xr.DataArray([x.r_ohm for x in net.lines], **per_line, attrs={"units": "ohm",
                                                                                 "description": "line resistance"})
        ds["x"] = xr.DataArray([x.x_ohm for x in net.lines], **per_line, attrs={"units": "ohm",
                                                                                 "description": "line reactance"})
        ds["i_max"] = xr.DataArray([x.i_max_a for x in net.lines], **per_line,
                                   attrs={"units": "A", "description": "current limit (NaN: none)"})
        ds.attrs["slack_voltage_pu"] = net.slack_voltage
        formulation(net.formulation).results(ln, ds)        # its own variables: distflow_socp's l, losses, ...
        has_integers = len(low.model.binaries) > 0 or len(low.model.integers) > 0
        dual = low.balance_dual if has_integers else None
        if dual is None and low.balance_name is not None and not has_integers:
            dual = low.model.constraints[low.balance_name].dual
        if dual is not None:
            keys = [f"{net.name}:{b}:electricity" for b in net.buses]
            price = dual.sel(node=keys).values / ir.dt_h
            described = "nodal price (dual of the balance" + (
                ", integers fixed at their optimum)" if has_integers else ")")
            ds["price"] = xr.DataArray(price, coords={"bus": net.buses, "t": np.arange(ir.steps)}, dims=("bus", "t"),
                                       attrs={"units": f"{ir.currency}/kWh", "description": described})
        if ln.cost is not None:
            costs[net.name] = costs.get(net.name, 0.0) + float(ln.cost.solution)
        datasets[net.name] = ds
    if low.ties:
        sol = (low.ties.get("mg") if "mg" in low.ties else low.ties["net"]).solution.rename({"tie": "microgrid"})
        ties = xr.Dataset({"import": sol.assign_attrs(units="kW", description="tie-line import of each microgrid")})
        q = low.ties.get("q_mg", low.ties.get("q_net"))
        if q is not None:            # only where a tie carries Q; 0 at the ties of microgrids without reactive devices
            qs = q.solution.rename({"tie": "microgrid"}).reindex(microgrid=sol.microgrid, fill_value=0.0)
            ties["reactive_import"] = qs.assign_attrs(units="kvar", description="tie-line reactive import")
        datasets[TIES] = ties
    if low.switches:
        sw = xr.Dataset({
            "flow": low.switches["flow"].solution.assign_attrs(units="kW", description="flow from end a to end b"),
            "closed": low.switches["closed"].solution.round().assign_attrs(description="1 when closed"),
        })
        if "q" in low.switches:
            qs = low.switches["q"].solution.reindex(switch=sw.switch, fill_value=0.0)
            sw["q"] = qs.assign_attrs(units="kvar", description="reactive flow from end a to end b")
        datasets[SWITCHES] = sw
    add_reserve(low, datasets)                       # reserve_results.py: devices' reserve, pools' margins
    return Results(datasets, costs)
