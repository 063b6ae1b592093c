"""Consensus ADMM (Jacobi): every part, the parent too, solves at once against the consensus value of each
coupling; the consensus is the mean of the copies shifted by their duals, the duals move by rho times each copy's
distance to it, and rho is balanced between primal and dual residuals (Boyd et al. 2011, section 3.4.1)."""
from __future__ import annotations

import numpy as np

from ...decompose.settings import ATCOptions


class ADMMRule:
    """State, in p.u. deviations relative to the cost scale `money`: consensus zhat (coupling, t, in the
    coupling's unit), the parent's copies r (coupling, t) and its duals y_parent, the children's copies x
    (pair, t) and their duals y_child, and rho (coupling, t), one per coupling for all its copies."""

    def __init__(self, layout, options: ATCOptions, money: float, r0: np.ndarray):
        self.layout, self.options, self.money = layout, options, money
        lay = layout
        n, T = len(lay.pairs), lay.steps
        self.targets = r0.copy()
        self.responses = r0[lay.pair_c].copy()
        self.zhat = r0.copy()
        self.y_parent = np.zeros_like(r0)
        self.y_child = np.zeros((n, T))
        self.rho = np.full(r0.shape, 2 * options.initial_weight ** 2)
        self.rho_min = 2 * (0.01 * options.initial_weight) ** 2
        self.rho_max = 2 * options.max_weight ** 2
        # copies of each coupling held by children; a coupling without any is the parent's alone
        self.n_copies = np.bincount(lay.pair_c, minlength=len(lay.couplings)).astype(float)[:, None]
        status = np.zeros(len(lay.couplings), dtype=bool)
        status[[lay.cpos[c] for c in lay.status_couplings]] = True
        self.free = (self.n_copies[:, 0] == 0) | status        # couplings the consensus does not act on
        self.dual_tolerance = options.dual_tolerance if options.dual_tolerance is not None else 10 * options.tolerance
        self.rounds = [[lay.parent] + lay.children]
        self._next = None                                       # the consensus of the current copies

    def request(self, part: str):
        lay = self.layout
        rho_pair = self.rho[lay.pair_c]
        remote = self.zhat[lay.pair_c]
        if part == lay.parent:
            # the parent's term y (r - z) + rho/2 (r - z)^2 split over the pairs of its coupling
            n = self.n_copies[lay.pair_c]
            lam = self.y_parent[lay.pair_c] / n
            w2 = rho_pair / (2 * n)
            idx = slice(None)
        else:
            idx = lay.child_pairs[part]
            lam = -self.y_child                                # a child sees -lam (x - z)
            w2 = rho_pair / 2
            lam, w2, remote = lam[idx], w2[idx], remote[idx]
        unpen = lay.unpenalized[idx] if len(lay.pairs) else lay.unpenalized
        lam = np.where(unpen, 0.0, lam) * self.money
        w = np.sqrt(np.where(unpen, 0.0, w2) * self.money)
        return remote, lam, w

    def receive(self, outcome) -> None:
        lay = self.layout
        self._next = None
        if outcome.part == lay.parent:
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
        return np.where(lay.unpenalized, 0.0, c)

    def _consensus(self) -> np.ndarray:
        """The minimizer over z of the augmented terms: the mean of copy + dual / rho over all copies."""
        if self._next is None:
            lay, s = self.layout, self.layout.coupling_scale
            total = self.targets / s + self.y_parent / self.rho
            np.add.at(total, lay.pair_c, self.responses / lay.scale + self.y_child / self.rho[lay.pair_c])
            z = total / (1 + self.n_copies) * s
            self._next = np.where(self.free[:, None], self.targets, z)
        return self._next

    def dual_residual(self) -> float:
        if not len(self.layout.pairs):
            return 0.0
        s = self.layout.coupling_scale
        motion = self.rho * np.abs(self._consensus() - self.zhat) / s
        return float(np.max(np.where(self.free[:, None], 0.0, motion)))

    def restart(self) -> None:
        pass

    def update(self, c: np.ndarray, consistent: bool, dual_ok: bool) -> None:
        lay, o = self.layout, self.options
        if not len(lay.pairs):
            return
        s = lay.coupling_scale
        z = self._consensus()
        dual = self.rho * np.abs(z - self.zhat) / s * np.sqrt(1 + self.n_copies)
        parent_dev = (self.targets - z) / s
        child_dev = (self.responses - z[lay.pair_c]) / lay.scale
        self.y_parent = np.where(self.free[:, None], 0.0, self.y_parent + self.rho * parent_dev)
        y_child = self.y_child + self.rho[lay.pair_c] * child_dev
        self.y_child = np.where(lay.unpenalized, 0.0, y_child)
        primal_sq = parent_dev ** 2
        np.add.at(primal_sq, lay.pair_c, child_dev ** 2)
        primal = np.sqrt(primal_sq)
        self.zhat = z
        self._next = None
        if o.weights == "balanced":
            # residual balancing: more rho where the copies disagree much more than the consensus moves, less
            # where it moves much more than they disagree (the duals y are unscaled, so they stay as they are)
            rho = np.where(primal > o.balance * dual, self.rho * o.beta, self.rho)
            rho = np.where(dual > o.balance * primal, rho / o.beta, rho)
            self.rho = np.clip(rho, self.rho_min, self.rho_max)
