"""The network's limits at one step as linear rows on the supervisory tie flows: LinDistFlow over the radial
tree (no losses), the network's loads at that step fixed and the ties' reactive power taken as 0; rows
lo <= sum_k coef_k * flow_k <= hi with a label naming the limit, flow_k being tie k's flow from its `a` end
to its `b` end (kW)."""
from __future__ import annotations

import math

import numpy as np

from .lower.formulations.lindistflow import POLYGON_SIDES, voltage_secant
from .lower.network import rating_kva

Row = tuple[dict[int, float], float, float, str]
TOL = 1e-12                # a row whose coefficients are all below this does not involve any tie


def network_rows(net, step: int, ties) -> list[Row]:
    """Squared-voltage limits at every bus but the slack and each rated line's inscribed polygon (the model's
    own lindistflow rows, lower/formulations/lindistflow.py) as functions of the ties' flows. A row no tie
    moves is left out: the network's own loads are not the supervisor's to change."""
    K = len(ties)
    pos = {b: i for i, b in enumerate(net.buses)}
    nb = len(net.buses)
    # withdrawal at each bus = load + (const) + W @ flows: a tie whose `a` end is the bus draws its flow from it
    W = np.zeros((nb, K))
    for k, t in enumerate(ties):
        if t.bus is not None and t.bus in pos:
            W[pos[t.bus], k] = 1.0 if t.a == net.name else -1.0
    load_p = np.asarray(net.load_p, dtype=float)[:, step]
    load_q = np.asarray(net.load_q, dtype=float)[:, step]
    # the tree from the slack (the checker made sure it is connected and radial): each line's far end
    adj: dict[int, list[int]] = {b: [] for b in net.buses}
    for li, ln in enumerate(net.lines):
        adj[ln.from_bus].append(li)
        adj[ln.to_bus].append(li)
    order, parent_line, seen = [net.slack_bus], {}, {net.slack_bus}
    for b in order:
        for li in adj[b]:
            ln = net.lines[li]
            o = ln.to_bus if ln.from_bus == b else ln.from_bus
            if o not in seen:
                seen.add(o)
                parent_line[o] = li
                order.append(o)
    # downstream withdrawal of each bus's subtree (P: constant + coefficients, Q: constant)
    dp0, dpk, dq = load_p.copy(), W.copy(), load_q.copy()
    for b in reversed(order[1:]):
        ln = net.lines[parent_line[b]]
        up = pos[ln.to_bus if ln.from_bus == b else ln.from_bus]
        dp0[up] += dp0[pos[b]]
        dpk[up] += dpk[pos[b]]
        dq[up] += dq[pos[b]]
    z_base = net.base_kv ** 2 / (net.base_kva / 1000.0)
    # squared voltage, v_child = v_parent - 2 (r D_p + x D_q) / base, whichever way the line is written
    v0, vk = np.zeros(nb), np.zeros((nb, K))
    v0[pos[net.slack_bus]] = net.slack_voltage ** 2
    for b in order[1:]:
        ln = net.lines[parent_line[b]]
        up = pos[ln.to_bus if ln.from_bus == b else ln.from_bus]
        k2 = 2.0 / net.base_kva / z_base
        v0[pos[b]] = v0[up] - k2 * (ln.r_ohm * dp0[pos[b]] + ln.x_ohm * dq[pos[b]])
        vk[pos[b]] = vk[up] - k2 * ln.r_ohm * dpk[pos[b]]
    rows: list[Row] = []

    def add(coef: np.ndarray, lo: float, hi: float, label: str) -> None:
        if np.abs(coef).max(initial=0.0) > TOL:
            rows.append(({k: float(c) for k, c in enumerate(coef) if abs(c) > TOL}, lo, hi, label))

    for b in order[1:]:
        add(vk[pos[b]], net.vmin ** 2 - v0[pos[b]], net.vmax ** 2 - v0[pos[b]], f"{net.name}: bus {b} voltage")
    s_max = rating_kva(net)
    a, c = voltage_secant(min(net.vmin, net.slack_voltage), max(net.vmax, net.slack_voltage))
    apothem = math.cos(math.pi / POLYGON_SIDES)
    for li, ln in enumerate(net.lines):
        if not np.isfinite(s_max[li]):
            continue
        child = ln.to_bus if parent_line.get(ln.to_bus) == li else ln.from_bus
        sign = 1.0 if child == ln.to_bus else -1.0           # P from `from` to `to` = sign * subtree withdrawal
        p0, pk, q0 = sign * dp0[pos[child]], sign * dpk[pos[child]], sign * dq[pos[child]]
        f = pos[ln.from_bus]
        for j in range(POLYGON_SIDES // 2):
            ang = (2 * j + 1) * math.pi / POLYGON_SIDES
            cs, sn = math.cos(ang), math.sin(ang)
            reach0, reachk = apothem * c * s_max[li] * v0[f], apothem * c * s_max[li] * vk[f]
            bound = apothem * a * s_max[li]
            const = cs * p0 + sn * q0
            label = f"{net.name}: line {ln.from_bus}-{ln.to_bus} rating"
            add(cs * pk - reachk, -np.inf, bound - const + reach0, label)      # along - reach <= bound
            add(cs * pk + reachk, -bound - const - reach0, np.inf, label)      # along + reach >= -bound
    return rows
