"""Second-order cones by tangent planes added lazily to one resident HiGHS model (outer approximation, Kelley's
cutting planes): solve without the cones, add a tangent plane at each cone a solution violates beyond the
accuracy, solve the same model again (rows added, the basis kept: dual simplex goes on from it), until none is.

With integers, each MILP is a cold solve (HiGHS's branch and bound keeps no basis), so they are few: the tangents
are found on the LP relaxation first (hot), then one MILP chooses the integers, and an LP with those integers fixed
meets the cones (hot again). The MILP's best bound, taken with fewer tangents, is a lower bound of the problem with
all of them, so the fixed LP's cost is within the MIP gap of the optimum when it is within the gap of that bound;
otherwise the MILP is solved again with every tangent, started from the fixed LP's point. Measured on the 33-bus
case (bench/bench_cones.py): about 15 LP rounds of milliseconds each and one MILP, instead of one MILP over the
whole polyhedral lift (about 60 rows per line and step)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from ..highs import INFEASIBLE, OPTIMAL, TIME_LIMIT, has_feasible_point, new_solution, run, set_option
from ..lower.cones import RotatedCones, tangents, within

MAX_ROUNDS = 100          # LP rounds in all; each adds tangents where the cones are violated (15-20 on the 33-bus day)
MAX_MILPS = 4             # MILP solves; the second is needed only when fixing the integers moved the cost past the gap
DEFAULT_MIP_GAP = 1e-4    # HiGHS's own default mip_rel_gap, used when no --mip-gap is given


@dataclass
class Outcome:
    """How the loop ended. `status`: "optimal", "infeasible" (a relaxation with valid tangents has no point, so
    neither has the model), "unbounded", "time limit", "no convergence" (MAX_ROUNDS reached: the caller falls back
    to the lift) or another HiGHS status text. `feasible`: the last point is integer feasible and meets every cone
    (what a time limit may still return). `row_dual`: the model's rows only (no tangents), from the last LP; None
    after a MILP."""

    status: str
    feasible: bool = False
    col_value: np.ndarray | None = None
    row_dual: np.ndarray | None = None
    objective: float = math.nan
    mip_gap: float | None = None
    rounds: int = 0
    cuts: int = 0
    mip_solves: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    per_cone: np.ndarray | None = None    # tangents added at each cone (dense where the cone binds, none elsewhere)


class _Loop:
    def __init__(self, h: highspy.Highs, cones: RotatedCones, columns, time_limit: float | None):
        self.h = h
        self.cones = cones
        self.X, self.Y, self.Z = columns
        self.rows = h.getNumRow()                     # the model's own rows; tangents come after them
        self.deadline = math.inf if time_limit is None else time.monotonic() + time_limit
        self.out = Outcome("optimal", per_cone=np.zeros(len(cones), dtype=np.int64))

    def left(self) -> float | None:
        return None if self.deadline == math.inf else max(self.deadline - time.monotonic(), 0.0)

    def point(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value, dtype=float)

    def violated(self, x: np.ndarray) -> np.ndarray:
        return np.nonzero(within(self.cones, x[self.X], x[self.Y], x[self.Z]) > 0)[0]

    def add_tangents(self, x: np.ndarray, bad: np.ndarray) -> None:
        coef, ok = tangents(self.cones, x[self.X[bad]], x[self.Y[bad]], x[self.Z[bad]])
        bad, coef = bad[ok], coef[ok]
        k, width = coef.shape
        index = np.column_stack([self.X[bad], self.Y[bad], self.Z[bad]]).astype(np.int32).ravel()
        starts = np.arange(0, k * width, width, dtype=np.int32)
        self.h.addRows(k, np.full(k, -np.inf), np.zeros(k), len(index), starts, index, coef.ravel())
        self.out.cuts += k
        self.out.per_cone[bad] += 1

    def prune(self) -> None:
        """Drop the tangents the last LP does not lean on (zero dual) before a MILP: successive rounds leave nearly
        parallel tangents at each cone, and HiGHS's MILP presolve, reducing those, returned points that broke
        rows by 2e-4 and then declared the 33-bus day infeasible. The fixed-integer LP adds back what it needs."""
        dual = np.asarray(self.h.getSolution().row_dual, dtype=float)
        idle = self.rows + np.nonzero(np.abs(dual[self.rows:]) <= 1e-12)[0]
        if len(idle):
            self.h.deleteRows(len(idle), idle.astype(np.int32))

    def lp_rounds(self) -> str:
        """Solve, add tangents at the violated cones, solve again, until every cone is within its allowance."""
        t0 = time.perf_counter()
        try:
            while True:
                status = run(self.h, self.left())
                self.out.rounds += 1
                if status != OPTIMAL:
                    return _text(self.h, status)
                x = self.point()
                bad = self.violated(x)
                if not len(bad):
                    return "optimal"
                if self.out.rounds >= MAX_ROUNDS:
                    return "no convergence"
                self.add_tangents(x, bad)
        finally:
            self.out.seconds["lp"] = self.out.seconds.get("lp", 0.0) + time.perf_counter() - t0

    def finish_lp(self) -> Outcome:
        info = self.h.getInfo()
        sol = self.h.getSolution()
        self.out.col_value = np.asarray(sol.col_value, dtype=float)
        self.out.row_dual = np.asarray(sol.row_dual, dtype=float)[: self.rows]
        self.out.objective = float(info.objective_function_value)
        self.out.feasible = True
        return self.out


def solve(h: highspy.Highs, cones: RotatedCones, columns, time_limit: float | None = None,
          mip_gap: float | None = None, fixed_lp: bool = False) -> Outcome:
    """Meet `cones` (whose solver columns are `columns`: x, y, z) by tangents on the model in `h` (its options set;
    rows are added to it). `fixed_lp`: with integers, always end with the LP of fixed integers (its row duals are
    the MILP's nodal prices), even when the MILP's point already meets the cones."""
    loop = _Loop(h, cones, columns, time_limit)
    lp = h.getLp()
    integrality = np.asarray(lp.integrality_, dtype=np.uint8) if len(lp.integrality_) else np.zeros(0, np.uint8)
    ints = np.nonzero(integrality)[0].astype(np.int32)
    if not len(ints):
        status = loop.lp_rounds()
        if status != "optimal":
            loop.out.status = status
            return loop.out
        return loop.finish_lp()
    lower, upper = np.asarray(lp.col_lower_)[ints], np.asarray(lp.col_upper_)[ints]
    kinds = integrality[ints]

    def relax(values=None):
        h.changeColsIntegrality(len(ints), ints, np.zeros(len(ints), dtype=np.uint8))
        if values is not None:
            h.changeColsBounds(len(ints), ints, values, values)

    def restore():
        h.changeColsBounds(len(ints), ints, lower, upper)
        h.changeColsIntegrality(len(ints), ints, kinds)

    # 1. the tangents the relaxation needs, found hot
    relax()
    status = loop.lp_rounds()
    restore()
    if status != "optimal":
        loop.out.status = status
        return loop.out
    loop.prune()
    gap_limit = DEFAULT_MIP_GAP if mip_gap is None else mip_gap
    start = None
    while True:
        # 2. the integers, from a MILP over every tangent so far
        t0 = time.perf_counter()
        if start is not None:
            h.setSolution(new_solution(start))
        status = run(h, loop.left())
        loop.out.mip_solves += 1
        if status == INFEASIBLE:
            # the relaxation with these tangents has a point, so this may be presolve's reduction of nearly
            # parallel tangents (see prune): once more without presolve before the caller falls back to the lift
            set_option(h, "presolve", "off")
            status = run(h, loop.left())
            set_option(h, "presolve", "choose")
        loop.out.seconds["milp"] = loop.out.seconds.get("milp", 0.0) + time.perf_counter() - t0
        if status != OPTIMAL:
            loop.out.status = _text(h, status)
            if status == TIME_LIMIT and has_feasible_point(h):
                x = loop.point()
                loop.out.col_value = x
                loop.out.objective = float(h.getInfo().objective_function_value)
                loop.out.mip_gap = float(h.getInfo().mip_gap)
                loop.out.feasible = not len(loop.violated(x))
            return loop.out
        info = h.getInfo()
        bound, x = float(info.mip_dual_bound), loop.point()
        if not len(loop.violated(x)) and not fixed_lp:
            loop.out.col_value, loop.out.objective = x, float(info.objective_function_value)
            loop.out.mip_gap, loop.out.feasible = float(info.mip_gap), True
            return loop.out
        # 3. those integers fixed: an LP, hot from here on, meets the cones
        values = np.round(x[ints])
        relax(values)
        status = loop.lp_rounds()
        if status == "optimal":
            fixed = loop.finish_lp()
            gap = (fixed.objective - bound) / max(abs(fixed.objective), 1e-9)
            if gap <= gap_limit or loop.out.mip_solves >= MAX_MILPS:
                restore()
                fixed.mip_gap = max(gap, 0.0)
                fixed.status = "optimal" if gap <= gap_limit else "no convergence"
                return fixed
            start = fixed.col_value
        elif status != "infeasible" or loop.out.mip_solves >= MAX_MILPS:
            restore()
            loop.out.status = status
            return loop.out
        # the cones cost more with these integers than the bound allows (or cannot be met with them): choose again
        restore()


def _text(h: highspy.Highs, status) -> str:
    return {OPTIMAL: "optimal", TIME_LIMIT: "time limit",
            highspy.HighsModelStatus.kInfeasible: "infeasible",
            highspy.HighsModelStatus.kUnbounded: "unbounded",
            highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible_or_unbounded"}.get(
        status, h.modelStatusToString(status))


def assign_solution(model, col_value: np.ndarray, row_dual: np.ndarray | None, objective: float) -> None:
    """Hand a point found outside linopy's own solve (columns and rows in the model's matrix order) back to the
    linopy model: every variable's `solution`, the constraints' `dual` where known, the objective's value."""
    from linopy.constants import Result, Solution, Status

    vlabels = np.asarray(model.variables.label_index.vlabels)
    clabels = np.asarray(model.constraints.label_index.clabels)
    # label-indexed arrays as long as linopy's label counters (a masked last entry has a label but no column)
    primal = np.full(max(model._xCounter, int(vlabels.max()) + 1 if len(vlabels) else 0), np.nan)
    primal[vlabels] = col_value[: len(vlabels)]
    dual = np.zeros(0)
    if row_dual is not None and len(clabels):
        dual = np.full(max(model._cCounter, int(clabels.max()) + 1), np.nan)
        dual[clabels] = row_dual[: len(clabels)]
    model.assign_result(Result(Status.from_termination_condition("optimal"), Solution(primal, dual, objective),
                               solver_name="highs"))
