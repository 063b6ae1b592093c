"""The Python API: `mgdsl.load(path)` -> System, with .check(), .lower(), .write(), .solve()."""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .ir import SystemIR
from .sema.files import FileAccess
from .sema.loader import load_program, read_source, source_from_text
from .sema.system import check_program
from .source import SourceFile
from .syntax.parser import paused_gc

# Lowering, solving and results import linopy (with xarray, pandas, scipy: ~0.7 s): only the methods that need
# them import them, so that `mgdsl check` and loading a model stay fast (tests/test_imports.py).
if TYPE_CHECKING:
    from .lower.system import Lowered
    from .results import Results


@dataclass
class System:
    """A checked .mgd system. Lowering and solving happen on demand."""

    ir: SystemIR
    timings: dict[str, float] = field(default_factory=dict)
    _lowered: Lowered | None = None
    _main_span: object = None
    _program: object = None          # the parsed program, checked again by studies (IGDT scales a profile)
    _window: object = None           # a step window (sema/window.py): the full system over those steps
    _full_ir: object = None          # with a window: the system over its whole horizon

    @property
    def name(self) -> str:
        return Path(self.ir.main_file).stem

    @property
    def warnings(self) -> list:
        """The check's warnings (Diagnostics with a W code): the model is valid and solves, but may not mean
        what it says (reactive power kept inside a microgrid, W0501)."""
        return self.ir.warnings

    def lower(self, solver_cones: bool = False) -> Lowered:
        """The centralized model. `solver_cones`: the network's cones may stay described for a solver that takes
        them (distflow_socp's `cones = lazy | exact`); otherwise (a model handed to users or written to a file)
        they are written as the polyhedral lift, also into a model lowered before without it."""
        if self._lowered is not None and not solver_cones:
            net = self._lowered.network
            if net is not None and net.cones is not None:
                net.cones.lift()
                net.cones = None
        if self._lowered is None:
            if not any(self.ir.instances.values()) and self.ir.network is None:
                from .diagnostics import Diagnostic, MgdError

                raise MgdError([Diagnostic(
                    "E0505", "this file defines templates but no system to compile",
                    self._main_span, "a library file",
                    help="`use` it from a system file with microgrids or a network; `mgdsl check` checks it alone")])
            from .lower.system import lower_system

            _without_dask_arrays()
            t0 = time.perf_counter()
            self._lowered = lower_system(self.ir, solver_cones=solver_cones)
            self.timings["lower"] = time.perf_counter() - t0
        return self._lowered

    @property
    def model(self):
        """The centralized linopy model."""
        return self.lower().model

    def size(self) -> dict[str, int]:
        m = (self._lowered or self.lower()).model          # as lowered (a lazy solve's model has no lift)
        return {"variables": int(m.nvars), "constraints": int(m.ncons),
                "binaries": int(sum(v.labels.size for _, v in m.binaries.items())),
                "integers": int(sum(v.labels.size for _, v in m.integers.items())),
                "quadratic": bool(m.is_quadratic)}

    def write(self, path: str | Path) -> Path:
        """Write the centralized model as an LP or MPS file (by extension), with .mgd-derived names."""
        path = Path(path)
        if path.suffix.lower() not in (".lp", ".mps"):
            raise ValueError(f"unknown model file type {path.suffix!r}: use .lp or .mps")
        from .files import atomic_write
        from .lower.export import write_model

        model = self.model
        return atomic_write(path, lambda tmp: write_model(model, tmp))

    def solve(self, time_limit: float | None = None, mip_gap: float | None = None,
              mip_prices: bool = False, cones: str | None = None) -> Results:
        """Solve centrally. `cones` (lazy, lift, exact) overrides the network's `cones` setting (distflow_socp)."""
        from .lower.formulations.distflow_socp import cone_mode, cones_override
        from .objective_values import add_objectives
        from .results import collect
        from .solve.centralized import solve_lowered

        mode = cones_override(cones) or (cone_mode(self.ir.network) if self.ir.network is not None else "lift")
        low = self.lower(solver_cones=mode != "lift")
        info = solve_lowered(low, time_limit=time_limit, mip_gap=mip_gap, mip_prices=mip_prices, cones=mode)
        self.timings["solve"] = info.solve_seconds
        if low.price_seconds:
            self.timings["mip_prices"] = low.price_seconds
        t0 = time.perf_counter()
        results = collect(low)
        self.timings["results"] = time.perf_counter() - t0
        results.summary = self._summary(info.objective, info.termination, results.costs)
        results.summary["instance_costs"] = results.instance_costs()
        _add_reserve_summary(results)
        if info.mip_gap is not None:
            # relative gap to HiGHS's best bound: within mip_rel_gap when optimal, larger at "time limit (feasible)"
            results.summary["mip_gap"] = info.mip_gap
        results.summary["size"] = self.size()
        add_network_figures(results)
        add_objectives(self.ir, results)
        return results

    # ------------------------------------------------------------------ studies (mgdsl/studies, docs/studies.md)
    def window(self, steps) -> System:
        """The system over steps FIRST..LAST of its horizon (`"16..19"`, `(16, 19)`, counted from 0 as `t` in
        results), as if its horizon were those steps (mgdsl/sema/window.py, docs/studies.md#step-windows)."""
        from .sema.window import windowed

        return windowed(self, steps)

    def checked_with(self, profile_scales: dict) -> SystemIR:
        """The system checked again with these uncertain profiles multiplied (name -> a factor, or one per step)."""
        if self._program is None:
            raise ValueError("this System was built without its program; load it with mgdsl.load or mgdsl.loads")
        if self._window is None:
            return check_program(self._program, profile_scales)
        from .sema.window import full_scales, window_ir

        return window_ir(check_program(self._program, full_scales(profile_scales, self._window)), self._window,
                         self._program)

    def pareto(self, minimize: str, bound, points: int = 10, **options):
        """The epsilon-constraint Pareto front of `minimize` against the objectives in `bound`, with fuzzy
        memberships and the min-max compromise: a ParetoFront (mgdsl/studies/pareto.py)."""
        from .studies.pareto import pareto

        return pareto(self, minimize, [bound] if isinstance(bound, str) else list(bound), points, **options)

    def igdt(self, uncertain=None, budgets=(0.02, 0.05, 0.1), **options):
        """Information-gap robustness (and opportunity) of the objective against the uncertain profiles, one
        uncertainty radius per cost budget: an IGDTResult (mgdsl/studies/igdt.py)."""
        from .studies.igdt import igdt

        return igdt(self, [uncertain] if isinstance(uncertain, str) else uncertain, list(budgets), **options)

    def pem(self, profiles=None, monte_carlo: int = 0, **options):
        """Hong's 2m+1 point estimate of the mean and standard deviation of the objective, tie powers and bus
        voltages under the uncertain profiles' error laws, with an optional Monte Carlo check: a PEMResult
        (mgdsl/studies/pem.py, docs/uncertainty.md)."""
        from .sema.window import refuse

        refuse(self, "pem")
        from .studies.pem import pem

        return pem(self, [profiles] if isinstance(profiles, str) else profiles, monte_carlo, **options)

    def mpc(self, window, actual, profiles=None, **options):
        """Rolling-horizon control over the horizon with a window (steps or "4h"), realized values from `actual`
        (a CSV path or profile -> values): an MPCResult (mgdsl/studies/mpc.py, docs/uncertainty.md)."""
        from .sema.window import refuse

        refuse(self, "mpc")
        from .studies.mpc import mpc

        return mpc(self, window, actual, [profiles] if isinstance(profiles, str) else profiles, **options)

    def capability(self, tolerance: float = 0.05, hours=None, **options):
        """The interchange capability of every tied microgrid: per step, the range of its tie power within
        `tolerance` of its own economic dispatch's cost (PIC) and the network's correction of those ranges (AIC),
        optionally under the uncertain profiles (`pem=True`): a CapabilityResult (mgdsl/studies/capability.py,
        docs/capability.md)."""
        from .sema.window import refuse

        refuse(self, "capability")
        from .studies.capability import capability

        return capability(self, tolerance, None if hours is None else [int(h) for h in hours], **options)

    def arbitrate(self, commands, at: int = 0, events=None, options=None):
        """Supervisory arbitration of candidate commands (a CSV/JSON path or Commands) at step `at`, after the
        disturbances of `events`: an Arbitration (mgdsl/studies/arbitrate.py, docs/arbitration.md)."""
        from .studies.arbitrate import arbitrate

        return arbitrate(self, commands, at, events, options)

    def simulate(self, events, control: str = "ccmac", options=None, commands=None):
        """Step the events under `control` (ccmac | oohc | droop) on the quasi-static cluster model, with extra
        CCMAC candidates from `commands` (their `event` is the step): a Simulation with paper 002's metrics
        (mgdsl/studies/simulate.py, docs/arbitration.md)."""
        from .studies.simulate import simulate

        return simulate(self, events, control, options, commands=commands)

    # ------------------------------------------------------------------ decomposition
    def atc_options(self, **overrides):
        """ATC options: defaults, then the file's `decompose atc { ... }` block, then `overrides`."""
        import dataclasses

        from .solve.atc import options_from_block

        opts = options_from_block(self.ir.decompose)
        return dataclasses.replace(opts, **{k: v for k, v in overrides.items() if v is not None})

    def solve_atc(self, options=None, progress=None):
        """Solve by analytical target cascading; returns an ATCRun (with .results like a centralized solve)."""
        from .objective_values import add_objectives
        from .solve.atc import run_atc

        options = options or self.atc_options()
        t0 = time.perf_counter()
        run = run_atc(self.ir, options, progress=progress)
        self.timings["atc"] = time.perf_counter() - t0
        run.results.summary = self._summary(run.objective, "optimal" if run.converged else "not converged",
                                            run.results.costs)
        run.results.summary["instance_costs"] = run.results.instance_costs()
        _add_reserve_summary(run.results)
        run.results.summary["atc"] = atc_summary(run)
        add_network_figures(run.results)
        add_objectives(self.ir, run.results)
        return run

    def write_subproblems(self, out_dir: str | Path, options=None, fmt: str = "lp") -> list[Path]:
        """Write one model file per ATC subproblem and the coupling manifest (couplings.json)."""
        import json

        from .decompose.partition import partition
        from .decompose.subproblem import Subproblem
        from .files import atomic_write
        from .solve.atc import specs_for

        options = options or self.atc_options()
        options.check()
        part_of = partition(self.ir, options.children)
        base_kw = self.ir.network.base_kva if self.ir.network is not None else 1000.0
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for spec in specs_for(part_of, options, base_kw):
            sub = Subproblem(spec, self.ir.steps)
            written.append(atomic_write(out / f"{spec.part.name}.{fmt}", lambda p, sub=sub: sub.write(p)))
        manifest = part_of.manifest()
        manifest["penalty"] = options.penalty
        manifest["files"] = {p.name: f"{p.name}.{fmt}" for p in part_of.parts}
        written.append(atomic_write(out / "couplings.json",
                               lambda p: Path(p).write_text(json.dumps(manifest, indent=2) + "\n")))
        return written

    def _summary(self, objective: float, status: str, costs: dict) -> dict:
        return {
            "model": self.ir.main_file,
            "status": status,
            "objective": objective,
            "currency": self.ir.currency,
            "costs": costs,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "steps": self.ir.steps,
            **({"window": self._window.to_json()} if self._window is not None else {}),
            "dt_h": self.ir.dt_h,
            "microgrids": list(self.ir.microgrids),
            "clusters": {c.name: c.members for c in self.ir.clusters.values()},
            # what `mgdsl check` warned about stays with the results (the screen, summary.json, report.html)
            **({"notes": [f"{w.code} at {w.location()}: {w.message} (`mgdsl check` shows it in full)"
                          for w in self.warnings]} if self.warnings else {}),
        }


def _add_reserve_summary(results) -> None:
    """summary.json's `reserve`: per pool and direction, the largest requirement, the smallest margin and the
    binding steps (only where the system declares requirements)."""
    from .reserve_results import reserve_summary

    reserve = reserve_summary(results)
    if reserve:
        results.summary["reserve"] = reserve


def add_network_figures(results) -> None:
    """The voltage range and what the network's formulation reports (lower/formulations/: distflow_socp's
    losses and relaxation gap, lindistflow's note on what it leaves out), into the summary."""
    from .lower.formulations import FORMULATIONS

    ds = next((d for d in results.datasets.values() if "vm" in d and "P" in d), None)
    if ds is None:
        return
    net = {"min_voltage_pu": float(ds["vm"].min()), "max_voltage_pu": float(ds["vm"].max())}
    results.summary["network"] = net
    f = FORMULATIONS.get(str(ds.attrs.get("formulation", "")))
    if f is not None:
        f.summary(ds, net, results.summary)


def atc_summary(run) -> dict:
    return {
        "converged": run.converged,
        "iterations": len(run.iterations),
        "final_inconsistency_pu": run.iterations[-1].inconsistency if run.iterations else 0.0,
        "worst": {"pair": run.iterations[-1].where, "step": run.iterations[-1].step} if run.iterations else None,
        "objective": run.objective,
        "options": {k: v for k, v in vars(run.options).items()},
        "parts": [p.name for p in run.partition.parts],
        "time_s": {"build": round(run.build_seconds, 4), "subproblem_solves": round(run.solve_seconds, 4),
                   "coordination": round(run.coordination_seconds, 4)},
        "per_pair_inconsistency_pu": run.per_coupling,
        "history": [{"iteration": it.k, "inconsistency_pu": it.inconsistency, "where": it.where, "step": it.step,
                     "objective": it.objective, "seconds": round(it.seconds, 4), "integers_held": it.integers_held}
                    for it in run.iterations],
    }


def _without_dask_arrays() -> None:
    """Tell xarray that dask arrays are not in play, unless dask is already imported: its first DataArray
    imports dask.array just to test `isinstance(x, dask.array.Array)` (0.25-0.45 s), and mgdsl never hands it one.
    xarray keeps that answer in a private cache; if the cache moves, nothing breaks but the start-up cost."""
    import sys

    if "dask" in sys.modules:
        return
    try:
        from xarray.namedarray import pycompat
    except ImportError:
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    if isinstance(cache, dict) and "dask" not in cache:
        absent = object.__new__(pycompat.DuckArrayModule)
        absent.module, absent.version, absent.type, absent.available = None, pycompat.Version("0.0.0"), (), False
        cache["dask"] = absent
    # Every xarray operation asks `is_dask_collection` of its arrays, which imports dask.base whenever dask is
    # installed (0.07-0.1 s). No object is a dask collection before dask is imported, so the answer is False
    # until then, and xarray's own answer afterwards (tests/test_imports.py checks both).
    from xarray.namedarray import utils

    original = getattr(utils, "is_dask_collection", None)
    if callable(original) and not getattr(original, "_mgdsl", False):
        def is_dask_collection(x) -> bool:
            return "dask" in sys.modules and original(x)

        is_dask_collection._mgdsl = True
        utils.is_dask_collection = is_dask_collection


ReadDirs = Iterable[str | os.PathLike] | None


def load(path: str | Path, allow_read: ReadDirs = None) -> System:
    """Read, parse and check a .mgd system file and what it uses. Raises MgdError on bad input.

    The model may read files (`use`, `csv(...)`) under the folder of `path` and the standard library, and
    under each folder of `allow_read` (the CLI's `--allow-read DIR`)."""
    t0 = time.perf_counter()
    src = read_source(path)
    return _build(src, t0, allow_read)


def loads(text: str, path: str = "<string>", allow_read: ReadDirs = None) -> System:
    """Like load, from text; `path` places it (its folder is the model's folder; the current one for <string>)."""
    return _build(source_from_text(text, path), time.perf_counter(), allow_read)


def _build(src: SourceFile, t0: float, allow_read: ReadDirs = None) -> System:
    if isinstance(allow_read, (str, os.PathLike)):
        allow_read = [allow_read]                 # one folder given alone, not its characters
    with paused_gc():                            # the check, like the parse, only makes objects that live on
        program = load_program(src, FileAccess.for_model(src.directory, allow_read))
        t1 = time.perf_counter()
        ir = check_program(program)
        t2 = time.perf_counter()
    return System(ir, {"parse": t1 - t0, "check": t2 - t1}, None, program.main.file.span(0, 0), program)
