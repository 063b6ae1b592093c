"""The device library reference (docs/stdlib.md), generated from the templates' own doc comments."""
from __future__ import annotations

from .diagnostics import Collector
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


def markdown() -> str:
    lines = ["# The standard library", "",
             "Generated from `stdlib/*.mgd` by `mgdsl templates --markdown`; do not edit by hand.",
             "Every template is written in the language itself: read its file for the exact model.", ""]
    for name, doc, templates in stdlib_templates():
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
    return "\n".join(lines).rstrip() + "\n"


def _unit(dim) -> str:
    return "(none)" if dim.dimensionless else units.describe(dim)
