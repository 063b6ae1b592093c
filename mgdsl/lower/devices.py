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
from .exprs import ExprEvaluator, is_linopy, lin_time_index, mul, sub, to_expr
from .terms import Context, Lin, Series, is_series, linexpr


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


def param_arrays(tpl: TemplateIR, insts: list[InstanceIR], steps: int) -> dict[str, np.ndarray]:
    """Each value parameter as an array over (instance, t) if any instance gives a series, else (instance, 1)."""
    out = {}
    for p in tpl.params.values():
        if p.is_carrier:
            continue
        vals = [i.values[p.name] for i in insts]
        if any(isinstance(v, np.ndarray) for v in vals):
            out[p.name] = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (steps,)) for v in vals]).view(Series)
        else:
            out[p.name] = np.array(vals, dtype=float)[:, None]
    return out


_SIGNS = {"==": "=", "<=": "<=", ">=": ">="}


def lower_template(b: Builder, tpl: TemplateIR, insts: list[InstanceIR], steps: int, dt_h: float,
                   network_owners: set[str]) -> LoweredTemplate:
    """Every declaration is evaluated on numpy arrays (lower/terms.py) and becomes one linopy variable or
    constraint, made once from its finished arrays."""
    dim = tpl.name
    names = [i.name for i in insts]
    n = len(names)
    inst_index = pd.Index(names, name=dim)
    time = pd.RangeIndex(steps, name="t")
    ctx = Context(b.model, inst_index, time)
    params = param_arrays(tpl, insts, steps)
    variables: dict[str, object] = {}
    lins: dict[str, Lin] = {}
    lets: dict[str, object] = {}
    initials: dict[str, np.ndarray] = {}

    def lookup(ref: ast.Ref):
        name = ref.name
        if name in lins:
            return lin_time_index(lins[name], ref.index, initials.get(name), steps)
        if name in params:
            return params[name]
        if name in lets:
            return lets[name]
        raise KeyError(name)

    ev = ExprEvaluator(lookup, dt_h, ctx)

    def bound(e: ast.Expr | None, default: float, timed: bool) -> np.ndarray:
        value = np.asarray(default if e is None else ev.eval(e), dtype=float)
        if value.ndim == 2 and not timed:
            value = value[:, 0]                # a per-instance value of an untimed variable
        return np.broadcast_to(value, (n, steps) if timed else (n,))

    for var in tpl.vars.values():
        coords = [inst_index, time] if var.timed else [inst_index]
        if var.kind == "binary":
            lower, upper = np.zeros(1), np.ones(1)
        else:
            lower, upper = bound(var.lower, -np.inf, var.timed), bound(var.upper, np.inf, var.timed)
        v = b.variable_arrays(f"{tpl.name}.{var.name}", var.span, f"variable `{var.name}` of {tpl.name}", dim,
                              coords, lower, upper, binary=var.kind == "binary", integer=var.kind == "integer")
        variables[var.name] = v
        lins[var.name] = Lin.of_labels(v.labels.values, var.timed, ctx)

    for name, init in tpl.initials.items():
        value = np.asarray(ev.eval(init.value), dtype=float)
        initials[name] = (np.full((n, 1), float(value)) if value.ndim < 2 else value[:, :1]).copy()

    for name, let in tpl.lets.items():
        lets[name] = ev.eval(let.value)

    for c in tpl.constraints:
        if c.is_assertion:
            continue                      # checked per instance when the arguments were bound
        terms = [ev.eval(t) for t in c.stmt.terms]
        pairs = list(zip(terms, c.stmt.ops, terms[1:]))
        for k, (lhs, op, rhs) in enumerate(pairs):
            diff = sub(*ev.labelled(lhs, rhs))
            suffix = f".{k + 1}" if len(pairs) > 1 else ""
            name, desc = f"{tpl.name}.{c.name}{suffix}", f"constraint `{c.name}` of {tpl.name}"
            if isinstance(diff, Lin):
                vars_, coeffs, const = diff.arrays(steps)
                b.constraint_arrays(name, c.span, desc, dim, [inst_index, time] if diff.timed else [inst_index],
                                    vars_, coeffs, _SIGNS[op], -const)
                continue
            diff = to_expr(diff)
            if not is_linopy(diff):
                continue
            con = diff == 0 if op == "==" else (diff <= 0 if op == "<=" else diff >= 0)
            b.constraint(name, con, c.span, desc, dim)

    ports: list[PortFlow] = []
    constants: list[PortFlow] = []
    for port in tpl.ports:
        flow = ev.eval(port.value)
        if port.sign < 0:
            flow = mul(-1.0, flow)
        if isinstance(flow, Lin):
            flow = linexpr(b.model, flow.over_time(steps), inst_index, time)
        elif is_linopy(flow):
            flow = to_expr(flow)
            if "t" not in flow.dims:
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
        value = ev.eval(cost.value)
        if isinstance(value, Lin):
            costs.append(linexpr(b.model, value, inst_index, time))
        elif is_linopy(value):
            costs.append(to_expr(value))
        else:
            # a cost without variables still counts (the objective carries it as a constant)
            timed = is_series(value)
            value = np.asarray(value, dtype=float)
            if timed:
                costs.append(xr.DataArray(np.array(np.broadcast_to(value, (n, steps))),
                                          coords={dim: names, "t": np.arange(steps)}, dims=(dim, "t")))
            else:
                costs.append(xr.DataArray(np.array(np.broadcast_to(value.reshape(-1)[:n] if value.ndim else
                                                                   value, (n,))), coords={dim: names}, dims=(dim,)))
    return LoweredTemplate(tpl, insts, variables, costs, ports, constants)


def _over_instances_and_time(value, dim: str, names: list[str], steps: int) -> xr.DataArray:
    """A number or a parameter array ((instance, t) or (instance, 1)) broadcast to (instance, t)."""
    data = np.array(np.broadcast_to(np.asarray(value, dtype=float), (len(names), steps)))
    return xr.DataArray(data, coords={dim: names, "t": np.arange(steps)}, dims=(dim, "t"))
