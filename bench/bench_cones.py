"""Benchmark: the branch-flow cones of the 33-bus case (models/ieee33_3mg.mgd) met three ways, side by side in one
run: the whole polyhedral lift (`cones = lift`), tangents added lazily to one HiGHS model (`cones = lazy`) and
Clarabel's exact cones (`cones = exact`, continuous models only).

    .venv/bin/python bench/bench_cones.py           # the day, each way once, and `mgdsl solve` end to end (~2 min)
    .venv/bin/python bench/bench_cones.py --quick   # 6 hours, no end-to-end runs (the smoke test, ~10 s)

Part 1, the model as it is (a MILP: the capacitor banks' steps): lift and lazy, lowering and solving timed apart
(wall and CPU), cost, MIP gap, LP rounds, tangents, MILP solves. Part 2, its continuous relaxation (the integers
made continuous): lift, lazy and exact, each cost's error against exact's. Part 3 (not with --quick): `mgdsl solve`
end to end (start-up to exit, results written) with `--cones lift` and `--cones lazy`, wall and CPU of the child.
Part 4: where the lazy tangents went, per line (the accuracy adapts to each line's flow by itself). Prints the
load average; writes bench/results/cones.csv (`_quick` with --quick). Figures: bench/README.md, section 8.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MODEL = ROOT / "models" / "ieee33_3mg.mgd"

import mgdsl  # noqa: E402
from mgdsl.lower.system import lower_system  # noqa: E402
from mgdsl.solve.centralized import solve_lowered  # noqa: E402


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def quick_model(folder: Path, start: int, hours: int) -> Path:
    """The case on `hours` hours from hour `start` (as bench_atc_vs_central.py --quick)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_atc_vs_central import quick_model as cut

    return cut(folder, start, hours)


class Clock:
    """Wall and CPU (this process: user + system) seconds of a block."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0


def one_way(ir, mode: str, relaxed: bool) -> dict:
    """Lower and solve centrally with the cones met as `mode`; `relaxed`: the integers made continuous."""
    with Clock() as lower:
        low = lower_system(ir, solver_cones=mode != "lift")
        if relaxed:
            for name in list(low.model.integers) + list(low.model.binaries):
                low.model.variables[name].attrs["integer"] = False
                low.model.variables[name].attrs["binary"] = False
    with Clock() as solve:
        if mode == "exact" and relaxed:
            from mgdsl.solve.conic import solve_exact

            out = solve_exact(low, relax_integers=True)
            objective, gap = out.objective + low.objective_constant, None
        else:
            info = solve_lowered(low, cones=mode)
            objective, gap = info.objective, info.mip_gap
    report = low.network.cone_report or {}
    return {"model": "continuous" if relaxed else "MILP", "cones": mode, "rows": int(low.model.ncons),
            "lower_s": lower.wall, "lower_cpu_s": lower.cpu, "solve_s": solve.wall, "solve_cpu_s": solve.cpu,
            "cost": objective, "mip_gap": gap, "rounds": report.get("rounds"), "tangents": report.get("cuts"),
            "milps": report.get("mip_solves"), "per_cone": report.get("per_cone"), "low": low}


def end_to_end(model: Path, mode: str, work: Path) -> dict:
    """`mgdsl solve MODEL --cones MODE` in a fresh process, results written: wall, and the child's CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "mgdsl"), "solve", str(model), "--cones", mode, "-o",
                    str(work / mode)], check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"model": "MILP", "cones": f"{mode} (mgdsl solve)", "e2e_s": wall, "e2e_cpu_s": cpu}


def per_line(row: dict) -> list[dict]:
    """Tangents per line over the day against the line's largest apparent flow (kVA)."""
    import numpy as np

    low = row["low"]
    ds_p, ds_q = low.network.P.solution, low.network.Q.solution
    s = np.sqrt(ds_p.values ** 2 + ds_q.values ** 2).max(axis=1)
    tangents = np.asarray(row["per_cone"]).reshape(ds_p.shape).sum(axis=1)
    lines = list(ds_p.coords["line"].values)
    order = np.argsort(-s)
    return [{"line": lines[k], "max_kva": float(s[k]), "tangents": int(tangents[k])} for k in order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 hours (16:00-22:00), no end-to-end runs")
    args = ap.parse_args()
    print(f"load average (1, 5, 15 min): {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = quick_model(tmp / "model", 16, 6) if args.quick else MODEL
        ir = mgdsl.load(model).ir
        rows = [one_way(ir, "lift", False), one_way(ir, "lazy", False)]
        relaxed = [one_way(ir, mode, True) for mode in ("exact", "lift", "lazy")]
        exact = relaxed[0]["cost"]
        for r in rows + relaxed:
            r["error_vs_exact"] = (r["cost"] - exact) / abs(exact)
        rows += relaxed
        lazy_milp = rows[1]
        if not args.quick:
            rows += [end_to_end(model, mode, tmp) for mode in ("lift", "lazy")]
    print(f"\n{MODEL.name}{' (6 hours)' if args.quick else ''}: the cones met three ways; costs in yuan, "
          f"errors relative to exact cones on the continuous relaxation")
    print_table(rows, [("model", "model", "{}"), ("cones", "cones", "{}"), ("rows", "rows", "{:,}"),
                       ("lower_s", "lower s", "{:.2f}"), ("solve_s", "solve s", "{:.2f}"),
                       ("solve_cpu_s", "solve CPU s", "{:.2f}"), ("e2e_s", "end to end s", "{:.2f}"),
                       ("e2e_cpu_s", "e2e CPU s", "{:.2f}"), ("cost", "cost", "{:,.3f}"),
                       ("error_vs_exact", "error vs exact", "{:+.2e}"), ("mip_gap", "MIP gap", "{:.1e}"),
                       ("rounds", "LP rounds", "{}"), ("tangents", "tangents", "{:,}"), ("milps", "MILPs", "{}")])
    lines = per_line(lazy_milp)
    print("\nlazy tangents per line over the horizon (MILP), by the line's largest apparent flow:")
    shown = lines[:5] + lines[-3:]
    print_table(shown, [("line", "line", "{}"), ("max_kva", "max kVA", "{:,.0f}"), ("tangents", "tangents", "{}")])
    print(f"load average (1, 5, 15 min): {load()}")
    for r in rows:
        r.pop("low", None)
        r.pop("per_cone", None)
    write_csv(RESULTS / f"cones{'_quick' if args.quick else ''}.csv", rows,
              ["model", "cones", "rows", "lower_s", "lower_cpu_s", "solve_s", "solve_cpu_s", "e2e_s", "e2e_cpu_s",
               "cost", "error_vs_exact", "mip_gap", "rounds", "tangents", "milps"])


if __name__ == "__main__":
    main()
