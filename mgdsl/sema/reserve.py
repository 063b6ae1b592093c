"""Spinning reserve in checking: a template's `reserve up|down += EXPR` (each instance's share of its owner's
reserve, kW), the slack bus's `limit` (its capacity, which lets it hold reserve) and a network's or microgrid's
`reserve up|down >= EXPR` (the requirement its pool must meet at every step: kW from constants, profiles and
`load`, the pool's electric demand). Lowering is lower/reserve.py; docs/language.md, section Spinning reserve."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..diagnostics import Collector, Label
from ..ir import InstanceIR, NetworkIR, ReserveRequirementIR, ReserveShareIR, TemplateIR
from ..syntax import ast
from . import units
from .typing import ExprTyper, Symbol
from .values import Const, Evaluator, check_magnitude, convert

DIRECTIONS = ("up", "down")
LOAD = "load"          # the name a requirement uses for its pool's electric demand


def _direction(direction: str, span, diag: Collector, example: str) -> bool:
    if direction in DIRECTIONS:
        return True
    diag.error("E0830", f"`{direction}` is not a reserve direction", span, "up or down",
               help=f"reserve is `up` (power that can be added) or `down` (power that can be shed): `{example}`")
    return False


# ------------------------------------------------------------------ templates
def check_share(s: ast.ReserveShare, scope: dict[str, Symbol], diag: Collector) -> ReserveShareIR | None:
    """`reserve up += r_up` in a template: a linear expression in kW (a variable, usually, whose limits the
    template writes as constraints)."""
    ok = _direction(s.direction, s.direction_span, diag, "reserve up += r_up")
    t = ExprTyper(scope, diag, "port").ty(s.value)
    if t is None or not ok:
        return None
    if t.dim != units.POWER and not t.zero:
        diag.error("E0831", f"a reserve share is power, but this is {units.describe(t.dim)}", s.value.span,
                   f"this is {units.describe(t.dim)}",
                   help="declare the reserve as a power variable (`var r_up[t]: kW >= 0`) and add it: "
                        "`reserve up += r_up`")
        return None
    total = _first_sum(s.value)
    if total is not None:
        diag.error("E0833", "a reserve share is the reserve held at each step: it cannot sum over the horizon",
                   total.span, "a sum over the horizon", help="write the reserve at the step (`r_up`)")
        return None
    for ref in ast.refs(s.value):
        if ref.index is not None and (ref.index.base != "t" or ref.index.offset != 0):
            diag.error("E0833", "a reserve share is the reserve held at each step: it takes no other step",
                       ref.index.span, "another step", help=f"write `{ref.name}` or `{ref.name}[t]`; limit the "
                                                            "reserve by other steps in a constraint")
            return None
    return ReserveShareIR(s.direction, s.sign, s.value, s.span)


def _first_sum(e):
    if isinstance(e, ast.Call) and e.func == "sum":
        return e
    for child in [getattr(e, k, None) for k in ("left", "right", "operand", "base")] + \
            [a.value for a in getattr(e, "args", [])]:
        if child is not None and not isinstance(child, (str, int)):
            found = _first_sum(child)
            if found is not None:
                return found
    return None


# ------------------------------------------------------------------ the slack bus's capacity
def check_slack_limit(net_stmt: ast.Network, network: NetworkIR | None, ev: Evaluator, diag: Collector) -> None:
    """`slack 1 limit 5 MW buys at ...`: purchases and sales at the slack within the limit; sets slack_limit_kw."""
    slack = next((s for s in net_stmt.body if isinstance(s, ast.NetSlack)), None)
    if slack is None or slack.limit is None:
        return
    c = ev.try_eval(slack.limit)
    v = convert(c, units.POWER, slack.limit.span, diag, "the slack's limit") if c is not None else None
    if v is None:
        return
    if np.ndim(v) or not v > 0:
        diag.error("E0404", "the slack's limit must be one positive power", slack.limit.span, "",
                   help="give the substation's capacity, e.g. `slack 1 limit 5 MW buys at PRICE`")
        return
    if network is not None:
        network.slack_limit_kw = float(v)


def without_requirements(net_stmt: ast.Network) -> ast.Network:
    """The network block without its `reserve` statements, for the network's own checks (which take each of
    their statements once)."""
    return dataclasses.replace(net_stmt, body=[s for s in net_stmt.body
                                               if not isinstance(s, ast.ReserveRequirement)])


# ------------------------------------------------------------------ requirements
def counts_in_pool(tpl: TemplateIR, inst: InstanceIR) -> bool:
    """Reserve is electric: a device's shares count in its owner's pool when the instance has an electricity port
    (a Storage of heat holds none)."""
    return any(inst.values.get(p.carrier, p.carrier) == "electricity" for p in tpl.ports)


def instance_demand(tpl: TemplateIR, inst: InstanceIR) -> float | np.ndarray:
    """An instance's electric demand, for `load`: its `base` parameter (kW) when its template draws electricity
    (a `port electricity -= ...`, or `port c -= ...` with c bound to electricity); 0 otherwise. The standard
    library's loads (Load, UninterruptibleLoad, InterruptibleLoad, FlexibleLoad, LoadPQ, FlexibleLoadPQ) follow
    this convention, so their forecast demand is counted, before any shifting or shedding."""
    base = tpl.params.get("base")
    if base is None or base.is_carrier or base.dim != units.POWER:
        return 0.0
    draws = any(p.sign < 0 and inst.values.get(p.carrier, p.carrier) == "electricity" for p in tpl.ports)
    return inst.values.get("base", 0.0) if draws else 0.0


def pool_load(owner: str, network: NetworkIR | None, templates: dict[str, TemplateIR],
              instances: dict[str, list[InstanceIR]], steps: int) -> np.ndarray:
    """The pool's electric demand per step (kW): the network's bus loads (`loads`, `load`, `from`) for the
    network, plus the demand of the owner's instances (instance_demand)."""
    total = np.zeros(steps)
    if network is not None and owner == network.name:
        total = total + network.load_p.sum(axis=0)
    for name, insts in instances.items():
        tpl = templates[name]
        for inst in insts:
            if inst.owner == owner:
                total = total + np.broadcast_to(np.asarray(instance_demand(tpl, inst), dtype=float), (steps,))
    return total


def check_requirements(checker, network_stmt: ast.Network | None, network: NetworkIR | None,
                       mg_stmts: list[ast.Microgrid], microgrids: dict) -> list[ReserveRequirementIR]:
    """Every `reserve ... >= ...` of the network and the microgrids, checked after their instances are bound."""
    steps = checker.steps
    blocks: list[tuple[str, list[ast.Stmt]]] = []
    if network_stmt is not None and network is not None:
        blocks.append((network.name, network_stmt.body))
    blocks += [(m.name, m.body) for m in mg_stmts if m.name in microgrids]
    out: list[ReserveRequirementIR] = []
    for owner, body in blocks:
        reqs = [s for s in body if isinstance(s, ast.ReserveRequirement)]
        if not reqs or steps is None:
            continue
        env = dict(checker.env)
        for s in body:                     # a microgrid's own `let`s
            if isinstance(s, ast.Let):
                c = Evaluator(env, Collector(), steps, checker.dt_h, checker.program.main.file.directory,
                              checker.csvs).try_eval(s.value)
                if c is not None:
                    env[s.name] = c
        load = pool_load(owner, network, checker.templates, checker.instances, steps)
        env.setdefault(LOAD, Const(load, units.POWER))
        seen: dict[str, ast.ReserveRequirement] = {}
        for s in reqs:
            req = _check_one(s, owner, env, checker, seen)
            if req is not None:
                out.append(req)
    _check_holders(checker, network, out)
    return out


def _check_one(s: ast.ReserveRequirement, owner: str, env: dict[str, Const], checker,
               seen: dict) -> ReserveRequirementIR | None:
    diag: Collector = checker.diag
    if not _direction(s.direction, s.direction_span, diag, "reserve up >= 10 % * load"):
        return None
    if s.op != ">=":
        diag.error("E0832", f"a reserve requirement is a lower limit, written `>=`, not `{s.op}`", s.span,
                   "not `>=`", help=f"write `reserve {s.direction} >= AMOUNT`: the pool holds at least AMOUNT")
        return None
    if s.direction in seen:
        diag.error("E0835", f"`{owner}` requires {s.direction} reserve twice", s.span, "again here",
                   secondary=[Label(seen[s.direction].span, "first required here")],
                   help="write one requirement per direction; add the amounts: `reserve up >= 10 % * load + 200 kW`")
        return None
    seen[s.direction] = s
    for ref in ast.refs(s.value):
        if ref.name not in env and ref.name != "dt":
            what = "a device's variable" if len(ref.parts) > 1 else "not a profile or constant"
            diag.error("E0833", f"a reserve requirement cannot use `{ref.name}`", ref.span, what,
                       help="a requirement is a known amount per step: constants, profiles and `load` (the pool's "
                            "electric demand), e.g. `reserve up >= 10 % * load + 200 kW`")
            return None
        if ref.index is not None:
            diag.error("E0833", "a reserve requirement is per step: it takes no time index", ref.index.span, "",
                       help="write the profile's name; its value at each step is used")
            return None
    ev = Evaluator(env, diag, checker.steps, checker.dt_h, checker.program.main.file.directory, checker.csvs)
    c = ev.try_eval(s.value)
    if c is None:
        return None
    if c.dim != units.POWER and not c.zero:
        diag.error("E0831", f"a reserve requirement is power, but this is {units.describe(c.dim)}", s.value.span,
                   f"this is {units.describe(c.dim)}",
                   help="give kW (or MW): a share of the load (`10 % * load`), a constant (`200 kW`), a profile in kW")
        return None
    amount = np.broadcast_to(np.asarray(c.value, dtype=float), (checker.steps,)).copy()
    if not check_magnitude(amount, units.POWER, s.value.span, diag, "the reserve requirement"):
        return None
    if (amount < 0).any():
        t = int(np.argmax(amount < 0))
        diag.error("E0834", f"the {s.direction} reserve requirement of `{owner}` is negative at t={t} "
                            f"({amount[t]:g} kW)", s.value.span, "negative",
                   help="a requirement is an amount the pool must hold, at least 0 kW at every step")
        return None
    return ReserveRequirementIR(owner, s.direction, amount, s.span)


def _check_holders(checker, network: NetworkIR | None, reqs: list[ReserveRequirementIR]) -> None:
    """A pool that must hold reserve needs something that can hold it: a device whose template declares a share
    in that direction, or (the network's pool) a slack bus with a limit."""
    for req in reqs:
        if not (req.amount_kw > 0).any():
            continue
        if network is not None and req.owner == network.name and network.slack_limit_kw is not None:
            continue
        if any(any(r.direction == req.direction for r in checker.templates[name].reserves)
               and counts_in_pool(checker.templates[name], i)
               for name, insts in checker.instances.items() for i in insts if i.owner == req.owner):
            continue
        on_network = network is not None and req.owner == network.name
        checker.diag.error(
            "E0836", f"nothing in `{req.owner}` can hold {req.direction} reserve", req.span, "required here",
            help=f"add a device that holds {req.direction} reserve (a Microturbine, DieselEngine, electric "
                 "Storage or GFMStorage of the standard library, or a template with `reserve "
                 + req.direction + " += ...`)"
                 + (", or give the slack bus its capacity: `slack 1 limit 5 MW buys at ...`" if on_network else ""))


# ------------------------------------------------------------------ templates of a system that requires none
def _names(e) -> set[str]:
    return {r.parts[0] for r in ast.refs(e) if len(r.parts) == 1}


def named_outside(objectives: dict, couples: list, instance_index: dict) -> set[tuple[str, str]]:
    """(template, variable) of every variable an objective or a `couple` names (`mg1.g.r_up`): kept by
    idle_reserve_removed, since they name it."""
    out = set()
    for obj in objectives.values():
        for term in obj.terms:
            q = term.quantity
            if hasattr(q, "var"):
                out.add((q.template, q.var))
    for c in couples:
        for side in (c.lhs, c.rhs):
            for ref in ast.refs(side):
                inst = instance_index.get(".".join(ref.parts[:-1]))
                if inst is not None:
                    out.add((inst.template, ref.parts[-1]))
    return out


def idle_reserve_removed(templates: dict[str, TemplateIR], reserves: list[ReserveRequirementIR],
                         keep: set[tuple[str, str]] = frozenset()) -> dict:
    """The templates as the system lowers them: in a direction that no pool of the system requires, a template's
    reserve is idle, so the variables only its shares of that direction use are 0; they are left out, with every
    constraint, `let` and `initial` that names them (at 0 they only restate the other limits: p + r_up <= p_max
    is p <= p_max). A system without requirements is so lowered exactly as without reserve. A variable that a
    port or a cost also uses, that a required direction's share uses, or that `keep` names (an objective or a
    coupling names it: named_outside), stays, and so does its template."""
    required = {r.direction for r in reserves}
    out = {}
    for name, tpl in templates.items():
        idle = [r for r in tpl.reserves if r.direction not in required]
        if not idle:
            out[name] = tpl
            continue
        busy = set().union(*(_names(r.value) for r in tpl.reserves if r.direction in required))
        gone = set().union(*(_names(r.value) for r in idle)) & set(tpl.vars) - busy - {v for t, v in keep if t == name}
        lets = dict(tpl.lets)
        grew = True
        while grew:                       # a `let` that names a dropped variable goes too, and so on
            grew = False
            for k, let in list(lets.items()):
                if _names(let.value) & gone:
                    gone.add(k)
                    del lets[k]
                    grew = True
        used = set().union(set(), *(_names(p.value) for p in tpl.ports), *(_names(c.value) for c in tpl.costs))
        if not gone or used & gone:
            out[name] = tpl
            continue
        constraints = [c for c in tpl.constraints if not set().union(*(_names(t) for t in c.stmt.terms)) & gone]
        out[name] = dataclasses.replace(
            tpl, vars={k: v for k, v in tpl.vars.items() if k not in gone}, lets=lets, constraints=constraints,
            initials={k: v for k, v in tpl.initials.items() if k not in gone},
            reserves=[r for r in tpl.reserves if r.direction in required])
    return out
