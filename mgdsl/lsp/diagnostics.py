"""mgdsl Diagnostics -> LSP Diagnostics: the code, the span as range, message, notes and hint, other labels related.
A problem in another file (a library) is shown at the `use` that reads it, and points at its place."""
from __future__ import annotations

from lsprotocol import types

from ..diagnostics import Diagnostic
from ..source import SourceFile, Span
from ..syntax import ast
from .positions import real_path, span_range, to_uri


def _location(span: Span, encoding: str) -> types.Location | None:
    path = real_path(span.file)
    if path is None:
        return None
    return types.Location(uri=to_uri(path), range=span_range(span, encoding))


def use_span(file: SourceFile, items, where: Span) -> Span:
    """Where the document brings in the file of `where`: its `use` (the stdlib's, or one naming the file)."""
    uses = [i for i in items if isinstance(i, ast.Use)]
    target = real_path(where.file)
    for u in uses:
        if u.is_path and target is not None:
            try:
                if (file.directory / u.target).resolve() == target:
                    return u.span
            except (OSError, RuntimeError, ValueError):
                continue
    if where.file.path.startswith("stdlib/"):
        for u in uses:
            if not u.is_path:
                return u.span
    return uses[0].span if uses else file.span(0, 0)


def to_lsp(d: Diagnostic, file: SourceFile, items, encoding: str, related: bool = True) -> types.Diagnostic:
    """One diagnostic of the document `file` (whose top-level statements are `items`)."""
    message = d.message
    lines = [message]
    lines += [f"note: {n}" for n in d.notes]
    if d.help:
        lines.append(f"help: {d.help}")
    info = []
    if d.span is None:
        rng = span_range(file.span(0, 0), encoding)
    elif d.span.file is file:
        rng = span_range(d.span, encoding)
    else:
        lines[0] = f"{d.span.location()}: {message}"
        rng = span_range(use_span(file, items, d.span), encoding)
        here = _location(d.span, encoding)
        if here is not None:
            info.append(types.DiagnosticRelatedInformation(location=here, message=d.label or message))
    for label in d.secondary:
        if label.span.file is file:
            loc = types.Location(uri="", range=span_range(label.span, encoding))
        else:
            loc = _location(label.span, encoding)
        if loc is not None:
            info.append(types.DiagnosticRelatedInformation(location=loc, message=label.message or "here"))
    return types.Diagnostic(
        range=rng, message="\n".join(lines), code=d.code, source="mgdsl",
        severity=types.DiagnosticSeverity.Warning if d.severity == "warning" else types.DiagnosticSeverity.Error,
        related_information=info if related and info else None)


def convert(diagnostics: list[Diagnostic], file: SourceFile, items, uri: str, encoding: str,
            related: bool = True) -> list[types.Diagnostic]:
    out = []
    for d in diagnostics:
        lsp = to_lsp(d, file, items, encoding, related)
        for info in lsp.related_information or []:
            if not info.location.uri:
                info.location.uri = uri          # a label in the document itself
        out.append(lsp)
    return out
