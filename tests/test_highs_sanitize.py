"""mgdsl/highs.py sanitize: linopy's sanitizing before a solve (near-zero terms dropped, rows `<= inf` and
`>= -inf` masked), applied only where it changes something, leaves every constraint exactly as linopy's own
leaves it, and the solve of such a model gives linopy's solution; a model where nothing needs it is not touched."""
from __future__ import annotations

from pathlib import Path

import linopy
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mgdsl
from mgdsl.highs import quiet_stdout, sanitize

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("labels", "vars", "coeffs", "rhs", "sign")


def awkward() -> linopy.Model:
    """Three rows of each kind a lowering can produce: a term with a 1e-12 coefficient, a row `<= inf` and
    one `>= -inf` beside finite ones, a row with no term left, and rows that need nothing."""
    m = linopy.Model(force_dim_names=True)
    i = pd.RangeIndex(3, name="i")
    x = m.add_variables(lower=0, upper=10, coords=[i], name="x")
    y = m.add_variables(lower=0, upper=10, coords=[i], name="y")
    c = xr.DataArray([1.0, 1e-12, 0.0], coords=[i])
    m.add_constraints(x + c * y >= 1, name="near_zero")
    m.add_constraints(x + y <= xr.DataArray([np.inf, 8.0, np.inf], coords=[i]), name="above_inf")
    m.add_constraints(x - y >= xr.DataArray([-np.inf, -5.0, -2.0], coords=[i]), name="below_inf")
    m.add_constraints(2 * x + y <= 25, name="plain")
    m.add_objective((x + 2 * y).sum())
    return m


def state(m: linopy.Model) -> dict:
    return {(name, f): getattr(con, f).values for name, con in m.constraints.items() for f in FIELDS}


def test_the_model_is_left_as_linopys_sanitizing_leaves_it():
    ours, theirs = awkward(), awkward()
    sanitize(ours)
    theirs.constraints.sanitize_zeros()
    theirs.constraints.sanitize_infinities()
    a, b = state(ours), state(theirs)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
    # what it did: the 1e-12 and 0 terms are gone, and the infinite rows masked
    assert list(ours.constraints["near_zero"].vars.values[:, 1]) == [ours.variables["y"].labels.values[0], -1, -1]
    assert list(ours.constraints["above_inf"].labels.values == -1) == [True, False, True]
    assert list(ours.constraints["below_inf"].labels.values == -1) == [True, False, False]


def test_the_solve_is_linopys():
    ours, theirs = awkward(), awkward()
    sanitize(ours)
    with quiet_stdout():
        ours.solve(solver_name="highs", io_api="direct", sanitize_zeros=False, sanitize_infinities=False,
                   output_flag=False)
        theirs.solve(solver_name="highs", io_api="direct", output_flag=False)
    # by hand: every row i needs x >= 1 (row 0: x + y >= 1, y costing twice x), nothing else binds: 3 x 1
    assert ours.objective.value == pytest.approx(theirs.objective.value) == pytest.approx(3.0)
    for name in ("x", "y"):
        assert np.array_equal(ours.variables[name].solution.values, theirs.variables[name].solution.values)


def test_a_model_that_needs_nothing_is_not_rewritten(monkeypatch):
    model = mgdsl.load(ROOT / "models" / "storage_arbitrage.mgd").model
    calls = []
    monkeypatch.setattr(linopy.Constraint, "sanitize_zeros", lambda self: calls.append(self.name))
    monkeypatch.setattr(linopy.Constraint, "sanitize_infinities", lambda self: calls.append(self.name))
    sanitize(model)
    assert calls == []
