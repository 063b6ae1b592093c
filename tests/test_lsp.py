"""The language server end to end: `mgdsl lsp` started as a subprocess and driven over stdio by pytest-lsp's client
(VS Code's capabilities): diagnostics as `mgdsl check --json` reports them, hover, definition, symbols, completion."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

WAIT_S = 60                 # seconds for the server's diagnostics of a document

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
STDLIB = ROOT / "stdlib"


def mgdsl_command() -> list[str]:
    """`mgdsl` as installed beside this Python (the console script), else the module."""
    script = Path(sys.executable).parent / "mgdsl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mgdsl.cli"]


SERVER = ClientServerConfig(server_command=[*mgdsl_command(), "lsp"], server_env=None)


@pytest_lsp.fixture(scope="module", config=SERVER)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


pytestmark = [pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]


# ------------------------------------------------------------------ helpers
async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> list[types.Diagnostic]:
    """Open `path` (with `text`, or its content) and wait for the server's diagnostics of it."""
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8") if text is None else text
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="mgdsl", version=1, text=text)))
    return await diagnostics_of(client, uri)


async def diagnostics_of(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    while uri not in client.diagnostics:      # a server that never answers fails the test, not hangs it
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), WAIT_S)
    return list(client.diagnostics[uri])


async def close_doc(client: LanguageClient, path: Path) -> None:
    """Close `path`; the server clears its diagnostics (waited for, so they do not reach a later test)."""
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    # a check that finished before the close may still publish first: the empty list is the close's
    while await diagnostics_of(client, uri):
        client.diagnostics.pop(uri, None)


def pos(text: str, needle: str, nth: int = 0, shift: int = 0) -> types.Position:
    """The LSP position of the nth occurrence of `needle` in `text` (plus `shift` characters; ASCII lines)."""
    k = -1
    for _ in range(nth + 1):
        k = text.index(needle, k + 1)
    k += shift
    line = text.count("\n", 0, k)
    return types.Position(line=line, character=k - (text.rfind("\n", 0, k) + 1))


async def hover(client: LanguageClient, path: Path, position: types.Position) -> str | None:
    h = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri()), position=position))
    if h is None:
        return None
    assert isinstance(h.contents, types.MarkupContent) and h.contents.kind == types.MarkupKind.Markdown
    return h.contents.value


async def definition(client: LanguageClient, path: Path, position: types.Position) -> types.Location | None:
    d = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri()), position=position))
    if isinstance(d, list):
        assert len(d) == 1
        d = d[0]
    return d


def check_json(path: Path) -> list[dict]:
    """What `mgdsl check --json` reports for the file (errors, or the warnings of a valid model)."""
    r = subprocess.run([*mgdsl_command(), "check", "--json", str(path)], capture_output=True, text=True,
                       cwd=path.parent)
    out = json.loads(r.stdout)
    return out.get("diagnostics") or out.get("warnings") or []


def as_range(d: dict) -> types.Range:
    return types.Range(start=types.Position(line=d["line"] - 1, character=d["column"] - 1),
                       end=types.Position(line=d["end_line"] - 1, character=d["end_column"] - 1))


BROKEN = """\
use stdlib
horizon 2 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5]

# A tank without `* dt`.
device Tank(capacity: kWh, p_max: kW) {
    var ch[t]: kW in 0 .. p_max
    var e[t]: kWh in 0 .. capacity
    e[t] == e[t-1] + ch[t]
    port heat -= ch
}

microgrid mg1 {
    es = Storag(electricity, capacity = 100 kWh, p_max = 50 kW)
    grid = ElectricityTrade(buy_price = prise, sell_price = price)
    load = Load(electricity, base = 10 kW)
}
"""


# ------------------------------------------------------------------ diagnostics
async def test_diagnostics_are_those_of_mgdsl_check(client, tmp_path):
    path = tmp_path / "broken.mgd"
    path.write_text(BROKEN, encoding="utf-8")
    got = await open_doc(client, path)
    want = check_json(path)
    assert [d["code"] for d in want] == ["E0201", "E0102", "E0101"]       # every error at once
    assert [d.code for d in got] == [d["code"] for d in want]
    for lsp, cli in zip(got, want):
        assert lsp.range == as_range(cli), cli["code"]
        assert lsp.severity == types.DiagnosticSeverity.Error and lsp.source == "mgdsl"
        assert lsp.message.startswith(cli["message"])
        assert f"help: {cli['help']}" in lsp.message
    # the unit mismatch's labels ("this is kW", "this is kWh") are related information at their places
    related = {(r.message, r.location.range.start.line) for r in got[0].related_information}
    assert ("this is kW", 8) in related and ("this is kWh", 8) in related
    assert "did you mean `Storage`?" in got[1].message
    await close_doc(client, path)


async def test_syntax_errors_all_at_once_and_the_rest_still_indexed(client, tmp_path):
    text = "use stdlib\nhorizon 2 steps of 1 h\nprofile p = [1, 2]]\nlet a = 3 kW kW\nlet b = 2 kW\nlet c = b * 2\n"
    path = tmp_path / "syntax.mgd"
    path.write_text(text, encoding="utf-8")
    got = await open_doc(client, path)
    want = check_json(path)
    assert len(want) >= 2
    assert [(d.code, d.range) for d in got] == [(w["code"], as_range(w)) for w in want]
    # the lines that parse are still understood
    text_hover = await hover(client, path, pos(text, "b * 2"))
    assert text_hover is not None and "(constant) b" in text_hover and "= 2 kW" in text_hover
    loc = await definition(client, path, pos(text, "b * 2"))
    assert loc.range.start == pos(text, "b = 2")
    await close_doc(client, path)


async def test_a_change_is_checked_again(client, tmp_path):
    path = tmp_path / "change.mgd"
    good = "use stdlib\nhorizon 2 steps of 1 h\nmicrogrid mg1 {\n    load = Load(electricity, base = 10 kW)\n" \
           "    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n}\n"
    path.write_text(good, encoding="utf-8")
    assert await open_doc(client, path) == []
    uri = path.as_uri()
    client.diagnostics.pop(uri)
    bad = good.replace("10 kW", "10 kWh")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=bad)]))
    got = await diagnostics_of(client, uri)
    assert [d.code for d in got] == ["E0202"]
    assert got[0].range.start == pos(bad, "10 kWh")
    client.diagnostics.pop(uri)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=good)]))
    assert await diagnostics_of(client, uri) == []
    await close_doc(client, path)


async def test_warnings_are_warnings(client, tmp_path):
    path = tmp_path / "w.mgd"
    shutil.copy(ROOT / "tests" / "golden" / "errors" / "W0501.mgd", path)
    got = await open_doc(client, path)
    want = check_json(path)
    assert [w["code"] for w in want] == ["W0501"]
    assert [(d.code, d.severity, d.range) for d in got] == \
        [("W0501", types.DiagnosticSeverity.Warning, as_range(want[0]))]
    await close_doc(client, path)


async def test_files_resolve_relative_to_the_document(client, tmp_path):
    folder = tmp_path / "study"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "prices.csv").write_text("price\n0.2\n0.5\n", encoding="utf-8")
    (folder / "lib.mgd").write_text("# a user library\ndevice Heater(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n"
                                    "    port heat += p\n    cost += 0.1 yuan/kWh * p * dt\n}\n", encoding="utf-8")
    text = ('use stdlib\nuse "lib.mgd"\nhorizon 2 steps of 1 h\nprofile price: yuan/kWh = csv("data/prices.csv", '
            '"price")\nmicrogrid mg1 {\n    h = Heater(p_max = 10 kW)\n    load = Load(heat, base = 5 kW)\n'
            '    grid = ElectricityTrade(buy_price = price)\n}\n')
    path = folder / "model.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    # the template comes from lib.mgd, beside the document: definition goes there
    loc = await definition(client, path, pos(text, "Heater("))
    assert loc.uri == (folder / "lib.mgd").as_uri() and loc.range.start == types.Position(line=1, character=7)
    await close_doc(client, path)
    # a file outside the model's folder is refused as by `mgdsl check` (E0405)
    outside = text.replace('"data/prices.csv"', '"../prices.csv"')
    (tmp_path / "prices.csv").write_text("price\n0.2\n0.5\n", encoding="utf-8")
    path.write_text(outside, encoding="utf-8")
    got = await open_doc(client, path, outside)
    assert [d.code for d in got] == [w["code"] for w in check_json(path)] == ["E0405"]
    await close_doc(client, path)


async def test_saving_a_library_checks_the_models_that_use_it_again(client, tmp_path):
    lib = tmp_path / "lib.mgd"
    lib.write_text("device Heater(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n    port heat += p\n}\n",
                   encoding="utf-8")
    text = ('use stdlib\nuse "lib.mgd"\nhorizon 2 steps of 1 h\nmicrogrid m {\n    h = Heater(p_max = 10 kW)\n'
            '    l = Load(heat, base = 5 kW)\n}\n')
    path = tmp_path / "model.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    loc = await definition(client, path, pos(text, '"lib.mgd"', shift=1))    # the `use`d file
    assert loc.uri == lib.as_uri() and loc.range.start == types.Position(line=0, character=0)
    # the library gets a unit error on disk and is saved in the editor: the model is checked again
    broken = lib.read_text(encoding="utf-8").replace("port heat += p", "port heat += p * dt")
    await open_doc(client, lib, broken)
    lib.write_text(broken, encoding="utf-8")
    client.diagnostics.pop(path.as_uri())
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=lib.as_uri())))
    got = await diagnostics_of(client, path.as_uri())
    assert [d.code for d in got] == [w["code"] for w in check_json(path)] and got
    assert got[0].range.start.line == 1
    await close_doc(client, lib)
    await close_doc(client, path)


async def test_an_error_in_a_library_is_shown_at_its_use(client, tmp_path):
    (tmp_path / "lib.mgd").write_text("device Bad(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n"
                                      "    port heat += p * dt\n}\n", encoding="utf-8")
    text = 'horizon 2 steps of 1 h\nuse "lib.mgd"\n'
    path = tmp_path / "main.mgd"
    path.write_text(text, encoding="utf-8")
    got = await open_doc(client, path)
    want = check_json(path)
    assert [d.code for d in got] == [w["code"] for w in want] and want
    assert got[0].range.start.line == 1                     # the `use` line
    assert got[0].message.startswith("lib.mgd:3:") or "lib.mgd:3:" in got[0].message
    where = [r.location for r in got[0].related_information]
    assert where[0].uri == (tmp_path / "lib.mgd").as_uri() and where[0].range == as_range(want[0])
    await close_doc(client, path)


async def test_positions_are_utf16(client, tmp_path):
    text = 'horizon 2 steps of 1 h\nlet x = "😀é" zz\n'
    path = tmp_path / "utf.mgd"
    path.write_text(text, encoding="utf-8")
    got = await open_doc(client, path)
    want = check_json(path)
    assert [d.code for d in got] == [w["code"] for w in want] == ["E0001"]
    # columns of `mgdsl check` count characters; LSP counts UTF-16 units, and the emoji is two of them
    assert want[0]["column"] - 1 == text.splitlines()[1].index("zz")
    assert got[0].range.start == types.Position(line=1, character=want[0]["column"] - 1 + 1)
    assert got[0].range.end.character - got[0].range.start.character == 2
    await close_doc(client, path)


# ------------------------------------------------------------------ hover
async def test_hover(client):
    path = MODELS / "example.mgd"
    text = path.read_text(encoding="utf-8")
    await open_doc(client, path)
    # a template from the standard library: its parameters with units and defaults, and its doc comment
    h = await hover(client, path, pos(text, "Storage(electricity"))
    assert "(device template) Storage" in h
    assert "`capacity`: kWh, required" in h and "`eta_ch`: (no unit), default `0.95`" in h
    assert "Storage of carrier c" in h and "stdlib/storage.mgd" in h
    # a parameter named in a call
    h = await hover(client, path, pos(text, "capacity = 1 MWh"))
    assert "(parameter) capacity of Storage" in h and "unit `kWh`" in h and "dimension: energy" in h
    assert "required" in h
    h = await hover(client, path, pos(text, "startup = 50"))
    assert "(parameter) startup of CHPUnit" in h and "unit `money`" in h and "dimension: money" in h
    assert "default `0 money`" in h
    # a profile: its unit, dimension and values (canonical units, the system's currency)
    h = await hover(client, path, pos(text, "at tou", shift=3))
    assert "(profile) tou" in h and "unit `yuan/kWh`" in h and "price of energy" in h
    assert "24 values" in h and "yuan/kWh" in h.split("24 values")[1]
    # a bus: what is attached to it
    h = await hover(client, path, pos(text, "dn.10", shift=3))
    assert "(bus) 10 of network dn" in h and "microgrid `mg1` (tie line)" in h and "lines: " in h
    h = await hover(client, path, pos(text, "at 17:", shift=3))
    assert "device `wt17` (Wind)" in h
    # a microgrid and its devices; the network
    h = await hover(client, path, pos(text, "microgrid mg2", shift=10))
    assert "(microgrid) mg2" in h and "`chp` (CHPUnit)" in h and "tie limit 1000 kW" in h
    h = await hover(client, path, pos(text, "network dn", shift=8))
    assert "(network) dn" in h and "33 buses" in h and "lindistflow" in h
    # an instance's variable named in a coupling
    h = await hover(client, path, pos(text, "couple pipe23"))
    assert h is None                                          # a keyword is no name
    line = next(ln for ln in text.splitlines() if ln.startswith("couple "))
    var = line.rsplit(".", 1)[1].split()[0]
    h = await hover(client, path, pos(text, line, shift=len(line) - len(line.rsplit(".", 1)[1])))
    assert f"(variable) {var} of " in h
    await close_doc(client, path)


async def test_hover_on_objectives_and_template_internals(client, tmp_path):
    text = """\
use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5, 1.0]

# The end state of the battery, reported.
objective end_soc: kWh = mg1.es.e[last]

microgrid mg1 {
    es = Storage(electricity, capacity = 100 kWh, p_max = 50 kW, soc_init = 0.2)
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = 10 kW)
}

# A boiler of my own.
device Boiler(h_max: kW, eta = 0.9) {
    var h[t]: kW in 0 .. h_max
    port heat += h
    cost += 0.3 yuan/kWh * h / eta * dt
}
minimize cost
"""
    path = tmp_path / "obj.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    h = await hover(client, path, pos(text, "end_soc"))
    assert "(objective) end\\_soc" in h and "unit `kWh`" in h and "The end state of the battery" in h
    h = await hover(client, path, pos(text, "cost\n"))
    assert "(built-in objective) cost" in h
    h = await hover(client, path, pos(text, "e[last]"))
    assert "(variable) e of Storage" in h and "unit `kWh`" in h and "one value per step" in h
    h = await hover(client, path, pos(text, "h / eta", shift=4))
    assert "(parameter) eta of Boiler" in h and "default `0.9`" in h
    h = await hover(client, path, pos(text, "h_max]") if "h_max]" in text else pos(text, ".. h_max", shift=3))
    assert "(parameter) h\\_max of Boiler" in h and "unit `kW`" in h and "dimension: power" in h
    h = await hover(client, path, pos(text, "device Boiler", shift=7))
    assert "(device template) Boiler" in h and "A boiler of my own." in h
    await close_doc(client, path)


async def test_hover_on_a_decomposition_setting(client, tmp_path):
    from mgdsl.decompose.settings import SPECS

    text = ("use stdlib\nhorizon 2 steps of 1 h\nmicrogrid m {\n    l = Load(electricity, base = 5 kW)\n"
            "    g = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n}\ndecompose atc {\n    penalty quadratic\n"
            "    tolerance 1e-4\n}\n")
    path = tmp_path / "dec.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    h = await hover(client, path, pos(text, "penalty"))
    assert "(decomposition setting) penalty" in h and SPECS["penalty"].help in h and "default `pwl`" in h
    assert "one of `pwl`, `quadratic`, `l1`" in h
    await close_doc(client, path)


# ------------------------------------------------------------------ go to definition
async def test_definition(client):
    path = MODELS / "example.mgd"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    await open_doc(client, path)

    def line_of(prefix: str) -> int:
        return next(k for k, ln in enumerate(lines) if ln.startswith(prefix))

    loc = await definition(client, path, pos(text, "at tou", shift=3))      # a profile
    assert loc.uri == path.as_uri() and loc.range.start == types.Position(line=line_of("profile tou"), character=8)
    loc = await definition(client, path, pos(text, "gas_price", 1))          # a let
    assert loc.range.start.line == line_of("let gas_price")
    loc = await definition(client, path, pos(text, "Storage(electricity"))   # a template of the stdlib
    storage = (STDLIB / "storage.mgd").read_text(encoding="utf-8").splitlines()
    assert Path(types_uri_path(loc.uri)).resolve() == (STDLIB / "storage.mgd").resolve()
    assert storage[loc.range.start.line].startswith("device Storage")
    loc = await definition(client, path, pos(text, "dn.10"))                 # the network
    assert loc.range.start.line == line_of("network dn")
    loc = await definition(client, path, pos(text, "dn.10", shift=3))        # a bus: its `buses` range
    assert lines[loc.range.start.line].strip().startswith("buses 1 .. 33")
    cluster = lines[line_of("cluster")]
    member = cluster.split("{")[1].split(",")[0].strip()
    loc = await definition(client, path, pos(text, cluster, shift=cluster.index(member)))    # a microgrid
    assert loc.range.start.line == line_of(f"microgrid {member}")
    await close_doc(client, path)


def types_uri_path(uri: str) -> str:
    from pygls import uris

    return uris.to_fs_path(uri)


async def test_definition_of_an_objective_and_of_a_template_variable(client, tmp_path):
    text = ("use stdlib\nhorizon 2 steps of 1 h\nobjective buy: kWh = sum(mg1.grid.buy * dt)\nminimize cost + "
            "1 yuan/kWh * buy\nmicrogrid mg1 {\n    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n"
            "    load = Load(electricity, base = 10 kW)\n}\n"
            "device D(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n    port electricity += p\n}\n")
    path = tmp_path / "d.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    loc = await definition(client, path, pos(text, "* buy", shift=2))
    assert loc.range.start == pos(text, "buy:")
    loc = await definition(client, path, pos(text, "p_max\n", shift=0))
    assert loc.range.start == pos(text, "p_max: kW")
    loc = await definition(client, path, pos(text, "mg1.grid", shift=4))    # the instance
    assert loc.range.start == pos(text, "grid = ")
    loc = await definition(client, path, pos(text, "grid.buy", shift=5))    # its template's variable
    assert Path(types_uri_path(loc.uri)).resolve().parent == STDLIB.resolve()
    await close_doc(client, path)


async def test_definition_inside_an_error_law(client, tmp_path):
    text = ("use stdlib\nhorizon 2 steps of 1 h\nlet spread = 15 %\n"
            "uncertain profile w normal(spread) = 0.5\nmicrogrid mg1 {\n"
            "    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n"
            "    load = Load(electricity, base = 10 kW * w)\n}\n")
    path = tmp_path / "law.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    loc = await definition(client, path, pos(text, "(spread)", shift=1))
    assert loc.range.start == pos(text, "spread =")
    await close_doc(client, path)


# ------------------------------------------------------------------ symbols
async def test_document_symbols(client):
    path = MODELS / "example.mgd"
    text = path.read_text(encoding="utf-8")
    await open_doc(client, path)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri())))
    top = [(s.name, s.kind) for s in symbols]
    assert ("tou", types.SymbolKind.Array) in top and ("gas_price", types.SymbolKind.Constant) in top
    assert ("dn", types.SymbolKind.Module) in top and ("mg1", types.SymbolKind.Module) in top
    assert [n for n, k in top if k == types.SymbolKind.Module] == ["dn", "mg1", "mg2", "mg3"]
    mg1 = next(s for s in symbols if s.name == "mg1")
    assert [c.name for c in mg1.children][:3] == ["chp", "gb", "eb"]
    assert mg1.selection_range.start == pos(text, "microgrid mg1", shift=10)
    assert mg1.range.start == pos(text, "microgrid mg1") and mg1.range.end.line > mg1.range.start.line
    dn = next(s for s in symbols if s.name == "dn")
    assert "wt17" in [c.name for c in dn.children] and "svc_7" in [c.name for c in dn.children]
    await close_doc(client, path)


# ------------------------------------------------------------------ completion
async def completion_labels(client, path: Path, position: types.Position) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=path.as_uri()), position=position))
    items = result.items if isinstance(result, types.CompletionList) else result
    return sorted(items, key=lambda i: i.sort_text or i.label)


async def test_completion_of_templates_and_parameters(client, tmp_path):
    text = ("use stdlib\nhorizon 2 steps of 1 h\nprofile price: yuan/kWh = [0.2, 0.5]\n"
            "microgrid mg1 {\n    load = Load(electricity, base = 10 kW)\n}\n")
    path = tmp_path / "c.mgd"
    path.write_text(text, encoding="utf-8")
    assert await open_doc(client, path) == []
    uri = path.as_uri()
    # typing a new instance: the line does not parse, and the templates are offered from the last check
    typing = text.replace("    load =", "    es = Sto\n    load =")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=typing)]))
    items = await completion_labels(client, path, pos(typing, "Sto\n", shift=3))
    labels = [i.label for i in items]
    assert {"Storage", "PV", "CHPUnit", "Load", "ElectricityTrade"} <= set(labels)
    storage = next(i for i in items if i.label == "Storage")
    assert storage.kind == types.CompletionItemKind.Class and "Storage of carrier c" in storage.documentation.value
    # inside the call: the parameters not given yet, required ones first, with unit and default
    typing = text.replace("    load =", "    es = Storage(electricity, p_max = 50 kW, \n    load =")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=typing)]))
    items = await completion_labels(client, path, pos(typing, "50 kW, ", shift=7))
    params = [i for i in items if i.kind == types.CompletionItemKind.Field]
    names = [i.label for i in params]
    assert names[0] == "capacity" and "p_max" not in names and {"c", "eta_ch", "soc_end", "om"} - {"c"} <= set(names)
    capacity = params[0]
    assert capacity.detail.startswith("kWh") and "required" in capacity.detail
    assert capacity.insert_text == "capacity = "
    eta = next(i for i in params if i.label == "eta_ch")
    assert "default `0.95`" in eta.detail
    assert "price" in [i.label for i in items if i.kind == types.CompletionItemKind.Variable]
    # after `name =`: values (profiles and constants), no parameters
    items = await completion_labels(client, path, pos(typing + "", "p_max = ", shift=8))
    assert [i.label for i in items] == ["price"]
    await close_doc(client, path)


# ------------------------------------------------------------------ robustness
GARBAGE = [
    "",
    "\x00\x01\x02 binary \xff",
    "device {{{{ ( [ ",
    "let a = " + "(" * 500 + "1" + ")" * 500,
    "horizon 99999999999 steps of 0 h\nmicrogrid m {\n",
    "use \"/etc/passwd\"\nuse \"../../x.mgd\"\nuse nothing\n",
    "profile p = csv(\"/dev/zero\", \"a\")\n",
    "network n {\n buses 1 .. 1000000000\n}\n",
    "}\n}\n)\n]\n" * 50,
    "let 😀 = 1\n\r\n\r\r\n\x0c\x0b",
]


async def test_the_server_survives_bad_input(client, tmp_path):
    for k, text in enumerate(GARBAGE):
        path = tmp_path / f"g{k}.mgd"
        got = await open_doc(client, path, text)
        for d in got:
            assert d.code and d.range.start.line >= 0
        for probe in (types.Position(line=0, character=0), types.Position(line=0, character=5),
                      types.Position(line=99, character=99)):
            await hover(client, path, probe)
            await definition(client, path, probe)
            await completion_labels(client, path, probe)
        await client.text_document_document_symbol_async(types.DocumentSymbolParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri())))
        await close_doc(client, path)
    assert not [m for m in client.log_messages if m.type == types.MessageType.Error]
    # still serving
    path = tmp_path / "after.mgd"
    text = "use stdlib\nhorizon 2 steps of 1 h\nlet a = 1 kW\nmicrogrid m {\n    l = Load(electricity, base = a)\n" \
           "    g = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n}\n"
    assert await open_doc(client, path, text) == []
    assert "(constant) a" in await hover(client, path, pos(text, "= a", shift=2))
