"""The pygls server behind `mgdsl lsp`: documents in sync, checked after each change (debounced, in a worker thread),
and the editor features; an exception in a handler is logged to the client and stderr, never fatal to the server."""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .. import __version__
from .analysis import Analysis, analyze
from .completion import complete
from .diagnostics import convert
from .hover import hover_text
from .index import Definition, Index
from .positions import offset, real_path, span_range, to_path, to_uri

log = logging.getLogger("mgdsl.lsp")

DEBOUNCE_S = 0.2           # a burst of keystrokes is checked once, this long after the last


class MgdslServer(LanguageServer):
    def __init__(self, allow_read: list[str] | None = None):
        super().__init__("mgdsl", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.allow_read = list(allow_read or [])
        self.analyses: dict[str, Analysis] = {}          # uri -> the latest analysis
        self.indexes: dict[str, Index] = {}              # uri -> the latest index (kept through syntax errors)
        self.pending: dict[str, asyncio.Task] = {}       # uri -> the check under way or waiting
        self.debounce = float(os.environ.get("MGDSL_LSP_DEBOUNCE", DEBOUNCE_S))
        self.checker_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgdsl-check")

    # ------------------------------------------------------------------ client capabilities
    @property
    def encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def capability(self, path: str, default=None):
        node = self.client_capabilities
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                return default
        return node

    def markdown(self, where: str) -> bool:
        formats = self.capability(where) or []
        return types.MarkupKind.Markdown in formats

    def report(self, what: str, exc: BaseException) -> None:
        """A bug in mgdsl: to stderr and the client's log, with the trace; the server goes on."""
        trace = "".join(traceback.format_exception(exc))
        log.error("bug in mgdsl %s while %s:\n%s", __version__, what, trace)
        try:
            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error,
                message=f"mgdsl {__version__}: a bug while {what} (please report it): "
                        f"{type(exc).__name__}: {exc}\n{trace}"))
        except Exception:        # the client is gone: nothing else to tell
            log.exception("could not send the report")

    # ------------------------------------------------------------------ checking
    def schedule(self, uri: str, delay: float) -> None:
        task = self.pending.get(uri)
        if task is not None and not task.done():
            task.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self.check(uri, delay))

    async def check(self, uri: str, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            doc = self.workspace.get_text_document(uri)
            text, version = doc.source, doc.version
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self.checker_thread, analyze, text, to_path(uri),
                                                    self.allow_read)
            except Exception as exc:
                self.report(f"checking {uri}", exc)
                self.publish_bug(uri, version, exc)
                return
            self.analyses[uri] = result
            if result.index_error is not None:
                self.report(f"indexing {uri}", result.index_error)
            if result.index is not None:
                self.indexes[uri] = result.index
            related = bool(self.capability("text_document.publish_diagnostics.related_information", False))
            diagnostics = convert(result.diagnostics, result.file, result.items, uri, self.encoding, related)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report(f"checking {uri}", exc)

    def publish_bug(self, uri: str, version, exc: BaseException) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=[types.Diagnostic(
                range=types.Range(start=types.Position(line=0, character=0),
                                  end=types.Position(line=0, character=0)),
                message=f"mgdsl could not check this file: this is a bug in mgdsl {__version__} "
                        f"({type(exc).__name__}: {exc}); the trace is in the language server's log",
                severity=types.DiagnosticSeverity.Error, source="mgdsl")]))

    async def current(self, uri: str) -> Index | None:
        """The index of the document as it is now: a check under way is awaited."""
        task = self.pending.get(uri)
        if task is not None and not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                # the check was replaced by a newer one (another change): wait for that one instead
                newer = self.pending.get(uri)
                if newer is not None and newer is not task and not newer.done():
                    try:
                        await asyncio.shield(newer)
                    except asyncio.CancelledError:
                        pass
        return self.indexes.get(uri)

    # ------------------------------------------------------------------ answers
    def location(self, d: Definition, uri: str, index: Index) -> types.Location | None:
        if d.span is None:
            return None
        if d.span.file is index.file:
            return types.Location(uri=uri, range=span_range(d.span, self.encoding))
        path = real_path(d.span.file)
        if path is None:
            return None
        return types.Location(uri=to_uri(path), range=span_range(d.span, self.encoding))


def guarded(what: str):
    """A handler whose exception is reported as a bug (logged) and answered with nothing."""
    def wrap(f):
        @functools.wraps(f)
        async def handler(ls: MgdslServer, params):
            try:
                result = f(ls, params)
                if asyncio.iscoroutine(result):
                    result = await result
                return result
            except Exception as exc:
                ls.report(what, exc)
                return None
        return handler
    return wrap


server = MgdslServer()


@server.feature(types.INITIALIZE)
@guarded("initializing")
def initialize(ls: MgdslServer, params: types.InitializeParams):
    options = params.initialization_options or {}
    if isinstance(options, dict):
        extra = options.get("allowRead") or []
        if isinstance(extra, list):
            ls.allow_read += [str(p) for p in extra if isinstance(p, str)]


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
@guarded("opening a document")
def did_open(ls: MgdslServer, params: types.DidOpenTextDocumentParams):
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
@guarded("applying a change")
def did_change(ls: MgdslServer, params: types.DidChangeTextDocumentParams):
    ls.schedule(params.text_document.uri, ls.debounce)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
@guarded("saving a document")
def did_save(ls: MgdslServer, params: types.DidSaveTextDocumentParams):
    # a saved library or data file changes what the other open models read: check them all again
    for uri in list(ls.workspace.text_documents):
        ls.schedule(uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
@guarded("closing a document")
def did_close(ls: MgdslServer, params: types.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.analyses.pop(uri, None)
    ls.indexes.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


async def _lookup(ls: MgdslServer, uri: str, pos: types.Position):
    index = await ls.current(uri)
    if index is None:
        return None, None, None
    doc = ls.workspace.get_text_document(uri)
    if doc.source != index.file.text:         # the index is of an older text (syntax errors since): positions
        return index, None, None              # may have moved, so nothing is answered at a position
    found = index.at(offset(doc.source, pos, ls.encoding))
    if found is None:
        return index, None, None
    return index, found[0], found[1]


@server.feature(types.TEXT_DOCUMENT_HOVER)
@guarded("answering hover")
async def hover(ls: MgdslServer, params: types.HoverParams):
    index, span, d = await _lookup(ls, params.text_document.uri, params.position)
    if d is None:
        return None
    markdown = ls.markdown("text_document.hover.content_format")
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText,
                                     value=hover_text(d, markdown)),
        range=span_range(span, ls.encoding))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
@guarded("answering go to definition")
async def definition(ls: MgdslServer, params: types.DefinitionParams):
    index, _, d = await _lookup(ls, params.text_document.uri, params.position)
    if d is None:
        return None
    return ls.location(d, params.text_document.uri, index)


_SYMBOL_KINDS = {
    "template": types.SymbolKind.Class, "parameter": types.SymbolKind.Field,
    "carrier parameter": types.SymbolKind.TypeParameter, "variable": types.SymbolKind.Variable,
    "template let": types.SymbolKind.Constant, "profile": types.SymbolKind.Array, "constant": types.SymbolKind.Constant,
    "objective": types.SymbolKind.Function, "network": types.SymbolKind.Module, "microgrid": types.SymbolKind.Module,
    "instance": types.SymbolKind.Object, "cluster": types.SymbolKind.Namespace, "switch": types.SymbolKind.Event,
    "coupling": types.SymbolKind.Operator, "decompose": types.SymbolKind.Namespace,
    "setting": types.SymbolKind.Property,
}


def _symbol_name(d: Definition) -> str:
    return d.name.split(".", 1)[1] if d.kind == "instance" and "." in d.name else d.name


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded("listing symbols")
async def document_symbols(ls: MgdslServer, params: types.DocumentSymbolParams):
    uri = params.text_document.uri
    index = await ls.current(uri)
    if index is None:
        return []
    enc = ls.encoding

    def tree(d: Definition) -> types.DocumentSymbol | None:
        if d.span is None or d.span.file is not index.file:
            return None
        extent = d.extent if d.extent is not None and d.extent.file is index.file else d.span
        children = [c for c in (tree(c) for c in d.children) if c is not None]
        return types.DocumentSymbol(
            name=_symbol_name(d) or "?", kind=_SYMBOL_KINDS.get(d.kind, types.SymbolKind.Variable),
            range=span_range(extent.to(d.span), enc), selection_range=span_range(d.span, enc),
            detail=d.unit or None, children=children or None)

    symbols = [s for s in (tree(d) for d in index.symbols) if s is not None]
    if ls.capability("text_document.document_symbol.hierarchical_document_symbol_support", False):
        return symbols
    flat = []

    def walk(s: types.DocumentSymbol, container: str | None):
        flat.append(types.SymbolInformation(name=s.name, kind=s.kind, container_name=container,
                                            location=types.Location(uri=uri, range=s.selection_range)))
        for c in s.children or []:
            walk(c, s.name)

    for s in symbols:
        walk(s, None)
    return flat


_COMPLETION_KINDS = {"template": types.CompletionItemKind.Class, "parameter": types.CompletionItemKind.Field,
                     "value": types.CompletionItemKind.Variable, "keyword": types.CompletionItemKind.Keyword}


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["(", ","]))
@guarded("completing")
async def completion(ls: MgdslServer, params: types.CompletionParams):
    uri = params.text_document.uri
    index = await ls.current(uri)
    doc = ls.workspace.get_text_document(uri)
    text = doc.source
    markdown = ls.markdown("text_document.completion.completion_item.documentation_format")
    items = complete(index, text, offset(text, params.position, ls.encoding))
    return types.CompletionList(is_incomplete=False, items=[
        types.CompletionItem(
            label=i.label, kind=_COMPLETION_KINDS[i.kind], detail=i.detail or None, sort_text=i.sort,
            insert_text=i.insert,
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=i.doc) if markdown and i.doc
            else (i.doc.replace("```mgdsl\n", "").replace("```", "") if i.doc else None))
        for i in items])


def main(allow_read: list[str] | None = None) -> None:
    """Serve over stdin/stdout until the client says exit. Logs go to stderr (stdout is the protocol's)."""
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("MGDSL_LSP_LOG", "WARNING").upper(),
                        format="mgdsl lsp: %(levelname)s %(message)s")
    server.allow_read = list(allow_read or [])
    server.start_io()
