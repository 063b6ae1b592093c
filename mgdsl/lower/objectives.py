"""Lower the minimized objective (an ObjectiveIR, mgdsl/ir.py) for the owners lowered here, so that each part of
a decomposition minimizes its own share: `cost` is the cost terms of the local templates and the network's
purchases less its sales; `losses` and `vdi` are the network's; a device quantity is its owner's.

losses = sum over lines and steps of r l S_base dt (kWh), distflow_socp only (checking refuses it elsewhere).
vdi    = mean over buses and steps of |V - 1| (p.u.), with V the voltage magnitude. The model holds the squared
         magnitude w = V^2, so each bus and step gets a deviation d >= 0 bounded below by
           d >= (w - 1) / 2                          above 1 p.u. (the tangent of sqrt at 1: an upper estimate,
                                                     too high by (V - 1)^2 / 2, 0.00125 p.u. at 1.05)
           d >= 1 - sqrt(w_k)/2 - w / (2 sqrt(w_k))  below 1 p.u.: tangents of the convex 1 - sqrt(w) at points
                                                     w_k from vmin^2 to 1, spaced so that d is within
                                                     VDI_TOLERANCE of 1 - V
         which minimizing d makes tight."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import InternalError
from ..ir import BuiltinQuantity, ObjectiveIR, VariableQuantity
from .builder import Builder
from .network import LoweredNetwork

# The largest error, p.u. per bus and step, of the tangent cuts that bound 1 - V below 1 p.u.
VDI_TOLERANCE = 1e-4


def vdi_tangent_points(vmin: float, tolerance: float = VDI_TOLERANCE) -> np.ndarray:
    """Squared voltages w_k from vmin^2 to 1 at which 1 - sqrt(w) is cut by its tangents: between two tangents
    h apart the error is at most g'' h^2 / 8, with g'' = 1 / (4 w^1.5) largest at vmin^2."""
    lo = min(vmin, 1.0) ** 2
    curvature = 1.0 / (4.0 * lo ** 1.5)
    intervals = max(1, math.ceil((1.0 - lo) * math.sqrt(curvature / (8.0 * tolerance))))
    return np.linspace(lo, 1.0, intervals + 1)


def losses_expr(ln: LoweredNetwork, dt_h: float):
    """The network's active losses over the horizon (kWh): sum of r l S_base dt."""
    if ln.l is None:
        raise InternalError("losses of a network without squared currents (checking refuses lindistflow)")
    return (ln.l * (ln.net.base_kva * dt_h * ln.r_pu)).sum()


def vdi_expr(b: Builder, ln: LoweredNetwork):
    """The voltage deviation index: the mean over buses and steps of a deviation d >= |V - 1| made tight by
    minimizing it (module docstring)."""
    net = ln.net
    n = net.name
    bus_idx, time = ln.v.indexes["bus"], ln.v.indexes["t"]
    if f"{n}.vdi_dev" in b.model.variables:        # asked again (a study bounds vdi as well): the same deviations
        return b.model.variables[f"{n}.vdi_dev"].sum() * (1.0 / (len(bus_idx) * len(time)))
    d = b.variable(f"{n}.vdi_dev", net.span, "voltage deviation |V - 1| (p.u.) of the vdi objective",
                   coords=[bus_idx, time], lower=0)
    b.constraint(f"{n}.vdi_above", 2 * d - ln.v >= -1.0, net.span, "voltage deviation above 1 p.u. (vdi)")
    pts = vdi_tangent_points(net.vmin)
    cut = pd.Index(np.arange(len(pts)), name="cut")
    slope = xr.DataArray(1.0 / (2.0 * np.sqrt(pts)), coords=[cut])
    rhs = xr.DataArray(1.0 - np.sqrt(pts) / 2.0, coords=[cut])
    b.constraint(f"{n}.vdi_below", d + slope * ln.v >= rhs, net.span, "voltage deviation below 1 p.u. (vdi)")
    return d.sum() * (1.0 / (len(bus_idx) * len(time)))


def objective_terms(low, obj: ObjectiveIR, cost_terms) -> tuple[list, float]:
    """The linopy terms (scalars) of `obj` held by the owners lowered here, and its constant. `cost_terms()`
    gives the local cost terms and their constant."""
    terms: list = []
    constant = obj.constant
    ir = low.ir
    for term in obj.terms:
        q, k = term.quantity, term.coef
        if isinstance(q, BuiltinQuantity):
            if q.name == "cost":
                parts, c = cost_terms()
                terms += parts if k == 1.0 else [k * t for t in parts]
                constant += k * c
            elif low.network is None or q.owner != low.network.net.name:
                continue                         # the network's share, lowered in the network's part
            elif q.name == "losses":
                terms.append(k * losses_expr(low.network, ir.dt_h))
            elif q.name == "vdi":
                terms.append(k * vdi_expr(low.builder, low.network))
            else:
                raise InternalError(f"unknown built-in objective {q.name}")
        elif isinstance(q, VariableQuantity):
            if not low.is_local(q.owner) or q.template not in low.templates:
                continue
            var = low.templates[q.template].variables[q.var].sel({q.template: q.instance}, drop=True)
            if q.timed:
                terms.append((var * xr.DataArray(np.asarray(k, dtype=float), coords=[var.indexes["t"]])).sum())
            else:
                terms.append((float(k) * var).sum())
        else:
            raise InternalError(f"unknown objective quantity {type(q).__name__}")
    return terms, constant
