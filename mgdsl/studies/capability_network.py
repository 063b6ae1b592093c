"""The network's correction of the predicted ranges (AIC, docs/capability.md): per step t, a box of tie imports
[l_j, u_j] inside every microgrid's prediction such that every point of the box, as the ties' powers at t, has a
schedule of the whole system over the horizon: the network within its voltage, current and reserve limits (its
formulation as lowered), every cooperative group within its cost budget, the other steps free.

The whole system is one resident model with the groups' budgets as column bounds (studies/capability_model.py).
Per step: u maximizes the sum of the imports at t (each within its prediction), then l minimizes it with l <= u;
both corners are feasible, and so is every convex combination (the lowered model is convex without integers).
A box is contained in a convex set exactly when its corners are, so the 2^n - 2 mixed corners are checked
(MAX_CORNERS of them, drawn at random, with many microgrids, and a note says so): for each, one LP finds how far
from the box's centre (feasible: the midpoint of l and u) towards it the system still has a solution; the box is
the centre plus the smallest of those fractions of its half-widths (exact: each ray's feasible part is an interval
from the centre)."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from .capability_model import BandModel, Group, add_budget_columns, slack_prices

MAX_CORNERS = 254            # 2^8 - 2: every corner of up to 8 microgrids
NOTE_EVERY_S = 5.0           # progress lines at most this often


@dataclass
class Correction:
    dn: np.ndarray
    up: np.ndarray
    notes: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def _reserve_rows(bm: BandModel, ir) -> dict[str, np.ndarray]:
    """The network's reserve requirement rows per direction, their positions over t (lower/reserve.py names them
    `reserve.OWNER.DIRECTION`)."""
    out = {}
    cons = bm.low.model.constraints
    for direction in ("up", "down"):
        name = f"reserve.{ir.network.name}.{direction}"
        if name in cons:
            out[direction] = bm.res.rows(cons[name])
    return out


def correct(ir, groups: list[Group], budgets: dict[str, float], pic, hours: list[int], time_limit=None,
            mip_gap=None, hot: bool = True, range_reserve: bool = False, say=None) -> Correction:
    from ..lower.formulations.distflow_socp import cone_mode
    from ..lower.system import lower_system

    say = say or (lambda _: None)
    start = time.perf_counter()
    # the network's cones (a SOC branch flow) described, not written as the polyhedral lift (about 60 rows per line
    # and step, which made every LP of the correction take seconds): tangents added lazily to the resident model
    # meet them, as the centralized solve does; a network set to `cones = lift` keeps the lift
    low = lower_system(ir, solver_cones=True)
    cones = low.network.cones if low.network is not None else None
    if cones is not None and cone_mode(low.network.net) == "lift":
        cones.lift()
        low.network.cones = cones = None
    buy, sell = slack_prices(ir)
    add_budget_columns(low, groups, buy, sell)
    bm = BandModel(low, groups, time_limit, mip_gap, cones)
    bm.hot = hot
    bm.set_budgets(np.array([budgets[g.name] for g in groups]))
    notes: list[str] = []
    # integer decisions (capacitor steps, switch statuses) held at the whole system's dispatch within the budgets:
    # the model is then convex, so a box whose corners hold holds everywhere, and each solve is a hot-started LP
    status, held = bm.hold_integers()
    if not held:
        # a linear model: one feasibility solve (every cost 0) says whether the whole system has any schedule
        # within the budgets, so an empty correction names its cause once instead of failing at every step
        status = bm._solve().status
    names = [str(m) for m in pic["microgrid"].values]
    if status != "optimal":
        nan = np.full((len(names), ir.steps), np.nan)
        return Correction(nan, nan.copy(), [f"the whole system within the microgrids' budgets has no solution "
                                            f"({status}): no correction; a larger --cost-tolerance lets the microgrids "
                                            "serve the network"], {"correct_solves": bm.solves})
    if held:
        notes.append(f"the network's {held} integer decisions (capacitor steps, switch statuses) are held at the "
                     "whole system's economic dispatch within the budgets; the ranges hold with them")
    order = np.array([bm.tie_names.index(m) for m in names])
    pdn, pup, sched = pic["pic_dn"].values, pic["pic_up"].values, pic["schedule"].values
    dn, up = np.full(pdn.shape, np.nan), np.full(pdn.shape, np.nan)
    lo0, hi0 = bm.res.col_bounds()
    reserve = _reserve_rows(bm, ir)
    row_lo0, row_hi0 = bm.res.row_bounds()
    infeasible, shrunk, sampled = [], [], 0
    box = _Box(bm, order, bm.res.integers)
    t0 = last = time.perf_counter()
    say(f"correction: the whole system's model ready in {t0 - start:.1f} s; {len(hours)} step(s) to correct")
    for i, t in enumerate(hours):
        now = time.perf_counter()
        if now - last >= NOTE_EVERY_S and i:
            say(f"correction: {i}/{len(hours)} steps, about {(now - t0) / i * (len(hours) - i):.0f} s left")
            last = now
        k = np.nonzero(np.isfinite(pdn[:, t]) & np.isfinite(pup[:, t]))[0]
        cols = bm.tie_cols[order[k], t]
        if range_reserve and reserve and len(k):
            # the largest move of one microgrid from its schedule, upwards (more import: up reserve) and downwards
            extra = {"up": float(np.max(pup[k, t] - sched[k, t])), "down": float(np.max(sched[k, t] - pdn[k, t]))}
            for direction, rows in reserve.items():
                r = int(np.asarray(rows).ravel()[t])
                bm.res.h.changeRowBounds(r, row_lo0[r] + max(extra[direction], 0.0), row_hi0[r])
        found = box.find(cols, k, t, pdn[k, t], pup[k, t])
        _restore(bm, cols, lo0, hi0, reserve, row_lo0, row_hi0, t)
        if found is None:
            infeasible.append(t)
            continue
        dn[k, t], up[k, t], was_shrunk, was_sampled = found
        shrunk += [t] if was_shrunk else []
        sampled += was_sampled
    corner_solves = box.corner_solves
    integers = bm.res.integers
    if infeasible:
        notes.append(f"no point of the predicted ranges is feasible for the network at step(s) "
                     f"{', '.join(map(str, infeasible))}: the correction is empty there (NaN)")
    if shrunk:
        notes.append(f"at step(s) {', '.join(map(str, shrunk))} a mixed corner (some microgrids up, others down) "
                     "had no solution: the box was shrunk around its centre to the largest scale whose corners all "
                     "have one")
    if sampled:
        notes.append(f"more than {MAX_CORNERS} mixed corners at {sampled} step(s): {MAX_CORNERS} of them, drawn at "
                     "random, were checked")
    if integers:
        notes.append("the system has integer variables: the box's corners are checked, but its inside is not "
                     "guaranteed (a mixed-integer model is not convex)")
    counts = {"correct_solves": bm.solves, "corner_solves": corner_solves, "correct_solver_seconds": bm.seconds}
    tangents = ""
    if cones is not None:
        counts.update(correct_cone_rounds=bm.cone_rounds, correct_cone_tangents=bm.cone_cuts)
        tangents = f" ({bm.cone_rounds} LP rounds, {bm.cone_cuts} cone tangents)"
    say(f"correction: {bm.solves} solves on the whole system{tangents} in {bm.seconds:.2f} s of solver time")
    return Correction(dn, up, notes, counts)


class _Box:
    """The box of one step on the whole system's resident model (module docstring). A ray from the box's centre m
    towards a corner is one LP: a column s in [0, 1] and one row per microgrid, p_j - d_j s = m_j (d_j = +-half
    the box's width), maximizing s; the row's tie column is moved to the step studied by changing coefficients.
    Every such LP has a solution (s = 0, the centre, is feasible), so no solve has to prove infeasibility."""

    def __init__(self, bm: BandModel, order: np.ndarray, integers: bool):
        self.bm, self.order, self.integers = bm, order, integers
        self.corner_solves = 0
        res = bm.res
        self.s = res.add_col(0.0, 0.0, 0.0)
        self.rows = res.add_rows(np.full(len(order), -np.inf), np.full(len(order), np.inf),
                                 [[(self.s, 1.0)] for _ in order])
        self.row_col = [None] * len(order)

    def _ties(self, x, k, t) -> np.ndarray:
        return self.bm.ties(x)[self.order][k, t]

    def ray(self, cols, k, mid, d) -> float:
        """The largest s in [0, 1] with the ties at mid + s d (a point of the whole system's feasible set)."""
        res, h = self.bm.res, self.bm.res.h
        for i, kk in enumerate(k):
            r = int(self.rows[kk])
            if self.row_col[kk] is not None and self.row_col[kk] != int(cols[i]):
                h.changeCoeff(r, self.row_col[kk], 0.0)
            h.changeCoeff(r, int(cols[i]), 1.0)
            h.changeCoeff(r, self.s, -float(d[i]))
            self.row_col[kk] = int(cols[i])
            h.changeRowBounds(r, float(mid[i]), float(mid[i]))
        res.set_bounds(self.s, 0.0, 1.0)
        res.set_costs(self.s, -1.0)
        out = self.bm._solve()
        self.corner_solves += 1
        res.set_costs(self.s, 0.0)
        res.set_bounds(self.s, 0.0, 0.0)
        for kk in k:
            h.changeRowBounds(int(self.rows[kk]), -np.inf, np.inf)
        return float(out.x[self.s]) if out.ok else 0.0

    def find(self, cols, k, t, pdn, pup):
        """(l, u, shrunk, corners sampled) at step t, or None when no point of the prediction is feasible."""
        res = self.bm.res
        res.set_bounds(cols, pdn, pup)
        res.set_costs(cols, -1.0)
        o_up = self.bm._solve()
        if not o_up.ok:
            res.set_costs(cols, 0.0)
            return None
        up = self._ties(o_up.x, k, t)
        res.set_bounds(cols, pdn, up)
        res.set_costs(cols, 1.0)
        o_dn = self.bm._solve()
        res.set_costs(cols, 0.0)
        lo = np.minimum(self._ties(o_dn.x, k, t), up) if o_dn.ok else up.copy()
        res.set_bounds(cols, pdn, pup)
        corners = list(itertools.product((0, 1), repeat=len(k)))[1:-1]
        sampled = len(corners) > MAX_CORNERS
        if sampled:
            rng = np.random.default_rng(t)
            corners = [corners[i] for i in rng.choice(len(corners), MAX_CORNERS, replace=False)]
        mid, half = (lo + up) / 2, (up - lo) / 2
        scale = 1.0
        for c in corners:
            d = np.where(np.asarray(c) == 1, half, -half)
            if not np.any(d):
                continue
            scale = min(scale, self.ray(cols, k, mid, d))
        if scale >= 1.0 - 1e-7:
            return lo, up, False, sampled
        return mid - scale * half, mid + scale * half, True, sampled


def _restore(bm, cols, lo0, hi0, reserve, row_lo0, row_hi0, t) -> None:
    bm.res.set_bounds(cols, lo0[cols], hi0[cols])
    for rows in reserve.values():
        r = int(np.asarray(rows).ravel()[t])
        bm.res.h.changeRowBounds(r, row_lo0[r], row_hi0[r])
