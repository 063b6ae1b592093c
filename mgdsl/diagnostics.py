"""Diagnostics: error codes, the MgdError exception, and rustc-style rendering with underlined spans."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CODES
from .source import Span


@dataclass
class Label:
    span: Span
    message: str = ""


@dataclass
class Diagnostic:
    """One problem: a stable code, a message, a primary span with a label, optional notes and a hint."""

    code: str
    message: str
    span: Span | None
    label: str = ""
    secondary: list[Label] = field(default_factory=list)
    help: str = ""
    notes: list[str] = field(default_factory=list)
    severity: str = "error"
    details: list[str] = field(default_factory=list)   # a long report's every line (E0601): JSON and files, not
                                                       # the screen, which shows the notes

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise InternalError(f"unregistered error code {self.code}")

    def location(self) -> str:
        return self.span.location() if self.span is not None else "<no location>"

    def render(self, color: bool = False) -> str:
        return render(self, color=color)

    def to_json(self) -> dict:
        out = {"code": self.code, "severity": self.severity, "message": self.message, "help": self.help}
        if self.span is not None:
            out.update(file=self.span.file.path, line=self.span.line, column=self.span.column,
                       end_line=self.span.file.position(self.span.end)[0],
                       end_column=self.span.file.position(self.span.end)[1])
        out["related"] = [{"file": l.span.file.path, "line": l.span.line, "column": l.span.column,
                           "message": l.message} for l in self.secondary]
        out["notes"] = list(self.notes)
        if self.details:
            out["details"] = list(self.details)
        return out


class MgdError(Exception):
    """Raised by every stage for bad input; carries all diagnostics found, in source order."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=_order)
        super().__init__(self.render())

    def __reduce__(self):
        # travel between processes (ATC workers) with the diagnostics, not only the rendered text
        return (MgdError, (self.diagnostics,))

    def render(self, color: bool = False) -> str:
        parts = [d.render(color=color) for d in self.diagnostics]
        n = len(self.diagnostics)
        if n > 1:
            parts.append(_paint(f"error: {n} problems found", "bold red", color))
        return "\n\n".join(parts)


def _order(d: Diagnostic):
    if d.span is None:
        return ("~", 0)
    return (d.span.file.path, d.span.start)


class InternalError(Exception):
    """A bug in mgdsl, not a problem of the user's input: the CLI reports it as a bug with the version and
    what to attach. Raise it where an invariant the checker should have guaranteed does not hold."""


class Collector:
    """Accumulates diagnostics so a stage can report every problem of a file at once. Warnings are kept apart:
    they do not stop a stage (`raise_if_any`, truth value), and reach the user with a checked model."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span | None, label: str = "", help: str = "",
              secondary: list[Label] | None = None, notes: list[str] | None = None) -> Diagnostic:
        d = Diagnostic(code, message, span, label, secondary or [], help, notes or [])
        self.diagnostics.append(d)
        return d

    def warning(self, code: str, message: str, span: Span | None, label: str = "", help: str = "",
                secondary: list[Label] | None = None, notes: list[str] | None = None) -> Diagnostic:
        d = Diagnostic(code, message, span, label, secondary or [], help, notes or [], severity="warning")
        self.warnings.append(d)
        return d

    def extend(self, err: MgdError) -> None:
        self.diagnostics.extend(err.diagnostics)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise MgdError(self.diagnostics)

    def __bool__(self) -> bool:
        return bool(self.diagnostics)


_STYLES = {"bold red": "\x1b[1;31m", "bold yellow": "\x1b[1;33m", "bold blue": "\x1b[1;34m", "bold": "\x1b[1m",
           "cyan": "\x1b[36m"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLES[style]}{text}\x1b[0m" if color else text


# a source line longer than this is shown as a window around its labels, so one error on a huge generated line
# (a 4 MB one-line file) prints a few hundred characters, not the whole line
SHOWN_LINE = 200
_CONTEXT = 40          # characters kept left of the leftmost label in such a window


def _columns(span: Span, line: int, text: str) -> tuple[int, int]:
    """The 1-based columns [start, end) that `span` covers on `line`."""
    file = span.file
    s_line, s_col = file.position(span.start)
    e_line, e_col = file.position(span.end)
    return (s_col if s_line == line else 1), (e_col if e_line == line else len(text) + 1)


def _window(text: str, first_col: int) -> tuple[str, int]:
    """The part of a long line shown (with an ellipsis at a cut end) and how many columns it is shifted left."""
    if len(text) <= SHOWN_LINE:
        return text, 0
    left = max(0, first_col - 1 - _CONTEXT)
    shown = text[left:left + SHOWN_LINE]
    shift = left
    if left > 0:
        shown, shift = "…" + shown, left - 1
    if left + SHOWN_LINE < len(text):
        shown += "…"
    return shown, shift


def _underline(span: Span, line: int, label: str, marker: str, color: bool, text: str, shift: int,
               shown: int) -> str:
    col, end = _columns(span, line, text)
    # a label beyond the shown window is drawn at its right edge (its text still says what it marks)
    col, end = min(max(1, col - shift), shown + 1), max(1, min(end - shift, shown + 1))
    width = max(1, end - col)
    style = "bold red" if marker == "^" else "bold blue"
    return " " * (col - 1) + _paint(marker * width + (" " + label if label else ""), style, color)


def _file_block(labels: list[tuple[Span, str, str]], color: bool, gutter: int) -> list[str]:
    """Source lines of one file in order, each printed once with the underlines of its labels."""
    pad = " " * gutter
    bar = _paint("|", "bold blue", color)
    by_line: dict[int, list[tuple[Span, str, str]]] = {}
    for span, label, marker in labels:
        by_line.setdefault(span.line, []).append((span, label, marker))
    file = labels[0][0].file
    out = []
    previous = None
    for line in sorted(by_line):
        if previous is not None and line == previous + 2:
            number = _paint(str(previous + 1).rjust(gutter), "bold blue", color)
            out.append(f"{number} {bar} {_window(file.line_text(previous + 1), 1)[0]}")
        elif previous is not None and line > previous + 2:
            out.append(f"{_paint('...', 'bold blue', color)}")
        text = file.line_text(line)
        shown, shift = _window(text, min(_columns(span, line, text)[0] for span, _, _ in by_line[line]))
        out.append(f"{_paint(str(line).rjust(gutter), 'bold blue', color)} {bar} {shown}")
        # the primary label first, then the others from right to left so each stays readable
        items = sorted(by_line[line], key=lambda x: (x[2] != "^", -x[0].start))
        for span, label, marker in items:
            out.append(f"{pad} {bar} {_underline(span, line, label, marker, color, text, shift, len(shown))}")
        previous = line
    return out


def render(d: Diagnostic, color: bool = False) -> str:
    """Render like rustc: header, location arrow, source lines with underlines, notes and help."""
    head = _paint(f"{d.severity}[{d.code}]", "bold yellow" if d.severity == "warning" else "bold red", color) \
        + _paint(f": {d.message}", "bold", color)
    lines = [head]
    labels: list[tuple[Span, str, str]] = []
    if d.span is not None:
        labels.append((d.span, d.label, "^"))
    labels += [(l.span, l.message, "-") for l in d.secondary]
    gutter = max([len(str(s.file.position(s.end)[0])) for s, _, _ in labels] or [1])
    pad = " " * gutter
    bar = _paint("|", "bold blue", color)
    files: list = []
    for span, _, _ in labels:
        if span.file not in files:
            files.append(span.file)
    for file in files:
        mine = [x for x in labels if x[0].file is file]
        primary = [x[0] for x in mine if x[2] == "^"]
        first = primary[0] if primary else min((x[0] for x in mine), key=lambda s: s.start)
        lines.append(f"{pad}{_paint('-->', 'bold blue', color)} {first.location()}")
        lines.append(f"{pad} {bar}")
        lines += _file_block(mine, color, gutter)
    if labels:
        lines.append(f"{pad} {bar}")
    for note in d.notes:
        lines.append(f"{pad} = note: {note}")
    if d.help:
        lines.append(f"{pad} = {_paint('help', 'bold', color)}: {d.help}")
    return "\n".join(lines)
