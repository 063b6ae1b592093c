"""Information gap decision theory (paper 003, section 3) over the profiles declared `uncertain profile`.

Each uncertain profile u (p.u. of a forecast u_hat) may take, at every step independently, any value of its envelope
U(a) = {u : |u[t] - u_hat[t]| <= a u_hat[t]}. With B the objective's optimum at the forecast (the base case) and a
budget sigma:

- risk-averse (robustness): the largest a such that one schedule keeps the objective within B + sigma |B| for
  every u in U(a), constraints included: max a subject to the robust counterpart of the model;
- opportunity seeking: the smallest a such that some u in U(a) lets the objective fall to B - sigma |B|.

Both are one linear (or mixed-integer) program per budget when the profile enters the model linearly, each
constraint at its own step, in bounds, right-hand sides and constant cost terms, as the standard library's Wind and
PV do (0 <= p <= p_max * profile). Where it enters is found, not assumed: the program is checked again with the
profile scaled (by 0.5, by 1.5, and by a different factor at each step), the templates it reaches are lowered
again, and their numbers compared (`sensitivities`): a coefficient of a variable that changes, an equality that
changes, or a number that is not linear in the profile's own step is refused (E0802). Every changed number e is
then n_e + D_e beta[t_e], with beta[t] = u[t] / u_hat[t] - 1 in [-a, a] and D_e its change per unit of beta.

- robust: each constraint must hold for every beta, which for a <= bound is n + D beta <= ... at its worst:
  a row `x + |D| a <= ub` for an upper bound, `x - |D| a >= lb` for a lower one, |D| added to a <= row's coefficient
  of a (subtracted for >=); the objective's worst case adds sum over profiles and steps of |D_obj[p, t]| a, where
  D_obj sums the cost terms of one step (the same beta moves them together). For Wind and PV this is exactly their
  lower envelope (1 - a) u_hat; a curtailment cost (`curtail_cost`) is at its worst at the upper one (1 + a) u_hat.
- opportunity: beta[p, t] are columns with -a <= beta <= a, and each changed number is n + D beta.

The model is lowered and built once per variant; between budgets only the objective's bound changes (the upper
bound of a column z = the objective's value), so every solve restarts from the last one."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..diagnostics import Diagnostic, Label, MgdError
from ..ir import BuiltinQuantity, SystemIR
from ..lower.builder import Builder
from ..lower.devices import lower_template
from ..lower.exprs import is_linopy
from ..objective_values import add_objectives
from ..results import Results, collect
from ..solve.centralized import solve_lowered
from .output import figure, plain, write_csv, write_json
from .relaxed import RelaxedFirst
from .resident import Resident, lazy_cones, lift_if_large

MODES = ("robust", "opportunity")
ROBUST_CAP = 1.0          # a robust radius of 1: the budget holds with the uncertain profiles anywhere down to 0
TIE_BREAK = 1e-6          # weight of the objective (relative to |B|) beside the radius: the cheaper schedule of ties
Progress = Callable[[str], None]


# ---------------------------------------------------------------- where the profiles enter
@dataclass
class Element:
    """A number of the model that an uncertain profile changes: a column's bound ("upper", "lower"), a row's
    right-hand side ("row"), or the objective's constant ("objective", position -1). `slope[p]` is its change per
    unit of relative deviation of profile p at step `t` (n + D beta)."""

    kind: str
    position: int
    t: int
    slope: dict[str, float]
    where: str                 # "upper bound of `p` of Wind for dn.wt17": for reports


def _error(message: str, labels: list[tuple[object, str]], help_: str, notes: list[str] | None = None) -> MgdError:
    labels = [(s, t) for s, t in labels if s is not None]
    primary = labels[0] if labels else (None, "")
    return MgdError([Diagnostic("E0802", message, primary[0], primary[1],
                                secondary=[Label(s, t) for s, t in labels[1:4]], notes=notes or [], help=help_)])


_HELP = ("IGDT takes an uncertain profile that bounds a variable, as the availability of Wind and PV does "
         "(`0 <= p <= p_max * profile`), and constant cost terms; keep this profile certain, or model the quantity "
         "as a bound (a curtailable generation)")


def _scaled_checks(system, name: str, steps: int) -> dict[str, SystemIR]:
    """The system checked again with profile `name` scaled: by 0.5, by 1.5 and by a factor per step."""
    w = (np.arange(steps) + 1.0) / (steps + 1.0)
    out = {}
    for key, factor in (("half", 0.5), ("more", 1.5), ("pattern", 1.0 - 0.5 * w)):
        try:
            out[key] = system.checked_with({name: factor})
        except MgdError as err:
            first = err.diagnostics[0]
            raise _error(f"the model does not check with uncertain profile `{name}` scaled by "
                         f"{factor if np.ndim(factor) == 0 else 'a factor per step'}",
                         [(system.ir.uncertain.get(name), "declared uncertain here"), (first.span, first.label)],
                         "a condition of the model holds only near the forecast: IGDT moves the profile within its "
                         "envelope, so the model must hold there too", [f"{first.code}: {first.message}"]) from None
    out["pattern_weight"] = w
    return out


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.allclose(np.nan_to_num(a.astype(float), nan=1.7e308), np.nan_to_num(b.astype(float),
                                                                                            nan=1.7e308),
                                rtol=1e-12, atol=1e-12))
    return bool(np.array_equal(a, b))


def _walk(node):
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _walk(x)
    elif hasattr(node, "__dataclass_fields__"):
        yield node
        for name in node.__dataclass_fields__:
            if name not in ("span", "file", "name_span", "unit_span"):
                yield from _walk(getattr(node, name))


def _outside_templates(ir: SystemIR, other: SystemIR, name: str) -> None:
    """Where else than in instance arguments the profile reaches: the network (loads, prices), declared
    objectives, couplings. Each is an equality or a coefficient: refused."""
    declared = ir.uncertain.get(name)
    net, net2 = ir.network, other.network
    if net is not None:
        for attr, what in (("load_p", "the network's loads"), ("load_q", "the network's reactive loads")):
            if not _same(getattr(net, attr), getattr(net2, attr)):
                spans = [s for _, s in net.load_spans][:2] or [net.span]
                raise _error(f"uncertain profile `{name}` enters {what}, which the bus balances (equalities) must "
                             "meet exactly", [(declared, "declared uncertain here")] + [(s, "the loads")
                                                                                        for s in spans], _HELP)
        for attr in ("buy_price", "sell_price"):
            a, b = getattr(net, attr), getattr(net2, attr)
            if (a is None) != (b is None) or (a is not None and not _same(a, b)):
                raise _error(f"uncertain profile `{name}` is a price at the slack bus: it multiplies the purchase "
                             "(a variable)", [(declared, "declared uncertain here"), (net.slack_span, "the price")],
                             _HELP)
    for key, obj in ir.objectives.items():
        obj2 = other.objectives.get(key)
        if obj2 is None or len(obj.terms) != len(obj2.terms) or not all(
                _same(a.coef, b.coef) for a, b in zip(obj.terms, obj2.terms)) or obj.constant != obj2.constant:
            raise _error(f"uncertain profile `{name}` weighs objective `{key}`: it multiplies a variable",
                         [(declared, "declared uncertain here"), (obj.span, "this objective")], _HELP)
    for c in ir.couples:
        if any(getattr(n, "name", None) == name or getattr(n, "parts", [None])[0] == name
               for n in _walk([c.lhs, c.rhs])):
            raise _error(f"uncertain profile `{name}` enters coupling `{c.name}`, an equality",
                         [(declared, "declared uncertain here"), (c.span, "this coupling")], _HELP)
    for m, m2 in zip(ir.microgrids.values(), other.microgrids.values()):
        if m.limit_kw != m2.limit_kw:
            raise _error(f"uncertain profile `{name}` sets the tie-line limit of `{m.name}`",
                         [(declared, "declared uncertain here"), (m.span, "this microgrid")], _HELP)


def _template_numbers(ir: SystemIR, tpl_name: str) -> tuple[Builder, dict]:
    """Lower one template alone and return its numbers by key: ("lower"|"upper", var), ("rhs"|"coeffs"|"vars",
    constraint), ("cost", k) constants and ("cost_coeffs", k), ("port", k) and ("fixed", k)."""
    b = Builder()
    network_owners = {ir.network.name} if ir.network else set()
    lt = lower_template(b, ir.templates[tpl_name], ir.instances[tpl_name], ir.steps, ir.dt_h, network_owners)
    m = b.model
    out: dict = {}
    for name, var in m.variables.items():
        dims = var.labels.dims
        out[("lower", name)] = var.data["lower"].transpose(*dims)
        out[("upper", name)] = var.data["upper"].transpose(*dims)
    for name, con in m.constraints.items():
        dims = con.labels.dims
        out[("rhs", name)] = con.rhs.transpose(*dims)
        out[("coeffs", name)] = con.coeffs.values
        out[("vars", name)] = con.vars.values
        out[("sign", name)] = con.sign.values
    for k, c in enumerate(lt.costs):
        if is_linopy(c):
            out[("cost", k)] = c.const
            out[("cost_coeffs", k)] = c.coeffs.values
            out[("cost_vars", k)] = c.vars.values
        else:
            out[("cost", k)] = c
    for k, p in enumerate(lt.ports):
        out[("port", k)] = (p.expr.coeffs.values, p.expr.const.values)
    for k, p in enumerate(lt.constants):
        out[("fixed", k)] = p.expr.values
    return b, out


def _t_of(arr: xr.DataArray) -> np.ndarray:
    """The step of each entry of `arr` (-1 where it has no step)."""
    if "t" not in arr.dims:
        return np.full(arr.shape, -1)
    t = np.asarray(arr["t"].values)
    axis = arr.dims.index("t")
    shape = [1] * arr.ndim
    shape[axis] = len(t)
    return np.broadcast_to(t.reshape(shape), arr.shape)


def sensitivities(system, names: Sequence[str], low) -> tuple[list[Element], dict[str, dict[str, int]]]:
    """Every number of the lowered model `low` that the uncertain profiles `names` change, with its change per unit
    of relative deviation (module docstring), and per profile the count of numbers it changes by template. Raises
    E0802 where a profile enters an equality, a coefficient or more than its own step."""
    ir: SystemIR = system.ir
    found: dict[tuple[str, int], Element] = {}
    objective: dict[tuple[str, int], float] = {}
    reach: dict[str, dict[str, int]] = {}
    cost_weight = 1.0 if ir.objective is None else sum(
        float(np.sum(t.coef)) for t in ir.objective.terms
        if isinstance(t.quantity, BuiltinQuantity) and t.quantity.name == "cost")
    for name in names:
        checks = _scaled_checks(system, name, ir.steps)
        _outside_templates(ir, checks["half"], name)
        reach[name] = {}
        for tpl, insts in ir.instances.items():
            others = checks["half"].instances.get(tpl, [])
            if any(not _same(a.values.get(k), b.values.get(k)) for a, b in zip(insts, others)
                   for k in a.values if not isinstance(a.values[k], str)):
                count = _template_elements(ir, checks, tpl, name, low.model, found, objective, cost_weight)
                if count:
                    reach[name][tpl] = count
    elements = list(found.values())
    for (name, step), slope in sorted(objective.items()):
        if slope != 0.0:
            elements.append(Element("objective", -1, step, {name: slope}, f"objective at t={step}"))
    return elements, reach


def _template_elements(ir: SystemIR, checks: dict, tpl: str, name: str, m, found: dict, objective: dict,
                       cost_weight: float) -> int:
    """Compare template `tpl` lowered at the forecast and with profile `name` scaled; add the numbers it changes to
    `found` (bounds and rows, by position) and `objective` (cost constants, by profile and step). Returns how many
    numbers it changes."""
    b, base = _template_numbers(ir, tpl)
    half = _template_numbers(checks["half"], tpl)[1]
    more = _template_numbers(checks["more"], tpl)[1]
    pattern = _template_numbers(checks["pattern"], tpl)[1]
    w = checks["pattern_weight"]
    insts = ir.instances[tpl]
    tmpl = ir.templates[tpl]
    count = 0

    def refuse(key, what, label="here"):
        prov = b.provenance.get(key[1]) if isinstance(key[1], str) else None
        span = prov.span if prov is not None else (
            tmpl.costs[key[1]].span if key[0].startswith("cost") else
            tmpl.ports[key[1]].span if key[0] in ("port", "fixed") and key[1] < len(tmpl.ports) else None)
        raise _error(f"uncertain profile `{name}` {what} of {tpl}",
                     [(ir.uncertain[name], "declared uncertain here"), (span, label),
                      (insts[0].span, "through this instance")], _HELP)

    for key, value in base.items():
        kind = key[0]
        if kind in ("coeffs", "vars", "sign", "cost_coeffs", "cost_vars"):
            if not _same(value, half[key]) or not _same(value, pattern[key]):
                what = "multiplies a variable in a cost" if kind.startswith("cost") else \
                    "multiplies a variable in a constraint"
                refuse(key, what, "a coefficient that changes with the profile")
            continue
        if kind in ("port", "fixed"):
            pairs = zip(value, half[key]) if kind == "port" else [(value, half[key])]
            if not all(_same(x, y) for x, y in pairs):
                refuse(key, "enters a carrier balance (an equality) through a port",
                       "an injection that changes with the profile")
            continue
        v1 = np.asarray(value, dtype=float)
        vh, vm, vp = (np.asarray(x[key], dtype=float) for x in (half, more, pattern))
        finite = np.isfinite(v1)
        if not np.array_equal(finite, np.isfinite(vh)):
            refuse(key, "makes a bound appear or disappear")
        D = np.where(finite, (v1 - np.where(finite, vh, 0.0)) / 0.5, 0.0)
        if not np.any(D) and _same(v1, vp):
            continue
        tol = 1e-7 * (1.0 + np.abs(np.where(finite, v1, 0.0)) + np.abs(D))
        t = _t_of(value) if isinstance(value, xr.DataArray) else np.full(v1.shape, -1)
        wt = np.where(t >= 0, w[np.maximum(t, 0)], 0.0)
        if not np.all(np.abs(np.where(finite, vm - v1, 0.0) - 0.5 * D) <= tol):
            refuse(key, "enters nonlinearly (a power, a product or a quotient of it)")
        own_step = (np.abs(np.where(finite, vp - v1, 0.0) + 0.5 * wt * D) <= tol) & ((t >= 0) | (D == 0))
        if not own_step.all():
            refuse(key, "enters at other steps than its own (max, min, mean or sum of the series)")
        if kind == "cost":
            for idx in zip(*np.nonzero(D)):
                step = int(t[idx])
                objective[(name, step)] = objective.get((name, step), 0.0) + cost_weight * float(D[idx])
            count += int(np.count_nonzero(D))
            continue
        full = m.variables[key[1]] if kind in ("lower", "upper") else m.constraints[key[1]]
        labels = np.asarray(full.labels.values)
        if labels.shape != v1.shape:
            refuse(key, "changes the shape of the model")
        if kind == "rhs":
            sign = np.broadcast_to(np.asarray(base[("sign", key[1])]), v1.shape)
            if np.any((D != 0) & (sign == "=") & (labels >= 0)):
                refuse(key, "enters an equality", "no fixed schedule meets an uncertain equality")
        positions = low_positions(m, full, kind)
        axis = full.labels.dims.index(tpl) if tpl in full.labels.dims else None
        element_kind = "row" if kind == "rhs" else kind
        what = {"lower": "lower bound", "upper": "upper bound", "rhs": "constraint"}[kind]
        for idx in zip(*np.nonzero(D)):
            if labels[idx] < 0:
                continue
            pos = int(positions[idx])
            inst = insts[idx[axis]].name if axis is not None else tpl
            where = f"{what} of `{key[1].split('.', 1)[1]}` of {tpl} for {inst} at t={int(t[idx])}"
            el = found.setdefault((element_kind, pos), Element(element_kind, pos, int(t[idx]), {}, where))
            el.slope[name] = el.slope.get(name, 0.0) + float(D[idx])
            count += 1
    return count


def low_positions(m, full, kind: str) -> np.ndarray:
    from ..highs import column_positions, row_positions

    labels = np.asarray(full.labels.values)
    return column_positions(m, labels) if kind in ("lower", "upper") else row_positions(m, labels)


# ---------------------------------------------------------------- the result
@dataclass
class IGDTResult:
    """The study's outcome. `curve` is a Dataset over (`mode`, `budget`): `alpha` (the radius; NaN where no radius
    meets the budget), `objective` (worst case for robust, best case for opportunity, at that radius), `nominal`
    (the robust schedule's objective at the forecast; NaN for opportunity, whose schedule needs the envelope's
    best values), `target` (B + sigma |B| or B - sigma |B|), `status`, `capped`
    (robust radius at ROBUST_CAP), `seconds`. `schedules[(mode, budget)]` are the schedules (results like
    `mgdsl solve` writes, switch states in results["switches"]), `base` the base case's."""

    uncertain: list[str]
    modes: list[str]
    budgets: list[float]
    base_objective: float
    unit: str
    objective_name: str
    curve: xr.Dataset
    base: Results
    schedules: dict[tuple[str, float], Results] = field(default_factory=dict)
    reach: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    model: str = ""

    def alpha(self, mode: str = "robust") -> dict[float, float]:
        return {float(b): float(a) for b, a in zip(self.curve["budget"].values,
                                                   self.curve["alpha"].sel(mode=mode).values)}

    def table(self) -> pd.DataFrame:
        rows = []
        for mode in self.modes:
            for b in self.budgets:
                c = self.curve.sel(mode=mode, budget=b)
                rows.append({"mode": mode, "budget": b, "alpha": float(c["alpha"]), "status": str(c["status"].values),
                             "target": float(c["target"]), "objective": float(c["objective"]),
                             "nominal": float(c["nominal"]), "capped": bool(c["capped"]),
                             "seconds": float(c["seconds"]), "schedule": _folder(mode, b) if (mode, b)
                             in self.schedules else ""})
        return pd.DataFrame(rows)

    def switch_states(self, mode: str, budget: float) -> dict[str, list[int]]:
        res = self.schedules.get((mode, budget))
        if res is None or "switches" not in res.datasets:
            return {}
        closed = res["switches"]["closed"]
        return {str(s): [int(round(float(v))) for v in closed.sel(switch=s).values] for s in closed["switch"].values}

    def to_json(self) -> dict:
        """igdt.json: settings, the base objective, one record per mode and budget, switch states (NaN as null)."""
        return plain({
            "study": "igdt", "model": self.model, "objective": self.objective_name, "unit": self.unit,
            "uncertain": self.uncertain, "modes": self.modes, "budgets": self.budgets,
            "base_objective": self.base_objective, "settings": self.settings, "notes": self.notes,
            "timings_s": self.timings, "reach": self.reach,
            "results": self.table().to_dict(orient="records"),
            "switches": {f"{m}/{b:g}": self.switch_states(m, b) for (m, b) in self.schedules},
        })

    def save(self, folder: str | Path) -> list[Path]:
        """Write the study's folder whole (written beside it and swapped in; E0701..E0703 as for results)."""
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """igdt.csv (one row per mode and budget), igdt.json, robustness.png, base/ and one folder per schedule
        (robust_5pct/, opportunity_5pct/ ...), each in the form of a results folder."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [write_csv(out / "igdt.csv", self.table()), write_json(out / "igdt.json", self.to_json()),
                   figure(out / "robustness.png", self.draw)]
        written += self.base.write_into(out / "base")
        for (mode, b), res in self.schedules.items():
            written += res.write_into(out / _folder(mode, b))
        return written

    def draw(self, new_figure):
        fig, axes = new_figure(1, 1, figsize=(7, 4.5))
        ax = axes[0]
        marks = {"robust": ("o-", "C0", "robust (risk-averse)"), "opportunity": ("s--", "C1", "opportunity")}
        for mode in self.modes:
            style, color, label = marks[mode]
            a = self.curve["alpha"].sel(mode=mode).values
            x = 100 * np.asarray(self.budgets)
            ax.plot(x, 100 * a, style, color=color, label=label)
            for xi, ai in zip(x, a):
                if np.isfinite(ai):
                    ax.annotate(f"{100 * ai:.2f} %", (xi, 100 * ai), textcoords="offset points",
                                xytext=(6, -12) if mode == "robust" else (-40, 6), fontsize=8, color=color)
        ax.set_xlabel("budget σ (% of the base objective)")
        ax.set_ylabel("uncertainty radius α (%)")
        ax.set_title(f"IGDT: {', '.join(self.uncertain)}; base {self.objective_name} "
                     f"{self.base_objective:,.6g} {self.unit}", fontsize=10)
        ax.legend()
        ax.grid(alpha=0.3)
        return fig


def _folder(mode: str, budget: float) -> str:
    return f"{mode}_{100 * budget:g}pct"


# ---------------------------------------------------------------- the study
def _names(ir: SystemIR, uncertain) -> list[str]:
    declared = list(ir.uncertain)
    if not declared:
        raise MgdError([Diagnostic("E0802", "the system declares no uncertain profile", None, "",
                                   help="declare the forecasts IGDT varies: `uncertain profile wind_pu = ...`")])
    names = declared if not uncertain else list(uncertain)
    for n in names:
        if n not in ir.uncertain:
            raise MgdError([Diagnostic(
                "E0802", f"`{n}` is not an uncertain profile of this system", None, "",
                help=f"declare it `uncertain profile {n} = ...`; uncertain profiles: "
                     + ", ".join(f"`{d}`" for d in declared))])
    return list(dict.fromkeys(names))


def _solution(res: Resident) -> np.ndarray:
    """The linopy model's solution (the base case) as a point of the resident model."""
    m = res.low.model
    x = np.zeros(res.n)
    for _, var in m.variables.items():
        pos = np.asarray(res.cols(var)).ravel()
        if "solution" not in var.data:             # a column the study added after the base solve
            continue
        sol = np.asarray(var.data["solution"].values, dtype=float).ravel()
        ok = (pos >= 0) & np.isfinite(sol)
        x[pos[ok]] = sol[ok]
    return x


def igdt(system, uncertain: Sequence[str] | None = None, budgets: Sequence[float] = (0.02, 0.05, 0.1),
         modes: Sequence[str] = MODES, time_limit: float | None = None, mip_gap: float | None = None,
         progress: Progress | None = None) -> IGDTResult:
    """Robustness and opportunity radii of the system's objective (by default its cost) against the uncertain
    profiles `uncertain` (default: every one declared), one per budget sigma (0.05 = 5 % of the base objective).
    `system`: a checked mgdsl System (it is checked again with profiles scaled). Raises MgdError: E0802 for a
    profile IGDT cannot vary, E0801 for a quadratic objective, E0601.. when the base case does not solve."""
    say = progress or (lambda _: None)
    ir: SystemIR = system.ir
    modes = list(modes)
    if not modes or any(m not in MODES for m in modes):
        raise ValueError(f"modes are {', '.join(MODES)}, not {modes!r}")
    budgets = sorted(float(b) for b in budgets)
    if not budgets or any(b < 0 or not np.isfinite(b) for b in budgets):
        raise ValueError(f"budgets must be non-negative fractions (0.05 for 5 %), not {budgets!r}")
    names = _names(ir, uncertain)
    t0 = time.perf_counter()
    low, cones = lazy_cones(ir, keep=True)     # a SOC branch flow's cones met by tangents (the base case at least)
    timings = {"lower": time.perf_counter() - t0}
    if low.model.is_quadratic:
        obj = ir.objective
        raise MgdError([Diagnostic("E0801", "the objective is quadratic (a cost `a * p^2`), so IGDT cannot bound it",
                                   obj.span if obj is not None else None, "", help="make the quadratic cost "
                                   "piecewise linear")])
    t1 = time.perf_counter()
    info = solve_lowered(low, time_limit=time_limit, mip_gap=mip_gap, cones="lazy" if cones is not None else None)
    if cones is not None and low.network.cones is None:     # the base case fell back to the lift: so do the studies
        cones = None
    B = info.objective
    base = collect(low)
    base.summary = {"model": ir.main_file, "study": "igdt", "what": "base case (the forecast)",
                    "status": info.termination, "objective": B, "currency": ir.currency, "costs": base.costs,
                    "instance_costs": base.instance_costs(), "dt_h": ir.dt_h, "steps": ir.steps}
    add_objectives(ir, base)
    timings["base"] = time.perf_counter() - t1
    unit = base.summary.get("objective_unit", ir.currency)
    scale = ir.objective.scale if ir.objective is not None else 1.0
    say(f"base case: {B / scale:,.6g} {unit} in {timings['base']:.1f} s")
    t2 = time.perf_counter()
    elements, reach = sensitivities(system, names, low)
    timings["sensitivities"] = time.perf_counter() - t2
    notes = []
    for n in names:
        if not reach.get(n):
            notes.append(f"uncertain profile `{n}` changes nothing in the model: it does not limit the radius")
    say("where the profiles enter: " + "; ".join(
        f"{n}: " + (", ".join(f"{c} numbers of {t}" for t, c in reach[n].items()) or "nowhere") for n in names))
    cones = lift_if_large(low, cones)      # after the base case is read: the lift's columns have no solution
    # the objective's value as a column z: z - objective == constant
    m = low.model
    z = m.add_variables(name="igdt.z")
    m.add_constraints(1 * z - low.objective_expr == low.objective_constant, name="igdt.value")
    m.add_objective(1 * z, overwrite=True)
    x_base = None
    relaxed_stats: list[dict] = []
    residents: list[Resident] = []
    rows = {}
    schedules: dict[tuple[str, float], Results] = {}
    ref = abs(B) if abs(B) > 1e-6 else 1.0       # the unit of the objective's column
    for mode in modes:
        t3 = time.perf_counter()
        res = Resident(low, time_limit, mip_gap, cones)
        residents.append(res)
        zc = int(np.atleast_1d(res.cols(z))[0])
        row_z = int(np.atleast_1d(res.rows(m.constraints["igdt.value"]))[0])
        if x_base is None:
            x_base = _solution(res)
        alpha, shift = _variant(res, mode, elements, row_z)
        solver = RelaxedFirst(res) if res.integers else res      # its relaxation first (studies/relaxed.py)
        if isinstance(solver, RelaxedFirst):
            relaxed_stats.append(solver.stats)
        res.set_coeff(row_z, zc, ref)              # the column holds z / |B|: costs and bounds near 1
        start = np.concatenate([x_base, np.zeros(res.n - len(x_base))])
        start[zc] = B / ref
        res._start = start
        res.set_costs([alpha, zc], [1.0 if mode == "opportunity" else -1.0, TIE_BREAK])
        timings[f"build_{mode}"] = time.perf_counter() - t3
        for b in budgets:
            target = B + b * abs(B) if mode == "robust" else B - b * abs(B)
            res.set_bounds([zc], -np.inf, target / ref)
            out = solver.solve()
            row = {"status": out.status, "target": target, "seconds": out.seconds, "alpha": np.nan,
                   "objective": np.nan, "nominal": np.nan, "capped": False}
            if out.ok:
                x = out.x
                a = max(0.0, float(x[alpha]))
                # at the forecast: the robust schedule is feasible there; an opportunity schedule uses the envelope's
                # best values, so it has no value at the forecast
                nominal = ref * float(x[zc]) - sum(c * float(x[col]) for col, c in shift) if mode == "robust" \
                    else np.nan
                row.update(alpha=a, objective=ref * float(x[zc]), nominal=nominal,
                           capped=mode == "robust" and a >= ROBUST_CAP - 1e-9)
                sched = res.results(x)
                sched.summary = {"model": ir.main_file, "study": "igdt", "mode": mode, "budget": b, "alpha": a,
                                 "status": out.status, "target": target / scale, "objective_unit": unit,
                                 "worst_case" if mode == "robust" else "best_case": ref * float(x[zc]) / scale,
                                 "at_forecast": nominal / scale, "costs": sched.costs,
                                 "instance_costs": sched.instance_costs(), "dt_h": ir.dt_h, "steps": ir.steps}
                schedules[(mode, b)] = sched
            elif mode == "opportunity" and out.status == "infeasible":
                row["status"] = "unattainable"
            rows[(mode, b)] = row
            say(f"{mode} {100 * b:g} %: " + (f"alpha {100 * row['alpha']:.4g} %" + (" (capped)" if row["capped"]
                                                                                      else "")
                                             if np.isfinite(row["alpha"]) else row["status"])
                + f" ({out.seconds:.2f} s)")
        timings[f"solve_{mode}"] = time.perf_counter() - t3 - timings[f"build_{mode}"]
    timings["total"] = time.perf_counter() - t0
    if any(r["status"] == "unattainable" for r in rows.values()):
        notes.append("opportunity: `unattainable` budgets cannot be reached whatever the uncertain profiles do")
    if any(r["capped"] for r in rows.values()):
        notes.append(f"robust: a radius of {ROBUST_CAP:g} (capped) means the budget holds even with the uncertain "
                     "profiles down to 0")
    curve = xr.Dataset(
        {key: (("mode", "budget"), np.array([[(rows[(m_, b)][key] / scale if key in ("target", "objective",
                                                                                       "nominal")
                                               else rows[(m_, b)][key]) for b in budgets] for m_ in modes],
                                            dtype=object if key == "status" else None))
         for key in ("alpha", "objective", "nominal", "target", "status", "capped", "seconds")},
        coords={"mode": modes, "budget": budgets})
    for key in ("alpha", "objective", "nominal", "target", "seconds"):
        curve[key] = curve[key].astype(float)
    curve["capped"] = curve["capped"].astype(bool)
    settings = {"time_limit": time_limit, "mip_gap": mip_gap, "robust_cap": ROBUST_CAP, "tie_break": TIE_BREAK,
                "elements": len(elements), "integers": bool(len(m.binaries) or len(m.integers))}
    if cones is not None:
        settings.update(cone_rounds=sum(r.cone_rounds for r in residents),
                        cone_tangents=sum(r.cone_cuts for r in residents))
    if relaxed_stats:
        settings["relaxation_first"] = {k: sum(s[k] for s in relaxed_stats) for k in relaxed_stats[0]}
    name = base.summary.get("objective_name", "cost")
    return IGDTResult(names, modes, budgets, B / scale, unit, name, curve, base, schedules, reach, notes, settings,
                      {k: round(v, 4) for k, v in timings.items()}, ir.main_file)


def _variant(res: Resident, mode: str, elements: list[Element], row_z: int):
    """Add the radius (and, for opportunity, the deviations beta[p, t]) to the resident model. Returns the radius
    column and, as (column, coefficient) pairs, what the objective's value z holds beyond the schedule's objective at
    the forecast (z = nominal + sum of coefficient * column)."""
    lower, upper = res.col_bounds()
    row_hi = res.row_bounds()[1]
    alpha = res.add_col(0.0, 0.0, ROBUST_CAP if mode == "robust" else np.inf)
    betas: dict[tuple[str, int], int] = {}
    if mode == "opportunity":
        keys = sorted({(p, e.t) for e in elements for p in e.slope})
        for key in keys:
            betas[key] = res.add_col(0.0, -np.inf, np.inf)
        res.add_rows(np.full(len(keys), -np.inf), np.zeros(len(keys)),          # beta - alpha <= 0
                     [[(betas[k], 1.0), (alpha, -1.0)] for k in keys])
        res.add_rows(np.zeros(len(keys)), np.full(len(keys), np.inf),           # beta + alpha >= 0
                     [[(betas[k], 1.0), (alpha, 1.0)] for k in keys])
    coef: dict[tuple[int, int], float] = {}         # (row, added column) -> coefficient
    new_lo, new_hi, entries = [], [], []
    for e in elements:
        if mode == "robust":
            worst = sum(abs(d) for d in e.slope.values())
            if e.kind == "upper":                  # x + |D| alpha <= ub
                entries.append([(e.position, 1.0), (alpha, worst)])
                new_lo.append(-np.inf)
                new_hi.append(upper[e.position])
            elif e.kind == "lower":                # x - |D| alpha >= lb
                entries.append([(e.position, 1.0), (alpha, -worst)])
                new_lo.append(lower[e.position])
                new_hi.append(np.inf)
            else:                                  # a <= row gains +|D| alpha, a >= row -|D| alpha; z gains |D| alpha
                row = e.position if e.kind == "row" else row_z
                sense = 1.0 if e.kind == "row" and np.isfinite(row_hi[e.position]) else -1.0
                coef[(row, alpha)] = coef.get((row, alpha), 0.0) + sense * worst
        else:
            terms = [(betas[(p, e.t)], -d) for p, d in e.slope.items()]
            if e.kind in ("upper", "lower"):       # x - D beta <= ub (or >= lb); the column's own bound freed
                entries.append([(e.position, 1.0)] + terms)
                new_lo.append(-np.inf if e.kind == "upper" else lower[e.position])
                new_hi.append(upper[e.position] if e.kind == "upper" else np.inf)
                res.set_bounds([e.position], lower[e.position] if e.kind == "upper" else -np.inf,
                               np.inf if e.kind == "upper" else upper[e.position])
            else:                                  # a row's (or z's) number n + D beta: -D beta on the left
                row = e.position if e.kind == "row" else row_z
                for col, c in terms:
                    coef[(row, col)] = coef.get((row, col), 0.0) + c
    res.add_rows(np.array(new_lo, dtype=float), np.array(new_hi, dtype=float), entries)
    for (row, col), c in coef.items():
        res.set_coeff(row, col, c)
    shift = [(col, -c) for (row, col), c in coef.items() if row == row_z]
    return alpha, shift
