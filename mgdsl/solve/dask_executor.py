"""ATC on Dask: one SubproblemWorker actor per worker, only vectors cross, a lost worker's parts rebuilt elsewhere."""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..decompose.subproblem import SubproblemSpec
from ..diagnostics import Diagnostic, MgdError
from .executors import SubproblemWorker

INSTALL = "pip install 'mgdsl[dask]'"


def import_distributed():
    """dask.distributed, imported only when the dask executor is used (an optional extra)."""
    try:
        import distributed
    except ImportError as err:
        raise MgdError([Diagnostic(
            "E0611", "`executor dask` needs the `distributed` package (Dask's cluster engine), which is not "
                     "installed", None,
            notes=[f"importing it failed: {err}"],
            help=f"install it with `{INSTALL}`, or run ATC with `--executor processes` (worker processes on "
                 "this machine) or `--executor serial`")]) from None
    return distributed


def _unavailable(message: str, notes: list[str], help: str | None = None) -> MgdError:
    return MgdError([Diagnostic("E0612", message, None, notes=notes, help=help or (
        "check the address (`--scheduler tcp://HOST:PORT`, the one `dask scheduler` prints), that the scheduler "
        "runs and has workers, or leave `--scheduler` out to start a local cluster"))])


def mgdsl_version() -> str:
    """Run on each Dask worker before any part is placed there: the workers must import this mgdsl."""
    import mgdsl

    return mgdsl.__version__


class DaskWorker(SubproblemWorker):
    """The worker role as a Dask actor; `model_file` brings a part's model file back to the driver's machine
    (a worker may run elsewhere, so `write` writes on the driver's side)."""

    def model_file(self, name: str, suffix: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="mgdsl-part-") as tmp:
            path = Path(tmp) / f"{name}{suffix}"
            self.subproblems[name].write(str(path))
            return path.read_bytes()


class WorkerGone(Exception):
    """The Dask worker holding a slot's actor left the cluster (killed, crashed, unreachable)."""

    def __init__(self, slot: int, reason: str):
        self.slot = slot
        self.reason = reason
        super().__init__(f"slot {slot}: {reason}")


@dataclass
class _Slot:
    address: str            # the Dask worker holding the actor
    future: object          # the actor's Future (its status leaves "finished" when the worker is lost)
    actor: object


def part_size(spec: SubproblemSpec) -> int:
    """A part's size for placement: its instances, plus the network's buses and lines (the parent's rows)."""
    ir = spec.part.ir
    size = sum(len(v) for v in ir.instances.values())
    if ir.network is not None:
        size += len(ir.network.buses) + len(ir.network.lines)
    return size


class DaskExecutor:
    """One DaskWorker actor per Dask worker used, each owning some parts for the whole run (the parts sorted by
    size, then dealt round robin). Without a scheduler address it starts a LocalCluster on this machine (one
    single-threaded worker process per core, at most one per part) and stops it at the end; with one, it
    connects to that cluster and leaves it running.

    Actor calls go from this process straight to the workers (not through the scheduler). A worker that leaves
    the cluster (killed, out of memory, unreachable) is noticed by the scheduler or by the closed connection; its
    parts are rebuilt from their specs on another worker and the unanswered requests sent again. Every request
    carries the whole coordinator state a part needs, so the run reaches the same optimum (only the warm start
    is lost); at most `max_restarts` rebuilds per run, then E0610.
    """

    name = "dask"
    max_restarts = 3              # per run, as for `processes`
    connect_timeout = 10.0        # seconds to reach a scheduler
    worker_timeout = 60.0         # seconds to wait for a worker (an existing cluster's first, or one after a loss)
    poll = 1.0                    # seconds between liveness checks while a call runs

    def __init__(self, workers: int | None = None, on_event=None, scheduler: str | None = None):
        self.n = workers
        self.scheduler = scheduler
        self.on_event = on_event or logging.getLogger("mgdsl.atc").warning
        self.restarts = 0
        self.client = None
        self.cluster = None                         # ours to close (None on an existing cluster)
        self.slots: list[_Slot | None] = []
        self.home: dict[str, int] = {}
        self.run_id = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ start and placement
    def start(self, specs: list[SubproblemSpec], steps: int) -> None:
        distributed = import_distributed()
        self.steps = steps
        self.specs = {spec.part.name: spec for spec in specs}
        if self.scheduler is None:
            self._start_local(distributed, len(specs))
        else:
            self._connect(distributed, self.scheduler)
        workers = self._running_workers()
        n = max(1, min(len(workers), len(specs), self.n or len(workers)))
        self._check_workers(workers[:n])
        order = sorted(specs, key=lambda s: -part_size(s))          # stable: ties keep the driver's order
        for k, spec in enumerate(order):
            self.home[spec.part.name] = k % n
        self.slots = [None] * n
        for k in range(n):
            self._place(k, workers[k])
        calls = {k: self._launch(k, "build", (self._specs_of(k), steps)) for k in range(n)}
        for k in range(n):
            self._finish(k, "build", (self._specs_of(k), steps), calls[k])

    def _start_local(self, distributed, parts: int) -> None:
        cores = os.cpu_count() or 1
        n = max(1, min(self.n or cores, parts, cores))
        try:
            # everything on loopback, ports chosen by the system; no dashboard (the scheduler's small HTTP
            # server, which it always starts, on a free loopback port rather than on 8787 of every interface)
            self.cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                silence_logs=logging.CRITICAL)
            self.client = distributed.Client(self.cluster, direct_to_workers=True, set_as_default=False)
        except Exception as err:          # any failure to start is reported with its reason
            self.close()
            raise _unavailable("could not start a local Dask cluster", [f"{type(err).__name__}: {err}"],
                               help="run ATC with `--executor processes`, or start a cluster yourself "
                                    "(`dask scheduler`, `dask worker ADDRESS`) and give `--scheduler ADDRESS`") \
                from None

    def _connect(self, distributed, address: str) -> None:
        try:
            self.client = distributed.Client(address, timeout=self.connect_timeout, direct_to_workers=True,
                                             set_as_default=False)
        except OSError as err:              # refused, unknown host, or no answer (TimeoutError)
            raise _unavailable(f"cannot reach the Dask scheduler at `{address}`",
                               [f"{type(err).__name__}: {err}".strip(),
                                f"mgdsl waited {self.connect_timeout:g} s for the connection"]) from None
        except (ValueError, TypeError) as err:
            raise _unavailable(f"`{address}` is not a Dask scheduler address", [f"{type(err).__name__}: {err}"],
                               help="give it as `tcp://HOST:PORT` (the address `dask scheduler` prints)") from None
        try:
            self.client.wait_for_workers(1, timeout=self.worker_timeout)
        except (TimeoutError, OSError) as err:
            self.close()
            raise _unavailable(f"the Dask scheduler at `{address}` has no workers",
                               [f"none joined within {self.worker_timeout:g} s ({type(err).__name__})"],
                               help="start workers with `dask worker " + address + "` (in an environment where "
                                    "mgdsl is installed)") from None

    def _workers(self) -> dict[str, str]:
        """The scheduler's workers now: address -> status (running, paused, closing, ...)."""
        info = self.client.scheduler_info(n_workers=-1)
        return {a: str(w.get("status", "running")) for a, w in info.get("workers", {}).items()}

    def _running_workers(self) -> list[str]:
        """The workers new actors may go to."""
        return sorted(a for a, status in self._workers().items() if status == "running")

    def _check_workers(self, addresses: list[str]) -> None:
        """Every worker must run this mgdsl (an existing cluster may have been started elsewhere)."""
        import mgdsl

        try:
            versions = self.client.run(mgdsl_version, workers=addresses)
        except Exception as err:          # ModuleNotFoundError on a worker, or a lost one
            raise _unavailable("the Dask workers cannot run mgdsl", [f"{type(err).__name__}: {err}"],
                               help="install this mgdsl in the workers' environment (the same version), or "
                                    "leave `--scheduler` out to start a local cluster") from None
        wrong = {a: v for a, v in versions.items() if v != mgdsl.__version__}
        if wrong:
            raise _unavailable("the Dask workers run another version of mgdsl",
                               [f"{a}: mgdsl {v}, this process: {mgdsl.__version__}" for a, v in wrong.items()],
                               help=f"install mgdsl {mgdsl.__version__} in the workers' environment")

    def _specs_of(self, k: int) -> list[SubproblemSpec]:
        return [spec for name, spec in self.specs.items() if self.home[name] == k]

    def _parts_of(self, k: int) -> list[str]:
        return sorted(name for name, home in self.home.items() if home == k)

    def _place(self, k: int, address: str) -> None:
        """A new, empty actor for slot k on the worker at `address`."""
        future = self.client.submit(DaskWorker, actor=True, workers=[address], allow_other_workers=False,
                                    key=f"mgdsl-atc-{self.run_id}-{k}-{self.restarts}", pure=False)
        deadline = time.monotonic() + self.worker_timeout
        while True:
            try:
                with self.client.as_current():      # the actor proxy binds to this client, not a global one
                    actor = future.result(timeout=self.poll)
                break
            except TimeoutError:
                if address not in self._workers():
                    self.slots[k] = _Slot(address, future, None)
                    raise WorkerGone(k, "it left the cluster while its parts were placed") from None
                if time.monotonic() > deadline:
                    raise _unavailable(f"the Dask worker at `{address}` did not start an ATC actor",
                                       [f"waited {self.worker_timeout:g} s"]) from None
            except Exception as err:                # the worker died as the actor was created
                self.slots[k] = _Slot(address, future, None)
                raise WorkerGone(k, f"{type(err).__name__}: {err}") from None
        self.slots[k] = _Slot(address, future, actor)

    # ------------------------------------------------------------------ calls and losses
    def _launch(self, k: int, method: str, args: tuple):
        """Start a call on slot k's actor; None if its worker is already known to be gone."""
        slot = self.slots[k]
        if slot is None or slot.actor is None or slot.future.status != "finished":
            return None
        try:
            return getattr(slot.actor, method)(*args)
        except RuntimeError:                        # "Worker holding Actor was lost"
            return None

    def _gone(self, k: int) -> str | None:
        """Why slot k's worker is gone, or None while it is alive."""
        slot = self.slots[k]
        if self.client is None or self.client.status not in ("running", "connecting"):
            raise _unavailable("the connection to the Dask scheduler was lost during the run",
                               [f"client status: {getattr(self.client, 'status', None)}"])
        if slot.future.status != "finished":
            return f"the scheduler marked its actor {slot.future.status}"
        if slot.address not in self._workers():      # paused or busy is still there: its actor answers
            return "it left the cluster"
        return None

    def _wait(self, k: int, call):
        """The answer of one actor call; WorkerGone if the worker holding it is lost meanwhile."""
        if call is None:
            raise WorkerGone(k, "its actor was lost")
        while True:
            try:
                return call.result(timeout=self.poll)
            except TimeoutError:
                why = self._gone(k)
                if why:
                    raise WorkerGone(k, why) from None
            except OSError as err:                  # the connection to the worker closed
                why = self._gone(k) or (str(err) if "contact Actor's worker" in str(err) else None)
                if why is None:
                    raise                           # an OSError of the call itself, not of the connection
                raise WorkerGone(k, why) from None

    def _finish(self, k: int, method: str, args: tuple, call):
        """Wait for a call started with _launch; on a lost worker rebuild slot k elsewhere and call again."""
        while True:
            try:
                return self._wait(k, call)
            except WorkerGone as gone:
                self._replace(gone)
                if method == "build":
                    return self._parts_of(k)
                call = self._launch(k, method, args)

    def _call(self, k: int, method: str, args: tuple):
        return self._finish(k, method, args, self._launch(k, method, args))

    def _replace(self, gone: WorkerGone) -> None:
        """Rebuild slot k's parts on another worker (preferring one that holds no parts), until it works or
        the restarts run out."""
        k = gone.slot
        while True:
            old = self.slots[k]
            parts = self._parts_of(k)
            if self.restarts >= self.max_restarts:
                raise MgdError([Diagnostic(
                    "E0610", f"the Dask worker at `{old.address}` holding part{'s' if len(parts) > 1 else ''} "
                             f"{', '.join(f'`{p}`' for p in parts)} was lost ({gone.reason}), "
                             f"after {self.restarts} restarts in this run", None,
                    notes=["a worker that keeps dying usually ran out of memory (the worker's log or `dmesg` says "
                           "so) or was stopped from outside"],
                    help="run with `--executor serial` to see the error in this process, or give the workers "
                         "more memory")])
            self.restarts += 1
            with contextlib.suppress(Exception):
                self.client.cancel([old.future])    # the scheduler forgets the lost actor
            address = self._another_worker(old.address)
            self.on_event(f"ATC Dask worker {old.address} ({', '.join(parts)}) was lost ({gone.reason}); "
                          f"rebuilding its parts on {address} (restart {self.restarts} of at most "
                          f"{self.max_restarts})")
            try:
                self._place(k, address)
                self._wait(k, self._launch(k, "build", (self._specs_of(k), self.steps)))
                return
            except WorkerGone as again:
                gone = again

    def _another_worker(self, lost: str) -> str:
        """A running worker other than `lost`: one without parts if there is one (a spare, or the one a nanny
        restarted), else the one holding the fewest parts; waits for one up to worker_timeout."""
        deadline = time.monotonic() + self.worker_timeout
        while True:
            running = [a for a in self._running_workers() if a != lost]
            if running:
                load = {a: 0 for a in running}
                for j, slot in enumerate(self.slots):
                    if slot is not None and slot.address in load and slot.address != lost:
                        load[slot.address] += len(self._parts_of(j))
                return min(running, key=lambda a: (load[a], a))
            if time.monotonic() > deadline:
                raise MgdError([Diagnostic(
                    "E0610", f"the Dask worker at `{lost}` was lost and no other worker joined within "
                             f"{self.worker_timeout:g} s to take its parts", None,
                    help="start more workers (`dask worker SCHEDULER`), or run with `--executor processes`")])
            time.sleep(0.2)

    # ------------------------------------------------------------------ the executor interface
    def solve(self, requests):
        by_slot: dict[int, list] = {}
        for req in requests:
            by_slot.setdefault(self.home[req[0]], []).append(req)
        calls = {k: self._launch(k, "solve", (reqs,)) for k, reqs in by_slot.items()}
        out = {}
        for k, reqs in by_slot.items():
            for outcome in self._finish(k, "solve", (reqs,), calls[k]):
                out[outcome.part] = outcome
        return [out[r[0]] for r in requests]

    def results(self, names):
        by_slot: dict[int, list] = {}
        for n in names:
            by_slot.setdefault(self.home[n], []).append(n)
        calls = {k: self._launch(k, "results", (ns,)) for k, ns in by_slot.items()}
        out = {}
        for k, ns in by_slot.items():
            out.update(self._finish(k, "results", (ns,), calls[k]))
        return out

    def write(self, name, path):
        from ..files import atomic_write

        data = self._call(self.home[name], "model_file", (name, Path(path).suffix))

        def put(tmp: str) -> None:
            Path(tmp).write_bytes(data)

        atomic_write(path, put)

    def worker_addresses(self) -> list[str]:
        """The Dask workers holding parts, by slot."""
        return [slot.address for slot in self.slots if slot is not None]

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.cancel([s.future for s in self.slots if s is not None])   # actors leave the workers
            with contextlib.suppress(Exception):
                client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=20)
        self.slots = []
