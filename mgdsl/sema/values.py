"""Evaluate constant expressions of a system file (profiles, lets, arguments, csv columns) to numbers
with dimensions: a scalar or a series over the horizon, in canonical units."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..diagnostics import Collector, Label
from ..syntax import ast
from . import units
from .typing import conversion_hint, unit_of
from .units import Dim


@dataclass
class Const:
    value: float | np.ndarray
    dim: Dim
    zero: bool = False

    @property
    def is_series(self) -> bool:
        return isinstance(self.value, np.ndarray)


class Failed(Exception):
    """An expression could not be evaluated; the diagnostic is already recorded."""


# The value of a definition whose own evaluation failed (its error is already reported).
POISONED = Const(float("nan"), units.NONE)


class CsvCache:
    """Reads each CSV file once; rows are dicts of column -> text."""

    def __init__(self) -> None:
        self.tables: dict[Path, tuple[list[str], list[dict[str, str]]]] = {}

    def read(self, path: Path) -> tuple[list[str], list[dict[str, str]]]:
        if path not in self.tables:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
                header = [h.strip() for h in (reader.fieldnames or [])]
            self.tables[path] = (header, rows)
        return self.tables[path]


class Evaluator:
    """Evaluates system-level expressions. `env` maps names to Const; `steps` is the horizon length."""

    def __init__(self, env: dict[str, Const], diag: Collector, steps: int | None, dt_h: float,
                 base_dir: Path, csvs: CsvCache):
        self.env = env
        self.diag = diag
        self.steps = steps
        self.dt_h = dt_h
        self.base_dir = base_dir
        self.csvs = csvs

    def eval(self, e: ast.Expr) -> Const:
        return getattr(self, "e_" + type(e).__name__)(e)

    def try_eval(self, e: ast.Expr) -> Const | None:
        try:
            return self.eval(e)
        except Failed:
            return None

    def fail(self, code: str, message: str, span, label: str = "", help: str = "", secondary=None):
        self.diag.error(code, message, span, label, help=help, secondary=secondary)
        raise Failed()

    def e_Quantity(self, e: ast.Quantity) -> Const:
        if e.unit is None:
            return Const(e.value, units.NONE, zero=(e.value == 0))
        u = unit_of(e.unit, e.unit_span or e.span, self.diag)
        if u is None:
            raise Failed()
        return Const(e.value * u[0], u[1])

    def e_Ref(self, e: ast.Ref) -> Const:
        if e.index is not None:
            self.fail("E0503", "time indices are only for variables inside device templates", e.index.span,
                      "not allowed here", help="profiles are whole series; use them without an index")
        name = e.name
        if name == "dt":
            return Const(self.dt_h, units.TIME)
        if name not in self.env:
            import difflib

            close = difflib.get_close_matches(name, list(self.env), n=1)
            hint = f"did you mean `{close[0]}`?" if close else "define it with `profile` or `let` before use"
            self.fail("E0101", f"unknown name `{name}`", e.span, "not defined", help=hint)
        value = self.env[name]
        if value is POISONED:
            raise Failed()
        return value

    def e_String(self, e: ast.String) -> Const:
        self.fail("E0504", "a string is not a value", e.span, "", help='strings name files: csv("file.csv", "column")')

    def e_ListLit(self, e: ast.ListLit) -> Const:
        items = [self.eval(i) for i in e.items]
        if not items:
            self.fail("E0401", "an empty list has no values", e.span, "empty", help="give one value per step")
        dims = {i.dim for i in items if not i.zero}
        if len(dims) > 1:
            self.fail("E0201", "the values of a list have different units", e.span, "mixed units",
                      help="give every value the same unit, or none and a unit on the profile")
        if any(i.is_series for i in items):
            self.fail("E0504", "a list item cannot be a series", e.span, "")
        dim = dims.pop() if dims else units.NONE
        arr = np.array([float(i.value) for i in items])
        return Const(self._series(arr, e.span), dim)

    def _series(self, arr: np.ndarray, span) -> np.ndarray | float:
        if arr.size == 1:
            return float(arr[0])
        if self.steps is None:
            self.fail("E0501", "a time series needs a horizon", span, "a series",
                      help="declare `horizon N steps of D` before the first profile")
        if arr.size != self.steps:
            self.fail("E0401", f"this series has {arr.size} values but the horizon has {self.steps} steps", span,
                      f"{arr.size} values", help=f"give exactly {self.steps} values (or one constant)")
        return arr

    def e_Call(self, e: ast.Call) -> Const:
        if e.func == "csv":
            return self.csv_column(e)
        if e.func in ("sum", "mean", "max", "min"):
            if len(e.args) != 1:
                self.fail("E0106", f"`{e.func}` takes one argument", e.span, "")
            c = self.eval(e.args[0].value)
            fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[e.func]
            dim = c.dim * units.NONE
            return Const(float(fn(c.value)), dim)
        self.fail("E0101", f"unknown function `{e.func}`", e.func_span, "not a function",
                  help="functions in system files: csv(file, column), sum, mean, max, min")

    def resolve_path(self, e: ast.Call) -> tuple[Path, ast.String]:
        if not e.args or not isinstance(e.args[0].value, ast.String) or e.args[0].name is not None:
            self.fail("E0403", "csv needs a file name in quotes", e.span, "",
                      help='write csv("data/file.csv", "column")')
        s = e.args[0].value
        path = (self.base_dir / s.value)
        if not path.is_file():
            import os

            shown = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
            self.fail("E0402", f"data file not found: {s.value}", s.span, f"looked for {shown}",
                      help="CSV paths are relative to the .mgd file that names them")
        return path, s

    def csv_column(self, e: ast.Call) -> Const:
        path, s = self.resolve_path(e)
        if len(e.args) != 2 or not isinstance(e.args[1].value, ast.String):
            self.fail("E0403", "csv(file, column) needs a column name in quotes", e.span, "",
                      help='write csv("file.csv", "column"); network tables take csv("file.csv") alone')
        column = e.args[1].value.value
        header, rows = self.csvs.read(path)
        if column not in header:
            self.fail("E0403", f"{s.value} has no column `{column}`", e.args[1].value.span, "no such column",
                      help="columns: " + ", ".join(header))
        values = []
        for k, row in enumerate(rows, start=2):
            try:
                values.append(float(row[column]))
            except ValueError:
                values.append(float("nan"))
            if not np.isfinite(values[-1]):
                self.fail("E0403", f"{s.value} row {k}: `{row[column]}` in column `{column}` is not a number",
                          e.span, "read here", help="fix the cell in the file, or read another column")
        return Const(self._series(np.array(values), e.span), units.NONE)

    def e_Neg(self, e: ast.Neg) -> Const:
        c = self.eval(e.operand)
        return Const(-c.value, c.dim, c.zero)

    def e_BinOp(self, e: ast.BinOp) -> Const:
        a, b = self.eval(e.left), self.eval(e.right)
        if e.op in "+-":
            if a.dim != b.dim and not a.zero and not b.zero:
                self.fail("E0201", f"unit mismatch: cannot {'add' if e.op == '+' else 'subtract'} "
                                   f"{units.describe(a.dim)} and {units.describe(b.dim)}", e.span, "",
                          secondary=[Label(e.left.span, f"this is {units.describe(a.dim)}"),
                                     Label(e.right.span, f"this is {units.describe(b.dim)}")],
                          help=conversion_hint(a.dim, b.dim))
            dim = b.dim if a.zero else a.dim
            value = a.value + b.value if e.op == "+" else a.value - b.value
            return Const(value, dim, a.zero and b.zero)
        if e.op == "*":
            return Const(a.value * b.value, a.dim * b.dim, a.zero or b.zero)
        if np.any(np.asarray(b.value) == 0):
            self.fail("E0404", "division by zero", e.right.span, "this is zero")
        return Const(a.value / b.value, a.dim / b.dim, a.zero)

    def e_Pow(self, e: ast.Pow) -> Const:
        c = self.eval(e.base)
        k = e.exponent.value
        if k != int(k) or k < 0:
            self.fail("E0204", f"exponent {e.exponent.text} is not a whole number", e.exponent.span, "")
        return Const(c.value ** int(k), c.dim ** int(k))


def convert(c: Const, want: Dim, span, diag: Collector, what: str) -> float | np.ndarray | None:
    """Check that `c` has dimension `want`; return its value (canonical units) or None after an error."""
    if c.dim != want and not c.zero:
        diag.error("E0202", f"{what} must be {units.describe(want)}, but this is {units.describe(c.dim)}", span,
                   f"this is {units.describe(c.dim)}", help=conversion_hint(want, c.dim))
        return None
    return c.value
