"""The distribution network: line flows, squared voltages, voltage and line limits, the slack bus, in one of
two branch-flow formulations (p.u. of S_base and Z_base = kV^2 / MVA; P, Q in kW and kvar):
  lindistflow    v_to = v_from - 2 (r P + x Q), no losses;
  distflow_socp  v_to = v_from - 2 (r P + x Q) + (r^2 + x^2) l, losses r l and x l at the receiving end,
                 and the relaxed cone l v_from >= P^2 + Q^2, approximated by polyhedra (lower/cones.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..ir import NetworkIR
from .builder import Builder


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
    r_pu: object = None
    x_pu: object = None


def lower_network(b: Builder, net: NetworkIR, steps: int, dt_h: float) -> LoweredNetwork:
    n = net.name
    time = pd.RangeIndex(steps, name="t")
    line_names = [f"{ln.from_bus}-{ln.to_bus}" for ln in net.lines]
    line_idx = pd.Index(line_names, name="line")
    bus_idx = pd.Index(net.buses, name="bus")
    span = net.span

    P = b.variable(f"{n}.P", span, "active line flow (kW)", coords=[line_idx, time])
    Q = b.variable(f"{n}.Q", span, "reactive line flow (kvar)", coords=[line_idx, time])
    lo = xr.DataArray(np.full(len(net.buses), net.vmin ** 2), coords=[bus_idx])
    hi = xr.DataArray(np.full(len(net.buses), net.vmax ** 2), coords=[bus_idx])
    slack = net.buses.index(net.slack_bus)
    lo[slack] = hi[slack] = 1.0
    v = b.variable(f"{n}.v", span, "squared voltage (p.u.)", coords=[bus_idx, time], lower=lo, upper=hi)

    pos = {bus: k for k, bus in enumerate(net.buses)}
    frm = xr.DataArray([pos[ln.from_bus] for ln in net.lines], coords=[line_idx])
    to = xr.DataArray([pos[ln.to_bus] for ln in net.lines], coords=[line_idx])
    z_base = net.base_kv ** 2 / (net.base_kva / 1000.0)            # ohm
    r_pu = xr.DataArray([ln.r_ohm / z_base for ln in net.lines], coords=[line_idx])
    x_pu = xr.DataArray([ln.x_ohm / z_base for ln in net.lines], coords=[line_idx])
    v_from = (1 * v.isel(bus=frm)).drop_vars("bus")
    v_to = (1 * v.isel(bus=to)).drop_vars("bus")
    drop = v_to - v_from + (2 / net.base_kva) * (r_pu * P + x_pu * Q)
    limits = np.array([np.sqrt(3) * net.base_kv * ln.i_max_a for ln in net.lines])   # kVA
    l = None
    if net.formulation == "distflow_socp":
        from .cones import levels_for, norm2_le

        # squared current l in p.u., bounded by the line rating where one is given: l <= (I_max / I_base)^2
        i_base = net.base_kva / (np.sqrt(3) * net.base_kv)                          # A
        i_max = np.array([ln.i_max_a for ln in net.lines], dtype=float)
        l_max = xr.DataArray(np.where(np.isfinite(i_max), (i_max / i_base) ** 2, np.inf), coords=[line_idx])
        l = b.variable(f"{n}.l", span, "squared current magnitude (p.u.)", coords=[line_idx, time], lower=0,
                       upper=l_max)
        drop = drop - (r_pu * r_pu + x_pu * x_pu) * l
        b.constraint(f"{n}.voltage_drop", drop == 0, span, "voltage drop along a line (branch flow)")
        # l v_from >= P^2 + Q^2 (p.u.)  <=>  ||(2P, 2Q)|| <= s  and  ||(s, l - v_from)|| <= l + v_from
        levels = levels_for(net.cone_accuracy / 2)       # two nested cones: half the error budget each
        s_aux = b.variable(f"{n}.cone_s", span, "branch-flow cone: auxiliary norm", coords=[line_idx, time], lower=0)
        norm2_le(b, f"{n}.cone1", (2 / net.base_kva) * P, (2 / net.base_kva) * Q, 1 * s_aux, [line_idx, time],
                 levels, span, "branch-flow cone ||(2P, 2Q)|| <= s")
        norm2_le(b, f"{n}.cone2", 1 * s_aux, l - v_from, l + v_from, [line_idx, time], levels, span,
                 "branch-flow cone ||(s, l - v)|| <= l + v")
    else:
        b.constraint(f"{n}.voltage_drop", drop == 0, span, "linear voltage drop along a line (lindistflow)")

    if net.formulation != "distflow_socp" and np.isfinite(limits).any():
        mask = xr.DataArray(np.isfinite(limits), coords=[line_idx])
        s_max = xr.DataArray(np.nan_to_num(limits, nan=0.0), coords=[line_idx])
        # an octagon around the circle P^2 + Q^2 <= S^2: |P|, |Q| <= S, |P| + |Q| <= sqrt(2) S
        for k, expr in enumerate((1 * P, 1 * Q, P + Q, P - Q)):
            bound = s_max * (np.sqrt(2) if k >= 2 else 1.0)
            b.constraint(f"{n}.line_limit_{k + 1}u", expr <= bound, span, "line rating", mask=mask)
            b.constraint(f"{n}.line_limit_{k + 1}l", expr >= -bound, span, "line rating", mask=mask)

    buy = b.variable(f"{n}.buy", net.slack_span, "purchase at the slack bus (kW)", coords=[time], lower=0)
    sell = None
    if net.sell_price is not None:
        sell = b.variable(f"{n}.sell", net.slack_span, "sale at the slack bus (kW)", coords=[time], lower=0)
    q_slack = b.variable(f"{n}.q_slack", net.slack_span, "reactive injection at the slack bus (kvar)", coords=[time])

    def keys(buses, carrier):
        return xr.DataArray([f"{n}:{bus}:{carrier}" for bus in buses], coords=[line_idx], name="node")

    # the receiving end gets the sending-end flow less the line's losses (r l, x l in p.u. of S_base)
    arrive_p = 1 * P if l is None else P - (net.base_kva * r_pu) * l
    arrive_q = 1 * Q if l is None else Q - (net.base_kva * x_pu) * l
    injections = [
        (arrive_p, keys([ln.to_bus for ln in net.lines], "electricity")),
        (-1 * P, keys([ln.from_bus for ln in net.lines], "electricity")),
        (arrive_q, keys([ln.to_bus for ln in net.lines], "reactive")),
        (-1 * Q, keys([ln.from_bus for ln in net.lines], "reactive")),
    ]
    cost = None
    if net.buy_price is not None:
        price = xr.DataArray(net.buy_price, coords=[time])
        cost = (buy * price * dt_h).sum()
        if sell is not None:
            cost = cost - (sell * xr.DataArray(net.sell_price, coords=[time]) * dt_h).sum()
    return LoweredNetwork(net, P, Q, v, buy, sell, q_slack, injections, cost, l, r_pu, x_pu)
