"""The numpy expressions of lowering (mgdsl/lower/terms.py) against linopy's own v1 arithmetic on the same
variables: every operation the template lowering uses gives the same terms, constants and absent entries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mgdsl.lower.builder  # noqa: F401  (linopy's v1 semantics, as lowering sets them)
from mgdsl.lower.builder import Builder
from mgdsl.lower.terms import Context, Lin

N, T = 3, 5


@pytest.fixture
def case():
    import xarray as xr

    b = Builder()
    inst, time = pd.Index(["a", "b", "c"], name="D"), pd.RangeIndex(T, name="t")
    x = b.variable_arrays("D.x", None, "x", "D", [inst, time], np.zeros(1), np.full(1, np.inf))
    y = b.variable_arrays("D.y", None, "y", "D", [inst], np.zeros(1), np.full(1, np.inf))
    ctx = Context(b.model, inst, time)
    series = np.arange(N * T, dtype=float).reshape(N, T) / 7 + 1     # a parameter over (instance, t)
    per = np.array([[2.0], [3.0], [5.0]])                            # one value per instance
    lx, ly = Lin.of_labels(x.labels.values, True, ctx), Lin.of_labels(y.labels.values, False, ctx)
    da_series, da_per = xr.DataArray(series, coords=[inst, time]), xr.DataArray(per[:, 0], coords=[inst])
    return b, x, y, lx, ly, series, per, da_series, da_per


def _same(lin: Lin, expr) -> None:
    """Same rows: per entry, the same (variable, coefficient) sums and constant; absent where linopy's is."""
    v, c, k = lin.arrays(T)
    data = expr.data.transpose(*expr.const.dims, "_term")
    ev, ec, ek = data.vars.values, data.coeffs.values, data.const.values
    assert v.shape[:-1] == ev.shape[:-1]
    np.testing.assert_array_equal(np.isnan(k), np.isnan(ek))
    np.testing.assert_allclose(np.nan_to_num(k), np.nan_to_num(ek), rtol=1e-15)
    for idx in np.ndindex(*v.shape[:-1]):
        mine, theirs = {}, {}
        for var, co in zip(v[idx], c[idx]):
            if var >= 0:
                mine[int(var)] = mine.get(int(var), 0.0) + float(co)
        for var, co in zip(ev[idx], ec[idx]):
            if var >= 0:
                theirs[int(var)] = theirs.get(int(var), 0.0) + float(co)
        assert mine == pytest.approx(theirs, rel=1e-15), idx


def test_sums_products_and_shifts_match_linopy(case):
    b, x, y, lx, ly, series, per, da_series, da_per = case
    # 2 x[t] - per x[t-1] + series y + 4: absent at the first step (no initial value)
    lin = lx.scale(2.0).plus(lx.shift(1).scale(-per)).plus(ly.scale(series)).shift_const(4.0)
    expr = 2 * x - da_per * (1 * x).shift(t=1) + da_series * y + 4
    _same(lin, expr)
    assert np.isnan(lin.arrays(T)[2][:, 0]).all()


def test_initial_value_fills_the_first_step(case):
    b, x, y, lx, ly, series, per, da_series, da_per = case
    first = np.zeros((N, T), dtype=bool)
    first[:, 0] = True
    import xarray as xr

    init = xr.DataArray(per[:, 0] * 10, coords=[x.indexes["D"]])
    lin = lx.plus(lx.shift(1, per * 10).scale(-1.0))
    expr = x - ((1 * x).shift(t=1).fillna(0) + init.where(xr.DataArray(first, coords=x.labels.coords), 0.0))
    _same(lin, expr)


def test_sum_over_t_skips_absent_entries_and_last_step(case):
    b, x, y, lx, ly, series, per, da_series, da_per = case
    _same(lx.shift(1).plus(lx).sum_t(), ((1 * x).shift(t=1) + x).sum("t"))
    _same(lx.shift(-2).scale(series).sum_t(), ((1 * x).shift(t=-2) * da_series).sum("t"))
    _same(lx.at_step(T - 1).plus(ly.scale(-1.0)), x.isel(t=T - 1, drop=True) - y)


def test_rows_from_arrays_are_linopys_rows(case):
    b, x, y, lx, ly, series, per, da_series, da_per = case
    lin = lx.plus(lx.shift(1).scale(-1.0)).shift_const(-series)          # x[t] - x[t-1] - series <= 0
    v, c, k = lin.arrays(T)
    b.constraint_arrays("mine", None, "ramp", "D", [x.indexes["D"], x.indexes["t"]], v, c, "<=", -k)
    b.constraint("theirs", (x - (1 * x).shift(t=1) - da_series) <= 0, None, "ramp", "D")
    mine, theirs = b.model.constraints["mine"], b.model.constraints["theirs"]
    live = theirs.labels.values >= 0
    np.testing.assert_array_equal(mine.labels.values >= 0, live)     # the first step is not written, in both
    np.testing.assert_allclose(mine.rhs.values[live], theirs.rhs.values[live])
    assert (mine.sign.values == theirs.sign.values).all()
    assert b.add_calls == 4
