"""The epsilon-constraint Pareto front (paper 003, section 2.3): minimize one objective while each of the others is
bounded, `value <= epsilon`, the bounds swept between their best and worst values in the payoff table; then a fuzzy
membership per objective and the min-max compromise.

One model is lowered and built once. Each objective of the study is a column z_k of that model, tied to its value
by one row (z_k = constant + sum of its terms); HiGHS's objective is a weighted sum of those columns, and an
epsilon is the upper bound of one. Between solves only column bounds and costs change, so every solve of a linear
model restarts from the last basis and every solve of a mixed-integer one from the last point.

- Payoff table: each objective minimized alone, then (lexicographically) the others minimized, normalized by their
  ranges, with it held at its optimum: its rows are non-dominated extreme points of the front.
- Each point minimizes z_0 / r_0 + DELTA * sum_k z_k / r_k subject to z_k <= epsilon_k (the augmented
  epsilon-constraint method, AUGMECON: the small weights on the bounded objectives make every point Pareto-optimal,
  not only weakly so; r_k are the payoff ranges).
- `vdi` can make the SOC relaxation inexact (losses that no flow explains raise voltages). When the study's
  objective weighs `vdi`, losses get a weight LOSS_SAFETY times the largest gain of vdi per kWh of such losses
  (fictitious_loss_gain): they cannot pay. Every point's fictitious losses are measured; where they remain (a
  bound on vdi that binds) the loss weight is raised and the point solved again, at most ESCALATIONS times."""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, MgdError
from ..ir import BuiltinQuantity, ObjectiveIR, SystemIR
from ..lower.objectives import objective_terms
from ..lower.system import _cost_terms
from ..objective_values import fictitious_losses, objective_value
from ..results import Results
from .output import figure, plain, write_csv, write_json
from .relaxed import RelaxedFirst
from .resident import Outcome, Resident, lazy_cones

DELTA = 1e-4             # weight of the bounded objectives (normalized) beside the minimized one's 1
LOSS_SAFETY = 2.0        # the automatic loss weight, in multiples of the largest gain of vdi per kWh of loss
ESCALATIONS = 3          # re-solves of a point whose fictitious losses remain, each with 100 times the loss weight
LEXICOGRAPHIC_TOLERANCE = 1e-9   # relative slack of an objective held at its optimum (payoff table, second pass)
CONE_TOLERANCES = (1e-7, 1e-5, 1e-4)    # the same slack widened, cones by tangents (second pass, if infeasible)
GRIDS = ("full", "diagonal")

Progress = Callable[[str], None]


# ---------------------------------------------------------------- the front's pure parts (tested on hand-made fronts)
def memberships(values: np.ndarray, best: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Fuzzy membership of each point (row) in each objective (column): 1 at the objective's best value of the
    payoff table, 0 at its worst, linear between (paper 003, Eqs. 33-35), clipped to [0, 1]. An objective whose
    best and worst coincide has membership 1 everywhere."""
    values = np.asarray(values, dtype=float)
    best, worst = np.asarray(best, dtype=float), np.asarray(worst, dtype=float)
    span = worst - best
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(span > 0, (worst - values) / np.where(span > 0, span, 1.0), 1.0)
    return np.clip(mu, 0.0, 1.0)


def compromise(mu: np.ndarray, eligible: np.ndarray | None = None) -> int | None:
    """The min-max choice: the point whose smallest membership is largest (ties: the larger sum of memberships,
    then the first). None when no point is eligible."""
    mu = np.asarray(mu, dtype=float)
    ok = np.ones(len(mu), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    ok &= ~np.isnan(mu).any(axis=1)
    if not ok.any():
        return None
    lowest = np.where(ok, mu.min(axis=1), -np.inf)
    top = lowest.max()
    tied = np.nonzero(ok & (lowest >= top - 1e-12))[0]
    return int(tied[np.argmax(mu[tied].sum(axis=1))])


def dominance(values: np.ndarray, tolerance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point (row; NaN rows are skipped): the first earlier point it repeats within `tolerance` per
    objective (-1 if none), and whether another point dominates it (no worse in every objective, better by more
    than the tolerance in one)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    tol = np.asarray(tolerance, dtype=float)
    valid = ~np.isnan(values).any(axis=1)
    duplicate = np.full(n, -1)
    dominated = np.zeros(n, dtype=bool)
    for i in range(n):
        if not valid[i]:
            continue
        for j in range(n):
            if j == i or not valid[j]:
                continue
            same = np.all(np.abs(values[i] - values[j]) <= tol)
            if same and j < i and duplicate[i] < 0 and duplicate[j] < 0:
                duplicate[i] = j
            if not same and np.all(values[j] <= values[i] + tol) and np.any(values[j] < values[i] - tol):
                dominated[i] = True
    return duplicate, dominated


def fictitious_loss_gain(ir: SystemIR) -> float:
    """The largest decrease of `vdi` (p.u.) that one kWh of losses no flow explains can buy: raising the squared
    current l of line i->j by dl raises the squared voltage of j and of every bus below it by (r^2 + x^2) dl, which
    lowers each of their deviations by at most that times 1/(2 vmin) (the steepest tangent of 1 - sqrt(w)), and
    costs r dl S_base dt kWh of losses. vdi is the mean over N buses and T steps. 0 without squared currents."""
    from ..lower.formulations import formulation

    net = ir.network
    if net is None or not formulation(net.formulation).has_losses or not net.lines:
        return 0.0
    z_base = net.base_kv ** 2 / (net.base_kva / 1000.0)
    neighbours: dict[int, list[int]] = {b: [] for b in net.buses}
    for ln in net.lines:
        neighbours[ln.from_bus].append(ln.to_bus)
        neighbours[ln.to_bus].append(ln.from_bus)
    parent = {net.slack_bus: None}
    order = [net.slack_bus]
    for b in order:                                     # breadth first from the slack: the tree's orientation
        for c in neighbours[b]:
            if c not in parent:
                parent[c] = b
                order.append(c)
    below = {b: 1 for b in order}
    for b in reversed(order):
        if parent[b] is not None:
            below[parent[b]] += below[b]
    gain = 0.0
    count = len(net.buses) * ir.steps
    for ln in net.lines:
        r, x = ln.r_ohm / z_base, ln.x_ohm / z_base
        if r <= 0:
            continue
        end = ln.to_bus if parent.get(ln.to_bus) == ln.from_bus else ln.from_bus
        gain = max(gain, (r * r + x * x) * below.get(end, 1) / (2.0 * min(net.vmin, 1.0) * count
                                                              * r * net.base_kva * ir.dt_h))
    return gain


# ---------------------------------------------------------------- the result
@dataclass
class ParetoFront:
    """The front of one study. `points` is a Dataset over `point` (one per epsilon combination, in solve order)
    and `objective` (the minimized one first): `value` as solved (each objective's unit), `measured` on the
    solution (like summary.json's objectives: vdi as the exact mean of |V - 1|), `membership`, `epsilon` over
    `bound`, and per point `status`, `min_membership`, `compromise`, `dominated`, `duplicate_of`,
    `fictitious_losses_kwh`, `loss_weight` (in the minimized objective's unit per kWh), `seconds`. `payoff` is the
    payoff table over (`minimized`, `objective`). `results[k]` is point k's schedule (datasets as `mgdsl solve`
    writes them); `compromise` the index of the min-max point (None if no point was solved)."""

    minimize: str
    bound: list[str]
    units: dict[str, str]
    payoff: xr.Dataset
    points: xr.Dataset
    compromise: int | None
    results: dict[int, Results] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    model: str = ""

    @property
    def objectives(self) -> list[str]:
        return [self.minimize, *self.bound]

    @property
    def best(self) -> dict[str, float]:
        return {k: float(self.payoff["value"].sel(objective=k).min()) for k in self.objectives}

    @property
    def worst(self) -> dict[str, float]:
        return {k: float(self.payoff["value"].sel(objective=k).max()) for k in self.objectives}

    @property
    def solved(self) -> list[int]:
        return [int(k) for k in np.nonzero(self.points["solved"].values)[0]]

    def table(self) -> pd.DataFrame:
        """One row per epsilon point: pareto.csv."""
        p = self.points
        rows = {"point": p["point"].values, "status": p["status"].values}
        for b in self.bound:
            rows[f"epsilon_{b}"] = p["epsilon"].sel(bound=b).values
        for k in self.objectives:
            rows[k] = p["value"].sel(objective=k).values
        for k in self.objectives:
            rows[f"measured_{k}"] = p["measured"].sel(objective=k).values
        for k in self.objectives:
            rows[f"membership_{k}"] = p["membership"].sel(objective=k).values
        for name in ("min_membership", "compromise", "dominated", "duplicate_of", "fictitious_losses_kwh", "exact",
                     "loss_weight", "mip_gap", "seconds"):
            rows[name] = p[name].values
        return pd.DataFrame(rows)

    def payoff_table(self) -> pd.DataFrame:
        frame = self.payoff["value"].to_pandas()
        frame.index.name = "minimized"
        return frame.reset_index()

    def to_json(self) -> dict:
        """pareto.json: settings, payoff table, best and worst values, the compromise and every point (NaN as
        null)."""
        best, worst = self.best, self.worst
        c = self.compromise
        return plain({
            "study": "pareto", "model": self.model, "minimize": self.minimize, "bound": self.bound,
            "units": self.units, "settings": self.settings, "notes": self.notes, "timings_s": self.timings,
            "payoff": {m: {k: float(self.payoff["value"].sel(minimized=m, objective=k)) for k in self.objectives}
                       for m in self.objectives},
            "best": best, "worst": worst,
            "compromise": None if c is None else {
                "point": c, "values": {k: float(self.points["value"].sel(point=c, objective=k))
                                       for k in self.objectives},
                "memberships": {k: float(self.points["membership"].sel(point=c, objective=k))
                                for k in self.objectives},
                "min_membership": float(self.points["min_membership"].sel(point=c)),
                "epsilon": {b: float(self.points["epsilon"].sel(point=c, bound=b)) for b in self.bound}},
            "points": self.table().to_dict(orient="records"),
            "counts": {"points": int(self.points.sizes["point"]), "solved": len(self.solved),
                       "infeasible": int((self.points["status"] == "infeasible").sum()),
                       "unsolved": int((~self.points["solved"] & (self.points["status"] != "infeasible")).sum()),
                       "distinct": int(((self.points["duplicate_of"] < 0) & self.points["solved"]).sum()),
                       "dominated": int(self.points["dominated"].sum())},
        })

    def save(self, folder: str | Path) -> list[Path]:
        """Write the study's folder whole (written beside it and swapped in; E0701..E0703 as for results)."""
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """pareto.csv (the points), payoff.csv, pareto.json (everything), pareto.png (the front) and, when a point
        was chosen, compromise/ (its schedule, in the form of a results folder)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [write_csv(out / "pareto.csv", self.table()), write_csv(out / "payoff.csv", self.payoff_table()),
                   write_json(out / "pareto.json", self.to_json()), figure(out / "pareto.png", self.draw)]
        if self.compromise is not None and self.compromise in self.results:
            written += self.results[self.compromise].write_into(out / "compromise")
        return written

    def draw(self, new_figure):
        """The front: the minimized objective against each bounded one (2-D), and with two bounds the third
        projection and a 3-D view; points coloured by their smallest membership, the compromise starred, the
        payoff table's extreme points ringed, infeasible epsilons as ticks on the axis."""
        names = self.objectives
        ok = np.array(self.points["solved"].values, dtype=bool)
        val = {k: self.points["value"].sel(objective=k).values for k in names}
        mu = self.points["min_membership"].values
        pairs = [(names[1], names[0])] if len(names) == 2 else list(itertools.combinations(names, 2))
        three = len(names) == 3
        fig, axes = new_figure(2 if three else 1, 2 if three else 1, figsize=(10, 8) if three else (7, 4.8))
        extremes = {k: self.payoff["value"].sel(objective=k).values for k in names}
        c = self.compromise
        for ax, (a, b) in zip(axes, pairs):
            sc = ax.scatter(val[a][ok], val[b][ok], c=mu[ok], cmap="viridis", vmin=0, vmax=1, s=28, zorder=3)
            ax.scatter(extremes[a], extremes[b], facecolors="none", edgecolors="k", s=90, lw=1,
                       label="payoff table", zorder=4)
            if c is not None:
                ax.scatter([val[a][c]], [val[b][c]], marker="*", s=260, color="crimson", edgecolors="k",
                           label="compromise", zorder=5)
            if len(names) == 2:
                order = np.argsort(val[a][ok])
                ax.plot(val[a][ok][order], val[b][ok][order], color="0.6", lw=1, zorder=2)
                bad = ~ok
                if bad.any():
                    eps = self.points["epsilon"].sel(bound=names[1]).values[bad]
                    ax.plot(eps, np.full(len(eps), np.nanmin(val[b][ok]) if ok.any() else 0.0), "x", color="0.4",
                            label="infeasible epsilon")
            ax.set_xlabel(f"{a} ({self.units[a]})")
            ax.set_ylabel(f"{b} ({self.units[b]})")
            ax.legend(fontsize=8, loc="best")
        if three:
            axes[-1].remove()
            ax3 = fig.add_subplot(2, 2, 4, projection="3d")
            ax3.scatter(val[names[1]][ok], val[names[2]][ok], val[names[0]][ok], c=mu[ok], cmap="viridis",
                        vmin=0, vmax=1)
            if c is not None:
                ax3.scatter([val[names[1]][c]], [val[names[2]][c]], [val[names[0]][c]], marker="*", s=200,
                            color="crimson")
            ax3.set_xlabel(names[1])
            ax3.set_ylabel(names[2])
            ax3.set_zlabel(names[0])
            fig.colorbar(sc, ax=axes[:3], label="smallest membership", shrink=0.6)
        else:
            fig.colorbar(sc, ax=axes[0], label="smallest membership")
        solved = int(ok.sum())
        fig.suptitle(f"Pareto front: minimize {names[0]}, bound {', '.join(names[1:])} "
                     f"({solved} of {len(ok)} epsilon points solved)")
        return fig


# ---------------------------------------------------------------- the study
def _error(message: str, span=None, label: str = "", **kw) -> MgdError:
    return MgdError([Diagnostic("E0801", message, span, label, **kw)])


def _check_names(ir: SystemIR, minimize: str, bound: Sequence[str]) -> list[ObjectiveIR]:
    available = list(ir.objectives)
    listed = ", ".join(f"`{n}`" for n in available)
    names = [minimize, *bound]
    for name in names:
        if name not in ir.objectives:
            import difflib

            close = difflib.get_close_matches(name, available, n=1)
            raise _error(f"the system has no objective `{name}`", None,
                         help=(f"did you mean `{close[0]}`? " if close else "") + f"its objectives: {listed}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _error(f"`{twice[0]}` is named twice: a front is minimized in one objective and bounded in the others",
                     None, help=f"its objectives: {listed}")
    if not bound:
        other = next((n for n in available if n != minimize), "cost")
        raise _error("a Pareto front needs at least one bounded objective beside the minimized one", None,
                     help=f"for instance --minimize {minimize} --bound {other}")
    objs = [ir.objectives[n] for n in names]
    for obj in objs:
        for term in obj.terms:
            q = term.quantity
            if isinstance(q, BuiltinQuantity) and q.name in ("losses", "vdi") and np.any(np.asarray(term.coef) < 0):
                raise _error(f"objective `{obj.name}` weighs `{q.name}` negatively, which a front cannot bound or "
                             "minimize exactly", obj.span, "declared here" if obj.span else "",
                             help="the SOC relaxation and the vdi linearization are exact only when losses and vdi "
                                  "are kept low (E0304); use an objective with positive weights")
    return objs


def _weights_of(obj: ObjectiveIR, name: str) -> float:
    return float(sum(np.sum(t.coef) for t in obj.terms
                     if isinstance(t.quantity, BuiltinQuantity) and t.quantity.name == name))


@dataclass
class _Study:
    """The resident model of one study and the columns z of its objectives."""

    ir: SystemIR
    res: Resident
    names: list[str]                  # the study's objectives; the losses column may follow them
    objs: dict[str, ObjectiveIR]
    z: dict[str, int]                 # objective -> HiGHS column of its value, in units of scale[objective]
    gain: float                       # vdi per kWh of fictitious loss (fictitious_loss_gain), 0 if none possible
    loss_col: int | None
    rows: dict[str, int] = field(default_factory=dict)       # column name -> the row that defines it
    cols: dict[str, int] = field(default_factory=dict)       # column name -> column (the losses column too)
    scale: dict[str, float] = field(default_factory=dict)    # a column holds value / scale (canonical units)
    relaxed: RelaxedFirst | None = None                      # a model with integers: its relaxation first
    unit_weight: dict[str, float] = field(default_factory=dict)   # 1 / the largest |coefficient| of each value

    def solve(self) -> Outcome:
        return (self.relaxed or self.res).solve()

    def rescale(self, scales: dict[str, float]) -> None:
        """Hold each value in units of scales[k] (its magnitude, then its range): costs and bounds near 1 keep
        HiGHS's simplex well conditioned (an objective of 1/r_k and 1e-4/r_k per canonical unit ran 20 ms per
        iteration on the 33-bus day). Only the coefficient of z_k in its row changes."""
        for k, new in scales.items():
            new = float(new) if np.isfinite(new) and abs(new) > 1e-12 else 1.0
            old = self.scale.get(k, 1.0)
            self.res.set_coeff(self.rows[k], self.cols[k], new)      # new * z = constant + terms
            if self.res._start is not None:
                self.res._start[self.cols[k]] *= old / new
            self.scale[k] = new

    def bound(self, k: str, upper: float) -> None:
        self.res.set_bounds([self.cols[k]], -np.inf, upper / self.scale.get(k, 1.0))

    def value(self, x: np.ndarray, k: str) -> float:
        return float(x[self.cols[k]]) * self.scale.get(k, 1.0)

    def objective(self, weights: dict[str, float], level: int = 0, scale_vdi: float = 1.0,
                  magnitude: float = 1.0, losses: float = 1.0) -> float:
        """Set HiGHS's objective to sum of weights[k] * z_k plus the loss weight this level asks for; return the
        loss weight (objective units per kWh) beyond what the objective already puts on losses."""
        vdi = sum(w * _weights_of(self.objs[k], "vdi") for k, w in weights.items())
        have = sum(w * _weights_of(self.objs[k], "losses") for k, w in weights.items())
        extra = 0.0
        if self.loss_col is not None and self.gain > 0:
            need = LOSS_SAFETY * self.gain * vdi
            if level > 0:
                # a bound on vdi that binds rewards fictitious losses by its multiplier, which no weight on the
                # objective's own vdi term shows: start from the weight vdi would have if it were minimized, or
                # from a millionth of the objective per kWh, and raise it a hundredfold per level
                floor = max(LOSS_SAFETY * self.gain * scale_vdi, 1e-6 * abs(magnitude) / max(losses, 1.0))
                need = max(need, floor) * 100.0 ** (level - 1)
            extra = max(0.0, need - have)
        costs = {self.z[k]: w * self.scale.get(k, 1.0) for k, w in weights.items()}
        if self.loss_col is not None:
            costs[self.loss_col] = costs.get(self.loss_col, 0.0) + extra * self.scale.get("losses", 1.0)
        cols = sorted(self.z.values()) + ([self.loss_col] if self.loss_col not in self.z.values() and
                                          self.loss_col is not None else [])
        self.res.set_costs(cols, [costs.get(c, 0.0) for c in cols])
        return extra

    def values(self, x: np.ndarray) -> dict[str, float]:
        return {k: self.value(x, k) for k in self.names}

    def measure(self, x: np.ndarray) -> tuple[Results, dict[str, float], float]:
        results = self.res.results(x)
        measured = {k: objective_value(self.objs[k], self.ir, results) * self.objs[k].scale for k in self.names}
        extra = fictitious_losses(self.ir, results)
        return results, measured, (0.0 if extra is None else extra)


def _build(ir: SystemIR, names: list[str], objs: list[ObjectiveIR], loss_weight, time_limit, mip_gap) -> _Study:
    low, cones = lazy_cones(ir)          # a SOC branch flow's cones met by tangents on the resident model
    m = low.model
    columns = list(names)
    gain = fictitious_loss_gain(ir) if any(_weights_of(o, "vdi") for o in objs) else 0.0
    if loss_weight == 0:
        gain = 0.0
    elif loss_weight not in (None, "auto"):
        gain = float(loss_weight) / LOSS_SAFETY      # a given weight, per unit of the minimized vdi weight
    if gain > 0 and "losses" in ir.objectives and "losses" not in columns:
        columns.append("losses")
    index = pd.Index(columns, name="objective")
    z = m.add_variables(coords=[index], name="pareto.z")
    for name in columns:
        obj = ir.objectives[name]
        terms, constant = objective_terms(low, obj, lambda: _cost_terms(low))
        if any(isinstance(t, linopy.QuadraticExpression) for t in terms):
            raise _error(f"objective `{name}` is quadratic (a cost `a * p^2`), so the front cannot bound it",
                         obj.span, "declared here" if obj.span else "",
                         help="make the quadratic cost piecewise linear, or leave this objective out of the front")
        expr = terms[0] if len(terms) == 1 else linopy.merge(terms) if terms else 0 * z.sel(objective=name)
        m.add_constraints(1 * z.sel(objective=name) - expr == constant, name=f"pareto.value_{name}")
    m.add_objective((1 * z).sum(), overwrite=True)     # a linear placeholder (no Hessian); Resident sets the costs
    res = Resident(low, time_limit, mip_gap, cones)
    cols = res.cols(z)
    col = {name: int(c) for name, c in zip(columns, np.atleast_1d(cols))}
    loss_col = col.get("losses") if gain > 0 else None
    study = _Study(ir, res, list(names), {k: ir.objectives[k] for k in columns}, {k: col[k] for k in names},
                   gain, loss_col, cols=col,
                   rows={k: int(np.atleast_1d(res.rows(m.constraints[f"pareto.value_{k}"]))[0]) for k in columns})
    if res.integers:
        study.relaxed = RelaxedFirst(res)
    for k in columns:
        con = m.constraints[f"pareto.value_{k}"]
        own = np.asarray(con.vars.values) == int(z.sel(objective=k).labels)
        coef = np.abs(np.where(own | (np.asarray(con.vars.values) < 0), 0.0, np.asarray(con.coeffs.values)))
        biggest = float(coef.max()) if coef.size else 0.0
        study.unit_weight[k] = 1.0 / biggest if np.isfinite(biggest) and biggest > 0 else 1.0
    return study


def pareto(system, minimize: str, bound: Sequence[str], points: int = 10, grid: str = "full",
           loss_weight: float | str | None = "auto", time_limit: float | None = None, mip_gap: float | None = None,
           progress: Progress | None = None) -> ParetoFront:
    """The epsilon-constraint front of `minimize` with the objectives `bound` swept over `points` values each
    between their best and worst in the payoff table (`grid="full"`: every combination, points ** len(bound)
    solves; `"diagonal"`: all bounds moved together, `points` solves). `system`: a checked mgdsl System (or its
    SystemIR). `loss_weight`: "auto" (the module docstring), 0 (none) or a weight in the minimized objective's
    canonical unit per kWh when it is `vdi`. `time_limit` (s) and `mip_gap` apply to each solve. Raises MgdError
    (E0801) for objectives the front cannot use; an infeasible epsilon point is a row with status "infeasible"."""
    say = progress or (lambda _: None)
    ir: SystemIR = getattr(system, "ir", system)
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, not {grid!r}")
    if int(points) != points or points < 2:
        raise ValueError(f"points must be a whole number of at least 2, not {points!r}")
    points = int(points)
    bound = list(bound)
    objs = _check_names(ir, minimize, bound)
    names = [minimize, *bound]
    units = {n: ir.objectives[n].unit for n in names}
    scale = {n: ir.objectives[n].scale for n in names}
    t0 = time.perf_counter()
    study = _build(ir, names, objs, loss_weight, time_limit, mip_gap)
    timings = {"build": time.perf_counter() - t0}
    say(f"built the model once in {timings['build']:.1f} s: {study.res.n} columns"
        + (", with integers" if study.res.integers else ""))

    # ---- payoff table, first pass: each objective alone
    t1 = time.perf_counter()
    first: dict[str, dict[str, float]] = {}
    xs: dict[str, np.ndarray] = {}
    for k in names:
        # weighed so that its largest cost per model column is 1: vdi, a mean over buses and steps, costs
        # 1 / (buses x steps) per deviation (4e-4 on the 94-bus day), which HiGHS calls "excessively small"
        w = study.unit_weight.get(k, 1.0)
        out, _ = _solve_exact(study, {k: w}, say, f"payoff: minimize {k}", scale_vdi=w)
        if not out.ok:
            _payoff_failed(study, k, out)
        first[k] = study.values(out.x)
        xs[k] = out.x
        if k == names[0]:                   # every value in units of its magnitude from now on
            study.rescale({j: abs(study.value(out.x, j)) for j in study.cols})
    lo = {j: min(first[k][j] for k in names) for j in names}
    hi = {j: max(first[k][j] for k in names) for j in names}
    rng = {j: (hi[j] - lo[j]) if hi[j] - lo[j] > 1e-9 * max(1.0, abs(hi[j])) else max(1.0, abs(hi[j]))
           for j in names}
    study.rescale({j: rng[j] for j in names})                      # then in units of its range
    # ---- second pass: hold each at its optimum, minimize the others (normalized): non-dominated extremes
    payoff: dict[str, dict[str, float]] = {}
    extreme_results: dict[str, Results] = {}
    notes: list[str] = []
    for k in names:
        others = {j: 1.0 / rng[j] for j in names if j != k}
        # with the cones met by tangents, the first optimum meets them only within their accuracy, and the tangents
        # this pass adds may cut it off: the slack widens (to the cones' order of accuracy) while that is so
        for tol in (LEXICOGRAPHIC_TOLERANCE,) + (CONE_TOLERANCES if study.res.cones is not None else ()):
            study.bound(k, first[k][k] + tol * max(abs(first[k][k]), rng[k]))
            out, _ = _solve_exact(study, others, say, f"payoff: {k} held at its optimum, the others minimized",
                                  scale_vdi=1.0 / rng.get("vdi", 1.0))
            if out.status != "infeasible":
                break
        study.bound(k, np.inf)
        x = out.x if out.ok else xs[k]
        if not out.ok:
            notes.append(f"payoff table: the lexicographic pass for `{k}` ended {out.status}; its row is the "
                         "plain optimum")
        payoff[k] = study.values(x) if out.ok else first[k]
        extreme_results[k] = study.res.results(x)
    best = np.array([min(payoff[k][j] for k in names) for j in names])
    worst = np.array([max(payoff[k][j] for k in names) for j in names])
    rng = {j: (worst[i] - best[i]) if worst[i] - best[i] > 1e-9 * max(1.0, abs(worst[i])) else
           max(1.0, abs(worst[i])) for i, j in enumerate(names)}
    timings["payoff"] = time.perf_counter() - t1
    say("payoff table: " + "; ".join(f"{j} {best[i] / scale[j]:,.6g} .. {worst[i] / scale[j]:,.6g} {units[j]}"
                                     for i, j in enumerate(names)))

    # ---- the epsilon points
    t2 = time.perf_counter()
    levels = {b: np.linspace(best[i + 1], worst[i + 1], points) for i, b in enumerate(bound)}
    combos = _grid([levels[b] for b in bound], grid)
    weights = {minimize: 1.0 / rng[minimize], **{b: DELTA / rng[b] for b in bound}}
    rows = []
    results: dict[int, Results] = {}
    for p, eps in enumerate(combos):
        for b, e in zip(bound, eps):
            # the bound's own value at its best end is reached within the lexicographic slack
            slack = LEXICOGRAPHIC_TOLERANCE * max(abs(e), rng[b])
            study.bound(b, e + slack)
        out, detail = _solve_exact(study, weights, say, f"point {p + 1}/{len(combos)}",
                                   scale_vdi=1.0 / rng["vdi"] if "vdi" in rng else 1.0, keep=True)
        row = {"epsilon": list(eps), "status": out.status, "seconds": out.seconds, "mip_gap": out.mip_gap}
        if out.ok:
            results[p] = detail["results"]
            row.update(values=study.values(out.x), measured=detail["measured"], fictitious=detail["fictitious"],
                       loss_weight=detail["loss_weight"], exact=detail["exact"])
        rows.append(row)
        say(f"point {p + 1}/{len(combos)}: " + ", ".join(f"{b} <= {e / scale[b]:,.6g}" for b, e in zip(bound, eps))
            + (": " + ", ".join(f"{k} {row['values'][k] / scale[k]:,.6g}" for k in names) if out.ok
               else f": {out.status}") + f" ({out.seconds:.2f} s)")
    for b in bound:
        study.bound(b, np.inf)
    timings["points"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    # ---- the front: repeats, dominance, memberships, the compromise (all in canonical units until the end)
    n = len(rows)
    value = np.full((n, len(names)), np.nan)
    measured = np.full((n, len(names)), np.nan)
    for p, row in enumerate(rows):
        if "values" in row:
            value[p] = [row["values"][k] for k in names]
            measured[p] = [row["measured"][k] for k in names]
    gap = max([r["mip_gap"] or 0.0 for r in rows] + [mip_gap or 0.0]) if study.res.integers else 0.0
    tol = np.array([1e-6 * rng[k] + 1e-9 for k in names]) + gap * np.nan_to_num(np.nanmax(np.abs(value), axis=0)
                                                                               if n else 0.0)
    duplicate, dominated = dominance(value, tol)
    mu = memberships(value, best, worst)
    solved = ~np.isnan(value).any(axis=1)
    chosen = compromise(mu, solved & ~dominated)
    if dominated.any():
        notes.append(f"{int(dominated.sum())} points are dominated by others (within the MIP gap of their solves); "
                     "they are marked and not chosen")
    if study.loss_col is not None:
        lw = [r.get("loss_weight", 0.0) for r in rows if "values" in r]
        notes.append("to keep the SOC relaxation exact, losses were weighed in each solve's objective by up to "
                     f"{max(lw, default=0.0) / weights[minimize] / scale[minimize]:.3g} {units[minimize]}/kWh "
                     "(column loss_weight; "
                     f"{LOSS_SAFETY:g} times the largest vdi a kWh of unexplained losses can buy)")
    inexact = [p for p, r in enumerate(rows) if "values" in r and not r["exact"]]
    if inexact:
        notes.append(f"points {', '.join(map(str, inexact))} keep losses that no flow explains (fictitious_losses_kwh):"
                     " their voltages and losses are not physical")
    ds = xr.Dataset(
        {"value": (("point", "objective"), value / np.array([scale[k] for k in names])),
         "measured": (("point", "objective"), measured / np.array([scale[k] for k in names])),
         "membership": (("point", "objective"), mu),
         "min_membership": ("point", np.where(solved, mu.min(axis=1), np.nan)),
         "epsilon": (("point", "bound"), np.array([r["epsilon"] for r in rows]).reshape(n, len(bound))
                     / np.array([scale[b] for b in bound])),
         "status": ("point", np.array([r["status"] for r in rows], dtype=object)),
         "solved": ("point", solved),
         "compromise": ("point", np.arange(n) == (chosen if chosen is not None else -1)),
         "dominated": ("point", dominated),
         "duplicate_of": ("point", duplicate),
         "fictitious_losses_kwh": ("point", np.array([r.get("fictitious", np.nan) for r in rows])),
         # in the minimized objective's unit per kWh: the weight on its normalized value times its range
         "loss_weight": ("point", np.array([r.get("loss_weight", np.nan) / weights[minimize] / scale[minimize]
                                            for r in rows])),
         "exact": ("point", np.array([bool(r.get("exact", False)) for r in rows])),
         "mip_gap": ("point", np.array([np.nan if r["mip_gap"] is None else r["mip_gap"] for r in rows])),
         "seconds": ("point", np.array([r["seconds"] for r in rows]))},
        coords={"point": np.arange(n), "objective": names, "bound": bound})
    table = np.array([[payoff[k][j] / scale[j] for j in names] for k in names])
    payoff_ds = xr.Dataset({"value": (("minimized", "objective"), table)},
                           coords={"minimized": names, "objective": names})
    for k in names:
        ds["value"].attrs[k] = units[k]
    settings = {"points": points, "grid": grid, "solves": n, "delta": DELTA, "time_limit": time_limit,
                "mip_gap": mip_gap, "loss_weight": loss_weight if loss_weight is not None else "auto",
                "integers": study.res.integers, "columns": study.res.n,
                **({"relaxation_first": dict(study.relaxed.stats)} if study.relaxed is not None else {}),
                **({"cone_rounds": study.res.cone_rounds, "cone_tangents": study.res.cone_cuts}
                   if study.res.cones is not None else {})}
    front = ParetoFront(minimize, bound, units, payoff_ds, ds, chosen, results, notes, settings,
                        {k: round(v, 4) for k, v in timings.items()}, ir.main_file)
    for k, r in extreme_results.items():
        r.summary = _summary(front, r, f"payoff: minimize {k}")
    for p, r in results.items():
        r.summary = _summary(front, r, f"point {p}", p)
    front.results.update({f"min_{k}": r for k, r in extreme_results.items()})
    return front


def _summary(front: ParetoFront, results: Results, what: str, point: int | None = None) -> dict:
    """The summary.json of one point's schedule: what it is, and every objective's value as measured."""
    summary = {"model": front.model, "study": "pareto", "what": what, "status": "optimal",
               "costs": results.costs, "instance_costs": results.instance_costs()}
    if point is not None:
        p = front.points
        summary["point"] = point
        summary["epsilon"] = {b: float(p["epsilon"].sel(point=point, bound=b)) for b in front.bound}
        summary["objectives"] = {k: {"value": float(p["measured"].sel(point=point, objective=k)),
                                     "unit": front.units[k]} for k in front.objectives}
    return plain(summary)


def _grid(levels: list[np.ndarray], grid: str) -> list[tuple[float, ...]]:
    """The epsilon combinations in solve order: for a full grid a snake (each step moves one bound by one level, so
    the last solution is a good start); for a diagonal all bounds together. Tightest first."""
    if grid == "diagonal" or len(levels) == 1:
        return [tuple(lv[i] for lv in levels) for i in range(len(levels[0]))]
    combos = []
    for idx in itertools.product(*[range(len(lv)) for lv in levels]):
        # reverse every other run of the inner index (snake order)
        k = list(idx)
        for d in range(len(k) - 1, 0, -1):
            if sum(idx[:d]) % 2 == 1:
                k[d] = len(levels[d]) - 1 - idx[d]
        combos.append(tuple(levels[d][k[d]] for d in range(len(k))))
    return combos


def _solve_exact(study: _Study, weights: dict[str, float], say: Progress, what: str, scale_vdi: float,
                 keep: bool = False) -> tuple[Outcome, dict]:
    """Solve with `weights`; measure the fictitious losses of the point and, while they remain, raise the loss
    weight and solve again. With `keep`, the point's results and measured values are returned too."""
    detail: dict = {}
    out = None
    for level in range(ESCALATIONS + 1):
        magnitude = 1.0
        losses = 1.0
        if out is not None and out.ok:
            magnitude = sum(w * study.value(out.x, k) for k, w in weights.items())
            losses = study.value(out.x, "losses") if study.loss_col is not None else 1.0
        extra = study.objective(weights, level, scale_vdi, magnitude, losses)
        out = study.solve()
        if not out.ok:
            return out, detail
        if study.loss_col is None and not keep:
            return out, detail
        results, measured, fict = study.measure(out.x)
        total = study.value(out.x, "losses") if study.loss_col is not None else measured.get("losses", 0.0)
        exact = fict <= max(1e-3, 1e-3 * abs(total))        # the threshold of summary.json's note
        detail = {"results": results, "measured": measured, "fictitious": fict, "loss_weight": extra, "exact": exact}
        if study.loss_col is None or exact:
            return out, detail
        if level < ESCALATIONS:
            say(f"{what}: {fict:,.4g} kWh of losses no flow explains; solving again with a larger loss weight")
    return out, detail


def _payoff_failed(study: _Study, name: str, out: Outcome) -> None:
    """The payoff table needs every objective's optimum: a failure there ends the study, with the model's own
    report for an infeasible model."""
    if out.status == "infeasible":
        from ..solve.centralized import diagnose_infeasible

        diagnose_infeasible(study.res.low)          # raises E0601 with the conflict
    obj = study.objs[name]
    raise MgdError([Diagnostic(
        "E0605" if out.status == "time limit" else "E0603",
        f"the payoff table's solve minimizing `{name}` ended {out.status}", obj.span, "",
        notes=["the front is swept between each objective's optimum, so every one must solve"],
        help="raise --time-limit" if out.status == "time limit" else
        "check the model with `mgdsl solve` and `minimize " + name + "`")])

