"""Evaluate constant expressions of a system file (profiles, lets, arguments, csv columns) to numbers
with dimensions: a scalar or a series over the horizon, in canonical units. Every value is finite; data
files are read only where the model may read (files.py), within the size limits (limits.py)."""
from __future__ import annotations

import contextlib
import csv
import io
import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..diagnostics import Collector, Label
from ..syntax import ast
from . import units
from .files import FileAccess, FileProblem, bad_path_text, decode_text, read_bytes
from .limits import (
    MAGNITUDE_TEXT,
    MAX_CSV_FIELD_CHARS,
    MAX_DATA_BYTES,
    MAX_TOTAL_DATA_BYTES,
    fmt_bytes,
    in_range,
    is_finite,
    largest,
)
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


@dataclass
class Table:
    """A CSV table, checked whole when read: its header, the line of each data row, and the decoded text.
    Cells are parsed from the text again when a column is asked for rather than kept: as Python strings, a
    64 MB file of short numbers took 1.4 GB, and a model may name several such files."""

    header: list[str]
    text: str
    lines: array = field(default_factory=lambda: array("q"))

    def _rows(self):
        """The cells of each data row, in header order (the text was checked by read_table)."""
        width = len(self.header)
        header_seen = False
        for cells in csv.reader(io.StringIO(self.text, newline="")):
            if not cells:
                continue
            if header_seen:
                yield [c.strip() for c in cells[:width]]
            header_seen = True

    def column(self, name: str) -> list[str]:
        k = self.header.index(name)
        with _field_limit():
            return [cells[k] for cells in self._rows()]

    def records(self):
        """(line, {column: cell}) per data row, parsed one at a time."""
        with _field_limit():
            for line, cells in zip(self.lines, self._rows()):
                yield line, dict(zip(self.header, cells))


@contextlib.contextmanager
def _field_limit():
    """csv's cell-size limit is global: MAX_CSV_FIELD_CHARS while a table is parsed, the previous one after."""
    previous = csv.field_size_limit(MAX_CSV_FIELD_CHARS)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_table(path: Path) -> Table:
    """Read and check a CSV file. Raises FileProblem with a reason that quotes no cell: a binary or non-UTF-8
    file, an oversized cell or file, a duplicate column, a row with fewer cells than the header."""
    text = decode_text(read_bytes(path, MAX_DATA_BYTES, "data file"), "data file")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    lines = array("q")
    try:
        with _field_limit():
            for cells in reader:
                if not cells:
                    continue                                  # a blank line
                if header is None:
                    header = _header([c.strip() for c in cells], reader.line_num)
                    continue
                width = len(header)
                if len(cells) < width or any(c.strip() for c in cells[width:]):
                    raise FileProblem(f"line {reader.line_num} has {len(cells)} cells but the header has {width}")
                lines.append(reader.line_num)
    except csv.Error as e:
        reason = (f"a cell on line {reader.line_num} is larger than {fmt_bytes(MAX_CSV_FIELD_CHARS)}"
                  if "field larger" in str(e) else f"line {reader.line_num} is not valid CSV ({e})")
        raise FileProblem(reason) from None
    if header is None:
        raise FileProblem("the data file is empty (it needs a header line of column names)")
    return Table(header, text, lines)


def _header(cells: list[str], line: int) -> list[str]:
    seen: set[str] = set()
    for k, name in enumerate(cells, start=1):
        if not name:
            raise FileProblem(f"column {k} of the header (line {line}) has no name")
        if name in seen:
            raise FileProblem(f"the header (line {line}) names column `{cell_text(name)}` twice")
        seen.add(name)
    return cells


def cell_text(text: str, width: int = 32) -> str:
    """A data-file cell as a message may quote it: one line, printable, shortened."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


class CsvCache:
    """Reads each CSV file once (or fails once), under the model's FileAccess, and all of them within
    MAX_TOTAL_DATA_BYTES: their text is kept while the model is checked."""

    def __init__(self, access: FileAccess | None = None) -> None:
        self.access = access
        self.tables: dict[Path, Table | FileProblem] = {}
        self.bytes_read = 0

    def read(self, path: Path) -> Table:
        key = path.resolve()
        if key not in self.tables:
            try:
                size = path.stat().st_size if path.is_file() else 0
                if self.bytes_read + size > MAX_TOTAL_DATA_BYTES:
                    raise FileProblem(f"the model's data files together are larger than "
                                      f"{fmt_bytes(MAX_TOTAL_DATA_BYTES)}")
                self.tables[key] = read_table(path)
                self.bytes_read += size
            except OSError as e:
                self.tables[key] = FileProblem(((e.strerror or str(e)) or "cannot be read").lower())
            except FileProblem as e:
                self.tables[key] = e
        found = self.tables[key]
        if isinstance(found, FileProblem):
            raise found
        return found


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

    def finite(self, c: Const, e: ast.Expr) -> Const:
        """`c`, the value of `e`, if it is finite; otherwise an error at `e`. Literals, names and data cells are
        finite when read, so only the results of arithmetic are checked."""
        if not is_finite(c.value):
            # an overflow (1e200 * 1e200) or an undefined result (a product of an overflow and 0)
            too_large = np.isinf(c.value).any() if c.is_series else math.isinf(c.value)
            self.fail("E0404", "the value of this expression is too large to compute" if too_large
                      else "this expression has no numeric value (an overflow met a 0)", e.span,
                      "overflows" if too_large else "not a number",
                      help=f"values in a model stay within {MAGNITUDE_TEXT} in canonical units (kW, kWh, h ...)")
        return c

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
            return self.finite(Const(float(fn(c.value)), dim), e)
        if e.func in _MATH:
            return self.math(e)
        self.fail("E0101", f"unknown function `{e.func}`", e.func_span, "not a function",
                  help="functions in system files: csv(file, column), sum, mean, max, min; "
                       + ", ".join(_MATH) + " of plain numbers")

    def math(self, e: ast.Call) -> Const:
        """sqrt, exp, log, sin, cos, tan, asin, acos, atan of a plain number or series (angles in radians); the
        square root of a unit whose powers are even is that unit's root (`sqrt(a * b)` of two kW is kW)."""
        if len(e.args) != 1 or e.args[0].name is not None:
            self.fail("E0106", f"`{e.func}` takes one argument", e.span, "", help=f"write `{e.func}(x)`")
        arg = e.args[0].value
        c = self.eval(arg)
        dim = c.dim
        if dim != units.NONE and not c.zero:
            if e.func == "sqrt" and all(x % 2 == 0 for x in dim.exps):
                dim = Dim(tuple(x // 2 for x in dim.exps))
            else:
                what = "the square root of" if e.func == "sqrt" else f"`{e.func}` of"
                self.fail("E0410", f"{what} {units.describe(dim)} has no unit", arg.span,
                          f"this is {units.describe(dim)}",
                          help=f"`{e.func}` takes a plain number (`%` and `pu` are plain numbers): divide by a unit "
                               "first, as in `p / 1 kW`")
        else:
            dim = units.NONE
        fn, defined, domain = _MATH[e.func]
        values = np.asarray(c.value, dtype=float)
        if not defined(values).all():
            bad = values if values.ndim == 0 else values[~defined(values)][0]
            self.fail("E0411", f"`{e.func}` is not defined at {float(bad):.6g}: {domain}", arg.span,
                      f"{float(bad):.6g}", help=f"`{e.func}` takes {domain}")
        with np.errstate(all="ignore"):
            value = fn(values)
        return self.finite(Const(value if c.is_series else float(value), dim), e)

    def resolve_path(self, e: ast.Call) -> tuple[Path, ast.String]:
        if not e.args or not isinstance(e.args[0].value, ast.String) or e.args[0].name is not None:
            self.fail("E0403", "csv needs a file name in quotes", e.span, "",
                      help='write csv("data/file.csv", "column")')
        s = e.args[0].value
        bad = bad_path_text(s.value)
        if bad is not None:
            self.fail("E0402", f"this is not a file name: {bad}", s.span, "not a file name",
                      help='write csv("data/file.csv", "column"), a path relative to this .mgd file')
        path = (self.base_dir / s.value)
        access = self.csvs.access
        if access is not None and not access.permits(path):
            # refused before looking: whether a file exists out there is not the model's business either
            self.fail("E0405", f"`{s.value}` is outside the folders this model may read", s.span, "not allowed",
                      help=access.refusal_help())
        if not path.is_file():
            import os

            shown = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
            self.fail("E0402", f"data file not found: {s.value}", s.span, f"looked for {shown}",
                      help="CSV paths are relative to the .mgd file that names them")
        return path, s

    def table(self, e: ast.Call) -> tuple[Table, ast.String]:
        """The table a csv(...) call names, read and decoded, or an error at the call."""
        path, s = self.resolve_path(e)
        try:
            return self.csvs.read(path), s
        except FileProblem as problem:
            code = "E0004" if "larger than" in problem.reason else "E0403"
            self.fail(code, f"cannot read {s.value}: {problem.reason}", s.span, "this file",
                      help="data files are UTF-8 CSV text with a header line of column names")

    def no_column(self, table: Table, s: ast.String, column: str, span) -> None:
        """Report a missing column. Only the closest column name is quoted, never the header line."""
        import difflib

        close = difflib.get_close_matches(column, table.header, n=1)
        hint = f"did you mean `{cell_text(close[0])}`? " if close else ""
        self.fail("E0403", f"{s.value} has no column `{column}`", span, "no such column",
                  help=hint + f"the header (first line of the file) names {len(table.header)} columns")

    def csv_column(self, e: ast.Call) -> Const:
        if len(e.args) != 2 or not isinstance(e.args[1].value, ast.String):
            self.fail("E0403", "csv(file, column) needs a column name in quotes", e.span, "",
                      help='write csv("file.csv", "column"); network tables take csv("file.csv") alone')
        column = e.args[1].value.value
        table, s = self.table(e)
        if column not in table.header:
            self.no_column(table, s, column, e.args[1].value.span)
        values = []
        for line, cell in zip(table.lines, table.column(column)):
            values.append(cell_number(cell))
            if values[-1] is None:
                self.fail("E0403", f"{s.value} row {line}: `{cell_text(cell)}` in column `{column}` "
                                   f"{not_a_number(cell)}", e.span, "read here",
                          help="fix the cell in the file, or read another column")
        if not values:
            self.fail("E0403", f"{s.value} has no data rows", e.span, "read here",
                      help="give one row per step of the horizon below the header")
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
            return self.finite(Const(value, dim, a.zero and b.zero), e)
        if e.op == "*":
            return self.finite(Const(a.value * b.value, a.dim * b.dim, a.zero or b.zero), e)
        if np.any(np.asarray(b.value) == 0):
            self.fail("E0404", "division by zero", e.right.span, "this is zero",
                      help="a divisor is never 0; check the value and its unit")
        return self.finite(Const(a.value / b.value, a.dim / b.dim, a.zero), e)

    def e_Pow(self, e: ast.Pow) -> Const:
        c = self.eval(e.base)
        k = e.exponent.value
        if k != int(k) or k < 0:
            self.fail("E0204", f"exponent {e.exponent.text} is not a whole number", e.exponent.span, "")
        try:
            value = np.power(c.value, float(k)) if c.is_series else float(c.value) ** int(k)
        except OverflowError:
            value = math.inf                         # reported by finite() as a value too large
        return self.finite(Const(value, c.dim ** int(k)), e)


# name -> (function, where it is defined, that domain in words); names as typing.MATH_FUNCTIONS
_MATH = {
    "sqrt": (np.sqrt, lambda v: v >= 0, "numbers from 0 up"),
    "exp": (np.exp, lambda v: np.isfinite(v), "any number"),
    "log": (np.log, lambda v: v > 0, "numbers above 0 (the natural logarithm)"),
    "sin": (np.sin, lambda v: np.isfinite(v), "any number (radians)"),
    "cos": (np.cos, lambda v: np.isfinite(v), "any number (radians)"),
    "tan": (np.tan, lambda v: np.isfinite(v), "any number (radians)"),
    "asin": (np.arcsin, lambda v: abs(v) <= 1, "numbers from -1 to 1"),
    "acos": (np.arccos, lambda v: abs(v) <= 1, "numbers from -1 to 1"),
    "atan": (np.arctan, lambda v: np.isfinite(v), "any number"),
}


def convert(c: Const, want: Dim, span, diag: Collector, what: str) -> float | np.ndarray | None:
    """Check that `c` has dimension `want` and a magnitude within MAX_MAGNITUDE; return its value (canonical
    units) or None after an error."""
    if c.dim != want and not c.zero:
        diag.error("E0202", f"{what} must be {units.describe(want)}, but this is {units.describe(c.dim)}", span,
                   f"this is {units.describe(c.dim)}", help=conversion_hint(want, c.dim))
        return None
    if not check_magnitude(c.value, want, span, diag, what):
        return None
    return c.value


def check_magnitude(value, dim: Dim, span, diag: Collector, what: str) -> bool:
    """A value in canonical units is finite and at most MAX_MAGNITUDE; otherwise E0404 at `span`."""
    if in_range(value):
        return True
    unit = "" if dim == units.NONE else " " + units.describe(dim)          # a plain number: no unit
    shown = f"{largest(value):.3g}{unit}" if is_finite(value) else "not finite"
    diag.error("E0404", f"{what} is out of range: {shown}", span, f"beyond {MAGNITUDE_TEXT}{unit}",
               help=f"values stay within {MAGNITUDE_TEXT} in canonical units (kW, kWh, kvar, h, currency): larger "
                    "ones leave the solver's numerical range; check the number and its unit")
    return False


def not_a_number(text: str) -> str:
    """How a cell that cell_number refused is described."""
    try:
        float(text)
    except ValueError:
        return "is not a number"
    return "is not a finite number"


def cell_number(text: str) -> float | None:
    """A CSV cell as a finite number, or None (empty, not a number, inf, nan)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
