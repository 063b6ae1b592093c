"""Benchmark: the centralized solve against ATC as the system grows from 3 to 100 microgrids on the IEEE 33-bus
feeder (the 33-bus paper's Table 3), continuous and with on/off CHPs (binaries), with the serial and the
processes executor: time, cost, iterations, cost gap, time per microgrid, and the share outside the solver.

The system is bench_atc_iteration.py's: the IEEE 33-bus feeder with N copies of a multi-energy microgrid (CHP,
gas and electric boilers, power-to-gas, battery, heat tank, PV, flexible load, heat load, gas supply) at N
buses, profiles from models/data/example/ resampled to the horizon.

  - variant `continuous`: the CHP is `CHP` (an LP centrally; LP children).
  - variant `binary`: the CHP is `CHPUnit` with an on/off status per step, a minimum output of 30 % and a
    start-up cost (a MILP centrally; MILP children, so ATC stays on pwl penalties).
  - N > 32 (the feeder has 32 non-slack buses): microgrid k > 32 is a copy of microgrid k - 32 at the same
    bus, and all microgrid sizes (devices, loads, tie limits) are scaled by 32 / N, so the feeder carries the
    same total microgrid capacity as at N = 32 (unscaled, 64 microgrids make the centralized model
    infeasible). The network stays the published one.

Per (N, variant): the centralized solve (lowering + HiGHS, as `mgdsl solve` does, with --time-limit for the
MILP). Per (N, variant, executor): run_atc with ATC defaults (pwl, tolerance 1e-3) and --max-iterations;
its wall time includes building the subproblems (and, for `processes`, spawning the workers). The solver's
share is the HiGHS time on the critical path: per executor call, the largest sum of Highs.run() times
over the workers (serial: one worker, all of them); "outside solver" is the rest of ATC's wall time (build
included), "in iterations" the same over the iterations only (setting targets, IPC, the driver's updates).

    .venv/bin/python bench/bench_atc_scaling.py [--microgrids 3 5 10 20 32] [--variants continuous binary]
                                               [--executors serial processes] [--steps 24]
    .venv/bin/python bench/bench_atc_scaling.py --smoke          # N = 3, 4 steps, both variants and executors

Prints a table and a computed summary line per variant and executor, and writes bench/results/atc_scaling.csv
(atc_scaling_smoke.csv with --smoke).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_atc_iteration import BUSES, system_text  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.diagnostics import MgdError  # noqa: E402
from mgdsl.lower.system import lower_system  # noqa: E402
from mgdsl.solve import atc as atc_mod  # noqa: E402
from mgdsl.solve.atc import ATCOptions, run_atc  # noqa: E402
from mgdsl.solve.centralized import solve_lowered  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("continuous", "binary")
EXECUTORS = ("serial", "processes")
MAX_MICROGRIDS = 100

# `chp = CHP(p_max = X kW, ramp = Y kW)` as system_text writes it
_CHP = re.compile(r"chp = CHP\(p_max = (?P<p>[0-9.]+) kW, ramp = (?P<r>[0-9.]+) kW\)")
_BLOCK = re.compile(r"\nmicrogrid (mg\d+) at dn\.(\d+) limit [^{]*\{.*?\n\}\n", re.S)


def _on_off_chp(match: re.Match) -> str:
    p_max = float(match["p"])
    return (f"chp = CHPUnit(p_max = {p_max:g} kW, p_min = {0.3 * p_max:g} kW, ramp = {match['r']} kW, "
            f"startup = 20 yuan)")


_POWER = re.compile(r"(?P<v>\d+(?:\.\d+)?) (?P<u>kWh|kW)\b")


def _shrink(block: str, factor: float) -> str:
    """Every power and energy of a microgrid block times `factor` (prices, in yuan/kWh, are not matched)."""
    return _POWER.sub(lambda m: f"{float(m['v']) * factor:.6g} {m['u']}", block)


def scaled_system_text(n_microgrids: int, steps: int, variant: str) -> str:
    """bench_atc_iteration's system with N microgrids, CHPs on/off for the binary variant. Beyond 32 (the
    feeder's non-slack buses) microgrid k is a copy of microgrid k - 32 at the same bus, and every microgrid's
    sizes (devices, loads, tie limit) are scaled by 32 / N: the feeder carries the same total microgrid
    capacity as at N = 32, split among more microgrids (unscaled, 64 microgrids are more than the feeder can
    serve within its limits: the centralized model is infeasible)."""
    if not 1 <= n_microgrids <= MAX_MICROGRIDS:
        raise SystemExit(f"--microgrids must be between 1 and {MAX_MICROGRIDS}")
    text = system_text(min(n_microgrids, len(BUSES)), steps)
    if n_microgrids > len(BUSES):
        blocks = {m.group(1): m.group(0) for m in _BLOCK.finditer(text)}
        extra = []
        for k in range(len(BUSES) + 1, n_microgrids + 1):
            original = f"mg{(k - 1) % len(BUSES) + 1}"
            extra.append(blocks[original].replace(f"microgrid {original} at", f"microgrid mg{k} at", 1))
        head, tail = text.rsplit("\nminimize cost", 1)
        text = head + "".join(extra) + "\nminimize cost" + tail
        factor = len(BUSES) / n_microgrids
        text = _BLOCK.sub(lambda m: _shrink(m.group(0), factor), text)
    if variant == "binary":
        text, count = _CHP.subn(_on_off_chp, text)
        assert count == n_microgrids, "system_text's CHP line changed: update _CHP"
    return text


class SolverClock:
    """An executor wrapper: per solve call, the HiGHS time on the critical path (the slowest worker's sum of
    Highs.run() times as the subproblems report them) and the sum over all workers."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.critical_s = 0.0
        self.total_s = 0.0

    def start(self, specs, steps):
        return self.inner.start(specs, steps)

    def solve(self, requests):
        outcomes = self.inner.solve(requests)
        home = getattr(self.inner, "home", {})          # part -> worker for `processes`; one worker otherwise
        per_worker: dict[int, float] = {}
        for o in outcomes:
            per_worker[home.get(o.part, 0)] = per_worker.get(home.get(o.part, 0), 0.0) + o.seconds
        self.critical_s += max(per_worker.values(), default=0.0)
        self.total_s += sum(per_worker.values())
        return outcomes

    def results(self, names):
        return self.inner.results(names)

    def write(self, name, path):
        return self.inner.write(name, path)

    def close(self):
        return self.inner.close()


def timed_atc(ir, options: ATCOptions) -> tuple[object, float, SolverClock | None]:
    """run_atc with its executor wrapped by a SolverClock (None if the driver no longer looks executors up
    through mgdsl.solve.atc.make_executor: then the solver share is not measured)."""
    plain = getattr(atc_mod, "make_executor", None)
    clocks: list[SolverClock] = []
    if plain is not None:
        def clocked(name, workers=None, **kw):
            clocks.append(SolverClock(plain(name, workers, **kw)))
            return clocks[-1]
        atc_mod.make_executor = clocked
    try:
        t0 = time.perf_counter()
        run = run_atc(ir, options)
        seconds = time.perf_counter() - t0
    finally:
        if plain is not None:
            atc_mod.make_executor = plain
    return run, seconds, (clocks[0] if clocks else None)


def centralized(ir, time_limit: float | None) -> dict:
    """Lower and solve as `mgdsl solve` does. A MILP stopped by the time limit keeps its incumbent's cost."""
    t0 = time.perf_counter()
    low = lower_system(ir)
    lower_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    status = "optimal"
    try:
        info = solve_lowered(low, time_limit=time_limit)
        objective = info.objective
        if info.termination != "optimal":          # "time limit (feasible)": the incumbent at the time limit
            status = "time_limit"
    except MgdError as err:
        # E0605: the time limit without an incumbent
        status = "time_limit" if err.diagnostics[0].code == "E0605" else "failed"
        try:
            objective = float(low.model.objective.value) + low.objective_constant
        except Exception:
            objective = float("nan")
    solve_s = time.perf_counter() - t1
    m = low.model
    return {"objective": objective, "status": status, "lower_s": lower_s, "solve_s": solve_s,
            "seconds": lower_s + solve_s, "variables": int(m.nvars),
            "binaries": int(sum(v.labels.size for _, v in m.binaries.items()))}


def measure(n: int, steps: int, variant: str, executors: list[str], options: ATCOptions,
            time_limit: float | None) -> list[dict]:
    text = scaled_system_text(n, steps, variant)
    ir = mgdsl.loads(text, path=str(ROOT / "models" / "bench_atc_scaling.mgd")).ir
    central = centralized(ir, time_limit)
    print(f"  N={n} {variant}: centralized {central['objective']:,.2f} in {central['seconds']:.2f} s "
          f"({central['status']})", flush=True)
    rows = []
    for executor in executors:
        run, atc_s, clock = timed_atc(ir, dataclasses.replace(options, executor=executor))
        gap = 100 * (run.objective - central["objective"]) / abs(central["objective"])
        iterations = len(run.iterations)
        loop_s = sum(it.seconds for it in run.iterations)
        solver_s = clock.critical_s if clock is not None else float("nan")
        rows.append({
            "microgrids": n, "steps": steps, "variant": variant, "executor": executor,
            "central_variables": central["variables"], "central_binaries": central["binaries"],
            "central_status": central["status"],
            "central_s": round(central["seconds"], 3),
            "central_lower_s": round(central["lower_s"], 3),
            "central_solve_s": round(central["solve_s"], 3),
            "central_cost": round(central["objective"], 4),
            "atc_s": round(atc_s, 3),
            "atc_build_s": round(run.build_seconds, 3),
            "atc_iterations": iterations,
            "atc_loop_s": round(loop_s, 3),
            # partitioning before the build, merging the parts' results after the loop, stopping the workers
            "atc_rest_s": round(atc_s - run.build_seconds - loop_s, 3),
            "atc_ms_per_iteration": round(1e3 * loop_s / iterations, 1),
            "atc_cost": round(run.objective, 4),
            "gap_pct": round(gap, 5),
            "converged": run.converged,
            "atc_s_per_microgrid": round(atc_s / n, 4),
            "atc_highs_s": round(solver_s, 3),
            "atc_highs_all_workers_s": round(clock.total_s, 3) if clock is not None else float("nan"),
            "outside_solver_share": round(1 - solver_s / atc_s, 3),
            "loop_outside_solver_share": round(1 - solver_s / loop_s, 3) if loop_s > 0 else float("nan"),
            "atc_over_central": round(atc_s / central["seconds"], 2),
        })
        print(f"    {executor}: ATC {run.objective:,.2f} ({gap:+.4f} %) in {atc_s:.2f} s, {iterations} iterations"
              f"{', converged' if run.converged else ', NOT converged'}", flush=True)
    return rows


COLUMNS = [
    ("microgrids", "N", "{}"),
    ("variant", "variant", "{}"),
    ("executor", "executor", "{}"),
    ("central_s", "central s", "{:.2f}"),
    ("central_solve_s", "  HiGHS", "{:.2f}"),
    ("central_cost", "central cost", "{:,.2f}"),
    ("atc_s", "ATC s", "{:.2f}"),
    ("atc_build_s", "  build", "{:.2f}"),
    ("atc_rest_s", "  rest", "{:.2f}"),
    ("atc_iterations", "iters", "{}"),
    ("atc_ms_per_iteration", "ms/iter", "{:.0f}"),
    ("atc_cost", "ATC cost", "{:,.2f}"),
    ("gap_pct", "gap %", "{:+.4f}"),
    ("converged", "conv", "{}"),
    ("atc_s_per_microgrid", "ATC s/MG", "{:.3f}"),
    ("outside_solver_share", "outside solver", "{:.0%}"),
    ("loop_outside_solver_share", "  in iterations", "{:.0%}"),
]


def _growth_exponent(ns: list[int], seconds: list[float]) -> float:
    """k in seconds ~ N^k, a least-squares line through log-log points."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(np.maximum(seconds, 1e-9)), 1)[0])


def scaling_summary(rows: list[dict]) -> list[str]:
    """Per variant and executor: how ATC's time per microgrid and the centralized time change from the
    smallest to the largest N (ratios and N^k exponents computed from the rows, not asserted)."""
    lines = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        for executor in dict.fromkeys(r["executor"] for r in rows):
            sel = sorted((r for r in rows if r["variant"] == variant and r["executor"] == executor),
                         key=lambda r: r["microgrids"])
            if len(sel) < 2:
                continue
            ns = [r["microgrids"] for r in sel]
            per_mg = [r["atc_s_per_microgrid"] for r in sel]
            ratio = per_mg[-1] / per_mg[0]
            # "flat": the time per microgrid moves by less than half as N grows (linear total ATC time)
            flat_until = ns[0]
            for n, t in zip(ns, per_mg):
                if 2 / 3 <= t / per_mg[0] <= 1.5:
                    flat_until = n
                else:
                    break
            k_central = _growth_exponent(ns, [r["central_solve_s"] for r in sel])
            k_atc = _growth_exponent(ns, [r["atc_s"] for r in sel])
            lines.append(
                f"{variant}/{executor}: ATC s per microgrid {per_mg[0]:.3f} at N={ns[0]} -> {per_mg[-1]:.3f} at "
                f"N={ns[-1]} (x{ratio:.2f}; within x1.5 of N={ns[0]} up to N={flat_until}); iterations "
                f"{sel[0]['atc_iterations']} -> {sel[-1]['atc_iterations']}; ATC time ~ N^{k_atc:.2f}, "
                f"centralized HiGHS time ~ N^{k_central:.2f} ({sel[0]['central_solve_s']:.2f} -> "
                f"{sel[-1]['central_solve_s']:.2f} s); ATC/centralized time x{sel[0]['atc_over_central']:.1f} -> "
                f"x{sel[-1]['atc_over_central']:.1f}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--microgrids", type=int, nargs="+", default=[3, 5, 10, 20, 32],
                    help=f"sizes N (1 to {MAX_MICROGRIDS}; default 3 5 10 20 32)")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS))
    ap.add_argument("--steps", type=int, default=24, help="time steps over one day (default 24)")
    ap.add_argument("--max-iterations", type=int, default=ATCOptions().iteration_limit,
                    help=f"ATC iteration limit (default {ATCOptions().iteration_limit}, mgdsl's)")
    ap.add_argument("--tolerance", type=float, default=ATCOptions().tolerance,
                    help=f"ATC tolerance, p.u. (default {ATCOptions().tolerance:g}, mgdsl's)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes for `processes` (default: cores)")
    ap.add_argument("--time-limit", type=float, default=600.0,
                    help="time limit of the centralized solve in s (default 600; the MILP's incumbent is kept)")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--smoke", action="store_true", help="N = 3, 4 steps, both variants and executors")
    args = ap.parse_args(argv)
    if args.smoke:
        args.microgrids, args.steps = [3], 4
    out = args.csv or RESULTS / ("atc_scaling_smoke.csv" if args.smoke else "atc_scaling.csv")
    options = ATCOptions(max_iterations=args.max_iterations, tolerance=args.tolerance, workers=args.workers)

    print(f"mgdsl ATC scaling benchmark: IEEE 33-bus + N multi-energy microgrids, {args.steps} steps, "
          f"penalty {options.penalty}, tolerance {options.tolerance:g}, at most {options.iteration_limit} iterations")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    rows = []
    for n in args.microgrids:
        for variant in args.variants:
            rows += measure(n, args.steps, variant, args.executors, options, args.time_limit)
    print()
    print_table(rows, COLUMNS)
    summary = scaling_summary(rows)
    if summary:
        print()
        for line in summary:
            print(line)
    unconverged = [f"N={r['microgrids']} {r['variant']}/{r['executor']}" for r in rows if not r["converged"]]
    if unconverged:
        print(f"not converged within {options.iteration_limit} iterations: {', '.join(unconverged)}")
    write_csv(out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
