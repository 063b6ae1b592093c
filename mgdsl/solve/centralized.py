"""Solve a lowered model with HiGHS; on infeasibility or unboundedness, name the .mgd declarations involved."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..diagnostics import Diagnostic, Label, MgdError
from ..lower.system import Lowered


@contextlib.contextmanager
def quiet_stdout():
    """Silence what HiGHS writes straight to file descriptor 1 (its banner), which Python cannot redirect, and
    linopy's own log lines ("Optimization potentially failed" on an infeasible model: mgdsl reports that)."""
    import logging

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


@dataclass
class SolveInfo:
    status: str
    termination: str
    objective: float
    solve_seconds: float


def _is_miqp(low: Lowered) -> bool:
    m = low.model
    return m.is_quadratic and (len(m.binaries) > 0 or len(m.integers) > 0)


def solve_lowered(low: Lowered, time_limit: float | None = None, mip_gap: float | None = None,
                  mip_prices: bool = False) -> SolveInfo:
    """Solve; with `mip_prices`, a model with integers is solved again as an LP with its integers fixed to
    obtain nodal prices (that LP can cost as much as the MILP, so it is asked for, not done by default)."""
    m = low.model
    if _is_miqp(low):
        quad = [lt.template for lt in low.templates.values() if any(c.quadratic for c in lt.template.costs)]
        ints = [name for name in list(m.binaries) + list(m.integers)]
        secondary = [Label(c.span, "quadratic cost") for t in quad for c in t.costs if c.quadratic][:3]
        raise MgdError([Diagnostic(
            "E0604", "the model has integer variables and a quadratic cost (an MIQP), which HiGHS cannot solve",
            secondary[0].span if secondary else None, "quadratic cost", secondary=secondary[1:],
            notes=[f"integer variables: {', '.join(ints[:6])}"],
            help="replace the quadratic cost by a piecewise-linear one, or make the binaries continuous")])
    options = {"output_flag": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if mip_gap is not None:
        options["mip_rel_gap"] = float(mip_gap)
    t0 = time.perf_counter()
    if m.is_quadratic:
        from ..decompose.subproblem import qp_solver

        options["solver"] = qp_solver()
    with quiet_stdout():
        status, termination = m.solve(solver_name="highs", io_api="direct", progress=False, **options)
    seconds = time.perf_counter() - t0
    if termination == "optimal":
        if mip_prices and low.balance_name is not None and (len(m.binaries) or len(m.integers)):
            t1 = time.perf_counter()
            low.balance_dual = fixed_integer_duals(low)
            low.price_seconds = time.perf_counter() - t1
        return SolveInfo(status, termination, float(m.objective.value) + low.objective_constant, seconds)
    if termination in ("infeasible", "infeasible_or_unbounded"):
        diagnose_infeasible(low)
    if termination == "unbounded":
        diagnose_unbounded(low)
    if termination == "time_limit":
        raise MgdError([Diagnostic("E0603", f"HiGHS reached its time limit ({time_limit:g} s) before proving an optimum",
                                   None, help="raise --time-limit, or loosen --mip-gap for models with binaries")])
    raise MgdError([Diagnostic("E0603", f"HiGHS stopped without an optimal solution ({termination})", None,
                               help="check for extreme coefficients (very large or very small parameters)")])


def fixed_integer_duals(low: Lowered):
    """Balance duals of a MILP: fix every integer and binary variable at its optimal value, solve the remaining
    LP with HiGHS (the linopy model and its solution are left untouched) and read the balance rows' duals.
    These are the usual MILP nodal prices; None if that LP does not solve."""
    import highspy
    import xarray as xr

    m = low.model
    try:
        with quiet_stdout():
            h = m.to_highspy()
        h.setOptionValue("output_flag", False)
        vlabels = np.asarray(m.variables.label_index.vlabels)
        col_of = np.full(int(vlabels.max()) + 1, -1, dtype=np.int64)
        col_of[vlabels] = np.arange(len(vlabels))
        cols, values = [], []
        for name in list(m.binaries) + list(m.integers):
            var = m.variables[name]
            labels = np.asarray(var.labels.values).ravel()
            sol = np.round(np.asarray(var.solution.values, dtype=float).ravel())
            keep = labels >= 0
            cols.append(col_of[labels[keep]])
            values.append(sol[keep])
        cols = np.concatenate(cols).astype(np.int32)
        values = np.concatenate(values)
        h.changeColsIntegrality(len(cols), cols, np.full(len(cols), highspy.HighsVarType.kContinuous))
        h.changeColsBounds(len(cols), cols, values, values)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        row_dual = np.asarray(h.getSolution().row_dual, dtype=float)
        clabels = np.asarray(m.constraints.label_index.clabels)
        row_of = np.full(int(clabels.max()) + 1, -1, dtype=np.int64)
        row_of[clabels] = np.arange(len(clabels))
        con = m.constraints[low.balance_name]
        labels = np.asarray(con.labels.values)
        rows = np.where(labels >= 0, row_of[np.maximum(labels, 0)], -1)
        dual = np.where(rows >= 0, row_dual[np.maximum(rows, 0)], np.nan)
        return xr.DataArray(dual, coords=con.labels.coords, dims=con.labels.dims)
    except Exception:          # prices are a by-product: never fail a solve over them
        return None


def _describe(low: Lowered, name: str, coords: dict, steps: list[int] | None = None) -> tuple[object, str]:
    prov = low.builder.provenance.get(name)
    where = ", ".join(f"{k}={v}" for k, v in coords.items() if k != "t")
    if steps:
        step = f" at step {steps[0]}" if len(steps) == 1 else f" at steps {_ranges(steps)}"
    else:
        step = f" at step {coords['t']}" if "t" in coords else ""
    text = f"{prov.description if prov else name}" + (f" ({where})" if where else "") + step
    return (prov.span if prov else None), text


def _ranges(steps: list[int]) -> str:
    """0, 1, 2, 5, 7, 8 -> "0–2, 5, 7–8"."""
    out, start, prev = [], steps[0], steps[0]
    for s in steps[1:] + [None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        out.append(str(start) if start == prev else f"{start}–{prev}")
        if s is not None:
            start = prev = s
    return ", ".join(out)


# An IIS can hold thousands of rows; grouping them by declaration and instance keeps the report readable.
_IIS_ITEMS = 5000


def diagnose_infeasible(low: Lowered) -> None:
    """Compute an irreducible infeasible subsystem with HiGHS and report it as .mgd declarations, one line
    per declaration and instance with the steps involved."""
    import highspy

    m = low.model
    members: list[tuple[str, dict]] = []
    try:
        with quiet_stdout():
            h = m.to_highspy()
            h.setOptionValue("output_flag", False)
            h.run()
        h.setOptionValue("iis_strategy", int(highspy.IisStrategy.kIisStrategyFromLp)
                         | int(highspy.IisStrategy.kIisStrategyIrreducible))
        status, iis = h.getIis()
        clabels = m.constraints.label_index.clabels
        vlabels = m.variables.label_index.vlabels
        for r in list(iis.row_index_)[:_IIS_ITEMS]:
            members.append(m.constraints.get_label_position(int(clabels[r])))
        for c in list(iis.col_index_)[:_IIS_ITEMS]:
            members.append(m.variables.get_label_position(int(vlabels[c])))
    except Exception:          # the IIS is a help, not a requirement: fall back to the plain report
        pass
    groups: dict[tuple, tuple[str, dict, list[int]]] = {}
    for name, coords in members:
        key = (name, tuple((k, str(v)) for k, v in coords.items() if k != "t"))
        entry = groups.setdefault(key, (name, coords, []))
        if "t" in coords:
            entry[2].append(int(coords["t"]))
    seen_spans = {}
    lines = []
    for name, coords, steps in groups.values():
        span, text = _describe(low, name, coords, sorted(set(steps)))
        lines.append(text)
        if span is not None and id(span) not in seen_spans:
            seen_spans[id(span)] = Label(span, "involved")
    labels = list(seen_spans.values())
    primary = labels[0].span if labels else None
    notes = [f"conflict: {t}" for t in lines[:12]]
    if len(lines) > 12:
        notes.append(f"... and {len(lines) - 12} more")
    raise MgdError([Diagnostic(
        "E0601", "the model is infeasible: these declarations cannot all hold", primary,
        "involved" if primary is not None else "", secondary=labels[1:8], notes=notes,
        help="relax a limit (tie-line, capacity, state of charge) or check the loads and profiles; "
             "`mgdsl explain E0601` says more")])


def diagnose_unbounded(low: Lowered) -> None:
    """Bound every variable by a large box, re-solve, and report the variables that ran to the box."""
    m = low.model
    big = 1e9
    with quiet_stdout():
        h = m.to_highspy()
    h.setOptionValue("output_flag", False)
    n = h.getNumCol()
    lp = h.getLp()
    lo = np.maximum(np.asarray(lp.col_lower_), -big)
    hi = np.minimum(np.asarray(lp.col_upper_), big)
    h.changeColsBounds(n, np.arange(n, dtype=np.int32), lo, hi)
    h.run()
    values = np.asarray(h.getSolution().col_value)
    hit = np.nonzero(np.abs(values) >= big * 0.999)[0]
    vlabels = m.variables.label_index.vlabels
    labels, notes, seen = [], [], set()
    for c in hit[:40]:
        name, coords = m.variables.get_label_position(int(vlabels[c]))
        span, text = _describe(low, name, coords)
        notes.append(f"unbounded: {text}")
        if span is not None and id(span) not in seen:
            seen.add(id(span))
            labels.append(Label(span, "grows without limit"))
    primary = labels[0].span if labels else None
    raise MgdError([Diagnostic(
        "E0602", "the model is unbounded: the cost can fall without limit", primary,
        "grows without limit" if primary is not None else "", secondary=labels[1:8], notes=notes[:12],
        help="give these variables physical bounds (`in 0 .. p_max`), or check the sign of prices")])
