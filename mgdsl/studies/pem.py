"""Point estimation of the objective, tie powers and bus voltages under the uncertain profiles' error laws: Hong's
2m+1 scheme (H. P. Hong, "An efficient point estimate method for probabilistic analysis", Reliability Engineering &
System Safety 59(3), 1998), checked by Monte Carlo on the same resident model.

The random inputs are the uncertain profiles' values, one per profile and step (m of them; steps whose forecast is
0 are certain): X = f[t] (1 + e) with e drawn from the profile's law (mean mu, standard deviation sigma, skewness
l3, kurtosis l4), independent between steps and profiles. For each input k, Hong's scheme evaluates the model at
two points X = f (1 + mu + xi sigma), xi = l3 / 2 +- sqrt(l4 - 3 l3^2 / 4), the others at their means, with weights
w = +-1 / (xi (xi1 - xi2)); the m centre points are one solve (all inputs at their means) of weight
sum_k (1/m - 1 / (l4 - l3^2)). Then E[Z^j] = sum of w Z(point)^j, j = 1, 2. For a normal law xi = +-sqrt(3) and
w = 1/6: exact for the mean and variance of any Z linear in the inputs.

Every solve changes only bounds of one model built once (mgdsl/studies/profiles.py), so each restarts from the
last basis (a MIP from the last point)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .output import figure, plain, write_csv, write_json
from .profiles import Outputs, ProfileModel, error, resident_model

Progress = Callable[[str], None]
NOTE_EVERY_S = 2.0                 # progress lines at most this often on long runs


@dataclass
class Input:
    profile: str
    t: int
    forecast: float                # canonical units
    mean: float                    # relative error's moments
    std: float
    skew: float
    kurt: float


def hong_points(inp: Input, m: int) -> tuple[list[float], list[float], float]:
    """The two relative deviations 1 + mu + xi sigma of input `inp`, their weights, and its centre weight."""
    root = np.sqrt(inp.kurt - 0.75 * inp.skew ** 2)
    xi = [inp.skew / 2 + root, inp.skew / 2 - root]
    w = [1 / (xi[0] * (xi[0] - xi[1])), -1 / (xi[1] * (xi[0] - xi[1]))]
    return [1 + inp.mean + x * inp.std for x in xi], w, 1 / m - 1 / (inp.kurt - inp.skew ** 2)


@dataclass
class PEMResult:
    """`inputs`: one row per random input; `points`: one row per solve (the centre, then two per input) with its
    weight, status and objective; `moments`: a Dataset with `objective_mean`/`_std`, `tie_import_mean`/`_std`
    (microgrid, t) and `voltage_mean`/`_std` (bus, t), and with Monte Carlo the same prefixed `mc_`;
    `monte_carlo`: its sample size, seed, timings and the errors of the point estimate against it."""

    profiles: list[str]
    objective_name: str
    unit: str
    inputs: pd.DataFrame
    points: pd.DataFrame
    moments: xr.Dataset
    monte_carlo: dict | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    model: str = ""

    @property
    def mean(self) -> float:
        return float(self.moments["objective_mean"])

    @property
    def std(self) -> float:
        return float(self.moments["objective_std"])

    def to_json(self) -> dict:
        data = {"study": "pem", "scheme": "Hong 2m+1 (Reliability Engineering & System Safety 59(3), 1998)",
                "model": self.model, "objective": self.objective_name, "unit": self.unit, "profiles": self.profiles,
                "inputs": len(self.inputs), "solves": len(self.points),
                "infeasible": int((self.points["status"] != "optimal").sum()) if len(self.points) else 0,
                "objective_mean": self.mean, "objective_std": self.std, "timings_s": self.timings,
                "notes": self.notes}
        for name in ("tie_import", "voltage"):
            if f"{name}_mean" in self.moments:
                data[f"{name}_std_max"] = float(self.moments[f"{name}_std"].max())
        if self.monte_carlo is not None:
            data["monte_carlo"] = self.monte_carlo
        return plain(data)

    def save(self, folder: str | Path) -> list[Path]:
        """Write the study's folder whole (written beside it and swapped in; E0701..E0703 as for results)."""
        from ..files import write_whole

        return write_whole(folder, self.write_into)

    def write_into(self, folder: str | Path) -> list[Path]:
        """pem.json, inputs.csv, points.csv, moments.csv (objective; ties and voltages per step, long form),
        moments.nc and pem.png."""
        from ..files import atomic_write
        from ..results import write_netcdf

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [write_json(out / "pem.json", self.to_json()), write_csv(out / "inputs.csv", self.inputs),
                   write_csv(out / "points.csv", self.points), write_csv(out / "moments.csv", self.table())]
        written.append(atomic_write(out / "moments.nc", lambda tmp: write_netcdf(self.moments, tmp)))
        if "tie_import_mean" in self.moments:
            written.append(figure(out / "pem.png", self.draw))
        return written

    def table(self) -> pd.DataFrame:
        """Long form: quantity, element (microgrid or bus), t, mean, std (and mc_mean, mc_std)."""
        rows = [{"quantity": "objective", "element": "", "t": "", "mean": self.mean, "std": self.std}]
        if self.monte_carlo is not None:
            rows[0].update(mc_mean=float(self.moments["mc_objective_mean"]),
                           mc_std=float(self.moments["mc_objective_std"]))
        frames = [pd.DataFrame(rows)]
        for name, dim in (("tie_import", "microgrid"), ("voltage", "bus")):
            if f"{name}_mean" not in self.moments:
                continue
            cols = {"mean": self.moments[f"{name}_mean"], "std": self.moments[f"{name}_std"]}
            if f"mc_{name}_mean" in self.moments:
                cols.update(mc_mean=self.moments[f"mc_{name}_mean"], mc_std=self.moments[f"mc_{name}_std"])
            df = xr.Dataset(cols).to_dataframe().reset_index().rename(columns={dim: "element"})
            df.insert(0, "quantity", name)
            frames.append(df[["quantity", "element", "t", *cols]])
        return pd.concat(frames, ignore_index=True)

    def draw(self, new_figure):
        ties = self.moments["microgrid"].values
        fig, axes = new_figure(len(ties), 1, figsize=(7, 2.2 * len(ties) + 0.6))
        t = self.moments["t"].values
        for ax, mg in zip(np.ravel(axes), ties):
            mean = self.moments["tie_import_mean"].sel(microgrid=mg).values
            std = self.moments["tie_import_std"].sel(microgrid=mg).values
            ax.fill_between(t, mean - std, mean + std, alpha=0.3, label="PEM mean ± std")
            ax.plot(t, mean, "C0-")
            if "mc_tie_import_mean" in self.moments:
                ax.plot(t, self.moments["mc_tie_import_mean"].sel(microgrid=mg).values, "k:", label="Monte Carlo")
            ax.set_ylabel(f"{mg} import (kW)")
            ax.grid(alpha=0.3)
        np.ravel(axes)[0].legend(fontsize=8)
        np.ravel(axes)[0].set_title(f"PEM: {self.objective_name} {self.mean:,.6g} ± {self.std:,.4g} {self.unit}",
                                    fontsize=10)
        np.ravel(axes)[-1].set_xlabel("t")
        return fig


# ---------------------------------------------------------------- the study
def _inputs(pm: ProfileModel) -> list[Input]:
    out = []
    for p in pm.names:
        mu, sd, l3, l4 = pm.ir.laws[p].moments()
        for t, f in enumerate(pm.forecast[p]):
            if f != 0 and sd > 0:
                out.append(Input(p, t, float(f), mu, sd, l3, l4))
    return out


class _Runner:
    """Solves the resident model at given profile values and collects the outputs."""

    def __init__(self, pm: ProfileModel, say: Progress, label: str, total: int):
        self.pm, self.say, self.label, self.total = pm, say, label, total
        self.outputs = Outputs(pm)
        self.done = 0
        self.t0 = self.last = time.perf_counter()

    def __call__(self, values: dict[str, np.ndarray]) -> tuple[str, float, dict, float]:
        self.pm.set_values(values)
        out = self.pm.res.solve()
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= NOTE_EVERY_S and self.done < self.total:
            rate = (now - self.t0) / self.done
            self.say(f"{self.label}: {self.done}/{self.total} solves, about {rate * (self.total - self.done):.0f} s "
                     "left")
            self.last = now
        if not out.ok:
            return out.status, float("nan"), {}, out.seconds
        return "optimal", self.pm.objective(), self.outputs.read(out.x), out.seconds


def pem(system, profiles: Sequence[str] | None = None, monte_carlo: int = 0, seed: int = 0,
        time_limit: float | None = None, mip_gap: float | None = None, progress: Progress | None = None) -> PEMResult:
    """Hong's 2m+1 point estimate of the objective, tie imports and bus voltages (module docstring) over the
    uncertain profiles with an error law (`profiles`: some of them; default all). `monte_carlo` > 0 also draws that
    many samples on the same model and reports the point estimate's errors against them and the speed-up."""
    say = progress or (lambda _: None)
    ir = system.ir
    with_law = [p for p in ir.uncertain if p in ir.laws]
    names = list(profiles) if profiles else (with_law or list(ir.uncertain))
    if not names:
        raise error("E0821", "the system has no uncertain profile with an error law", None, "",
                    "declare one, e.g. `uncertain profile wind_pu normal(15 %) = csv(...)`, or "
                    "`... errors(csv(\"errors.csv\", \"COLUMN\")) = ...`")
    for p in names:
        if p in ir.uncertain and p not in ir.laws:
            raise error("E0821", f"uncertain profile `{p}` has no error law", ir.uncertain[p],
                        "declared uncertain here",
                        f"the point estimate needs its distribution: `uncertain profile {p} normal(15 %) = ...`")
    if int(monte_carlo) != monte_carlo or (monte_carlo and monte_carlo < 2):
        raise error("E0823", f"a Monte Carlo sample of {monte_carlo} draws", None, "",
                    "give --monte-carlo 2 or more (a few hundred for a mean within a few per mille)")
    t0 = time.perf_counter()
    pm = resident_model(system, names, "the point estimate", time_limit, mip_gap, say)
    timings = {"build": time.perf_counter() - t0}
    inputs = _inputs(pm)
    m = len(inputs)
    say(f"built the model once in {timings['build']:.1f} s; {m} random inputs ({', '.join(names)}), "
        f"{2 * m + 1} solves")
    notes: list[str] = []
    mean_values = {p: pm.forecast[p] * (1 + pm.ir.laws[p].moments()[0]) for p in names}
    run = _Runner(pm, say, "point estimate", 2 * m + 1)
    t1 = time.perf_counter()
    rows, zs = [], []
    status, obj, outs, sec = run(mean_values)
    centre_w = 0.0
    rows.append({"profile": "", "t": -1, "point": "centre", "value": np.nan, "weight": 0.0, "status": status,
                 "objective": obj, "seconds": sec})
    zs.append((obj, outs))
    clipped = 0
    for inp in inputs:
        devs, ws, w0 = hong_points(inp, m)
        centre_w += w0
        for k, (d, w) in enumerate(zip(devs, ws)):
            if d < 0:
                clipped += 1
                d = 0.0
            values = dict(mean_values)
            values[inp.profile] = mean_values[inp.profile].copy()
            values[inp.profile][inp.t] = inp.forecast * d
            status, obj, outs, sec = run(values)
            rows.append({"profile": inp.profile, "t": inp.t, "point": f"x{k + 1}", "value": inp.forecast * d,
                         "weight": w, "status": status, "objective": obj, "seconds": sec})
            zs.append((obj, outs))
    rows[0]["weight"] = centre_w
    timings["pem"] = time.perf_counter() - t1
    if clipped:
        notes.append(f"{clipped} point(s) below 0 were taken at 0 (a skewed error sample): the estimate is approximate")
    points = pd.DataFrame(rows)
    weights = points["weight"].to_numpy()
    failed = int((points["status"] != "optimal").sum())
    if failed:
        notes.append(f"{failed} of {len(points)} solves ended without a solution: the moments are not defined (NaN)")
    moments = _moments(pm, zs, weights, failed > 0)
    result = PEMResult(names, ir.objective.name if ir.objective is not None else "cost",
                       ir.objective.unit if ir.objective is not None else ir.currency,
                       pd.DataFrame([vars(i) for i in inputs], columns=list(Input.__dataclass_fields__)), points,
                       moments, notes=notes, timings=timings, model=str(ir.main_file))
    say(f"point estimate: {result.objective_name} {result.mean:,.6g} ± {result.std:,.4g} {result.unit} "
        f"({2 * m + 1} solves, {timings['pem']:.1f} s)")
    if monte_carlo:
        _monte_carlo(pm, result, int(monte_carlo), seed, mean_values, say)
    timings["total"] = time.perf_counter() - t0
    return result


def _coords(pm: ProfileModel, outputs: Outputs) -> dict:
    """The outputs the system has: name -> (dims, coords)."""
    steps = np.arange(pm.ir.steps)
    out = {}
    if outputs.ties is not None:
        out["tie_import"] = (("microgrid", "t"), {"microgrid": outputs.ties, "t": steps})
    if outputs.buses is not None:
        out["voltage"] = (("bus", "t"), {"bus": outputs.buses, "t": steps})
    return out


def _moments(pm: ProfileModel, zs, weights: np.ndarray, undefined: bool) -> xr.Dataset:
    obj = np.array([z[0] for z in zs])
    mean = float(weights @ obj)
    std = float(np.sqrt(max(0.0, weights @ obj ** 2 - mean ** 2)))
    data = {"objective_mean": xr.DataArray(np.nan if undefined else mean),
            "objective_std": xr.DataArray(np.nan if undefined else std)}
    for name, (dims, coords) in _coords(pm, Outputs(pm)).items():
        shape = (len(coords[dims[0]]), len(coords["t"]))
        if undefined:
            mu = sd = np.full(shape, np.nan)
        else:
            stack = np.stack([z[1][name] for z in zs])
            mu = np.tensordot(weights, stack, axes=1)
            sd = np.sqrt(np.clip(np.tensordot(weights, stack ** 2, axes=1) - mu ** 2, 0, None))
        data[f"{name}_mean"] = xr.DataArray(mu, coords, dims)
        data[f"{name}_std"] = xr.DataArray(sd, coords, dims)
    return xr.Dataset(data)


def _monte_carlo(pm: ProfileModel, result: PEMResult, n: int, seed: int, mean_values: dict, say: Progress) -> None:
    """Draw `n` samples of every input, solve each on the same model; add mc_ moments and the comparison."""
    rng = np.random.default_rng(seed)
    steps = pm.ir.steps
    draws = {}
    for p in pm.names:
        law = pm.ir.laws[p]
        e = rng.normal(0.0, law.rel_std, (n, steps)) if law.sample is None else rng.choice(law.sample, (n, steps))
        draws[p] = pm.forecast[p] * np.clip(1 + e, 0, None)
    run = _Runner(pm, say, "Monte Carlo", n)
    t0 = time.perf_counter()
    objs, outs, failed = [], [], 0
    for i in range(n):
        status, obj, out, _ = run({p: draws[p][i] for p in pm.names})
        if status != "optimal":
            failed += 1
            continue
        objs.append(obj)
        outs.append(out)
    seconds = time.perf_counter() - t0
    ok = len(objs)
    mom = result.moments
    if ok >= 2:
        mom["mc_objective_mean"] = xr.DataArray(float(np.mean(objs)))
        mom["mc_objective_std"] = xr.DataArray(float(np.std(objs, ddof=1)))
        for name, (dims, coords) in _coords(pm, Outputs(pm)).items():
            if name in outs[0]:
                stack = np.stack([o[name] for o in outs])
                mom[f"mc_{name}_mean"] = xr.DataArray(stack.mean(0), coords, dims)
                mom[f"mc_{name}_std"] = xr.DataArray(stack.std(0, ddof=1), coords, dims)
    comparison = {"samples": n, "seed": seed, "solved": ok, "infeasible": failed, "seconds": seconds,
                  "pem_seconds": result.timings["pem"], "pem_solves": len(result.points),
                  "speedup": seconds / result.timings["pem"] if result.timings["pem"] > 0 else None}
    if ok >= 2:
        mc_mean, mc_std = float(mom["mc_objective_mean"]), float(mom["mc_objective_std"])
        comparison.update(
            objective_mean=mc_mean, objective_std=mc_std,
            objective_mean_standard_error=mc_std / np.sqrt(ok),
            error_objective_mean=abs(result.mean - mc_mean) / abs(mc_mean) if mc_mean else abs(result.mean),
            error_objective_std=abs(result.std - mc_std) / mc_std if mc_std else abs(result.std))
        for name, unit in (("tie_import", "kW"), ("voltage", "pu")):
            if f"mc_{name}_mean" in mom:
                comparison[f"error_{name}_mean_max_{unit}"] = float(np.nanmax(np.abs(
                    mom[f"{name}_mean"] - mom[f"mc_{name}_mean"])))
                comparison[f"error_{name}_std_max_{unit}"] = float(np.nanmax(np.abs(
                    mom[f"{name}_std"] - mom[f"mc_{name}_std"])))
    result.monte_carlo = comparison
    if failed:
        result.notes.append(f"Monte Carlo: {failed} of {n} samples had no solution and are left out")
    if ok >= 2:
        say(f"Monte Carlo ({n} samples, {seconds:.1f} s): {comparison['objective_mean']:,.6g} ± "
            f"{comparison['objective_std']:,.4g}; point estimate off by {100 * comparison['error_objective_mean']:.3g} "
            f"% (mean), {100 * comparison['error_objective_std']:.3g} % (std); {comparison['speedup']:.1f}x faster")
