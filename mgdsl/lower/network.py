"""The distribution network: line flows, squared voltages within their limits, the slack bus held at its set
point, purchases and sales there, and each bus's share of every line's flow (p.u. of S_base and Z_base =
kV^2 / MVA; P, Q in kW and kvar). The physics of a line (voltage drop, rating, losses) is the formulation's:
one module per formulation under lower/formulations/."""
from __future__ import annotations

from dataclasses import dataclass

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from ..ir import NetworkIR
from .builder import Builder
from .formulations import formulation
from .terms import terms_expr, wrap_expression


@dataclass
class LoweredNetwork:
    net: NetworkIR
    P: object                # line active flow, kW, from -> to, over (line, t)
    Q: object                # line reactive flow, kvar
    v: object                # squared voltage magnitude, p.u., over (bus, t)
    buy: object              # slack purchase, kW, over t
    sell: object | None      # slack sale, kW, over t
    q_slack: object          # slack reactive injection, kvar
    injections: list[tuple[object, xr.DataArray]]   # (expr over (line, t), node key per line)
    cost: object | None
    l: object = None         # distflow_socp: squared current magnitude, p.u., over (line, t)
    r_pu: object = None      # line resistance and reactance, p.u., over line
    x_pu: object = None
    v_from: object = None    # the squared voltage at each line's sending end, over (line, t)
    v_to: object = None
    solver_cones: bool = False   # the solver takes the formulation's cones itself: described, not written
    cones: object = None     # that description (lower/cones.py RotatedCones), until the solver or a lift takes it
    cone_report: dict | None = None   # how the solve met them (cones, rounds, cuts), for the results

    @property
    def line_index(self) -> pd.Index:
        return self.P.indexes["line"]


def rating_kva(net: NetworkIR) -> np.ndarray:
    """Each line's apparent-power rating at 1 p.u., sqrt(3) kV I_max (kVA); nan where it has no limit."""
    return np.array([np.sqrt(3) * net.base_kv * ln.i_max_a for ln in net.lines], dtype=float)


def lower_network(b: Builder, net: NetworkIR, steps: int, dt_h: float, solver_cones: bool = False) -> LoweredNetwork:
    n = net.name
    time = pd.RangeIndex(steps, name="t")
    line_idx = pd.Index([f"{ln.from_bus}-{ln.to_bus}" for ln in net.lines], name="line")
    bus_idx = pd.Index(net.buses, name="bus")
    span = net.span

    inf = np.full(1, np.inf)
    P = b.variable_arrays(f"{n}.P", span, "active line flow (kW)", None, [line_idx, time], -inf, inf)
    Q = b.variable_arrays(f"{n}.Q", span, "reactive line flow (kvar)", None, [line_idx, time], -inf, inf)
    lo = np.full(len(net.buses), net.vmin ** 2)
    hi = np.full(len(net.buses), net.vmax ** 2)
    slack = net.buses.index(net.slack_bus)
    lo[slack] = hi[slack] = net.slack_voltage ** 2
    v = b.variable_arrays(f"{n}.v", span, "squared voltage (p.u.)", None, [bus_idx, time], lo[:, None], hi[:, None])

    pos = {bus: k for k, bus in enumerate(net.buses)}
    frm = np.array([pos[ln.from_bus] for ln in net.lines], dtype=np.int64)
    to = np.array([pos[ln.to_bus] for ln in net.lines], dtype=np.int64)
    z_base = net.base_kv ** 2 / (net.base_kva / 1000.0)            # ohm
    r_pu = xr.DataArray([ln.r_ohm / z_base for ln in net.lines], coords=[line_idx])
    x_pu = xr.DataArray([ln.x_ohm / z_base for ln in net.lines], coords=[line_idx])
    v_lab = v.labels.values
    v_from = terms_expr(b.model, [line_idx, time], [v_lab[frm]], [1.0])
    v_to = terms_expr(b.model, [line_idx, time], [v_lab[to]], [1.0])

    ln = LoweredNetwork(net, P, Q, v, None, None, None, [], None, None, r_pu, x_pu, v_from, v_to, solver_cones)
    losses = formulation(net.formulation).lower(b, ln)

    inf = np.full(1, np.inf)
    ln.buy = b.variable_arrays(f"{n}.buy", net.slack_span, "purchase at the slack bus (kW)", None, [time],
                               np.zeros(1), inf)
    if net.sell_price is not None:
        ln.sell = b.variable_arrays(f"{n}.sell", net.slack_span, "sale at the slack bus (kW)", None, [time],
                                    np.zeros(1), inf)
    ln.q_slack = b.variable_arrays(f"{n}.q_slack", net.slack_span, "reactive injection at the slack bus (kvar)",
                                   None, [time], -inf, inf)
    if net.buy_price is not None:
        # purchases less sales over the horizon, as one expression of their terms
        vs, cs = [ln.buy.labels.values], [np.asarray(net.buy_price, dtype=float) * dt_h]
        if ln.sell is not None:
            vs.append(ln.sell.labels.values)
            cs.append(-np.asarray(net.sell_price, dtype=float) * dt_h)
        ds = xr.Dataset({"coeffs": (("_term",), np.concatenate([np.broadcast_to(c, (steps,)) for c in cs])),
                         "vars": (("_term",), np.concatenate(vs)), "const": ((), 0.0)}, attrs={"name": None})
        ln.cost = wrap_expression(b.model, ds, linopy.LinearExpression)

    def keys(buses, carrier):
        return xr.DataArray([f"{n}:{bus}:{carrier}" for bus in buses], coords=[line_idx], name="node")

    # the receiving end gets the sending-end flow less what the formulation says the line loses
    def flow(var, coeff):
        return terms_expr(b.model, [line_idx, time], [var.labels.values], [coeff])

    arrive_p = flow(P, 1.0) if losses.p is None else P - losses.p
    arrive_q = flow(Q, 1.0) if losses.q is None else Q - losses.q
    ln.injections = [
        (arrive_p, keys([x.to_bus for x in net.lines], "electricity")),
        (flow(P, -1.0), keys([x.from_bus for x in net.lines], "electricity")),
        (arrive_q, keys([x.to_bus for x in net.lines], "reactive")),
        (flow(Q, -1.0), keys([x.from_bus for x in net.lines], "reactive")),
    ]
    return ln
