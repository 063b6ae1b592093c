"""Parser and printer: every bundled file parses; print -> parse -> print is a fixed point; comments survive."""
from __future__ import annotations

from pathlib import Path

import pytest

from mgdsl.diagnostics import MgdError
from mgdsl.syntax import ast
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module

ROOT = Path(__file__).resolve().parent.parent
FILES = (sorted(ROOT.glob("stdlib/*.mgd")) + sorted(ROOT.glob("models/*.mgd"))
         + sorted(ROOT.glob("tests/golden/errors/*.mgd")))


def _parses(path: Path) -> bool:
    try:
        parse_text(path.read_text(), str(path))
        return True
    except MgdError:
        return False


@pytest.mark.parametrize("path", [p for p in FILES if _parses(p)], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_print_parse_print_is_a_fixed_point(path: Path):
    once = format_module(parse_text(path.read_text(), str(path)))
    twice = format_module(parse_text(once, str(path)))
    assert once == twice


@pytest.mark.parametrize("path", sorted(ROOT.glob("stdlib/*.mgd")) + sorted(ROOT.glob("models/*.mgd")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_files_are_formatted(path: Path):
    assert format_module(parse_text(path.read_text(), str(path))) == path.read_text(), \
        f"run `mgdsl fmt {path.relative_to(ROOT)}`"


def test_comments_and_blank_lines_survive():
    src = """# file header

use stdlib  # the standard library

# a template
device Heater(p_max: kW) {
    # the power
    var p[t]: kW in 0 .. p_max  # bounded
    port electricity -= p
    # closing remark
}
# trailing remark
"""
    assert format_module(parse_text(src)) == src


def test_canonical_layout():
    src = ("horizon 2 steps of 1 h\ndevice  D( p_max :kW ){\nvar p[t]:kW in 0..p_max\n-p_max<=p[t]-p[t-1]<=p_max\n"
           "port electricity+=p*(1+0.5)\n}\n")
    out = format_module(parse_text(src))
    assert out == ("horizon 2 steps of 1 h\n\ndevice D(p_max: kW) {\n    var p[t]: kW in 0 .. p_max\n"
                   "    -p_max <= p[t] - p[t-1] <= p_max\n    port electricity += p * (1 + 0.5)\n}\n")


def test_precedence_is_kept():
    m = parse_text("let x = 2 - (3 - 4) * 5 / (6 * 7)\nlet y = -(2 + 3)^2\n")
    text = format_module(m)
    assert "2 - (3 - 4) * 5 / (6 * 7)" in text and "-(2 + 3)^2" in text
    e = m.items[0].value
    assert isinstance(e, ast.BinOp) and e.op == "-" and isinstance(e.right, ast.BinOp) and e.right.op == "/"


def test_long_lines_wrap_and_round_trip():
    values = ", ".join(f"0.{k:02d}" for k in range(48))
    src = f"horizon 48 steps of 30 min\nprofile p = [{values}]\n"
    out = format_module(parse_text(src))
    assert max(len(l) for l in out.splitlines()) <= 100
    assert format_module(parse_text(out)) == out


def test_expression_continues_after_operator_and_inside_parentheses():
    m = parse_text("let a = 1 +\n    2\nlet b = (1\n    + 2)\n")
    assert len(m.items) == 2


def test_several_syntax_errors_are_reported_at_once():
    with pytest.raises(MgdError) as e:
        parse_text("let a = 1 +* 2\nlet b = 3\nlet c = ) 4\n")
    assert [d.code for d in e.value.diagnostics] == ["E0001", "E0001"]
    assert [d.span.line for d in e.value.diagnostics] == [1, 3]


def test_unterminated_string():
    with pytest.raises(MgdError) as e:
        parse_text('profile p = csv("data.csv, "x")\n')
    assert e.value.diagnostics[0].code in ("E0001", "E0002")
