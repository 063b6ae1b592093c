"""The arbitration QP of paper 002 (eq. 30): minimize alpha-weighted frequency, voltage and SOC-balance indices,
the priority-weighted load shed and the confidence-weighted distance to the candidates, over the cluster's
feasible domain at one step. It is built once in HiGHS and only its numbers (bounds, right-hand sides, linear
costs, the Hessian's diagonal) change from one event to the next; load shedding is the slack used only when the
domain is empty without it, cheapest priority first (a linear program on the same rows)."""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from .. import highs
from ..cluster_domain import ClusterDomain
from ..cluster_state import Bases, State, priorities, supply_without_storage

INF = highspy.kHighsInf
SOLVE_TIME_LIMIT = 10.0    # s per solve: the QP has a few dozen columns and takes milliseconds
REGULARIZE = 1e-12         # a tiny quadratic weight on every reference: one optimum among equal ones


@dataclass
class Weights:
    """alpha_1..alpha_5 of paper 002 (frequency, voltage, SOC balance, hydro ramp, load shed) and alpha_6, the
    weight of the distance to the candidates (the paper names it but gives no value)."""

    frequency: float = 0.30
    voltage: float = 0.30
    soc: float = 0.15
    hydro_ramp: float = 0.15
    load_shed: float = 0.10
    conflict: float = 0.10


@dataclass
class Term:
    """A distance term: column `col` pulled towards `value` (absolute, kW) with weight rho over base^2."""

    col: int
    value: float
    rho: float
    base: float


class Projection:
    """The QP (and the shedding LP on the same rows) of one cluster domain."""

    def __init__(self, dom: ClusterDomain, weights: Weights, bases: Bases):
        self.dom, self.w, self.bases = dom, weights, bases
        n, S, H, K = len(dom.microgrids), len(dom.sheds), len(dom.hydros), len(dom.ties)
        self.n = n
        # columns: per microgrid eref, pv, m, soc, dev, u; then shed, hydro, tie
        self.eref, self.pv, self.m, self.soc, self.dev, self.u = (np.arange(n) + k * n for k in range(6))
        self.shed = 6 * n + np.arange(S)
        self.hydro = 6 * n + S + np.arange(H)
        self.tie = 6 * n + S + H + np.arange(K)
        self.ncols = 6 * n + S + H + K
        names = [m.name for m in dom.microgrids]
        own = [names.index(s.owner) for s in dom.sheds], [names.index(h.owner) for h in dom.hydros]
        rows: list[dict[int, float]] = []
        for j in range(n):                                # balance: m + eref + pv + shed + hydro + tie_in = load
            r = {self.m[j]: 1.0, self.eref[j]: 1.0, self.pv[j]: 1.0}
            self._supply(r, j, own)
            rows.append(r)
        for j in range(n):                                # the converter's actual output: eref + m
            rows.append({self.eref[j]: 1.0, self.m[j]: 1.0})
        for j, mg in enumerate(dom.microgrids):          # soc_next + (dt / capacity) * output = soc
            k = dom.dt_s / 3600.0 / mg.capacity if mg.capacity > 0 else 0.0
            rows.append({self.soc[j]: 1.0, self.eref[j]: k, self.m[j]: k})
        for j in range(n):                                # dev = soc_next - mean(soc_next)
            r = {self.soc[k]: 1.0 / n for k in range(n)}
            r[self.dev[j]] = 1.0
            r[self.soc[j]] = r[self.soc[j]] - 1.0
            rows.append(r)
        for j in range(n):                                # u = the change of the microgrid's references
            r = {self.eref[j]: -1.0, self.pv[j]: -1.0}
            self._supply(r, j, own, sign=-1.0)
            r[self.u[j]] = 1.0
            rows.append(r)
        self.row_balance, self.row_output, self.row_soc, self.row_dev, self.row_u = (
            np.arange(n) + k * n for k in range(5))
        # the network's limits at the step (cluster_network.py): fixed rows on the tie columns
        bounds = [(0.0, 0.0)] * len(rows)
        for coef, lo, hi, _ in dom.network_rows:
            rows.append({self.tie[k]: c for k, c in coef.items()})
            bounds.append((lo, hi))
        self.row_network = 5 * n + np.arange(len(dom.network_rows))
        self.rows, self.row_lo, self.row_hi = rows, np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
        self.qp, self.lp = self._build(rows, bounds), self._build(rows, bounds)
        self.builds = 1
        self.solves = 0

    def _supply(self, r, j, own, sign=1.0):
        for s, o in enumerate(own[0]):
            if o == j:
                r[self.shed[s]] = sign
        for h, o in enumerate(own[1]):
            if o == j:
                r[self.hydro[h]] = sign
        for k, t in enumerate(self.dom.ties):
            if t.b == self.dom.microgrids[j].name:
                r[self.tie[k]] = r.get(self.tie[k], 0.0) + sign
            if t.a == self.dom.microgrids[j].name:
                r[self.tie[k]] = r.get(self.tie[k], 0.0) - sign

    def _build(self, rows, bounds) -> highspy.Highs:
        h = highs.new_highs()
        highs.set_option(h, "solver", highs.qp_solver())
        nc = self.ncols
        h.addCols(nc, np.zeros(nc), np.full(nc, -INF), np.full(nc, INF), 0, np.array([], dtype=np.int32),
                  np.array([], dtype=np.int32), np.array([], dtype=float))
        for r, (lo, hi) in zip(rows, bounds):
            idx = np.array(sorted(r), dtype=np.int32)
            lo, hi = (lo if np.isfinite(lo) else -INF), (hi if np.isfinite(hi) else INF)
            h.addRow(lo, hi, len(idx), idx, np.array([r[i] for i in idx], dtype=float))
        return h

    # ------------------------------------------------------------------ numbers of one event
    def set_state(self, st: State, prev_hydro: np.ndarray, allow_shed: bool | np.ndarray) -> None:
        """Bounds and right-hand sides for the state `st`; shedding allowed (True), forbidden (False) or fixed."""
        dom, b = self.dom, self.bases
        lo, hi = np.full(self.ncols, -INF), np.full(self.ncols, INF)
        rated = np.array([m.p_rated for m in dom.microgrids])
        lo[self.eref], hi[self.eref] = -rated, rated
        lo[self.pv], hi[self.pv] = 0.0, st.pv_avail
        mlim = np.array([min(b.f_limit / m.f_coef, b.v_limit / m.v_coef) for m in dom.microgrids])
        lo[self.m], hi[self.m] = -mlim, mlim
        lo[self.soc] = [m.soc_min for m in dom.microgrids]
        hi[self.soc] = [m.soc_max for m in dom.microgrids]
        lo[self.dev], hi[self.dev] = -1.0, 1.0           # SOC deviations are fractions; no column is left free
        total = float(rated.sum() + sum(m.pv_avail for m in dom.microgrids) + sum(h.p_max for h in dom.hydros)
                      + sum(s.base for s in dom.sheds) + sum(t.limit for t in dom.ties) + st.load.sum())
        lo[self.u], hi[self.u] = -2 * total, 2 * total
        base = np.array([s.base for s in dom.sheds])
        if isinstance(allow_shed, np.ndarray):
            lo[self.shed], hi[self.shed] = allow_shed, allow_shed
        else:
            lo[self.shed], hi[self.shed] = 0.0, base if allow_shed else 0.0
        for k, h in enumerate(dom.hydros):
            lo[self.hydro[k]] = max(h.p_min, prev_hydro[k] - h.ramp)
            hi[self.hydro[k]] = min(h.p_max, prev_hydro[k] + h.ramp)
        lim = np.array([t.limit for t in dom.ties])
        lo[self.tie], hi[self.tie] = -lim, lim
        self.lo, self.hi = lo, hi
        n = self.n
        rlo, rhi = np.zeros(5 * n), np.zeros(5 * n)
        rlo[self.row_balance] = rhi[self.row_balance] = st.load
        rlo[self.row_output], rhi[self.row_output] = -rated, rated
        rlo[self.row_soc] = rhi[self.row_soc] = st.soc
        u0 = self.references(st)
        rlo[self.row_u] = rhi[self.row_u] = -u0
        for hh in (self.qp, self.lp):
            hh.changeColsBounds(self.ncols, np.arange(self.ncols, dtype=np.int32), lo, hi)
            hh.changeRowsBounds(5 * n, np.arange(5 * n, dtype=np.int32), rlo, rhi)
        self.row_lo[:5 * n], self.row_hi[:5 * n] = rlo, rhi

    def references(self, st: State) -> np.ndarray:
        """Each microgrid's sum of references (storage, PV, hydro, tie imports, shed), kW."""
        st = st.copy()
        st.pv_avail = np.full_like(st.pv, INF)
        return st.eref + supply_without_storage(self.dom, st)

    def fix(self, col: int, value: float) -> bool:
        """Fix a column for this event (a fused command); False when outside its own bounds."""
        if not self.lo[col] - 1e-9 <= value <= self.hi[col] + 1e-9:
            return False
        for hh in (self.qp, self.lp):
            hh.changeColsBounds(1, np.array([col], dtype=np.int32), np.array([value]), np.array([value]))
        return True

    def objective(self, terms: list[Term]) -> None:
        """The QP's Hessian diagonal and linear costs for these distance terms."""
        dom, w, b, n = self.dom, self.w, self.bases, self.n
        q = np.full(self.ncols, 0.0)
        c = np.zeros(self.ncols)
        f = np.array([m.f_coef for m in dom.microgrids])
        v = np.array([m.v_coef for m in dom.microgrids])
        q[self.m] += 2 * w.frequency / n * (f / b.df_max) ** 2 + 2 * w.voltage / n * (v / b.dv_max) ** 2
        q[self.dev] += 2 * w.soc / n / b.dsoc_max ** 2
        q += REGULARIZE       # strictly convex: a unique optimum, and the active-set solver does not cycle
        loads = np.array([dom.load(dom.index(s.owner)) for s in dom.sheds])
        c[self.shed] = w.load_shed * priorities(dom) / np.maximum(loads, 1e-9)
        # PV is used up to its availability unless that breaks a limit (paper 002: PV regulates only from its
        # margin): curtailing costs a tenth of shedding the same power, so it always comes before shedding
        c[self.pv] = -0.1 * w.load_shed / np.maximum([dom.load(j) for j in range(n)], 1e-9)
        for t in terms:
            k = 2 * w.conflict * t.rho / t.base ** 2
            q[t.col] += k
            c[t.col] -= k * t.value
        nz = np.flatnonzero(q)
        start = np.searchsorted(nz, np.arange(self.ncols + 1)).astype(np.int32)
        self.qp.passHessian(self.ncols, len(nz), highspy.HessianFormat.kTriangular, start, nz.astype(np.int32),
                            q[nz])
        self.qp.changeColsCost(self.ncols, np.arange(self.ncols, dtype=np.int32), c)
        self.lp.changeColsCost(self.ncols, np.arange(self.ncols, dtype=np.int32),
                               np.where(np.isin(np.arange(self.ncols), self.shed), c, 0.0))

    def _violation(self, h: highspy.Highs) -> float:
        """How far the last solution of `h` lies outside its rows (0 within a relative 1e-6)."""
        x = np.asarray(h.getSolution().col_value, dtype=float)
        act = np.array([sum(c * x[i] for i, c in r.items()) for r in self.rows])
        tol = 1e-6 * (1.0 + np.abs(act))
        return float(np.max(np.maximum(self.row_lo - act - tol, act - self.row_hi - tol), initial=0.0).clip(0.0))

    def run(self, which: str = "qp") -> np.ndarray | None:
        """Solve the QP (or the shedding LP); the column values, or None when the domain is empty."""
        h = self.qp if which == "qp" else self.lp
        status = highs.run(h, SOLVE_TIME_LIMIT)
        self.solves += 1
        if status == highs.OPTIMAL and which == "qp" and self._violation(h) > 0:
            # HiPO (highspy 1.16) was seen to call a QP optimal that breaks a row whose only column is fixed (a
            # fused tie command beyond a network row): the simplex on the same rows decides
            status = highs.run(self.lp, SOLVE_TIME_LIMIT)
            if status == highs.OPTIMAL:
                raise RuntimeError("the arbitration QP returned a point outside its rows, which are feasible")
        if status == highs.INFEASIBLE:
            return None
        if status != highs.OPTIMAL:
            # not a property of the commands: the solver failed (HiGHS's active-set QP solver was seen to stall
            # on this QP when HiPO is missing); the CLI reports it as a bug
            raise RuntimeError(f"the arbitration {which.upper()} stopped: {highs.status_text(h, status)} "
                               f"(solver {highs.qp_solver() if which == 'qp' else 'simplex'})")
        return np.asarray(h.getSolution().col_value, dtype=float)
