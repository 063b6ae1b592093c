"""Spinning reserve in the results, for a system with a `reserve ... >= ...` requirement: each device's share per
step (`reserve_up`, `reserve_down` in its template's dataset, kW; NaN where its owner requires no reserve in that
direction) and the dataset `reserve` over (pool, direction, t): `requirement`, `held` (the devices' shares and the
slack's headroom) and `margin` (held - requirement), NaN where a pool requires nothing in a direction."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .lower.exprs import is_linopy
from .lower.reserve import DIRECTIONS, pool_solution
from .sema.reserve import counts_in_pool

RESERVE = "reserve"          # the pool dataset's name (reserve.nc, reserve.csv)
POOL = "pool"                # its dimension: the owner (the network or a microgrid)


def add_reserve(low, datasets: dict[str, xr.Dataset]) -> None:
    """Add the reserve of a solved model `low` to its datasets (results.collect calls it). Decided by the whole
    system (every ATC part sees all requirements in its IR), so every part's datasets have the same variables."""
    ir = low.ir
    r = getattr(low, "reserve", None)
    if not ir.reserves or r is None:
        return
    required = {(q.owner, q.direction) for q in ir.reserves}
    for name, lt in low.templates.items():
        if name not in datasets or not lt.template.reserves:
            continue
        for d in DIRECTIONS:
            values = np.full((len(lt.instances), ir.steps), np.nan)
            expr = r.shares.get((name, d))
            if expr is not None:
                sol = expr.solution if is_linopy(expr) else expr          # a share without variables: a value
                sol = sol.transpose(name, "t").values if "t" in sol.dims else sol.values[:, None]
                for k, inst in enumerate(lt.instances):
                    if (inst.owner, d) in required and counts_in_pool(lt.template, inst):
                        values[k] = np.broadcast_to(sol[k], (ir.steps,))
            datasets[name][f"reserve_{d}"] = xr.DataArray(
                values, coords=datasets[name]["cost"].coords, dims=("instance", "t"),
                attrs={"units": "kW", "description": f"{d} spinning reserve held (NaN: its owner requires none)"})
    pools = [o for o in ir.owners() if any((o, d) in r.rows for d in DIRECTIONS)]
    if not pools:
        return
    shape = (len(pools), len(DIRECTIONS), ir.steps)
    req, held = np.full(shape, np.nan), np.full(shape, np.nan)
    amounts = {(q.owner, q.direction): q.amount_kw for q in ir.reserves}
    for i, owner in enumerate(pools):
        for j, d in enumerate(DIRECTIONS):
            value = pool_solution(low, owner, d)
            if value is None:
                continue
            held[i, j] = value
            req[i, j] = amounts[owner, d]
    coords = {POOL: pools, "direction": list(DIRECTIONS), "t": np.arange(ir.steps)}
    dims = (POOL, "direction", "t")
    datasets[RESERVE] = xr.Dataset({
        "requirement": xr.DataArray(req, coords=coords, dims=dims,
                                    attrs={"units": "kW", "description": "the reserve the pool must hold"}),
        "held": xr.DataArray(held, coords=coords, dims=dims,
                             attrs={"units": "kW", "description": "the reserve held: devices' shares and the "
                                                                  "slack's headroom"}),
        "margin": xr.DataArray(held - req, coords=coords, dims=dims,
                               attrs={"units": "kW", "description": "held - requirement (0: the requirement binds)"}),
    })


def reserve_summary(results) -> dict:
    """For a solve's summary: per pool and direction, the largest requirement and the smallest margin (kW), and
    the steps where the requirement binds (margin within 1e-6 kW). Empty without requirements."""
    ds = results.datasets.get(RESERVE)
    if ds is None:
        return {}
    out = {}
    for pool in ds[POOL].values:
        for d in DIRECTIONS:
            req = ds["requirement"].sel({POOL: pool, "direction": d}).values
            if np.isnan(req).all():
                continue
            margin = ds["margin"].sel({POOL: pool, "direction": d}).values
            out[f"{pool}.{d}"] = {"max_requirement_kw": float(np.nanmax(req)),
                                  "min_margin_kw": float(np.nanmin(margin)),
                                  "binding_steps": [int(t) for t in np.flatnonzero(np.abs(margin) <= 1e-6)]}
    return out
