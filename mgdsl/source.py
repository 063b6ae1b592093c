"""Source files and spans: every AST node and diagnostic points into a SourceFile by a Span."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(eq=False)
class SourceFile:
    """The text of one .mgd file, with the path it was read from (or a pseudo-name like <string>)."""

    path: str
    text: str
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.path = str(self.path)                # a pathlib.Path given by a caller is kept as its text
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        self._line_starts = starts

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve().parent if not self.path.startswith("<") else Path.cwd()

    def line_text(self, line: int) -> str:
        """The text of 1-based line `line`, without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end].rstrip("\r")

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        return Span(self, start, max(start, end))


class Span:
    """A half-open character range [start, end) in a source file. Immutable by convention; a plain class
    with slots because the parser makes one per token and node (a frozen dataclass made parsing a
    10,000-line file 0.7 s slower)."""

    __slots__ = ("file", "start", "end")

    def __init__(self, file: SourceFile, start: int, end: int):
        self.file = file
        self.start = start
        self.end = end

    def __reduce__(self):
        return (Span, (self.file, self.start, self.end))

    @property
    def line(self) -> int:
        return self.file.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.file.position(self.start)[1]

    @property
    def text(self) -> str:
        return self.file.text[self.start : self.end]

    def to(self, other: Span) -> Span:
        """The span from the start of self to the end of other (same file)."""
        if other.file is not self.file:
            return self
        return Span(self.file, min(self.start, other.start), max(self.end, other.end))

    def location(self) -> str:
        return f"{self.file.path}:{self.line}:{self.column}"

    def __repr__(self) -> str:
        return f"<Span {self.location()} {self.text[:30]!r}>"
