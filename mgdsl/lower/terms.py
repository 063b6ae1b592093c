"""Linear expressions of one template's instances as plain numpy arrays (`Lin`): the lowering's arithmetic
without xarray alignment, with linopy's "v1" meaning kept exactly; each result becomes a linopy object once.

A Lin is over (instance, t) or (instance,): `vars` (n, T or 1, K) variable labels (-1: no term), `coeffs`
(n, T or 1, K), `const` (n, T or 1). A constant parameter is a numpy array of shape (n, T) (a series) or (n, 1)
(one value per instance), or a float. An entry whose constant is NaN is absent (x[t-1] at the first step, with
no initial value): as in linopy's v1 semantics, adding to an absent entry gives an absent entry, a sum over t
skips it, and a constraint row there is not written. Every instance dimension of a template lowering is the
same, so no alignment by label is needed: arrays broadcast by position.

A horizon of one step cannot tell a series from a per-instance value by shape; such a value counts as
untimed (the rows and numbers are the same, a constraint is then indexed by instance only)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

TERM = "_term"


@dataclass(frozen=True)
class Context:
    """What turns a Lin into a linopy object: the model and the coordinates of its axes."""

    model: object
    inst: pd.Index
    time: pd.Index

    def labelled(self, x):
        """`x` as linopy arithmetic takes it: a Lin as a linopy expression, a parameter array as a DataArray
        (used where a product of variables leaves the numpy path)."""
        if isinstance(x, Lin):
            return x.to_linopy()
        if isinstance(x, np.ndarray) and x.ndim == 2:
            if x.shape[1] > 1:
                return xr.DataArray(x, coords=[self.inst, self.time])
            return xr.DataArray(x[:, 0], coords=[self.inst])
        return x


class Lin:
    __slots__ = ("vars", "coeffs", "const", "timed", "ctx")

    def __init__(self, vars_: np.ndarray, coeffs: np.ndarray, const: np.ndarray, timed: bool, ctx: Context):
        self.vars, self.coeffs, self.const, self.timed, self.ctx = vars_, coeffs, const, timed, ctx

    @classmethod
    def of_labels(cls, labels: np.ndarray, timed: bool, ctx: Context) -> Lin:
        """A variable's labels, (n, T) or (n,), as a Lin with one term per entry."""
        lab = labels if timed else labels[:, None]
        return cls(lab[..., None], np.ones(lab.shape + (1,)), np.zeros(lab.shape), timed, ctx)

    def to_linopy(self):
        """This expression as a linopy LinearExpression (for what only linopy does: products of variables)."""
        return linexpr(self.ctx.model, self, self.ctx.inst, self.ctx.time)

    # ------------------------------------------------------------------------------------------- arithmetic
    def __neg__(self) -> Lin:
        return self.scale(-1.0)

    def scale(self, p) -> Lin:
        """Times a constant (float or (n, T|1) array)."""
        p_arr = np.asarray(p, dtype=float)
        coeffs = self.coeffs * (p_arr[..., None] if p_arr.ndim else p_arr)
        vars_ = self.vars if coeffs.shape == self.vars.shape else np.broadcast_to(self.vars, coeffs.shape)
        return Lin(vars_, coeffs, self.const * p_arr, self.timed or _timed(p_arr), self.ctx)

    def shift_const(self, p) -> Lin:
        """Plus a constant."""
        p_arr = np.asarray(p, dtype=float)
        const = self.const + p_arr
        vars_, coeffs = self.vars, self.coeffs
        if const.shape != self.const.shape:
            vars_ = np.broadcast_to(vars_, const.shape + vars_.shape[2:])
            coeffs = np.broadcast_to(coeffs, const.shape + coeffs.shape[2:])
        return Lin(vars_, coeffs, const, self.timed or _timed(p_arr), self.ctx)

    def plus(self, other: Lin) -> Lin:
        """The sum of two Lins: the terms of both, side by side (self's first, as linopy concatenates them)."""
        const = self.const + other.const
        shape = const.shape
        v = np.concatenate([np.broadcast_to(self.vars, shape + self.vars.shape[2:]),
                            np.broadcast_to(other.vars, shape + other.vars.shape[2:])], axis=-1)
        c = np.concatenate([np.broadcast_to(self.coeffs, shape + self.coeffs.shape[2:]),
                            np.broadcast_to(other.coeffs, shape + other.coeffs.shape[2:])], axis=-1)
        absent = np.isnan(const)
        if absent.any():
            v[absent] = -1
            c[absent] = np.nan
        return Lin(v, c, const, self.timed or other.timed, self.ctx)

    # ------------------------------------------------------------------------------------------------ over t
    def sum_t(self) -> Lin:
        """The sum over the steps (absent entries count nothing)."""
        if not self.timed:
            return self
        n, steps, k = self.vars.shape
        return Lin(self.vars.reshape(n, 1, steps * k), self.coeffs.reshape(n, 1, steps * k),
                   np.nansum(self.const, axis=1, keepdims=True), False, self.ctx)

    def shift(self, k: int) -> Lin:
        """x[t-k] for k > 0 (x[t+|k|] for k < 0): absent where that step is outside the horizon."""
        steps = self.vars.shape[1]
        v = np.full(self.vars.shape, -1, dtype=self.vars.dtype)
        c = np.full(self.coeffs.shape, np.nan)
        const = np.full(self.const.shape, np.nan)
        if abs(k) < steps:
            src, dst = (slice(0, steps - k), slice(k, steps)) if k >= 0 else (slice(-k, steps), slice(0, steps + k))
            v[:, dst], c[:, dst], const[:, dst] = self.vars[:, src], self.coeffs[:, src], self.const[:, src]
        return Lin(v, c, const, True, self.ctx)

    def fill_absent(self, value: float = 0.0) -> Lin:
        """Absent entries present again, with no terms and this constant (linopy's fillna on an expression)."""
        return Lin(self.vars, self.coeffs, np.where(np.isnan(self.const), value, self.const), self.timed,
                   self.ctx)

    def at_step(self, pos: int) -> Lin:
        return Lin(self.vars[:, pos:pos + 1], self.coeffs[:, pos:pos + 1], self.const[:, pos:pos + 1], False,
                   self.ctx)

    def over_time(self, steps: int) -> Lin:
        """An untimed Lin repeated at every step."""
        if self.timed:
            return self
        shape = (self.vars.shape[0], steps)
        return Lin(np.broadcast_to(self.vars, shape + self.vars.shape[2:]),
                   np.broadcast_to(self.coeffs, shape + self.coeffs.shape[2:]),
                   np.broadcast_to(self.const, shape).copy(), True, self.ctx)

    # ---------------------------------------------------------------------------------------------- to linopy
    def arrays(self, steps: int):
        """(vars, coeffs, const) with the t axis dropped when untimed, as fresh contiguous arrays."""
        v, c, k = self.vars, self.coeffs, self.const
        if self.timed:
            shape = (v.shape[0], steps)
            v, c, k = (np.broadcast_to(v, shape + v.shape[2:]), np.broadcast_to(c, shape + c.shape[2:]),
                       np.broadcast_to(k, shape))
        else:
            v, c, k = v[:, 0], c[:, 0], k[:, 0]
        return np.ascontiguousarray(v), np.ascontiguousarray(c, dtype=float), np.ascontiguousarray(k, dtype=float)


def _timed(p: np.ndarray) -> bool:
    return p.ndim == 2 and p.shape[1] > 1


def linexpr(model, lin: Lin, inst: pd.Index, time: pd.Index):
    """The Lin as a linopy LinearExpression over (inst[, t], _term), built once from its arrays."""
    import linopy

    v, c, k = lin.arrays(len(time))
    dims = (inst.name, "t") if lin.timed else (inst.name,)
    coords = {inst.name: inst, "t": time} if lin.timed else {inst.name: inst}
    v = v.astype(model._dtypes["labels"], copy=False)
    ds = xr.Dataset({"coeffs": (dims + (TERM,), c), "vars": (dims + (TERM,), v), "const": (dims, k)},
                    coords=coords, attrs={"name": None})
    return wrap_expression(model, ds, linopy.LinearExpression)


def wrap_expression(model, ds: xr.Dataset, cls):
    """A linopy expression around a Dataset that already has linopy's layout (int labels in `vars`, float
    `coeffs` and `const`, `_term` last, no helper coordinates). Skips the constructor's checks, which align and
    broadcast the whole Dataset again: 2-10 ms per expression, the largest cost of lowering a small model.
    Mirrors linopy's own LinearExpression._from_csr (the fields of its __slots__)."""
    expr = cls.__new__(cls)
    expr._model = model
    expr._data = ds
    if "_csr" in getattr(cls, "__slots__", ()):
        expr._csr = None                        # dense: the Dataset is the expression
    return expr


def terms_expr(model, coords: list[pd.Index], vars_: list[np.ndarray], coeffs: list, const=None):
    """A linopy LinearExpression over `coords` whose k-th term is variable labels `vars_[k]` (each of the coords'
    shape) times `coeffs[k]` (a number or an array of that shape), plus `const`."""
    import linopy

    shape = tuple(len(c) for c in coords)
    dims = tuple(c.name for c in coords)
    v = np.stack([np.broadcast_to(x, shape) for x in vars_], axis=-1).astype(model._dtypes["labels"], copy=False)
    c = np.stack([np.broadcast_to(np.asarray(x, dtype=float), shape) for x in coeffs], axis=-1)
    k = np.zeros(shape) if const is None else np.array(np.broadcast_to(np.asarray(const, dtype=float), shape))
    ds = xr.Dataset({"coeffs": (dims + (TERM,), c), "vars": (dims + (TERM,), v), "const": (dims, k)},
                    coords=dict(zip(dims, coords)), attrs={"name": None})
    return wrap_expression(model, ds, linopy.LinearExpression)


def labels_of(var, **pick) -> np.ndarray:
    """A variable's labels, optionally picked by coordinate values (`tie=[...]`), as a numpy array."""
    lab = var.labels
    return np.asarray((lab.sel(pick) if pick else lab).values)
