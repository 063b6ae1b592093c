"""Lower a SystemIR to one linopy model: device templates, the network, tie lines and switches (each side
its own copy, tied by an equality, so a partition can cut there), carrier balances, couplings, objective.

Given `local` owners, only their side of each interaction is lowered; an interaction with one side here
and the other elsewhere becomes a coupling copy (`Lowered.copies`) instead of an equality. The centralized
model is the case where every owner is local; an ATC subproblem is the case of one part."""
from __future__ import annotations

from dataclasses import dataclass, field

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, InternalError, MgdError
from ..ir import BalanceNode, SystemIR, coupling_id
from ..syntax import ast
from .builder import Builder
from .devices import LoweredTemplate, lower_template
from .exprs import ExprEvaluator, is_linopy, time_index
from .network import LoweredNetwork, lower_network
from .objectives import objective_terms
from .reserve import lower_reserves
from .terms import terms_expr


@dataclass
class CopyBlock:
    """This part's copy of cut coupling values: `expr` over (dim, t); item k is the coupling with id `ids[k]`
    (CouplingIR.id: made by ir.coupling_id, matched as a label, never parsed)."""

    ids: list[str]
    expr: object
    dim: str


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
    objective_constant: float = 0.0      # the cost terms without variables (linopy objectives hold no constant)
    balance_dual: object = None          # balance duals of a MILP with its integers fixed (set by the solve)
    price_seconds: float = 0.0           # time spent on those duals
    local: frozenset | None = None       # the owners lowered here (None: all)
    copies: list[CopyBlock] = field(default_factory=list)   # this side of each cut interaction
    objective_expr: object = None        # the model's own objective, before any decomposition terms
    reserve: object = None               # the slack's limit and the reserve rows (lower/reserve.py)

    @property
    def balance_nodes(self) -> list[BalanceNode]:
        """The balance rows' nodes, typed, in the order of `nodes` (their coordinates)."""
        return [BalanceNode.of(k) for k in self.nodes]

    def is_local(self, owner: str) -> bool:
        return self.local is None or owner in self.local

    @property
    def model(self):
        return self.builder.model


def _balance_expression(flows, all_nodes: pd.Index, time: pd.Index, label_dtype=np.int64):
    """Sum every flow (an expression over (item, t), and the node of each item) into the term arrays of one
    expression over (node, t): (vars, coeffs, const). Built from the flows' term arrays in one step: a groupby
    per flow costs far more in linopy. Vectorized over items: each flow's items go to their node's next free
    term slots."""
    pos = {k: i for i, k in enumerate(all_nodes)}
    n_nodes, steps = len(all_nodes), len(time)
    const = np.zeros((n_nodes, steps))
    placed = []                                       # (node index per item, first slot per item, vars, coeffs)
    used = np.zeros(n_nodes, dtype=np.int64)          # term slots taken so far, per node
    for expr, keys in flows:
        item = keys.dims[0]
        data = expr.data.transpose(item, "t", "_term")
        node_of = np.array([pos[str(k)] for k in keys.sel({item: data[item].values}).values], dtype=np.int64)
        vars_ = np.asarray(data.vars.values)
        coeffs = np.asarray(data.coeffs.values, dtype=float)
        width = vars_.shape[2]
        item_const = np.nan_to_num(np.asarray(data.const.values, dtype=float))
        if len(np.unique(node_of)) == len(node_of):
            const[node_of] += item_const              # one item per node (np.add.at is many times slower)
        else:
            np.add.at(const, node_of, item_const)
        # items of the same flow at the same node take consecutive blocks of `width` slots
        order = np.argsort(node_of, kind="stable")
        sorted_nodes = node_of[order]
        first_of_node = np.searchsorted(sorted_nodes, sorted_nodes, side="left")
        rank = np.empty_like(node_of)
        rank[order] = np.arange(len(node_of)) - first_of_node
        placed.append((node_of, used[node_of] + rank * width, vars_, coeffs))
        used += np.bincount(node_of, minlength=n_nodes) * width
    width = max(1, int(used.max()) if n_nodes else 1)
    # every slot below a node's `used` is written by exactly one flow's item: only the padding is filled
    V = np.empty((n_nodes, steps, width), dtype=label_dtype)
    C = np.empty((n_nodes, steps, width))
    pad_node, pad_slot = np.nonzero(np.arange(width)[None, :] >= used[:, None])
    V[pad_node, :, pad_slot] = -1
    C[pad_node, :, pad_slot] = np.nan
    for node_of, slot, vars_, coeffs in placed:
        if not len(node_of):
            continue                                      # a flow with no items (a network of one bus has no lines)
        coeffs = np.where(vars_ >= 0, np.nan_to_num(coeffs), np.nan)
        w = vars_.shape[2]
        if (slot == slot[0]).all():
            # every item's terms at the same slots (each node holds the same devices): one block copy
            V[node_of, :, slot[0]:slot[0] + w] = vars_
            C[node_of, :, slot[0]:slot[0] + w] = coeffs
            continue
        for j in range(w):
            V[node_of, :, slot + j] = vars_[:, :, j]
            C[node_of, :, slot + j] = coeffs[:, :, j]
    return V, C, const


def _check_nodes_without_variables(low: Lowered, total_vars: np.ndarray, rhs: xr.DataArray, fixed) -> None:
    """A balance row without any variable is `0 == demand`. linopy drops such rows, which would silently
    ignore a fixed demand that nothing can supply: report it as an infeasibility instead."""
    empty = (total_vars < 0).all(axis=-1)                                     # (node, t)
    bad = empty & ~np.isclose(rhs.values, 0.0)
    if not bad.any():
        return
    n, t = map(int, np.argwhere(bad)[0])
    node = str(rhs.node.values[n])
    owner, carrier = BalanceNode.of(node).owner, BalanceNode.of(node).carrier
    insts, ports = [], []
    for lt in low.templates.values():
        for p in lt.constants:
            keys = [str(k) for k in np.atleast_1d(p.nodes.values)]
            if node in keys:
                insts += [i for i, k in zip(lt.instances, keys) if k == node and i not in insts]
                ports.append(p.span)
    from ..diagnostics import Label

    primary = insts[0].span if insts else (ports[0] if ports else None)
    secondary = [Label(s, "fixed injection") for s in ports[:2]] + [Label(i.span, "also fixed") for i in insts[1:3]]
    raise MgdError([Diagnostic(
        "E0601", f"the model is infeasible: nothing in `{owner}` can supply or absorb {carrier} "
                 f"(a fixed injection of {-float(rhs.values[n, t]):g} at t={t})",
        primary, "this device's port has no variable" if insts else "", secondary=secondary,
        help=f"give `{owner}` a device that can supply {carrier} (a supply, a trade, a storage), or remove the load")])


def lower_system(ir: SystemIR, local: set[str] | None = None, solver_cones: bool = False) -> Lowered:
    b = Builder()
    steps, dt = ir.steps, ir.dt_h
    time = pd.RangeIndex(steps, name="t")
    network_owners = {ir.network.name} if ir.network else set()
    templates = {}
    for tpl in ir.used_templates():
        templates[tpl.name] = lower_template(b, tpl, ir.instances[tpl.name], steps, dt, network_owners)
    low = Lowered(ir, b, templates, None, local=frozenset(local) if local is not None else None)
    flows: list[tuple[object, xr.DataArray]] = []          # (expr over (item, t), node per item)
    fixed: list[tuple[xr.DataArray, xr.DataArray]] = []    # fixed injections (ports without variables)
    for lt in templates.values():
        flows += [(p.expr, p.nodes) for p in lt.ports]
        fixed += [(p.expr, p.nodes) for p in lt.constants]

    if ir.network is not None and low.is_local(ir.network.name):
        low.network = lower_network(b, ir.network, steps, dt, solver_cones)
        flows += low.network.injections
        n = ir.network.name
        slack = ir.network.slack_bus
        one = pd.Index(["slack"], name="slack")
        ln = low.network
        slack_vars, slack_coeffs = [ln.buy.labels.values[None]], [1.0]
        if ln.sell is not None:
            slack_vars.append(ln.sell.labels.values[None])
            slack_coeffs.append(-1.0)
        flows.append((terms_expr(b.model, [one, time], slack_vars, slack_coeffs),
                      xr.DataArray([BalanceNode(n, slack, "electricity").key], coords=[one], name="node")))
        flows.append((terms_expr(b.model, [one, time], [ln.q_slack.labels.values[None]], [1.0]),
                      xr.DataArray([BalanceNode(n, slack, "reactive").key], coords=[one], name="node")))

    _lower_ties(low, flows, time)
    if ir.switches:
        _lower_switches(low, flows, time)

    # Carrier balances: one constraint over (node, t) for every microgrid carrier and network bus.
    node_names = sorted({str(k) for _, keys in flows + fixed for k in np.atleast_1d(keys.values)})
    if node_names:
        all_nodes = pd.Index(node_names, name="node")
        V, C, const = _balance_expression(flows, all_nodes, time, b.model._dtypes["labels"])
        pos = {k: i for i, k in enumerate(node_names)}
        loads = np.zeros((len(all_nodes), steps))
        if low.network is not None:
            net = ir.network
            for k, bus in enumerate(net.buses):
                for carrier, load in (("electricity", net.load_p), ("reactive", net.load_q)):
                    key = BalanceNode(net.name, bus, carrier).key
                    if key in pos:
                        loads[pos[key]] = load[k]
        for value, keys in fixed:
            # a fixed injection moves to the right-hand side: sum(flows) + value == loads
            item = keys.dims[0]
            node_of = np.array([pos[str(k)] for k in keys.values], dtype=np.int64)
            np.add.at(loads, node_of, -np.asarray(value.sel({item: keys[item].values}).transpose(item, "t").values))
        rhs = xr.DataArray(loads, coords=[all_nodes, time])
        _check_nodes_without_variables(low, V, rhs, fixed)
        b.constraint_arrays("balance", None, "carrier balance (supply = demand) of a microgrid or bus", None,
                            [all_nodes, time], V, C, "=", rhs.values - const)
        low.nodes = node_names
        low.balance_name = "balance"

    _lower_couples(low, time)
    low.reserve = lower_reserves(low)
    _objective(low)
    return low


# The apparent-power limit S of a tie or switch that carries P and Q: a regular 16-gon circumscribed about the
# circle P^2 + Q^2 <= S^2, with sides on the axes, so |P| <= S exactly when Q = 0 (the active-power-only limit)
# and the largest admitted |S| is S / cos(pi/16), 1.96 % over, at its 16 vertices. The axis sides are the
# variables' bounds (or the status rows of a switch); the other 12 sides are rows here.
PQ_SIDES = 16
PQ_OVERLOAD = 1 / np.cos(np.pi / PQ_SIDES) - 1


def _pq_polygon(b, name: str, p: np.ndarray, q: np.ndarray, limit: np.ndarray, coords, span, description: str,
                u: np.ndarray | None = None) -> None:
    """cos(a) P + sin(a) Q within +-limit for the polygon's directions a off the axes, for labels `p`, `q` over
    `coords` and a limit per item (over coords[0]); with status labels `u`, within +-limit u (none when open)."""
    lim = np.broadcast_to(np.asarray(limit, dtype=float)[:, None], p.shape)
    v = np.stack([p, q] if u is None else [p, q, u], axis=-1)
    for k in range(1, PQ_SIDES // 2):
        if k == PQ_SIDES // 4:
            continue                                   # the Q axis: a bound of q
        a = k * np.pi / (PQ_SIDES // 2)
        c = np.empty(v.shape)
        c[..., 0], c[..., 1] = float(np.cos(a)), float(np.sin(a))
        if u is None:
            b.constraint_arrays(f"{name}_{k}u", span, description, None, coords, v, c, "<=", lim.copy())
            b.constraint_arrays(f"{name}_{k}l", span, description, None, coords, v, c.copy(), ">=", -lim)
        else:
            c[..., 2] = -lim
            b.constraint_arrays(f"{name}_{k}u", span, description, None, coords, v, c, "<=", np.zeros(p.shape))
            c = c.copy()
            c[..., 2] = lim
            b.constraint_arrays(f"{name}_{k}l", span, description, None, coords, v, c, ">=", np.zeros(p.shape))


def _rows(b, name: str, span, description: str, coords, terms: list[tuple[np.ndarray, object]], sign: str) -> None:
    """Rows sum(coeff * labels) SIGN 0 over `coords`, from (labels, coeff) pairs (a coeff per item or a number)."""
    shape = terms[0][0].shape
    v = np.stack([lab for lab, _ in terms], axis=-1)
    c = np.empty(v.shape)
    for k, (_, coeff) in enumerate(terms):
        coeff = np.asarray(coeff, dtype=float)
        c[..., k] = coeff[:, None] if coeff.ndim == 1 else coeff
    b.constraint_arrays(name, span, description, None, coords, v, c, sign, np.zeros(shape))


def _lower_ties(low: Lowered, flows, time) -> None:
    from .terms import labels_of, terms_expr

    ir = low.ir
    tied = [m for m in ir.microgrids.values() if m.bus is not None]
    mg_here = [m for m in tied if low.is_local(m.name)]
    net_here = [m for m in tied if low.is_local(m.network)]
    if not mg_here and not net_here:
        return
    b = low.builder
    model = b.model
    span = tied[0].span

    def side(name, members, description):
        idx = pd.Index([m.name for m in members], name="tie")
        lim = np.array([m.limit_kw if m.limit_kw is not None else np.inf for m in members])[:, None]
        return b.variable_arrays(name, span, description, None, [idx, time], -lim, lim)

    def expr(var, coeff, names=None):
        """coeff * var (picked at the ties `names`) as an expression over (tie, t)."""
        idx = var.indexes["tie"] if names is None else pd.Index(names, name="tie")
        return terms_expr(model, [idx, time], [labels_of(var) if names is None else labels_of(var, tie=names)],
                          [coeff])

    # (variable key, carrier, members): P at every tie; Q only at ties of microgrids with reactive devices
    # (elsewhere nothing can flow, and the model stays as it was)
    kinds = [("", "electricity", "kW", "import", "export"), ("q_", "reactive", "kvar", "reactive import",
                                                             "reactive export")]
    both = {}
    for prefix, carrier, unit, imp, exp in kinds:
        pick = (lambda ms: ms) if not prefix else (lambda ms: [m for m in ms if m.reactive])
        mg_k, net_k = pick(mg_here), pick(net_here)
        if mg_k:
            v = side(f"tie.{prefix}mg", mg_k, f"tie-line {imp} of a microgrid ({unit}), microgrid side")
            flows.append((expr(v, 1.0), xr.DataArray([BalanceNode(m.name, None, carrier).key for m in mg_k],
                                                     coords=[v.indexes["tie"]], name="node")))
            low.ties[f"{prefix}mg"] = v
        if net_k:
            v = side(f"tie.{prefix}net", net_k, f"tie-line {exp} at a bus ({unit}), network side")
            flows.append((expr(v, -1.0), xr.DataArray([BalanceNode(m.network, m.bus, carrier).key for m in net_k],
                                                      coords=[v.indexes["tie"]], name="node")))
            low.ties[f"{prefix}net"] = v
        both[prefix] = [m.name for m in mg_k if low.is_local(m.network)]
        if both[prefix]:
            names = both[prefix]
            coupled = [labels_of(low.ties[f"{prefix}mg"], tie=names), labels_of(low.ties[f"{prefix}net"], tie=names)]
            c = np.empty(coupled[0].shape + (2,))
            c[..., 0], c[..., 1] = 1.0, -1.0
            b.constraint_arrays(f"tie.{prefix}couple", span, f"tie line: microgrid {imp} = network {exp}", None,
                                [pd.Index(names, name="tie"), time], np.stack(coupled, axis=-1), c, "=",
                                np.zeros(coupled[0].shape))
        for key, members in (("mg", mg_k), ("net", net_k)):
            cut = [m.name for m in members if m.name not in both[prefix]]
            if cut:
                ids = [coupling_id("tie", n, "q" if prefix else "p") for n in cut]
                low.copies.append(CopyBlock(ids, expr(low.ties[f"{prefix}{key}"], 1.0, cut), "tie"))
    # the apparent-power polygon on the microgrid's side only (the network's copy keeps the box |P|, |Q| <= S):
    # enforced once, as in the centralized model. On both sides of a cut tie it made ATC's pwl penalty cycle
    # between neighbouring vertices (measured: 0.47 kW inconsistency after 300 iterations on a random system
    # that converges in 25 with the polygon on one side).
    limited = [m.name for m in mg_here if m.reactive and m.limit_kw is not None]
    if limited:
        lim = np.array([ir.microgrids[n].limit_kw for n in limited], dtype=float)
        _pq_polygon(b, "tie.mg_s", labels_of(low.ties["mg"], tie=limited),
                    labels_of(low.ties["q_mg"], tie=limited), lim, [pd.Index(limited, name="tie"), time],
                    span, "tie line: apparent power within the limit (16-gon)")


def _lower_switches(low: Lowered, flows, time) -> None:
    from .terms import terms_expr

    ir = low.ir
    b = low.builder
    model = b.model
    sides = {}

    def expr(var, coeff, names):
        """coeff * var at the switches `names`, an expression over (switch, t)."""
        pos = {n: k for k, n in enumerate(var.indexes["switch"])}
        return terms_expr(model, [pd.Index(names, name="switch"), time],
                          [var.labels.values[[pos[n] for n in names]]], [coeff])

    for side in ("a", "b"):
        members = [sw for sw in ir.switches if low.is_local(getattr(sw, side).owner)]
        if not members:
            continue
        names = [sw.name for sw in members]
        idx = pd.Index(names, name="switch")
        limit = np.array([sw.limit_kw for sw in members], dtype=float)
        span = members[0].span
        f = b.variable_arrays(f"switch.flow_{side}", span, f"switch flow from a to b (kW), copy of side {side}",
                              None, [idx, time], -limit[:, None], limit[:, None])
        u = b.variable_arrays(f"switch.closed_{side}", span, f"switch status (1 = closed), copy of side {side}",
                              None, [idx, time], np.zeros(1), np.ones(1), binary=True)
        f_lab, u_lab = f.labels.values, u.labels.values
        _rows(b, f"switch.open_{side}.1", span, "an open switch carries no power", [idx, time],
              [(f_lab, 1.0), (u_lab, -limit)], "<=")
        _rows(b, f"switch.open_{side}.2", span, "an open switch carries no power", [idx, time],
              [(f_lab, 1.0), (u_lab, limit)], ">=")
        sign = -1.0 if side == "a" else 1.0
        keys = [BalanceNode(getattr(sw, side).owner, getattr(sw, side).bus, "electricity").key for sw in members]
        flows.append((expr(f, sign, names), xr.DataArray(keys, coords=[idx], name="node")))
        q = None
        with_q = [k for k, sw in enumerate(members) if sw.reactive]
        if with_q:
            q_names = [names[k] for k in with_q]
            qidx = pd.Index(q_names, name="switch")
            qlim = limit[with_q]
            q = b.variable_arrays(f"switch.q_{side}", span,
                                  f"switch reactive flow from a to b (kvar), copy of side {side}", None, [qidx, time],
                                  -qlim[:, None], qlim[:, None])
            q_lab, uq, fq = q.labels.values, u_lab[with_q], f_lab[with_q]
            _rows(b, f"switch.open_q_{side}.1", span, "an open switch carries no power", [qidx, time],
                  [(q_lab, 1.0), (uq, -qlim)], "<=")
            _rows(b, f"switch.open_q_{side}.2", span, "an open switch carries no power", [qidx, time],
                  [(q_lab, 1.0), (uq, qlim)], ">=")
            # the polygon on one end's copy only, a microgrid's (side a, or b when a is a network bus), as at a tie
            poly = [j for j, k in enumerate(with_q) if side == ("b" if members[k].a.bus is not None else "a")]
            if poly:
                _pq_polygon(b, f"switch.s_{side}", fq[poly], q_lab[poly], qlim[poly],
                            [pd.Index([q_names[j] for j in poly], name="switch"), time], span,
                            "switch: apparent power within the limit, none when open (16-gon)", u=uq[poly])
            keys = [BalanceNode(getattr(members[k], side).owner, getattr(members[k], side).bus, "reactive").key
                    for k in with_q]
            flows.append((expr(q, sign, q_names), xr.DataArray(keys, coords=[qidx], name="node")))
        sides[side] = (f, u, names, q)
    if not sides:
        return
    names_a = sides["a"][2] if "a" in sides else []
    names_b = sides["b"][2] if "b" in sides else []
    both = [n for n in names_a if n in names_b]

    def at(var, names):
        pos = {n: k for k, n in enumerate(var.indexes["switch"])}
        return var.labels.values[[pos[n] for n in names]]

    if both:
        span = ir.switches[0].span
        fa, ua, _, qa = sides["a"]
        fb, ub, _, qb = sides["b"]
        coords = [pd.Index(both, name="switch"), time]
        _rows(b, "switch.couple_flow", span, "switch flow seen by both ends", coords,
              [(at(fa, both), 1.0), (at(fb, both), -1.0)], "=")
        _rows(b, "switch.couple_status", span, "switch status seen by both ends", coords,
              [(at(ua, both), 1.0), (at(ub, both), -1.0)], "=")
        both_q = [n for n in both if qa is not None and n in qa.indexes["switch"]]
        if both_q:
            _rows(b, "switch.couple_q", span, "switch reactive flow seen by both ends",
                  [pd.Index(both_q, name="switch"), time], [(at(qa, both_q), 1.0), (at(qb, both_q), -1.0)], "=")
    for f, u, names, q in sides.values():
        cut = [n for n in names if n not in both]
        if cut:
            low.copies.append(CopyBlock([coupling_id("switch", n, "p") for n in cut], expr(f, 1.0, cut), "switch"))
            low.copies.append(CopyBlock([coupling_id("switch", n, "status") for n in cut], expr(u, 1.0, cut),
                                        "switch"))
            cut_q = [n for n in cut if q is not None and n in q.indexes["switch"]]
            if cut_q:
                low.copies.append(CopyBlock([coupling_id("switch", n, "q") for n in cut_q], expr(q, 1.0, cut_q),
                                            "switch"))
    first = sides.get("a") or sides.get("b")
    low.switches = {"flow": first[0], "closed": first[1]}
    if first[3] is not None:
        low.switches["q"] = first[3]


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
    from .exprs import sub, to_expr

    ev = ExprEvaluator(couple_lookup(low), low.ir.dt_h)
    for c in low.ir.couples:
        here_l, here_r = low.is_local(c.lhs_owner), low.is_local(c.rhs_owner)
        if here_l and here_r:
            lhs, rhs = ev.eval(c.lhs), ev.eval(c.rhs)
            low.builder.constraint(f"couple.{c.name}", to_expr(sub(lhs, rhs)) == 0, c.span, f"coupling `{c.name}`")
        elif here_l or here_r:
            copy = to_expr(ev.eval(c.lhs if here_l else c.rhs))
            if not is_linopy(copy):
                continue
            if "t" not in copy.dims:
                copy = copy + xr.DataArray(np.zeros(len(time)), coords=[time])
            one = pd.Index([coupling_id("couple", c.name, "value")], name="couple")
            low.copies.append(CopyBlock(list(one), copy.expand_dims(couple=one), "couple"))


def _cost_terms(low: Lowered) -> tuple[list, float]:
    """The `cost` of the owners lowered here: their cost terms and the network's purchases less its sales, and
    the constant of the terms without variables. The linear terms come as one expression, gathered from their
    term arrays (a linopy sum and merge per term cost several ms each)."""
    linear, other = [], []
    constant = 0.0
    for lt in low.templates.values():
        for c in lt.costs:
            if isinstance(c, linopy.LinearExpression):
                coeffs, const = np.asarray(c.coeffs.values), np.asarray(c.const.values)
                if not ((coeffs != 0) & ~np.isnan(coeffs)).any() and not ((const != 0) & ~np.isnan(const)).any():
                    continue          # a price left at 0 (an O&M cost by default): nothing to add
                linear.append(c)
            elif is_linopy(c):
                other.append(c.sum())
            else:
                constant += float(np.nansum(np.asarray(c)))
    if low.network is not None and low.network.cost is not None:
        linear.append(low.network.cost)
    terms = [_summed(low.model, linear)] if linear else []
    return terms + other, constant


def _summed(model, exprs: list):
    """The sum over every coordinate of linear expressions, as one expression of their terms (a scalar)."""
    from .terms import TERM, wrap_expression

    v = np.concatenate([np.asarray(e.vars.values).ravel() for e in exprs])
    c = np.concatenate([np.asarray(e.coeffs.values, dtype=float).ravel() for e in exprs])
    const = float(sum(np.nansum(np.asarray(e.const.values, dtype=float)) for e in exprs))
    ds = xr.Dataset({"coeffs": ((TERM,), c), "vars": ((TERM,), v.astype(model._dtypes["labels"], copy=False)),
                     "const": ((), const)}, attrs={"name": None})
    return wrap_expression(model, ds, linopy.LinearExpression)


def _objective(low: Lowered) -> None:
    """The minimized objective (`minimize`, by default cost), this part's share of it (lower/objectives.py)."""
    if low.ir.objective is None:
        terms, constant = _cost_terms(low)
    else:
        terms, constant = objective_terms(low, low.ir.objective, lambda: _cost_terms(low))
    if not terms:
        # Nothing has a price: still solve for a feasible operating point.
        names = list(low.model.variables)
        first = low.model.variables[names[0]] if names else None
        if first is None:
            if low.local is not None:
                return            # an ATC coordinator with no system of its own: its objective is the penalties
            # checking refuses a system without decision variables (E0505): reaching here is a bug
            raise InternalError("lowering a whole system without variables, which the check refuses")
        terms.append(0 * first.sum())
    # one merge: adding term by term re-concatenates a growing index (quadratic in the number of terms)
    if any(isinstance(t, linopy.QuadraticExpression) for t in terms):
        terms = [t if isinstance(t, linopy.QuadraticExpression) else t.to_quadexpr() for t in terms]
    obj = terms[0] if len(terms) == 1 else linopy.merge(terms)
    # linopy keeps no constant in an objective: carry it beside the model and add it to the reported value
    const = float(np.nansum(np.asarray(obj.const)))
    if const != 0.0 and isinstance(obj, linopy.LinearExpression):
        from .terms import wrap_expression

        obj = wrap_expression(low.model, obj.data.assign(const=0.0), linopy.LinearExpression)
    elif const != 0.0:
        obj = obj - const
    low.objective_constant = constant + const
    low.objective_expr = obj
    low.model.add_objective(obj)
