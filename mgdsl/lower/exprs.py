"""Evaluate checked .mgd expressions into vectorized values: numbers/DataArrays for parameters and
linopy Variables/expressions for decision variables, over (instance, t) for a whole template at once."""
from __future__ import annotations

from collections.abc import Callable

import linopy
import numpy as np
import xarray as xr

from ..syntax import ast

Value = object   # float | xr.DataArray | linopy.Variable | linopy.LinearExpression | QuadraticExpression

LINOPY_TYPES = (linopy.Variable, linopy.LinearExpression, linopy.QuadraticExpression)


def is_linopy(x) -> bool:
    return isinstance(x, LINOPY_TYPES)


def to_expr(x):
    """A Variable as a LinearExpression (so shift/fillna/sum behave alike); other values unchanged."""
    return 1 * x if isinstance(x, linopy.Variable) else x


def add(a, b):
    if not is_linopy(a) and is_linopy(b):
        return b + a
    return a + b


def sub(a, b):
    if not is_linopy(a) and is_linopy(b):
        return (-1 * b) + a
    return a - b


def mul(a, b):
    if not is_linopy(a) and is_linopy(b):
        return b * a
    return a * b


class ExprEvaluator:
    """Evaluates AST expressions; `lookup(ref)` resolves a name to a value (parameter or variable)."""

    def __init__(self, lookup: Callable[[ast.Ref], Value], dt_h: float):
        self.lookup = lookup
        self.dt_h = dt_h

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
            a, b = self.eval(e.left), self.eval(e.right)
            if e.op == "+":
                return add(a, b)
            if e.op == "-":
                return sub(a, b)
            if e.op == "*":
                return mul(a, b)
            return a / b
        if isinstance(e, ast.Pow):
            base = self.eval(e.base)
            k = int(e.exponent.value)
            if is_linopy(base):
                return base if k == 1 else to_expr(base) * base
            return base ** k
        if isinstance(e, ast.Call) and e.func in ("sum", "max", "min", "mean"):
            inner = self.eval(e.args[0].value)
            if is_linopy(inner) or isinstance(inner, xr.DataArray):
                if "t" not in inner.dims:
                    return inner
                return getattr(inner, e.func)("t")
            return inner
        raise TypeError(f"internal: cannot lower {type(e).__name__}")


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
