"""A decomposed solve: the network part (parent) and the microgrids or clusters (children) exchange only
coupling values, multipliers and weights. Checks the settings, partitions, starts the executor and runs the
coordinator (solve/coordinator.py) with the chosen update rule: ATC (rules/atc.py) or ADMM (rules/admm.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..decompose.partition import Partition, partition
from ..decompose.settings import EXECUTORS, SETTINGS, ATCOptions, options_from_block
from ..decompose.subproblem import SubproblemSpec, tangent_points
from ..diagnostics import Diagnostic, MgdError
from ..highs import hipo_available, installed_versions
from ..ir import SystemIR
from .coordinator import Iteration, Layout, coordinate
from .executors import make_executor
from .rules import RULES

__all__ = ["EXECUTORS", "SETTINGS", "ATCOptions", "ATCRun", "Iteration", "options_from_block", "run_atc"]


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
    records = {c.id: c.record for c in part_of.couplings}
    # |z| bounds from the records: tie and switch ratings (P and Q alike), 1 for a status
    bounds = {cid: r.bound for cid, r in records.items() if r.bound is not None}
    largest = max([v / records[c].scale(base_kw) for c, v in bounds.items()] + [1.0])
    tangents = tangent_points(options.tolerance, largest * 2)
    specs = []
    for part in part_of.parts:
        couplings = [c.id for c in part_of.couplings_of(part.name)]
        pairs = [(p.id, p.coupling) for p in part_of.pairs_of(part.name)]
        scales = [records[c].scale(base_kw) for _, c in pairs]
        specs.append(SubproblemSpec(part, couplings, pairs, scales, options.penalty, tangents, bounds,
                                    options.fix_integers, options.subproblem_time_limit,
                                    integers=options.integers, coarse_accuracy=options.coarse_accuracy))
    return specs


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
        return _run(ir, part_of, options, executor, base_kw, progress, build_seconds)
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


def initial_targets(layout: Layout, options: ATCOptions) -> np.ndarray:
    r = np.zeros((len(layout.couplings), layout.steps))
    if options.initial == "value":
        r[:] = options.initial_value
    elif options.initial == "random":
        # uniform within +-1 p.u. of the base (statuses in [0, 1])
        rng = np.random.default_rng(options.seed)
        for k, c in enumerate(layout.couplings):
            rec = layout.records[c]
            s = rec.scale(layout.base_kw)
            r[k] = rng.uniform(0, 1, layout.steps) if rec.is_status else rng.uniform(-s, s, layout.steps)
    return r


def _run(ir, part_of: Partition, options: ATCOptions, executor, base_kw, progress, build_seconds) -> ATCRun:
    layout = Layout(part_of, ir.steps, base_kw)
    # multipliers and weights act on deviations in p.u. and are relative to the cost scale, so one setting
    # fits kW ties and 0/1 statuses, any currency and any base
    money = cost_scale(ir, base_kw)
    rule = RULES[options.method](layout, options, money, initial_targets(layout, options))
    out = coordinate(layout, rule, options, executor, money, progress)
    run = ATCRun(part_of, options, out.converged, out.iterations, out.iterations[-1].objective, out.targets,
                 out.responses, out.per_coupling, out.solve_seconds, out.loop_seconds - out.solve_seconds,
                 build_seconds=build_seconds, target_history=out.target_history)
    # children first: where two parts report the same quantity (a tie line), keep each microgrid's own value
    names = layout.children + [layout.parent]
    by_part = executor.results(names)
    run.results = _merge_results({n: by_part[n] for n in names}, ir)
    return run


def _merge_results(by_part: dict, ir: SystemIR):
    """Results of all parts in the form of a centralized solve."""
    import xarray as xr

    from ..reserve_results import POOL, RESERVE
    from ..results import SWITCHES, TIES, Results

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
        dim = {TIES: "microgrid", SWITCHES: "switch", RESERVE: POOL}.get(name, "instance")
        ds = xr.concat(parts, dim=dim, data_vars="all", coords="different", compat="equals", join="outer")
        if dim in ds.indexes:
            ds = ds.isel({dim: ~ds.indexes[dim].duplicated()})
        merged[name] = ds
    costs = {o: costs.get(o, 0.0) for o in ir.owners()}
    return Results(merged, costs)


def coupling_values(low) -> dict[str, np.ndarray]:
    """The value of every interaction (SystemIR.couplings) in a solved centralized model, by coupling id
    (side a's copy)."""
    from ..lower.exprs import ExprEvaluator
    from ..lower.system import couple_lookup

    ir = low.ir
    ev = ExprEvaluator(couple_lookup(low), ir.dt_h)
    couples = {c.name: c for c in ir.couples}
    ties = {"p": low.ties.get("mg"), "q": low.ties.get("q_mg")}
    switches = {"p": low.switches.get("flow"), "q": low.switches.get("q"), "status": low.switches.get("closed")}
    out = {}
    for rec in ir.couplings():
        if rec.kind == "couple":
            val = ev.eval(couples[rec.name].lhs)
            out[rec.id] = np.broadcast_to(np.asarray(val.solution.values), (ir.steps,))
        elif rec.kind == "tie":
            out[rec.id] = ties[rec.quantity].solution.sel(tie=rec.name).values
        else:
            out[rec.id] = switches[rec.quantity].solution.sel(switch=rec.name).values
    return out
