"""Where ATC subproblems live and run. The worker role (SubproblemWorker) owns subproblems for the whole
run and exchanges only vectors; executors place workers in this process (`serial`) or in long-lived worker
processes (`processes`). A Dask executor can host the same worker role as an actor without touching the
driver, which only calls start / solve / results / write / close."""
from __future__ import annotations

import multiprocessing as mp
import os
import traceback

from ..decompose.subproblem import SolveOutcome, Subproblem, SubproblemSpec
from ..diagnostics import MgdError


class SubproblemWorker:
    """Owns a set of subproblems, built once; every call after build passes numbers only."""

    def __init__(self) -> None:
        self.subproblems: dict[str, Subproblem] = {}

    def build(self, specs: list[SubproblemSpec], steps: int) -> list[str]:
        for spec in specs:
            self.subproblems[spec.part.name] = Subproblem(spec, steps)
        return [s.part.name for s in specs]

    def solve(self, requests: list[tuple]) -> list[SolveOutcome]:
        """requests: (name, other level's values, multipliers, weights[, exact]); `exact` solves a MILP part
        with its integers free even where they had settled and were held (Subproblem.solve)."""
        out = []
        for name, remote, lam, w, *rest in requests:
            sp = self.subproblems[name]
            sp.set_values(remote, lam, w)
            out.append(sp.solve(exact=bool(rest and rest[0])))
        return out

    def results(self, names: list[str]):
        return {n: self.subproblems[n].results() for n in names}

    def write(self, name: str, path: str) -> None:
        self.subproblems[name].write(path)


class SerialExecutor:
    name = "serial"

    def start(self, specs: list[SubproblemSpec], steps: int) -> None:
        self.worker = SubproblemWorker()
        self.worker.build(specs, steps)

    def solve(self, requests):
        return self.worker.solve(requests)

    def results(self, names):
        return self.worker.results(names)

    def write(self, name, path):
        self.worker.write(name, path)

    def close(self) -> None:
        self.worker = None


def _serve(conn) -> None:
    """A worker process: runs SubproblemWorker methods sent over its pipe until told to stop."""
    worker = SubproblemWorker()
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


class ProcessExecutor:
    """Long-lived worker processes, each owning some subproblems (assigned round-robin by size)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        self.n = workers or max(1, (os.cpu_count() or 2))

    def start(self, specs: list[SubproblemSpec], steps: int) -> None:
        ctx = mp.get_context("spawn")
        n = max(1, min(self.n, len(specs)))
        self.conns, self.procs, self.home = [], [], {}
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child,), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        groups = [[] for _ in range(n)]
        for k, spec in enumerate(specs):
            groups[k % n].append(spec)
            self.home[spec.part.name] = k % n
        for conn, group in zip(self.conns, groups):
            conn.send(("build", (group, steps)))
        for conn in self.conns:
            self._receive(conn)

    def _receive(self, conn):
        kind, value = conn.recv()
        if kind == "mgd":
            raise value
        if kind == "bug":
            raise RuntimeError(f"an ATC worker failed:\n{value}")
        return value

    def solve(self, requests):
        by_worker: dict[int, list] = {}
        for req in requests:
            by_worker.setdefault(self.home[req[0]], []).append(req)
        for k, reqs in by_worker.items():
            self.conns[k].send(("solve", (reqs,)))
        out = {}
        for k, reqs in by_worker.items():
            for outcome in self._receive(self.conns[k]):
                out[outcome.part] = outcome
        return [out[r[0]] for r in requests]

    def results(self, names):
        by_worker: dict[int, list] = {}
        for n in names:
            by_worker.setdefault(self.home[n], []).append(n)
        out = {}
        for k, ns in by_worker.items():
            self.conns[k].send(("results", (ns,)))
        for k in by_worker:
            out.update(self._receive(self.conns[k]))
        return out

    def write(self, name, path):
        conn = self.conns[self.home[name]]
        conn.send(("write", (name, path)))
        self._receive(conn)

    def close(self) -> None:
        for conn in getattr(self, "conns", []):
            try:
                conn.send(("close", ()))
                conn.recv()
            except (OSError, EOFError):
                pass
        for proc in getattr(self, "procs", []):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def make_executor(name: str, workers: int | None = None):
    if name == "serial":
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers)
    raise ValueError(f"unknown executor {name!r}: use serial or processes")
