"""The device library reference (docs/stdlib.md), generated from the templates' own doc comments."""
from __future__ import annotations

from .diagnostics import Collector
from .mathgen import NOTE, markdown_body
from .resources import stdlib_dir
from .sema import units
from .sema.templates import check_template
from .source import SourceFile
from .syntax import ast
from .syntax.parser import parse
from .syntax.printer import fmt_expr


def stdlib_templates():
    """(file name, file doc, [TemplateIR]) for every standard library file, in name order."""
    out = []
    for path in sorted(stdlib_dir().glob("*.mgd")):
        module = parse(SourceFile(f"stdlib/{path.name}", path.read_text(encoding="utf-8")))
        diag = Collector()
        templates = [check_template(i, diag) for i in module.items if isinstance(i, ast.Device)]
        first = module.items[0].comments if module.items else []
        header = first[: first.index("")] if "" in first else []
        out.append((path.name, " ".join(c.lstrip("#").strip() for c in header), templates))
    return out


def money_defaults(templates) -> list[tuple[str, str, str, str]]:
    """(template, parameter, default as written, currency) of every default written in a currency."""
    from .sema.system import currency_written

    return [(t.name, p.name, fmt_expr(p.default), currency) for t in templates for p in t.params.values()
            if p.default is not None and (currency := currency_written(p.default)) is not None]


def markdown() -> str:
    lines = ["# The standard library", "",
             "Generated from `stdlib/*.mgd` by `mgdsl templates --markdown`; do not edit by hand.",
             "Every template is written in the language itself: read its file for the exact model. The "
             "mathematics under each template is generated from the same checked syntax tree that is lowered "
             "(`mgdsl math TEMPLATE`).", "", NOTE, ""]
    every = stdlib_templates()
    carried = money_defaults([t for _, _, templates in every for t in templates])
    currencies = sorted({c for *_, c in carried})
    lines += ["## Defaults that carry money", "",
              "Prices are declared in `money`, so an argument may be given in any currency. The defaults that are "
              "zero (`0 money/kWh`) hold in any currency; these are not, and are written in "
              + ", ".join(currencies) + ". They hold in a system of that currency, or in one that names none "
              "(whose results are then in it). A system in another currency must give them (error E0205 at the "
              "instance that leaves one out: mgdsl knows no exchange rates).", "",
              "| template | parameter | default |", "|---|---|---|"]
    lines += [f"| {t} | `{p}` | `{d}` |" for t, p, d, _ in carried]
    lines.append("")
    for name, doc, templates in every:
        lines += [f"## {name}", "", doc, ""] if doc else [f"## {name}", ""]
        for t in templates:
            lines += [f"### {t.name}", "", "```", t.doc, "```", "", "| parameter | unit | default |", "|---|---|---|"]
            for p in t.params.values():
                if p.is_carrier:
                    lines.append(f"| `{p.name}` | carrier | (required) |")
                else:
                    default = f"`{fmt_expr(p.default)}`" if p.default is not None else "(required)"
                    lines.append(f"| `{p.name}` | {_unit(p.dim)} | {default} |")
            var_list = ", ".join(f"`{v.name}` ({v.kind if v.kind != 'continuous' else units.describe(v.dim)})"
                                 for v in t.vars.values())
            ports = ", ".join(sorted({p.carrier for p in t.ports}))
            lines += ["", f"Variables: {var_list}. Ports: {ports}.", ""]
            lines += markdown_body(t, heading="")
    return "\n".join(lines).rstrip() + "\n"


def _unit(dim) -> str:
    return "(none)" if dim.dimensionless else units.describe(dim)
