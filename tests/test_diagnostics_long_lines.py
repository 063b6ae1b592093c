"""A diagnostic on a very long source line shows a window of it around its labels, never the whole line: one
error on a multi-megabyte generated line stays a few hundred characters."""
from __future__ import annotations

import pytest

import mgdsl
from mgdsl.diagnostics import SHOWN_LINE

HEAD = "use stdlib\nhorizon 3 steps of 1 h\n"


def _message(text: str) -> str:
    with pytest.raises(mgdsl.MgdError) as err:
        mgdsl.loads(HEAD + text)
    return str(err.value)


def test_a_huge_line_is_shown_as_a_window_around_the_error():
    # 1 MB of spaces between the two sides of a unit mismatch: the primary label at column 13, the secondary far
    # right, drawn at the window's edge with its text
    message = _message("let x: kW = 1 kW" + " " * 1_000_000 + "+ 3 kWh\n")
    assert len(message) < 6 * SHOWN_LINE
    assert "E0201" in message and "this is kWh" in message and "this is kW" in message
    source = next(line for line in message.splitlines() if line.startswith("3 | "))
    assert source.endswith("…") and len(source) <= SHOWN_LINE + 8


def test_the_window_starts_near_the_label_and_keeps_the_underline_under_it():
    # the error sits 5,000 characters into the line: the window starts 40 characters before it
    message = _message("let x: kW =" + " " * 5000 + "1 kW + 3 kWh\n")
    lines = message.splitlines()
    source = next(line for line in lines if line.startswith("3 | "))
    assert source.startswith("3 | …")
    marker = lines[lines.index(source) + 1]
    caret = marker.index("^") if "^" in marker else marker.index("-")
    assert source[caret:caret + 4] in ("1 kW", "3 kW")   # the underline starts under the marked text


def test_ordinary_lines_are_shown_whole():
    message = _message("let x: kW = 1 kW + 3 kWh\n")
    assert "3 | let x: kW = 1 kW + 3 kWh" in message and "…" not in message
