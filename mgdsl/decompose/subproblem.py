"""One ATC subproblem, built once and kept resident: the part lowered by the same code as the centralized
model, plus copies z of its coupling values, deviations d = (z - v) / scale from the other level's values v
(in p.u. of the network base power, so the penalty is well scaled whatever the units), and the
augmented-Lagrangian penalty. Between iterations only numbers change (row bounds of the d rows, costs of
d and s, the Hessian diagonal of d), so every re-solve is a HiGHS hot start."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, InternalError, MgdError
from ..highs import (
    OPTIMAL,
    QP_RETRY_TIME_LIMIT,
    SOLVE_ERROR,
    TIME_LIMIT,
    column_positions,
    from_linopy,
    has_feasible_point,
    new_solution,
    qp_solver,
    row_positions,
    run,
    set_option,
    status_text,
)
from ..lower.cones import levels_for
from ..lower.export import write_model
from ..lower.system import Lowered, lower_system
from ..lower.terms import wrap_expression
from ..results import Results, collect
from ..solve.centralized import diagnose_infeasible
from .partition import Part

PENALTIES = ("pwl", "quadratic", "l1")
INTEGER_MODES = ("relax", "milp")
INTEGRALITY_TOLERANCE = 1e-6      # HiGHS's mip_feasibility_tolerance: a relaxation this close to integers is integral
SIMPLEX_DUAL, SIMPLEX_PRIMAL = 1, 4   # HiGHS's simplex_strategy values
DUAL_CHOOSE, DUAL_DEVEX = -1, 1       # HiGHS's simplex_dual_edge_weight_strategy values


@dataclass
class SubproblemSpec:
    """Everything a worker needs to build a subproblem; plain data, so it can travel to another process."""

    part: Part
    couplings: list[str]          # the coupling values this part holds a copy of (z)
    pairs: list[tuple[str, str]]  # (pair id, coupling id) for each penalty term here (d)
    scales: list[float]           # per pair: the unit of d (the base power in kW; 1 for a status)
    penalty: str
    tangents: np.ndarray          # positive tangent points of d^2 for the pwl penalty (p.u.)
    bounds: dict[str, float]      # |z| bound per coupling, where known (tie and switch limits)
    fix_integers: int = 0         # MILP parts: hold integers after this many unchanged solves (0: never)
    time_limit: float = 300.0     # seconds per solve; a solve that reaches it stops ATC with E0605
    # MILP parts: "relax" solves the LP relaxation (hot-started LPs) until the first request with exact=True, and
    # from then on certifies each answer (relaxation bound against the LP with the integers fixed at the rounded
    # relaxation; the MILP only where they disagree by more than the MIP gap); "milp": a MILP every solve, with
    # `fix_integers` (which, when > 0, implies "milp"). Measured: docs/atc.md, "Time: staged solves".
    integers: str = "relax"
    # Polyhedral cones (distflow_socp) at this accuracy while the part answers relaxed (before its first exact
    # request; 0: always the declared accuracy). Coarser cones have fewer levels, so every LP is smaller.
    coarse_accuracy: float = 1e-2


@dataclass
class SolveOutcome:
    part: str
    z: np.ndarray                 # (coupling, t) values of this part's copies
    own_cost: float               # the part's objective without the penalty terms
    seconds: float                # HiGHS time
    status: str
    integers_fixed: bool = False  # not final: relaxed integers, coarse cones, or integers held at settled values


def tangent_points(tolerance: float, largest: float, ratio: float = 1.41) -> np.ndarray:
    """Geometric points from a fraction of the tolerance up to the largest deviation expected: the
    penalty sees inconsistencies down to about the first point."""
    first = max(tolerance / 4.0, 1e-9)
    n = int(np.ceil(np.log(max(largest, first * 2) / first) / np.log(ratio))) + 1
    return first * ratio ** np.arange(n)


class Subproblem:
    """A resident subproblem. MILP parts and parts with polyhedral cones are solved in stages
    (`spec.integers` "relax", `spec.coarse_accuracy`; _solve_staged): the LP relaxation with coarse cones,
    hot-started, until the first solve with `exact=True`, then at the declared accuracy with every answer
    certified as a MILP answer. With `spec.integers` "milp", every solve of a MILP part is a MILP; with
    `spec.fix_integers` K > 0, once its integer values have come out the same K solves in a row, it is re-solved
    as an LP with them held until a solve with `exact=True` frees them again. An answer that is not final
    (relaxed or coarse, or integers held) says so (`SolveOutcome.integers_fixed`), and the driver asks for an
    exact solve before it accepts convergence."""

    def __init__(self, spec: SubproblemSpec, steps: int):
        self.spec = spec
        self.fix_integers = spec.fix_integers
        self.name = spec.part.name
        self.sign = 1.0 if spec.part.is_parent else -1.0      # lambda (r - x) seen from this level
        self.steps = steps
        low = lower_system(spec.part.ir, local=set(spec.part.owners))
        self.low: Lowered = low
        m = low.model
        time_ = pd.RangeIndex(steps, name="t")
        self.has_integers = bool(len(m.binaries) or len(m.integers))
        if not spec.couplings:
            self.z = self.d = self.s = None
            self.h = None
            self._finish_build()
            return
        # Every ATC row and column is made from its finished arrays (Builder.variable_arrays/constraint_arrays):
        # linopy arithmetic here cost more than lowering the part itself.
        b = low.builder
        cidx = pd.Index(spec.couplings, name="coupling")
        bound = np.array([spec.bounds.get(c, np.inf) for c in spec.couplings])
        self.z_bound = bound                  # |z| per coupling: the bounds a held coupling returns to
        self.coupling_row = {c: k for k, c in enumerate(spec.couplings)}
        self.z = b.variable_arrays("atc.z", None, "ATC: this part's copy of a coupling value", None, [cidx, time_],
                                   -bound[:, None], bound[:, None])
        z_lab = self.z.labels.values
        have = set()
        for k, block in enumerate(low.copies):
            ids = [i for i in block.ids if i in self.coupling_row]
            if not ids:
                continue
            # z - copy == 0: z first, then the copy's terms negated; the copy's constant goes to the right
            data = block.expr.data.transpose(block.dim, "t", "_term")
            at = {c: j for j, c in enumerate(block.ids)}
            rows = np.array([at[i] for i in ids], dtype=np.int64)
            zs = z_lab[[self.coupling_row[i] for i in ids]]
            vars_ = np.concatenate([zs[..., None], np.asarray(data.vars.values)[rows]], axis=-1)
            coeffs = np.concatenate([np.ones(zs.shape + (1,)), -np.asarray(data.coeffs.values, dtype=float)[rows]],
                                    axis=-1)
            b.constraint_arrays(f"atc.copy_{k}", None, "ATC: the copy equals the part's own value", None,
                                [pd.Index(ids, name="coupling"), time_], vars_, coeffs, "=",
                                np.asarray(data.const.values, dtype=float)[rows])
            have |= set(ids)
        missing = [c for c in spec.couplings if c not in have and not spec.part.is_parent]
        if missing:
            raise InternalError(f"part {self.name} has no copy of {missing}")
        pidx = pd.Index([p for p, _ in spec.pairs], name="pair")
        inf = np.full(1, np.inf)
        self.d = b.variable_arrays("atc.d", None, "ATC: deviation from the other level (p.u.)", None, [pidx, time_],
                                   -inf, inf)
        d_lab = self.d.labels.values
        z_of_pair = z_lab[[self.coupling_row[c] for _, c in spec.pairs]]
        scale = np.asarray(spec.scales, dtype=float)
        coeffs = np.empty(d_lab.shape + (2,))
        coeffs[..., 0], coeffs[..., 1] = scale[:, None], -1.0
        b.constraint_arrays("atc.diff", None, "ATC: scale d = z", None, [pidx, time_],
                            np.stack([d_lab, z_of_pair], axis=-1), coeffs, "=", np.zeros(d_lab.shape))
        self.s = None
        if spec.penalty in ("pwl", "l1"):
            self.s = b.variable_arrays("atc.s", None, "ATC: penalty epigraph", None, [pidx, time_], np.zeros(1), inf)
            if spec.penalty == "pwl":
                pts = np.concatenate([-spec.tangents[::-1], spec.tangents])
                slope, icept = 2 * pts, pts ** 2           # s >= 2 a d - a^2: tangents of d^2
            else:
                slope, icept = np.array([1.0, -1.0]), np.zeros(2)
            kidx = pd.Index(np.arange(len(slope)), name="cut")
            shape = d_lab.shape + (len(slope),)
            s_lab = self.s.labels.values
            vars_ = np.stack([np.broadcast_to(s_lab[..., None], shape), np.broadcast_to(d_lab[..., None], shape)],
                             axis=-1)
            coeffs = np.empty(shape + (2,))
            coeffs[..., 0], coeffs[..., 1] = 1.0, -slope
            b.constraint_arrays("atc.cuts", None, "ATC: tangents of the penalty", None, [pidx, time_, kidx], vars_,
                                coeffs, ">=", np.array(np.broadcast_to(-icept, shape)))
        # Own objective plus placeholders for the penalty (all coefficients are set through HiGHS below).
        obj = low.objective_expr
        if self.s is not None and (obj is None or isinstance(obj, linopy.LinearExpression)):
            # obj + sum(s) + 0 sum(d), from the terms' arrays
            parts_v = [] if obj is None else [np.asarray(obj.vars.values).ravel()]
            parts_c = [] if obj is None else [np.asarray(obj.coeffs.values, dtype=float).ravel()]
            parts_v += [self.s.labels.values.ravel(), d_lab.ravel()]
            parts_c += [np.ones(d_lab.size), np.zeros(d_lab.size)]
            const = 0.0 if obj is None else float(np.nansum(np.asarray(obj.const.values, dtype=float)))
            ds = xr.Dataset({"coeffs": (("_term",), np.concatenate(parts_c)),
                             "vars": (("_term",), np.concatenate(parts_v).astype(m._dtypes["labels"], copy=False)),
                             "const": ((), const)}, attrs={"name": None})
            m.add_objective(wrap_expression(m, ds, linopy.LinearExpression), overwrite=True)
        else:
            pen = (0.0 * self.d).sum() if self.s is None else (1.0 * self.s).sum() + (0.0 * self.d).sum()
            if spec.penalty == "quadratic":
                pen = (self.d * self.d).sum() + (0.0 * self.d).sum()
            m.add_objective(pen if obj is None else obj + pen, overwrite=True)
        self._finish_build()

    def _finish_build(self) -> None:
        m = self.low.model
        self.h = from_linopy(m)
        if self._is_qp():
            set_option(self.h, "solver", qp_solver())
        elif not (len(m.binaries) or len(m.integers)):
            # An LP part: HiGHS uses presolve only for the first solve (later ones start from the last basis),
            # and its choice among equally good vertices there sets ATC's whole path. HiGHS 1.16 presolves
            # differently from 1.15, and a system that converged in 50 iterations on 1.15 cycled on 1.16
            # (tests/test_atc_properties.py, PWL_STALL); without presolve both take the same path.
            set_option(self.h, "presolve", "off")

        def cols(var):
            return None if var is None else column_positions(m, var.labels.values)

        self.z_cols, self.d_cols, self.s_cols = cols(self.z), cols(self.d), cols(self.s)
        self.diff_rows = None
        if self.d is not None:
            self.diff_rows = row_positions(m, m.constraints["atc.diff"].labels.values)
        self.hess_pos = None
        if self.spec.penalty == "quadratic" and self.d is not None:
            hess = self.h.getModel().hessian_
            start, index = np.asarray(hess.start_), np.asarray(hess.index_)
            self.hessian = hess
            flat = self.d_cols.ravel()
            # where each d column's diagonal entry sits in the Hessian's value array
            self.hess_pos = np.array([start[c] + int(np.nonzero(index[start[c]:start[c + 1]] == c)[0][0])
                                      for c in flat])
        self.lam = self.w2 = None
        self._x = None                        # the last answer's primal values
        self._held: set[str] = set()          # couplings whose copies are fixed (see _hold)
        self._last_solution = None
        lp = self.h.getLp()
        integrality = np.asarray(lp.integrality_, dtype=int) if len(lp.integrality_) else np.zeros(0, dtype=int)
        self.int_cols = np.nonzero(integrality)[0].astype(np.int32)
        self.int_kinds = integrality[self.int_cols]
        self.int_bounds = (np.asarray(lp.col_lower_)[self.int_cols], np.asarray(lp.col_upper_)[self.int_cols])
        # the integer columns by declared variable, in declaration order (rounded one variable at a time: _round)
        self.int_groups = []                  # (columns, lower, upper)
        for name in m.variables:
            cols = column_positions(m, m.variables[name].labels.values.ravel())
            group = np.intersect1d(cols[cols >= 0], self.int_cols).astype(np.int32)
            if len(group):
                self.int_groups.append((group, np.asarray(lp.col_lower_)[group], np.asarray(lp.col_upper_)[group]))
        self._settled_integers = None         # the integer values of the last MILP solve
        self._same_integers = 0               # how many MILP solves in a row gave them
        self.integers_fixed = False
        # relaxation mode (spec.integers == "relax"): the integer columns are continuous in HiGHS from the start.
        # `fix_integers` K > 0 asks for the MILP mode's mechanism (hold integers once settled), so it implies "milp".
        self.relaxed = self.spec.integers == "relax" and self.fix_integers == 0 and len(self.int_cols) > 0
        self._exact_from_now = False          # an exact solve was asked for: certify every answer from then on
        self._rounded = False                 # the integer columns are fixed at rounded values (a certificate)
        self.certificates = {"relaxation integral": 0, "rounding": 0, "milp": 0}
        if self.relaxed:
            n = len(self.int_cols)
            self.h.changeColsIntegrality(n, self.int_cols, np.zeros(n, dtype=np.uint8))
        self.cones = None
        if self.spec.coarse_accuracy > 0 and (self.relaxed or not self.has_integers) and not self._is_qp():
            self.cones = CoarseCones.build(m, self.h, levels_for(self.spec.coarse_accuracy / 2))
        # MILP parts in relaxation mode and parts with coarse cones: staged solves (_solve_staged)
        self.staged = self.relaxed or self.cones is not None
        if self.staged:
            # Devex pricing in dual simplex (the certificates' LPs): with steepest edge, the first dual simplex
            # after an interior point solve took 1.1-1.3 s for 2 iterations on the 33-bus network, 0.02 s with Devex
            set_option(self.h, "simplex_dual_edge_weight_strategy", DUAL_DEVEX)

    def set_values(self, remote: np.ndarray, lam: np.ndarray, w: np.ndarray,
                   held: dict[str, np.ndarray] | None = None) -> None:
        """The other level's values v (pair, t), the multipliers and weights of this part's pairs, and the
        couplings held at given values over t (switch statuses received as data; the others are free again)."""
        if self.d is None:
            return
        self._hold(held or {})
        h = self.h
        rows = self.diff_rows.ravel()
        v = np.asarray(remote, dtype=float).ravel()
        h.changeRowsBounds(len(rows), rows, -v, -v)             # scale * d - z = -v
        lam = np.asarray(lam, dtype=float).ravel()
        w2 = np.asarray(w, dtype=float).ravel() ** 2
        dcols = self.d_cols.ravel()
        h.changeColsCost(len(dcols), dcols, self.sign * lam)
        if self.s is not None:
            scols = self.s_cols.ravel()
            h.changeColsCost(len(scols), scols, w2)
        else:
            hess = self.hessian
            values = np.asarray(hess.value_, dtype=float)
            values[self.hess_pos] = 2.0 * w2                    # HiGHS minimizes 1/2 x'Qx
            hess.value_ = values
            h.passHessian(hess)
        self.lam, self.w2 = lam, w2

    def _hold(self, held: dict[str, np.ndarray]) -> None:
        """Fix the copies z of the `held` couplings to their values; release those held before and not now."""
        if not held and not self._held:
            return
        lower = np.repeat(-self.z_bound[:, None], self.steps, axis=1)
        upper = np.repeat(self.z_bound[:, None], self.steps, axis=1)
        for coupling, values in held.items():
            lower[self.coupling_row[coupling]] = upper[self.coupling_row[coupling]] = values
        cols = self.z_cols.ravel()
        self.h.changeColsBounds(len(cols), cols, lower.ravel(), upper.ravel())
        self._held = set(held)

    def _fix_integers(self, values: np.ndarray) -> None:
        n, cols = len(self.int_cols), self.int_cols
        self.h.changeColsIntegrality(n, cols, np.zeros(n, dtype=np.uint8))       # continuous
        self.h.changeColsBounds(n, cols, values, values)
        self.integers_fixed = True

    def _free_integers(self) -> None:
        n, cols = len(self.int_cols), self.int_cols
        self.h.changeColsBounds(n, cols, *self.int_bounds)
        self.h.changeColsIntegrality(n, cols, self.int_kinds.astype(np.uint8))
        self.integers_fixed = False

    def solve(self, exact: bool = False) -> SolveOutcome:
        h = self.h
        if h.getNumCol() == 0:          # a coordinator with nothing to coordinate
            return SolveOutcome(self.name, np.zeros((0, self.steps)), self.low.objective_constant, 0.0, "optimal")
        if self.staged:
            return self._solve_staged(exact)
        if self.has_integers and len(self.int_cols):
            if self.integers_fixed and exact:
                self._free_integers()
            elif (not self.integers_fixed and not exact and self.fix_integers > 0
                  and self._same_integers >= self.fix_integers):
                self._fix_integers(self._settled_integers)
        t0 = time.perf_counter()
        if self.has_integers and not self.integers_fixed and self._last_solution is not None:
            # a MIP start: the last iterate's integer values stay feasible (only the penalty's costs and the
            # targets changed; HiGHS completes the continuous part), so branch and bound begins with an
            # incumbent instead of searching for one
            h.setSolution(new_solution(self._last_solution))
        status = run(h, self.spec.time_limit)
        if status != OPTIMAL and self._is_qp():
            status = self._retry_qp(status)
        seconds = time.perf_counter() - t0
        if status != OPTIMAL and not self._near_optimal(status):
            return self._failure(status)
        x = np.asarray(h.getSolution().col_value)
        if self.has_integers:
            self._last_solution = list(x)             # the next solve's MIP start
        if self.has_integers and len(self.int_cols) and not self.integers_fixed:
            values = np.round(x[self.int_cols])
            same = self._settled_integers is not None and np.array_equal(values, self._settled_integers)
            self._same_integers = self._same_integers + 1 if same else 1
            self._settled_integers = values
        return self._outcome(x, h.getInfo().objective_function_value, seconds, self.integers_fixed)

    def _outcome(self, x: np.ndarray, obj: float, seconds: float, integers_fixed: bool) -> SolveOutcome:
        self._x = x                                   # the answer (results() reads it)
        penalty = 0.0
        if self.d is not None:
            d = x[self.d_cols.ravel()]
            penalty = float(self.sign * self.lam @ d)
            if self.s is not None:
                penalty += float(self.w2 @ x[self.s_cols.ravel()])
            else:
                penalty += float(self.w2 @ (d * d))
        z = x[self.z_cols] if self.z is not None else np.zeros((0, self.steps))
        return SolveOutcome(self.name, z, obj - penalty + self.low.objective_constant, seconds, "optimal",
                            integers_fixed)

    # ------------------------------------------------------------ staged solves: relaxed and coarse, then exact
    def _solve_staged(self, exact: bool) -> SolveOutcome:
        """MILP parts in relaxation mode, and parts with polyhedral cones (coarse while relaxed).

        A MILP re-solve is a cold root LP every time (HiGHS keeps no basis across MILP runs: ~30k simplex
        iterations on the 33-bus network), while the relaxation keeps its basis across every change. From a
        basis, primal simplex suits these changes: targets move the right-hand sides of the d rows, whose free d
        columns are basic and absorb them, so only the costs (multipliers, weights) break optimality. The first
        solve, and the first after the cones are refined, has no useful basis: interior point with crossover,
        which leaves one.

        Until an exact solve is asked for, the answer is the relaxation's, with coarse cones, reported as
        `integers_fixed` (not final: the coordinator verifies before it accepts convergence). From the first
        exact request on, the cones have their declared accuracy and every answer is certified: the relaxation's
        optimum L bounds the MILP from below, and the LP with the integers fixed at the relaxation's rounded
        values (dual simplex from the relaxation's basis: only bounds changed) gives a feasible point of value U;
        if U - L is within HiGHS's MIP gap, the point is a MILP answer as good as branch and bound would return.
        Only where the bounds disagree is the MILP itself solved."""
        h, n, cols = self.h, len(self.int_cols), self.int_cols
        self._exact_from_now |= exact
        t0 = time.perf_counter()
        if self._rounded:
            h.changeColsBounds(n, cols, *self.int_bounds)
            self._rounded = False
        if self._exact_from_now and self.cones is not None and self.cones.coarse:
            self.cones.refine(h)
            h.clearSolver()                   # the coarse basis is far from the refined optimum: start afresh
        if not h.getBasis().valid:
            set_option(h, "solver", "ipm")
            set_option(h, "run_crossover", "on")
        else:
            set_option(h, "solver", "simplex")
            set_option(h, "simplex_strategy", SIMPLEX_PRIMAL)
        status = run(h, self.spec.time_limit)
        if status != OPTIMAL:
            return self._failure(status)
        x = np.asarray(h.getSolution().col_value)
        lower = h.getInfo().objective_function_value
        if not self._exact_from_now:
            return self._outcome(x, lower, time.perf_counter() - t0, True)
        if not n:
            return self._outcome(x, lower, time.perf_counter() - t0, False)
        if self._integral(x):
            self.certificates["relaxation integral"] += 1
            self._last_solution = x
            return self._outcome(x, lower, time.perf_counter() - t0, False)
        found = self._round(x)
        if found is not None:
            x, upper = found
            self.last_certificate = (lower, upper)
            if upper - lower <= self._mip_gap(upper):
                self.certificates["rounding"] += 1
                self._last_solution = x
                return self._outcome(x, upper, time.perf_counter() - t0, False)
        return self._solve_milp(t0)

    def _integral(self, x: np.ndarray, cols: np.ndarray | None = None) -> bool:
        cols = self.int_cols if cols is None else cols
        return float(np.max(np.abs(x[cols] - np.round(x[cols])), initial=0.0)) <= INTEGRALITY_TOLERANCE

    def _round(self, x: np.ndarray) -> tuple[np.ndarray, float] | None:
        """An integral point near the relaxation's x, and its cost: the integer variables are fixed at their
        rounded values one declared variable at a time, in declaration order, and the LP re-solved (dual simplex
        from the last basis: only bounds changed) after each variable that was fractional. Rounding all at once
        can be infeasible where one integer variable bounds another (a capacitor bank's switching count sw[t] >=
        |n[t] - n[t-1]| with n rounded on its own); fixing n first lets sw follow. None where an LP is infeasible."""
        h = self.h
        self._rounded = True                          # the next solve frees them again
        set_option(h, "solver", "simplex")
        set_option(h, "simplex_strategy", SIMPLEX_DUAL)
        upper = None
        for group, low, up in self.int_groups:
            values = np.clip(np.round(x[group]), low, up)
            h.changeColsBounds(len(group), group, values, values)
            if self._integral(x, group):
                continue                              # x stays optimal: nothing to re-solve
            if run(h, self.spec.time_limit) != OPTIMAL:
                return None
            x = np.asarray(h.getSolution().col_value)
            upper = h.getInfo().objective_function_value
            if self._integral(x):
                break
        if upper is None or not self._integral(x):
            return None
        rest = self.int_cols                          # fix what is left where the loop stopped early
        h.changeColsBounds(len(rest), rest, np.round(x[rest]), np.round(x[rest]))
        return x, upper

    def _mip_gap(self, upper: float) -> float:
        """What HiGHS's branch and bound would accept between its incumbent and its bound."""
        rel = float(self.h.getOptionValue("mip_rel_gap")[1])
        absolute = float(self.h.getOptionValue("mip_abs_gap")[1])
        return max(absolute, rel * abs(upper))

    def _solve_milp(self, t0: float) -> SolveOutcome:
        """The MILP, where the certificate fails; the relaxation's basis is kept for the next hot start."""
        h, n, cols = self.h, len(self.int_cols), self.int_cols
        self.certificates["milp"] += 1
        basis = h.getBasis()
        if self._rounded:
            h.changeColsBounds(n, cols, *self.int_bounds)
            self._rounded = False
        h.changeColsIntegrality(n, cols, self.int_kinds.astype(np.uint8))
        try:
            if self._last_solution is not None:
                h.setSolution(new_solution(self._last_solution))      # a MIP start: the last certified point
            set_option(h, "solver", "choose")
            set_option(h, "simplex_strategy", SIMPLEX_DUAL)
            set_option(h, "simplex_dual_edge_weight_strategy", DUAL_CHOOSE)
            status = run(h, self.spec.time_limit)
            if status != OPTIMAL:
                return self._failure(status)
            x = np.asarray(h.getSolution().col_value)
            obj = h.getInfo().objective_function_value
        finally:
            h.changeColsIntegrality(n, cols, np.zeros(n, dtype=np.uint8))
            set_option(h, "simplex_dual_edge_weight_strategy", DUAL_DEVEX)
        self._last_solution = x
        out = self._outcome(x, obj, time.perf_counter() - t0, False)
        if basis.valid:
            h.setBasis(basis)
        return out

    def _to_declared(self) -> None:
        """Back to the model as declared (integers, the declared cone accuracy), before a failure is diagnosed."""
        n, cols = len(self.int_cols), self.int_cols
        if self.relaxed:
            self.h.changeColsBounds(n, cols, *self.int_bounds)
            self.h.changeColsIntegrality(n, cols, self.int_kinds.astype(np.uint8))
        if self.cones is not None and self.cones.coarse:
            self.cones.refine(self.h)
        self.relaxed = self._rounded = self.staged = False

    def _is_qp(self) -> bool:
        return self.spec.penalty == "quadratic" or self.low.model.is_quadratic

    def _retry_qp(self, status):
        """HiPO (interior point) sometimes stops with "no progress" on these QPs; the active-set solver then
        usually finishes them (and the reverse holds on others, which is why HiPO goes first). Each retry is
        bounded in time; the status of the last one is returned."""
        h = self.h
        limit = min(QP_RETRY_TIME_LIMIT, self.spec.time_limit)
        try:
            # the active-set solver, then HiPO from a cold start, then both without presolve (presolve was
            # seen to break the active-set solver on degenerate parts: "Solve error" on a 30-column QP)
            attempts = dict.fromkeys([("qpasm", "choose"), (qp_solver(), "choose"), ("qpasm", "off"),
                                      (qp_solver(), "off")])          # (without HiPO: the active-set solver twice)
            for solver, presolve in attempts:
                set_option(h, "solver", solver)
                set_option(h, "presolve", presolve)
                h.clearSolver()
                status = run(h, limit)
                if status == OPTIMAL or self._near_optimal(status):
                    return status
            return status
        finally:
            set_option(h, "solver", qp_solver())
            set_option(h, "presolve", "choose")

    def _near_optimal(self, status) -> bool:
        """A stop with a feasible point whose dual residual is small (HiPO's "Solve error" a hair above its
        1e-7 limit) is accepted."""
        if not self._is_qp() or status != SOLVE_ERROR:
            return False        # not "Unknown": HiPO was seen to end so with a far-from-optimal point
        info = self.h.getInfo()
        return has_feasible_point(self.h) and info.max_primal_infeasibility <= 1e-6 \
            and info.max_dual_infeasibility <= 1e-4

    def _failure(self, status):
        text = status_text(self.h, status)
        if self.staged:
            self._to_declared()
        if "nfeasible" in text:
            try:
                diagnose_infeasible(self.low, self.h)
            except MgdError as err:
                for d in err.diagnostics:
                    d.message = f"subproblem `{self.name}`: {d.message}"
                raise MgdError(err.diagnostics) from None
        if status == TIME_LIMIT:
            raise MgdError([Diagnostic(
                "E0605", f"subproblem `{self.name}`: HiGHS reached the subproblem time limit "
                         f"({self.spec.time_limit:g} s) without an optimum", self._part_span(),
                help="raise `subproblem_time_limit` in the `decompose atc { ... }` block, or make the part "
                     "smaller (`children microgrids`; `fix_integers K` re-solves settled MILP parts as LPs)")])
        help_ = "check the part's data"
        if self._is_qp():
            help_ = ("HiGHS's QP solvers (HiPO and the active-set solver, with and without presolve) all failed on "
                     "this part, a known weakness on small degenerate QPs; use `penalty pwl` (the default), whose "
                     "subproblems are LPs")
        raise MgdError([Diagnostic("E0603", f"subproblem `{self.name}`: HiGHS stopped without an optimum ({text})",
                                   self._part_span(), help=help_)])

    def _part_span(self):
        """Where the part is declared: the network for the parent, else its first microgrid."""
        ir, part = self.spec.part.ir, self.spec.part
        if part.is_parent and ir.network is not None:
            return ir.network.span
        spans = [ir.microgrids[o].span for o in sorted(part.owners) if o in ir.microgrids]
        return spans[0] if spans else None

    def results(self):
        """The part's results in the same form as a centralized solve (assigns the last solution)."""
        m = self.low.model
        if self.h.getNumCol() == 0:
            return Results({}, {})
        m.status, m.termination_condition = "ok", "optimal"     # values assigned below, for expressions
        x = self._x if self._x is not None else np.asarray(self.h.getSolution().col_value)
        for _, var in m.variables.items():
            pos = column_positions(m, var.labels.values)
            values = np.where(pos >= 0, x[np.maximum(pos, 0)], np.nan)
            var.solution = xr.DataArray(values, var.coords, dims=var.dims)
        if not self.has_integers and self.low.balance_name is not None:
            dual = np.asarray(self.h.getSolution().row_dual)
            con = m.constraints[self.low.balance_name]
            pos = row_positions(m, con.labels.values)
            con.dual = xr.DataArray(np.where(pos >= 0, dual[np.maximum(pos, 0)], np.nan),
                                    {d: con.coords[d] for d in con.labels.dims}, dims=con.labels.dims)
        return collect(self.low)

    def write(self, path) -> None:
        write_model(self.low.model, path)


@dataclass
class CoarseCones:
    """The polyhedral cones of a part (mgdsl/lower/cones.py: level variables `P.xi`, `P.eta`; rows `P.rotate`,
    `P.reflect1`, `P.reflect2` per level, `P.radius`, `P.angle` at the last level nu) at a coarser level K, in
    the same HiGHS model: rows xi_K <= t and eta_K <= tan(pi / 2^(K+1)) xi_K are added, and while coarse they
    hold and the rows of levels above K and at nu are free; refining swaps the bounds back. Only bounds change,
    and the added rows stay after the model's own, so linopy's row positions hold."""

    fine_rows: np.ndarray         # rows freed while coarse
    fine_lower: np.ndarray
    fine_upper: np.ndarray
    coarse_rows: np.ndarray       # the added rows
    coarse_upper: np.ndarray
    coarse: bool = False

    @classmethod
    def build(cls, m, h, level: int) -> CoarseCones | None:
        fine, starts, index, value, upper = [], [], [], [], []
        lp = h.getLp()
        row_upper = np.asarray(lp.row_upper_)
        variables, constraints = set(m.variables), set(m.constraints)
        for name in list(m.constraints):
            if not name.endswith(".radius"):
                continue
            prefix = name[: -len(".radius")]
            names = [prefix + r for r in (".rotate", ".reflect1", ".reflect2", ".angle")]
            if not {prefix + ".xi", prefix + ".eta"} <= variables or not set(names) <= constraints:
                continue
            xi, eta = m.variables[prefix + ".xi"], m.variables[prefix + ".eta"]
            rows = [m.constraints[r] for r in names]
            if "level" not in xi.dims:
                continue
            nu = xi.sizes["level"] - 1
            if level >= nu:
                continue
            dims = [d for d in xi.dims if d != "level"]
            xi_cols = column_positions(m, xi.labels.transpose(*dims, "level").values.reshape(-1, nu + 1))
            eta_cols = column_positions(m, eta.labels.transpose(*dims, "level").values.reshape(-1, nu + 1))
            radius = m.constraints[name]
            radius_rows = row_positions(m, radius.labels.transpose(*dims).values.ravel())
            terms = column_positions(m, radius.vars.transpose(*dims, "_term").values.reshape(len(radius_rows), -1))
            coeffs = radius.coeffs.transpose(*dims, "_term").values.reshape(terms.shape)
            tan = math.tan(math.pi / 2.0 ** (level + 1))
            for i in np.nonzero(radius_rows >= 0)[0]:
                keep = terms[i] >= 0               # xi_nu - t <= rhs  ->  xi_K - t <= rhs
                cols = np.where(terms[i] == xi_cols[i, nu], xi_cols[i, level], terms[i])[keep]
                starts.append(len(index))
                index.extend(cols.tolist())
                value.extend(coeffs[i][keep].tolist())
                upper.append(row_upper[radius_rows[i]])
                starts.append(len(index))          # eta_K - tan xi_K <= 0
                index.extend([int(eta_cols[i, level]), int(xi_cols[i, level])])
                value.extend([1.0, -tan])
                upper.append(0.0)
            for r in rows[:3]:
                labels = r.labels.transpose(*dims, "level").values.reshape(-1, nu + 1)[:, level + 1:]
                fine.append(row_positions(m, labels[labels >= 0]))
            for r in (radius, rows[3]):
                labels = r.labels.values.ravel()
                fine.append(row_positions(m, labels[labels >= 0]))
        if not starts:
            return None
        fine_rows = np.concatenate(fine).astype(np.int32)
        first = h.getNumRow()
        n = len(starts)
        h.addRows(n, np.full(n, -np.inf), np.full(n, np.inf), len(index), np.asarray(starts, dtype=np.int32),
                  np.asarray(index, dtype=np.int32), np.asarray(value, dtype=float))
        cones = cls(fine_rows, np.asarray(lp.row_lower_)[fine_rows], row_upper[fine_rows],
                    np.arange(first, first + n, dtype=np.int32), np.asarray(upper, dtype=float))
        cones.coarsen(h)
        return cones

    def coarsen(self, h) -> None:
        free = np.full(len(self.fine_rows), np.inf)
        h.changeRowsBounds(len(self.fine_rows), self.fine_rows, -free, free)
        h.changeRowsBounds(len(self.coarse_rows), self.coarse_rows, np.full(len(self.coarse_rows), -np.inf),
                           self.coarse_upper)
        self.coarse = True

    def refine(self, h) -> None:
        free = np.full(len(self.coarse_rows), np.inf)
        h.changeRowsBounds(len(self.coarse_rows), self.coarse_rows, -free, free)
        h.changeRowsBounds(len(self.fine_rows), self.fine_rows, self.fine_lower, self.fine_upper)
        self.coarse = False
