"""The value of every objective (ObjectiveIR, mgdsl/ir.py) in a solution, read from its results: the same for a
centralized solve and for the merged results of a decomposed one. Built-ins are measured on the solution:
`cost` is the sum of the owners' costs, `losses` the network's r l over lines and steps, `vdi` the mean of
|V - 1| over buses and steps with V = sqrt(v) exactly (the model minimizes an upper estimate of it within
lower/objectives.py's tolerance)."""
from __future__ import annotations

import numpy as np

from .diagnostics import InternalError
from .ir import BuiltinQuantity, ObjectiveIR, SystemIR, VariableQuantity


def quantity_value(q, ir: SystemIR, results) -> float | np.ndarray:
    """A quantity's value in canonical units: a total, or (a timed variable) its values per step."""
    if isinstance(q, BuiltinQuantity):
        if q.name == "cost":
            return float(sum(results.costs.values()))
        ds = results.datasets[ir.network.name]
        if q.name == "losses":
            return float(ds["losses"].sum()) * ir.dt_h
        if q.name == "vdi":
            return float(np.abs(ds["vm"] - 1.0).mean())
        raise InternalError(f"unknown built-in objective {q.name}")
    if isinstance(q, VariableQuantity):
        values = results.datasets[q.template][q.var].sel(instance=q.instance)
        return np.asarray(values.values, dtype=float)
    raise InternalError(f"unknown objective quantity {type(q).__name__}")


def objective_value(obj: ObjectiveIR, ir: SystemIR, results) -> float:
    """The objective's value in its own unit (`obj.unit`)."""
    total = obj.constant
    for term in obj.terms:
        value = quantity_value(term.quantity, ir, results)
        total += float(np.sum(np.asarray(term.coef) * np.nan_to_num(value)))
    return total / obj.scale


def fictitious_losses(ir: SystemIR, results) -> float | None:
    """distflow_socp: the losses (kWh) that the line flows do not explain, sum of r (l - (P^2 + Q^2) / v_from)
    S_base dt where positive. Near 0 when the relaxation is exact; large when the objective rewards losses (the
    voltage rise of (r^2 + x^2) l lowers `vdi`). None without squared currents."""
    net = ir.network
    if net is None or net.name not in results.datasets or "l" not in results.datasets[net.name]:
        return None
    ds = results.datasets[net.name]
    pos = {b: k for k, b in enumerate(net.buses)}
    v = np.asarray(ds["v"].transpose("bus", "t").values, dtype=float)
    v_from = v[[pos[ln.from_bus] for ln in net.lines]]
    p = np.asarray(ds["P"].transpose("line", "t").values, dtype=float) / net.base_kva
    q = np.asarray(ds["Q"].transpose("line", "t").values, dtype=float) / net.base_kva
    l = np.asarray(ds["l"].transpose("line", "t").values, dtype=float)
    r_pu = np.array([ln.r_ohm / (net.base_kv ** 2 / (net.base_kva / 1000.0)) for ln in net.lines])
    excess = np.maximum(0.0, l - (p * p + q * q) / np.maximum(v_from, 1e-9))
    return float((r_pu[:, None] * excess).sum() * net.base_kva * ir.dt_h)


def add_objectives(ir: SystemIR, results) -> None:
    """Into the summary: the minimized objective's name and unit (its `objective` value, as solved, converted to
    that unit) and the value of every objective the system has, built-in or declared."""
    summary = results.summary
    chosen = ir.objective
    if chosen is not None:
        summary["objective"] = summary.get("objective", float("nan")) / chosen.scale
        summary["objective_name"] = chosen.name
        summary["objective_unit"] = chosen.unit
    else:
        summary["objective_name"] = "cost"
        summary["objective_unit"] = ir.currency
    summary["objectives"] = {name: {"value": objective_value(obj, ir, results), "unit": obj.unit}
                             for name, obj in ir.objectives.items()}
    extra = fictitious_losses(ir, results)
    if extra is None:
        return
    summary.setdefault("network", {})["fictitious_losses_kwh"] = extra
    losses = float(results.datasets[ir.network.name]["losses"].sum()) * ir.dt_h
    if extra > max(1e-3, 1e-3 * losses):
        why = ("minimizing `vdi` rewards the voltage rise of losses that do not flow" if chosen is not None
               and chosen.uses("vdi") else "the objective does not make every loss cost something")
        summary.setdefault("notes", []).append(
            f"the SOC relaxation is not exact at this optimum: {extra:,.4g} kWh of the {losses:,.4g} kWh of losses "
            f"are not explained by the line flows ({why}); its voltages and losses are not physical. Give losses a "
            "small weight in the objective (`minimize vdi + 1e-6 pu/kWh * losses`), or weigh it with cost")
