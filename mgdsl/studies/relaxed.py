"""Solve a study's mixed-integer model through its linear relaxation first, with a certificate: the relaxation's
optimum is a lower bound of the MILP's, so a rounding of its integers that keeps every row and bound (within
HiGHS's feasibility tolerance) at no higher objective is an optimum of the MILP itself (gap 0). Only when no
rounding is certified does the MILP run, started from the relaxation's rounding.

Why: on models whose integers never bind (switches that only permit flow: `models/clusters94_003.mgd`, whose 960
switch states HiGHS's presolve fixes), every MILP solve of a study is a cold root LP: HiGHS's MIP solver keeps no
basis between runs. The relaxation stays resident as an LP, so each solve of the study restarts from the last
basis, as for a linear model, and the certificate costs one matrix product.

With the network's cones met by tangents (Resident's `cones`), the relaxation is solved by tangent rounds until
every cone is within its accuracy; a rounding changes only integer columns, never a cone's, so the certified point
meets the cones as well. The fallback MILP is outer_approx's integer path."""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..highs import INFEASIBLE, OPTIMAL, has_feasible_point, hipo_available, run, set_option
from .resident import Outcome, Resident

FEASIBILITY = 1e-6       # absolute slack of a row or bound (HiGHS's primal tolerance is 1e-7), scaled by its size
OBJECTIVE = 1e-9         # relative slack of the rounded point's objective over the relaxation's
# Relaxations with this many rows or more are solved by HiGHS's interior-point solver HiPO, without crossover: on
# the 94-bus day (167,643 rows of polyhedral cones) minimizing vdi took HiPO 24 s of CPU, where the dual simplex had
# not finished after 116 s (cold) and restarting it from the cost optimum's basis fell back to its phase 1. Each
# solve then starts cold, but none is long. Below it, the simplex restarts from the last basis.
IPM_ROWS = 50_000


def _matrix(lp):
    """The constraint matrix, stored by columns or (after rows were added to a model) by rows."""
    import highspy

    a = lp.a_matrix_
    parts = (np.asarray(a.value_, dtype=float), np.asarray(a.index_, dtype=np.int64),
             np.asarray(a.start_, dtype=np.int64))
    shape = (int(lp.num_row_), int(lp.num_col_))
    if a.format_ == highspy.MatrixFormat.kRowwise:
        return sp.csr_matrix(parts, shape=shape)
    return sp.csc_matrix(parts, shape=shape)


def certified(lp, x: np.ndarray, ints: np.ndarray) -> np.ndarray | None:
    """A rounding of x's integer columns (to nearest, up, then down) that keeps every bound and row and does not
    raise the objective, or None."""
    c = np.asarray(lp.col_cost_, dtype=float)
    lo, hi = np.asarray(lp.col_lower_, dtype=float), np.asarray(lp.col_upper_, dtype=float)
    rlo, rhi = np.asarray(lp.row_lower_, dtype=float), np.asarray(lp.row_upper_, dtype=float)
    a = _matrix(lp)
    base = float(c @ x)
    xi = x[ints]
    for rounded in (np.round(xi), np.ceil(xi - 1e-9), np.floor(xi + 1e-9)):
        y = x.copy()
        y[ints] = rounded
        tol_c = FEASIBILITY * np.maximum(1.0, np.abs(y))
        if np.any(y < lo - tol_c) or np.any(y > hi + tol_c):
            continue
        act = a @ y
        tol_r = FEASIBILITY * np.maximum(1.0, np.abs(act))
        if np.any(act < rlo - tol_r) or np.any(act > rhi + tol_r):
            continue
        if float(c @ y) <= base + OBJECTIVE * max(1.0, abs(base)):
            return y
    return None


class RelaxedFirst:
    """Wraps a Resident with integers: `solve()` solves the relaxation (kept resident as an LP) and returns a
    certified rounding, or falls back to the MILP. `stats` counts the solves each way."""

    def __init__(self, res: Resident):
        self.res = res
        h = res.h
        lp = h.getLp()
        integrality = np.asarray(lp.integrality_, dtype=np.uint8) if len(lp.integrality_) else np.zeros(0, np.uint8)
        self.ints = np.nonzero(integrality)[0].astype(np.int32)
        self.integrality = integrality[self.ints].copy()
        self.stats = {"certified": 0, "milp": 0}
        # tangent rounds need an optimal status (and a basis to go on from): no HiPO with cones
        self.ipm = int(lp.num_row_) >= IPM_ROWS and hipo_available() and res.cones is None
        if self.ipm:
            self.stats["ipm_unknown"] = 0
        self._relax()

    def _relax(self) -> None:
        if self.ipm:
            set_option(self.res.h, "solver", "hipo")
            set_option(self.res.h, "run_crossover", "off")
        if len(self.ints):
            self.res.h.changeColsIntegrality(len(self.ints), self.ints, np.zeros(len(self.ints), dtype=np.uint8))

    def _restore(self) -> None:
        if self.ipm:
            set_option(self.res.h, "solver", "choose")
        if len(self.ints):
            self.res.h.changeColsIntegrality(len(self.ints), self.ints, self.integrality)

    def solve(self) -> Outcome:
        res, h = self.res, self.res.h
        t0 = time.perf_counter()
        if res.cones is not None:
            return self._solve_cones(t0)
        status = run(h, res.time_limit)
        if status == INFEASIBLE:                  # the relaxation has no point: neither has the MILP
            return Outcome("infeasible", None, time.perf_counter() - t0)
        if status == OPTIMAL or (self.ipm and self._ipm_point(status)):
            x = np.asarray(h.getSolution().col_value, dtype=float).copy()
            y = certified(h.getLp(), x, self.ints)
            if y is not None:
                self.stats["certified"] += 1
                res._start = y
                return Outcome("optimal", y, time.perf_counter() - t0, 0.0)
            res._start = np.where(np.isin(np.arange(len(x)), self.ints), np.round(x), x)
        # no certificate (or the relaxation did not solve: the MILP reports why): the MILP, then back to the LP
        return self._milp(res.solve, t0)

    def _solve_cones(self, t0: float) -> Outcome:
        res = self.res
        out = res.solve_cones()                   # the relaxation is an LP: tangent rounds only
        if out.status == "infeasible":
            return Outcome("infeasible", None, time.perf_counter() - t0)
        if out.ok and out.status == "optimal":
            y = certified(res.h.getLp(), out.x, self.ints)
            if y is not None:
                self.stats["certified"] += 1
                res._start = y
                return Outcome("optimal", y, time.perf_counter() - t0, 0.0)
        return self._milp(res.solve_cones, t0)

    def _milp(self, solve, t0: float) -> Outcome:
        """The MILP itself by `solve` (the resident model's solve, or its solve with tangent rounds) within what is
        left of the time limit, then the model relaxed again for the next study solve."""
        res = self.res
        left = None if res.time_limit is None else max(1.0, res.time_limit - (time.perf_counter() - t0))
        limit, res.time_limit = res.time_limit, left
        self._restore()
        try:
            out = solve()
        finally:
            res.time_limit = limit
            self._relax()
        self.stats["milp"] += 1
        return Outcome(out.status, out.x, time.perf_counter() - t0, out.mip_gap)

    def _ipm_point(self, status) -> bool:
        """HiPO without crossover may end "unknown" after postsolve (dual infeasibilities of 1e-5 on the 94-bus
        vdi relaxation, its primal point feasible and its own primal-dual gap 2e-9): the point is used when it is
        primal feasible to HiGHS's tolerance."""
        import highspy

        info = self.res.h.getInfo()
        ok = status == highspy.HighsModelStatus.kUnknown and has_feasible_point(self.res.h) \
            and float(info.max_primal_infeasibility) <= FEASIBILITY
        if ok:
            self.stats["ipm_unknown"] += 1
        return ok
