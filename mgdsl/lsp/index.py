"""The editor's view of one document: its definitions and every name in it that refers to one (built by build.py)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..sema.units import Dim
from ..source import SourceFile, Span

_LONGEST_NAME = 4096          # characters: an occurrence (a name, a bus number, a file name) is never longer

# kind -> how hover names it
KINDS = {
    "template": "device template", "parameter": "parameter", "carrier parameter": "carrier parameter",
    "variable": "variable", "template let": "let (template)", "profile": "profile", "constant": "constant",
    "objective": "objective", "builtin objective": "built-in objective", "network": "network", "bus": "bus",
    "microgrid": "microgrid", "instance": "device instance", "cluster": "cluster", "switch": "switch",
    "coupling": "coupling", "setting": "decomposition setting", "decompose": "decomposition settings",
    "function": "function", "carrier": "carrier", "builtin": "built-in", "library": "library file",
    "reserve share": "reserve share", "reserve requirement": "reserve requirement",
}


@dataclass(eq=False)
class Definition:
    """A named thing of the model: where it is declared, and what hover says of it."""

    name: str
    kind: str                                   # a key of KINDS
    span: Span | None                           # its name: where go to definition leads
    extent: Span | None = None                  # the whole declaration (document symbols)
    unit: str | None = None                     # as written, or the canonical unit of its dimension
    dim: Dim | None = None
    doc: str = ""                               # the comment block above it
    code: str = ""                              # a line of .mgd shown first (signature, declaration)
    facts: list[str] = field(default_factory=list)      # further lines (markdown)
    container: str = ""                         # what it belongs to: a template, a microgrid, a network
    children: list[Definition] = field(default_factory=list)
    template: object = None                     # TemplateIR, for templates (completion of their parameters)


@dataclass(eq=False)
class Index:
    """Definitions of one document (and of the libraries it uses) and the occurrences of names in it."""

    file: SourceFile
    symbols: list[Definition] = field(default_factory=list)       # the document's own, in order (outline)
    templates: dict[str, Definition] = field(default_factory=dict)  # every template the document can use
    values: dict[str, Definition] = field(default_factory=dict)     # profiles and constants (system level)
    currency: str | None = None                                     # the system's, once checked
    _occurrences: list[tuple[int, int, Definition]] = field(default_factory=list)
    _sorted: bool = True

    def add(self, span: Span | None, target: Definition | None) -> None:
        """Record that `span` (in this document) names `target`."""
        if span is None or target is None or span.file is not self.file:
            return
        self._occurrences.append((span.start, span.end, target))
        self._sorted = False

    def at(self, offset: int) -> tuple[Span, Definition] | None:
        """The innermost name at `offset` (a cursor just after a name is on it), with its span."""
        if not self._sorted:
            self._occurrences.sort(key=lambda o: (o[0], -o[1]))
            self._sorted = True
        occ = self._occurrences
        best = None
        k = bisect.bisect_right(occ, (offset, float("inf"))) - 1
        # occurrences are names, short: those that can hold `offset` start a little before it
        while k >= 0 and offset - occ[k][0] <= _LONGEST_NAME:
            start, end, target = occ[k]
            if start <= offset <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end, target)
            k -= 1
        if best is None:
            return None
        return Span(self.file, best[0], best[1]), best[2]
