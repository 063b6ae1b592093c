"""Second-order cones for HiGHS, which has none: the polyhedral outer approximation of Ben-Tal & Nemirovski (the
lift), vectorized (every cone of a family over the same coordinates is one set of linopy variables and rows, with
an extra `level` dimension), which keeps the branch-flow model an LP (or MILP) with an accuracy the user sets; and
the description of a family of rotated cones (`RotatedCones`) with their tangent planes, for a solver that takes
the cones itself (lazy tangents, a conic solver)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class RotatedCones:
    """A family of rotated second-order cones x_k y_k >= sum_i (s_i z_ik)^2 (x, y >= 0) over columns of a linopy
    model, described instead of written: the solver takes them itself (tangents added lazily,
    solve/outer_approx.py; a conic solver, solve/conic.py). `x`, `y`: variable labels, shape (n,); `z`: (n, m);
    `z_scale`: (m,). `bound(x, y)`: the most sum (s z)^2 may be at a point the solver accepts, the polyhedral
    lift's own allowance, so that every path meets the same accuracy. `lift()`: writes the polyhedral lift into
    the model instead (a model handed to users, ATC, a fallback); `names[k]`: what cone k is, for reports."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    z_scale: np.ndarray
    bound: Callable[[np.ndarray, np.ndarray], np.ndarray]
    lift: Callable[[], None]
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    def columns(self, model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The solver columns (HiGHS order, which is linopy's matrix order) of x, y and z."""
        from ..highs import column_positions

        return (column_positions(model, self.x), column_positions(model, self.y),
                column_positions(model, self.z.ravel()).reshape(self.z.shape))


def within(cones: RotatedCones, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per cone, by how much sum (s z)^2 exceeds what `bound` allows at (x, y) (<= 0: within the accuracy)."""
    zz = (z * cones.z_scale) ** 2
    return zz.sum(axis=1) - cones.bound(x, y)


def tangents(cones: RotatedCones, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tangent planes of the cones at the points where x is raised to the surface (x = sum (s z)^2 / y, the
    point a cut would otherwise let the next solve move to), as rows `coef . (x, y, z_1..z_m) <= 0`.

    x y >= |w|^2 is ||(2w, x - y)|| <= x + y; a tangent at a surface point (w0, x0, y0) with
    n0 = ||(2 w0, x0 - y0)|| = x0 + y0 is (4 w0 . w + (x0 - y0)(x - y)) / n0 <= x + y: valid everywhere, because
    the cone is the intersection of these half-spaces (Cauchy-Schwarz). Returns (coefficients over x, y, z of each
    row, shape (k, 2 + m)), and a mask of the rows that are finite (a point at the apex has no tangent)."""
    w = z * cones.z_scale
    xs = (w ** 2).sum(axis=1) / np.maximum(y, 1e-12)
    n0 = np.sqrt(4 * (w ** 2).sum(axis=1) + (xs - y) ** 2)
    ok = n0 > 1e-12
    n0 = np.where(ok, n0, 1.0)
    d = (xs - y) / n0
    coef = np.column_stack([d - 1, -d - 1, 4 * w * cones.z_scale / n0[:, None]])
    return coef, ok
