"""The decomposition loop, whatever the update rule: rounds of part solves through an executor, the stopping
tests, switch statuses held as data, the exact verification of MILP parts, and the per-iteration and
per-coupling records. The rule (rules/atc.py, rules/admm.py) owns targets, multipliers and weights."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..decompose.partition import Partition
from ..decompose.settings import ATCOptions
from ..diagnostics import MgdError


@dataclass
class Iteration:
    k: int
    inconsistency: float                  # max |target - response| (p.u.)
    where: str                            # coupling@child
    step: int                             # t, counted from 0 as in the results
    objective: float
    seconds: float
    integers_held: bool = False           # some answer was not final (relaxed integers, coarse cones, held integers)
    dual: float = 0.0                     # the rule's dual residual (multiplier motion), relative to the cost scale
    phase: str = "flows"                  # flows (statuses closed for the children) | statuses held | verify


@dataclass
class Layout:
    """Index arithmetic over couplings (rows of the parent's copies r) and pairs (a coupling seen by one child:
    rows of the responses x, multipliers and weights), shared by the rules."""

    partition: Partition
    steps: int
    base_kw: float
    couplings: list[str] = field(init=False)
    pair_ids: list[str] = field(init=False)

    def __post_init__(self):
        p = self.partition
        self.couplings = [c.id for c in p.couplings]
        self.cpos = {c: k for k, c in enumerate(self.couplings)}
        self.pairs = p.pairs
        self.pair_ids = [q.id for q in p.pairs]
        self.pair_c = np.array([self.cpos[q.coupling] for q in p.pairs], dtype=int)
        self.records = {c.id: c.record for c in p.couplings}
        self.scale = np.array([self.records[q.coupling].scale(self.base_kw) for q in p.pairs])[:, None]
        self.coupling_scale = np.array([self.records[c].scale(self.base_kw) for c in self.couplings])[:, None]
        self.children = [c.name for c in p.children]
        self.parent = p.parent.name
        self.child_pairs = {c: [k for k, q in enumerate(p.pairs) if q.child == c] for c in self.children}
        self.coupling_row = {part.name: {c.id: j for j, c in enumerate(p.couplings_of(part.name))}
                             for part in p.parts}
        # Switch statuses are 0/1 decisions that multipliers and weights cannot reach: not penalized, held as data
        self.is_status = np.array([self.records[q.coupling].is_status for q in p.pairs], dtype=bool)
        self.unpenalized = self.is_status[:, None] if len(p.pairs) else np.zeros((0, 1), dtype=bool)
        self.status_couplings = [c for c in self.couplings if self.records[c].is_status]

    def copies(self, outcome) -> dict[str, np.ndarray]:
        """A part's answer as coupling id -> values over t."""
        rows = self.coupling_row[outcome.part]
        return {cid: outcome.z[j] for cid, j in rows.items()}


@dataclass
class Outcome:
    """What the loop hands back to run_atc."""

    converged: bool
    iterations: list[Iteration]
    targets: dict[str, np.ndarray]
    responses: dict[str, np.ndarray]
    per_coupling: dict[str, float]
    solve_seconds: float
    loop_seconds: float
    target_history: dict[str, list]


def coordinate(layout: Layout, rule, options: ATCOptions, executor, money: float, progress=None) -> Outcome:
    """Iterate `rule` to convergence or max_iterations. Stops when the largest inconsistency is within the
    tolerance, the objective has settled and the rule's dual test passes; then, with switch statuses, holds the
    parent's statuses on both sides and settles again; with MILP parts solved as LPs, verifies once exactly."""
    history: list[Iteration] = []
    target_history: dict[str, list] = {}
    objectives: list[float] = []
    solve_s = 0.0
    t_loop = time.perf_counter()
    obj_tol = options.objective_tolerance if options.objective_tolerance is not None else options.tolerance
    statuses: dict[str, np.ndarray] | None = None       # the parent's statuses, once held
    closed = np.ones(layout.steps)
    child_statuses = {c: [cid for cid in layout.coupling_row[c] if cid in layout.status_couplings]
                      for c in layout.children}

    def held_for(part: str) -> dict[str, np.ndarray] | None:
        # While the flows settle the children are told "closed" (a status only permits flow, so closed is the
        # relaxation and the parent still opens what it wants); then the parent's statuses are held on both sides.
        if not layout.status_couplings:
            return None
        if part == layout.parent:
            return statuses
        return {cid: (statuses[cid] if statuses is not None else closed) for cid in child_statuses[part]}

    converged = False
    verify = False
    own: dict[str, float] = {}
    for k in range(1, options.iteration_limit + 1):
        t_it = time.perf_counter()
        held = False                                      # some answer not final: an exact check must follow
        for parts in rule.rounds:
            requests = [(name, *rule.request(name), verify, held_for(name)) for name in parts]
            t0 = time.perf_counter()
            outcomes = _solve_parts(executor, requests, k)
            solve_s += time.perf_counter() - t0
            for out in outcomes:
                held |= out.integers_fixed
                own[out.part] = out.own_cost
                rule.receive(out)
        c = rule.residual()                               # (pair, t), p.u.; zero where unpenalized
        objective = float(sum(own.values()))
        if c.size:
            rel = np.abs(c)
            j, t = np.unravel_index(int(np.argmax(rel)), rel.shape)
            inc, where, step = float(rel[j, t]), layout.pair_ids[j], int(t)
        else:
            inc, where, step = 0.0, "-", 0
        dual = rule.dual_residual()
        phase = "verify" if verify else ("statuses held" if statuses is not None else "flows")
        it = Iteration(k, inc, where, step, objective, time.perf_counter() - t_it, held, dual, phase)
        history.append(it)
        for kk, cid in enumerate(layout.couplings):
            target_history.setdefault(cid, []).append(rule.targets[kk].copy())
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
        dual_ok = dual <= rule.dual_tolerance
        if inc <= options.tolerance and (obj_change <= obj_tol or not c.size) and dual_ok:
            if layout.status_couplings and statuses is None:
                # the flows have settled with every switch closed for the children: hold the parent's
                # statuses on both sides from now on and let the flows settle under them
                statuses = _settled_statuses(layout, rule)
                verify = held
                rule.restart()
                continue
            if not held:
                converged = True
                break
            # converged with some integers held: one more iteration solves every MILP part with its integers
            # free, so the answer is the MILP's and not the LP's at frozen on/off decisions
            verify = True
        else:
            verify = False
        rule.update(c, consistent=inc <= options.tolerance, dual_ok=dual_ok)
    loop_s = time.perf_counter() - t_loop
    c = rule.residual()
    per_coupling = {pid: float(np.max(np.abs(c[j]))) for j, pid in enumerate(layout.pair_ids)}
    return Outcome(converged, history, {cid: rule.targets[k] for k, cid in enumerate(layout.couplings)},
                   {pid: rule.responses[j] for j, pid in enumerate(layout.pair_ids)}, per_coupling, solve_s,
                   loop_s, target_history)


def _settled_statuses(layout: Layout, rule) -> dict[str, np.ndarray]:
    """The parent's statuses, closed also where a child still moves power over the switch: a status only
    permits flow, so closing it never makes a side infeasible, while opening a switch a child relies on can
    (measured with ADMM, whose parent answers the consensus and not the children's responses)."""
    statuses = {}
    for cid in layout.status_couplings:
        status = np.clip(np.round(rule.targets[layout.cpos[cid]]), 0.0, 1.0)
        switch = layout.records[cid].name
        # the switch's P and Q (where it carries Q) as the children see them
        used = [j for j, q in enumerate(layout.pairs) if layout.records[q.coupling].kind == "switch"
                and layout.records[q.coupling].name == switch and not layout.records[q.coupling].is_status]
        if used:
            moving = np.max(np.abs(rule.responses[used]), axis=0) > 1e-6 * layout.base_kw
            status = np.where(moving, 1.0, status)
        statuses[cid] = status
    return statuses


def _solve_parts(executor, requests: list[tuple], k: int):
    """Solve subproblems; a failure of one (infeasible, time limit, solver failure) is reported with the
    iteration it happened in."""
    try:
        return executor.solve(requests)
    except MgdError as err:
        for d in err.diagnostics:
            if d.message.startswith("subproblem `"):
                d.message = d.message.replace("`: ", f"` (ATC iteration {k}): ", 1)
        raise MgdError(err.diagnostics) from None
