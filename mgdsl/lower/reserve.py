"""Spinning reserve in the model: the slack bus's limit, and one row over t per requirement (SystemIR.reserves) of
an owner lowered here, named `reserve.OWNER.DIRECTION` (ReserveRequirementIR.row):

    sum of the owner's device shares (`reserve up += ...` of its electric devices) [+ the slack's headroom]
        >= the requirement (kW, per step)

The slack bus holds reserve when it has a `limit` L: up, L - (buy - sell); down, buy - sell, plus L when it can
sell. These are expressions of the purchase and sale, not variables: the slack's reserve is all its headroom.

A study that changes a requirement in a resident HiGHS model (mgdsl/studies): the rows are
`low.model.constraints[row_name(owner, direction)]` (one per step, `>=`); the lower bound HiGHS holds for each is
the amount less the constant part of the pool's reserve (the slack's L), `LoweredReserve.offsets[owner,
direction]`. `set_requirement(h, low, owner, direction, amount_kw)` does exactly that."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, InternalError, MgdError
from ..ir import ReserveShareIR, SystemIR
from ..sema.reserve import counts_in_pool
from ..syntax import ast

DIRECTIONS = ("up", "down")


def row_name(owner: str, direction: str) -> str:
    """The name of a pool's reserve rows in the linopy model (and in model files and infeasibility reports)."""
    return f"reserve.{owner}.{direction}"


@dataclass
class LoweredReserve:
    """What results need: each template's shares over (instance, t) per direction (the instances that count in
    a pool: electric devices), the slack's reserve over t, and each pool's rows."""

    shares: dict[tuple[str, str], object] = field(default_factory=dict)     # (template, direction) -> expr
    slack: dict[str, object] = field(default_factory=dict)                  # direction -> expr over t
    rows: dict[tuple[str, str], str] = field(default_factory=dict)          # (owner, direction) -> row name
    offsets: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # constant part of the pool's reserve
    totals: dict[tuple[str, str], object] = field(default_factory=dict)     # the pool's reserve over t


def lower_reserves(low) -> LoweredReserve | None:
    """Add the slack's limit and the requirement rows of the owners lowered here (lower/system.py calls it)."""
    ir: SystemIR = low.ir
    b = low.builder
    out = LoweredReserve()
    steps = ir.steps
    time = pd.RangeIndex(steps, name="t")
    net = ir.network
    ln = low.network
    if ln is not None and net.slack_limit_kw is not None:
        lim = net.slack_limit_kw
        b.constraint(f"{net.name}.slack_limit_buy", ln.buy <= lim, net.slack_span, "the slack's limit (purchase)")
        imp = 1 * ln.buy
        if ln.sell is not None:
            b.constraint(f"{net.name}.slack_limit_sell", ln.sell <= lim, net.slack_span, "the slack's limit (sale)")
            imp = ln.buy - ln.sell
        out.slack["up"] = lim - imp
        out.slack["down"] = imp + lim if ln.sell is not None else imp
    reqs = [r for r in ir.reserves if low.is_local(r.owner)]
    wanted = {r.direction for r in reqs}
    for lt in low.templates.values():
        for d in wanted:
            expr = _template_share(lt, d, steps, ir.dt_h)
            if expr is not None:
                out.shares[lt.template.name, d] = expr
    for req in reqs:
        terms = []
        for (name, d), expr in out.shares.items():
            if d != req.direction:
                continue
            lt = low.templates[name]
            members = [i.name for i in lt.instances if i.owner == req.owner and counts_in_pool(lt.template, i)]
            if members:
                terms.append(expr.sel({name: members}).sum(name))
        if net is not None and req.owner == net.name and req.direction in out.slack:
            terms.append(out.slack[req.direction])
        linear = [x for x in terms if _is_linopy(x)]
        fixed = sum((np.broadcast_to(np.asarray(x, dtype=float), (steps,)) for x in terms if not _is_linopy(x)),
                    np.zeros(steps))
        if not linear:
            # no variable: nothing to decide (checking refuses a pool with nothing that holds reserve, unless
            # its requirement is 0), but a fixed share below the requirement is an infeasible model
            short = np.flatnonzero(fixed < req.amount_kw - 1e-9)
            if short.size:
                raise MgdError([Diagnostic(
                    "E0601", f"the model is infeasible: the {req.direction} reserve of `{req.owner}` is fixed at "
                             f"{fixed[short[0]]:g} kW, below the requirement at t={int(short[0])}", req.span,
                    "required here", help="lower the requirement, or add a device whose reserve can vary")])
            continue
        total = linear[0]
        for term in linear[1:]:
            total = total + term
        total = total + xr.DataArray(fixed, coords=[time])
        if "t" not in total.dims:
            total = total + xr.DataArray(np.zeros(steps), coords=[time])
        amount = xr.DataArray(req.amount_kw, coords=[time])
        name = row_name(req.owner, req.direction)
        b.constraint(name, total >= amount, req.span,
                     f"{req.direction} spinning reserve of `{req.owner}` (its devices' shares"
                     + (" and the slack's headroom" if net is not None and req.owner == net.name else "")
                     + " >= the requirement)")
        out.rows[req.owner, req.direction] = name
        out.totals[req.owner, req.direction] = total
        out.offsets[req.owner, req.direction] = np.nan_to_num(np.asarray(total.const.values, dtype=float))
    return out


def set_requirement(h, low, owner: str, direction: str, amount_kw) -> None:
    """Change a pool's requirement (kW, a number or one per step) in a resident HiGHS model built from `low`."""
    from ..highs import row_positions

    name = low.reserve.rows.get((owner, direction)) if low.reserve is not None else None
    if name is None:
        raise InternalError(f"no {direction} reserve requirement of `{owner}` in this model")
    labels = np.asarray(low.model.constraints[name].labels.values)
    rows = row_positions(low.model, labels)
    lower = np.broadcast_to(np.asarray(amount_kw, dtype=float), labels.shape) - low.reserve.offsets[owner, direction]
    keep = rows >= 0
    h.changeRowsBounds(int(keep.sum()), rows[keep], lower[keep], np.full(int(keep.sum()), np.inf))


# ------------------------------------------------------------------ a template's shares
def _template_share(lt, direction: str, steps: int, dt_h: float):
    """The sum of a template's `reserve DIRECTION += ...` over (instance, t), or None when it declares none."""
    shares: list[ReserveShareIR] = [r for r in lt.template.reserves if r.direction == direction]
    if not shares or not lt.instances:
        return None
    ev = _Shares(lt, steps, dt_h)
    total = None
    for r in shares:
        v = ev.eval(r.value)
        v = v if r.sign > 0 else -1 * v
        total = v if total is None else total + v
    if not hasattr(total, "sel"):            # a plain number: one per instance
        total = xr.DataArray(np.full(len(lt.instances), float(total)), coords=[ev.inst])
    return total


class _Shares:
    """Evaluates a share's expression over a template's instances: its variables (lt.variables), parameters and
    lets. Shares are linear in kW (checked), so +, -, * and / by numbers cover them."""

    def __init__(self, lt, steps: int, dt_h: float):
        self.lt, self.steps, self.dt_h = lt, steps, dt_h
        self.dim = lt.template.name
        self.inst = pd.Index([i.name for i in lt.instances], name=self.dim)
        self.cache: dict[str, object] = {}

    def param(self, name: str):
        vals = [i.values[name] for i in self.lt.instances]
        if any(isinstance(v, np.ndarray) for v in vals):
            data = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (self.steps,)) for v in vals])
            return xr.DataArray(data, coords=[self.inst, pd.RangeIndex(self.steps, name="t")])
        return xr.DataArray(np.array(vals, dtype=float), coords=[self.inst])

    def ref(self, e: ast.Ref):
        from .exprs import time_index

        name = e.name
        if name == "dt":
            return self.dt_h
        tpl = self.lt.template
        if name in tpl.vars:
            return time_index(self.lt.variables[name], e.index, None, self.steps)
        if name not in self.cache:
            if name in tpl.params:
                self.cache[name] = self.param(name)
            elif name in tpl.lets:
                self.cache[name] = self.eval(tpl.lets[name].value)
            else:
                raise InternalError(f"`{name}` in a reserve share of {tpl.name}, which checking should refuse")
        return self.cache[name]

    def eval(self, e: ast.Expr):
        if isinstance(e, ast.Quantity):
            from ..sema.units import parse_unit

            return e.value * (parse_unit(e.unit)[0] if e.unit else 1.0)
        if isinstance(e, ast.Ref):
            return self.ref(e)
        if isinstance(e, ast.Neg):
            return -1 * self.eval(e.operand)
        if isinstance(e, ast.BinOp):
            a, c = self.eval(e.left), self.eval(e.right)
            linear = _is_linopy(a) or _is_linopy(c)
            if e.op == "+":
                return c + a if linear and not _is_linopy(a) else a + c
            if e.op == "-":
                return (-1 * c) + a if linear and not _is_linopy(a) else a - c
            if e.op == "*":
                return c * a if linear and not _is_linopy(a) else a * c
            return a / c
        raise InternalError(f"cannot lower {type(e).__name__} in a reserve share")


def _is_linopy(x) -> bool:
    from .exprs import is_linopy

    return is_linopy(x)
