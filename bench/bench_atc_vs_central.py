"""Benchmark: ATC against the centralized solve on the paper's case (models/ieee33_3mg.mgd), both measured in the
same run as a user runs them: `mgdsl solve MODEL` and `mgdsl solve MODEL --decompose atc`, each a fresh process
(start-up to exit, results written), alternating which goes first. The ATC process carries timing hooks that
split every iteration into each part's solve (HiGHS, including a MILP part's certificate LPs), the work around
the solves in the parts (setting targets, reading answers), transfer (executor calls around the parts: zero in
the serial executor, pipes and pickling with `processes`) and coordination (the update rule and stopping tests).

    .venv/bin/python bench/bench_atc_vs_central.py                      # 3 repeats (~3 min on 2 idle cores)
    .venv/bin/python bench/bench_atc_vs_central.py --repeat 5 --executor processes
    .venv/bin/python bench/bench_atc_vs_central.py --spec integers=milp  # a subproblem setting (SubproblemSpec)
    .venv/bin/python bench/bench_atc_vs_central.py --quick              # the same case on 6 hours, once (~15 s)

Prints the load (`uptime`), a table per repeat (walls, ratio, iterations, objectives, gap) and the iteration
breakdown of the last repeat; writes bench/results/atc_vs_central.csv and atc_vs_central_iterations.csv
(`_quick` with --quick). See bench/README.md, section 5, for the latest figures.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MODEL = ROOT / "models" / "ieee33_3mg.mgd"


# ---------------------------------------------------------------- the child: `mgdsl solve` with timing hooks
def child(out_json: str, specs: list[str], args: list[str]) -> int:
    """Run the CLI in this process with hooks on the ATC loop; write what they saw to `out_json`."""
    sys.path.insert(0, str(ROOT))
    rounds: list[dict] = []
    inside: list[float] = []           # wall of set_values + solve of each part request (this process only)
    overrides = dict(s.split("=", 1) for s in specs)
    try:
        from mgdsl.decompose import subproblem
        from mgdsl.solve import atc, coordinator

        if overrides:
            specs_for = atc.specs_for

            def with_overrides(*a, **k):
                out = specs_for(*a, **k)
                for spec in out:
                    for key, value in overrides.items():
                        default = getattr(spec, key)
                        setattr(spec, key, type(default)(value) if default is not None else value)
                return out

            atc.specs_for = with_overrides

        def timed(orig):
            def call(*a, **k):
                t = time.perf_counter()
                try:
                    return orig(*a, **k)
                finally:
                    inside.append(time.perf_counter() - t)
            return call

        for method in ("set_values", "solve"):
            setattr(subproblem.Subproblem, method, timed(getattr(subproblem.Subproblem, method)))

        solve_parts = coordinator._solve_parts

        def timed_round(executor, requests, k):
            before = len(inside)
            t = time.perf_counter()
            outs = solve_parts(executor, requests, k)
            wall = time.perf_counter() - t
            rounds.append({"k": k, "wall": wall, "inside": sum(inside[before:]) if len(inside) > before else None,
                           "parts": {o.part: o.seconds for o in outs},
                           "relaxed": {o.part: bool(o.integers_fixed) for o in outs}})
            return outs

        coordinator._solve_parts = timed_round
    except (ImportError, AttributeError) as exc:      # the hooks are optional: the walls are still measured
        print(f"(no iteration breakdown: {exc})", file=sys.stderr)
    from mgdsl.cli import main

    code = 0
    try:
        main(args, standalone_mode=False)
    except SystemExit as exc:
        code = exc.code or 0
    with open(out_json, "w") as f:
        json.dump({"rounds": rounds, "exit": code}, f)
    return int(code)


# ---------------------------------------------------------------- the parent: both runs, repeated
def quick_model(folder: Path, start: int, hours: int) -> Path:
    """The case on `hours` hours from hour `start` (1-based): the same network, cones, capacitor banks and
    microgrids, with the time series cut to that window."""
    (folder / "data" / "ieee33_3mg").mkdir(parents=True)
    shutil.copytree(ROOT / "models" / "data" / "ieee33", folder / "data" / "ieee33")
    for name in ("prices.csv", "profiles.csv"):
        with open(ROOT / "models" / "data" / "ieee33_3mg" / name, newline="") as f:
            rows = list(csv.reader(f))
        with open(folder / "data" / "ieee33_3mg" / name, "w", newline="") as f:
            csv.writer(f).writerows([rows[0]] + rows[start:start + hours])
    text = MODEL.read_text().replace("horizon 24 steps of 1 h", f"horizon {hours} steps of 1 h")
    if f"horizon {hours} steps" not in text:
        raise SystemExit("the model's horizon line changed; update quick_model")
    path = folder / "ieee33_3mg_quick.mgd"
    path.write_text(text)
    return path


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def run_central(model: Path, work: Path) -> dict:
    out = work / "central"
    load_before = load()
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mgdsl.cli", "solve", str(model), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"centralized solve failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"central_s": wall, "central_objective": summary["objective"],
            "central_solver_s": summary.get("timings_s", {}).get("solve"), "load_central": load_before}


def run_atc(model: Path, work: Path, executor: str, specs: list[str]) -> tuple[dict, list[dict]]:
    out, hooks = work / "atc", work / "hooks.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(hooks)]
    for s in specs:
        cmd += ["--spec", s]
    cmd += ["--", "solve", str(model), "--decompose", "atc", "--executor", executor, "-o", str(out)]
    load_before = load()
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 3):
        raise SystemExit(f"ATC failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    history = summary["atc"]["history"]
    times = summary["atc"]["time_s"]
    seen = json.loads(hooks.read_text())
    row = {"atc_s": wall, "atc_objective": summary["objective"], "iterations": len(history),
           "converged": summary["atc"]["converged"], "build_s": times.get("build"),
           "solves_s": times.get("subproblem_solves"), "coordination_s": times.get("coordination"),
           "load_atc": load_before}
    return row, breakdown(history, seen["rounds"], executor)


def breakdown(history: list[dict], rounds: list[dict], executor: str) -> list[dict]:
    """Per iteration: each part's solve, the work around it in the parts, transfer, coordination."""
    rows = []
    for it in history:
        k = it["iteration"]
        mine = [r for r in rounds if r["k"] == k]
        row = {"iteration": k, "phase": it.get("phase", ""), "inconsistency_pu": it["inconsistency_pu"],
               "objective": it["objective"], "iteration_s": it["seconds"]}
        parts: dict[str, float] = {}
        for r in mine:
            for name, s in r["parts"].items():
                parts[name] = parts.get(name, 0.0) + s
        for name, s in parts.items():
            row[f"part_{name}_s"] = s
        row["relaxed_parts"] = " ".join(sorted({n for r in mine for n, f in r["relaxed"].items() if f}))
        walls = sum(r["wall"] for r in mine)
        if executor == "serial":
            inside = sum(r["inside"] or 0.0 for r in mine)
            row["around_solves_s"] = max(inside - sum(parts.values()), 0.0)
            row["transfer_s"] = max(walls - inside, 0.0)
        else:        # parts of a round run side by side; what is not the longest solve is transfer and overhead
            row["around_solves_s"] = None
            row["transfer_s"] = max(walls - sum(max(r["parts"].values(), default=0.0) for r in mine), 0.0)
        row["coordination_s"] = max(it["seconds"] - walls, 0.0) if mine else None
        rows.append(row)
    return rows


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        out_json, rest = argv[1], argv[2:]
        specs = []
        while rest[:1] == ["--spec"]:
            specs.append(rest[1])
            rest = rest[2:]
        return child(out_json, specs, rest[1:] if rest[:1] == ["--"] else rest)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--executor", default="serial", choices=["serial", "processes"])
    ap.add_argument("--spec", action="append", default=[], metavar="KEY=VALUE",
                    help="a subproblem setting for every part (SubproblemSpec field), e.g. integers=milp")
    ap.add_argument("--quick", action="store_true", help="the same case on 6 hours (16:00-22:00), one repeat")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the summary CSV")
    args = ap.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    out = args.csv or RESULTS / f"atc_vs_central{suffix}.csv"
    out_iterations = out.with_name(out.stem + "_iterations.csv")
    with tempfile.TemporaryDirectory(prefix="mgdsl-bench-") as tmp:
        tmp = Path(tmp)
        model = quick_model(tmp / "model", 16, 6) if args.quick else args.model.resolve()
        repeats = 1 if args.quick else args.repeat
        print(f"mgdsl ATC against centralized: {model.name}, executor {args.executor}"
              + (f", {' '.join(args.spec)}" if args.spec else "") + f", {repeats} repeat(s)")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; load average (1, 5, 15 min) at start: {load()}")
        rows, last = [], []
        for rep in range(1, repeats + 1):
            work = tmp / f"run{rep}"
            work.mkdir()
            # alternate the order, so that a drift of the machine's load does not favour one side
            if rep % 2:
                central = run_central(model, work)
                atc, iterations = run_atc(model, work, args.executor, args.spec)
            else:
                atc, iterations = run_atc(model, work, args.executor, args.spec)
                central = run_central(model, work)
            row = {"repeat": rep, **central, **atc}
            row["ratio"] = row["atc_s"] / row["central_s"]
            row["gap_pct"] = 100 * (row["atc_objective"] - row["central_objective"]) / abs(row["central_objective"])
            row["load_end"] = load()
            rows.append(row)
            last = iterations
            for it in iterations:
                it["repeat"] = rep
            print(f"  repeat {rep}: centralized {row['central_s']:.1f} s, ATC {row['atc_s']:.1f} s "
                  f"({row['iterations']} iterations): {row['ratio']:.2f}x, gap {row['gap_pct']:+.4f} %", flush=True)
            row["_iterations"] = iterations
    all_iterations = [i for r in rows for i in r.pop("_iterations")]
    print()
    print_table(rows, [("repeat", "rep", "{}"), ("load_central", "load before central", "{}"),
                       ("central_s", "central s", "{:.1f}"), ("central_solver_s", "of it HiGHS s", "{:.1f}"),
                       ("load_atc", "load before ATC", "{}"), ("atc_s", "ATC s", "{:.1f}"),
                       ("build_s", "build s", "{:.2f}"), ("solves_s", "part solves s", "{:.1f}"),
                       ("coordination_s", "coord s", "{:.3f}"), ("iterations", "iters", "{}"),
                       ("ratio", "ATC / central", "{:.2f}x"), ("gap_pct", "gap %", "{:+.4f}")])
    ratios = sorted(r["ratio"] for r in rows)
    print(f"\nATC / centralized (wall, same run): median {ratios[len(ratios) // 2]:.2f}x, "
          f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x; load average at end: {load()}")
    if last:
        parts = sorted({k[5:-2] for it in last for k in it if k.startswith("part_")})
        print(f"\niterations of repeat {rows[-1]['repeat']} (seconds; relaxed: parts that answered with relaxed "
              "integers or coarse cones):")
        cols = [("iteration", "k", "{}"), ("phase", "phase", "{}"), ("inconsistency_pu", "max |r-x|", "{:.1e}")]
        cols += [(f"part_{p}_s", p, "{:.2f}") for p in parts]
        cols += [("around_solves_s", "around", "{:.3f}"), ("transfer_s", "transfer", "{:.3f}"),
                 ("coordination_s", "coord", "{:.4f}"), ("iteration_s", "iteration", "{:.2f}"),
                 ("relaxed_parts", "relaxed", "{}")]
        print_table(last, cols)
    write_csv(out, rows, [k for k in rows[0] if not k.startswith("_")])
    fields = list(dict.fromkeys(k for it in all_iterations for k in it))
    write_csv(out_iterations, all_iterations, fields)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
