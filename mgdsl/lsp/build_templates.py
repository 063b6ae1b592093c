"""Index definitions of device templates: the template, its parameters, variables and lets, its reserve shares, the
names in its body."""
from __future__ import annotations

import re

from ..diagnostics import Collector
from ..ir import TemplateIR
from ..sema import units
from ..sema.reserve import DIRECTIONS
from ..sema.templates import check_template
from ..source import Span
from ..syntax import ast
from .index import Definition
from .text import canonical, clip, doc_comment, find, fmt, sub, unit_dim


class TemplateDefs:
    """The Builder's part for templates (a mixin: `self` is the Builder)."""

    def template_ir(self, dev: ast.Device) -> TemplateIR:
        if self.checker is not None:
            tpl = self.checker.templates.get(dev.name)
            if tpl is not None and tpl.decl is dev:
                return tpl
        return check_template(dev, Collector())       # a template the checker did not keep (a duplicate)

    def template(self, dev: ast.Device, own: bool) -> None:
        if dev.name in self.index.templates:
            return
        tpl = self.template_ir(dev)
        where = dev.name_span.file.path
        d = Definition(dev.name, "template", dev.name_span, dev.span, doc=tpl.doc, template=tpl,
                       code=_signature(dev),
                       container=where)
        for p in dev.params:
            pir = tpl.params.get(p.name)
            span = _param_name(p)
            if p.is_carrier:
                child = Definition(p.name, "carrier parameter", span, p.span, container=dev.name,
                                   doc="a carrier: electricity, heat, gas or reactive", code=clip(p.span.text))
            else:
                dim = pir.dim if pir is not None else None
                facts = [f"default `{fmt(p.default)}`" if p.default is not None else "required"]
                child = Definition(p.name, "parameter", span, p.span, unit=p.unit or canonical(dim), dim=dim,
                                   container=dev.name, code=clip(p.span.text), facts=facts)
            d.children.append(child)
        for s in dev.body:
            if isinstance(s, ast.VarDecl):
                vir = tpl.vars.get(s.name)
                dim = vir.dim if vir is not None else None
                facts = [f"one value per step (`{s.name}[t]`)" if s.timed else "one value per instance"]
                if s.kind != "continuous":
                    facts.append(s.kind)
                if s.lower is not None or s.upper is not None:
                    lo = fmt(s.lower) if s.lower is not None else "-inf"
                    hi = fmt(s.upper) if s.upper is not None else "inf"
                    facts.append(f"bounds `{lo} .. {hi}`")
                d.children.append(Definition(s.name, "variable", s.name_span, s.span, unit=s.unit or canonical(dim),
                                             dim=dim, container=dev.name, code=clip(s.span.text), facts=facts,
                                             doc=doc_comment(s)))
            elif isinstance(s, ast.Let):
                d.children.append(Definition(s.name, "template let", s.name_span, s.span, unit=s.unit,
                                             dim=unit_dim(s.unit) if s.unit else None, container=dev.name,
                                             code=clip(s.span.text), doc=doc_comment(s)))
        ports = sorted({p.carrier for p in tpl.ports})
        variables = ", ".join(f"`{v.name}{'[t]' if v.timed else ''}` "
                              f"({v.kind if v.kind != 'continuous' else units.describe(v.dim)})"
                              for v in tpl.vars.values())
        if variables:
            d.facts.append(f"variables: {variables}")
        if ports:
            d.facts.append("ports: " + ", ".join(ports))
        shares = [f"{r.direction} (`{clip(fmt(r.value), 60)}`)" for r in tpl.reserves]
        if shares:
            d.facts.append("holds reserve: " + ", ".join(shares))
        d.facts.append(f"in {where}")
        self.index.templates[dev.name] = d

    def template_body(self, dev: ast.Device, d: Definition) -> None:
        """Names inside a template refer to its parameters, variables and lets (and dt)."""
        scope = {c.name: c for c in d.children}
        scope.setdefault("dt", self.builtins["dt"])
        self.index.add(dev.name_span, d)
        for c in d.children:
            self.index.add(c.span, c)
        for p in dev.params:
            if p.default is not None:
                self.expr(p.default, scope, False)
        for s in dev.body:
            if isinstance(s, ast.VarDecl):
                for e in (s.lower, s.upper):
                    if e is not None:
                        self.expr(e, scope, False)
            elif isinstance(s, ast.Constraint):
                for e in s.terms:
                    self.expr(e, scope, False)
            elif isinstance(s, ast.Initial):
                self.index.add(s.name_span, scope.get(s.name))
                self.expr(s.value, scope, False)
            elif isinstance(s, ast.Port):
                self.index.add(s.carrier_span, scope.get(s.carrier) or self.builtins.get(s.carrier))
                self.expr(s.value, scope, False)
            elif isinstance(s, (ast.Cost, ast.Let)):
                self.expr(s.value, scope, False)
            elif isinstance(s, ast.ReserveShare):
                self.index.add(s.direction_span, _share(s, dev.name))
                self.expr(s.value, scope, False)


def _share(s: ast.ReserveShare, template: str) -> Definition:
    """The direction word of `reserve up += r_up`: hover says what the share adds to."""
    if s.direction not in DIRECTIONS:
        return Definition(s.direction, "reserve share", s.direction_span, s.span, container=template,
                          code=clip(s.span.text), facts=["not a direction: `up` or `down`"])
    more = "power it can still add" if s.direction == "up" else "power it can still shed"
    return Definition(f"reserve {s.direction}", "reserve share", s.direction_span, s.span, unit="kW",
                      dim=units.POWER, container=template, code=clip(s.span.text), doc=doc_comment(s),
                      facts=[f"each instance's share ({more} within a step) of its owner's {s.direction} spinning "
                             "reserve, per step; it counts where the instance has an electricity port and its "
                             f"owner requires {s.direction} reserve (`reserve {s.direction} >= ...` in the network "
                             "or the microgrid)"])


def _param_name(p: ast.Param) -> Span:
    if p.is_carrier:
        return find(p.span, r"carrier\s+(" + re.escape(p.name) + r")\b") or p.span
    return sub(p.span, 0, len(p.name))


def _param_text(p: ast.Param) -> str:
    if p.is_carrier:
        return f"carrier {p.name}"
    text = p.name + (f": {p.unit}" if p.unit else "")
    return text + (f" = {fmt(p.default)}" if p.default is not None else "")


def _signature(dev: ast.Device) -> str:
    """`device NAME(params)`, shortened to `device NAME(...)` when long: hover lists the parameters below it."""
    line = f"device {dev.name}(" + ", ".join(_param_text(p) for p in dev.params) + ")"
    return line if len(line) <= 100 else f"device {dev.name}(...)"
