"""Spinning reserve in the model: the slack bus's limit, and one row over t per requirement (SystemIR.reserves) of
an owner lowered here, named `reserve.OWNER.DIRECTION` (ReserveRequirementIR.row):

    sum of the owner's device shares (`reserve up += ...` of its electric devices) [+ the slack's headroom]
        >= the requirement (kW, per step)

The slack bus holds reserve when it has a `limit` L (its purchase and sale are then bounded by L): up,
L - (buy - sell); down, buy - sell, plus L when it can sell. These are terms of the purchase and sale, not
variables: the slack's reserve is all its headroom.

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
class Terms:
    """A linear expression over t as arrays: variable labels `vars` (t, terms; -1: no term), `coeffs`, `const` (t)."""

    vars: np.ndarray
    coeffs: np.ndarray
    const: np.ndarray


@dataclass
class LoweredReserve:
    """What results need: each template's shares over (instance, t) per direction (linopy), the rows' names, the
    constant part of each pool's reserve (the slack's limit) and each pool's reserve as Terms."""

    shares: dict[tuple[str, str], object] = field(default_factory=dict)     # (template, direction) -> expr
    rows: dict[tuple[str, str], str] = field(default_factory=dict)          # (owner, direction) -> row name
    offsets: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # constant part of the pool's reserve
    totals: dict[tuple[str, str], Terms] = field(default_factory=dict)      # the pool's reserve over t


def lower_reserves(low) -> LoweredReserve | None:
    """Bound the slack by its limit and add the requirement rows of the owners lowered here (lower/system.py calls
    it). The rows are made from arrays (Builder.constraint_arrays): the shares' variable labels, gathered per pool."""
    ir: SystemIR = low.ir
    b = low.builder
    out = LoweredReserve()
    steps = ir.steps
    time = pd.RangeIndex(steps, name="t")
    net = ir.network
    ln = low.network
    slack: dict[str, Terms] = {}
    if ln is not None and net.slack_limit_kw is not None:
        lim = net.slack_limit_kw
        ln.buy.update(upper=lim)                       # purchase and sale within the limit: bounds, no rows
        buy = ln.buy.labels.values
        if ln.sell is not None:
            ln.sell.update(upper=lim)
            flows = np.stack([buy, ln.sell.labels.values], axis=1)
            sign = np.array([1.0, -1.0])
        else:
            flows, sign = buy[:, None], np.array([1.0])
        imp = np.broadcast_to(sign, flows.shape)
        slack["up"] = Terms(flows, -imp, np.full(steps, lim))
        slack["down"] = Terms(flows, imp.copy(), np.full(steps, lim if ln.sell is not None else 0.0))
    reqs = [r for r in ir.reserves if low.is_local(r.owner)]
    arrays: dict[tuple[str, str], tuple] = {}
    for lt in low.templates.values():
        for d in {r.direction for r in reqs}:
            expr = _template_share(lt, d, steps, ir.dt_h)
            if expr is not None:
                out.shares[lt.template.name, d] = expr
                arrays[lt.template.name, d] = _arrays(expr, lt.template.name, len(lt.instances), steps)
    for req in reqs:
        parts = []
        for (name, d), (V, C, c) in arrays.items():
            if d != req.direction:
                continue
            lt = low.templates[name]
            idx = [k for k, i in enumerate(lt.instances) if i.owner == req.owner and counts_in_pool(lt.template, i)]
            if idx:
                parts.append(Terms(np.moveaxis(V[idx], 0, 1).reshape(steps, -1),
                                   np.moveaxis(C[idx], 0, 1).reshape(steps, -1), c[idx].sum(axis=0)))
        if net is not None and req.owner == net.name and req.direction in slack:
            parts.append(slack[req.direction])
        V = np.concatenate([p.vars for p in parts], axis=1) if parts else np.full((steps, 0), -1)
        C = np.concatenate([p.coeffs for p in parts], axis=1) if parts else np.zeros((steps, 0))
        const = sum((p.const for p in parts), np.zeros(steps))
        if not (V >= 0).any():
            # no variable: nothing to decide (checking refuses a pool with nothing that holds reserve, unless
            # its requirement is 0), but a fixed share below the requirement is an infeasible model
            short = np.flatnonzero(const < req.amount_kw - 1e-9)
            if short.size:
                raise MgdError([Diagnostic(
                    "E0601", f"the model is infeasible: the {req.direction} reserve of `{req.owner}` is fixed at "
                             f"{const[short[0]]:g} kW, below the requirement at t={int(short[0])}", req.span,
                    "required here", help="lower the requirement, or add a device whose reserve can vary")])
            continue
        name = row_name(req.owner, req.direction)
        b.constraint_arrays(name, req.span, f"{req.direction} spinning reserve of `{req.owner}` (its devices' shares"
                            + (" and the slack's headroom" if net is not None and req.owner == net.name else "")
                            + " >= the requirement)", None, [time], V, np.where(V >= 0, C, np.nan), ">=",
                            req.amount_kw - const)
        out.rows[req.owner, req.direction] = name
        out.totals[req.owner, req.direction] = Terms(V, np.where(V >= 0, C, 0.0), const)
        out.offsets[req.owner, req.direction] = const
    return out


def _arrays(expr, dim: str, n: int, steps: int):
    """A share over (instance[, t]) as arrays: labels and coefficients (instance, t, terms), constant (instance, t)."""
    import linopy

    if isinstance(expr, linopy.Variable):
        lab = np.asarray(expr.labels.transpose(dim, ...).values)
        V = np.broadcast_to(lab.reshape(n, -1), (n, steps))[..., None]
        return V, np.ones(V.shape), np.zeros((n, steps))
    if _is_linopy(expr):
        data = expr.data
        V = np.asarray(data.vars.transpose(dim, ..., "_term").values)
        C = np.asarray(data.coeffs.transpose(dim, ..., "_term").values, dtype=float)
        c = np.asarray(data.const.transpose(dim, ...).values, dtype=float)
        k = V.shape[-1]
        return (np.broadcast_to(V.reshape(n, -1, k), (n, steps, k)),
                np.broadcast_to(C.reshape(n, -1, k), (n, steps, k)),
                np.broadcast_to(np.nan_to_num(c).reshape(n, -1), (n, steps)))
    c = np.asarray(expr.transpose(dim, ...).values if hasattr(expr, "transpose") else expr, dtype=float)
    return np.full((n, steps, 1), -1), np.zeros((n, steps, 1)), np.broadcast_to(c.reshape(n, -1), (n, steps))


def pool_solution(low, owner: str, direction: str) -> np.ndarray | None:
    """The reserve a solved model's pool holds per step (kW): its shares and the slack's headroom."""
    terms = low.reserve.totals.get((owner, direction)) if low.reserve is not None else None
    if terms is None:
        return None
    ds = xr.Dataset({"vars": (("t", "_term"), terms.vars), "coeffs": (("t", "_term"), terms.coeffs),
                     "const": (("t",), terms.const)}, coords={"t": np.arange(len(terms.const))})
    import linopy

    return np.asarray(linopy.LinearExpression(ds, low.model).solution.values, dtype=float)


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
        if isinstance(e, ast.Pow):                  # of a parameter (a share is linear)
            return self.eval(e.base) ** int(e.exponent.value)
        if isinstance(e, ast.Call) and e.func in ("max", "min", "mean"):     # of a parameter series
            inner = self.eval(e.args[0].value)
            return getattr(inner, e.func)("t") if hasattr(inner, "dims") and "t" in inner.dims else inner
        raise InternalError(f"cannot lower {type(e).__name__} in a reserve share")


def _is_linopy(x) -> bool:
    from .exprs import is_linopy

    return is_linopy(x)
