"""The models of the capability study (docs/capability.md): a cooperative group's own model (its microgrids lowered
alone, ties as columns) or the whole system, each with the groups' costs as columns z_g (the devices' costs plus
the tie priced at the slack) so a cost budget is a column bound, resident in HiGHS; and the band of one tie at one
step within that budget: two solves (minimize, maximize the tie column) that change only costs and bounds."""
from __future__ import annotations

from dataclasses import dataclass

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, MgdError
from ..highs import set_option
from ..lower.system import Lowered
from .resident import Outcome, Resident

HOLD_GAP = 1e-2              # the MIP gap of the solve whose integer decisions the correction holds


@dataclass
class Group:
    """Microgrids whose economic dispatch is one problem: linked to each other by a switch or a `couple` (the
    paper's cooperative power and heat transfer), or a microgrid alone. `tied`: the members with a tie."""

    name: str
    owners: list[str]
    tied: list[str]


def groups_of(ir) -> list[Group]:
    """The connected components of microgrids under switches and couples between microgrids, in declaration
    order."""
    names = list(ir.microgrids)
    parent = {m: m for m in names}

    def find(m):
        while parent[m] != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    links = [(s.a.owner, s.b.owner) for s in ir.switches] + [(c.lhs_owner, c.rhs_owner) for c in ir.couples]
    for a, b in links:
        if a in parent and b in parent:
            parent[find(a)] = find(b)
    comps: dict[str, list[str]] = {}
    for m in names:
        comps.setdefault(find(m), []).append(m)
    out = []
    for members in comps.values():
        tied = [m for m in members if ir.microgrids[m].bus is not None]
        out.append(Group(members[0] if len(members) == 1 else "+".join(members), members, tied))
    return out


def slack_prices(ir) -> tuple[np.ndarray, np.ndarray]:
    """The price of a tie's import and export (currency/kWh over t): the slack's purchase price, and its sale price
    where the network declares one (else the purchase price: an export displaces purchases), never above the
    purchase price (a microgrid would otherwise buy and sell at once)."""
    steps = ir.steps
    net = ir.network
    buy = np.zeros(steps) if net is None or net.buy_price is None else np.broadcast_to(
        np.asarray(net.buy_price, float), (steps,)).copy()
    sell = buy.copy() if net is None or net.sell_price is None else np.broadcast_to(
        np.asarray(net.sell_price, float), (steps,)).copy()
    return buy, np.minimum(sell, buy)


def add_budget_columns(low: Lowered, groups: list[Group], buy: np.ndarray, sell: np.ndarray) -> None:
    """Add to `low.model`: per tied microgrid an import and an export column (tie.mg = import - export), and per
    group a column `capability.cost` equal to its devices' costs plus import * buy - export * sell (times dt).
    A quadratic cost cannot be a budget row (E0841)."""
    m = low.model
    ir = low.ir
    tie = low.ties["mg"]
    names = [str(x) for x in tie.indexes["tie"]]
    time = tie.indexes["t"]
    idx = pd.Index(names, name="tie")
    lim = xr.DataArray([ir.microgrids[n].limit_kw if ir.microgrids[n].limit_kw is not None else np.inf
                        for n in names], coords=[idx])
    imp = m.add_variables(lower=0, upper=lim, coords=[idx, time], name="capability.import")
    exp = m.add_variables(lower=0, upper=lim, coords=[idx, time], name="capability.export")
    m.add_constraints(imp - exp - tie == 0, name="capability.split")
    dt = ir.dt_h
    gidx = pd.Index([g.name for g in groups], name="group")
    z = m.add_variables(coords=[gidx], name="capability.cost")
    for g in groups:
        terms, constant = [], 0.0
        for lt in low.templates.values():
            dim = lt.template.name
            mine = [i.name for i in lt.instances if i.owner in g.owners]
            if not mine:
                continue
            for c in lt.costs:
                if isinstance(c, linopy.QuadraticExpression):
                    inst = next(i for i in lt.instances if i.owner in g.owners)
                    raise MgdError([Diagnostic(
                        "E0841", f"the cost of `{inst.name}` is quadratic: a cost budget must be linear", inst.span,
                        "its template's cost has a squared term",
                        help="use a device with a linear cost (Microturbine instead of MicroturbineQuadratic), or "
                             "make the cost piecewise linear")])
                if isinstance(c, linopy.LinearExpression):
                    terms.append(c.sel({dim: mine}).sum())
                else:
                    constant += float(np.nansum(np.asarray(c.sel({dim: mine}))))
        mine = [n for n in g.tied if n in names]
        if mine:
            price_in = xr.DataArray(buy * dt, coords=[time])
            price_out = xr.DataArray(sell * dt, coords=[time])
            terms.append((imp.sel(tie=mine) * price_in).sum() - (exp.sel(tie=mine) * price_out).sum())
        expr = linopy.merge(terms) if len(terms) > 1 else terms[0]
        m.add_constraints(1 * z.sel(group=g.name) - expr == constant, name=f"capability.cost_{g.name}")


class BandModel:
    """A lowered model with budget columns, resident in HiGHS. `economic()` minimizes every group's cost;
    `set_budgets` bounds them; `band(tie, t)` minimizes then maximizes one tie column within them."""

    def __init__(self, low: Lowered, groups: list[Group], time_limit=None, mip_gap=None, cones=None):
        self.low, self.groups = low, groups
        # the network's cones described, not written (lowered with solver_cones): every solve meets them by
        # tangents added to the same HiGHS object (Resident.solve_cones). A tangent of a convex cone is valid at
        # every point, so they stay from one solve to the next and later solves need few rounds or none. They come
        # after every row the study stores a position of (outer_approx prunes only the tangents of its own call).
        self.res = Resident(low, time_limit, mip_gap, cones)
        self.mip_gap = mip_gap
        self.z = self.res.cols(low.model.variables["capability.cost"])        # one per group
        tie = low.ties["mg"]
        self.tie_names = [str(x) for x in tie.indexes["tie"]]
        self.tie_cols = self.res.cols(tie)                                     # (tie, t)
        self.solves = 0
        self.seconds = 0.0
        self.hot = True

    def _solve(self, mip_gap: float | None = None) -> Outcome:
        if not self.hot:
            self.res.h.clearSolver()          # measuring what hot starts save: forget the basis
            self.res._start = None
        out = self.res.solve() if self.res.cones is None else self.res.solve_cones(mip_gap)
        self.solves += 1
        self.seconds += out.seconds
        return out

    @property
    def cone_rounds(self) -> int:
        return self.res.cone_rounds

    @property
    def cone_cuts(self) -> int:
        return self.res.cone_cuts

    def economic(self) -> tuple[Outcome, np.ndarray]:
        """Every group's own economic dispatch at once (the groups share nothing here): the costs per group."""
        self.res.set_costs(self.z, 1.0)
        out = self._solve()
        self.res.set_costs(self.z, 0.0)
        return out, (out.x[self.z] if out.ok else np.full(len(self.z), np.nan))

    def set_budgets(self, upper: np.ndarray) -> None:
        self.res.set_bounds(self.z, -np.inf, upper)

    def ties(self, x: np.ndarray) -> np.ndarray:
        return x[self.tie_cols]

    def band(self, k: int, t: int) -> tuple[float, float, str]:
        """[min, max] of tie k at step t within the budgets; a status other than "optimal" names the failing side."""
        col = int(self.tie_cols[k, t])
        out = []
        for sign in (1.0, -1.0):
            self.res.set_costs(col, sign)
            o = self._solve()
            out.append((o.status, float(o.x[col]) if o.ok else np.nan))
        self.res.set_costs(col, 0.0)
        status = next((s for s, _ in out if s != "optimal"), "optimal")
        return out[0][1], out[1][1], status

    def hold_integers(self) -> tuple[str, int]:
        """Solve the model's own objective (every original cost) within the budgets, then hold its integer columns
        at that solution's values and solve as a linear program from then on: (the status, integer columns held).
        """
        import highspy

        res = self.res
        lp = res.h.getLp()
        kinds = np.array([int(k) for k in lp.integrality_], dtype=int)     # empty for a linear program
        cols = np.nonzero(kinds != int(highspy.HighsVarType.kContinuous))[0].astype(np.int32)
        if not len(cols):
            return "optimal", 0
        res.set_costs(np.arange(len(res.original_costs)), res.original_costs)
        # any integer plan within the budgets serves (the ranges are found around it): a 1 % gap is plenty, unless
        # the user asked for a tighter one
        gap = float(res.h.getOptionValue("mip_rel_gap")[1])
        set_option(res.h, "mip_rel_gap", HOLD_GAP if self.mip_gap is None else gap)
        out = self._solve(HOLD_GAP if self.mip_gap is None else self.mip_gap)
        set_option(res.h, "mip_rel_gap", gap)
        res.set_costs(np.arange(res.n), 0.0)
        if not out.ok:
            return out.status, len(cols)
        values = np.round(out.x[cols])
        res.set_bounds(cols, values, values)
        res.h.changeColsIntegrality(len(cols), cols, np.full(len(cols), highspy.HighsVarType.kContinuous))
        res.integers = False
        res._start = None
        return "optimal", len(cols)

