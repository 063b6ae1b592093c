"""The language server on spinning reserve: names inside `reserve up += ...` (templates) and `reserve up >= ...`
(network and microgrid blocks) are indexed for hover and go to definition, `load` there is the pool's demand (its
figures computed by hand below), the direction words say what the pool must hold and what holds it, and completion
offers `reserve` where a statement starts and then `up`/`down`. Mostly in-process (mgdsl.lsp.analysis, as the
server calls it); one test drives `mgdsl lsp` over stdio for the protocol's side."""
from __future__ import annotations

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from mgdsl.lsp.analysis import analyze
from mgdsl.lsp.completion import complete
from mgdsl.lsp.hover import hover_text

from .test_lsp import close_doc, completion_labels, definition, hover, mgdsl_command, open_doc, pos

MODEL = """\
use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5, 1.0]
profile demand: kW = [100, 200, 150]
let base_kw = 20 kW

# A unit of my own that holds reserve.
device Unit(p_max: kW, ramp: kW = 50 kW) {
    var p[t]: kW in 0 .. p_max
    var r_up[t]: kW in 0 .. ramp
    room: p + r_up <= p_max
    port electricity += p
    cost += 0.3 yuan/kWh * p * dt
    # What it can still add.
    reserve up += r_up
    reserve down += 0.5 * (p - 0 kW) - 0 * ramp
}

network dn {
    base 1000 kW, 12.66 kV
    buses 1 .. 3
    slack 1 limit 400 kW buys at price
    line 1 - 2: r = 0.01 ohm, x = 0.01 ohm
    line 2 - 3: r = 0.01 ohm, x = 0.01 ohm
    load 2: p = 30 kW, q = 10 kvar
    load 3: p = 50 kW, q = 10 kvar
    at 3: gen = Unit(p_max = 100 kW)
    reserve up >= 10 % * load + base_kw
}

microgrid mg1 {
    u = Unit(p_max = 400 kW)
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = demand)
    es = Storage(heat, capacity = 100 kWh, p_max = 50 kW)
    # Against the loss of the grid.
    reserve up >= 10 % * load + base_kw + extra
    reserve down >= 5 kW
    let extra = 5 kW
}
minimize cost
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("reserve") / "r.mgd"
    path.write_text(MODEL, encoding="utf-8")
    result = analyze(MODEL, str(path))
    assert result.diagnostics == [] and result.index_error is None
    return result


def at(result, needle: str, shift: int = 0, nth: int = 0):
    """(the name's text, its definition) at the nth occurrence of `needle` (plus `shift`)."""
    k = -1
    for _ in range(nth + 1):
        k = MODEL.index(needle, k + 1)
    found = result.index.at(k + shift)
    assert found is not None, needle
    return found[0].text, found[1]


def declared_at(d, needle: str) -> bool:
    return d.span is not None and d.span.start == MODEL.index(needle)


# ------------------------------------------------------------------ templates: shares
def test_names_in_a_share_lead_to_the_template(model):
    name, d = at(model, "reserve up += r_up", shift=len("reserve up += "))
    assert name == "r_up" and d.kind == "variable" and declared_at(d, "r_up[t]: kW in 0 .. ramp")
    assert "(variable) r\\_up of Unit" in hover_text(d)
    name, d = at(model, "(p - 0 kW)", shift=1)
    assert name == "p" and d.kind == "variable" and declared_at(d, "p[t]: kW in 0 .. p_max")
    name, d = at(model, "0 * ramp\n", shift=4)
    assert name == "ramp" and d.kind == "parameter" and declared_at(d, "ramp: kW = 50 kW")


def test_the_direction_of_a_share_and_the_template_say_what_it_holds(model):
    name, d = at(model, "reserve up += r_up", shift=8)
    h = hover_text(d)
    assert name == "up" and "(reserve share) reserve up of Unit" in h and "unit `kW`" in h
    assert "reserve up += r_up" in h and "What it can still add." in h and "electricity port" in h
    _, d = at(model, "device Unit", shift=7)
    assert "holds reserve: up (`r_up`), down (`0.5 * (p - 0 kW) - 0 * ramp`)" in hover_text(d)


# ------------------------------------------------------------------ systems: requirements
def test_names_in_a_requirement_lead_to_their_values(model):
    name, d = at(model, "load + base_kw\n", shift=len("load + "))
    assert name == "base_kw" and d.kind == "constant" and declared_at(d, "base_kw = 20 kW")
    name, d = at(model, "base_kw + extra", shift=len("base_kw + "))
    assert name == "extra" and d.kind == "constant" and declared_at(d, "extra = 5 kW")   # a let below it
    name, d = at(model, "limit 400 kW buys at price", shift=len("limit 400 kW buys at "))
    assert name == "price" and d.kind == "profile"                # the slack's prices, next to its limit


def test_load_is_the_pools_demand(model):
    # the microgrid's: its Load's base (the profile); the heat storage and the units draw nothing
    name, d = at(model, "10 % * load + base_kw + extra", shift=len("10 % * "))
    assert name == "load" and d.kind == "builtin" and d.span is None       # no declaration to go to
    h = hover_text(d)
    assert "`mg1`'s pool" in h and "here: 100 .. 200 kW (mean 150 kW), 3 steps" in h
    # the network's: its bus loads, 30 + 50 kW
    _, d = at(model, "10 % * load + base_kw\n", shift=len("10 % * "))
    assert "`dn`'s pool" in hover_text(d) and "here: 80 kW, 3 steps" in hover_text(d)


def test_the_direction_of_a_requirement_says_amount_and_holders(model):
    _, d = at(model, "reserve up >= 10 % * load + base_kw + extra", shift=8)
    h = hover_text(d)
    # 10 % of [100, 200, 150] + 20 + 5 kW
    assert "(reserve requirement) reserve up of mg1" in h and "Against the loss of the grid." in h
    assert "at least 35 .. 45 kW (mean 40 kW) at every step (row `reserve.mg1.up`)" in h
    assert "held by: `u` (Unit)" in h and "es" not in h.split("held by:")[1]     # a heat store holds none
    _, d = at(model, "reserve up >= 10 % * load + base_kw\n", shift=8)
    h = hover_text(d)
    assert "at least 28 kW at every step (row `reserve.dn.up`)" in h        # 10 % of 80 kW + 20 kW
    assert "held by: the slack bus (limit 400 kW), `gen` (Unit)" in h
    _, mg1 = at(model, "microgrid mg1", shift=10)
    assert "reserve up: at least 35 .. 45 kW (mean 40 kW)" in hover_text(mg1)
    assert "reserve down: at least 5 kW" in hover_text(mg1)
    _, bus = at(model, "slack 1", shift=6)
    assert "slack limit 400 kW" in hover_text(bus)


def test_a_bad_direction_is_indexed_without_figures(tmp_path):
    text = MODEL.replace("reserve down >= 5 kW", "reserve sideways >= 5 kW")
    path = tmp_path / "bad.mgd"
    result = analyze(text, str(path))
    assert any(d.code == "E0830" for d in result.diagnostics)
    k = text.index("sideways")
    _, d = result.index.at(k)
    assert "not a direction" in hover_text(d)


# ------------------------------------------------------------------ completion
def completions(result, text: str, after: str) -> list[tuple[str, str]]:
    return [(i.label, i.kind) for i in complete(result.index, text, text.index(after) + len(after))]


def test_completion_offers_reserve_where_a_statement_starts(model):
    for block_line in ("    u = Unit(", "    room: p + r_up", "    reserve up >= 10 % * load + base_kw\n"):
        text = MODEL.replace(block_line, "    res\n" + block_line, 1)
        items = completions(model, text, "    res")
        assert items[0] == ("reserve", "keyword") and ("Storage", "template") in items, block_line
    # not at the top level, not inside a call or after `name =`
    text = MODEL.replace("minimize cost", "res")
    assert ("reserve", "keyword") not in completions(model, text, "\nres")
    assert ("reserve", "keyword") not in completions(model, MODEL, "    u = Un")


def test_completion_offers_the_directions_after_reserve(model):
    text = MODEL.replace("    reserve down >= 5 kW", "    reserve d")
    items = complete(model.index, text, text.index("reserve d\n") + len("reserve d"))
    assert [(i.label, i.kind) for i in items] == [("up", "keyword"), ("down", "keyword")]
    assert "reserve up >= ..." in items[0].doc
    text = MODEL.replace("    reserve down += 0.5", "    reserve \n    reserve down += 0.5")
    items = complete(model.index, text, text.index("reserve \n") + len("reserve "))
    assert [i.label for i in items] == ["up", "down"] and "reserve up += ..." in items[0].doc


# ------------------------------------------------------------------ over the protocol
SERVER = ClientServerConfig(server_command=[*mgdsl_command(), "lsp"], server_env=None)


@pytest_lsp.fixture(scope="module", config=SERVER)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")
async def test_hover_definition_and_completion_over_stdio(client, tmp_path):
    path = tmp_path / "r.mgd"
    path.write_text(MODEL, encoding="utf-8")
    assert await open_doc(client, path) == []
    loc = await definition(client, path, pos(MODEL, "base_kw + extra", shift=len("base_kw + ")))
    assert loc.range.start == pos(MODEL, "extra = 5 kW")
    loc = await definition(client, path, pos(MODEL, "reserve up += r_up", shift=len("reserve up += ")))
    assert loc.range.start == pos(MODEL, "r_up[t]: kW")
    h = await hover(client, path, pos(MODEL, "10 % * load + base_kw + extra", shift=len("10 % * ")))
    assert "(built-in) load" in h and "100 .. 200 kW" in h
    uri = path.as_uri()
    typing = MODEL.replace("    reserve down >= 5 kW", "    reserve ")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=typing)]))
    items = await completion_labels(client, path, pos(typing, "    reserve \n", shift=len("    reserve ")))
    assert [(i.label, i.kind) for i in items] == [("up", types.CompletionItemKind.Keyword),
                                                  ("down", types.CompletionItemKind.Keyword)]
    await close_doc(client, path)
