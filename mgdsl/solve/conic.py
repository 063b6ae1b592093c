"""The network's cones solved exactly, by Clarabel (an interior-point conic solver; the optional extra `conic`,
imported only here): the lowered linopy model's matrices plus the rotated cones the formulation described
(`RotatedCones`), for continuous models; a model with integers goes to SCIP (solve/conic_scip.py), Clarabel having
none. The reference the polyhedral paths are measured against (bench/bench_cones.py)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..diagnostics import Diagnostic, Label, MgdError
from ..lower.cones import RotatedCones
from .outer_approx import Outcome, assign_solution

INSTALL = "pip install 'mgdsl[conic]'"


def solve_exact(low, time_limit: float | None = None, relax_integers: bool = False,
                mip_gap: float | None = None) -> Outcome | None:
    """Solve the lowered model (lowered with `solver_cones`) with its cones as true second-order cones and hand
    the point to the linopy model. A model with integers goes to SCIP (within `mip_gap`), or with `relax_integers`
    its continuous relaxation to Clarabel (the benchmark's reference); integers with a quadratic objective are
    E0620. None: the solver proved the model infeasible (the caller writes the lift and lets HiGHS name the
    conflict). Other stops are E0622; the solver missing is E0621."""
    m = low.model
    cones = low.network.cones
    if (len(m.binaries) or len(m.integers)) and not relax_integers:
        if m.is_quadratic:
            raise _integers_error(low)
        from .conic_scip import solve_exact_mip  # imports PySCIPOpt only when it runs

        return solve_exact_mip(low, time_limit, mip_gap)
    clarabel = _clarabel()
    problem = conic_problem(m, cones)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    if time_limit is not None:
        settings.time_limit = float(time_limit)
    solver = clarabel.DefaultSolver(*problem.data, problem.cones(clarabel), settings)
    sol = solver.solve()
    status = str(sol.status)
    if status in ("PrimalInfeasible", "AlmostPrimalInfeasible"):
        return None
    if status not in ("Solved", "AlmostSolved"):
        raise MgdError([Diagnostic(
            "E0622", f"Clarabel stopped without a solution ({status})", low.ir.network.span, "these cones",
            notes=[f"{len(cones)} second-order cones, {m.nvars} variables, {m.ncons} constraints"],
            help="solve with `cones = lazy` (tangents in HiGHS, the default) or `cones = lift`"
                 + ("; or raise --time-limit" if status == "MaxTime" else ""))])
    x = np.asarray(sol.x, dtype=float)
    objective = float(problem.c @ x + (0.5 * x @ (problem.q_full @ x) if problem.q_full is not None else 0.0))
    assign_solution(m, x, problem.row_duals(np.asarray(sol.z, dtype=float)), objective)
    return Outcome("optimal", True, x, None, objective)


def fixed_integer_duals(low, time_limit: float | None = None) -> bool:
    """The nodal prices of a model with integers solved exactly (SCIP, which gives no duals): its integers fixed at
    their values, the remaining conic model solved by Clarabel, whose point and row duals replace SCIP's point (the
    same optimum at those integers). The model's bounds are restored. False: Clarabel did not solve it."""
    m = low.model
    names = list(m.binaries) + list(m.integers)
    saved = {name: (m.variables[name].lower, m.variables[name].upper) for name in names}
    try:
        for name in names:
            var = m.variables[name]
            value = var.solution.round()
            var.update(lower=value, upper=value)
        try:
            return solve_exact(low, time_limit, relax_integers=True) is not None
        except MgdError:
            return False
    finally:
        for name, (lower, upper) in saved.items():
            m.variables[name].update(lower=lower, upper=upper)


class ConicProblem:
    """min 1/2 x'Px + c'x  s.t.  A x + s = b, s in K (Clarabel's form): K is a zero cone for the equality rows and
    fixed columns, a nonnegative cone for the inequalities and finite bounds, and one 4-dimensional second-order
    cone (x + y, 2 s z_1, 2 s z_2, x - y) per rotated cone x y >= |s z|^2."""

    def __init__(self, P, c, A, b, n_zero: int, n_nonneg: int, cone_sizes: list[int], row_sign: np.ndarray,
                 row_at: np.ndarray, q_full):
        self.P, self.c, self.A, self.b = P, c, A, b
        self.n_zero, self.n_nonneg, self.cone_sizes = n_zero, n_nonneg, cone_sizes
        self.row_sign, self.row_at, self.q_full = row_sign, row_at, q_full

    @property
    def data(self):
        return self.P, self.c, self.A, self.b

    def cones(self, clarabel) -> list:
        out = []
        if self.n_zero:
            out.append(clarabel.ZeroConeT(self.n_zero))
        if self.n_nonneg:
            out.append(clarabel.NonnegativeConeT(self.n_nonneg))
        out += [clarabel.SecondOrderConeT(k) for k in self.cone_sizes]
        return out

    def row_duals(self, z: np.ndarray) -> np.ndarray:
        """The model rows' duals in HiGHS's sign (c = A'y + reduced costs): Clarabel's P x + c + A'z = 0 gives
        y = -z for a row kept as written, +z for a row turned around (>=)."""
        return -self.row_sign * z[self.row_at]


def conic_problem(m, cones: RotatedCones) -> ConicProblem:
    """Clarabel's data for the linopy model `m` (its matrices, in HiGHS's column order) and the described cones."""
    M = m.matrices
    n = len(M.vlabels)
    A = sp.csr_matrix(M.A) if M.A is not None else sp.csr_matrix((0, n))
    b = np.asarray(M.b, dtype=float)
    sense = np.asarray(M.sense)
    eq, le, ge = sense == "=", sense == "<", sense == ">"
    lb, ub = np.asarray(M.lb, dtype=float), np.asarray(M.ub, dtype=float)
    fixed = np.isfinite(lb) & (lb == ub)
    has_ub = np.isfinite(ub) & ~fixed
    has_lb = np.isfinite(lb) & ~fixed
    eye = sp.identity(n, format="csr")
    # zero cone: equality rows, fixed columns; nonnegative cone: <= rows, >= rows turned around, finite bounds
    blocks = [A[eq], eye[fixed], A[le], -A[ge], eye[has_ub], -eye[has_lb]]
    rhs = [b[eq], lb[fixed], b[le], -b[ge], ub[has_ub], -lb[has_lb]]
    n_zero = int(eq.sum() + fixed.sum())
    n_nonneg = int(le.sum() + ge.sum() + has_ub.sum() + has_lb.sum())
    # each model row's place in the stacked rows and its sign there
    rows = np.arange(len(b))
    row_at = np.empty(len(b), dtype=np.int64)
    row_sign = np.ones(len(b))
    row_at[rows[eq]] = np.arange(int(eq.sum()))
    start = n_zero
    row_at[rows[le]] = start + np.arange(int(le.sum()))
    start += int(le.sum())
    row_at[rows[ge]] = start + np.arange(int(ge.sum()))
    row_sign[ge] = -1.0
    # the cones: s = -(G x) in SOC(2 + m + ... ): (x + y, 2 s z_1 .. 2 s z_m, x - y)
    X, Y, Z = cones.columns(m)
    k, width = Z.shape
    size = width + 2
    r = np.arange(k) * size
    ri = [r, r, r + size - 1, r + size - 1]
    ci = [X, Y, X, Y]
    vi = [np.ones(k), np.ones(k), np.ones(k), -np.ones(k)]
    for j in range(width):
        ri.append(r + 1 + j)
        ci.append(Z[:, j])
        vi.append(np.full(k, 2 * cones.z_scale[j]))
    G = sp.csr_matrix((-np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))), shape=(k * size, n))
    blocks.append(G)
    rhs.append(np.zeros(k * size))
    A_all = sp.vstack(blocks, format="csc")
    q_full = M.Q
    P = sp.triu(q_full, format="csc") if q_full is not None else sp.csc_matrix((n, n))
    return ConicProblem(P, np.asarray(M.c, dtype=float), A_all, np.concatenate(rhs), n_zero, n_nonneg,
                        [size] * k, row_sign, row_at, q_full)


def _clarabel():
    try:
        import clarabel
    except ImportError:
        raise MgdError([Diagnostic(
            "E0621", "`cones = exact` needs Clarabel, which is not installed", None,
            help=f"install it with `{INSTALL}`, or solve with `cones = lazy` (the default)")]) from None
    return clarabel


def _integers_error(low) -> MgdError:
    """E0620: integers and a quadratic cost under `cones = exact` (SCIP is given linear costs only)."""
    m = low.model
    names = list(m.binaries) + list(m.integers)
    labels, library = [], []
    for name in names:                 # the user's instances first, then the declarations of their integers
        prov = low.builder.provenance.get(name)
        if prov is not None and prov.dim:
            labels += [Label(i.span, f"`{i.name}` has integer variables") for i in low.ir.instances.get(prov.dim, [])]
        if prov is not None and prov.span is not None:
            library.append(Label(prov.span, "an integer variable"))
    unique: dict[tuple, Label] = {}
    for label in labels + library:                     # one label per place, the first
        unique.setdefault((label.span.file.path, label.span.start), label)
    labels = list(unique.values())[:5]
    # the quadratic costs too (as E0604 labels them): what SCIP is not given
    labels += [Label(c.span, "quadratic cost") for lt in low.templates.values() for c in lt.template.costs
               if c.quadratic][:2]
    net = low.ir.network
    return MgdError([Diagnostic(
        "E0620", "`cones = exact` takes integer variables with a linear cost only, and this model has a quadratic one",
        net.span, "cones = exact", secondary=labels,
        notes=[f"integer variables: {', '.join(names[:6])}",
               "SCIP, the exact solver of models with integers, is given linear costs only"],
        help="replace the quadratic cost by a piecewise-linear one, or make the integers continuous (Clarabel "
             "then solves the cones exactly)")])
