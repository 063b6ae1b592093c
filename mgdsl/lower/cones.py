"""Polyhedral outer approximation of second-order cones (Ben-Tal & Nemirovski), vectorized: every cone of a
family over the same coordinates is one set of linopy variables and rows, with an extra `level` dimension.
HiGHS has no cones; this keeps the branch-flow model an LP (or MILP) with an accuracy the user sets."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                 # checking asks levels_for/cone_cells without importing the modelling stack
    import pandas as pd

    from .builder import Builder


def levels_for(accuracy: float) -> int:
    """The fewest levels whose relative error 1/cos(pi / 2^(nu+1)) - 1 is at most `accuracy`."""
    nu = 1
    while 1.0 / math.cos(math.pi / 2 ** (nu + 1)) - 1.0 > accuracy and nu < 30:
        nu += 1
    return nu


def norm2_le(b: Builder, name: str, a, c, t, coords: list[pd.Index], levels: int, span, description: str) -> None:
    """Rows and variables for ||(a, c)|| <= t (a, c, t linear expressions over `coords`), relaxed by at most
    a factor 1/cos(pi / 2^(levels+1)): xi_0 >= |a|, eta_0 >= |c|, then `levels` rotations by pi/2^(j+1)
    that halve the angle of (xi, eta) each time, and finally xi_nu <= t, eta_nu <= tan(pi/2^(nu+1)) xi_nu."""
    import pandas as pd
    import xarray as xr

    level = pd.RangeIndex(levels + 1, name="level")
    xi = b.variable(f"{name}.xi", span, f"{description}: cone level variable", coords=coords + [level], lower=0)
    eta = b.variable(f"{name}.eta", span, f"{description}: cone level variable", coords=coords + [level], lower=0)
    xi0, eta0 = xi.isel(level=0, drop=True), eta.isel(level=0, drop=True)
    b.constraint(f"{name}.abs_a1", xi0 - a >= 0, span, description)
    b.constraint(f"{name}.abs_a2", xi0 + a >= 0, span, description)
    b.constraint(f"{name}.abs_c1", eta0 - c >= 0, span, description)
    b.constraint(f"{name}.abs_c2", eta0 + c >= 0, span, description)
    theta = np.pi / 2.0 ** (np.arange(levels + 1) + 1)       # level j rotates by pi / 2^(j+1); level 0 unused
    cos = xr.DataArray(np.cos(theta), coords=[level])
    sin = xr.DataArray(np.sin(theta), coords=[level])
    xi_prev, eta_prev = xi.shift(level=1), eta.shift(level=1)  # absent at level 0: those rows are not written
    b.constraint(f"{name}.rotate", xi - cos * xi_prev - sin * eta_prev == 0, span, description)
    b.constraint(f"{name}.reflect1", eta + sin * xi_prev - cos * eta_prev >= 0, span, description)
    b.constraint(f"{name}.reflect2", eta - sin * xi_prev + cos * eta_prev >= 0, span, description)
    xin, etan = xi.isel(level=levels, drop=True), eta.isel(level=levels, drop=True)
    b.constraint(f"{name}.radius", xin - t <= 0, span, description)
    b.constraint(f"{name}.angle", etan - math.tan(np.pi / 2.0 ** (levels + 1)) * xin <= 0, span, description)


def cone_cells(levels: int) -> int:
    """Variables plus rows that norm2_le writes for one cone of `levels` levels, per coordinate (the size estimate
    of sema/size.py)."""
    variables = 2 * (levels + 1)
    rows = 4 + 3 * levels + 2
    return variables + rows
