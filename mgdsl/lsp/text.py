"""Small helpers on spans, source text, units and doc comments, shared by the index builders."""
from __future__ import annotations

import re

import numpy as np

from ..sema import units
from ..sema.units import Dim
from ..source import Span
from ..syntax import ast
from ..syntax.printer import fmt_expr

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_DIMENSIONS = {
    units.NONE: "dimensionless", units.POWER: "power", units.ENERGY: "energy", units.TIME: "time",
    units.REACTIVE: "reactive power", units.REACTIVE * units.TIME: "reactive energy", units.MONEY: "money",
    units.MONEY / units.ENERGY: "price of energy", units.MONEY / units.POWER: "price of power",
    units.MONEY / units.TIME: "money per time", units.VOLTAGE: "voltage", units.CURRENT: "current",
    units.IMPEDANCE: "impedance", units.POWER / units.TIME: "ramp (power per time)",
}


def dimension_name(dim: Dim | None) -> str:
    if dim is None:
        return ""
    return _DIMENSIONS.get(dim, units.describe(dim))


def doc_comment(stmt) -> str:
    """The comment block right above a statement (after its last blank line), as for a template's doc."""
    comments = getattr(stmt, "comments", None) or []
    block = comments[len(comments) - comments[::-1].index(""):] if "" in comments else comments
    return "\n".join(c.lstrip("#").strip() for c in block)


def clip(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def sub(span: Span, start: int, length: int) -> Span:
    return Span(span.file, span.start + start, span.start + start + length)


def find(span: Span, pattern: str, after: int = 0) -> Span | None:
    """The span of the first group of `pattern` in the text of `span` (from `after`)."""
    m = re.compile(pattern).search(span.text, after)
    return None if m is None else sub(span, m.start(1), len(m.group(1)))


def fmt(e) -> str:
    try:
        return fmt_expr(e)
    except Exception:         # a node the printer does not know cannot take hover down
        return e.span.text if getattr(e, "span", None) is not None else "?"


def number(value: float, unit: str) -> str:
    return f"{value:.6g} {unit}".strip()


def value_facts(value, dim: Dim) -> list[str]:
    """What a checked profile or constant holds, in canonical units."""
    unit = "" if dim == units.NONE else units.describe(dim)
    if isinstance(value, np.ndarray):
        if value.size == 0 or not np.all(np.isfinite(value)):
            return []
        return [f"{value.size} values, {number(float(value.min()), unit)} .. {number(float(value.max()), unit)}, "
                f"mean {number(float(value.mean()), unit)}"]
    try:
        v = float(value)
    except (TypeError, ValueError):
        return []
    return [f"= {number(v, unit)}"] if np.isfinite(v) else []


def part_spans(r: ast.Ref) -> list[Span]:
    out = []
    for m, part in zip(NAME.finditer(r.span.text), r.parts):
        if m.group(0) != part:
            break
        out.append(sub(r.span, m.start(), len(part)))
    return out


def unit_dim(unit: str | None) -> Dim | None:
    try:
        return units.parse_unit(unit)[1] if unit else None
    except units.UnitError:
        return None


def canonical(dim: Dim | None) -> str | None:
    return None if dim is None or dim == units.NONE else units.describe(dim)
