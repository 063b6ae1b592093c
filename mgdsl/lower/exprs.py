"""Evaluate checked .mgd expressions into vectorized values, over (instance, t) for a whole template at once.

Inside a template (lower/devices.py) parameters are numpy arrays and decision variables `Lin`s (lower/terms.py:
numpy term arrays, no xarray alignment per operation); only what a Lin cannot hold (a product of variables)
falls back to linopy. Elsewhere (`couple` expressions) values are DataArrays and linopy objects."""
from __future__ import annotations

from collections.abc import Callable

import linopy
import numpy as np
import xarray as xr

from ..syntax import ast
from .terms import Lin

Value = object   # float | xr.DataArray | linopy.Variable | linopy.LinearExpression | QuadraticExpression

LINOPY_TYPES = (linopy.Variable, linopy.LinearExpression, linopy.QuadraticExpression)


def is_linopy(x) -> bool:
    return isinstance(x, LINOPY_TYPES)


def to_expr(x):
    """A Variable as a LinearExpression (so shift/fillna/sum behave alike); other values unchanged."""
    return 1 * x if isinstance(x, linopy.Variable) else x


def _linopy(x):
    return x.to_linopy() if isinstance(x, Lin) else x


def _mixed(a, b) -> bool:
    """A Lin meets something a Lin cannot combine with (a linopy object or a labelled DataArray)."""
    other = b if isinstance(a, Lin) else a
    return isinstance(other, (xr.DataArray, *LINOPY_TYPES))


def add(a, b):
    if isinstance(a, Lin) or isinstance(b, Lin):
        if isinstance(a, Lin) and isinstance(b, Lin):
            return a.plus(b)
        if not _mixed(a, b):
            return a.shift_const(b) if isinstance(a, Lin) else b.shift_const(a)
        a, b = _linopy(a), _linopy(b)
    if not is_linopy(a) and is_linopy(b):
        return b + a
    return a + b


def sub(a, b):
    if isinstance(a, Lin) or isinstance(b, Lin):
        if isinstance(a, Lin) and isinstance(b, Lin):
            return a.plus(-b)
        if not _mixed(a, b):
            return a.shift_const(-np.asarray(b, dtype=float)) if isinstance(a, Lin) else (-b).shift_const(a)
        a, b = _linopy(a), _linopy(b)
    if not is_linopy(a) and is_linopy(b):
        return (-1 * b) + a
    return a - b


def mul(a, b):
    if isinstance(a, Lin) or isinstance(b, Lin):
        if not (isinstance(a, Lin) and isinstance(b, Lin)) and not _mixed(a, b):
            return a.scale(b) if isinstance(a, Lin) else b.scale(a)
        a, b = _linopy(a), _linopy(b)            # a product of variables: quadratic, linopy's
    if not is_linopy(a) and is_linopy(b):
        return b * a
    return a * b


def div(a, b):
    if isinstance(a, Lin) and not isinstance(b, Lin) and not _mixed(a, b):
        return a.scale(1.0 / np.asarray(b, dtype=float))
    return _linopy(a) / _linopy(b)


class ExprEvaluator:
    """Evaluates AST expressions; `lookup(ref)` resolves a name to a value (parameter or variable)."""

    def __init__(self, lookup: Callable[[ast.Ref], Value], dt_h: float, ctx=None):
        self.lookup = lookup
        self.dt_h = dt_h
        self.ctx = ctx          # a template's Context: labels numpy values where linopy takes over

    def labelled(self, a, b):
        """Both operands as linopy takes them once either is a linopy object (a product of variables)."""
        if self.ctx is not None and (is_linopy(a) or is_linopy(b)):
            return self.ctx.labelled(a), self.ctx.labelled(b)
        return a, b

    def eval(self, e: ast.Expr) -> Value:
        if isinstance(e, ast.Quantity):
            from ..sema.units import parse_unit

            scale = parse_unit(e.unit)[0] if e.unit else 1.0
            return e.value * scale
        if isinstance(e, ast.Ref):
            if e.name == "dt":
                return self.dt_h
            return self.lookup(e)
        if isinstance(e, ast.Neg):
            return mul(-1.0, self.eval(e.operand))
        if isinstance(e, ast.BinOp):
            a, b = self.labelled(self.eval(e.left), self.eval(e.right))
            if e.op == "+":
                return add(a, b)
            if e.op == "-":
                return sub(a, b)
            if e.op == "*":
                return mul(a, b)
            return div(a, b)
        if isinstance(e, ast.Pow):
            base = self.eval(e.base)
            k = int(e.exponent.value)
            if isinstance(base, Lin) or is_linopy(base):
                base = _linopy(base)
                return base if k == 1 else to_expr(base) * base
            return base ** k
        if isinstance(e, ast.Call) and e.func in ("sum", "max", "min", "mean"):
            inner = self.eval(e.args[0].value)
            if isinstance(inner, Lin):
                return inner.sum_t() if e.func == "sum" else getattr(inner.to_linopy(), e.func)("t")
            if isinstance(inner, np.ndarray):
                # a parameter over (instance, t) or (instance, 1)
                # over t, a series is one value per instance (a plain array, no longer a Series)
                return np.asarray(getattr(np, e.func)(inner, axis=1, keepdims=True)) if inner.ndim == 2 else inner
            if is_linopy(inner) or isinstance(inner, xr.DataArray):
                if "t" not in inner.dims:
                    return inner
                return getattr(inner, e.func)("t")
            return inner
        raise TypeError(f"internal: cannot lower {type(e).__name__}")


def lin_time_index(lin: Lin, index: ast.Index | None, initial: np.ndarray | None, steps: int) -> Lin:
    """time_index for a template's variable as a Lin; `initial` over (instance, 1)."""
    if index is None or (index.base == "t" and index.offset == 0):
        return lin
    if index.base == "t":
        k = -index.offset
        # x[t-1] at the first step is the initial value (no term there): linopy's shift(t=1).fillna(0) + initial
        return lin.shift(k, initial if k == 1 else None)
    pos = index.offset if index.base == "first" else steps - 1 + index.offset
    return lin.at_step(min(max(pos, 0), steps - 1))


def time_index(var: linopy.Variable, index: ast.Index | None, initial: xr.DataArray | None, steps: int):
    """x, x[t], x[t-k], x[t+k], x[first+k], x[last-k] for a variable over (..., t).

    x[t-1] at the first step is the declared `initial` value if there is one; otherwise that step has no
    value and constraints using it are not written there (the same holds for every t-k and t+k past an end)."""
    if index is None or (index.base == "t" and index.offset == 0):
        return var
    if index.base == "t":
        k = -index.offset                       # x[t-1] is x shifted forward by one step
        shifted = to_expr(var).shift(t=k)
        if k == 1 and initial is not None:
            first = xr.DataArray(np.arange(steps) == 0, coords={"t": np.arange(steps)}, dims="t")
            return shifted.fillna(0) + initial.where(first, 0.0)
        return shifted
    pos = index.offset if index.base == "first" else steps - 1 + index.offset
    pos = min(max(pos, 0), steps - 1)
    return var.isel(t=pos, drop=True)
