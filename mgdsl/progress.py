"""How a decomposed solve shows its iterations: a table with a live status line (iteration, worst coupling,
objective, elapsed) on a terminal, the same rows as plain lines otherwise, and JSON Lines events for programs."""
from __future__ import annotations

import json
import logging
import time

EVENTS_VERSION = 1        # bumped when an event's fields change meaning


class ATCProgress:
    """Call it with each Iteration; use as a context manager around the run.

    mode: "live" (a terminal: rows plus a status line that keeps ticking while parts solve), "plain" (rows
    only) or "json" (one JSON object per line: start, iteration, warning, end)."""

    def __init__(self, console, mode: str, file: str, options):
        self.console, self.mode, self.file, self.options = console, mode, file, options
        self.t0 = time.perf_counter()
        self.last = None
        self.live = None
        self._handler = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self):
        o = self.options
        if self.mode == "json":
            self._emit({"event": "start", "version": EVENTS_VERSION, "file": self.file, "method": o.method,
                        "children": o.children, "penalty": o.penalty, "tolerance_pu": o.tolerance,
                        "executor": o.executor, "max_iterations": o.iteration_limit})
            # worker replacements and other news from the executors become events too
            self._handler = _EventHandler(self._emit)
            logging.getLogger("mgdsl.atc").addHandler(self._handler)
            return self
        self.console.print(f"[bold]{o.method.upper()}[/bold] on {self.file}: penalty {o.penalty}, tolerance "
                           f"{o.tolerance:g} p.u., children {o.children}, executor {o.executor}")
        self.console.print(f"{'iter':>4}  {'max |r-x| (pu)':>14}  {'at (coupling@child, t)':<34} "
                           f"{'objective':>14} {'time':>7}")
        if self.mode == "live":
            from rich.live import Live

            self.live = Live(_Status(self), console=self.console, transient=True, refresh_per_second=4)
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self._handler is not None:
            logging.getLogger("mgdsl.atc").removeHandler(self._handler)
            self._handler = None
        return False

    def finished(self, run) -> None:
        if self.mode == "json":
            self._emit({"event": "end", "converged": run.converged, "iterations": len(run.iterations),
                        "objective": run.objective, "elapsed_s": round(time.perf_counter() - self.t0, 4)})

    # ------------------------------------------------------------------ per iteration
    def __call__(self, it) -> None:
        self.last = it
        if self.mode == "json":
            self._emit({"event": "iteration", "k": it.k, "inconsistency_pu": it.inconsistency, "at": it.where,
                        "t": it.step, "objective": it.objective, "dual": it.dual, "phase": it.phase,
                        "integers_held": it.integers_held, "seconds": round(it.seconds, 4),
                        "elapsed_s": round(time.perf_counter() - self.t0, 4)})
            return
        note = {"statuses held": "  statuses held", "verify": "  exact check"}.get(it.phase, "")
        self.console.print(f"{it.k:>4}  {it.inconsistency:>14.3e}  {it.where + ', t=' + str(it.step):<34} "
                           f"{it.objective:>14,.2f} {it.seconds:>6.2f}s{note}")

    def status_text(self) -> str:
        elapsed = time.perf_counter() - self.t0
        if self.last is None:
            return f"building and solving the first iteration ... {elapsed:.1f} s"
        it = self.last
        return (f"iteration {it.k + 1} of at most {self.options.iteration_limit} ... {elapsed:.1f} s elapsed; "
                f"last: max |r-x| {it.inconsistency:.2e} p.u. at {it.where}, objective {it.objective:,.2f}")

    def _emit(self, event: dict) -> None:
        # stderr, one object per line, flushed: stdout keeps the final summary (`--json`)
        self.console.file.write(json.dumps(event, default=float) + "\n")
        self.console.file.flush()


class _Status:
    """Rendered on every refresh, so the elapsed time ticks while a part is solving."""

    def __init__(self, progress: ATCProgress):
        self.progress = progress

    def __rich__(self):
        from rich.text import Text

        return Text(self.progress.status_text(), style="dim")


class _EventHandler(logging.Handler):
    def __init__(self, emit):
        super().__init__(logging.INFO)
        self.emit_event = emit

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_event({"event": record.levelname.lower(), "message": record.getMessage()})


def progress_mode(console, as_json: bool) -> str:
    if as_json:
        return "json"
    return "live" if console.is_terminal else "plain"
