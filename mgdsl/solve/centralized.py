"""Solve a lowered model with HiGHS; on infeasibility or unboundedness, name the .mgd declarations involved."""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..diagnostics import Diagnostic, Label, MgdError
from ..highs import (
    IIS_TIME_LIMIT,
    OPTIMAL,
    PRICE_TIME_LIMIT,
    UNBOUNDED_TIME_LIMIT,
    Conflict,
    column_label,
    column_positions,
    conflict,
    from_linopy,
    has_feasible_point,
    quiet_stdout,
    row_label,
    row_positions,
    run,
    sanitize,
    set_option,
    solve_options,
)
from ..highs import mip_gap as relative_mip_gap
from ..ir import BalanceNode
from ..lower.formulations.distflow_socp import cone_mode
from ..lower.system import Lowered
from ..source import Span
from . import outer_approx
from .conic import fixed_integer_duals as fixed_integer_conic_duals
from .conic import solve_exact  # imports Clarabel (or SCIP) only when it runs

# The termination of a solve stopped by its time limit with a feasible, maybe not optimal, point: its results
# are written, and summary.json says so.
TIME_LIMIT_FEASIBLE = "time limit (feasible)"


@dataclass
class SolveInfo:
    status: str                   # linopy's solver status ("ok", "warning")
    termination: str              # "optimal" or TIME_LIMIT_FEASIBLE
    objective: float
    solve_seconds: float
    mip_gap: float | None = None  # relative gap between the point and HiGHS's best bound (models with integers)


def _is_miqp(low: Lowered) -> bool:
    m = low.model
    return m.is_quadratic and (len(m.binaries) > 0 or len(m.integers) > 0)


def _has_integers(low: Lowered) -> bool:
    return bool(len(low.model.binaries) or len(low.model.integers))


def solve_lowered(low: Lowered, time_limit: float | None = None, mip_gap: float | None = None,
                  mip_prices: bool = False, cones: str | None = None) -> SolveInfo:
    """Solve; with `mip_prices`, a model with integers is solved again as an LP with its integers fixed to
    obtain nodal prices (that LP can cost as much as the MILP, so it is asked for, not done by default).
    At the time limit a feasible point is returned as TIME_LIMIT_FEASIBLE with its MIP gap; without one, E0605.
    A network whose cones were described (lowered with `solver_cones`) has them met as `cones` says (lazy, lift,
    exact; default: the network's `cones` setting): _solve_described_cones."""
    m = low.model
    described = low.network is not None and low.network.cones is not None
    exact = described and (cones or cone_mode(low.network.net)) == "exact"
    if _is_miqp(low) and not exact:           # exact: solve_exact names the MIQP (E0620)
        quad = [lt.template for lt in low.templates.values() if any(c.quadratic for c in lt.template.costs)]
        ints = [name for name in list(m.binaries) + list(m.integers)]
        secondary = [Label(c.span, "quadratic cost") for t in quad for c in t.costs if c.quadratic][:3]
        raise MgdError([Diagnostic(
            "E0604", "the model has integer variables and a quadratic cost (an MIQP), which HiGHS cannot solve",
            secondary[0].span if secondary else None, "quadratic cost", secondary=secondary[1:],
            notes=[f"integer variables: {', '.join(ints[:6])}"],
            help="replace the quadratic cost by a piecewise-linear one, or make the binaries continuous")])
    if described:
        info = _solve_described_cones(low, time_limit, mip_gap, mip_prices, cones)
        if info is not None:
            return info
    options = solve_options(time_limit, mip_gap, quadratic=m.is_quadratic)
    t0 = time.perf_counter()
    with quiet_stdout():
        sanitize(m)             # only what linopy's own sanitizing would change (mgdsl/highs.py)
        status, termination = m.solve(solver_name="highs", io_api="direct", progress=False, sanitize_zeros=False,
                                      sanitize_infinities=False, **options)
    seconds = time.perf_counter() - t0
    h = m.solver_model
    gap = relative_mip_gap(h) if h is not None and _has_integers(low) else None
    if termination == "optimal":
        if mip_prices and low.balance_name is not None and gap is not None:
            t1 = time.perf_counter()
            low.balance_dual = fixed_integer_duals(low, min(PRICE_TIME_LIMIT, time_limit or math.inf))
            low.price_seconds = time.perf_counter() - t1
        return SolveInfo(status, termination, _objective(low), seconds, gap)
    if termination in ("infeasible", "infeasible_or_unbounded"):
        # the report's search is bounded too: by IIS_TIME_LIMIT, or by the run's own --time-limit if shorter
        diagnose_infeasible(low, h, min(IIS_TIME_LIMIT, time_limit) if time_limit else IIS_TIME_LIMIT)
    if termination == "unbounded":
        diagnose_unbounded(low)
    if termination == "time_limit":
        if has_feasible_point(h):
            return SolveInfo(status, TIME_LIMIT_FEASIBLE, _objective(low), seconds, gap)
        raise MgdError([Diagnostic(
            "E0605", f"HiGHS reached the time limit ({time_limit:g} s) without finding a feasible point", None,
            notes=["with a feasible point mgdsl would have written it, marked `time limit (feasible)`"],
            help="raise --time-limit; if no limit finds one, look for an infeasibility the solver is slow to "
                 "prove (check loads against supply and tie-line limits, on/off minimums against demand)")])
    raise MgdError([Diagnostic("E0603", f"HiGHS stopped without an optimal solution ({termination})", None,
                               help="check for extreme coefficients (very large or very small parameters)")])


def _solve_described_cones(low: Lowered, time_limit, mip_gap, mip_prices: bool, mode: str | None) -> SolveInfo | None:
    """The network's cones met by the solver itself: tangents added lazily to HiGHS (solve/outer_approx.py) or
    Clarabel or SCIP (solve/conic.py, `exact`). None: the cones are now written as the polyhedral lift (asked for with
    `lift`, or the lazy loop found no point or did not settle: the plain solve then reports or solves it)."""
    ln = low.network
    mode = mode or cone_mode(ln.net)
    if mode == "exact":
        t0 = time.perf_counter()
        outcome = solve_exact(low, time_limit, mip_gap=mip_gap)     # Clarabel, or SCIP for a model with integers
        if outcome is not None:
            ln.cone_report = {"cones": "exact"}
            termination = "optimal" if outcome.status == "optimal" else TIME_LIMIT_FEASIBLE
            if outcome.mip_gap is not None and mip_prices and low.balance_name is not None:
                if fixed_integer_conic_duals(low, PRICE_TIME_LIMIT):       # Clarabel at SCIP's integers
                    low.balance_dual = low.model.constraints[low.balance_name].dual
            return SolveInfo("ok", termination, _objective(low), time.perf_counter() - t0, outcome.mip_gap)
    elif mode == "lazy":
        m = low.model
        t0 = time.perf_counter()
        h = from_linopy(m)
        for name, value in solve_options(mip_gap=mip_gap, quadratic=m.is_quadratic).items():
            set_option(h, name, value)
        integers = _has_integers(low)
        out = outer_approx.solve(h, ln.cones, ln.cones.columns(m), time_limit, mip_gap, fixed_lp=mip_prices)
        seconds = time.perf_counter() - t0
        if out.feasible and out.status in ("optimal", "time limit"):
            outer_approx.assign_solution(m, out.col_value, out.row_dual, out.objective)
            ln.cone_report = {"cones": "lazy", "rounds": out.rounds, "cuts": out.cuts, "mip_solves": out.mip_solves,
                              "per_cone": out.per_cone}
            if integers and mip_prices and out.row_dual is not None and low.balance_name is not None:
                low.balance_dual = m.constraints[low.balance_name].dual
            termination = "optimal" if out.status == "optimal" else TIME_LIMIT_FEASIBLE
            return SolveInfo("ok", termination, _objective(low), seconds, out.mip_gap if integers else None)
        if out.status == "time limit":
            raise MgdError([Diagnostic(
                "E0605", f"HiGHS reached the time limit ({time_limit:g} s) before every cone met its accuracy", None,
                notes=[f"{out.rounds} rounds of cone tangents, {out.cuts} tangents, {out.mip_solves} MILP solves"],
                help="raise --time-limit, or loosen the network's `accuracy`")])
    ln.cones.lift()                 # the lift: asked for, or what diagnoses a model the tangents found no point of
    ln.cones = None
    return None


def _objective(low: Lowered) -> float:
    return float(low.model.objective.value) + low.objective_constant


def fixed_integer_duals(low: Lowered, time_limit: float = PRICE_TIME_LIMIT):
    """Balance duals of a MILP: fix every integer and binary variable at its optimal value, solve the remaining
    LP with HiGHS (the linopy model and its solution are left untouched) and read the balance rows' duals.
    These are the usual MILP nodal prices; None if that LP does not solve within `time_limit` seconds."""
    m = low.model
    try:
        h = from_linopy(m)
        cols, values = [], []
        for name in list(m.binaries) + list(m.integers):
            var = m.variables[name]
            labels = np.asarray(var.labels.values).ravel()
            sol = np.round(np.asarray(var.solution.values, dtype=float).ravel())
            keep = labels >= 0
            cols.append(column_positions(m, labels[keep]))
            values.append(sol[keep])
        cols = np.concatenate(cols)
        values = np.concatenate(values)
        h.changeColsIntegrality(len(cols), cols, np.zeros(len(cols), dtype=np.uint8))     # continuous
        h.changeColsBounds(len(cols), cols, values, values)
        if run(h, time_limit) != OPTIMAL:
            return None
        row_dual = np.asarray(h.getSolution().row_dual, dtype=float)
        con = m.constraints[low.balance_name]
        rows = row_positions(m, np.asarray(con.labels.values))
        dual = np.where(rows >= 0, row_dual[np.maximum(rows, 0)], np.nan)
        return xr.DataArray(dual, coords=con.labels.coords, dims=con.labels.dims)
    except Exception:          # prices are a by-product: never fail a solve over them
        return None


def _describe(low: Lowered, name: str, coords: dict, steps: list[int] | None = None) -> tuple[object, str]:
    prov = low.builder.provenance.get(name)
    where = ", ".join(f"{k}={v}" for k, v in coords.items() if k != "t")
    if steps:
        step = f" at t={_ranges(steps)}"
    else:
        step = f" at t={coords['t']}" if "t" in coords else ""
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


# ---------------------------------------------------------------- infeasibility
_SHOWN_GROUPS = 8          # conflict lines shown; the rest are counted (all of them are in the details)
_SHOWN_LABELS = 8          # source lines underlined
# The order of a conflict's lines: the network's limits (voltage, line ratings, tie and switch limits), its loads,
# the user's instances and microgrids, other declarations in the user's files, the library's only.
_RANK_LIMITS, _RANK_LOADS, _RANK_INSTANCE, _RANK_OTHER, _RANK_LIBRARY = range(5)


@dataclass
class _Group:
    """The members of a conflict that one declaration makes for one instance (or one subsystem)."""

    rank: int                         # _RANK_LIMITS ... _RANK_LIBRARY: what a user can change comes first
    description: str
    library: Span | None              # the template line in stdlib, if the declaration is the library's
    users: dict[tuple, tuple[Span, str]] = field(default_factory=dict)   # lines in the user's files to act
                                      # on (the instances' lines, the network), with their labels
    places: dict[str, list[str]] = field(default_factory=dict)   # "bus 3" -> ["electricity", "reactive"]
    steps: set[int] = field(default_factory=set)
    bounds: set[str] = field(default_factory=set)
    loads: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)   # (bus, t) -> (kW, kvar)
    preposition: str = "at"           # "at bus 3", "for mg1.chp"

    def text(self, full: bool = False) -> str:
        """The group's line: its places and step values cut short, or all of them (`full`, for the details)."""
        out = self.description
        if self.bounds == {"lower"} or self.bounds == {"upper"}:
            out += f": {next(iter(self.bounds))} bound"
        if self.places:
            places = sorted(self.places.items(), key=lambda item: _natural(item[0]))
            cut = len(places) if full else 6
            shown = [p + (f" ({', '.join(d)})" if d else "") for p, d in places[:cut]]
            more = f" and {len(places) - cut} more" if len(places) > cut else ""
            out += f" {self.preposition} " + ", ".join(shown) + more
        if self.steps:
            steps = sorted(self.steps)
            out += " at t=" + _ranges(steps)
        if self.loads:
            # what the user can act on: the load these buses carry at each step
            total: dict[int, list[float]] = {}
            for (_, t), (p, q) in self.loads.items():
                sums = total.setdefault(t, [0.0, 0.0])
                sums[0] += p
                sums[1] += q
            out += "; network load at these buses: " + ", ".join(
                f"{p:,.0f} kW and {q:,.0f} kvar at t={t}" for t, (p, q) in sorted(total.items())[:None if full else 3])
        return out


def _natural(text: str) -> list:
    """"bus 10" after "bus 9"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _in_library(span: Span | None) -> bool:
    return span is not None and span.file.path.startswith("stdlib/")


def _group_of(low: Lowered, name: str, coords: dict, bound: str, is_col: bool, groups: dict) -> None:
    """Put one conflict member into its group, keyed by declaration and instance (or subsystem), ranked by what a
    user can change: the network's limits first (voltage, line ratings, tie and switch limits: the lines that
    set them), then the network's loads, then the instances, then other lines of the user's, then the library."""
    ir = low.ir
    net = ir.network
    prov = low.builder.provenance.get(name)
    span = prov.span if prov else None
    description = prov.description if prov else name
    instance = coords.get(prov.dim) if prov is not None and prov.dim else None
    place, detail = None, None
    users: list[tuple[Span, str]] = []
    rank = _RANK_OTHER
    load = None
    preposition = "at"
    if instance is not None:
        # one group per declaration and bound side, listing the instances: three CHPs at their maximum are
        # one line, not three
        inst = next((i for i in ir.instances.get(prov.dim, []) if i.name == instance), None)
        if inst is not None:
            users, rank = [(inst.span, f"`{inst.name}`")], _RANK_INSTANCE
        place, preposition = instance, "for"
    elif name == "balance":
        node = BalanceNode.of(str(coords.get("node", "")))
        owner, bus, carrier = node.owner, node.bus, node.carrier
        if net is not None and owner == net.name:
            rank, place, detail = _RANK_LOADS, f"bus {bus}", carrier
            description = f"carrier balance of network `{owner}`"
            load = bus
            users = [(s, "loads") for b, s in net.load_spans if b == bus]     # none at a bus without a load
        elif owner in ir.microgrids:
            users, rank = [(ir.microgrids[owner].span, f"`{owner}`")], _RANK_INSTANCE
            description = f"{carrier} balance of microgrid `{owner}`"
            instance = coords.get("node")          # one group per microgrid and carrier
    elif net is not None and name.startswith(f"{net.name}."):
        users = [(net.span, "network")]
        if name == f"{net.name}.v":
            rank = _RANK_LIMITS
            users = [(net.voltage_span or net.span, f"voltage limits {net.vmin:g} .. {net.vmax:g} p.u.")]
            description = f"voltage limit ({net.vmin:g} .. {net.vmax:g} p.u.) of network `{net.name}`"
            # the side that binds, per bus (the slack bus is held at its set point)
            detail = (f"slack, {net.slack_voltage:g} p.u." if int(coords["bus"]) == net.slack_bus
                      else f"{bound} limit" if bound in ("lower", "upper") else None)
            bound = ""
        elif name.startswith(f"{net.name}.line_limit") or (name == f"{net.name}.l" and bound == "upper"):
            rank = _RANK_LIMITS
            description = f"line rating of network `{net.name}`"
            line = next((ln for ln in net.lines if f"{ln.from_bus}-{ln.to_bus}" == str(coords.get("line"))), None)
            users = [(line.span if line is not None else net.span, "line rating")]
            bound = ""
        if "bus" in coords:
            place = f"bus {coords['bus']}"
        elif "line" in coords:
            place = f"line {coords['line']}"
    elif "tie" in coords and coords["tie"] in ir.microgrids:
        # its limit (the variable's bounds) is the user's to change; the equality of its two copies is not
        mg = ir.microgrids[coords["tie"]]
        users = [(mg.span, f"tie line of `{mg.name}`")]
        # the 16-gon rows (tie.mg_s) are the limit itself where the tie carries P and Q
        polygon = name.startswith("tie.mg_s_")
        rank = _RANK_LIMITS if is_col or polygon else _RANK_OTHER
        if polygon and mg.limit_kw is not None:
            name, description = "tie.limit", (f"tie-line limit of `{mg.name}` (apparent power {mg.limit_kw:g} kVA, "
                                               "as a 16-gon in P and Q)")
            users = [(mg.span, f"tie-line limit {mg.limit_kw:g} kVA")]
        elif is_col and mg.limit_kw is not None:
            name, description = "tie.limit", f"tie-line limit of `{mg.name}` (±{mg.limit_kw:g} kW)"
            users = [(mg.span, f"tie-line limit {mg.limit_kw:g} kW")]
        else:
            description += f" ({coords['tie']})"
    elif "switch" in coords:
        switch = next((s for s in ir.switches if s.name == coords["switch"]), None)
        polygon = name.startswith("switch.s_")             # the 16-gon rows of a switch that carries P and Q
        if switch is not None:
            users = [(switch.span, f"switch `{switch.name}`")]
            rank = _RANK_LIMITS if is_col or polygon or name.startswith("switch.open") else _RANK_OTHER
        if switch is not None and polygon:
            name, description = "switch.limit", (f"limit of switch `{switch.name}` (apparent power "
                                                 f"{switch.limit_kw:g} kVA, as a 16-gon in P and Q)")
        elif switch is not None and (name.startswith("switch.open") or (is_col and name.startswith("switch.flow"))):
            name, description = "switch.limit", f"limit of switch `{switch.name}` (±{switch.limit_kw:g} kW)"
        else:
            description += f" ({coords['switch']})"
    if not users and span is not None and not _in_library(span):
        users = [(span, "involved")]
    if not users and rank == _RANK_OTHER:
        rank = _RANK_LIBRARY
    if preposition == "for":
        key = (name, bound if is_col else "")
    else:
        key = (name, instance if instance is not None else (
            (users[0][0].file.path, users[0][0].start) if users and rank != _RANK_LOADS else None))
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(rank, description, span if _in_library(span) else None,
                                     preposition=preposition)
    for user in users:
        group.users.setdefault((user[0].file.path, user[0].start), user)
    if is_col and bound:
        group.bounds.add(bound)
    if place is not None:
        details = group.places.setdefault(place, [])
        if detail is not None and detail not in details:
            details.append(detail)
    if "t" in coords:
        group.steps.add(int(coords["t"]))
        if load is not None and net is not None and load in net.buses:
            k = net.buses.index(load)
            p, q = float(net.load_p[k, int(coords["t"])]), float(net.load_q[k, int(coords["t"])])
            if p or q:
                group.loads[(load, int(coords["t"]))] = (p, q)


def diagnose_infeasible(low: Lowered, h=None, time_limit: float = IIS_TIME_LIMIT) -> None:
    """Find a conflict (mgdsl.highs.conflict, bounded by `time_limit` seconds) and raise E0601 with it as .mgd
    declarations, led by what a user can change: the network's limits (voltage, line ratings, tie and switch
    limits), then its loads at the steps involved, then the instances, then other lines, then the library's; one
    line per declaration and instance with its places and steps. The first _SHOWN_GROUPS lines are notes; the
    diagnostic's `details` hold every line (`--json` prints them, `mgdsl solve` writes them to a file). `h`: a
    Highs object holding the model, only read (by default it is built again from the linopy model)."""
    m = low.model
    t0 = time.perf_counter()
    try:
        found = conflict(h if h is not None else from_linopy(m), time_limit)
    except Exception:          # the conflict is a help, not a requirement: fall back to the plain report
        found = Conflict([], [], False, "failed")
    groups: dict[tuple, _Group] = {}
    for pos, bound in found.rows:
        name, coords = m.constraints.get_label_position(row_label(m, pos))
        _group_of(low, name, coords, bound, False, groups)
    for pos, bound in found.cols:
        name, coords = m.variables.get_label_position(column_label(m, pos))
        _group_of(low, name, coords, bound, True, groups)
    ordered = sorted(groups.values(), key=lambda g: g.rank)          # stable: HiGHS's order within a rank
    # the user's lines first (all groups), then the library's: the cap on labels must not drop a user's line
    users = [u for g in ordered for u in g.users.values()]
    library = [(g.library, "declared here") for g in ordered if g.library]
    labels: list[Label] = []
    seen: set[tuple] = set()
    for span, text in users + library:
        where = (span.file.path, span.start)
        if where not in seen:
            seen.add(where)
            labels.append(Label(span, text))
    lines = [f"conflict: {g.text(full=True)}" for g in ordered]
    notes = [f"conflict: {g.text()}" for g in ordered[:_SHOWN_GROUPS]]
    if len(ordered) > _SHOWN_GROUPS:
        notes.append(f"... and {len(ordered) - _SHOWN_GROUPS} more declarations ({len(found.rows)} rows and "
                     f"{len(found.cols)} bounds in the conflict): `mgdsl solve --json` lists every line")
    notes += _conflict_status(low, found, time_limit)
    lines.append(f"the search for the conflict took {time.perf_counter() - t0:.1f} s (its bound: {time_limit:g} s)")
    if not labels:
        labels = _without_conflict(low, found)
    primary = labels[0] if labels else None
    raise MgdError([Diagnostic(
        "E0601", "the model is infeasible: these declarations cannot all hold", primary.span if primary else None,
        primary.message if primary else "", secondary=labels[1:_SHOWN_LABELS], notes=notes,
        help=_what_to_change(ordered), details=lines)])


def _what_to_change(ordered: list[_Group]) -> str:
    """The help of E0601: the things to change, in the order of the report."""
    ranks = {g.rank for g in ordered}
    steps = sorted({t for g in ordered for t in g.steps})
    at = f" at t={_ranges(steps)}" if steps else ""
    things = []
    if _RANK_LIMITS in ranks:
        things.append("relax a limit named above (voltage, line rating, tie line, switch)")
    if _RANK_LOADS in ranks:
        things.append(f"lower the network's loads{at}")
    if _RANK_INSTANCE in ranks:
        things.append("change the instances named (capacity, bounds, state of charge)")
    if not things:
        things.append("relax a limit (voltage, tie-line, capacity, state of charge) or lower the loads at these "
                      "steps")
    return "; or ".join(things) + "; `mgdsl explain E0601` says more"


def _without_conflict(low: Lowered, found: Conflict) -> list[Label]:
    """Where to point when no conflict was found: the instances with integer decisions when the relaxation is
    feasible (their lines, then the declarations of those variables), else the system's subsystems."""
    ir = low.ir
    labels = []
    if found.stopped == "relaxation feasible":
        for name in list(low.model.binaries) + list(low.model.integers):
            prov = low.builder.provenance.get(name)
            if prov is not None and prov.dim:
                labels += [Label(i.span, f"`{i.name}` decides on/off") for i in ir.instances.get(prov.dim, [])]
        for name in list(low.model.binaries) + list(low.model.integers):
            prov = low.builder.provenance.get(name)
            if prov is not None and prov.span is not None:
                labels.append(Label(prov.span, "an integer decision"))
    if not labels:
        subsystems = ([ir.network.span] if ir.network else []) + [mg.span for mg in ir.microgrids.values()]
        labels = [Label(span, "in this system") for span in subsystems]
    return labels[:_SHOWN_LABELS]


def _conflict_status(low: Lowered, found: Conflict, time_limit: float) -> list[str]:
    if found.irreducible:
        return []
    if found.stopped == "relaxation feasible":
        ints = ", ".join(list(low.model.binaries) + list(low.model.integers))
        return [f"without its integer restrictions the model is feasible: the conflict lies in the on/off and "
                f"integer decisions ({ints})"]
    if found.rows or found.cols:
        return [f"partial: the search for a minimal conflict stopped at its time limit ({time_limit:g} s); these "
                "cannot all hold, but not all of them may be needed"]
    return [f"HiGHS found no conflict within {time_limit:g} s"]


# ---------------------------------------------------------------- unboundedness
def diagnose_unbounded(low: Lowered, time_limit: float = UNBOUNDED_TIME_LIMIT) -> None:
    """Bound every variable by a large box, re-solve (for at most `time_limit` seconds), and report the
    variables that ran to the box."""
    m = low.model
    big = 1e9
    h = from_linopy(m)
    n = h.getNumCol()
    lp = h.getLp()
    lo = np.maximum(np.asarray(lp.col_lower_), -big)
    hi = np.minimum(np.asarray(lp.col_upper_), big)
    h.changeColsBounds(n, np.arange(n, dtype=np.int32), lo, hi)
    finished = run(h, time_limit) == OPTIMAL or has_feasible_point(h)
    values = np.asarray(h.getSolution().col_value) if finished else np.zeros(0)
    hit = np.nonzero(np.abs(values) >= big * 0.999)[0]
    labels, notes, seen = [], [], set()
    for c in hit[:40]:
        name, coords = m.variables.get_label_position(column_label(m, int(c)))
        span, text = _describe(low, name, coords)
        notes.append(f"unbounded: {text}")
        if span is not None and id(span) not in seen:
            seen.add(id(span))
            labels.append(Label(span, "grows without limit"))
    notes = notes[:12]
    if not finished:
        notes.append(f"the search for the variables that grow without limit stopped at its time limit "
                     f"({time_limit:g} s)")
    primary = labels[0].span if labels else None
    raise MgdError([Diagnostic(
        "E0602", "the model is unbounded: the cost can fall without limit", primary,
        "grows without limit" if primary is not None else "", secondary=labels[1:8], notes=notes,
        help="give these variables physical bounds (`in 0 .. p_max`), or check the sign of prices")])
