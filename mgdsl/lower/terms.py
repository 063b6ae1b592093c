"""Linear expressions of one template's instances as plain numpy arrays (`Lin`): the lowering's arithmetic
without xarray alignment, with linopy's "v1" meaning kept exactly; each result becomes a linopy object once.

A Lin is over (instance, t) or (instance,): blocks of terms, each variable labels (n, T or 1, k) (-1: no term)
with coefficients broadcastable to them (kept small: (1, 1, 1) for a plain variable, (n, 1, k) after a
per-instance factor), and a constant broadcastable to (n, T or 1); `materialized` gives the full arrays of all
terms side by side, in linopy's order (left operand first). A constant parameter is a numpy array of shape
(n, T) (a series) or (n, 1) (one value per instance), or a float. An entry whose constant is NaN is absent
(x[t-1] at the first step, with no initial value): as in linopy's v1 semantics, adding to an absent entry gives
an absent entry, a sum over t skips it, and a constraint row there is not written. Every instance dimension of
a template lowering is the same, so no alignment by label is needed: arrays broadcast by position.

A horizon of one step cannot tell a series from a per-instance value by shape, so series are `Series` arrays (a
numpy subclass that arithmetic keeps): an expression with one is over t whatever the horizon."""
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
            if is_series(x):
                return xr.DataArray(np.asarray(x), coords=[self.inst, self.time])
            return xr.DataArray(np.asarray(x)[:, 0], coords=[self.inst])
        return x


class Lin:
    """Terms are kept as blocks (labels, coefficients), each of shape (n, T or 1, k) and broadcast to the
    expression's shape only when the rows are made: a sum of K terms then copies each term once, not K times."""

    __slots__ = ("blocks", "const", "timed", "ctx")

    def __init__(self, blocks: list[tuple[np.ndarray, np.ndarray]], const: np.ndarray, timed: bool, ctx: Context):
        self.blocks, self.const, self.timed, self.ctx = blocks, const, timed, ctx

    @classmethod
    def of_labels(cls, labels: np.ndarray, timed: bool, ctx: Context) -> Lin:
        """A variable's labels, (n, T) or (n,), as a Lin with one term per entry."""
        lab = labels if timed else labels[:, None]
        # coefficients and constants are kept in their smallest broadcastable shape ((1, 1, 1) here, (n, 1, k)
        # after scaling by a per-instance value): only series make full-size arrays. Nothing writes into them.
        return cls([(lab[..., None], _ONE)], _ZERO, timed, ctx)

    @property
    def n(self) -> int:
        return len(self.ctx.inst)

    def shape(self) -> tuple[int, int]:
        return np.broadcast_shapes((self.n, 1), self.const.shape,
                                   *(s for v, c in self.blocks for s in (v.shape[:2], c.shape[:2])))

    def to_linopy(self):
        """This expression as a linopy LinearExpression (for what only linopy does: products of variables)."""
        return linexpr(self.ctx.model, self, self.ctx.inst, self.ctx.time)

    def materialized(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vars (n, T|1, K), coeffs, const (n, T|1)), every term of an absent entry removed. The arrays may be
        (read-only) views of this Lin's own: nothing writes into them."""
        shape = self.shape()
        const = np.broadcast_to(self.const, shape)
        absent = np.isnan(const)
        any_absent = bool(absent.any())
        if len(self.blocks) == 1 and not any_absent:
            v, c = self.blocks[0]
            if v.shape[:2] == shape:
                return v, np.broadcast_to(c, v.shape), const     # one block of the full shape: no copy
        k = sum(v.shape[2] for v, _ in self.blocks)
        v = np.empty(shape + (k,), dtype=self.blocks[0][0].dtype)
        c = np.empty(shape + (k,))
        at = 0
        for bv, bc in self.blocks:
            w = bv.shape[2]
            v[..., at:at + w] = bv
            c[..., at:at + w] = bc
            at += w
        if any_absent:
            v[absent] = -1
            c[absent] = np.nan
        return v, c, const

    def _one(self) -> Lin:
        """The same expression as one block."""
        v, c, const = self.materialized()
        return Lin([(v, c)], const, self.timed, self.ctx)

    # ------------------------------------------------------------------------------------------- arithmetic
    def __neg__(self) -> Lin:
        return self.scale(-1.0)

    def scale(self, p) -> Lin:
        """Times a constant (float or (n, T|1) array)."""
        p_arr = np.asarray(p, dtype=float)
        pc = p_arr[..., None] if p_arr.ndim else p_arr
        blocks = []
        for v, c in self.blocks:
            blocks.append((v, c * pc))
        return Lin(blocks, self.const * p_arr, self.timed or is_series(p), self.ctx)

    def shift_const(self, p) -> Lin:
        """Plus a constant."""
        p_arr = np.asarray(p, dtype=float)
        return Lin(self.blocks, self.const + p_arr, self.timed or is_series(p), self.ctx)

    def plus(self, other: Lin) -> Lin:
        """The sum of two Lins: the terms of both, side by side (self's first, as linopy concatenates them). An
        entry absent in either is absent in the sum (its constant is NaN; `materialized` drops its terms)."""
        return Lin(self.blocks + other.blocks, self.const + other.const, self.timed or other.timed, self.ctx)

    # ------------------------------------------------------------------------------------------------ over t
    def sum_t(self) -> Lin:
        """The sum over the steps (absent entries count nothing)."""
        if not self.timed:
            return self
        v, c, const = self.materialized()
        n, steps, k = v.shape
        return Lin([(v.reshape(n, 1, steps * k), c.reshape(n, 1, steps * k))],
                   np.nansum(const, axis=1, keepdims=True), False, self.ctx)

    def shift(self, k: int, first: np.ndarray | None = None) -> Lin:
        """x[t-k] for k > 0 (x[t+|k|] for k < 0): absent where that step is outside the horizon. With `first`
        (k = 1; over (instance, 1)), the first step is present instead, with no terms and that constant: linopy's
        shift(t=1).fillna(0) + first at t = 0."""
        sv, sc, sk = self.materialized()
        steps = sv.shape[1]
        v = np.empty(sv.shape, dtype=sv.dtype)
        const = np.empty(sk.shape)
        timed_c = steps > 1 and sc.strides[1] != 0        # coefficients that change over t move with the terms
        c = np.empty(sc.shape) if timed_c else self.blocks[0][1] if len(self.blocks) == 1 else sc
        kk = max(-steps, min(steps, k))
        src, dst = (slice(0, steps - kk), slice(kk, steps)) if kk >= 0 else (slice(-kk, steps), slice(0, steps + kk))
        pad = slice(0, kk) if kk >= 0 else slice(steps + kk, steps)
        v[:, dst], const[:, dst] = sv[:, src], sk[:, src]
        v[:, pad], const[:, pad] = -1, np.nan       # no term there (a coefficient without a variable is unused)
        if timed_c:
            c[:, dst], c[:, pad] = sc[:, src], np.nan
        if first is not None and k == 1 and steps:
            const[:, :1] = first
        return Lin([(v, c)], const, True, self.ctx)

    def fill_absent(self, value: float = 0.0) -> Lin:
        """Absent entries present again, with no terms and this constant (linopy's fillna on an expression)."""
        v, c, const = self.materialized()
        return Lin([(v, c)], np.where(np.isnan(const), value, const), self.timed, self.ctx)

    def at_step(self, pos: int) -> Lin:
        v, c, const = self.materialized()
        return Lin([(v[:, pos:pos + 1], c[:, pos:pos + 1])], const[:, pos:pos + 1], False, self.ctx)

    def over_time(self, steps: int) -> Lin:
        """An untimed Lin repeated at every step."""
        if self.timed:
            return self
        return Lin(self.blocks, np.broadcast_to(self.const, (self.n, steps)), True, self.ctx)

    # ---------------------------------------------------------------------------------------------- to linopy
    def arrays(self, steps: int):
        """(vars, coeffs, const) with the t axis dropped when untimed (views where no copy is needed)."""
        v, c, k = self.materialized()
        if self.timed and v.shape[1] != steps:
            full = (v.shape[0], steps)
            v, c = np.broadcast_to(v, full + v.shape[2:]), np.broadcast_to(c, full + c.shape[2:])
            k = np.broadcast_to(k, full)
        elif not self.timed:
            v, c, k = v[:, 0], c[:, 0], k[:, 0]
        return v, c, k


_ONE = np.ones((1, 1, 1))
_ZERO = np.zeros((1, 1))
_ONE.flags.writeable = _ZERO.flags.writeable = False


class Series(np.ndarray):
    """A parameter over (instance, t): numpy's arithmetic returns a Series when an operand is one."""


def is_series(p) -> bool:
    return isinstance(p, Series) or (isinstance(p, np.ndarray) and p.ndim == 2 and p.shape[1] > 1)


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
