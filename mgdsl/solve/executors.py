"""Where ATC subproblems live and run. The worker role (SubproblemWorker) owns subproblems for the whole
run and exchanges only vectors; executors place workers in this process (`serial`) or in long-lived worker
processes (`processes`), or as Dask actors (`dask`, mgdsl/solve/dask_executor.py); the driver only calls
start / solve / results / write / close."""
from __future__ import annotations

import logging
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import traceback

from ..decompose.subproblem import SolveOutcome, Subproblem, SubproblemSpec
from ..diagnostics import Diagnostic, InternalError, MgdError


class SubproblemWorker:
    """Owns a set of subproblems, built once; every call after build passes numbers only."""

    def __init__(self) -> None:
        self.subproblems: dict[str, Subproblem] = {}

    def build(self, specs: list[SubproblemSpec], steps: int) -> list[str]:
        for spec in specs:
            self.subproblems[spec.part.name] = Subproblem(spec, steps)
        return [s.part.name for s in specs]

    def solve(self, requests: list[tuple]) -> list[SolveOutcome]:
        """requests: (name, other level's values, multipliers, weights[, exact[, held]]); `exact` solves a MILP
        part with its integers free even where they had settled and were held (Subproblem.solve); `held` maps
        couplings received as data (switch statuses) to their values over t."""
        out = []
        for name, remote, lam, w, *rest in requests:
            sp = self.subproblems[name]
            sp.set_values(remote, lam, w, rest[1] if len(rest) > 1 else None)
            out.append(sp.solve(exact=bool(rest and rest[0])))
        return out

    def results(self, names: list[str]):
        return {n: self.subproblems[n].results() for n in names}

    def write(self, name: str, path: str) -> None:
        self.subproblems[name].write(path)


class SerialExecutor:
    name = "serial"
    worker_class = SubproblemWorker   # a study with other resident parts hosts its own worker (studies/capability.py)

    def start(self, specs: list[SubproblemSpec], steps: int) -> None:
        self.worker = self.worker_class()
        self.worker.build(specs, steps)

    def solve(self, requests):
        return self.worker.solve(requests)

    def results(self, names):
        return self.worker.results(names)

    def write(self, name, path):
        self.worker.write(name, path)

    def close(self) -> None:
        self.worker = None


def _serve(conn, worker_class=SubproblemWorker) -> None:
    """A worker process: runs the worker's methods (SubproblemWorker's by default) sent over its pipe until told
    to stop."""
    worker = worker_class()
    while True:
        try:
            method, args = conn.recv()
        except EOFError:
            return
        if method == "close":
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(worker, method)(*args)))
        except MgdError as err:
            conn.send(("mgd", err))
        except BaseException:                      # report, do not hang the driver
            conn.send(("bug", traceback.format_exc()))


class WorkerLost(Exception):
    """A worker process ended without answering (killed, out of memory, crashed in native code)."""

    def __init__(self, worker: int, exitcode: int | None):
        self.worker = worker
        self.exitcode = exitcode
        super().__init__(f"worker {worker} ended with exit code {exitcode}")


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"ended with exit code {exitcode}"


class ProcessExecutor:
    """Long-lived worker processes, each owning some subproblems (assigned round-robin by size).

    A worker that dies is replaced: its parts are rebuilt from their specs in a new process and the requests
    it had not answered are sent again. Every request carries the whole coordinator state a part needs
    (targets, multipliers, weights), so a rebuilt part gives the same answer; only its warm start is lost.
    """

    name = "processes"
    worker_class = SubproblemWorker   # any class with build(specs, steps) and solve(requests) (studies/capability.py)
    max_restarts = 3              # per run: a part that keeps killing its worker is reported, not retried forever

    def __init__(self, workers: int | None = None, on_event=None):
        self.n = workers or max(1, (os.cpu_count() or 2))
        # a replaced worker is news for the user, not an error: a warning on the `mgdsl.atc` logger by default
        self.on_event = on_event or logging.getLogger("mgdsl.atc").warning
        self.restarts = 0

    def start(self, specs: list[SubproblemSpec], steps: int) -> None:
        self.ctx = mp.get_context("spawn")
        self.steps = steps
        self.specs = {spec.part.name: spec for spec in specs}
        # no more processes than parts or cores: each holds a Python interpreter with linopy (150-200 MB)
        n = max(1, min(self.n, len(specs), os.cpu_count() or 1))
        self.conns, self.procs, self.home = [None] * n, [None] * n, {}
        for k, spec in enumerate(specs):
            self.home[spec.part.name] = k % n
        for k in range(n):
            self._spawn(k)
        for k in range(n):
            self._call(k, "build", (self._specs_of(k), steps))

    def _specs_of(self, k: int) -> list[SubproblemSpec]:
        return [spec for name, spec in self.specs.items() if self.home[name] == k]

    def _spawn(self, k: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve, args=(child, self.worker_class), daemon=True)
        proc.start()
        child.close()                 # only the worker holds that end: its death is an EOF here, not a hang
        self.conns[k], self.procs[k] = parent, proc

    def _receive(self, k: int):
        conn, proc = self.conns[k], self.procs[k]
        # wait for an answer or the worker's end, whichever comes first
        ready = mp_connection.wait([conn, proc.sentinel])
        try:
            if conn not in ready and not conn.poll():
                raise EOFError
            kind, value = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=5)
            raise WorkerLost(k, proc.exitcode) from None
        if kind == "mgd":
            raise value
        if kind == "bug":
            raise InternalError(f"an ATC worker failed:\n{value}")
        return value

    def _send(self, k: int, method: str, args: tuple) -> None:
        try:
            self.conns[k].send((method, args))
        except (OSError, EOFError):
            pass                      # the worker is gone: _receive reports it

    def _call(self, k: int, method: str, args: tuple):
        """One call on worker k; a lost worker is replaced (its parts rebuilt) and the call repeated."""
        self._send(k, method, args)
        while True:
            try:
                return self._receive(k)
            except WorkerLost as lost:
                self._replace(lost)
                if method != "build":
                    self._send(k, method, args)
                else:
                    return [spec.part.name for spec in self._specs_of(k)]

    def _replace(self, lost: WorkerLost) -> None:
        k = lost.worker
        parts = sorted(name for name, home in self.home.items() if home == k)
        what = _how_it_ended(lost.exitcode)
        if self.restarts >= self.max_restarts:
            raise MgdError([Diagnostic(
                "E0610", f"the ATC worker process holding part{'s' if len(parts) > 1 else ''} "
                         f"{', '.join(f'`{p}`' for p in parts)} was lost ({what}), "
                         f"after {self.restarts} restarts in this run", None,
                notes=["a worker that keeps dying usually ran out of memory (see `dmesg`) or was killed from outside"],
                help="run with `--executor serial` to see the error in this process, or give the machine more memory")])
        self.restarts += 1
        self.on_event(f"ATC worker {k} ({', '.join(parts)}) was lost ({what}); rebuilding its parts in a new "
                      f"process (restart {self.restarts} of at most {self.max_restarts})")
        try:
            self.conns[k].close()
        except OSError:
            pass
        self._spawn(k)
        self._send(k, "build", (self._specs_of(k), self.steps))
        self._receive(k)

    def solve(self, requests):
        by_worker: dict[int, list] = {}
        for req in requests:
            by_worker.setdefault(self.home[req[0]], []).append(req)
        for k, reqs in by_worker.items():
            self._send(k, "solve", (reqs,))
        out = {}
        for k, reqs in by_worker.items():
            while True:
                try:
                    answers = self._receive(k)
                    break
                except WorkerLost as lost:
                    self._replace(lost)
                    self._send(k, "solve", (reqs,))
            for outcome in answers:
                out[outcome.part] = outcome
        return [out[r[0]] for r in requests]

    def results(self, names):
        by_worker: dict[int, list] = {}
        for n in names:
            by_worker.setdefault(self.home[n], []).append(n)
        out = {}
        for k, ns in by_worker.items():
            out.update(self._call(k, "results", (ns,)))
        return out

    def write(self, name, path):
        self._call(self.home[name], "write", (name, path))

    def worker_pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc is not None]

    def close(self) -> None:
        for conn in getattr(self, "conns", []):
            if conn is None:
                continue
            try:
                conn.send(("close", ()))
                if conn.poll(5):
                    conn.recv()
            except (OSError, EOFError):
                pass
        for proc in getattr(self, "procs", []):
            if proc is None:
                continue
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def make_executor(name: str, workers: int | None = None, on_event=None, scheduler: str | None = None):
    """The executor named in the ATC options (checked before: an unknown name here is a bug)."""
    if name == "serial":
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers, on_event)
    if name == "dask":
        from .dask_executor import DaskExecutor  # dask itself is imported at start, and only there

        return DaskExecutor(workers, on_event, scheduler)
    raise InternalError(f"unknown executor {name!r} passed the options check")
