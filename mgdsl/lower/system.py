"""Lower a SystemIR to one linopy model: device templates, the network, tie lines and switches (each side
its own copy, tied by an equality, so a partition can cut there), carrier balances, couplings, objective."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, MgdError
from ..ir import SystemIR
from ..syntax import ast
from .builder import Builder
from .devices import LoweredTemplate, lower_template, node_key
from .exprs import ExprEvaluator, time_index
from .network import LoweredNetwork, lower_network


@dataclass
class Lowered:
    """A linopy model plus everything needed to read its solution back in .mgd terms."""

    ir: SystemIR
    builder: Builder
    templates: dict[str, LoweredTemplate]
    network: LoweredNetwork | None
    ties: dict[str, object] = field(default_factory=dict)       # microgrid side / network side, over (tie, t)
    switches: dict[str, object] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    balance_name: str | None = None

    @property
    def model(self):
        return self.builder.model


def _contribution(expr, nodes: xr.DataArray, all_nodes: pd.Index):
    """Sum an expression over its item dimension into balance nodes, on the full node index."""
    return expr.groupby(nodes).sum().reindex(node=all_nodes).fillna(0)


def lower_system(ir: SystemIR) -> Lowered:
    b = Builder()
    steps, dt = ir.steps, ir.dt_h
    time = pd.RangeIndex(steps, name="t")
    network_owners = {ir.network.name} if ir.network else set()
    templates = {}
    for tpl in ir.used_templates():
        templates[tpl.name] = lower_template(b, tpl, ir.instances[tpl.name], steps, dt, network_owners)
    low = Lowered(ir, b, templates, None)
    flows: list[tuple[object, xr.DataArray]] = []          # (expr over (item, t), node per item)
    for lt in templates.values():
        flows += [(p.expr, p.nodes) for p in lt.ports]

    if ir.network is not None:
        low.network = lower_network(b, ir.network, steps, dt)
        flows += low.network.injections
        n = ir.network.name
        slack = ir.network.slack_bus
        slack_flow = 1 * low.network.buy if low.network.sell is None else low.network.buy - low.network.sell
        one = pd.Index(["slack"], name="slack")
        flows.append((slack_flow.expand_dims(slack=one),
                      xr.DataArray([f"{n}:{slack}:electricity"], coords=[one], name="node")))
        flows.append(((1 * low.network.q_slack).expand_dims(slack=one),
                      xr.DataArray([f"{n}:{slack}:reactive"], coords=[one], name="node")))

    _lower_ties(low, flows, time)
    _lower_switches(low, flows, time)

    # Carrier balances: one constraint over (node, t) for every microgrid carrier and network bus.
    node_names = sorted({str(k) for _, keys in flows for k in np.atleast_1d(keys.values)})
    if node_names:
        all_nodes = pd.Index(node_names, name="node")
        total = None
        for expr, keys in flows:
            part = _contribution(expr, keys, all_nodes)
            total = part if total is None else total + part
        rhs = xr.DataArray(np.zeros((len(all_nodes), steps)), coords=[all_nodes, time])
        if ir.network is not None:
            net = ir.network
            for k, bus in enumerate(net.buses):
                for carrier, loads in (("electricity", net.load_p), ("reactive", net.load_q)):
                    key = f"{net.name}:{bus}:{carrier}"
                    if key in all_nodes:
                        rhs.loc[key] = loads[k]
        b.constraint("balance", total == rhs, None, "carrier balance (supply = demand) of a microgrid or bus")
        low.nodes = node_names
        low.balance_name = "balance"

    _lower_couples(low, time)
    _objective(low)
    return low


def _lower_ties(low: Lowered, flows, time) -> None:
    ir = low.ir
    tied = [m for m in ir.microgrids.values() if m.bus is not None]
    if not tied:
        return
    idx = pd.Index([m.name for m in tied], name="tie")
    lim = np.array([m.limit_kw if m.limit_kw is not None else np.inf for m in tied])
    lo = xr.DataArray(-lim, coords=[idx])
    hi = xr.DataArray(lim, coords=[idx])
    b = low.builder
    span = tied[0].span
    mg_side = b.variable("tie.mg", span, "tie-line import of a microgrid (kW), microgrid side", coords=[idx, time],
                         lower=lo, upper=hi)
    net_side = b.variable("tie.net", span, "tie-line export at a bus (kW), network side", coords=[idx, time],
                          lower=lo, upper=hi)
    b.constraint("tie.couple", mg_side - net_side == 0, span, "tie line: microgrid import = network export")
    flows.append((1 * mg_side, xr.DataArray([node_key(m.name, None, "electricity") for m in tied], coords=[idx], name="node")))
    flows.append((-1 * net_side, xr.DataArray([node_key(m.network, m.bus, "electricity") for m in tied], coords=[idx],
                                              name="node")))
    low.ties = {"mg": mg_side, "net": net_side}


def _lower_switches(low: Lowered, flows, time) -> None:
    ir = low.ir
    if not ir.switches:
        return
    b = low.builder
    idx = pd.Index([s.name for s in ir.switches], name="switch")
    limit = xr.DataArray([s.limit_kw for s in ir.switches], coords=[idx])
    span = ir.switches[0].span
    sides = {}
    for side in ("a", "b"):
        f = b.variable(f"switch.flow_{side}", span, f"switch flow from a to b (kW), copy of side {side}",
                       coords=[idx, time], lower=-limit, upper=limit)
        u = b.variable(f"switch.closed_{side}", span, f"switch status (1 = closed), copy of side {side}",
                       coords=[idx, time], binary=True)
        b.constraint(f"switch.open_{side}.1", f - limit * u <= 0, span, "an open switch carries no power")
        b.constraint(f"switch.open_{side}.2", f + limit * u >= 0, span, "an open switch carries no power")
        sides[side] = (f, u)
    b.constraint("switch.couple_flow", sides["a"][0] - sides["b"][0] == 0, span, "switch flow seen by both ends")
    b.constraint("switch.couple_status", sides["a"][1] - sides["b"][1] == 0, span, "switch status seen by both ends")
    key = lambda e: node_key(e.owner, e.bus, "electricity")
    flows.append((-1 * sides["a"][0], xr.DataArray([key(s.a) for s in ir.switches], coords=[idx], name="node")))
    flows.append((1 * sides["b"][0], xr.DataArray([key(s.b) for s in ir.switches], coords=[idx], name="node")))
    low.switches = {"flow": sides["a"][0], "closed": sides["a"][1]}


def couple_lookup(low: Lowered):
    """Resolve OWNER.INSTANCE.VAR (and top-level constants) inside `couple` expressions."""
    ir = low.ir
    index = {i.name: i for insts in ir.instances.values() for i in insts}

    def lookup(ref: ast.Ref):
        inst = index[".".join(ref.parts[:-1])]
        var = low.templates[inst.template].variables[ref.parts[-1]]
        picked = var.sel({inst.template: inst.name}, drop=True)
        return time_index(picked, ref.index, None, ir.steps)

    return lookup


def _lower_couples(low: Lowered, time) -> None:
    if not low.ir.couples:
        return
    ev = ExprEvaluator(couple_lookup(low), low.ir.dt_h)
    for c in low.ir.couples:
        lhs, rhs = ev.eval(c.lhs), ev.eval(c.rhs)
        from .exprs import sub, to_expr

        low.builder.constraint(f"couple.{c.name}", to_expr(sub(lhs, rhs)) == 0, c.span, f"coupling `{c.name}`")


def _objective(low: Lowered) -> None:
    terms = []
    for lt in low.templates.values():
        terms += [c.sum() for c in lt.costs]
    if low.network is not None and low.network.cost is not None:
        terms.append(low.network.cost)
    if not terms:
        # Nothing has a price: still solve for a feasible operating point.
        first = next(iter(low.model.variables.values()), None)
        if first is None:
            raise MgdError([Diagnostic("E0505", "the system has no variables to optimize", None,
                                       help="add devices to a microgrid or a network")])
        terms.append(0 * first.sum())
    obj = terms[0]
    for t in terms[1:]:
        obj = obj + t
    low.model.add_objective(obj)
