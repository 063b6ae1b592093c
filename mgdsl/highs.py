"""The one place mgdsl talks to highspy: quiet Highs objects, options, runs bounded in time, statuses, the maps
between linopy labels and HiGHS columns/rows, and the irreducible infeasible subsystem (IIS)."""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from importlib import metadata

import highspy
import numpy as np

Status = highspy.HighsModelStatus
OPTIMAL = Status.kOptimal
INFEASIBLE = Status.kInfeasible
UNBOUNDED = Status.kUnbounded
TIME_LIMIT = Status.kTimeLimit
SOLVE_ERROR = Status.kSolveError

# Bounds, in seconds, on the runs mgdsl makes on its own behalf. A report of why a model has no solution is a
# help: it must come back within a small multiple of what the solve took, and say when it is partial.
IIS_TIME_LIMIT = 20.0             # the conflict search of an infeasible model (HiGHS may take up to twice this)
UNBOUNDED_TIME_LIMIT = 60.0       # the re-solve inside a large box that names unbounded variables
QP_RETRY_TIME_LIMIT = 30.0        # each retry of a QP with another solver (ATC subproblems)
PRICE_TIME_LIMIT = 300.0          # the LP with integers fixed that gives a MILP's nodal prices


@contextlib.contextmanager
def quiet_stdout():
    """Silence what HiGHS writes straight to file descriptor 1 (its banner; 1.16 prints it when a Highs object
    is created, before output_flag can be set), which Python cannot redirect, and linopy's own log lines
    ("Optimization potentially failed" on an infeasible model: mgdsl reports that)."""
    log = logging.getLogger("linopy")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with _quiet_fd1():
            yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _quiet_fd1():
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def set_option(h: highspy.Highs, name: str, value) -> None:
    """Set a HiGHS option; HiGHS only returns a status when it refuses one (as 1.16 refused `solver hipo` without
    a matching highspy-extras, and went on with the active-set solver), so a refusal is raised here."""
    if h.setOptionValue(name, value) == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS refused the option {name} = {value!r}")


def new_highs() -> highspy.Highs:
    """An empty, silent Highs object."""
    with quiet_stdout():
        h = highspy.Highs()
    set_option(h, "output_flag", False)
    return h


def from_linopy(model) -> highspy.Highs:
    """A silent Highs object holding a linopy model (columns and rows in the order of linopy's label index)."""
    with quiet_stdout():
        h = model.to_highspy()
    set_option(h, "output_flag", False)
    return h


def sanitize(model) -> None:
    """What linopy's Model.solve does to the constraints before the solver gets them (terms whose coefficient is
    within 1e-10 of 0 dropped, rows `<= inf` and `>= -inf` masked), applied only to the constraints it changes;
    solve with `sanitize_zeros=False, sanitize_infinities=False` after it. The model is left as linopy's own
    sanitizing leaves it, so HiGHS gets the same model: but linopy rewrites every constraint's xarray data,
    2-4 ms each even when nothing changes, half of a small model's solve (linopy 0.10)."""
    import linopy

    for _, con in model.constraints.items():
        if not isinstance(con, linopy.Constraint) or not _aligned(con):    # frozen (CSR) ones check cheaply
            con.sanitize_zeros()
            con.sanitize_infinities()
            continue
        coeffs, labels = con.coeffs.values, con.labels.values
        # where(|c| > 1e-10) puts -1 and NaN at the other terms: a change unless they already are -1 and NaN
        if np.any(~(np.abs(coeffs) > 1e-10) & ((con.vars.values != -1) | ~np.isnan(coeffs))):
            con.sanitize_zeros()
        sign, rhs = con.sign.values, con.rhs.values
        if np.any((((sign == "<=") & (rhs == np.inf)) | ((sign == ">=") & (rhs == -np.inf))) & (labels != -1)):
            con.sanitize_infinities()


def _aligned(con) -> bool:
    """Whether a constraint's arrays share their dimensions in order (terms last), so numpy may compare them."""
    dims = con.labels.dims
    return con.sign.dims == dims and con.rhs.dims == dims and con.coeffs.dims == con.vars.dims \
        and con.coeffs.dims[:-1] == dims and con.coeffs.dims[-1] == con.term_dim


# ---------------------------------------------------------------- the QP solver
@functools.cache
def hipo_available() -> bool:
    """Whether HiGHS accepts its interior-point solver HiPO, which lives in highspy-extras. Importing
    highspy_extras is not enough: highspy 1.16 refuses the extras of 1.15 (an ABI check) and HiPO with them."""
    return new_highs().setOptionValue("solver", "hipo") != highspy.HighsStatus.kError


def qp_solver() -> str:
    """HiPO where available: HiGHS's active-set QP solver (qpasm) was measured to stall on ATC subproblems
    (millions of iterations on 30-variable QPs), and it is the only other QP solver HiGHS has."""
    return "hipo" if hipo_available() else "qpasm"


def installed_versions() -> str:
    """"highspy 1.16.0, highspy-extras 1.15.1": what a message about a missing solver needs."""
    out = []
    for dist in ("highspy", "highspy-extras"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"no {dist}")
    return ", ".join(out)


def solve_options(time_limit: float | None = None, mip_gap: float | None = None, quadratic: bool = False) -> dict:
    """HiGHS options for a one-off solve (linopy's `Model.solve(solver_name="highs", **options)`)."""
    options = {"output_flag": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if mip_gap is not None:
        options["mip_rel_gap"] = float(mip_gap)
    if quadratic:
        options["solver"] = qp_solver()
    return options


# ---------------------------------------------------------------- running and reading the outcome
def run(h: highspy.Highs, time_limit: float | None) -> Status:
    """Run for at most `time_limit` seconds of this run (None: no bound) and return the model status.
    HiGHS compares an LP's time_limit with the object's accumulated run time, so on an object solved again and
    again (an ATC subproblem) a plain limit would soon stop every solve at once; it is set relative here. Its MIP
    solver measures each run from 0 (HiGHS 1.16: a second MILP run with limit run time + 5 s stopped after 21.9 s,
    the first run's 16.4 s late), so a model with integers gets the plain limit."""
    if time_limit is None:
        limit = math.inf
    elif _has_integers(h):
        limit = float(time_limit)
    else:
        limit = h.getRunTime() + float(time_limit)
    set_option(h, "time_limit", limit)
    h.run()
    return h.getModelStatus()


def _has_integers(h: highspy.Highs) -> bool:
    integrality = h.getLp().integrality_
    return bool(len(integrality)) and bool(np.any(np.asarray(integrality, dtype=int)))


def new_solution(col_value) -> highspy.HighsSolution:
    """A primal point to hand to Highs.setSolution (a MIP start)."""
    start = highspy.HighsSolution()
    start.col_value = list(col_value)
    start.value_valid = True
    return start


def status_text(h: highspy.Highs, status: Status | None = None) -> str:
    return h.modelStatusToString(h.getModelStatus() if status is None else status)


def has_feasible_point(h: highspy.Highs) -> bool:
    """Whether the last run left a primal feasible point (a MILP incumbent at a time limit, for instance)."""
    return int(h.getInfo().primal_solution_status) == int(highspy.kSolutionStatusFeasible)


def mip_gap(h: highspy.Highs) -> float:
    """The relative gap between the incumbent and the best bound after a MILP run (inf without an incumbent)."""
    return float(h.getInfo().mip_gap)


# ---------------------------------------------------------------- linopy labels <-> HiGHS positions
def column_positions(model, labels) -> np.ndarray:
    """HiGHS column of each linopy variable label (-1 for -1, linopy's mark of an absent entry)."""
    return _positions(model.variables.label_index.label_to_pos, labels)


def row_positions(model, labels) -> np.ndarray:
    """HiGHS row of each linopy constraint label (-1 for an absent entry)."""
    return _positions(model.constraints.label_index.label_to_pos, labels)


def _positions(label_to_pos, labels) -> np.ndarray:
    labels = np.asarray(labels)
    pos = np.asarray(label_to_pos)[np.where(labels >= 0, labels, 0)]
    return np.where(labels >= 0, pos, -1).astype(np.int32)


def column_label(model, col: int) -> int:
    return int(model.variables.label_index.vlabels[col])


def row_label(model, row: int) -> int:
    return int(model.constraints.label_index.clabels[row])


# ---------------------------------------------------------------- conflicts of an infeasible model
@dataclass
class Conflict:
    """Rows and column bounds of an infeasible model that cannot all hold. `rows` and `cols` are (position, bound)
    with bound "lower", "upper" or "both" (an equality row or a fixed column); `irreducible`: every member is
    needed; `stopped`: why the search ended early ("time limit", "relaxation feasible", "no certificate")."""

    rows: list[tuple[int, str]]
    cols: list[tuple[int, str]]
    irreducible: bool
    stopped: str = ""


def conflict(h: highspy.Highs, time_limit: float) -> Conflict:
    """A conflict of the infeasible model in `h` within about `time_limit` seconds (`h` is left unchanged).

    HiGHS's IIS search on a whole model is a deletion filter, one LP per row bound: on an infeasible 33-bus
    day (49,000 rows) it ran 7.5 minutes. Instead the continuous relaxation (integrality and any quadratic
    cost dropped) is solved once without presolve, so that dual simplex ends with a Farkas certificate (a
    dual ray): the rows it weighs cannot all hold. HiGHS's IIS search then runs on those rows only, in the
    time left (518 rows reduced to 75 in 2 s on that day). If the time runs out, the certificate's rows are
    the answer: a true conflict, not a minimal one. If the relaxation is feasible, the integers are to blame."""
    deadline = time.monotonic() + time_limit
    lp = h.getLp()
    relaxed = new_highs()
    relaxed.passModel(lp)                          # the LP part only: no Hessian
    integers = np.nonzero(np.asarray(lp.integrality_, dtype=int))[0].astype(np.int32) \
        if len(lp.integrality_) else np.zeros(0, dtype=np.int32)
    if len(integers):
        relaxed.changeColsIntegrality(len(integers), integers, np.zeros(len(integers), dtype=np.uint8))
    set_option(relaxed, "presolve", "off")       # presolve would find the infeasibility and leave no ray
    status = run(relaxed, max(time_limit, 0.0))
    if status in (OPTIMAL, UNBOUNDED):
        return Conflict([], [], False, "relaxation feasible")
    if status == TIME_LIMIT:
        return Conflict([], [], False, "time limit")
    _, has_ray, ray = relaxed.getDualRay()
    ray = np.asarray(ray, dtype=float)
    if not has_ray or not len(ray) or not np.any(ray):
        # no certificate (infeasible bounds, or a primal method): HiGHS's own search on the whole relaxation
        return _iis(relaxed, np.arange(lp.num_row_), deadline)
    support = np.nonzero(np.abs(ray) > 1e-7 * np.abs(ray).max())[0]
    found = _iis(_restricted(lp, support, integers), support, deadline)
    if found.irreducible or (found.rows and len(found.rows) < len(support)):
        return found
    return _certificate(lp, ray, support, found.stopped or "time limit")


def _restricted(lp, rows: np.ndarray, integers: np.ndarray) -> highspy.Highs:
    """The relaxation with only `rows` (all columns kept, so column positions do not change)."""
    sub = new_highs()
    sub.passModel(lp)
    if len(integers):
        sub.changeColsIntegrality(len(integers), integers, np.zeros(len(integers), dtype=np.uint8))
    drop = np.setdiff1d(np.arange(lp.num_row_), rows).astype(np.int32)
    if len(drop):
        sub.deleteRows(len(drop), drop)
    return sub


_BOUND = {2: "lower", 3: "upper", 4: "both"}     # HiGHS's IisBoundStatus: 1 free (not in conflict), -1 dropped


def _iis(h: highspy.Highs, row_of: np.ndarray, deadline: float) -> Conflict:
    """HiGHS's IIS of the model in `h`, within what is left until `deadline`; row i of `h` is row row_of[i]."""
    left = deadline - time.monotonic()
    if left <= 0:
        return Conflict([], [], False, "time limit")
    set_option(h, "iis_strategy", int(highspy.IisStrategy.kIisStrategyFromLp)
               | int(highspy.IisStrategy.kIisStrategyIrreducible))
    set_option(h, "iis_time_limit", float(left))
    with quiet_stdout():
        _, iis = h.getIis()
    status = int(iis.status_)                     # -1 feasible, 0 unknown, 1 time limit, 2 reducible, 3 irreducible
    rows = _members(iis.row_index_, iis.row_bound_, row_of)
    cols = _members(iis.col_index_, iis.col_bound_, None)
    if status == 3:
        return Conflict(rows, cols, True)
    return Conflict(rows, cols, False, "time limit" if status == 1 else "no certificate")


def _members(index, bound, position_of) -> list[tuple[int, str]]:
    index = [int(i) for i in index]
    bound = [int(b) for b in bound] if len(bound) == len(index) else [4] * len(index)
    out = []
    for i, b in zip(index, bound):
        if b in _BOUND:                           # a free column is there only because a row of it is
            out.append((int(position_of[i]) if position_of is not None else i, _BOUND[b]))
    return out


def _certificate(lp, ray: np.ndarray, support: np.ndarray, stopped: str) -> Conflict:
    """The conflict a Farkas certificate y proves: its rows, and the column bounds it leans on: where
    d = A'y > 0 the upper bound, where d < 0 the lower one."""
    matrix = lp.a_matrix_
    start, index, value = (np.asarray(a) for a in (matrix.start_, matrix.index_, matrix.value_))
    major = np.repeat(np.arange(len(start) - 1), np.diff(start))    # the column (or row) of each entry
    if matrix.format_ == highspy.MatrixFormat.kRowwise:
        d = np.bincount(index, weights=value * ray[major], minlength=lp.num_col_)
    else:
        d = np.bincount(major, weights=value * ray[index], minlength=lp.num_col_)
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    tol = 1e-7 * max(float(np.abs(d).max()) if len(d) else 0.0, 1e-300)
    cols = []
    for j in np.nonzero(np.abs(d) > tol)[0]:
        side = "upper" if d[j] > 0 else "lower"
        if lower[j] == upper[j]:
            side = "both"
        if (side == "upper" and math.isfinite(upper[j])) or (side == "lower" and math.isfinite(lower[j])) \
                or side == "both":
            cols.append((int(j), side))
    return Conflict([(int(r), "both") for r in support], cols, False, stopped)
