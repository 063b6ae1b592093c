"""An AC power flow of a radial network: the exact (complex) branch equations, solved by backward/forward sweep.

The network is a tree fed from one slack bus held at a fixed voltage; loads are constant power (P, Q at every bus,
consumption positive, generation negative). Each sweep computes the load currents conj(S / V), adds them up from
the leaves to the slack (backward) and updates the voltages from the slack outward, V_j = V_i - Z_ij I_ij (forward),
until no voltage moves by more than `tolerance` p.u. This is the power flow of MATPOWER's and pandapower's test
feeders (their Newton-Raphson solves the same equations; `tests/test_import.py` checks the two agree). Every array
carries a trailing axis of cases (steps), so one call solves all steps of a day at once.

It checks the branch-flow relaxation (`distflow_socp`) independently: the relaxation is exact when it is tight, and
both must then give the same voltages and losses. Lines are given in p.u. of the network's base values.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class PowerFlow:
    """The solved state: `vm` (p.u.) by bus and case, complex `v`, per line the sending-end flows `p_from`, `q_from`
    (p.u.), the current magnitude `i` (p.u. of the base current) and the active `losses` (p.u.), and the slack's
    injection `p_slack`, `q_slack` (p.u.)."""

    buses: list[int]
    v: np.ndarray
    i: np.ndarray
    p_from: np.ndarray
    q_from: np.ndarray
    losses: np.ndarray
    p_slack: np.ndarray
    q_slack: np.ndarray
    iterations: int

    @property
    def vm(self) -> np.ndarray:
        return np.abs(self.v)


def radial_power_flow(buses, slack: int, lines, p_load, q_load, v_slack: float = 1.0, tolerance: float = 1e-10,
                      max_iterations: int = 200) -> PowerFlow:
    """Solve the AC power flow of a radial network.

    `buses`: bus numbers; `lines`: (from, to, r_pu, x_pu) for every line in service, a tree spanning `buses` from
    `slack`; `p_load`, `q_load`: p.u. consumption per bus (in the order of `buses`), shape (buses,) or (buses,
    cases). Raises ValueError when the lines are not a spanning tree or the sweep does not converge (a load beyond
    what the feeder can carry has no solution)."""
    buses = [int(b) for b in buses]
    pos = {b: k for k, b in enumerate(buses)}
    p = np.asarray(p_load, dtype=float)
    q = np.asarray(q_load, dtype=float)
    single = p.ndim == 1
    p = p.reshape(len(buses), -1)
    q = np.broadcast_to(q.reshape(len(buses), -1), p.shape)
    if len(lines) != len(buses) - 1:
        raise ValueError(f"{len(buses)} buses need {len(buses) - 1} lines for a radial network, not {len(lines)}")
    adjacent: dict[int, list[tuple[int, int]]] = {k: [] for k in range(len(buses))}
    for n, (a, b, _, _) in enumerate(lines):
        adjacent[pos[int(a)]].append((pos[int(b)], n))
        adjacent[pos[int(b)]].append((pos[int(a)], n))
    # breadth-first from the slack: each bus's parent and the line to it, and an order parents-first
    root = pos[int(slack)]
    parent = np.full(len(buses), -1)
    via = np.full(len(buses), -1)
    order = [root]
    seen = {root}
    queue = deque([root])
    while queue:
        k = queue.popleft()
        for m, n in adjacent[k]:
            if m not in seen:
                seen.add(m)
                parent[m], via[m] = k, n
                order.append(m)
                queue.append(m)
    if len(order) != len(buses):
        raise ValueError(f"{len(buses) - len(order)} buses are not connected to the slack bus")
    z = np.array([complex(r, x) for _, _, r, x in lines])
    s = p + 1j * q
    v = np.full(p.shape, complex(v_slack))
    children = order[1:]
    reverse = children[::-1]
    iteration = 0
    while iteration < max_iterations:
        iteration += 1
        current = np.conj(s / v)                                  # load currents, into the bus
        branch = np.zeros((len(lines), p.shape[1]), dtype=complex)
        through = current.copy()                                  # a bus's load plus everything beyond it
        for k in reverse:
            branch[via[k]] = through[k]
            through[parent[k]] += through[k]
        new = v.copy()
        new[root] = v_slack
        for k in children:
            new[k] = new[parent[k]] - z[via[k]] * branch[via[k]]
        if not np.all(np.isfinite(new)):
            break
        change = float(np.max(np.abs(new - v)))
        v = new
        if change < tolerance:
            break
    else:
        iteration = max_iterations + 1
    if iteration > max_iterations or not np.all(np.isfinite(v)) or np.min(np.abs(v)) < 0.3:
        raise ValueError("the AC power flow does not converge: the loads exceed what the feeder can carry")
    current = np.conj(s / v)
    branch = np.zeros((len(lines), p.shape[1]), dtype=complex)
    through = current.copy()
    for k in reverse:
        branch[via[k]] = through[k]
        through[parent[k]] += through[k]
    # each line's sending end is its parent side, whatever the order the table wrote it in
    send = np.array([parent[pos[int(b)]] == pos[int(a)] for a, b, _, _ in lines])
    from_side = np.array([pos[int(a)] if sd else pos[int(b)] for (a, b, _, _), sd in zip(lines, send)], dtype=int)
    s_from = v[from_side] * np.conj(branch)                        # power leaving the parent end
    s_from = np.where(send[:, None], s_from, -(s_from - z[:, None] * np.abs(branch) ** 2))
    losses = z.real[:, None] * np.abs(branch) ** 2
    s_slack = v[root] * np.conj(through[root])
    out = PowerFlow(buses, v, np.abs(branch), s_from.real, s_from.imag, losses, s_slack.real, s_slack.imag,
                    iteration)
    if single:
        for name in ("v", "i", "p_from", "q_from", "losses"):
            setattr(out, name, getattr(out, name)[:, 0])
        out.p_slack, out.q_slack = out.p_slack[0], out.q_slack[0]
    return out
