"""The ATC update rule (augmented Lagrangian, Gauss-Seidel): the children answer the parent's targets, then the
parent sets new targets from their responses; multipliers move by 2 w^2 c and the weights grow (and, balanced,
shrink) per pair and step."""
from __future__ import annotations

import numpy as np

from ...decompose.settings import ATCOptions


class ATCRule:
    """State: targets r (coupling, t), responses x (pair, t), multipliers lam and weights w (pair, t), all
    relative to the cost scale `money`, on deviations in p.u."""

    def __init__(self, layout, options: ATCOptions, money: float, r0: np.ndarray):
        self.layout, self.options, self.money = layout, options, money
        n, T = len(layout.pairs), layout.steps
        self.targets = r0
        self.responses = r0[layout.pair_c].copy()
        self.lam = np.zeros((n, T))
        self.w = np.full((n, T), options.initial_weight)
        self.prev_c = None
        self.r_seen = r0
        self.dual_tolerance = options.dual_tolerance if options.dual_tolerance is not None else 10 * options.tolerance
        self.rounds = [layout.children, [layout.parent]]

    def request(self, part: str):
        lay = self.layout
        lam = np.where(lay.unpenalized, 0.0, self.lam) * self.money
        w = np.where(lay.unpenalized, 0.0, self.w) * np.sqrt(self.money)
        if part == lay.parent:
            return self.responses, lam, w
        idx = lay.child_pairs[part]
        return self.targets[lay.pair_c[idx]], lam[idx], w[idx]

    def receive(self, outcome) -> None:
        lay = self.layout
        if outcome.part == lay.parent:
            self.r_seen = self.targets                    # the targets the children answered
            if len(lay.couplings):
                self.targets = outcome.z
            return
        rows = lay.coupling_row[outcome.part]
        for j in lay.child_pairs[outcome.part]:
            self.responses[j] = outcome.z[rows[lay.pairs[j].coupling]]

    def residual(self) -> np.ndarray:
        lay = self.layout
        if not len(lay.pairs):
            return np.zeros((0, lay.steps))
        c = (self.targets[lay.pair_c] - self.responses) / lay.scale
        return np.where(lay.unpenalized, 0.0, c)         # statuses: the children hold what they were sent

    def dual_residual(self) -> float:
        c = self.residual()
        return float(np.max(2 * self.w * self.w * np.abs(c))) if c.size else 0.0

    def restart(self) -> None:
        self.prev_c = None

    def update(self, c: np.ndarray, consistent: bool, dual_ok: bool) -> None:
        o, lay = self.options, self.layout
        w = self.w
        lam_motion = 2 * w * w * np.abs(c)
        self.lam = self.lam + 2 * w * w * c
        if self.prev_c is not None:
            grow = np.abs(c) > o.gamma * np.abs(self.prev_c)
            if o.weights == "balanced" and o.penalty != "l1":
                # (l1 is an exact penalty: it enforces consistency only once w^2 exceeds the multiplier
                # error, so its weights only grow.)
                # Grow only where the disagreement is not small against how fast the targets move, and shrink
                # where the targets move much more than they disagree: large weights otherwise freeze the
                # iterates at a consistent but poor point (measured: gaps of several %).
                move = np.abs(self.targets - self.r_seen)[lay.pair_c] / lay.scale
                grow &= o.balance * np.abs(c) > move
                shrink = move > o.balance * np.abs(c)
                w = np.where(shrink, np.maximum(w / o.beta, o.initial_weight * 0.01), w)
            w = np.where(grow, np.minimum(o.beta * w, o.max_weight), w)
            if consistent and not dual_ok and o.penalty != "l1":
                # consistent, but the multipliers still move: large weights hold the iterates together at a
                # point that is not yet optimal; relax them where they do
                w = np.where(lam_motion > self.dual_tolerance, np.maximum(w / o.beta, o.initial_weight * 0.01), w)
        self.w = w
        self.prev_c = c
