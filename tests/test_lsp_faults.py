"""A bug in mgdsl does not take the language server down: the server below is `mgdsl lsp` with its index builder
made to raise (as a bug would) and, for one file, its checker too; the exception reaches the client's log with its
trace, the document gets a diagnostic saying so, and the server goes on answering over stdio."""
from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

WAIT_S = 60                 # seconds for the server's diagnostics of a document

# The server process with two planted bugs: building an index raises for every file, checking raises for files
# whose text holds "CRASH"; then `mgdsl lsp` runs as usual (its command-line entry point).
BUGGY = """
import sys
import mgdsl.lsp.analysis as analysis
import mgdsl.lsp.build as build
from mgdsl.cli import main

def broken_build(self):
    raise ZeroDivisionError("planted in the index builder")

check = analysis.SystemChecker.check
def broken_check(self):
    if "CRASH" in self.program.main.file.text:
        raise KeyError("planted in the checker")
    return check(self)

build.Builder.build = broken_build
analysis.SystemChecker.check = broken_check
sys.argv = ["mgdsl", "lsp"]
main()
"""


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-c", BUGGY]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _open(client: LanguageClient, uri: str, text: str) -> list[types.Diagnostic]:
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="mgdsl", version=1, text=text)))
    while uri not in client.diagnostics:      # a server that never answers fails the test, not hangs it
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), WAIT_S)
    return list(client.diagnostics[uri])


async def test_a_bug_is_logged_and_the_server_goes_on(client, tmp_path):
    uri = (tmp_path / "a.mgd").as_uri()
    text = "horizon 2 steps of 1 h\nlet a = 1 kW kWh\n"
    # checking still works: the syntax error is published although building the index fails
    got = await _open(client, uri, text)
    assert [d.code for d in got] == ["E0001"]
    errors = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    assert errors and "planted in the index builder" in errors[-1] and "Traceback" in errors[-1]
    # every feature answers (nothing) instead of failing
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=1, character=4)))
    assert hover is None
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert symbols in (None, [])


async def test_a_bug_while_checking_is_a_diagnostic_and_a_log(client, tmp_path):
    uri = (tmp_path / "b.mgd").as_uri()
    got = await _open(client, uri, "# CRASH\nhorizon 2 steps of 1 h\n")
    assert len(got) == 1 and "this is a bug in mgdsl" in got[0].message and "planted in the checker" in got[0].message
    assert any("planted in the checker" in m.message for m in client.log_messages)
    # the next document is checked as usual
    got = await _open(client, (tmp_path / "c.mgd").as_uri(), "horizon 2 steps of 1 h\nlet b = 1 kW +\n")
    assert [d.code for d in got] == ["E0001"]
