"""Check one document's text as `mgdsl check` checks its file (the same loader and checker, files read relative to
the document), and index it for the editor: its diagnostics and an Index, even while it has syntax errors."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, MgdError
from ..sema.files import FileAccess
from ..sema.loader import load_program, source_from_text
from ..sema.system import SystemChecker
from ..source import SourceFile
from ..syntax.parser import parse
from .build import build_index
from .diagnostics import use_span
from .index import Index

log = logging.getLogger("mgdsl.lsp")

_SYNTAX = ("E0001", "E0002")


@dataclass
class Analysis:
    """What the server knows of one version of a document."""

    file: SourceFile
    diagnostics: list[Diagnostic] = field(default_factory=list)     # errors, then warnings
    index: Index | None = None           # None when not even a recovered parse gave an AST
    items: list = field(default_factory=list)   # the document's top-level statements, where they parse
    index_error: Exception | None = None  # a bug of the index builder: the diagnostics stand, the server logs it


def analyze(text: str, path: str | None, allow_read: list[str] | None = None) -> Analysis:
    """Diagnostics and index of `text`, the content of the file at `path` (None: an unsaved buffer, whose files
    resolve from the current folder, as for `mgdsl.loads`)."""
    try:
        src = source_from_text(text, path or "<untitled>")
    except MgdError as err:
        return Analysis(SourceFile(path or "<untitled>", text), list(err.diagnostics))
    result = Analysis(src)
    access = FileAccess.for_model(src.directory, allow_read)
    program, checker = None, None
    try:
        program = load_program(src, access)
    except MgdError as err:
        result.diagnostics = list(err.diagnostics)
    if program is not None:
        checker = SystemChecker(program)
        try:
            ir = checker.check()
        except MgdError as err:
            result.diagnostics = list(err.diagnostics)
            ir = None
        if ir is not None:
            result.diagnostics = list(ir.warnings)
        result.index = _index(result, program, checker, ir)
        result.items = program.main.items
        return result
    try:
        result.items = parse(src).items          # the errors are in a library: its `use` shows them
    except MgdError:
        pass
    recovered = _recover(src, access, result.diagnostics)
    if recovered is not None:
        program, blanked = recovered
        checker = SystemChecker(program)
        try:
            ir = checker.check()
        except MgdError:
            ir = None
        index = _index(result, program, checker, ir)
        result.index = _rebase(index, blanked, src) if index is not None else None
        result.items = result.items or program.main.items
    return result


def _index(result: Analysis, program, checker, ir) -> Index | None:
    """The index, or None with the exception kept: a bug there must not cost the document its diagnostics."""
    try:
        return build_index(program, checker, ir)
    except Exception as exc:
        result.index_error = exc
        return None


_ATTEMPTS = 12


def _recover(src: SourceFile, access: FileAccess, errors: list[Diagnostic]):
    """(program, its main file) of `src` with the lines that kept it from loading blanked, or None. A blank line
    keeps every offset, so the index of the rest applies to `src` (the parser finds several syntax errors the same
    way). A library's problem blanks the `use` that reads it."""
    text = src.text
    current = src
    for _ in range(_ATTEMPTS):
        try:
            items = parse(current).items
        except MgdError:
            items = []
        starts = set()
        for d in errors:
            if d.span is None:
                continue
            where = d.span if d.span.file is current else use_span(current, items, d.span) if items else None
            if where is not None and where.file is current:
                starts.add(where.start)
        if not starts:
            return None
        for start in starts:
            first = text.rfind("\n", 0, start) + 1
            last = text.find("\n", start)
            last = len(text) if last < 0 else last
            text = text[:first] + " " * (last - first) + text[last:]
        current = SourceFile(src.path, text)
        try:
            return load_program(current, access), current
        except MgdError as err:
            errors = err.diagnostics
    return None


def _rebase(index: Index, blanked: SourceFile, src: SourceFile) -> Index:
    """The index of `blanked`, a copy of `src` with lines blanked, made to point at `src` (the same offsets)."""
    index.file = src
    seen: set[int] = set()
    stack = list(index.symbols) + list(index.templates.values()) + list(index.values.values())
    stack += [d for _, _, d in index._occurrences]
    while stack:
        d = stack.pop()
        if id(d) in seen:
            continue
        seen.add(id(d))
        for attr in ("span", "extent"):
            span = getattr(d, attr)
            if span is not None and span.file is blanked:
                setattr(d, attr, src.span(span.start, span.end))
        stack.extend(d.children)
    return index
