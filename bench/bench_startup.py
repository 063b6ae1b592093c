"""Benchmark: start-up and parse speed (issue 13). Every figure is taken in fresh processes, each one paying its
own interpreter start and imports, and compared with a baseline measured in the same run:

  1. `mgdsl check SMALL` and `mgdsl solve SMALL -o DIR` (results written), wall time as a user waits for them,
     against the interpreter alone (`python -c pass`) and against importing linopy alone (the floor of any
     process that builds a linopy model); each process's own peak RSS beside its time. With `--before TREE` (a
     source tree of an earlier commit: `git archive COMMIT | tar -x -C TREE`) the same solve by that tree's
     mgdsl too, interleaved, so that a change is measured before and after in one run. Where the solve's time
     goes: the stages it reports itself (summary.json `timings_s`: parse, check, lower, solve, results) and
     the rest (imports, writing the folder, interpreter start and exit).
  2. The N-microgrid file of bench_compile.py (default N = 1000, T = 24): its parse against the parser as it
     was before issue 13 (lark's propagate_positions, the garbage collector on), the same text in the same
     worker, so the ratio is the speed-up; then parse + check through the API (mgdsl.load: with the stdlib
     files it uses), against the old parse plus the same check. A second load in the same process is what
     `mgdsl check --watch` pays per save.

    .venv/bin/python bench/bench_startup.py [--microgrids 1000] [--repeat 5] [--before TREE]
    .venv/bin/python bench/bench_startup.py --smoke          # N = 10, one repeat, ~15 s

Prints a table and writes bench/results/startup.csv (startup_smoke.csv with --smoke); times are medians over
the repeats, runs of the different commands interleaved so that a change in the machine's load hits them all.
Wall and CPU time (user + system) are both shown: on a loaded machine the wall time waits for a core, while the
CPU time stays close to what an idle machine's wall time would be.
"""
from __future__ import annotations

import argparse
import gc
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable
SMALL = ROOT / "models" / "storage_arbitrage.mgd"
MARK = "BENCH_JSON "
TARGETS = {"check": 0.3, "solve": 0.8, "parse_check": 1.0}      # seconds (issue 13)


# Runs each command and answers its wall time, CPU time and peak RSS (os.wait4: its process's own). Commands are
# started by this small process rather than by the benchmark: a child's peak RSS counts the memory of the
# process it was forked from (Linux keeps the high-water mark across exec), ~45 MB for the benchmark itself.
LAUNCHER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(job["cmd"], stdout=log, stderr=subprocess.STDOUT, cwd=job["cwd"], env=job["env"])
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - t0
    print(json.dumps([took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                      os.waitstatus_to_exitcode(status)]), flush=True)
"""
_launcher: subprocess.Popen | None = None


def wall(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float, float]:
    """Wall time, CPU time (user + system) and peak RSS (MB) of a command, the last two of its process alone:
    on a loaded machine the CPU time stays near what an idle machine's wall time would be, while the wall time
    waits for a core."""
    global _launcher
    if _launcher is None:
        _launcher = subprocess.Popen([PYTHON, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        job = {"cmd": cmd, "cwd": str(cwd) if cwd else None, "env": env or dict(os.environ), "log": log.name}
        _launcher.stdin.write(json.dumps(job) + "\n")
        _launcher.stdin.flush()
        took, cpu, peak_mb, code = json.loads(_launcher.stdout.readline())
        if code != 0:
            tail = Path(log.name).read_bytes()[-4000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{tail}")
    return took, cpu, peak_mb


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def parse_worker(path: Path) -> dict:
    """In this fresh process: the file's parse by the old parser and by the new one; mgdsl.load with the old
    parser (positions by lark, collector on) and with the new one, each with an empty library cache; then a
    second load (the library cache warm), what `mgdsl check --watch` pays per save."""
    sys.path.insert(0, str(ROOT))
    import contextlib

    import parser_before

    import mgdsl
    import mgdsl.api
    from mgdsl.sema import loader
    from mgdsl.source import SourceFile
    from mgdsl.syntax import parser as P

    def old_parse(file):
        try:
            return parser_before.parse(file)
        except AttributeError:                    # a rule added since: this file (a library's) as it is parsed now
            return P.parse(file)

    text = path.read_text()
    parser_before.lark_parser()                   # grammar analysis (cached on disk) not timed
    P.parse(SourceFile("<warm-up>", "let x = 1\n"))
    new_parse, new_pause = loader.parse, mgdsl.api.paused_gc
    out = {}
    for name in ("old", "new"):
        if name == "old":
            parse, loader.parse, mgdsl.api.paused_gc = old_parse, old_parse, contextlib.nullcontext
        else:
            parse, loader.parse, mgdsl.api.paused_gc = new_parse, new_parse, new_pause
        gc.collect()
        with Clock() as c:
            parse(SourceFile(str(path), text))
        out[f"{name}_parse_s"], out[f"{name}_parse_cpu"] = c.wall, c.cpu
        gc.collect()
        loader._LIBRARY_CACHE.clear()
        with Clock() as c:
            system = mgdsl.load(path)
        out[f"{name}_load_s"], out[f"{name}_load_cpu"] = c.wall, c.cpu
        out[f"{name}_check_s"] = system.timings["check"]
        del system
    gc.collect()
    with Clock() as c:
        mgdsl.load(path)
    out["reload_s"], out["reload_cpu"] = c.wall, c.cpu
    return out


def run_parse_worker(path: Path) -> dict:
    proc = subprocess.run([PYTHON, __file__, "--worker", str(path)], capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"worker failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def generated_file(n: int, directory: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_compile import synthetic_system, write_system

    return write_system(synthetic_system(n, 24), directory)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# the stages `mgdsl solve` times itself (summary.json timings_s); `total` is from the command's start to the
# results, before they are written
STAGES = ("parse", "check", "lower", "solve", "results", "total")


def compiled(tree: Path) -> None:
    """Write the bytecode caches of a tree's mgdsl (ignored by git), as an installed package has them: where
    PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile mgdsl's modules from source (0.14 s
    CPU of a small solve, measured), a cost no user pays after the first run."""
    import compileall

    compileall.compile_dir(str(tree / "mgdsl"), quiet=1)


def measure(n: int, repeat: int, work: Path, before: Path | None = None) -> tuple[list[dict], dict]:
    big = generated_file(n, work / "gen")
    for tree in [ROOT] + ([before] if before else []):
        compiled(tree)
    mgdsl = [PYTHON, "-m", "mgdsl.cli"]
    keys = ["python", "linopy", "check", "solve"] + (["before"] if before else [])
    samples: dict[str, list[tuple[float, float, float]]] = {k: [] for k in keys}
    stages: dict[str, list[dict]] = {"solve": [], "before": []}
    parses: list[dict] = []
    for i in range(repeat):
        samples["python"].append(wall([PYTHON, "-c", "pass"]))
        samples["linopy"].append(wall([PYTHON, "-c", "import linopy"]))
        samples["check"].append(wall([*mgdsl, "check", str(SMALL)]))
        # each tree's mgdsl from its own folder (`python -m` looks in the current folder first), in turn
        runs = [("solve", ROOT)] + ([("before", before)] if before else [])
        for key, tree in runs[::1 if i % 2 == 0 else -1]:
            out = work / f"{key}{i}"
            env = {**os.environ, "PYTHONPATH": str(tree)}
            samples[key].append(wall([*mgdsl, "solve", str(SMALL), "-o", str(out)], cwd=tree, env=env))
            if not (out / "summary.json").exists():
                raise RuntimeError(f"mgdsl solve ({key}) wrote no summary.json")
            stages[key].append(json.loads((out / "summary.json").read_text())["timings_s"])
        parses.append(run_parse_worker(big))
    w = {k: median([x[0] for x in v]) for k, v in samples.items()}
    c = {k: median([x[1] for x in v]) for k, v in samples.items()}
    mb = {k: median([x[2] for x in v]) for k, v in samples.items()}
    p = {k: median([x[k] for x in parses]) for k in parses[0]}

    def row(what, key, base, base_key, **extra):
        return {"what": what, "seconds": w[key] if key in w else p[key + "_s"],
                "cpu_s": c[key] if key in c else p[key + "_cpu"], "peak_mb": mb.get(key), "baseline": base,
                "baseline_s": w[base_key] if base_key in w else p[base_key + "_s"],
                "baseline_cpu_s": c[base_key] if base_key in c else p[base_key + "_cpu"],
                "baseline_peak_mb": mb.get(base_key), **extra}

    rows = [
        row("mgdsl check (small)", "check", "python -c pass", "python", target_s=TARGETS["check"]),
        row("mgdsl solve (small, written)", "solve", "python -c 'import linopy'", "linopy", target_s=TARGETS["solve"]),
        *([row("mgdsl solve (small), before", "solve", f"--before {before}", "before", target_s=TARGETS["solve"])]
          if before else []),
        row(f"parse of the file, N = {n}", "new_parse", "parser before issue 13", "old_parse"),
        row(f"parse + check (load), N = {n}", "new_load", "with the old parser", "old_load",
            target_s=TARGETS["parse_check"], check_s=p["new_check_s"], old_check_s=p["old_check_s"]),
        row(f"re-check (--watch), N = {n}", "reload", "first load", "new_load"),
    ]
    for r in rows:
        r["ratio"] = r["seconds"] / r["baseline_s"]
        r["cpu_ratio"] = r["cpu_s"] / r["baseline_cpu_s"]
    split = {key: {s: median([t.get(s, 0.0) for t in ts]) for s in STAGES} for key, ts in stages.items() if ts}
    for key, sp in split.items():
        sp["wall"], sp["cpu"] = w[key], c[key]
        # within `total` besides its stages: importing the modelling stack (linopy, xarray, pandas, ...), the
        # summary; outside it: interpreter start, mgdsl's and click's imports, writing the folder, exit
        sp["imports"] = sp["total"] - sum(sp[s] for s in STAGES if s != "total")
        sp["outside"] = sp["wall"] - sp["total"]
    return rows, split


COLUMNS = [("what", "measured", "{}"), ("seconds", "wall s", "{:.3f}"), ("cpu_s", "CPU s", "{:.3f}"),
           ("peak_mb", "peak MB", "{:.0f}"), ("baseline", "baseline (same run)", "{}"),
           ("baseline_s", "wall s", "{:.3f}"), ("baseline_cpu_s", "CPU s", "{:.3f}"),
           ("baseline_peak_mb", "peak MB", "{:.0f}"), ("ratio", "wall ratio", "{:.2f}x"),
           ("cpu_ratio", "CPU ratio", "{:.2f}x"), ("target_s", "target s", "{}")]
STAGE_COLUMNS = [("tree", "mgdsl solve (small)", "{}"), ("wall", "wall s", "{:.3f}"), ("cpu", "CPU s", "{:.3f}"),
                 *((s, f"{s} s", "{:.3f}") for s in STAGES), ("imports", "imports s", "{:.3f}"),
                 ("outside", "outside s", "{:.3f}")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--microgrids", type=int, default=1000, help="N of the large file (default 1000)")
    ap.add_argument("--repeat", type=int, default=5, help="fresh-process runs per figure (median; default 5)")
    ap.add_argument("--smoke", action="store_true", help="N = 10, one repeat")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--before", type=Path, default=None,
                    help="a source tree of an earlier commit (git archive COMMIT | tar -x -C TREE): its `mgdsl "
                         "solve` of the small model is measured too, interleaved, as the solve's baseline")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(MARK + json.dumps(parse_worker(args.worker)))
        return 0
    n, repeat = (10, 1) if args.smoke else (args.microgrids, args.repeat)
    print(f"mgdsl start-up and parse benchmark: N = {n}, {repeat} repeat(s); machine: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
          f" load average before: {load_average()}")
    before = args.before.resolve() if args.before else None
    if before is not None and not (before / "mgdsl" / "cli.py").exists():
        ap.error(f"--before {before}: not a source tree of mgdsl (no mgdsl/cli.py)")
    with tempfile.TemporaryDirectory() as tmp:
        rows, split = measure(n, repeat, Path(tmp), before)
    if _launcher is not None:                    # it ends at the end of its input
        _launcher.stdin.close()
        _launcher.wait(timeout=60)
    load_after = load_average()
    print_table(rows, COLUMNS)
    print("\nwhere the small solve's wall time goes (medians): its stages as summary.json times them; total:"
          " from the command's start to the results; imports: the rest of total (linopy, xarray, pandas, ...);"
          " outside: interpreter start, mgdsl's own imports, writing the folder, exit")
    print_table([{"tree": "this tree" if k == "solve" else f"--before {before}", **v} for k, v in split.items()],
                STAGE_COLUMNS)
    print(f"load average after: {load_after}")
    for r in rows:
        r["load_after"] = load_after
        if r["what"] == "mgdsl solve (small, written)":
            r.update({f"{s}_s": v for s, v in split["solve"].items() if s not in ("wall", "cpu")})
    fields = ["what", "seconds", "cpu_s", "peak_mb", "baseline", "baseline_s", "baseline_cpu_s",
              "baseline_peak_mb", "ratio", "cpu_ratio", "target_s", "check_s", "old_check_s",
              *(f"{s}_s" for s in (*STAGES, "imports", "outside") if s != "check"), "load_after"]
    write_csv(args.csv or RESULTS / ("startup_smoke.csv" if args.smoke else "startup.csv"), rows, fields)
    return 0


if __name__ == "__main__":
    sys.exit(main())
