"""The fast LALR driver (mgdsl/syntax/lalr.py) against lark itself: the same tokens, the same tree shapes (lark's
child filtering, `_rule` inlining, `[x]` placeholders, `?rule` pass-through) and the same positions, and the same
texts refused; and the AST builder's diagnostics (mgdsl/syntax/build.py) in the order a top-down walk meets them."""
from __future__ import annotations

import random
from pathlib import Path

import lark
import pytest

from mgdsl.diagnostics import MgdError
from mgdsl.resources import grammar_text
from mgdsl.sema.limits import MAX_EXPRESSION_DEPTH
from mgdsl.syntax import lalr
from mgdsl.syntax.parser import _NewlinePostLexer, _tables, parse_text

ROOT = Path(__file__).resolve().parent.parent
CORPUS = (sorted(ROOT.glob("stdlib/*.mgd")) + sorted(ROOT.glob("models/*.mgd"))
          + sorted(ROOT.glob("tests/golden/errors/*.mgd")) + [ROOT / "editors" / "vscode" / "test" / "keywords.mgd"])
PIECES = ["use", "stdlib", "device", "D", "(", ")", "{", "}", "[", "]", "var", "p", "[t]", ":", "kW", "in", "..",
          "port", "electricity", "+=", "-=", "+", "-", "*", "/", "^", "2", "1.5", "1e999", "\n", "\n", "=", "==", "<=",
          "let", "x", ",", "microgrid", "m", "limit", "at", "n", ".", "network", "slack", "buys", "formulation",
          "line", "reserve", "up", "t", "first", "last", "#c\n", '"s"', "\\\n", "integer", "binary", "horizon"]


@pytest.fixture(scope="module")
def reference() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True, postlex=_NewlinePostLexer())


def _driver_tree(text: str):
    """The driver's parse of `text` as lark trees: ("tree", name, start, end, children) and tokens as
    ("token", type, text, start, end); None when the driver refuses the text."""
    tables = _tables()

    def node(name):
        return lambda c, s, e: ("tree", name, s, e, [_token(x) for x in c])

    try:
        return lalr.run(text, tables, [node(r.name) for r in tables.rules])
    except lalr.Reject:
        return None


def _token(x):
    return ("token", *x) if type(x) is tuple and len(x) == 4 else x


def _lark_tree(t):
    if isinstance(t, lark.Token):
        return ("token", t.type, t.value, t.start_pos, t.end_pos)
    if isinstance(t, lark.Tree):
        empty = t.meta.empty
        return ("tree", t.data, None if empty else t.meta.start_pos, None if empty else t.meta.end_pos,
                [_lark_tree(c) for c in t.children])
    return t


def _agree(reference: lark.Lark, text: str) -> None:
    try:
        expected = _lark_tree(reference.parse(text))
    except lark.exceptions.UnexpectedInput:
        expected = None
    assert _driver_tree(text) == expected, repr(text[:200])


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_files_parse_as_lark_parses_them(reference, path):
    _agree(reference, path.read_text(encoding="utf-8"))


def test_generated_texts_parse_or_fail_as_lark(reference):
    rng = random.Random(13)
    sources = [p.read_text(encoding="utf-8") for p in CORPUS[:20]]
    for _ in range(300):
        if rng.random() < 0.5:
            text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 25)))
        else:                                   # a bundled file with a piece inserted or a few characters cut
            text = rng.choice(sources)
            k = rng.randrange(len(text) + 1)
            text = text[:k] + rng.choice(PIECES) + text[k + rng.randint(0, 3):]
        _agree(reference, text)


def codes_at(text: str) -> list[tuple[str, int]]:
    with pytest.raises(MgdError) as caught:
        parse_text(text)
    return [(d.code, d.span.start) for d in caught.value.diagnostics]


DEEP = "-" * (MAX_EXPRESSION_DEPTH + 5)


def test_what_a_too_deep_expression_hides_is_not_reported():
    # a top-down walk reports 1e999 before the expression gets too deep, then stops: the second one is unseen
    text = f"let x = 1e999 + {DEEP}1e999\nlet y = 2e999\n"
    assert codes_at(text) == [("E0404", 8), ("E0004", 8), ("E0404", text.index("2e999"))]


def test_the_limit_and_one_beyond():
    at = " + ".join(["1"] * (MAX_EXPRESSION_DEPTH + 1))      # its first term is MAX_EXPRESSION_DEPTH levels down
    parse_text(f"let x = {at}\n")
    assert codes_at(f"let x = {at} + 1\n") == [("E0004", 8)]
    parse_text("let x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")       # parentheses add no level


@pytest.mark.parametrize("expr", ["-" * 20000 + "1", "[" * 3000 + "1" + "]" * 3000, "f(" * 3000 + "1" + ")" * 3000,
                                  " + ".join(["x"] * 20000)])
def test_very_deep_expressions_are_located_errors(expr):
    assert codes_at(f"horizon 2 steps of 1 h\nlet x = {expr}\n") == [("E0004", 31)]     # never a RecursionError


def test_an_equality_bound_is_reported_alone_but_after_syntax_errors():
    bound = "device D() {\n var p[t]: kW == 1\n}\n"
    assert codes_at("let a = 1e999\n" + bound + "let b = 1e999\n") == [("E0001", 41)]
    assert [c for c, _ in codes_at(bound + "let b = (\n")] == ["E0001"]
    assert "unexpected" in _message(bound + "let b = (\n")


def _message(text: str) -> str:
    with pytest.raises(MgdError) as caught:
        parse_text(text)
    return caught.value.diagnostics[0].message


def test_spans_of_statements_and_expressions():
    m = parse_text("let x: kW = (1 kW + 2 kW) * 3\n\nmicrogrid m {\n  a = B(p = -x, q = [1, 2])\n}\n")
    let = m.items[0]
    assert let.span.text == "let x: kW = (1 kW + 2 kW) * 3"
    assert let.value.span.text == "(1 kW + 2 kW) * 3" and let.value.left.span.text == "1 kW + 2 kW"
    call = m.items[1].body[0].call
    assert call.span.text == "B(p = -x, q = [1, 2])" and [a.span.text for a in call.args] == ["p = -x", "q = [1, 2]"]
    assert call.args[1].name_span.text == "q" and call.args[1].value.items[1].span.text == "2"
