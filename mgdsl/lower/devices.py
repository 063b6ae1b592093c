"""Lower all instances of one device template at once: one linopy variable per `var`, one constraint per
declared comparison, port expressions for the carrier balances and cost expressions for the objective."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import InternalError
from ..ir import InstanceIR, TemplateIR
from ..syntax import ast
from .builder import Builder
from .exprs import ExprEvaluator, is_linopy, sub, time_index, to_expr


@dataclass
class PortFlow:
    """A port's injection over (instance, t), and the balance node of each instance."""

    expr: object
    nodes: xr.DataArray          # over the instance dimension: node key per instance
    template: str
    span: object


@dataclass
class LoweredTemplate:
    template: TemplateIR
    instances: list[InstanceIR]
    variables: dict[str, object]
    costs: list[object]          # linopy expressions (or constant DataArrays) over (instance[, t])
    ports: list[PortFlow]
    constants: list[PortFlow] = field(default_factory=list)   # ports whose value has no variable


def node_key(owner: str, bus: int | None, carrier: str) -> str:
    return f"{owner}:{carrier}" if bus is None else f"{owner}:{bus}:{carrier}"


def param_arrays(tpl: TemplateIR, insts: list[InstanceIR], dim: str, steps: int) -> dict[str, object]:
    """Each value parameter as a DataArray over (instance) or, if any instance gives a series, (instance, t)."""
    names = [i.name for i in insts]
    out = {}
    for p in tpl.params.values():
        if p.is_carrier:
            continue
        vals = [i.values[p.name] for i in insts]
        if any(isinstance(v, np.ndarray) for v in vals):
            data = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (steps,)) for v in vals])
            out[p.name] = xr.DataArray(data, coords={dim: names, "t": np.arange(steps)}, dims=(dim, "t"))
        else:
            out[p.name] = xr.DataArray(np.array(vals, dtype=float), coords={dim: names}, dims=(dim,))
    return out


def lower_template(b: Builder, tpl: TemplateIR, insts: list[InstanceIR], steps: int, dt_h: float,
                   network_owners: set[str]) -> LoweredTemplate:
    dim = tpl.name
    names = [i.name for i in insts]
    inst_index = pd.Index(names, name=dim)
    time = pd.RangeIndex(steps, name="t")
    params = param_arrays(tpl, insts, dim, steps)
    variables: dict[str, object] = {}
    lets: dict[str, object] = {}
    initials: dict[str, xr.DataArray] = {}

    def lookup(ref: ast.Ref):
        name = ref.name
        if name in variables:
            return time_index(variables[name], ref.index, initials.get(name), steps)
        if name in params:
            return params[name]
        if name in lets:
            return lets[name]
        raise KeyError(name)

    ev = ExprEvaluator(lookup, dt_h)

    def numeric(e: ast.Expr):
        v = ev.eval(e)
        if isinstance(v, xr.DataArray):
            return v.broadcast_like(xr.DataArray(np.zeros(len(names)), coords={dim: names}, dims=(dim,)))
        return v

    for var in tpl.vars.values():
        coords = [inst_index, time] if var.timed else [inst_index]
        kwargs = {}
        if var.kind == "binary":
            kwargs["binary"] = True
        else:
            kwargs["integer"] = var.kind == "integer"
            kwargs["lower"] = numeric(var.lower) if var.lower is not None else -np.inf
            kwargs["upper"] = numeric(var.upper) if var.upper is not None else np.inf
        variables[var.name] = b.variable(f"{tpl.name}.{var.name}", var.span, f"variable `{var.name}` of {tpl.name}",
                                         dim, coords=coords, **kwargs)

    for name, init in tpl.initials.items():
        value = numeric(init.value)
        if not isinstance(value, xr.DataArray):
            value = xr.DataArray(np.full(len(names), float(value)), coords={dim: names}, dims=(dim,))
        if "t" in value.dims:
            value = value.isel(t=0, drop=True)
        initials[name] = value

    for name, let in tpl.lets.items():
        lets[name] = ev.eval(let.value)

    for c in tpl.constraints:
        if c.is_assertion:
            continue                      # checked per instance when the arguments were bound
        terms = [ev.eval(t) for t in c.stmt.terms]
        pairs = list(zip(terms, c.stmt.ops, terms[1:]))
        for k, (lhs, op, rhs) in enumerate(pairs):
            diff = to_expr(sub(lhs, rhs))
            if not is_linopy(diff):
                continue
            con = diff == 0 if op == "==" else (diff <= 0 if op == "<=" else diff >= 0)
            suffix = f".{k + 1}" if len(pairs) > 1 else ""
            b.constraint(f"{tpl.name}.{c.name}{suffix}", con, c.span, f"constraint `{c.name}` of {tpl.name}", dim)

    ports: list[PortFlow] = []
    constants: list[PortFlow] = []
    for port in tpl.ports:
        flow = to_expr(ev.eval(port.value))
        if port.sign < 0:
            flow = -1 * flow
        if is_linopy(flow) and "t" not in flow.dims:
            flow = flow + xr.DataArray(np.zeros(steps), coords={"t": np.arange(steps)}, dims="t")
        keys = []
        for inst in insts:
            carrier = inst.values[port.carrier] if port.carrier in tpl.params else port.carrier
            if inst.owner in network_owners and carrier not in ("electricity", "reactive"):
                # checking refuses it (SystemChecker.check_network_carriers): reaching here is a bug
                raise InternalError(f"`{inst.name}` in the network injects {carrier}, which the check refuses")
            keys.append(node_key(inst.owner, inst.bus, carrier))
        nodes = xr.DataArray(keys, coords={dim: names}, dims=(dim,), name="node")
        if is_linopy(flow):
            ports.append(PortFlow(flow, nodes, tpl.name, port.span))
        else:
            # A port with no variable in it (e.g. `port electricity -= base`) is a fixed injection: it goes
            # to the right-hand side of the balance instead of being dropped.
            constants.append(PortFlow(_over_instances_and_time(flow, dim, names, steps), nodes, tpl.name,
                                      port.span))

    costs = []
    for cost in tpl.costs:
        value = to_expr(ev.eval(cost.value))
        if is_linopy(value):
            costs.append(value)
        else:
            # a cost without variables still counts (the objective carries it as a constant)
            value = xr.DataArray(value) if not isinstance(value, xr.DataArray) else value
            costs.append(value.broadcast_like(xr.DataArray(np.zeros(len(names)), coords={dim: names}, dims=(dim,))))
    return LoweredTemplate(tpl, insts, variables, costs, ports, constants)


def _over_instances_and_time(value, dim: str, names: list[str], steps: int) -> xr.DataArray:
    """A number or DataArray broadcast to (instance, t)."""
    grid = xr.DataArray(np.zeros((len(names), steps)), coords={dim: names, "t": np.arange(steps)}, dims=(dim, "t"))
    value = value if isinstance(value, xr.DataArray) else xr.DataArray(float(value))
    return (grid + value).transpose(dim, "t")
