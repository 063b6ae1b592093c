"""The ATC driver: augmented-Lagrangian analytical target cascading between the network (parent) and the
microgrids or clusters (children). Only coupling values, multipliers and weights cross between levels."""
from __future__ import annotations

import dataclasses
import difflib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..decompose.partition import Partition, coupling_kind, partition
from ..decompose.subproblem import PENALTIES, SubproblemSpec, tangent_points
from ..diagnostics import Diagnostic, MgdError
from ..highs import hipo_available, installed_versions
from ..ir import SystemIR
from ..syntax import ast
from .executors import make_executor

EXECUTORS = ("serial", "processes", "dask")


@dataclass
class ATCOptions:
    children: str = "microgrids"          # microgrids | clusters
    penalty: str = "pwl"                  # pwl | quadratic | l1
    tolerance: float = 1e-3               # max |r - x| in p.u. of the network base power (1 MVA: MW)
    objective_tolerance: float | None = None   # relative objective change; default: tolerance
    dual_tolerance: float | None = None   # multiplier motion 2 w^2 |r - x| (relative); default 10 x tolerance
    max_iterations: int = 100
    initial_weight: float = 1.0           # w0, relative: see cost_scale
    beta: float = 2.0
    gamma: float = 0.4
    max_weight: float = 3.0
    weights: str = "balanced"             # balanced | classic (grow only)
    balance: float = 10.0                 # balanced: the ratio of disagreement to target motion that moves w
    initial: str = "zero"                 # zero | value | random (initial targets)
    initial_value: float = 0.0            # kW (or the coupling's unit), with initial = value
    seed: int = 0
    fix_integers: int = 0                 # MILP parts: LP re-solves once integers settled this many times; 0 off
    executor: str = "serial"              # serial | processes
    workers: int | None = None
    scheduler: str | None = None          # dask: address of an existing scheduler (tcp://HOST:PORT); None: local
    subproblem_time_limit: float = 300.0  # seconds per subproblem solve; reaching it stops ATC (E0605)

    def check(self) -> None:
        """Raise ValueError naming the first bad setting (the CLI shows it as a usage error)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, not {value}")
        if self.max_iterations > MAX_ITERATIONS or (self.workers is not None and not 1 <= self.workers <= MAX_WORKERS):
            raise ValueError(f"need max_iterations <= {MAX_ITERATIONS:,} and 1 <= workers <= {MAX_WORKERS}")
        if self.children not in ("microgrids", "clusters"):
            raise ValueError(f"children must be microgrids or clusters, not {self.children!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {', '.join(PENALTIES)}, not {self.penalty!r}")
        if not self.tolerance > 0 or self.max_iterations < 1 or self.beta < 1 or not 0 < self.gamma < 1 \
                or not self.initial_weight > 0 or not self.max_weight > 0 \
                or (self.dual_tolerance is not None and not self.dual_tolerance > 0):
            raise ValueError("need tolerance > 0, max_iterations >= 1, beta >= 1, 0 < gamma < 1, initial_weight > 0, "
                             "max_weight > 0, dual_tolerance > 0")
        if self.weights not in ("balanced", "classic"):
            raise ValueError(f"weights must be balanced or classic, not {self.weights!r}")
        if self.initial not in ("zero", "value", "random"):
            raise ValueError(f"initial must be zero, value or random, not {self.initial!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}")
        if not self.subproblem_time_limit > 0:
            raise ValueError("need subproblem_time_limit > 0 (seconds)")


SETTINGS = {f.name for f in dataclasses.fields(ATCOptions)}
MAX_ITERATIONS = 1_000_000                # the same limits `mgdsl check` applies to a decompose block
MAX_WORKERS = 256
# the settings that take one word out of a known few: checked where they are written, so `mgdsl check` points
# at the word (the others are checked by ATCOptions.check)
CHOICES = {"children": ("microgrids", "clusters"), "penalty": PENALTIES, "weights": ("balanced", "classic"),
           "initial": ("zero", "value", "random"), "executor": EXECUTORS}
_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}      # units `subproblem_time_limit` may be written in


def options_from_block(block: ast.Decompose | None, base: ATCOptions | None = None) -> ATCOptions:
    """Read a `decompose atc { ... }` block; unknown settings and bad values are errors at their place."""
    opts = dataclasses.replace(base) if base else ATCOptions()
    if block is None:
        return opts
    errors = []
    if block.method != "atc":
        errors.append(Diagnostic("E0504", f"unknown decomposition method `{block.method}`", block.span,
                                 "not a method", help="the method is `atc`"))
    for s in block.settings:
        if s.name not in SETTINGS:
            close = difflib.get_close_matches(s.name, sorted(SETTINGS), n=1)
            errors.append(Diagnostic("E0504", f"unknown ATC setting `{s.name}`", s.span, "not a setting",
                                     help=(f"did you mean `{close[0]}`? " if close else "")
                                     + "settings: " + ", ".join(sorted(SETTINGS))))
            continue
        v = s.value
        if isinstance(v, ast.Ref) and len(v.parts) == 1:
            value: object = v.parts[0]
        elif isinstance(v, ast.Quantity) and v.unit in (None, "kW", "pu"):
            value = v.value
        elif isinstance(v, ast.Quantity) and s.name == "subproblem_time_limit" and v.unit in _SECONDS:
            value = v.value * _SECONDS[v.unit]
        else:
            errors.append(Diagnostic("E0504", f"`{s.name}` takes a word or a plain number", v.span, "",
                                     help="for example `penalty pwl` or `tolerance 1e-3`"))
            continue
        default = getattr(ATCOptions(), s.name)
        try:
            if isinstance(default, bool) or isinstance(default, str):
                if not isinstance(value, str):
                    raise ValueError
            elif isinstance(default, int) and not isinstance(default, bool):
                if isinstance(value, str) or value != int(value):
                    raise ValueError
                value = int(value)
            elif isinstance(value, str):
                raise ValueError
        except (ValueError, OverflowError):          # int(inf) overflows
            errors.append(Diagnostic("E0504", f"bad value for `{s.name}`", v.span, "",
                                     help=f"`{s.name}` is like `{default!r}`"))
            continue
        if s.name in CHOICES and value not in CHOICES[s.name]:
            errors.append(_unknown_choice(s.name, str(value), v.span))
            continue
        setattr(opts, s.name, value)
    if errors:
        raise MgdError(errors)
    return opts


def _unknown_choice(setting: str, value: str, span) -> Diagnostic:
    known = CHOICES[setting]
    help_ = f"`{setting}` is one of: {', '.join(known)}"
    if setting == "executor" and value == "dask":
        help_ = f"a Dask executor is not available yet; the executors are: {', '.join(known)}"
    else:
        close = difflib.get_close_matches(value, known, n=1)
        if close:
            help_ = f"did you mean `{close[0]}`? " + help_
    return Diagnostic("E0504", f"unknown {setting} `{value}`", span, f"not a known {setting}", help=help_)


@dataclass
class Iteration:
    k: int
    inconsistency: float                  # p.u.
    where: str                            # coupling@child
    step: int
    objective: float
    seconds: float
    integers_held: bool = False           # some MILP part was solved as an LP with its settled integers held


@dataclass
class ATCRun:
    partition: Partition
    options: ATCOptions
    converged: bool
    iterations: list[Iteration]
    objective: float
    targets: dict[str, np.ndarray]        # coupling id -> values over t (the parent's)
    responses: dict[str, np.ndarray]      # pair id -> values over t
    per_coupling: dict[str, float]        # pair id -> max |r - x| (p.u.)
    solve_seconds: float
    coordination_seconds: float
    results: object = None                # mgdsl.results.Results of the last iterate
    build_seconds: float = 0.0
    target_history: dict[str, list] = field(default_factory=dict)   # coupling id -> targets per iteration


def _has_integers(ir: SystemIR) -> bool:
    if ir.switches:
        return True
    return any(v.kind in ("binary", "integer") for t in ir.used_templates() for v in t.vars.values())


def specs_for(part_of: Partition, options: ATCOptions, base_kw: float) -> list[SubproblemSpec]:
    bounds = {}
    ir = part_of.parent.ir
    for c in part_of.couplings:
        if c.id.startswith("tie."):
            m = ir.microgrids.get(c.id[4:])
            if m is not None and m.limit_kw is not None:
                bounds[c.id] = m.limit_kw
        elif c.id.startswith("switch."):
            name, what = c.id[7:].rsplit(".", 1)
            sw = next((s for s in _all_switches(part_of) if s.name == name), None)
            if sw is not None:
                bounds[c.id] = sw.limit_kw if what == "flow" else 1.0
    largest = max([v / _scale(c, base_kw) for c, v in bounds.items()] + [1.0])
    tangents = tangent_points(options.tolerance, largest * 2)
    specs = []
    for part in part_of.parts:
        couplings = [c.id for c in part_of.couplings_of(part.name)]
        pairs = [(p.id, p.coupling) for p in part_of.pairs_of(part.name)]
        scales = [_scale(c, base_kw) for _, c in pairs]
        specs.append(SubproblemSpec(part, couplings, pairs, scales, options.penalty, tangents, bounds,
                                    options.fix_integers, options.subproblem_time_limit))
    return specs


def _all_switches(p: Partition):
    seen = {}
    for part in p.parts:
        for s in part.ir.switches:
            seen[s.name] = s
    return seen.values()


def run_atc(ir: SystemIR, options: ATCOptions, progress=None) -> ATCRun:
    """Run ATC to convergence or max_iterations. `progress(Iteration)` is called after every iteration."""
    options.check()
    part_of = partition(ir, options.children)
    if options.penalty == "quadratic":
        mixed = [p for p in part_of.parts if _has_integers(p.ir)]
        if mixed:
            raise MgdError([Diagnostic(
                "E0604", f"penalty `quadratic` would make {', '.join(f'`{p.name}`' for p in mixed)} a mixed-integer "
                         "quadratic program, which HiGHS cannot solve", None,
                notes=["parts with binaries or integers (CHP on/off, switches, capacitor banks): "
                       + ", ".join(p.name for p in mixed)],
                help="use `penalty pwl` (the default) or `penalty l1`: their subproblems stay MILPs")])
    mixed_quad = [p for p in part_of.parts if _has_integers(p.ir) and
                  any(c.quadratic for t in p.ir.used_templates() for c in t.costs)]
    if mixed_quad:
        raise MgdError([Diagnostic("E0604", f"part `{mixed_quad[0].name}` has binaries and a quadratic cost (an MIQP)",
                                   None, help="replace the quadratic cost by a piecewise-linear one")])
    if options.penalty == "quadratic" and not hipo_available():
        raise MgdError([Diagnostic(
            "E0606", "penalty `quadratic` needs HiGHS's interior-point QP solver HiPO, which this installation "
                     "does not have", None,
            notes=[f"installed: {installed_versions()}; HiPO comes with highspy-extras of the same version as "
                   "highspy, and HiGHS's other QP solver stalls on these subproblems"],
            help="use `penalty pwl` (the default: its subproblems are LPs or MILPs), or install matching "
                 "highspy and highspy-extras versions")])
    base_kw = ir.network.base_kva if ir.network is not None else 1000.0
    executor = make_executor(options.executor, options.workers, scheduler=options.scheduler)
    t_build = time.perf_counter()
    specs = specs_for(part_of, options, base_kw)
    try:
        executor.start(specs, ir.steps)            # inside the try: a failed build still stops the workers
        build_seconds = time.perf_counter() - t_build
        return _iterate(ir, part_of, options, executor, base_kw, progress, build_seconds)
    finally:
        executor.close()


def cost_scale(ir: SystemIR, base_kw: float) -> float:
    """The money that 1 p.u. of power for one step is worth: the mean purchase price at the slack bus times the
    base power times the step (0.5 per kWh without a network). Multipliers and weights are relative to it, so
    the penalty of a deviation d (p.u.) is scale * (lambda d + w^2 d^2) and w0 = 1 prices a 1 p.u. deviation
    like buying 1 p.u. of power for a step: defaults that hold across currencies, bases and step lengths."""
    price = 0.5
    if ir.network is not None and ir.network.buy_price is not None:
        price = float(np.mean(np.abs(ir.network.buy_price))) or 0.5
    return price * base_kw * ir.dt_h


def _scale(coupling_id: str, base_kw: float) -> float:
    """Inconsistencies are measured in p.u. of the base power; a switch status is already in [0, 1]."""
    return 1.0 if coupling_kind(coupling_id) == "switch_status" else base_kw


def _iterate(ir, part_of: Partition, options: ATCOptions, executor, base_kw, progress, build_seconds) -> ATCRun:
    T = ir.steps
    couplings = [c.id for c in part_of.couplings]
    cpos = {c: k for k, c in enumerate(couplings)}
    pairs = part_of.pairs
    pair_ids = [p.id for p in pairs]
    pair_c = np.array([cpos[p.coupling] for p in pairs], dtype=int)
    scale = np.array([_scale(p.coupling, base_kw) for p in pairs])[:, None]
    rng = np.random.default_rng(options.seed)
    r = np.zeros((len(couplings), T))
    if options.initial == "value":
        r[:] = options.initial_value
    elif options.initial == "random":
        # uniform within +-1 p.u. of the base (statuses in [0, 1])
        for k, c in enumerate(couplings):
            s = _scale(c, base_kw)
            r[k] = rng.uniform(0, 1, T) if coupling_kind(c) == "switch_status" else rng.uniform(-s, s, T)
    # multipliers and weights act on deviations in p.u. and are relative to the cost scale, so one setting
    # fits kW ties and 0/1 statuses, any currency and any base
    money = cost_scale(ir, base_kw)
    w = np.full((len(pairs), T), options.initial_weight)
    w_max = options.max_weight
    lam = np.zeros((len(pairs), T))
    x = r[pair_c].copy()
    prev_c = None
    objectives: list[float] = []
    history: list[Iteration] = []
    target_history: dict[str, list] = {}
    solve_s = 0.0
    t_loop = time.perf_counter()
    obj_tol = options.objective_tolerance if options.objective_tolerance is not None else options.tolerance
    dual_tol = options.dual_tolerance if options.dual_tolerance is not None else 10 * options.tolerance
    child_pairs = {part.name: [k for k, p in enumerate(pairs) if p.child == part.name] for part in part_of.children}
    child_coupling_row = {part.name: {c.id: j for j, c in enumerate(part_of.couplings_of(part.name))}
                          for part in part_of.children}
    # Switch statuses are 0/1 decisions that multipliers and weights cannot reach (measured: a status
    # disagreement of 1.0 held for tens of iterations, or a stop several % above the optimum). The parent owns
    # every cut switch's status and the children receive it as data, unpenalized: while the flows settle they
    # are told "closed" (a status only permits flow, so closed is the relaxation and the parent still opens
    # what it wants), then the parent's statuses are held on both sides and the flows settle once more.
    is_status = np.array([coupling_kind(p.coupling) == "switch_status" for p in pairs], dtype=bool)
    status_couplings = [cid for cid in couplings if coupling_kind(cid) == "switch_status"]
    statuses: dict[str, np.ndarray] | None = None        # the parent's statuses, once held
    unpenalized = is_status[:, None] if len(pairs) else np.zeros((0, 1), dtype=bool)
    child_statuses = {part.name: [c.id for c in part_of.couplings_of(part.name) if c.id in status_couplings]
                      for part in part_of.children}
    closed = np.ones(T)

    def held_for(part_name: str) -> dict[str, np.ndarray] | None:
        if not status_couplings:
            return None
        if part_name == part_of.parent.name:
            return statuses
        return {cid: (statuses[cid] if statuses is not None else closed) for cid in child_statuses[part_name]}

    converged = False
    verify = False
    own = {}
    for k in range(1, options.max_iterations + 1):
        t_it = time.perf_counter()
        lam_sent = np.where(unpenalized, 0.0, lam)
        w_sent = np.where(unpenalized, 0.0, w)
        # children respond to the targets
        requests = []
        for part in part_of.children:
            idx = child_pairs[part.name]
            requests.append((part.name, r[pair_c[idx]], money * lam_sent[idx], np.sqrt(money) * w_sent[idx],
                             verify, held_for(part.name)))
        t0 = time.perf_counter()
        outcomes = _solve_parts(executor, requests, k)
        solve_s += time.perf_counter() - t0
        held = False                                      # some part solved with its integers held
        for out in outcomes:
            held |= out.integers_fixed
            own[out.part] = out.own_cost
            rows = child_coupling_row[out.part]
            for j in child_pairs[out.part]:
                x[j] = out.z[rows[pairs[j].coupling]]
        # the parent sets new targets from the responses
        t0 = time.perf_counter()
        (pout,) = _solve_parts(executor, [(part_of.parent.name, x, money * lam_sent, np.sqrt(money) * w_sent,
                                           verify, held_for(part_of.parent.name))], k)
        held |= pout.integers_fixed
        solve_s += time.perf_counter() - t0
        own[pout.part] = pout.own_cost
        r_seen = r                                        # the targets the children answered
        r = pout.z if len(couplings) else r
        c = (r[pair_c] - x) / scale if len(pairs) else np.zeros((0, T))     # p.u.
        c = np.where(unpenalized, 0.0, c)                 # statuses: the children hold what they were sent
        objective = float(sum(own.values()))
        if c.size:
            rel = np.abs(c)
            j, t = np.unravel_index(int(np.argmax(rel)), rel.shape)
            inc, where, step = float(rel[j, t]), pair_ids[j], int(t)
        else:
            inc, where, step = 0.0, "-", 0
        it = Iteration(k, inc, where, step, objective, time.perf_counter() - t_it, held)
        history.append(it)
        for kk, cid in enumerate(couplings):
            target_history.setdefault(cid, []).append(r[kk].copy())
        if progress is not None:
            progress(it)
        # relative change, with a floor: what one tolerance-sized deviation for one step is worth, so a small
        # objective that jitters by less than the tolerated inconsistency still counts as settled
        # (over two iterations: a pwl penalty can leave a consistent point alternating between two
        # neighbouring vertices whose objectives differ a little; their mean has settled)
        objectives.append(objective)
        obj_floor = money * options.tolerance / obj_tol
        obj_change = (abs(objectives[-1] - objectives[-3]) / 2 / max(abs(objective), obj_floor)
                      if len(objectives) >= 3 else np.inf)
        lam_motion = 2 * w * w * np.abs(c)
        dual_ok = not c.size or float(np.max(lam_motion)) <= dual_tol
        if inc <= options.tolerance and (obj_change <= obj_tol or not c.size) and dual_ok:
            if status_couplings and statuses is None:
                # the flows have settled with every switch closed for the children: hold the parent's
                # statuses on both sides from now on and let the flows settle under them
                statuses = {cid: np.clip(np.round(r[cpos[cid]]), 0.0, 1.0) for cid in status_couplings}
                verify = held
                prev_c = None
                continue
            if not held:
                converged = True
                break
            # converged with some integers held: one more iteration solves every MILP part with its integers
            # free, so the answer is the MILP's and not the LP's at frozen on/off decisions
            verify = True
        else:
            verify = False
        lam = lam + 2 * w * w * c
        if prev_c is not None:
            grow = np.abs(c) > options.gamma * np.abs(prev_c)
            if options.weights == "balanced" and options.penalty != "l1":
                # (l1 is an exact penalty: it enforces consistency only once w^2 exceeds the multiplier
                # error, so its weights only grow.)
                # Grow only where the disagreement is not small against how fast the targets move, and shrink
                # where the targets move much more than they disagree: large weights otherwise freeze the
                # iterates at a consistent but poor point (measured: gaps of several %).
                move = np.abs(r - r_seen)[pair_c] / scale
                grow &= options.balance * np.abs(c) > move
                shrink = move > options.balance * np.abs(c)
                w = np.where(shrink, np.maximum(w / options.beta, options.initial_weight * 0.01), w)
            w = np.where(grow, np.minimum(options.beta * w, w_max), w)
            if inc <= options.tolerance and not dual_ok and options.penalty != "l1":
                # consistent, but the multipliers still move: large weights hold the iterates together at a
                # point that is not yet optimal; relax them where they do
                w = np.where(lam_motion > dual_tol, np.maximum(w / options.beta, options.initial_weight * 0.01), w)
        prev_c = c
    loop_s = time.perf_counter() - t_loop
    per_coupling = {pid: float(np.max(np.abs(c[j]))) for j, pid in enumerate(pair_ids)}
    run = ATCRun(part_of, options, converged, history, history[-1].objective,
                 {cid: r[k] for k, cid in enumerate(couplings)}, {pid: x[j] for j, pid in enumerate(pair_ids)},
                 per_coupling, solve_s, loop_s - solve_s, build_seconds=build_seconds, target_history=target_history)
    # children first: where two parts report the same quantity (a tie line), keep each microgrid's own value
    names = [p.name for p in part_of.children] + [part_of.parent.name]
    by_part = executor.results(names)
    run.results = _merge_results({n: by_part[n] for n in names}, ir)
    return run


def _solve_parts(executor, requests: list[tuple], k: int):
    """Solve subproblems; a failure of one (infeasible, time limit, solver failure) is reported with the ATC
    iteration it happened in."""
    try:
        return executor.solve(requests)
    except MgdError as err:
        for d in err.diagnostics:
            if d.message.startswith("subproblem `"):
                d.message = d.message.replace("`: ", f"` (ATC iteration {k}): ", 1)
        raise MgdError(err.diagnostics) from None


def _merge_results(by_part: dict, ir: SystemIR):
    """Results of all parts in the form of a centralized solve."""
    import xarray as xr

    from ..results import Results

    datasets: dict[str, list] = {}
    costs: dict[str, float] = {}
    for res in by_part.values():
        for name, ds in res.datasets.items():
            datasets.setdefault(name, []).append(ds)
        for owner, cost in res.costs.items():
            costs[owner] = costs.get(owner, 0.0) + cost
    merged = {}
    for name, parts in datasets.items():
        if len(parts) == 1:
            merged[name] = parts[0]
            continue
        dim = {"ties": "microgrid", "switches": "switch"}.get(name, "instance")
        ds = xr.concat(parts, dim=dim, data_vars="all", coords="different", compat="equals", join="outer")
        if dim in ds.indexes:
            ds = ds.isel({dim: ~ds.indexes[dim].duplicated()})
        merged[name] = ds
    costs = {o: costs.get(o, 0.0) for o in ir.owners()}
    return Results(merged, costs)


def coupling_values(low) -> dict[str, np.ndarray]:
    """The value of every interaction in a solved centralized model, by coupling id (side a's copy)."""
    from ..lower.exprs import ExprEvaluator
    from ..lower.system import couple_lookup

    out = {}
    ir = low.ir
    if "mg" in low.ties:
        sol = low.ties["mg"].solution
        for m in sol.coords["tie"].values:
            out[f"tie.{m}"] = sol.sel(tie=m).values
    if low.switches:
        for what, key in (("flow", "flow"), ("closed", "closed")):
            sol = low.switches[key].solution
            for sw in sol.coords["switch"].values:
                out[f"switch.{sw}.{what}"] = sol.sel(switch=sw).values
    ev = ExprEvaluator(couple_lookup(low), ir.dt_h)
    for c in ir.couples:
        val = ev.eval(c.lhs)
        out[f"couple.{c.name}"] = np.broadcast_to(np.asarray(val.solution.values), (ir.steps,))
    return out
