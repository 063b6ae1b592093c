"""LinDistFlow: v_to = v_from - 2 (r P + x Q) (p.u.), no losses, and the line rating as an inscribed polygon.

The rating is a current, I <= I_max, so the apparent power a line may carry is sqrt(3) kV I_max V: less at
a low voltage. The model has the squared voltage v, and sqrt(v) >= the secant of sqrt between the lowest and
highest squared voltage the network allows (sqrt is concave), so S <= S_1pu (a + c v_from), the secant being
a + c v, keeps I <= I_max at every voltage in the limits. The circle P^2 + Q^2 <= S^2 is replaced by the
regular POLYGON_SIDES-gon inscribed in it (a vertex on the P axis): it admits no overload and cuts at most
1 - cos(pi / POLYGON_SIDES) of the rating (1.92 % at 16 sides), where the flow's angle falls mid-facet. The
voltage is the line's `from` bus's: for a flow towards that bus the current is set by the other end's voltage,
lower by the line's drop (a fraction of a percent on a distribution line), which this does not cover.

LinDistFlow leaves out the losses (the slack buys less than an AC network needs) and its voltages are those
of a lossless linear model: under AC they are lower and may fall below the voltage limit; `mgdsl verify`
measures both, and the summary says so."""
from __future__ import annotations

import math

import numpy as np

from . import Formulation, LineLosses

POLYGON_SIDES = 16


def polygon_error(sides: int = POLYGON_SIDES) -> float:
    """The largest share of the rating the inscribed polygon refuses: 1 - cos(pi / sides)."""
    return 1.0 - math.cos(math.pi / sides)


def voltage_secant(vmin: float, vmax: float) -> tuple[float, float]:
    """(a, c) with a + c w <= sqrt(w) for w in [vmin^2, vmax^2], equal at both ends."""
    c = 1.0 / (vmin + vmax)
    return vmin - c * vmin * vmin, c


class LinDistFlow(Formulation):
    name = "lindistflow"
    description = "linearized branch flow: no losses, voltages of a lossless network"

    def lower(self, b, ln) -> LineLosses:
        import pandas as pd
        import xarray as xr

        from ..network import rating_kva

        net = ln.net
        n = net.name
        # v_to - v_from + (2 / S_base) (r P + x Q) == 0, made from its term arrays (lower/builder.py)
        coords = [ln.line_index, ln.P.indexes["t"]]
        vars_ = np.stack([ln.v_to.vars.values[..., 0], ln.v_from.vars.values[..., 0], ln.P.labels.values,
                          ln.Q.labels.values], axis=-1)
        coeffs = np.empty(vars_.shape)
        coeffs[..., 0], coeffs[..., 1] = 1.0, -1.0
        coeffs[..., 2] = ((2 / net.base_kva) * np.asarray(ln.r_pu.values))[:, None]
        coeffs[..., 3] = ((2 / net.base_kva) * np.asarray(ln.x_pu.values))[:, None]
        b.constraint_arrays(f"{n}.voltage_drop", net.span, "linear voltage drop along a line (lindistflow)", None,
                            coords, vars_, coeffs, "=", np.zeros(vars_.shape[:2]))
        limits = rating_kva(net)
        if np.isfinite(limits).any():
            line_idx = ln.line_index
            mask = xr.DataArray(np.isfinite(limits), coords=[line_idx])
            s_max = xr.DataArray(np.nan_to_num(limits, nan=0.0), coords=[line_idx])
            lo = min(net.vmin, net.slack_voltage)
            hi = max(net.vmax, net.slack_voltage)
            a, c = voltage_secant(lo, hi)
            # facets of the inscribed polygon: normals half-way between its vertices, two sides each
            side = pd.RangeIndex(POLYGON_SIDES // 2, name="facet")
            angle = (2 * np.arange(POLYGON_SIDES // 2) + 1) * math.pi / POLYGON_SIDES
            cos = xr.DataArray(np.cos(angle), coords=[side])
            sin = xr.DataArray(np.sin(angle), coords=[side])
            apothem = math.cos(math.pi / POLYGON_SIDES)
            along = cos * ln.P + sin * ln.Q
            reach = (apothem * c) * s_max * ln.v_from               # the rating's share that moves with v
            bound = apothem * a * s_max
            b.constraint(f"{n}.line_limit_u", along - reach <= bound, net.span,
                         "line rating (inscribed polygon, at the sending-end voltage)", mask=mask)
            b.constraint(f"{n}.line_limit_l", along + reach >= -bound, net.span,
                         "line rating (inscribed polygon, at the sending-end voltage)", mask=mask)
        return LineLosses()

    def cells_per_line(self, net) -> int:
        # two rows per side pair of the polygon, where some line has a current limit (not nan)
        return POLYGON_SIDES if any(x.i_max_a == x.i_max_a for x in net.lines) else 0

    def summary(self, ds, network: dict, summary: dict) -> None:
        summary.setdefault("notes", []).append(
            "W0504: LinDistFlow leaves out the line losses (the slack buys too little) and its voltages are "
            "those of a lossless linear model, higher than an AC network's: they may break the voltage limit "
            "in AC. `mgdsl verify RESULTS` measures both with an AC power flow; `formulation distflow_socp` "
            "has the losses")
