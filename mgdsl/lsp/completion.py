"""Completion: inside `Template(` the template's parameters not yet given (then values: profiles, constants);
elsewhere the template names, and where a statement starts in a template, network or microgrid block the keyword
`reserve`, then its directions `up` and `down`. Read from the text before the cursor, so it works while the line
does not parse."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .index import Definition, Index

_WORD_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")
_SCAN = 20_000          # characters looked back for the call the cursor is in
_BLOCK_SCAN = 200_000   # characters looked back for the block the cursor is in
_STATEMENT_START = re.compile(r"(?:^|\n)[ \t]*([A-Za-z_][A-Za-z0-9_]*)?$")
_AFTER_RESERVE = re.compile(r"(?:^|\n)[ \t]*reserve[ \t]+([A-Za-z_][A-Za-z0-9_]*)?$")
_BLOCK_HEAD = re.compile(r"(?:^|\n)[ \t]*(device|network|microgrid)\b[^\n{]*$")
# (block kind -> what `reserve` is there, the operator of its statement)
_RESERVE = {
    "device": ("a share of the owner's spinning reserve: `reserve up += r_up`", "+="),
    "network": ("a requirement of the network's pool: `reserve up >= 10 % * load + 200 kW`", ">="),
    "microgrid": ("a requirement of the microgrid's pool: `reserve up >= 10 % * load + 200 kW`", ">="),
}
_DIRECTIONS = {"up": "power the pool can still add within a step", "down": "power it can still shed within a step"}


@dataclass
class Item:
    label: str
    kind: str           # template | parameter | value | keyword
    detail: str
    doc: str
    insert: str
    sort: str


def _open_call(text: str, offset: int) -> tuple[str, int] | None:
    """(callee, position of its `(`) of the innermost call still open at `offset`, or None."""
    depth = 0
    k = offset - 1
    stop = max(0, offset - _SCAN)
    while k >= stop:
        ch = text[k]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                if ch == "[":
                    return None
                m = _WORD_BEFORE.search(text, max(0, k - 200), k)
                return (m.group(1), k) if m else None
            depth -= 1
        elif ch in "{}":
            return None          # a block's edge: no call of a statement reaches past it
        k -= 1
    return None


def _arguments(text: str) -> tuple[set[str], str]:
    """Names already given in a call's text (after its `(`), and the text of the argument being written."""
    depth = 0
    parts, current = [], []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    named = {m.group(1) for p in parts if (m := re.match(r"\s*([A-Za-z_]\w*)\s*=(?!=)", p))}
    return named, "".join(current)


def complete(index: Index | None, text: str, offset: int) -> list[Item]:
    if index is None:
        return []
    call = _open_call(text, offset)
    if call is not None:
        callee, paren = call
        tpl = index.templates.get(callee)
        if tpl is not None:
            named, current = _arguments(text[paren + 1: offset])
            if "=" not in current:
                items = [_parameter(p, tpl) for p in tpl.children
                         if p.kind in ("parameter", "carrier parameter") and p.name not in named]
                return items + [_value(v) for v in index.values.values()]
            return [_value(v) for v in index.values.values()]
        return [_value(v) for v in index.values.values()]
    before = text[max(0, offset - 200): offset]
    block = _block(text, offset) if _STATEMENT_START.search(before) or _AFTER_RESERVE.search(before) else None
    if block in _RESERVE:
        if _AFTER_RESERVE.search(before):
            op = _RESERVE[block][1]
            return [Item(d, "keyword", what, f"`reserve {d} {op} ...`", d, f"0{k}")
                    for k, (d, what) in enumerate(_DIRECTIONS.items())]
        keyword = Item("reserve", "keyword", "spinning reserve", _RESERVE[block][0], "reserve ", "0reserve")
        return [keyword] + [_template(t) for t in index.templates.values()]
    return [_template(t) for t in index.templates.values()]


def _before_parameters(text: str, brace: int) -> int:
    """Where a block's head ends once a parenthesized list before its `{` is skipped (a template's parameters
    may span lines): `device D(\n a: kW,\n b: kW) {`."""
    k = brace - 1
    while k >= 0 and text[k] in " \t\r\n":
        k -= 1
    if k < 0 or text[k] != ")":
        return brace
    depth = 0
    stop = max(0, k - _SCAN)
    while k >= stop:
        if text[k] == ")":
            depth += 1
        elif text[k] == "(":
            depth -= 1
            if depth == 0:
                return k
        k -= 1
    return brace


def _block(text: str, offset: int) -> str | None:
    """The kind of the innermost `{ ... }` block open at `offset` (device, network, microgrid), or None (top
    level, another block). Braces in comments count too: a rare miss costs a keyword, nothing more."""
    depth = 0
    k = offset - 1
    stop = max(0, offset - _BLOCK_SCAN)
    while k >= stop:
        ch = text[k]
        if ch == "}":
            depth += 1
        elif ch == "{":
            if depth == 0:
                head = _before_parameters(text, k)
                m = _BLOCK_HEAD.search(text, max(0, head - 2000), head)
                return m.group(1) if m else None
            depth -= 1
        k -= 1
    return None


def _template(t: Definition) -> Item:
    first = t.doc.split("\n", 1)[0] if t.doc else ""
    return Item(t.name, "template", first or t.code, _doc(t), t.name, "1" + t.name)


def _parameter(p: Definition, tpl: Definition) -> Item:
    if p.kind == "carrier parameter":
        return Item(p.name, "parameter", "carrier (electricity, heat, gas, reactive)", f"carrier of {tpl.name}",
                    f"{p.name} = ", "0" + p.name)
    facts = ", ".join(p.facts)
    detail = f"{p.unit}, {facts}" if p.unit else facts
    required = "required" in p.facts
    # required parameters first, in declaration order
    order = f"{tpl.children.index(p):03d}"
    return Item(p.name, "parameter", detail, f"parameter of {tpl.name}: {p.code}", f"{p.name} = ",
                ("0" if required else "1") + order)


def _value(v: Definition) -> Item:
    return Item(v.name, "value", v.unit or v.kind, v.code, v.name, "2" + v.name)


def _doc(t: Definition) -> str:
    return f"```mgdsl\n{t.code}\n```\n\n{t.doc}" if t.doc else f"```mgdsl\n{t.code}\n```"
