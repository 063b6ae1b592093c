"""Benchmark: what each ATC executor costs per iteration, serial against processes against Dask (a LocalCluster
it starts, and an existing cluster of several `dask worker` processes behind a `dask scheduler` on loopback,
which is how remote workers are reached), on 3 to 100 microgrids: time per iteration, the part outside HiGHS,
bytes that cross per iteration, the round trip of an empty call, and start-up.

The system is bench_atc_scaling.py's continuous variant (the IEEE 33-bus feeder with N multi-energy
microgrids; for N > 32 copies at the same buses, sizes scaled by 32 / N). Every executor runs the same
`--iterations` ATC iterations (pwl, tolerance 1e-3; a run that converges sooner stops there), and must take
the same path as serial (the objective of every iteration equal to 1e-9): the executor changes where parts
live, not what they compute.

Per (N, executor), measured around the executor (its calls from the coordinator):
  - ms/iter: the iterations' wall time over their number (as the driver reports it);
  - HiGHS ms/iter: per executor call the busiest worker's sum of Highs.run() times (serial: all of them),
    over the iterations: the critical path of the solves;
  - overhead ms/iter: ms/iter minus HiGHS ms/iter: setting values, the coordinator, and for the parallel
    executors moving the vectors (pickling, pipes or TCP, waking the workers); "+ vs serial" is that minus
    serial's overhead in the same run, and "x serial" the ratio of ms/iter to serial's;
  - payload kB/iter: the pickled requests (part, target values, multipliers, weights, held statuses) and
    answers (part, copies z, own cost, time, status), both directions, per iteration;
  - wire kB/iter (dask only): bytes the driver wrote to and read from the workers' sockets during the
    iterations, Dask's framing included (counted at distributed's TCP comm);
  - rtt ms: the median round trip of an empty call to one worker (200 calls), the latency floor per message;
  - start s: starting the executor (workers or cluster) and building the subproblems.

    .venv/bin/python bench/bench_executors.py [--microgrids 3 10 30 100] [--steps 24] [--iterations 10]
                                              [--executors serial processes dask dask-remote] [--remote-workers 3]
    .venv/bin/python bench/bench_executors.py --quick      # N = 3, 4 steps, 3 iterations, every executor

Prints a table and writes bench/results/executors.csv (executors_quick.csv with --quick).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pickle
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import print_table, write_csv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_atc_scaling import scaled_system_text  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.solve import atc as atc_mod  # noqa: E402
from mgdsl.solve.atc import ATCOptions, run_atc  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EXECUTORS = ("serial", "processes", "dask", "dask-remote")


class WireCounter:
    """Bytes this process writes to and reads from given peers over distributed's TCP comms, while on."""

    def __init__(self) -> None:
        self.peers: set[str] = set()
        self.on = False
        self.sent = self.received = 0
        self._streams: dict[int, str] = {}

    def install(self):
        import distributed.comm.tcp as tcp

        counter, write, read, read_rw = self, tcp.TCP.write, tcp.TCP.read, tcp.read_bytes_rw

        async def counted_write(comm, msg, serializers=None, on_error="message"):
            n = await write(comm, msg, serializers=serializers, on_error=on_error)
            if counter.on and comm.peer_address in counter.peers:
                counter.sent += n
            return n

        async def counted_read(comm, deserializers=None):
            if comm.stream is not None:
                counter._streams[id(comm.stream)] = comm.peer_address
                if counter.on and comm.peer_address in counter.peers:
                    counter.received += 8                       # the frame length before the frames
            return await read(comm, deserializers=deserializers)

        async def counted_read_rw(stream, n):
            if counter.on and counter._streams.get(id(stream)) in counter.peers:
                counter.received += n
            return await read_rw(stream, n)

        tcp.TCP.write, tcp.TCP.read, tcp.read_bytes_rw = counted_write, counted_read, counted_read_rw

        def uninstall():
            tcp.TCP.write, tcp.TCP.read, tcp.read_bytes_rw = write, read, read_rw
        return uninstall


class Meter:
    """An executor wrapper: start time, per solve call the HiGHS critical path and the pickled bytes both
    ways, the round trip of an empty call after the build; Dask's wire bytes through a WireCounter."""

    def __init__(self, inner, wire: WireCounter | None) -> None:
        self.inner = inner
        self.wire = wire
        self.start_s = self.critical_s = 0.0
        self.payload = 0
        self.calls = 0
        self.rtt_ms = float("nan")
        self.workers = 0

    def start(self, specs, steps):
        t0 = time.perf_counter()
        self.inner.start(specs, steps)
        self.start_s = time.perf_counter() - t0
        self.rtt_ms = round_trip_ms(self.inner)
        self.workers = (len(self.inner.worker_addresses()) if hasattr(self.inner, "worker_addresses")
                        else len(getattr(self.inner, "procs", [None])))
        if self.wire is not None:
            self.wire.peers = set(self.inner.worker_addresses())
            self.wire.on = True

    def solve(self, requests):
        home = getattr(self.inner, "home", {})
        groups: dict[int, list] = {}
        for r in requests:
            groups.setdefault(home.get(r[0], 0), []).append(r)
        outcomes = self.inner.solve(requests)
        self.calls += 1
        per_worker: dict[int, float] = {}
        for o in outcomes:
            per_worker[home.get(o.part, 0)] = per_worker.get(home.get(o.part, 0), 0.0) + o.seconds
        self.critical_s += max(per_worker.values(), default=0.0)
        if self.inner.name != "serial":          # serial moves nothing: its calls stay in this process
            by_part = {o.part: o for o in outcomes}
            for reqs in groups.values():
                self.payload += len(pickle.dumps(("solve", (reqs,)), protocol=pickle.HIGHEST_PROTOCOL))
                self.payload += len(pickle.dumps([by_part[r[0]] for r in reqs], protocol=pickle.HIGHEST_PROTOCOL))
        return outcomes

    def results(self, names):
        if self.wire is not None:
            self.wire.on = False                 # the iterations are over: results are one transfer at the end
        return self.inner.results(names)

    def write(self, name, path):
        return self.inner.write(name, path)

    def close(self):
        if self.wire is not None:
            self.wire.on = False
        return self.inner.close()


def round_trip_ms(executor, calls: int = 200) -> float:
    """The median time of an empty call (`results([])`) to the first worker."""
    if executor.name == "serial":
        call = lambda: executor.worker.results([])          # noqa: E731
    else:
        call = lambda: executor._call(0, "results", ([],))   # noqa: E731
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


@contextlib.contextmanager
def loopback_cluster(workers: int, folder: Path):
    """A `dask scheduler` and `workers` single-threaded `dask worker` processes on 127.0.0.1, each its own
    process as on other machines; yields the scheduler's address and stops them (their pids) at the end."""
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    file = folder / "scheduler.json"
    procs = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file),
                                      "--idle-timeout", "3600"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 120
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise SystemExit("the dask scheduler did not start")
            time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        for k in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--name", f"remote-{k}", "--death-timeout", "120"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, set_as_default=False, timeout=60) as client:
            client.wait_for_workers(workers, timeout=180)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def metered_atc(ir, options: ATCOptions, wire: WireCounter | None):
    """run_atc with its executor wrapped by a Meter (mgdsl.solve.atc looks executors up as make_executor)."""
    plain = atc_mod.make_executor
    meters: list[Meter] = []

    def metered(*args, **kwargs):
        meters.append(Meter(plain(*args, **kwargs), wire))
        return meters[-1]

    atc_mod.make_executor = metered
    try:
        run = run_atc(ir, options)
    finally:
        atc_mod.make_executor = plain
    return run, meters[0]


def measure(n: int, steps: int, executors: list[str], options: ATCOptions, remote: str | None) -> list[dict]:
    text = scaled_system_text(n, steps, "continuous")
    ir = mgdsl.loads(text, path=str(ROOT / "models" / "bench_executors.mgd")).ir
    rows, serial = [], None
    for name in executors:
        opts = dataclasses.replace(options, executor=name.split("-")[0],
                                   scheduler=remote if name == "dask-remote" else None)
        wire, uninstall = None, None
        if name.startswith("dask"):
            wire = WireCounter()
            uninstall = wire.install()
        try:
            run, meter = metered_atc(ir, opts, wire)
        finally:
            if uninstall is not None:
                uninstall()
        iterations = len(run.iterations)
        loop_ms = 1e3 * sum(it.seconds for it in run.iterations) / iterations
        highs_ms = 1e3 * meter.critical_s / iterations
        objectives = [it.objective for it in run.iterations]
        row = {
            "microgrids": n, "steps": steps, "executor": name,
            "workers": meter.workers,
            "parts": n + 1, "iterations": iterations,
            "start_s": round(meter.start_s, 2),
            "ms_per_iteration": round(loop_ms, 2),
            "highs_ms_per_iteration": round(highs_ms, 2),
            "overhead_ms_per_iteration": round(loop_ms - highs_ms, 2),
            "calls_per_iteration": round(meter.calls / iterations, 2),
            "payload_kb_per_iteration": round(meter.payload / iterations / 1e3, 2) if name != "serial" else 0.0,
            "wire_kb_per_iteration": round((wire.sent + wire.received) / iterations / 1e3, 2) if wire else None,
            "rtt_ms": round(meter.rtt_ms, 3),
            "objective": run.objective,
        }
        if name == "serial":
            serial = (row, objectives)
        if serial is not None:
            base, base_objectives = serial
            row["x_serial"] = round(loop_ms / base["ms_per_iteration"], 2)
            row["overhead_vs_serial_ms"] = round(row["overhead_ms_per_iteration"]
                                                 - base["overhead_ms_per_iteration"], 2)
            row["same_iterates"] = (len(objectives) == len(base_objectives) and all(
                abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in zip(objectives, base_objectives)))
        rows.append(row)
        print(f"  N={n} {name}: {iterations} iterations, {loop_ms:.1f} ms/iteration "
              f"(HiGHS {highs_ms:.1f}), start {meter.start_s:.1f} s", flush=True)
    return rows


COLUMNS = [
    ("microgrids", "N", "{}"),
    ("executor", "executor", "{}"),
    ("workers", "workers", "{}"),
    ("iterations", "iters", "{}"),
    ("start_s", "start s", "{:.1f}"),
    ("ms_per_iteration", "ms/iter", "{:.1f}"),
    ("x_serial", "x serial", "{:.2f}"),
    ("highs_ms_per_iteration", "HiGHS ms/iter", "{:.1f}"),
    ("overhead_ms_per_iteration", "overhead ms/iter", "{:.1f}"),
    ("overhead_vs_serial_ms", "+ vs serial", "{:+.1f}"),
    ("calls_per_iteration", "calls/iter", "{:.0f}"),
    ("payload_kb_per_iteration", "payload kB/iter", "{:.1f}"),
    ("wire_kb_per_iteration", "wire kB/iter", "{:.1f}"),
    ("rtt_ms", "rtt ms", "{:.3f}"),
    ("same_iterates", "same as serial", "{}"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--microgrids", type=int, nargs="+", default=[3, 10, 30, 100], help="sizes N (default 3 10 30 100)")
    ap.add_argument("--steps", type=int, default=24, help="time steps over one day (default 24)")
    ap.add_argument("--iterations", type=int, default=10, help="ATC iterations per run (default 10)")
    ap.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS),
                    help="serial is the baseline: give it first")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes (processes) or LocalCluster workers (dask); default one per core")
    ap.add_argument("--remote-workers", type=int, default=3,
                    help="`dask worker` processes behind the loopback scheduler of dask-remote (default 3)")
    ap.add_argument("--csv", type=Path, default=None, help="where to write the CSV")
    ap.add_argument("--quick", action="store_true", help="N = 3, 4 steps, 3 iterations, every executor")
    args = ap.parse_args(argv)
    args.executors = [e for e in EXECUTORS if e in args.executors]        # serial, the baseline, first
    if args.quick:
        args.microgrids, args.steps, args.iterations, args.remote_workers = [3], 4, 3, 2
    out = args.csv or RESULTS / ("executors_quick.csv" if args.quick else "executors.csv")
    options = ATCOptions(max_iterations=args.iterations, workers=args.workers)

    print(f"mgdsl ATC executors benchmark: IEEE 33-bus + N microgrids, {args.steps} steps, {args.iterations} "
          f"iterations, penalty {options.penalty}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    with contextlib.ExitStack() as stack:
        remote = None
        if "dask-remote" in args.executors:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mgdsl-bench-dask-")))
            remote = stack.enter_context(loopback_cluster(args.remote_workers, folder))
            print(f"loopback cluster: scheduler {remote}, {args.remote_workers} `dask worker` processes")
        for n in args.microgrids:
            rows += measure(n, args.steps, args.executors, options, remote)
    print()
    print_table(rows, COLUMNS)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    differ = [f"N={r['microgrids']} {r['executor']}" for r in rows if r.get("same_iterates") is False]
    if differ:
        print(f"iterates differ from serial: {', '.join(differ)}")
    write_csv(out, rows, fields=list(dict.fromkeys(k for r in rows for k in r)))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
