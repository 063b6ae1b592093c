"""The distribution network: line flows, squared voltages within their limits, the slack bus held at its set
point, purchases and sales there, and each bus's share of every line's flow (p.u. of S_base and Z_base =
kV^2 / MVA; P, Q in kW and kvar). The physics of a line (voltage drop, rating, losses) is the formulation's:
one module per formulation under lower/formulations/."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..ir import NetworkIR
from .builder import Builder
from .formulations import formulation


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

    P = b.variable(f"{n}.P", span, "active line flow (kW)", coords=[line_idx, time])
    Q = b.variable(f"{n}.Q", span, "reactive line flow (kvar)", coords=[line_idx, time])
    lo = xr.DataArray(np.full(len(net.buses), net.vmin ** 2), coords=[bus_idx])
    hi = xr.DataArray(np.full(len(net.buses), net.vmax ** 2), coords=[bus_idx])
    slack = net.buses.index(net.slack_bus)
    lo[slack] = hi[slack] = net.slack_voltage ** 2
    v = b.variable(f"{n}.v", span, "squared voltage (p.u.)", coords=[bus_idx, time], lower=lo, upper=hi)

    pos = {bus: k for k, bus in enumerate(net.buses)}
    frm = xr.DataArray([pos[ln.from_bus] for ln in net.lines], coords=[line_idx])
    to = xr.DataArray([pos[ln.to_bus] for ln in net.lines], coords=[line_idx])
    z_base = net.base_kv ** 2 / (net.base_kva / 1000.0)            # ohm
    r_pu = xr.DataArray([ln.r_ohm / z_base for ln in net.lines], coords=[line_idx])
    x_pu = xr.DataArray([ln.x_ohm / z_base for ln in net.lines], coords=[line_idx])
    v_from = (1 * v.isel(bus=frm)).drop_vars("bus")
    v_to = (1 * v.isel(bus=to)).drop_vars("bus")

    ln = LoweredNetwork(net, P, Q, v, None, None, None, [], None, None, r_pu, x_pu, v_from, v_to, solver_cones)
    losses = formulation(net.formulation).lower(b, ln)

    ln.buy = b.variable(f"{n}.buy", net.slack_span, "purchase at the slack bus (kW)", coords=[time], lower=0)
    if net.sell_price is not None:
        ln.sell = b.variable(f"{n}.sell", net.slack_span, "sale at the slack bus (kW)", coords=[time], lower=0)
    ln.q_slack = b.variable(f"{n}.q_slack", net.slack_span, "reactive injection at the slack bus (kvar)",
                            coords=[time])
    if net.buy_price is not None:
        price = xr.DataArray(net.buy_price, coords=[time])
        ln.cost = (ln.buy * price * dt_h).sum()
        if ln.sell is not None:
            ln.cost = ln.cost - (ln.sell * xr.DataArray(net.sell_price, coords=[time]) * dt_h).sum()

    def keys(buses, carrier):
        return xr.DataArray([f"{n}:{bus}:{carrier}" for bus in buses], coords=[line_idx], name="node")

    # the receiving end gets the sending-end flow less what the formulation says the line loses
    arrive_p = 1 * P if losses.p is None else P - losses.p
    arrive_q = 1 * Q if losses.q is None else Q - losses.q
    ln.injections = [
        (arrive_p, keys([x.to_bus for x in net.lines], "electricity")),
        (-1 * P, keys([x.from_bus for x in net.lines], "electricity")),
        (arrive_q, keys([x.to_bus for x in net.lines], "reactive")),
        (-1 * Q, keys([x.from_bus for x in net.lines], "reactive")),
    ]
    return ln
