"""The Python API: `mgdsl.load(path)` -> System, with .check(), .lower(), .write(), .solve()."""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .ir import SystemIR
from .lower.system import Lowered, lower_system
from .results import Results, collect
from .sema.loader import load_program, read_source
from .sema.system import check_program
from .solve.centralized import SolveInfo, solve_lowered
from .source import SourceFile


@dataclass
class System:
    """A checked .mgd system. Lowering and solving happen on demand."""

    ir: SystemIR
    timings: dict[str, float] = field(default_factory=dict)
    _lowered: Lowered | None = None
    _main_span: object = None

    @property
    def name(self) -> str:
        return Path(self.ir.main_file).stem

    def lower(self) -> Lowered:
        if self._lowered is None:
            if not any(self.ir.instances.values()) and self.ir.network is None:
                from .diagnostics import Diagnostic, MgdError
                from .source import SourceFile

                raise MgdError([Diagnostic(
                    "E0505", "this file defines templates but no system to compile",
                    self._main_span, "a library file",
                    help="`use` it from a system file with microgrids or a network; `mgdsl check` checks it alone")])
            t0 = time.perf_counter()
            self._lowered = lower_system(self.ir)
            self.timings["lower"] = time.perf_counter() - t0
        return self._lowered

    @property
    def model(self):
        """The centralized linopy model."""
        return self.lower().model

    def size(self) -> dict[str, int]:
        m = self.model
        return {"variables": int(m.nvars), "constraints": int(m.ncons),
                "binaries": int(sum(v.labels.size for _, v in m.binaries.items())),
                "integers": int(sum(v.labels.size for _, v in m.integers.items())),
                "quadratic": bool(m.is_quadratic)}

    def write(self, path: str | Path) -> Path:
        """Write the centralized model as an LP or MPS file (by extension), with .mgd-derived names."""
        path = Path(path)
        if path.suffix.lower() not in (".lp", ".mps"):
            raise ValueError(f"unknown model file type {path.suffix!r}: use .lp or .mps")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        try:
            from .lower.export import write_model

            write_model(self.model, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def solve(self, time_limit: float | None = None, mip_gap: float | None = None) -> Results:
        low = self.lower()
        info: SolveInfo = solve_lowered(low, time_limit=time_limit, mip_gap=mip_gap)
        self.timings["solve"] = info.solve_seconds
        t0 = time.perf_counter()
        results = collect(low)
        self.timings["results"] = time.perf_counter() - t0
        results.summary = {
            "model": self.ir.main_file,
            "status": info.termination,
            "objective": info.objective,
            "currency": self.ir.currency,
            "costs": results.costs,
            "size": self.size(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "steps": self.ir.steps,
            "dt_h": self.ir.dt_h,
            "microgrids": list(self.ir.microgrids),
            "clusters": {c.name: c.members for c in self.ir.clusters.values()},
        }
        return results


def load(path: str | Path) -> System:
    """Read, parse and check a .mgd system file and what it uses. Raises MgdError on bad input."""
    t0 = time.perf_counter()
    src = read_source(path)
    return _build(src, t0)


def loads(text: str, path: str = "<string>") -> System:
    return _build(SourceFile(path, text), time.perf_counter())


def _build(src: SourceFile, t0: float) -> System:
    program = load_program(src)
    t1 = time.perf_counter()
    ir = check_program(program)
    t2 = time.perf_counter()
    return System(ir, {"parse": t1 - t0, "check": t2 - t1}, None, program.main.file.span(0, 0))
