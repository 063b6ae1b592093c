"""A study's resident model: one HiGHS object built once from a lowered model, solved again and again while the
study changes only numbers (column bounds, costs, coefficients of added columns), so a linear program restarts
from its last basis and a mixed-integer one from its last point (a MIP start), like ATC's subproblems. Its
solutions are read back in .mgd terms by the same code as a centralized solve (mgdsl/results.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..highs import (
    INFEASIBLE,
    OPTIMAL,
    TIME_LIMIT,
    UNBOUNDED,
    Status,
    column_positions,
    from_linopy,
    has_feasible_point,
    new_solution,
    row_positions,
    run,
    set_option,
    status_text,
)
from ..highs import mip_gap as relative_mip_gap
from ..lower.system import Lowered, lower_system
from ..results import Results, collect

OK = ("optimal", "time limit (feasible)")       # statuses whose point is used


LIFT_ROWS_PER_CONE = 30     # the polyhedral lift's rows per cone (about 60 per line and step, two cones each)


def lazy_cones(ir, keep: bool = False):
    """The system lowered for a study on a resident model: a SOC branch flow's cones described (met by tangents,
    Resident's `cones`) unless the network asks for `cones = lift`, which writes the polyhedral lift (about 60 rows
    per line and step), or the model is large (lift_if_large; `keep`: decided later by the caller). Returns
    (lowered, cones or None)."""
    from ..lower.formulations.distflow_socp import cone_mode

    low = lower_system(ir, solver_cones=True)
    cones = low.network.cones if low.network is not None else None
    if cones is not None and cone_mode(low.network.net) == "lift":
        cones.lift()
        low.network.cones = cones = None
    return low, (cones if keep else lift_if_large(low, cones))


def lift_if_large(low, cones):
    """The cones written as the lift when that makes a relaxation of HiPO's size (studies/relaxed.py IPM_ROWS), else
    kept for tangents. Measured on the 94-bus whole day: with IGDT's robust rows each round of tangents took the dual
    simplex 5-44 s, and the first budget reached its 900 s limit, where HiPO solves the lift's relaxation in ~110 s;
    over hours 17-20 (below the threshold) tangents made the study 8 times cheaper."""
    from ..highs import hipo_available
    from .relaxed import IPM_ROWS

    if cones is None or not hipo_available() or low.model.ncons + LIFT_ROWS_PER_CONE * len(cones) < IPM_ROWS:
        return cones
    cones.lift()
    low.network.cones = None
    return None


@dataclass
class Outcome:
    """One solve: its status ("optimal", "time limit (feasible)", "infeasible", "time limit", ...), the primal point
    (None without one), HiGHS's time and, for a model with integers, the relative MIP gap."""

    status: str
    x: np.ndarray | None
    seconds: float
    mip_gap: float | None = None

    @property
    def ok(self) -> bool:
        return self.status in OK and self.x is not None


class Resident:
    """HiGHS holding `low.model` (with whatever a study added to it before), its objective replaced by the study's:
    every original cost is zeroed here and the study sets the costs it wants.

    `cones`: the network's cones when `low` was lowered with `solver_cones` (lazy_cones below): every solve then
    meets them by tangent planes added to this HiGHS object (solve/outer_approx.py). A tangent of a convex cone is
    valid at every point, so they stay from one solve to the next and later solves need few rounds or none. They are
    appended after every row the study stores a position of (and outer_approx prunes only the tangents of its own
    call), so those positions do not move."""

    def __init__(self, low: Lowered, time_limit: float | None = None, mip_gap: float | None = None, cones=None):
        self.low = low
        m = low.model
        self.h = from_linopy(m)
        lp = self.h.getLp()
        self.n = int(lp.num_col_)
        self.original_costs = np.asarray(lp.col_cost_, dtype=float).copy()
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.zeros(self.n))
        self.integers = bool(len(m.binaries) or len(m.integers))
        if mip_gap is not None:
            set_option(self.h, "mip_rel_gap", float(mip_gap))
        self.time_limit = time_limit
        self.mip_gap = mip_gap
        self._start: np.ndarray | None = None
        self.cones = cones
        self.cone_cols = None if cones is None else cones.columns(m)
        self.cone_rounds = 0
        self.cone_cuts = 0

    # ------------------------------------------------------------------ positions
    def cols(self, var) -> np.ndarray:
        return column_positions(self.low.model, np.asarray(var.labels.values))

    def rows(self, con) -> np.ndarray:
        return row_positions(self.low.model, np.asarray(con.labels.values))

    # ------------------------------------------------------------------ numbers
    def set_costs(self, cols, costs) -> None:
        cols = np.atleast_1d(np.asarray(cols, dtype=np.int32))
        self.h.changeColsCost(len(cols), cols, np.broadcast_to(np.asarray(costs, dtype=float), cols.shape).copy())

    def set_bounds(self, cols, lower, upper) -> None:
        cols = np.atleast_1d(np.asarray(cols, dtype=np.int32))
        lo = np.broadcast_to(np.asarray(lower, dtype=float), cols.shape).copy()
        hi = np.broadcast_to(np.asarray(upper, dtype=float), cols.shape).copy()
        self.h.changeColsBounds(len(cols), cols, lo, hi)

    def col_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lp = self.h.getLp()
        return np.asarray(lp.col_lower_, dtype=float), np.asarray(lp.col_upper_, dtype=float)

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lp = self.h.getLp()
        return np.asarray(lp.row_lower_, dtype=float), np.asarray(lp.row_upper_, dtype=float)

    def add_col(self, cost: float, lower: float, upper: float) -> int:
        self.h.addCol(float(cost), float(lower), float(upper), 0, np.zeros(0, dtype=np.int32), np.zeros(0))
        self.n += 1
        return self.n - 1

    def add_rows(self, lower, upper, entries: list[list[tuple[int, float]]]) -> np.ndarray:
        """Rows lower <= sum of coefficient * column <= upper, one per list of (column, coefficient)."""
        first = self.h.getNumRow()
        starts, index, value = [], [], []
        for row in entries:
            starts.append(len(index))
            for col, coef in row:
                index.append(int(col))
                value.append(float(coef))
        k = len(entries)
        if k:
            self.h.addRows(k, np.asarray(lower, dtype=float), np.asarray(upper, dtype=float), len(index),
                           np.asarray(starts, dtype=np.int32), np.asarray(index, dtype=np.int32),
                           np.asarray(value, dtype=float))
        return np.arange(first, first + k, dtype=np.int32)

    def set_coeff(self, row: int, col: int, value: float) -> None:
        self.h.changeCoeff(int(row), int(col), float(value))

    # ------------------------------------------------------------------ solving
    def solve(self) -> Outcome:
        """Run within the time limit. A model with integers starts from the last point found (HiGHS repairs or
        drops a start that the changed numbers made infeasible). With cones: tangents until they are met."""
        if self.cones is not None:
            return self.solve_cones()
        if self.integers and self._start is not None:
            self.h.setSolution(new_solution(self._start))
        t0 = time.perf_counter()
        status = run(self.h, self.time_limit)
        seconds = time.perf_counter() - t0
        gap = relative_mip_gap(self.h) if self.integers else None
        if status == OPTIMAL or (status == TIME_LIMIT and has_feasible_point(self.h)):
            x = np.asarray(self.h.getSolution().col_value, dtype=float).copy()
            self._start = x
            return Outcome("optimal" if status == OPTIMAL else "time limit (feasible)", x, seconds, gap)
        if status in (INFEASIBLE, Status.kUnboundedOrInfeasible):       # a study's objective is bounded
            return Outcome("infeasible", None, seconds)
        if status == UNBOUNDED:
            return Outcome("unbounded", None, seconds)
        if status == TIME_LIMIT:
            return Outcome("time limit", None, seconds)
        return Outcome(status_text(self.h, status).lower(), None, seconds)

    def solve_cones(self, mip_gap: float | None = None) -> Outcome:
        """One solve meeting the cones by tangents on this model (with integers: outer_approx's integer path, its
        relaxation's tangents found hot first); its outcome as solve's. A model whose integers were relaxed by the
        caller is an LP to outer_approx."""
        from ..solve import outer_approx

        o = outer_approx.solve(self.h, self.cones, self.cone_cols, self.time_limit,
                               self.mip_gap if mip_gap is None else mip_gap)
        self.cone_rounds += o.rounds
        self.cone_cuts += o.cuts
        seconds = float(sum(o.seconds.values()))
        if o.feasible and o.col_value is not None and o.status in ("optimal", "time limit"):
            x = o.col_value.copy()
            self._start = x
            return Outcome("optimal" if o.status == "optimal" else "time limit (feasible)", x, seconds, o.mip_gap)
        # "no convergence" (too many rounds) is not a point the study uses, like a time limit without one
        return Outcome(o.status.replace("infeasible_or_unbounded", "infeasible"), None, seconds)

    def value(self, x: np.ndarray, col: int) -> float:
        return float(x[col])

    def results(self, x: np.ndarray) -> Results:
        """The point as results in the form of a centralized solve (datasets named by the .mgd). Without nodal
        prices: the duals of a study's objective are not prices."""
        m = self.low.model
        m.status, m.termination_condition = "ok", "optimal"      # lets linopy evaluate expressions on the values
        x = np.concatenate([x[: self.n], np.zeros(max(0, self.n - len(x)))])
        for _, var in m.variables.items():
            pos = self.cols(var)
            var.solution = xr.DataArray(np.where(pos >= 0, x[np.maximum(pos, 0)], np.nan), var.coords, dims=var.dims)
        balance = self.low.balance_name
        if balance is not None and not self.integers:
            con = m.constraints[balance]
            con.dual = xr.DataArray(np.full(con.labels.shape, np.nan), {d: con.coords[d] for d in con.labels.dims},
                                    dims=con.labels.dims)
        results = collect(self.low)
        for name, ds in results.datasets.items():
            if "price" in ds:
                results.datasets[name] = ds.drop_vars("price")
        return results
