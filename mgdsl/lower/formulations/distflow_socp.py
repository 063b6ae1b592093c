"""The SOC branch flow (DistFlow with the relaxed cone): v_to = v_from - 2 (r P + x Q) + (r^2 + x^2) l, losses
r l and x l taken at the receiving end, l bounded by the line's current rating, and l v_from >= P^2 + Q^2
(p.u.), written as two nested 3-dimensional cones, ||(2P, 2Q)|| <= s and ||(s, l - v_from)|| <= l + v_from,
each replaced by the polyhedral outer approximation of lower/cones.py (HiGHS has no cones).

`accuracy` (ACCURACY below) is the approximation's parameter, not the relative error of l v >= P^2 + Q^2:
each cone gets half of it, e = 1 / cos(pi / 2^(nu+1)) - 1 <= accuracy / 2, and a point of the polyhedra obeys
    P^2 + Q^2 <= (1 + e)^2 [l v + d (l + v)^2 / 4],   d = (1 + e)^2 - 1 ~ accuracy,
so the cone may fall short of l v by about accuracy (l + v)^2 / 4 in p.u.^2: a relative error of about
accuracy (1 + (l + v)^2 / (4 l v)), far above `accuracy` on a lightly loaded line (l << v). Put otherwise:
the squared current may be under-stated by about accuracy / 4 p.u. (v ~ 1), the losses by r accuracy / 4
S_base per line (`cone_bound` below).

`cones` says how the centralized solve meets the cone (docs/architecture.md, "Network formulations"): `lazy`
(the default) describes the cones (`RotatedCones`) and the solver adds their tangent planes where a solution
violates them, re-solving the same HiGHS model until every cone is within `cone_bound`
(solve/outer_approx.py); `lift` writes the whole polyhedral approximation (about 60 rows per line and step at
1e-4); `exact` hands the cones to Clarabel (solve/conic.py, continuous models only). Whatever is chosen, a
model handed to users (`System.model`, `mgdsl compile`), ATC's parts and the studies get the lift: the lowering
describes the cones only when its caller says the solver takes them (`LoweredNetwork.solver_cones`)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                 # checking reads the settings and sizes without importing the modelling stack
    import xarray as xr

from ..cones import RotatedCones, cone_cells, levels_for, norm2_le
from . import Formulation, LineLosses, Setting

ACCURACY = Setting("accuracy", 1e-4, 0.0, 0.5,
                   "distflow_socp takes `accuracy = 1e-4`, the polyhedral cones' parameter (docs/language.md: "
                   "what it bounds); 1e-6 costs a few more rows per line and step")
CONE_MODES = ("lazy", "lift", "exact")
CONES = Setting("cones", "lazy", 0.0, 0.0,
                "distflow_socp takes `cones = lazy` (tangents added where a solution violates a cone: the fastest), "
                "`lift` (the whole polyhedral approximation) or `exact` (Clarabel for continuous models, SCIP "
                "for models with integers: `pip install mgdsl[conic]`)", choices=CONE_MODES)


def cone_mode(net) -> str:
    """How the centralized solve meets this network's cones: lazy, lift or exact."""
    return str(net.settings.get("cones", CONES.default))


def cones_override(value: str | None) -> str | None:
    """A `cones` value given to a solve (the CLI's --cones, System.solve(cones=...)), checked: E0623."""
    if value is None or value in CONE_MODES:
        return value
    from ...diagnostics import Diagnostic, MgdError

    raise MgdError([Diagnostic("E0623", f"unknown cone treatment `{value}`", None,
                               help=f"`cones` is one of {', '.join(CONE_MODES)}")])


def cone_error(accuracy: float) -> float:
    """e: the factor 1 + e by which each of the two polyhedral cones may exceed the true one."""
    nu = levels_for(accuracy / 2)
    return 1.0 / math.cos(math.pi / 2 ** (nu + 1)) - 1.0


def cone_bound(l, v, accuracy: float):
    """The most P^2 + Q^2 (p.u.) can be at squared current l and squared voltage v under the approximation."""
    e = cone_error(accuracy)
    d = (1 + e) ** 2 - 1
    return (1 + e) ** 2 * (l * v + d * (l + v) ** 2 / 4)


class DistFlowSOCP(Formulation):
    name = "distflow_socp"
    settings = (ACCURACY, CONES)
    has_losses = True
    description = "SOC branch flow: losses, exact when the relaxation is tight"

    def lower(self, b, ln) -> LineLosses:
        import xarray as xr

        net = ln.net
        n = net.name
        span = net.span
        accuracy = float(net.settings.get("accuracy", ACCURACY.default))
        line_idx, time = ln.line_index, ln.P.indexes["t"]
        # squared current l in p.u., bounded by the line rating where one is given: l <= (I_max / I_base)^2
        i_base = net.base_kva / (np.sqrt(3) * net.base_kv)                          # A
        i_max = np.array([x.i_max_a for x in net.lines], dtype=float)
        l_max = xr.DataArray(np.where(np.isfinite(i_max), (i_max / i_base) ** 2, np.inf), coords=[line_idx])
        l = b.variable(f"{n}.l", span, "squared current magnitude (p.u.)", coords=[line_idx, time], lower=0,
                       upper=l_max)
        ln.l = l
        drop = (ln.v_to - ln.v_from + (2 / net.base_kva) * (ln.r_pu * ln.P + ln.x_pu * ln.Q)
                - (ln.r_pu * ln.r_pu + ln.x_pu * ln.x_pu) * l)
        b.constraint(f"{n}.voltage_drop", drop == 0, span, "voltage drop along a line (branch flow)")

        def lift() -> None:
            # l v_from >= P^2 + Q^2 (p.u.)  <=>  ||(2P, 2Q)|| <= s  and  ||(s, l - v_from)|| <= l + v_from
            levels = levels_for(accuracy / 2)                # two nested cones: half the parameter each
            s_aux = b.variable(f"{n}.cone_s", span, "branch-flow cone: auxiliary norm", coords=[line_idx, time],
                               lower=0)
            norm2_le(b, f"{n}.cone1", (2 / net.base_kva) * ln.P, (2 / net.base_kva) * ln.Q, 1 * s_aux,
                     [line_idx, time], levels, span, "branch-flow cone ||(2P, 2Q)|| <= s")
            norm2_le(b, f"{n}.cone2", 1 * s_aux, l - ln.v_from, l + ln.v_from, [line_idx, time], levels, span,
                     "branch-flow cone ||(s, l - v)|| <= l + v")

        if ln.solver_cones:
            # described, not written: the solver takes l v_from >= P^2 + Q^2 itself (lazy tangents, Clarabel)
            def labels(x):
                return np.asarray(x.transpose("line", "t").values).ravel()

            ln.cones = RotatedCones(
                x=labels(l.labels), y=labels(ln.v_from.vars.isel(_term=0)),
                z=np.column_stack([labels(ln.P.labels), labels(ln.Q.labels)]),
                z_scale=np.full(2, 1 / net.base_kva), bound=lambda x, y: cone_bound(x, y, accuracy), lift=lift,
                names=[f"line {a} at t={t}" for a in line_idx for t in time])
        else:
            lift()
        return LineLosses(p=(net.base_kva * ln.r_pu) * l, q=(net.base_kva * ln.x_pu) * l)

    def coefficients(self, r_pu: float, x_pu: float, base_kva: float) -> dict[str, float]:
        return {**super().coefficients(r_pu, x_pu, base_kva),
                "its losses": max(r_pu * r_pu + x_pu * x_pu, (r_pu + x_pu) * base_kva),
                "its current cone": 2 / base_kva}

    def cells_per_line(self, net) -> int:
        # the squared current, the cone's auxiliary norm, the two nested cones at half the accuracy each
        return 2 + 2 * cone_cells(levels_for(float(net.settings.get("accuracy", ACCURACY.default)) / 2))

    def results(self, ln, ds: xr.Dataset) -> None:
        import xarray as xr

        net = ln.net
        l_sol = ln.l.solution
        pos = {b: k for k, b in enumerate(net.buses)}
        v = ds["v"]
        v_from = v.isel(bus=xr.DataArray([pos[x.from_bus] for x in net.lines], dims="line")).drop_vars("bus")
        v_from = v_from.assign_coords(line=l_sol.coords["line"])
        p_pu, q_pu = ds["P"] / net.base_kva, ds["Q"] / net.base_kva
        ds["l"] = l_sol.assign_attrs(units="pu", description="squared current magnitude")
        ds["losses"] = (net.base_kva * ln.r_pu * l_sol).assign_attrs(
            units="kW", description="active losses of the line at this step")
        # the relaxation gap of l v_from >= P^2 + Q^2 (p.u.): near zero when the relaxation is tight, negative
        # within the polyhedral approximation's allowance (cone_bound)
        ds["cone_gap"] = (l_sol * v_from - (p_pu ** 2 + q_pu ** 2)).assign_attrs(
            units="pu^2", description="relaxation gap l v_from - (P^2 + Q^2)")
        ds.attrs["accuracy"] = float(net.settings.get("accuracy", ACCURACY.default))
        report = dict(ln.cone_report or {"cones": "lift"})                   # how the solve met the cones
        per_cone = report.pop("per_cone", None)
        for key, value in report.items():
            ds.attrs[f"cone_{key}" if key != "cones" else "cones"] = value
        if per_cone is not None:          # lazy: where the tangents went (the cones in (line, t) order)
            ds["cone_tangents"] = xr.DataArray(
                np.asarray(per_cone).reshape(l_sol.shape), coords=l_sol.coords, dims=l_sol.dims).assign_attrs(
                units="1", description="tangent planes added to this line's cone at this step (cones = lazy)")

    def summary(self, ds, network: dict, summary: dict) -> None:
        network["losses_kwh"] = float(ds["losses"].sum()) * summary.get("dt_h", 1.0)
        # l v - (P^2 + Q^2) > 0 is slack of the relaxation; < 0 is the polyhedral cone's allowed error
        gap = ds["cone_gap"]
        network["max_relaxation_gap_pu"] = max(0.0, float(gap.max()))
        network["max_cone_approximation_pu"] = max(0.0, float(-gap.min()))
        network["cones"] = str(ds.attrs.get("cones", "lift"))
        for key in ("rounds", "cuts", "mip_solves"):
            if f"cone_{key}" in ds.attrs:
                network[f"cone_{key}"] = int(ds.attrs[f"cone_{key}"])
