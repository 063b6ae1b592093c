"""Check one device template (parameters, variables, constraints, ports, costs) into a TemplateIR."""
from __future__ import annotations

from ..diagnostics import Collector, Label
from ..ir import CARRIERS, ConstraintIR, CostIR, ParamIR, PortIR, TemplateIR, VarIR
from ..syntax import ast
from . import units
from .reserve import check_share
from .typing import ExprTyper, Symbol, Ty, conversion_hint, unit_of

RESERVED = {"dt", "t", "first", "last", "cost"} | set(CARRIERS)


def check_template(dev: ast.Device, diag: Collector) -> TemplateIR:
    scope: dict[str, Symbol] = {"dt": Symbol("dt", units.TIME)}
    params: dict[str, ParamIR] = {}

    def declare(name: str, span, sym: Symbol) -> bool:
        if name in RESERVED:
            diag.error("E0103", f"`{name}` is a reserved name", span, "reserved",
                       help="choose another name; dt, t, first, last, cost and the carriers are built in")
            return False
        if name in scope:
            prev = scope[name].span
            diag.error("E0103", f"`{name}` is defined twice in template `{dev.name}`", span, "defined again here",
                       secondary=[Label(prev, "first defined here")] if prev is not None else [],
                       help="rename one of them")
            return False
        sym.span = span
        scope[name] = sym
        return True

    for p in dev.params:
        if p.is_carrier:
            if declare(p.name, p.span, Symbol("carrier")):
                params[p.name] = ParamIR(p.name, True, None, None, p.span)
            continue
        dim = None
        if p.unit is not None:
            u = unit_of(p.unit, p.span, diag)
            dim = u[1] if u else None
        if p.default is not None:
            t = ExprTyper(scope, diag, "default").ty(p.default)
            if t is not None:
                if t.degree > 0:
                    diag.error("E0504", "a parameter default cannot use a variable", p.default.span, "")
                elif dim is None:
                    dim = t.dim
                elif t.dim != dim and not t.zero:
                    diag.error("E0202", f"default of `{p.name}` is {units.describe(t.dim)}, "
                                        f"but the parameter is {units.describe(dim)}", p.default.span,
                               f"this is {units.describe(t.dim)}", help=conversion_hint(dim, t.dim))
        if dim is None:
            dim = units.NONE
        if declare(p.name, p.span, Symbol("param", dim, timed=False)):
            params[p.name] = ParamIR(p.name, False, dim, p.default, p.span)

    vars_: dict[str, VarIR] = {}
    lets: dict[str, ast.Let] = {}
    constraints: list[ConstraintIR] = []
    initials: dict[str, ast.Initial] = {}
    ports: list[PortIR] = []
    costs: list[CostIR] = []
    reserves = []

    # Variables first, so constraints may use a variable declared below them.
    for s in dev.body:
        if isinstance(s, ast.VarDecl):
            dim = units.NONE
            if s.unit is not None:
                u = unit_of(s.unit, s.span, diag)
                dim = u[1] if u else units.NONE
            if s.kind == "binary" and s.bound_form != "none":
                diag.error("E0504", "a binary variable takes no bounds", s.span, "bounds on a binary",
                           help="a binary is 0 or 1; drop the bounds")
            if declare(s.name, s.name_span, Symbol("var", dim, timed=s.timed)):
                vars_[s.name] = VarIR(s.name, s.timed, s.kind, dim, s.lower, s.upper, s.name_span)

    for s in dev.body:
        if isinstance(s, ast.VarDecl):
            for bound in (s.lower, s.upper):
                if bound is None:
                    continue
                t = ExprTyper(scope, diag, "bound").ty(bound)
                if t is None:
                    continue
                if t.degree > 0:
                    diag.error("E0504", "a variable bound must not contain variables", bound.span,
                               "contains a variable", help="write a constraint instead of a bound")
                elif t.dim != vars_.get(s.name, VarIR("", False, "", units.NONE, None, None, None)).dim and not t.zero:
                    vdim = scope[s.name].dim if s.name in scope else units.NONE
                    diag.error("E0203", f"bound of `{s.name}` is {units.describe(t.dim)}, "
                                        f"but the variable is {units.describe(vdim)}", bound.span,
                               f"this is {units.describe(t.dim)}", help=conversion_hint(vdim, t.dim))
        elif isinstance(s, ast.Let):
            t = ExprTyper(scope, diag, "value").ty(s.value)
            if t is not None and s.unit is not None:
                u = unit_of(s.unit, s.span, diag)
                if u and u[1] != t.dim and not t.zero:
                    diag.error("E0203", f"`{s.name}` is declared {s.unit} but its value is {units.describe(t.dim)}",
                               s.value.span, f"this is {units.describe(t.dim)}", help=conversion_hint(u[1], t.dim))
            if declare(s.name, s.name_span, Symbol("let", t.dim if t else units.NONE, ty=t)):
                lets[s.name] = s
        elif isinstance(s, ast.Constraint):
            is_assertion = _check_constraint(s, scope, diag)
            name = s.label or f"c{sum(1 for c in constraints if not c.stmt.label) + 1}"
            if any(c.name == name for c in constraints):
                diag.error("E0103", f"constraint label `{name}` is used twice", s.span, "",
                           help="labels name constraints in results and messages; make them unique")
            constraints.append(ConstraintIR(name, s, is_assertion))
        elif isinstance(s, ast.Initial):
            sym = scope.get(s.name)
            if sym is None or sym.kind != "var" or not sym.timed:
                diag.error("E0504", f"`initial` needs a time-indexed variable, and `{s.name}` is not one",
                           s.name_span, "not a variable with [t]",
                           help="declare `var NAME[t]: unit ...` and give its state before the first step")
                continue
            if s.name in initials:
                diag.error("E0103", f"`initial {s.name}` is given twice", s.span, "")
                continue
            t = ExprTyper(scope, diag, "value").ty(s.value)
            if t is not None:
                if t.degree > 0:
                    diag.error("E0504", "an initial state must not contain variables", s.value.span, "")
                elif t.dim != sym.dim and not t.zero:
                    diag.error("E0203", f"initial value of `{s.name}` is {units.describe(t.dim)}, "
                                        f"but the variable is {units.describe(sym.dim)}", s.value.span,
                               f"this is {units.describe(t.dim)}", help=conversion_hint(sym.dim, t.dim))
            initials[s.name] = s
        elif isinstance(s, ast.Port):
            sym = scope.get(s.carrier)
            if s.carrier not in CARRIERS and (sym is None or sym.kind != "carrier"):
                diag.error("E0108", f"unknown carrier `{s.carrier}`", s.carrier_span, "not a carrier",
                           help="carriers: " + ", ".join(CARRIERS) + ", or a `carrier` parameter")
                continue
            t = ExprTyper(scope, diag, "port").ty(s.value)
            if t is None:
                continue
            want = units.REACTIVE if s.carrier == "reactive" else (units.POWER if s.carrier in CARRIERS else None)
            ok_dims = (want,) if want is not None else (units.POWER, units.REACTIVE)
            if t.dim not in ok_dims and not t.zero:
                diag.error("E0203", f"a port injects power, but this is {units.describe(t.dim)}", s.value.span,
                           f"this is {units.describe(t.dim)}",
                           help="ports take kW (kvar for reactive); " + conversion_hint(units.POWER, t.dim))
                continue
            ports.append(PortIR(s.carrier, s.sign, s.value, t.dim, s.span))
        elif isinstance(s, ast.Cost):
            t = ExprTyper(scope, diag, "cost").ty(s.value)
            if t is None:
                continue
            if not units.is_money(t.dim):
                diag.error("E0203", f"a cost must be money, but this is {units.describe(t.dim)}", s.value.span,
                           f"this is {units.describe(t.dim)}",
                           help="multiply a price (yuan/kWh) by energy (power * dt)")
                continue
            currency = units.describe(t.dim)
            costs.append(CostIR(s.value, t.degree == 2, currency, s.span))
        elif isinstance(s, ast.ReserveShare):
            share = check_share(s, scope, diag)
            if share is not None:
                reserves.append(share)
        elif isinstance(s, ast.VarDecl):
            pass
        else:
            diag.error("E0504", "this statement is not allowed in a device template", s.span, "")
    # The doc comment is the comment block right above the template (after its last blank line).
    block = dev.comments[len(dev.comments) - dev.comments[::-1].index(""):] if "" in dev.comments else dev.comments
    doc = "\n".join(c.lstrip("#").strip() for c in block)
    return TemplateIR(dev.name, dev, params, vars_, lets, constraints, initials, ports, costs, doc, reserves)


def _check_constraint(s: ast.Constraint, scope, diag: Collector) -> bool:
    """Type a constraint; True when it has no variables (an assertion on the parameters)."""
    typer = ExprTyper(scope, diag, "constraint")
    tys: list[Ty | None] = [typer.ty(term) for term in s.terms]
    if any(t is None for t in tys):
        return False
    for k in range(len(s.ops)):
        a, b = tys[k], tys[k + 1]
        typer.check_same(a, b, s.terms[k].span, s.terms[k + 1].span, s.terms[k].span.to(s.terms[k + 1].span),
                         "compare")
    return all(t.degree == 0 for t in tys)
