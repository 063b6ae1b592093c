"""`mgdsl lsp` with the capabilities of the other editors docs/editors.md sets up (Neovim, Emacs; VS Code's are
tests/test_lsp.py's): every answer respects what the client declares (pytest-lsp's checks, as errors), hover falls
back to plain text where markdown is not declared, and symbols come flat where nesting is not."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.test_lsp import SERVER

MODEL = Path(__file__).resolve().parent.parent / "models" / "example.mgd"


@pytest_lsp.fixture(params=["neovim", "emacs", "plain"], config=SERVER)
async def client(request, lsp_client: LanguageClient):
    caps = types.ClientCapabilities() if request.param == "plain" else client_capabilities(request.param)
    await lsp_client.initialize_session(types.InitializeParams(capabilities=caps))
    yield
    await lsp_client.shutdown_session()


pytestmark = [pytest.mark.asyncio, pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]


async def test_answers_fit_the_client(client: LanguageClient):
    uri = MODEL.as_uri()
    text = MODEL.read_text(encoding="utf-8")
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="mgdsl", version=1, text=text)))
    while uri not in client.diagnostics:
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 60)
    # the bundled example checks clean but for W0505 (its switch k23 between microgrids at two buses)
    assert [(d.code, d.severity) for d in client.diagnostics[uri]] == [("W0505", types.DiagnosticSeverity.Warning)]
    k = text.index("Storage(electricity")
    where = types.Position(line=text.count("\n", 0, k), character=k - text.rfind("\n", 0, k) - 1)
    doc = types.TextDocumentIdentifier(uri=uri)
    caps = client.capabilities
    hover = await client.text_document_hover_async(types.HoverParams(text_document=doc, position=where))
    formats = (caps.text_document and caps.text_document.hover and caps.text_document.hover.content_format) or []
    want = types.MarkupKind.Markdown if types.MarkupKind.Markdown in formats else types.MarkupKind.PlainText
    assert hover.contents.kind == want and "device template" in hover.contents.value
    if want == types.MarkupKind.PlainText:
        assert "**" not in hover.contents.value and "`capacity`" not in hover.contents.value
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
    nested = caps.text_document and caps.text_document.document_symbol and \
        caps.text_document.document_symbol.hierarchical_document_symbol_support
    if nested:
        assert all(isinstance(s, types.DocumentSymbol) for s in symbols)
    else:
        assert all(isinstance(s, types.SymbolInformation) for s in symbols)
        assert ("es", "mg1") in {(s.name, s.container_name) for s in symbols}
    line = text.index("    gb = GasBoiler(")
    inside = types.Position(line=text.count("\n", 0, line), character=len("    gb = GasBoiler("))
    items = await client.text_document_completion_async(types.CompletionParams(text_document=doc, position=inside))
    labels = [i.label for i in (items.items if isinstance(items, types.CompletionList) else items)]
    assert "h_max" in labels and "eta" in labels and "Storage" not in labels      # GasBoiler's parameters
    loc = await client.text_document_definition_async(types.DefinitionParams(text_document=doc, position=where))
    assert loc is not None
