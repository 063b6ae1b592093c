"""Where uncertain profiles enter a built model, number by number and step by step, so that a study (pem, mpc)
gives them new values on one resident HiGHS model instead of rebuilding it.

The program is checked and lowered three times per profile: at the forecast f, at f + 1 and at f + w (w a
different weight at each step). Every column bound and row bound that moves is a number n + D (u[t] - f[t]) of
the profile's value u at the step t of its column or row: the f + w lowering confirms it (a number that moves
otherwise enters nonlinearly or at other steps). A profile that changes a coefficient of the matrix or of the
objective, the objective's constant, or the model's shape is refused (E0821): only a rebuilt model follows it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..diagnostics import Diagnostic, Label, MgdError
from ..highs import column_positions, from_linopy, row_positions, set_option
from ..lower.system import Lowered, lower_system
from ..sema import units
from ..sema.system import SystemChecker, check_program
from ..syntax import ast
from .resident import Resident

BOUNDS = ("col_lower", "col_upper", "row_lower", "row_upper")


def error(code: str, message: str, span=None, label: str = "", help_: str = "", secondary=(),
          notes=()) -> MgdError:
    return MgdError([Diagnostic(code, message, span, label, secondary=[Label(s, t) for s, t in secondary if s],
                                notes=list(notes), help=help_)])


def _numbers(low: Lowered, h=None) -> dict[str, np.ndarray]:
    lp = (h or from_linopy(low.model)).getLp()
    a = lp.a_matrix_
    return {"col_lower": np.asarray(lp.col_lower_, float), "col_upper": np.asarray(lp.col_upper_, float),
            "row_lower": np.asarray(lp.row_lower_, float), "row_upper": np.asarray(lp.row_upper_, float),
            "cost": np.asarray(lp.col_cost_, float), "a_start": np.asarray(a.start_), "a_index": np.asarray(a.index_),
            "a_value": np.asarray(a.value_, float), "constant": np.array([low.objective_constant])}


def _steps(low: Lowered, n_cols: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The step of each column and row of the HiGHS model (-1: none, as a variable or a row not indexed by t)."""
    m = low.model
    col_t, row_t = np.full(n_cols, -1), np.full(n_rows, -1)
    for items, out, where in ((m.variables, col_t, column_positions), (m.constraints, row_t, row_positions)):
        for _, item in items.items():
            labels = item.labels
            if "t" not in labels.dims:
                continue
            pos = where(m, np.asarray(labels.values))
            t = np.broadcast_to(np.asarray(labels["t"].values).reshape(
                [-1 if d == "t" else 1 for d in labels.dims]), pos.shape)
            keep = pos >= 0
            out[pos[keep]] = t[keep]
    return col_t, row_t


@dataclass
class Entry:
    """The numbers one profile moves in one bound vector: positions, their change per unit of the profile's value
    and the step whose value moves them."""

    index: np.ndarray
    slope: np.ndarray
    t: np.ndarray


class ProfileModel:
    """The system's model resident in HiGHS with its own objective, and for each profile of `names` the numbers it
    moves. `forecast[p]` is the profile's forecast per step in canonical units, `unit[p]` (text, factor) its
    declared unit. `set_values({p: u})` gives the profiles new values (canonical units, one per step)."""

    def __init__(self, system, names: Sequence[str], study: str, time_limit: float | None = None,
                 mip_gap: float | None = None, say=None):
        say = say or (lambda _: None)
        program = system._program
        if program is None:
            raise ValueError("this System was built without its program; load it with mgdsl.load or mgdsl.loads")
        ir = system.ir
        self.ir = ir
        self.names = list(names)
        decl = {i.name: i for m in program.modules + [program.main] for i in m.items if isinstance(i, ast.Profile)}
        for name in self.names:
            if name not in ir.uncertain:
                have = ", ".join(f"`{n}`" for n in ir.uncertain) or "none"
                raise error("E0821", f"`{name}` is not an uncertain profile of this system",
                            decl[name].name_span if name in decl else None,
                            "declared certain here" if name in decl else "",
                            f"declare it `uncertain profile {name} ... = ...`; uncertain profiles: {have}")
        checker = SystemChecker(program)
        checker.check()
        steps = ir.steps
        self.forecast = {p: np.broadcast_to(np.asarray(checker.env[p].value, float), (steps,)).copy()
                         for p in self.names}
        self.unit = {}
        for p in self.names:
            u = decl[p].unit
            self.unit[p] = (u, units.parse_unit(u)[0]) if u else ("", 1.0)
        self.decl = {p: decl[p] for p in self.names}
        self.low = lower_system(ir)
        self.res = Resident(self.low, time_limit, mip_gap)
        self.res.set_costs(np.arange(self.res.n), self.res.original_costs)    # the model's own objective
        base = _numbers(self.low, self.res.h)
        base["cost"] = self.res.original_costs.copy()
        self.base = base
        self.col_t, self.row_t = _steps(self.low, len(base["col_lower"]), len(base["row_lower"]))
        self.entries: dict[str, dict[str, Entry]] = {}
        w = 0.5 + np.arange(steps) / max(steps, 1)                # a different weight at each step
        for p in self.names:
            say(f"finding where `{p}` enters the model")
            one = self._lowered(program, {p: 1.0}, p, study)
            pattern = self._lowered(program, {p: w}, p, study)
            self.entries[p] = {}
            for kind in BOUNDS:
                self._entry(p, kind, study, one, pattern, w)
        self.values = {p: self.forecast[p].copy() for p in self.names}

    def _entry(self, p: str, kind: str, study: str, one: dict, pattern: dict, w: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):           # inf - inf where a bound is infinite in both
            b, d1, dw = self.base[kind], one[kind], pattern[kind]
            fin = np.isfinite(b)
            if not (np.array_equal(fin, np.isfinite(d1)) and np.array_equal(fin, np.isfinite(dw))):
                raise self._refuse(p, study, "makes a bound appear or disappear")
            D = np.where(fin, np.nan_to_num(d1 - b), 0.0)
            t = self.col_t if kind.startswith("col") else self.row_t
            idx = np.nonzero(np.abs(D) > 1e-12 * (1 + np.abs(np.where(fin, b, 0))))[0]
            moved = np.where(fin, np.nan_to_num(dw - b), 0.0)
            expect = np.zeros_like(D)
            expect[idx] = D[idx] * np.where(t[idx] >= 0, w[np.maximum(t[idx], 0)], np.nan)
            tol = 1e-7 * (1 + np.abs(np.where(fin, b, 0)) + np.abs(D))
            if np.any(t[idx] < 0) or not np.all(np.abs(moved - expect) <= tol):
                raise self._refuse(p, study, "enters nonlinearly or at other steps than its own (`max`, `mean`, "
                                             "`sum` of the series)")
            self.entries[p][kind] = Entry(idx, D[idx], t[idx])

    def _lowered(self, program, offsets: dict, p: str, study: str) -> dict[str, np.ndarray]:
        try:
            ir = check_program(program, None, offsets)
        except MgdError as err:
            first = err.diagnostics[0]
            raise error("E0821", f"the model does not check with uncertain profile `{p}` moved",
                        self.ir.uncertain.get(p), "declared uncertain here",
                        f"{study} moves the profile away from its forecast, so the model must hold there too",
                        [(first.span, first.label)], [f"{first.code}: {first.message}"]) from None
        nums = _numbers(lower_system(ir))
        base = self.base
        if any(len(nums[k]) != len(base[k]) for k in nums):
            raise self._refuse(p, study, "changes the shape of the model")
        if not (np.array_equal(nums["a_start"], base["a_start"]) and np.array_equal(nums["a_index"], base["a_index"])
                and np.allclose(nums["a_value"], base["a_value"], rtol=1e-12, atol=0)
                and np.allclose(nums["cost"], base["cost"], rtol=1e-12, atol=0)):
            raise self._refuse(p, study, "multiplies a variable (a coefficient of a constraint or of the objective)")
        if not np.allclose(nums["constant"], base["constant"], rtol=1e-12, atol=1e-12):
            raise self._refuse(p, study, "enters a cost without variables (the objective's constant)")
        return nums

    def _refuse(self, p: str, study: str, what: str) -> MgdError:
        return error("E0821", f"uncertain profile `{p}` {what}: {study} cannot change it in a built model",
                     self.ir.uncertain.get(p), "declared uncertain here",
                     "the study sets new values of a profile that bounds variables or sets right-hand sides (an "
                     "availability, a load); keep this profile certain")

    # ------------------------------------------------------------------ values
    def bounds(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The four bound vectors with the profiles at `values` (canonical units, one per step)."""
        out = {k: self.base[k].copy() for k in BOUNDS}
        for p, u in values.items():
            delta = np.asarray(u, float) - self.forecast[p]
            for kind, e in self.entries[p].items():
                np.add.at(out[kind], e.index, e.slope * delta[e.t])
        return out

    def push(self, b: dict[str, np.ndarray]) -> None:
        """Give HiGHS these bound vectors: only the columns and rows whose bounds differ from the last ones given
        (the fewer changes, the closer the last basis stays to the new optimum)."""
        h = self.res.h
        last = getattr(self, "_pushed", None) or self.base
        for what, lo, hi in (("col", "col_lower", "col_upper"), ("row", "row_lower", "row_upper")):
            idx = np.nonzero((b[lo] != last[lo]) | (b[hi] != last[hi]))[0].astype(np.int32)
            if len(idx):
                change = h.changeColsBounds if what == "col" else h.changeRowsBounds
                change(len(idx), idx, b[lo][idx], b[hi][idx])
        self._pushed = {k: b[k].copy() for k in BOUNDS}

    def set_values(self, values: dict[str, np.ndarray]) -> None:
        self.values = {p: np.asarray(values.get(p, self.forecast[p]), float) for p in self.names}
        self.push(self.bounds(self.values))

    @property
    def scale(self) -> float:
        """Canonical units per unit of the minimized objective (`objective l: MWh = losses`: 1000)."""
        return self.ir.objective.scale if self.ir.objective is not None else 1.0

    def objective(self) -> float:
        """The model's objective at HiGHS's last solution (its constant included), in the objective's unit."""
        return (float(self.res.h.getInfo().objective_function_value) + float(self.low.objective_constant)) \
            / self.scale


def resident_model(system, names: Sequence[str], study: str, time_limit: float | None = None,
                   mip_gap: float | None = None, say=None) -> ProfileModel:
    """The system's ProfileModel for these profiles, built on first use and kept on the System: a second study (or
    another window, another sample) re-uses the resident model, reset to the forecast and the model's objective."""
    cache = system.__dict__.setdefault("_profile_models", {})
    key = tuple(names)
    pm = cache.get(key)
    if pm is None:
        pm = cache[key] = ProfileModel(system, names, study, time_limit, mip_gap, say)
        return pm
    pm.res.time_limit = time_limit
    if mip_gap is not None:
        set_option(pm.res.h, "mip_rel_gap", float(mip_gap))
    pm.res.set_costs(np.arange(len(pm.base["cost"])), pm.base["cost"])
    pm.set_values(pm.forecast)
    return pm


class Outputs:
    """The quantities the studies report, read from a solution vector: tie imports (microgrid, t) and bus voltage
    magnitudes (bus, t), when the system has them."""

    def __init__(self, pm: ProfileModel):
        low, res = pm.low, pm.res
        self.ties = self.buses = None
        self._tie_pos = self._v_pos = None
        if low.ties:
            var = low.ties.get("mg") if "mg" in low.ties else low.ties["net"]
            self._tie_pos = res.cols(var)
            self.ties = [str(x) for x in var.labels["tie"].values]
        if low.network is not None:
            self._v_pos = res.cols(low.network.v)
            self.buses = [int(b) if str(b).isdigit() else str(b) for b in low.network.v.labels["bus"].values]

    def read(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        if self._tie_pos is not None:
            out["tie_import"] = np.where(self._tie_pos >= 0, x[np.maximum(self._tie_pos, 0)], 0.0)
        if self._v_pos is not None:
            out["voltage"] = np.sqrt(np.clip(x[self._v_pos], 0, None))
        return out
