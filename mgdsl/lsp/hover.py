"""Hover text of a Definition: its kind and name, unit and dimension, the declaration, facts, and its doc comment."""
from __future__ import annotations

from .index import KINDS, Definition
from .text import dimension_name


def hover_text(d: Definition, markdown: bool = True) -> str:
    """Markdown (or plain text for a client without it)."""
    head = f"({KINDS.get(d.kind, d.kind)}) {d.name}"
    if d.container and d.kind in ("parameter", "carrier parameter", "variable", "template let", "reserve share",
                                  "reserve requirement"):
        head += f" of {d.container}"
    elif d.container and d.kind == "bus":
        head = f"(bus) {d.name} of network {d.container}"
    lines = [f"**{_esc(head)}**" if markdown else head]
    kind_of_value = []
    if d.unit:
        kind_of_value.append(f"unit `{d.unit}`" if markdown else f"unit {d.unit}")
    if d.dim is not None:
        kind_of_value.append(f"dimension: {dimension_name(d.dim)}")
    if kind_of_value:
        lines.append(", ".join(kind_of_value))
    if d.code:
        lines.append(f"```mgdsl\n{d.code}\n```" if markdown else d.code)
    facts = list(d.facts)
    if d.kind == "template" and d.template is not None:
        params = []
        for p in d.template.params.values():
            child = next((c for c in d.children if c.name == p.name), None)
            if p.is_carrier:
                params.append(f"- `{p.name}`: carrier")
                continue
            unit = child.unit if child is not None and child.unit else "(no unit)"
            default = next((f for f in (child.facts if child else []) if f.startswith("default")), "required")
            params.append(f"- `{p.name}`: {unit}, {default}")
        if params:
            facts = ["parameters:\n" + "\n".join(params)] + facts
    if facts:
        lines.append("\n\n".join(facts) if markdown else "\n".join(f.replace("`", "") for f in facts))
    if d.doc:
        lines.append(f"```text\n{d.doc}\n```" if markdown and "\n" in d.doc else d.doc)
    text = "\n\n".join(lines)
    return text if markdown else text.replace("**", "")


def _esc(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_")
