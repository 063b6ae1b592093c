"""Rolling-horizon control (model predictive control): at each step k, solve over the window k .. k+W-1 with the
realized values of the uncertain profiles up to k and their forecast after, commit step k, move on.

One model of the whole horizon is built once and stays resident in HiGHS (mgdsl/studies/profiles.py); each step
changes only numbers:
- the committed past is fixed: every column of a step before k has both bounds at its committed value, so the
  state the templates carry through `x[t-1]` (a storage's energy, a unit's status, a ramp's last output) enters
  step k exactly as committed, with or without an `initial`;
- the future beyond the window is dropped: rows of steps k+W and later are relaxed (bounds -inf .. inf) and
  columns of those steps cost nothing, so they only keep their bounds; rows without a step (`e[last] >= ...`,
  `sum(...) <= ...`) stay, and bind once the window reaches what they name (a horizon-end condition applies when
  the window reaches the horizon's end);
- the uncertain profiles take their realized value at steps up to k and their forecast after.
The window shrinks at the horizon's end (k + W > N) by itself: there is nothing beyond. With a perfect forecast and
W = N the first solve is the full-horizon problem and every later one re-solves its tail with the past fixed, so
the committed schedule is optimal for the horizon (the test checks the objective)."""
from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..objective_values import add_objectives
from ..results import Results
from ..sema import units
from ..source import SourceFile
from .output import figure, plain, write_csv, write_json
from .profiles import ProfileModel, error, resident_model

Progress = Callable[[str], None]


# ---------------------------------------------------------------- inputs
def window_steps(window, steps: int, dt_h: float) -> int:
    """`4h`, `90min`, `4` or `4 steps` -> a whole number of steps from 1 to the horizon (E0823 otherwise)."""
    text = str(window).strip()
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)", text)
    help_ = f"give a duration (`4h`, `90min`) or a number of steps, from one step ({dt_h:g} h) to the horizon " \
            f"({steps} steps)"
    if m is None:
        raise error("E0823", f"`{text}` is not a window", None, "", help_)
    value, unit = float(m.group(1)), m.group(2)
    if unit in ("", "steps", "step"):
        n = value
    else:
        try:
            factor, dim = units.parse_unit(unit)
        except units.UnitError:
            raise error("E0823", f"`{text}`: `{unit}` is not a unit of time", None, "", help_) from None
        if dim != units.TIME:
            raise error("E0823", f"`{text}` is not a duration", None, "", help_)
        n = value * factor / dt_h
    if abs(n - round(n)) > 1e-9 * max(1.0, n) or round(n) < 1:
        raise error("E0823", f"a window of {text} is not a whole number of {dt_h:g} h steps", None, "", help_)
    if round(n) > steps:
        raise error("E0823", f"a window of {text} ({round(n)} steps) is longer than the horizon ({steps} steps)",
                    None, "", help_)
    return int(round(n))


def read_actual(path: str | Path, pm: ProfileModel) -> dict[str, np.ndarray]:
    """The realized values of the uncertain profiles from a CSV (header: profile names; one row per step; an
    optional `t` column), in each profile's declared unit, returned in canonical units. E0822 located in the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise error("E0822", f"cannot read the actual values {path}: {getattr(e, 'strerror', None) or e}", None, "",
                    "give a readable UTF-8 CSV file") from None
    src = SourceFile(str(path), text)
    lines = text.splitlines(keepends=True)
    starts = np.cumsum([0] + [len(x) for x in lines])
    if not lines:
        raise error("E0822", "the actual values file is empty", src.span(0, 0), "no header",
                    "its first line names the columns: the uncertain profiles (and optionally `t`)")
    header = next(csv.reader(io.StringIO(lines[0])))
    names = [h.strip() for h in header]
    head_span = src.span(0, len(lines[0].rstrip("\r\n")))
    for name in names:
        if name and name != "t" and name not in pm.ir.uncertain:
            have = ", ".join(f"`{n}`" for n in pm.ir.uncertain) or "none"
            raise error("E0822", f"column `{name}` of the actual values is not an uncertain profile", head_span,
                        "this header", f"name the columns after the uncertain profiles: {have}")
    for p in pm.names:
        if p not in names:
            raise error("E0822", f"the actual values have no column `{p}`", head_span, "this header",
                        f"add a column `{p}` with its realized value at each of the {pm.ir.steps} steps",
                        [(pm.ir.uncertain.get(p), "the uncertain profile")])
    body = [(i, line) for i, line in enumerate(lines[1:], start=1) if line.strip()]
    if len(body) != pm.ir.steps:
        where = src.span(int(starts[body[-1][0]]), int(starts[body[-1][0]]) + len(body[-1][1].rstrip("\r\n"))) \
            if body else head_span
        raise error("E0822", f"the actual values have {len(body)} rows but the horizon has {pm.ir.steps} steps",
                    where, "the last row", f"give one row per step ({pm.ir.steps})")
    out = {p: np.zeros(pm.ir.steps) for p in pm.names}
    for k, (i, line) in enumerate(body):
        cells = next(csv.reader(io.StringIO(line)))
        for p in pm.names:
            j = names.index(p)
            cell = cells[j] if j < len(cells) else ""
            try:
                value = float(cell)
                ok = np.isfinite(value) and value >= 0
            except ValueError:
                ok = False
            if not ok:
                col = _cell_start(line, j)
                raise error("E0822", f"row {k + 1} of column `{p}` is not a number of at least 0: `{cell.strip()}`",
                            src.span(int(starts[i]) + col, int(starts[i]) + col + max(len(cell), 1)), "this cell",
                            "give the realized value of the profile at that step, in its declared unit")
            out[p][k] = value * pm.unit[p][1]
    return out


def _cell_start(line: str, j: int) -> int:
    """The character offset of field j of a simple CSV line (no quoted commas)."""
    pos = 0
    for _ in range(j):
        nxt = line.find(",", pos)
        if nxt < 0:
            return len(line.rstrip("\r\n"))
        pos = nxt + 1
    return pos


# ---------------------------------------------------------------- the result
@dataclass
class MPCResult:
    """`results`: the committed schedule over the whole horizon in the form of a centralized solve; `steps`: one
    row per step (status, the window, seconds, the window's planned objective); `profiles`: forecast and actual per
    profile and step (in the profiles' declared units); `objective` realized; `hindsight`: the optimum had the
    actual values been known (one solve of the whole horizon), `forecast_plan`: the optimum at the forecast."""

    window: int
    profiles: list[str]
    objective_name: str
    unit: str
    results: Results | None
    steps: pd.DataFrame
    forecast_vs_actual: pd.DataFrame
    objective: float
    hindsight: float
    forecast_plan: float
    completed: bool
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    model: str = ""

    def to_json(self) -> dict:
        return plain({"study": "mpc", "model": self.model, "window_steps": self.window, "profiles": self.profiles,
                      "objective": self.objective_name, "unit": self.unit, "completed": self.completed,
                      "realized_objective": self.objective, "hindsight_objective": self.hindsight,
                      "forecast_objective": self.forecast_plan,
                      "regret": self.objective - self.hindsight, "timings_s": self.timings, "notes": self.notes,
                      "steps": self.steps.to_dict(orient="records")})

    def save(self, folder: str | Path) -> list[Path]:
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """mpc.json, steps.csv, forecast_vs_actual.csv, mpc.png and schedule/ (a results folder: CSV, netCDF)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [write_json(out / "mpc.json", self.to_json()), write_csv(out / "steps.csv", self.steps),
                   write_csv(out / "forecast_vs_actual.csv", self.forecast_vs_actual),
                   figure(out / "mpc.png", self.draw)]
        if self.results is not None:
            written += self.results.write_into(out / "schedule")
        return written

    def draw(self, new_figure):
        n = len(self.profiles)
        fig, axes = new_figure(n, 1, figsize=(7, 2.2 * n + 0.6))
        fa = self.forecast_vs_actual
        for ax, p in zip(np.ravel(axes), self.profiles):
            ax.plot(fa["t"], fa[f"{p}_forecast"], "C0--", label="forecast")
            ax.plot(fa["t"], fa[f"{p}_actual"], "C1-", label="actual")
            ax.set_ylabel(p)
            ax.grid(alpha=0.3)
        np.ravel(axes)[0].legend(fontsize=8)
        np.ravel(axes)[0].set_title(f"MPC, window {self.window} steps: {self.objective_name} {self.objective:,.6g} "
                                    f"{self.unit} (hindsight {self.hindsight:,.6g})", fontsize=10)
        np.ravel(axes)[-1].set_xlabel("t")
        return fig


# ---------------------------------------------------------------- the study
def mpc(system, window, actual: str | Path | Mapping[str, Sequence[float]], profiles: Sequence[str] | None = None,
        time_limit: float | None = None, mip_gap: float | None = None, progress: Progress | None = None) -> MPCResult:
    """Rolling-horizon control of the system over its horizon (module docstring). `window`: steps or a duration
    (`"4h"`); `actual`: a CSV path, or profile -> realized values per step in the declared unit; `profiles`: the
    uncertain profiles to realize (default: the CSV's columns, or every uncertain profile)."""
    say = progress or (lambda _: None)
    ir = system.ir
    W = window_steps(window, ir.steps, ir.dt_h)
    if profiles:
        names = list(profiles)
    elif isinstance(actual, Mapping):
        names = list(actual)
    elif isinstance(actual, (str, Path)):
        if not Path(actual).is_file():           # before the model is built
            raise error("E0822", f"cannot read the actual values {actual}: no such file", None, "",
                        "give the path of a CSV with one column per uncertain profile, one row per step")
        names = _csv_profiles(actual, ir)
    else:
        names = list(ir.uncertain)
    t0 = time.perf_counter()
    pm = resident_model(system, names, "the rolling horizon", time_limit, mip_gap, say)
    if isinstance(actual, Mapping):
        real = {}
        for p in names:
            if p not in actual:
                raise error("E0822", f"the actual values have no `{p}`", ir.uncertain.get(p), "uncertain profile",
                            f"give its realized value at each of the {ir.steps} steps")
            v = np.asarray(actual[p], dtype=float)
            if v.shape != (ir.steps,) or not np.all(np.isfinite(v)) or np.any(v < 0):
                raise error("E0822", f"the actual values of `{p}` must be {ir.steps} numbers of at least 0",
                            ir.uncertain.get(p), "uncertain profile", "one realized value per step")
            real[p] = v * pm.unit[p][1]
    else:
        real = read_actual(actual, pm)
    timings = {"build": time.perf_counter() - t0}
    H = ir.steps
    say(f"built the model once in {timings['build']:.1f} s; {H} steps, window {W} steps")
    col_t, row_t = pm.col_t, pm.row_t
    costs0 = pm.base["cost"]
    n = len(costs0)
    cols = np.arange(n, dtype=np.int32)
    committed = np.full(n, np.nan)
    rows, last_x, completed, notes = [], None, True, []
    t1 = time.perf_counter()
    tt = np.arange(H)
    last_costs = costs0
    for k in range(H):
        values = {p: np.where(tt <= k, real[p], pm.forecast[p]) for p in names}
        b = pm.bounds(values)
        past = (col_t >= 0) & (col_t < k)
        b["col_lower"][past] = committed[past]
        b["col_upper"][past] = committed[past]
        end = min(k + W, H)
        beyond = row_t >= end
        b["row_lower"][beyond] = -np.inf
        b["row_upper"][beyond] = np.inf
        pm.push(b)
        costs = np.where(col_t >= end, 0.0, costs0)
        changed = np.nonzero(costs != last_costs)[0]
        if len(changed):
            pm.res.set_costs(changed, costs[changed])
        last_costs = costs
        out = pm.res.solve()
        rows.append({"t": k, "window_end": end - 1, "status": out.status, "seconds": out.seconds,
                     "planned_objective": pm.objective() if out.ok else np.nan})
        if not out.ok:
            completed = False
            notes.append(f"step t={k}: the window's problem ended {out.status}; the run stops there (the realized "
                         "values left the committed past no feasible continuation)")
            say(notes[-1])
            break
        now = col_t == k
        committed[now] = out.x[now]
        last_x = out.x
        if (k + 1) % max(1, H // 8) == 0 and k + 1 < H:
            say(f"t={k} committed ({k + 1} of {H} steps, {time.perf_counter() - t1:.1f} s)")
    timings["steps"] = time.perf_counter() - t1
    objective = np.nan
    results = None
    if completed:
        committed[col_t < 0] = last_x[col_t < 0]       # values without a step: as the last window left them
        objective = (float(costs0 @ committed) + float(pm.low.objective_constant)) / pm.scale
        results = pm.res.results(committed)
    # the references: the whole horizon at once, knowing the actual values / at the forecast
    pm.res.set_costs(cols, costs0)
    refs = {}
    for key, vals in (("hindsight", real), ("forecast", pm.forecast)):
        pm.set_values(vals)
        o = pm.res.solve()
        refs[key] = pm.objective() if o.ok else np.nan
    if results is not None:
        results.summary = {"model": ir.main_file, "study": "mpc", "what": f"rolling horizon, window {W} steps",
                           "status": "optimal", "objective": objective * pm.scale, "currency": ir.currency,
                           "costs": results.costs, "instance_costs": results.instance_costs(), "dt_h": ir.dt_h,
                           "steps": ir.steps}
        add_objectives(ir, results)
    fa = {"t": tt}
    for p in names:
        fa[f"{p}_forecast"] = pm.forecast[p] / pm.unit[p][1]
        fa[f"{p}_actual"] = real[p] / pm.unit[p][1]
    timings["total"] = time.perf_counter() - t0
    result = MPCResult(W, names, ir.objective.name if ir.objective is not None else "cost",
                       ir.objective.unit if ir.objective is not None else ir.currency, results, pd.DataFrame(rows),
                       pd.DataFrame(fa), objective, refs["hindsight"], refs["forecast"], completed, notes, timings,
                       str(ir.main_file))
    if completed:
        say(f"realized {result.objective_name} {objective:,.6g} {result.unit}; with the actual values known ahead "
            f"{refs['hindsight']:,.6g}; {H} window solves in {timings['steps']:.1f} s")
    return result


def _csv_profiles(path, ir) -> list[str]:
    """The uncertain profiles a CSV's header names (every uncertain profile if it cannot be read: read_actual
    reports why)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = next(csv.reader([f.readline()]))
    except (OSError, UnicodeDecodeError, StopIteration):
        return list(ir.uncertain)
    names = [h.strip() for h in header if h.strip() in ir.uncertain]
    return names or list(ir.uncertain)


