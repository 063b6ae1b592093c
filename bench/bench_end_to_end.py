"""Benchmark: what `mgdsl solve` costs beyond the solver, on the bundled models, against HiGHS alone on the
exported model file (the same model, the same options), with a breakdown of mgdsl's time by stage.

For every model, each repeat runs three fresh processes, so every one pays its own start-up and imports:

  1. `mgdsl solve MODEL -o DIR`, as a user runs it: the wall time of the command (Python start-up, imports,
     parse, check, lowering, HiGHS, reading the solution, writing netCDF/CSV/summary.json, printing).
  2. The same steps through the Python API (what cli.solve does), timed stage by stage: interpreter start-up
     and exit, imports, parse + check, lowering, handing the model to HiGHS (linopy's matrices -> highspy),
     the HiGHS run, reading the solution back into linopy, collecting results, writing them. The HiGHS run is timed by
     wrapping highspy.Highs.run. Then the centralized model is written as MPS (System.write).
  3. HiGHS alone on that MPS file: highspy.Highs().readModel(file) and run(), with mgdsl's options
     (output off; no time limit, no MIP gap and default threads unless given, as `mgdsl solve` does;
     for a quadratic model the QP solver mgdsl chooses).

"The solver" is the HiGHS run inside mgdsl's process; "not the solver" is everything else in that process's
wall time. The objective of HiGHS alone (plus the constant term mgdsl keeps beside the model) must equal
mgdsl's: to 1e-6 relative for an LP; for a MILP within the MIP gaps the two runs report (an MPS file rounds
bounds in the 16th digit, which can send branch-and-bound down another path to a different incumbent).

    .venv/bin/python bench/bench_end_to_end.py [--models models/example.mgd ...] [--repeat 3]
    .venv/bin/python bench/bench_end_to_end.py --smoke         # models/example.mgd, one repeat, ~10 s

Prints two tables and writes bench/results/end_to_end.csv (end_to_end_smoke.csv with --smoke); times are
medians over the repeats. Exits 1 if an objective of HiGHS alone does not match mgdsl's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import print_table, write_csv  # (bench/ is the script directory)

# Nothing from mgdsl is imported at module level: the worker process (--worker) times mgdsl's imports itself.
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable
MGDSL = str(Path(sys.executable).parent / "mgdsl")
ALL_MODELS = ["models/example.mgd", "models/storage_arbitrage.mgd", "models/chp_heat.mgd",
              "models/clusters94.mgd", "models/ieee33_3mg.mgd"]
TARGET_MODEL = "ieee33_3mg"      # the target: non-solver overhead below the solver time on the 33-bus case
MARK = "BENCH_JSON "             # prefix of the one line of machine-readable output of a helper process

# HiGHS alone, in its own process: read the exported file and run, nothing else.
HIGHS_ALONE = r"""
import json, sys, time
t0 = time.perf_counter()
import highspy
path, options = sys.argv[1], json.loads(sys.argv[2])
h = highspy.Highs()
h.setOptionValue("output_flag", False)
for key, value in options.items():
    h.setOptionValue(key, value)
t1 = time.perf_counter()
h.readModel(path)
t2 = time.perf_counter()
if h.getModel().hessian_.dim_ > 0 and "solver" not in options:
    # mgdsl solves a QP with HiPO where HiGHS accepts it (mgdsl/highs.py: qp_solver)
    try:
        import highspy_extras  # noqa: F401
        h.setOptionValue("solver", "hipo")
    except ImportError:
        h.setOptionValue("solver", "ipm")
t3 = time.perf_counter()
h.run()
t4 = time.perf_counter()
info = h.getInfo()
print("BENCH_JSON " + json.dumps({
    "import_s": t1 - t0, "read_s": t2 - t1, "run_s": t4 - t3, "in_process_s": t4 - t0,
    "status": h.modelStatusToString(h.getModelStatus()), "objective": info.objective_function_value,
    "mip_gap": info.mip_gap, "columns": h.getNumCol(), "rows": h.getNumRow()}))
"""


# ---------------------------------------------------------------------------------------------- worker side
def worker(model: str, out_dir: str, mps_path: str, solve_options: dict) -> None:
    """Run in a fresh process: solve MODEL the way `mgdsl solve` does, timing each stage; print one JSON line."""
    t_begin = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    # mgdsl imports the modelling stack (linopy, xarray, pandas) only when a command needs it (a check never
    # does): a solve pays for it here, so the imports stage holds it, not the first stage that happens to need it
    import highspy

    import mgdsl.api
    import mgdsl.lower.system
    import mgdsl.results
    t_imported = time.perf_counter()

    # The HiGHS run, timed where it happens (linopy calls Highs.run in a helper thread).
    highs_runs: list[dict] = []
    plain_run = highspy.Highs.run

    def timed_run(h, *args, **kwargs):
        t0 = time.perf_counter()
        status = plain_run(h, *args, **kwargs)
        info = h.getInfo()
        highs_runs.append({"seconds": time.perf_counter() - t0, "mip_gap": info.mip_gap,
                           "objective": info.objective_function_value})
        return status

    highspy.Highs.run = timed_run
    # Handing the model to HiGHS: linopy's builder of the highspy instance (its matrices, addVars, addRows).
    handoff = {"seconds": 0.0}
    try:
        from linopy import solvers as linopy_solvers

        plain_build = linopy_solvers.Highs._build_solver_model

        def timed_build(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return plain_build(*args, **kwargs)
            finally:
                handoff["seconds"] += time.perf_counter() - t0

        linopy_solvers.Highs._build_solver_model = staticmethod(timed_build)
    except (ImportError, AttributeError):      # another linopy: the hand-off then counts as reading back
        plain_build = None

    system = mgdsl.api.load(model)
    t0 = time.perf_counter()
    results = system.solve(**solve_options)
    solve_call = time.perf_counter() - t0
    t0 = time.perf_counter()
    results.save(out_dir)
    save_s = time.perf_counter() - t0
    t_end = time.perf_counter()

    if plain_build is not None:
        linopy_solvers.Highs._build_solver_model = staticmethod(plain_build)
    highspy.Highs.run = plain_run
    timings = system.timings
    highs_run = sum(r["seconds"] for r in highs_runs)
    handoff_s = handoff["seconds"]
    low = system.lower()
    # After the timed part: the exported file HiGHS alone will read (not part of a solve's cost).
    t0 = time.perf_counter()
    system.write(mps_path)
    write_mps_s = time.perf_counter() - t0
    size = system.size()
    print(MARK + json.dumps({
        "in_process_s": t_end - t_begin,
        "after_s": time.perf_counter() - t_end,          # the MPS export and size: not part of the solve
        "import_s": t_imported - t_begin,
        "parse_check_s": timings.get("parse", 0.0) + timings.get("check", 0.0),
        "lower_s": timings.get("lower", 0.0),
        "to_highs_s": handoff_s,
        "highs_run_s": highs_run,
        "read_back_s": timings.get("solve", 0.0) - handoff_s - highs_run,
        # collect(), the summary, the model size and the network figures: the rest of System.solve
        "collect_s": solve_call - timings.get("lower", 0.0) - timings.get("solve", 0.0),
        "save_s": save_s,
        "write_mps_s": write_mps_s,
        "objective": results.objective,
        "objective_constant": low.objective_constant,
        "mip_gap": highs_runs[-1]["mip_gap"] if highs_runs else float("nan"),
        "highs_runs": len(highs_runs),
        "variables": size["variables"], "constraints": size["constraints"],
        "discrete": size["binaries"] + size["integers"], "quadratic": size["quadratic"],
    }))


# ---------------------------------------------------------------------------------------------- driver side
def _helper_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"no {MARK.strip()} line in the helper's output:\n{stdout[-2000:]}")


def _run(cmd: list[str], what: str) -> tuple[float, str]:
    """Run a command from the repository root; return its wall time and stdout (fail loudly)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}"
                           f"\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _solve_flags(time_limit: float | None, mip_gap: float | None) -> tuple[list[str], dict, dict]:
    """The same settings three ways: `mgdsl solve` flags, System.solve arguments, HiGHS options."""
    flags, api, highs = [], {}, {}
    if time_limit is not None:
        flags += ["--time-limit", str(time_limit)]
        api["time_limit"] = time_limit
        highs["time_limit"] = float(time_limit)
    if mip_gap is not None:
        flags += ["--mip-gap", str(mip_gap)]
        api["mip_gap"] = mip_gap
        highs["mip_rel_gap"] = float(mip_gap)
    return flags, api, highs


def measure_once(model: str, scratch: Path, time_limit: float | None, mip_gap: float | None) -> dict:
    flags, api_options, highs_options = _solve_flags(time_limit, mip_gap)
    name = Path(model).stem

    # 1. the command as a user runs it
    cli_dir = scratch / f"{name}_cli"
    cli_wall, _ = _run([MGDSL, "solve", model, "-o", str(cli_dir), *flags], "mgdsl solve")
    cli_objective = json.loads((cli_dir / "summary.json").read_text())["objective"]

    # 2. the same through the API, stage by stage, in a fresh process; it also writes the MPS file
    mps = scratch / f"{name}.mps"
    api_wall, out = _run([PYTHON, __file__, "--worker", model, str(scratch / f"{name}_api"), str(mps),
                          json.dumps(api_options)], "API worker")
    api = _helper_json(out)

    # 3. HiGHS alone on the exported file
    alone_wall, out = _run([PYTHON, "-c", HIGHS_ALONE, str(mps), json.dumps(highs_options)], "HiGHS alone")
    alone = _helper_json(out)

    solver = api["highs_run_s"]
    row = {
        "model": name,
        "variables": api["variables"], "constraints": api["constraints"], "discrete": api["discrete"],
        "kind": ("MILP" if api["discrete"] else "QP" if api["quadratic"] else "LP"),
        "cli_wall_s": cli_wall,
        "api_wall_s": api_wall,
        "solve_process_s": api_wall - api["after_s"],     # the process as `mgdsl solve` would run it
        # interpreter start-up and teardown (at exit Python frees every module's objects: 0.2-0.5 s once
        # xarray, pandas, dask and linopy are loaded) and this script's own standard-library imports
        "startup_s": api_wall - api["after_s"] - api["in_process_s"],
        "import_s": api["import_s"],
        "parse_check_s": api["parse_check_s"],
        "lower_s": api["lower_s"],
        "to_highs_s": api["to_highs_s"],
        "highs_run_s": solver,
        "read_back_s": api["read_back_s"],
        "collect_s": api["collect_s"],
        "save_s": api["save_s"],
        "non_solver_s": api_wall - api["after_s"] - solver,
        "alone_wall_s": alone_wall,
        "alone_read_s": alone["read_s"],
        "alone_run_s": alone["run_s"],
        "write_mps_s": api["write_mps_s"],
        "objective_mgdsl": cli_objective,
        "objective_api": api["objective"],
        "objective_highs_alone": alone["objective"] + api["objective_constant"],
        "alone_status": alone["status"],
        "mip_gap_mgdsl": api["mip_gap"],
        "mip_gap_alone": alone["mip_gap"],
    }
    return row


TIMES = ["cli_wall_s", "api_wall_s", "solve_process_s", "startup_s", "import_s", "parse_check_s", "lower_s",
         "to_highs_s",
         "highs_run_s", "read_back_s", "collect_s", "save_s", "non_solver_s", "alone_wall_s", "alone_read_s",
         "alone_run_s", "write_mps_s"]


def measure(model: str, repeat: int, time_limit: float | None, mip_gap: float | None) -> dict:
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="mgdsl_e2e_") as scratch:
            runs.append(measure_once(model, Path(scratch), time_limit, mip_gap))
    row = dict(runs[-1])
    for key in TIMES:                       # medians: one slow repeat (a busy machine) does not move them
        row[key] = round(statistics.median(r[key] for r in runs), 4)
    row["repeats"] = repeat
    row["non_solver_over_solver"] = round(row["non_solver_s"] / row["highs_run_s"], 3) \
        if row["highs_run_s"] > 0 else float("inf")
    row["cli_over_alone"] = round(row["cli_wall_s"] / row["alone_wall_s"], 2)
    # objectives: every repeat must agree, so take the worst
    worst = max(runs, key=lambda r: abs(r["objective_highs_alone"] - r["objective_mgdsl"]))
    ref = max(abs(worst["objective_mgdsl"]), 1e-9)
    row["objective_rel_diff"] = float(f"{abs(worst['objective_highs_alone'] - worst['objective_mgdsl']) / ref:.3g}")
    row["api_cli_rel_diff"] = float(f"{max(abs(r['objective_api'] - r['objective_mgdsl']) for r in runs) / ref:.3g}")
    allowed = 1e-6
    if row["kind"] == "MILP":
        # each incumbent lies within its run's reported gap of the optimum, so the two within the larger one
        gaps = [g for r in runs for g in (r["mip_gap_mgdsl"], r["mip_gap_alone"]) if g == g and g < 1]
        allowed = max([allowed, *gaps])
    row["objective_tolerance"] = float(f"{allowed:.3g}")
    row["objective_match"] = row["objective_rel_diff"] <= allowed and row["alone_status"] == "Optimal"
    return row


USER_COLUMNS = [
    ("model", "model", "{}"),
    ("kind", "kind", "{}"),
    ("variables", "vars", "{}"),
    ("constraints", "rows", "{}"),
    ("discrete", "int", "{}"),
    ("cli_wall_s", "mgdsl solve s", "{:.2f}"),
    ("alone_wall_s", "HiGHS alone s", "{:.2f}"),
    ("alone_read_s", "  read", "{:.3f}"),
    ("alone_run_s", "  run", "{:.3f}"),
    ("highs_run_s", "solver in mgdsl", "{:.3f}"),
    ("non_solver_s", "not solver", "{:.2f}"),
    ("non_solver_over_solver", "not/solver", "{:.2f}"),
    ("objective_mgdsl", "objective", "{:,.4f}"),
    ("objective_rel_diff", "alone vs mgdsl", "{:.1e}"),
    ("objective_match", "match", "{}"),
]
STAGE_COLUMNS = [
    ("model", "model", "{}"),
    ("solve_process_s", "API process s", "{:.2f}"),
    ("startup_s", "start+exit", "{:.2f}"),
    ("import_s", "imports", "{:.2f}"),
    ("parse_check_s", "parse+check", "{:.3f}"),
    ("lower_s", "lower", "{:.2f}"),
    ("to_highs_s", "to HiGHS", "{:.3f}"),
    ("highs_run_s", "HiGHS run", "{:.3f}"),
    ("read_back_s", "read back", "{:.3f}"),
    ("collect_s", "results", "{:.3f}"),
    ("save_s", "write results", "{:.2f}"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=ALL_MODELS, help="model files (default: the bundled five)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats per model; medians are reported (default 3)")
    ap.add_argument("--time-limit", type=float, default=None, help="solver time limit, for mgdsl and HiGHS alone")
    ap.add_argument("--mip-gap", type=float, default=None, help="relative MIP gap, for mgdsl and HiGHS alone")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--smoke", action="store_true", help="models/example.mgd only, one repeat")
    ap.add_argument("--worker", nargs=4, metavar=("MODEL", "OUT", "MPS", "OPTIONS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        model, out_dir, mps, options = args.worker
        worker(model, out_dir, mps, json.loads(options))
        return 0
    if args.smoke:
        args.models, args.repeat = ["models/example.mgd"], 1
    # model paths as given from here, or from the repository root (the defaults); the helpers run in the root
    args.models = [str(Path(m).resolve() if Path(m).exists() else ROOT / m) for m in args.models]
    out = args.csv or RESULTS / ("end_to_end_smoke.csv" if args.smoke else "end_to_end.csv")

    print(f"mgdsl end-to-end benchmark: `mgdsl solve` against HiGHS alone on the exported MPS, "
          f"{args.repeat} repeat(s), medians")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    rows = []
    for model in args.models:
        rows.append(measure(model, args.repeat, args.time_limit, args.mip_gap))
        r = rows[-1]
        print(f"  {r['model']}: mgdsl solve {r['cli_wall_s']:.2f} s, HiGHS alone {r['alone_wall_s']:.2f} s, "
              f"objectives {'agree' if r['objective_match'] else 'DIFFER'} ({r['objective_rel_diff']:.1e})",
              flush=True)
    print("\nWhat the user waits for (s; 'not solver' = the API process's wall time minus its HiGHS run):")
    print_table(rows, USER_COLUMNS)
    print("\nWhere mgdsl's time goes (s; the API process, stage by stage):")
    print_table(rows, STAGE_COLUMNS)
    target = next((r for r in rows if r["model"] == TARGET_MODEL), None)
    if target is not None:
        met = target["non_solver_s"] < target["highs_run_s"]
        print(f"\ntarget on {TARGET_MODEL}: everything that is not the solver {target['non_solver_s']:.2f} s "
              f"{'<' if met else '>='} the solver {target['highs_run_s']:.2f} s "
              f"({target['non_solver_over_solver']:.2f}x): {'met' if met else 'NOT met'}")
    mismatched = [r["model"] for r in rows if not r["objective_match"]]
    if mismatched:
        print(f"objective mismatch between HiGHS alone and mgdsl: {', '.join(mismatched)}")
    write_csv(out, rows)
    return 1 if mismatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
