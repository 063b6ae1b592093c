"""The network's cones solved exactly in a model with integers, by SCIP through PySCIPOpt (the optional extra
`conic`, imported only here): the lowered linopy model's columns (bounds, integrality), rows and linear objective,
and each rotated cone x y >= sum (s z)^2 as one quadratic row, which SCIP's SOC handler recognizes and separates
as a cone. The exact reference of a MILP's polyhedral paths (Clarabel, solve/conic.py, takes continuous ones)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..diagnostics import Diagnostic, MgdError
from .outer_approx import Outcome, assign_solution

INSTALL = "pip install 'mgdsl[conic]'"
# HiGHS's default relative MIP gap (mip_rel_gap), so that `exact` and `lazy` stop at the same gap unless told
DEFAULT_GAP = 1e-4


def solve_exact_mip(low, time_limit: float | None = None, mip_gap: float | None = None) -> Outcome | None:
    """Solve the lowered model (lowered with `solver_cones`, linear objective) with its cones as quadratic rows in
    SCIP and hand the point to the linopy model (no row duals: a MILP has none). Outcome.status is "optimal" (within
    the gap) or "time limit" (a feasible point, with its gap). None: SCIP proved the model infeasible (the caller
    writes the lift and lets HiGHS name the conflict). No point at the time limit or another stop is E0622; PySCIPOpt
    missing is E0621."""
    scip = _pyscipopt()
    m = low.model
    cones = low.network.cones
    M = m.matrices
    n = len(M.vlabels)
    s = scip.Model()
    s.hideOutput()
    lb, ub = np.asarray(M.lb, dtype=float), np.asarray(M.ub, dtype=float)
    vtypes = np.asarray(M.vtypes) if hasattr(M, "vtypes") else np.full(n, "C")
    c = np.asarray(M.c, dtype=float)
    xs = [s.addVar(name=f"x{j}", vtype=_vtype(vtypes[j]), obj=float(c[j]),
                   lb=None if not np.isfinite(lb[j]) else float(lb[j]),
                   ub=None if not np.isfinite(ub[j]) else float(ub[j])) for j in range(n)]
    A = sp.csr_matrix(M.A) if M.A is not None else sp.csr_matrix((0, n))
    b = np.asarray(M.b, dtype=float)
    sense = np.asarray(M.sense)
    Expr, Term = scip.Expr, scip.scip.Term
    for i in range(A.shape[0]):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        # an Expr from its terms directly: quicksum over ~1e5 terms costs seconds more
        expr = Expr({Term(xs[j]): float(v) for j, v in zip(A.indices[lo:hi], A.data[lo:hi])})
        rhs = float(b[i])
        if sense[i] == "=":
            s.addCons(expr == rhs, name=f"r{i}")
        elif sense[i] == "<":
            s.addCons(expr <= rhs, name=f"r{i}")
        else:
            s.addCons(expr >= rhs, name=f"r{i}")
    # x y >= sum (s z)^2 written as sum (s z)^2 - x y <= 0 (x, y >= 0 by their bounds): the hyperbolic form that
    # SCIP's SOC nonlinear handler detects, so it separates cone tangents rather than generic quadratic cuts
    X, Y, Z = cones.columns(m)
    scale2 = np.asarray(cones.z_scale, dtype=float) ** 2
    for k in range(len(X)):
        terms = {Term(xs[X[k]], xs[Y[k]]): -1.0}
        for j in range(Z.shape[1]):
            key = Term(xs[Z[k, j]], xs[Z[k, j]])
            terms[key] = terms.get(key, 0.0) + float(scale2[j])
        s.addCons(Expr(terms) <= 0.0, name=f"cone{k}")
    s.setMinimize()
    s.setParam("limits/gap", float(mip_gap) if mip_gap is not None else DEFAULT_GAP)
    if time_limit is not None:
        s.setParam("limits/time", float(time_limit))
    s.optimize()
    status = s.getStatus()
    if status == "infeasible":
        return None
    has_point = s.getNSols() > 0
    if status not in ("optimal", "gaplimit") and not (status == "timelimit" and has_point):
        raise MgdError([Diagnostic(
            "E0622", f"SCIP stopped without a solution ({status})", low.ir.network.span, "these cones",
            notes=[f"{len(cones)} second-order cones, {m.nvars} variables, {m.ncons} constraints"],
            help="solve with `cones = lazy` (tangents in HiGHS, the default) or `cones = lift`"
                 + ("; or raise --time-limit" if status == "timelimit" else ""))])
    best = s.getBestSol()
    x = np.array([s.getSolVal(best, v) for v in xs], dtype=float)
    objective = float(c @ x)
    assign_solution(m, x, None, objective)
    return Outcome("optimal" if status != "timelimit" else "time limit", True, x, None, objective,
                   float(s.getGap()))


def _vtype(t) -> str:
    return {"B": "B", "I": "I"}.get(str(t), "C")


def _pyscipopt():
    try:
        import pyscipopt
    except ImportError:
        raise MgdError([Diagnostic(
            "E0621", "`cones = exact` on a model with integers needs PySCIPOpt (SCIP), which is not installed",
            None, help=f"install it with `{INSTALL}`, or solve with `cones = lazy` (the default)")]) from None
    return pyscipopt
