"""Benchmark: the cost of one ATC iteration with resident, hot-started subproblems, against the same
iteration done the way a hand-written YALMIP/Pyomo loop does it (every subproblem rebuilt from the model
each iteration: a new linopy model and a new HiGHS instance, then set the targets and solve).

The system: the IEEE 33-bus feeder (models/data/ieee33/, base 1 MVA, 12.66 kV) with N copies of a continuous
multi-energy microgrid (CHP, gas and electric boilers, power-to-gas, battery, heat tank, PV, flexible electric
load, heat load, gas supply) at N distinct buses, profiles from models/data/example/ resampled to the horizon.

    .venv/bin/python bench/bench_atc_iteration.py [--microgrids 3 10] [--steps 24] [--iterations 15]
    .venv/bin/python bench/bench_atc_iteration.py --smoke          # the smallest size, in a few seconds

Prints a table and writes bench/results/atc_iteration.csv (atc_iteration_smoke.csv with --smoke).
See bench/README.md for what the columns mean and the latest figures.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mgdsl  # noqa: E402
from mgdsl.decompose import subproblem as subproblem_mod  # noqa: E402
from mgdsl.decompose.partition import partition  # noqa: E402
from mgdsl.decompose.subproblem import Subproblem  # noqa: E402
from mgdsl.solve import executors as executors_mod  # noqa: E402
from mgdsl.solve.atc import ATCOptions, run_atc, specs_for  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DATA = ROOT / "models" / "data"
# Buses spread over the feeder's laterals (the example's 10, 23 and 28 first); 32 non-slack buses in all.
BUSES = [10, 23, 28, 6, 14, 18, 25, 31, 8, 20, 4, 12, 16, 22, 26, 30, 33, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21,
         24, 27, 29, 32, 2]


def _column(path: Path, name: str) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([float(row[name]) for row in csv.DictReader(f)])


def _resample(values: np.ndarray, steps: int) -> list[float]:
    """A 24-hour profile at `steps` equal steps over the same day (piecewise-linear interpolation)."""
    hours = np.arange(len(values)) + 0.5
    at = (np.arange(steps) + 0.5) * len(values) / steps
    return [round(float(v), 4) for v in np.interp(at, hours, values)]


def system_text(n_microgrids: int, steps: int) -> str:
    if not 1 <= n_microgrids <= len(BUSES):
        raise SystemExit(f"--microgrids must be between 1 and {len(BUSES)} (the feeder's non-slack buses)")
    prof = DATA / "example" / "profiles.csv"
    series = {name: _resample(_column(prof, name), steps) for name in ("load", "pv", "heat")}
    tou = _resample(_column(DATA / "example" / "prices.csv", "tou"), steps)
    fmt = lambda xs: "[" + ", ".join(f"{x:g}" for x in xs) + "]"      # noqa: E731
    hours = 24 / steps
    step = f"{hours:g} h" if hours >= 1 else f"{hours * 60:g} min"
    lines = [
        "use stdlib",
        f"horizon {steps} steps of {step}",
        f"profile tou: yuan/kWh = {fmt(tou)}",
        f"profile load_shape = {fmt(series['load'])}",
        f"profile pv_pu = {fmt(series['pv'])}",
        f"profile heat_shape = {fmt(series['heat'])}",
        "",
        "network dn {",
        "    base 1 MVA, 12.66 kV",
        "    voltage 0.9 .. 1.1 pu",
        "    formulation lindistflow",
        "    buses 1 .. 33",
        "    slack 1 buys at tou",
        '    lines csv("data/ieee33/lines.csv")',
        '    loads csv("data/ieee33/loads.csv") * load_shape',
        "    at 7, 15, 31: SVC(q_min = -100 kvar, q_max = 300 kvar)",
        "}",
    ]
    for k, bus in enumerate(BUSES[:n_microgrids], 1):
        size = 0.6 + 0.4 * ((k * 7) % 5) / 4          # 0.6 .. 1.0: the copies differ a little
        lines += [
            "",
            f"microgrid mg{k} at dn.{bus} limit 600 kW {{",
            f"    chp = CHP(p_max = {400 * size:g} kW, ramp = {200 * size:g} kW)",
            f"    gb = GasBoiler(h_max = {600 * size:g} kW)",
            f"    eb = ElectricBoiler(p_max = {300 * size:g} kW)",
            f"    p2g = PowerToGas(p_max = {100 * size:g} kW)",
            f"    es = Storage(electricity, capacity = {1000 * size:g} kWh, p_max = {250 * size:g} kW)",
            f"    hs = Storage(heat, capacity = {800 * size:g} kWh, p_max = {200 * size:g} kW)",
            f"    pv = PV(p_max = {300 * size:g} kW, profile = pv_pu)",
            f"    load = FlexibleLoad(electricity, base = {600 * size:g} kW * load_shape, shift = 15 %, "
            "curtail = 5 %, curtail_cost = 1 yuan/kWh)",
            f"    heat = Load(heat, base = {500 * size:g} kW * heat_shape)",
            "    gas = GasSupply(price = 0.35 yuan/kWh)",
            "}",
        ]
    lines += ["", "minimize cost", ""]
    return "\n".join(lines)


def _total_objective(sp: Subproblem) -> float:
    """The subproblem's optimal value with its penalty terms (unique, unlike the own cost of a degenerate LP)."""
    return sp.h.getInfo().objective_function_value if sp.h.getNumCol() else 0.0


class Recorder:
    """Wraps Subproblem.solve (HiGHS time of every solve) and SubproblemWorker.solve (the requests of every
    call, so the rebuild loop replays exactly the resident run's iterations)."""

    def __init__(self) -> None:
        self.highs_seconds = 0.0
        self.calls: list[list[tuple]] = []
        self.outcomes: list[dict] = []

    def __enter__(self):
        self._solve = subproblem_mod.Subproblem.solve
        self._worker_solve = executors_mod.SubproblemWorker.solve
        rec = self
        orig_solve, orig_worker_solve = self._solve, self._worker_solve

        def solve(sp, exact=False):
            out = orig_solve(sp, exact)
            rec.highs_seconds += out.seconds
            out.total = _total_objective(sp)
            return out

        def worker_solve(worker, requests):
            rec.calls.append([(n, np.array(v, copy=True), np.array(l, copy=True), np.array(w, copy=True), *rest)
                              for n, v, l, w, *rest in requests])
            outs = orig_worker_solve(worker, requests)
            rec.outcomes.append({o.part: o for o in outs})
            return outs

        subproblem_mod.Subproblem.solve = solve
        executors_mod.SubproblemWorker.solve = worker_solve
        return self

    def __exit__(self, *exc):
        subproblem_mod.Subproblem.solve = self._solve
        executors_mod.SubproblemWorker.solve = self._worker_solve


def measure(n: int, steps: int, iterations: int, rebuild_iterations: int, penalty: str, tolerance: float) -> dict:
    text = system_text(n, steps)
    ir = mgdsl.loads(text, path=str(ROOT / "models" / "bench_atc_iteration.mgd")).ir
    options = ATCOptions(penalty=penalty, tolerance=tolerance, max_iterations=iterations)

    # 1. resident, hot-started subproblems: the driver as shipped (serial executor, one process)
    highs_per_iteration = []
    with Recorder() as rec:
        marks = [0.0]

        def progress(_it):
            highs_per_iteration.append(rec.highs_seconds - marks[0])
            marks[0] = rec.highs_seconds

        t0 = time.perf_counter()
        run = run_atc(ir, options, progress=progress)
        total = time.perf_counter() - t0
    its = run.iterations
    k = len(its)
    # iteration 1 solves every subproblem from scratch; later ones are hot starts: time those
    hot = slice(1, k) if k > 1 else slice(0, k)
    iter_s = np.array([it.seconds for it in its])
    highs_s = np.array(highs_per_iteration)
    resident = float(np.mean(iter_s[hot]))
    resident_highs = float(np.mean(highs_s[hot]))
    # the calls of iteration j (1-based) are rec.calls[2(j-1)] (children) and rec.calls[2(j-1)+1] (parent)
    per_iteration_calls = [rec.calls[2 * j: 2 * j + 2] for j in range(k)]
    per_iteration_outcomes = [{**rec.outcomes[2 * j], **rec.outcomes[2 * j + 1]} for j in range(k)]

    # 2. the hand-written loop: rebuild every subproblem from the IR each iteration, then set values + solve
    part_of = partition(ir, options.children)
    base_kw = ir.network.base_kva
    specs = {s.part.name: s for s in specs_for(part_of, options, base_kw)}
    replay = list(range(1, k))[:rebuild_iterations] or [0]
    rebuild_times, rebuild_build, rebuild_highs = [], [], []
    part_build: dict[str, list[tuple[float, float]]] = {}     # part -> (wall, CPU) of each build
    max_objective_diff = 0.0    # the rebuilt subproblems must reach the optima the resident ones reached
    for j in replay:
        t_it = time.perf_counter()
        build = highs = 0.0
        for call in per_iteration_calls[j]:
            for name, remote, lam, w, *_exact in call:
                tb, cb = time.perf_counter(), time.process_time()
                sp = Subproblem(specs[name], ir.steps)          # new linopy model + new HiGHS instance
                build += time.perf_counter() - tb
                part_build.setdefault(name, []).append((time.perf_counter() - tb, time.process_time() - cb))
                sp.set_values(remote, lam, w)
                out = sp.solve()
                highs += out.seconds
                ref = per_iteration_outcomes[j][name].total
                max_objective_diff = max(max_objective_diff, abs(_total_objective(sp) - ref) / max(abs(ref), 1.0))
        rebuild_times.append(time.perf_counter() - t_it)
        rebuild_build.append(build)
        rebuild_highs.append(highs)
    rebuild = float(np.mean(rebuild_times))
    # one part's build (issue 13: <= 0.2 s per microgrid part): the least disturbed of its rebuilds
    parent = next((p.name for p in part_of.parts if p.is_parent), None)
    mg_builds = [min(v) for name, v in part_build.items() if name != parent]
    net_build = min(part_build[parent]) if parent in part_build else (float("nan"), float("nan"))

    return {
        "microgrids": n,
        "steps": steps,
        "penalty": penalty,
        "parts": len(part_of.parts),
        "atc_iterations": k,
        "converged": run.converged,
        "build_s": round(run.build_seconds, 3),
        "first_iteration_ms": round(1e3 * float(iter_s[0]), 2),
        "resident_iteration_ms": round(1e3 * resident, 2),
        "resident_highs_ms": round(1e3 * resident_highs, 2),
        "outside_solver_share": round(1 - resident_highs / resident, 3) if resident > 0 else 0.0,
        "driver_coordination_share": round(run.coordination_seconds / max(run.coordination_seconds + run.solve_seconds,
                                                                             1e-12), 3),
        "rebuild_iteration_ms": round(1e3 * rebuild, 1),
        "rebuild_build_share": round(float(np.mean(rebuild_build)) / rebuild, 3) if rebuild > 0 else 0.0,
        "rebuild_highs_ms": round(1e3 * float(np.mean(rebuild_highs)), 2),
        "rebuild_over_resident": round(rebuild / resident, 1) if resident > 0 else float("nan"),
        "rebuild_iterations_timed": len(replay),
        "rebuild_max_objective_diff": float(f"{max_objective_diff:.2g}"),
        "total_atc_s": round(total, 2),
        "mg_part_build_ms": round(1e3 * max(w for w, _ in mg_builds), 1) if mg_builds else float("nan"),
        "mg_part_build_cpu_ms": round(1e3 * max(c for _, c in mg_builds), 1) if mg_builds else float("nan"),
        "network_part_build_ms": round(1e3 * net_build[0], 1),
        "network_part_build_cpu_ms": round(1e3 * net_build[1], 1),
        "load_average": os.getloadavg()[0],
    }


COLUMNS = [
    ("microgrids", "N", "{}"),
    ("steps", "T", "{}"),
    ("parts", "parts", "{}"),
    ("atc_iterations", "iters", "{}"),
    ("build_s", "build s", "{:.2f}"),
    ("first_iteration_ms", "1st it ms", "{:.1f}"),
    ("resident_iteration_ms", "resident ms/it", "{:.1f}"),
    ("resident_highs_ms", "HiGHS ms/it", "{:.1f}"),
    ("outside_solver_share", "outside HiGHS", "{:.0%}"),
    ("driver_coordination_share", "driver coord", "{:.1%}"),
    ("rebuild_iteration_ms", "rebuild ms/it", "{:.0f}"),
    ("rebuild_highs_ms", "cold HiGHS ms/it", "{:.1f}"),
    ("rebuild_build_share", "rebuild: building", "{:.0%}"),
    ("rebuild_over_resident", "rebuild/resident", "{:.1f}x"),
    ("mg_part_build_ms", "MG part build ms", "{:.0f}"),
    ("mg_part_build_cpu_ms", "(CPU)", "{:.0f}"),
    ("network_part_build_ms", "network part build ms", "{:.0f}"),
    ("network_part_build_cpu_ms", "(CPU)", "{:.0f}"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--microgrids", type=int, nargs="+", default=[3, 10], help="sizes N to run (default 3 10)")
    ap.add_argument("--steps", type=int, default=24, help="time steps over one day (default 24)")
    ap.add_argument("--iterations", type=int, default=15, help="ATC iterations to time (default 15)")
    ap.add_argument("--rebuild-iterations", type=int, default=3,
                    help="iterations replayed with rebuilt subproblems (default 3; each rebuilds every part)")
    ap.add_argument("--penalty", default="pwl", choices=["pwl", "quadratic", "l1"])
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--smoke", action="store_true",
                    help="the smallest size only, short: 3 microgrids, 4 steps, 3 iterations, 1 rebuilt")
    args = ap.parse_args(argv)
    if args.smoke:
        args.microgrids, args.steps, args.iterations, args.rebuild_iterations = [min(args.microgrids)], 4, 3, 1
    out = args.csv or RESULTS / ("atc_iteration_smoke.csv" if args.smoke else "atc_iteration.csv")

    print(f"mgdsl ATC iteration benchmark: IEEE 33-bus + N multi-energy microgrids, {args.steps} steps, "
          f"penalty {args.penalty}, tolerance {args.tolerance:g}, serial executor")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    rows = []
    for n in args.microgrids:
        rows.append(measure(n, args.steps, args.iterations, args.rebuild_iterations, args.penalty, args.tolerance))
        print(f"  N={n}: done in {rows[-1]['total_atc_s']:.1f} s of ATC "
              f"({rows[-1]['atc_iterations']} iterations{', converged' if rows[-1]['converged'] else ''})",
              flush=True)
    print()
    print_table(rows, COLUMNS)
    write_csv(out, rows, [k for k in rows[0] if not k.startswith("_")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
