"""Build a document's Index from the loaded program's AST, with units, dimensions and values from the checker."""
from __future__ import annotations

import re

import numpy as np

from ..decompose.settings import DEFAULTS, SPECS
from ..diagnostics import Collector
from ..ir import CARRIERS, SystemIR, TemplateIR
from ..sema import units
from ..sema.loader import Program
from ..sema.templates import check_template
from ..sema.typing import FUNCTIONS
from ..sema.units import Dim
from ..source import Span
from ..syntax import ast
from ..syntax.printer import fmt_expr
from .index import Definition, Index
from .positions import real_path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The names the language provides (hover only: they have no place to go to).
_BUILTIN_OBJECTIVES = {
    "cost": ("money", units.MONEY, "every `cost +=` term of every instance, plus the network's purchases at the "
             "slack bus less its sales; always available"),
    "losses": ("kWh", units.ENERGY, "the network's active losses, the sum over lines and steps of r·l·S_base·dt; "
               "with `formulation distflow_socp`"),
    "vdi": ("pu", units.NONE, "the voltage deviation index: the mean of |V − 1| over all buses and steps; with a "
            "network"),
}
_FUNCTIONS = {
    "csv": 'csv("file.csv", "column"): a column of a CSV file (relative to this file), one value per step; '
           'in a network, csv("lines.csv") or csv("loads.csv") is a whole table',
    "sum": "sum(expr): the sum over the horizon",
    "max": "max(series): the largest value of a parameter series (a constant)",
    "min": "min(series): the smallest value of a parameter series (a constant)",
    "mean": "mean(series): the mean of a parameter series (a constant)",
}
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


def _clip(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _sub(span: Span, start: int, length: int) -> Span:
    return Span(span.file, span.start + start, span.start + start + length)


def _find(span: Span, pattern: str, after: int = 0) -> Span | None:
    """The span of the first group of `pattern` in the text of `span` (from `after`)."""
    m = re.compile(pattern).search(span.text, after)
    return None if m is None else _sub(span, m.start(1), len(m.group(1)))


def _fmt(e) -> str:
    try:
        return fmt_expr(e)
    except Exception:         # a node the printer does not know cannot take hover down
        return e.span.text if getattr(e, "span", None) is not None else "?"


def _number(value: float, unit: str) -> str:
    return f"{value:.6g} {unit}".strip()


def _value_facts(value, dim: Dim) -> list[str]:
    """What a checked profile or constant holds, in canonical units."""
    unit = "" if dim == units.NONE else units.describe(dim)
    if isinstance(value, np.ndarray):
        if value.size == 0 or not np.all(np.isfinite(value)):
            return []
        return [f"{value.size} values, {_number(float(value.min()), unit)} .. {_number(float(value.max()), unit)}, "
                f"mean {_number(float(value.mean()), unit)}"]
    try:
        v = float(value)
    except (TypeError, ValueError):
        return []
    return [f"= {_number(v, unit)}"] if np.isfinite(v) else []


class Builder:
    """Walks the main module, records definitions and resolves names; libraries give templates and constants."""

    def __init__(self, program: Program, checker=None, ir: SystemIR | None = None):
        self.program = program
        self.main = program.main
        self.checker = checker
        self.ir = ir
        self.index = Index(program.main.file, currency=ir.currency if ir is not None else None)
        self.builtins: dict[str, Definition] = {}
        self.system: dict[str, Definition] = {}           # profiles, constants, objectives, built-ins
        self.owners: dict[str, Definition] = {}           # the network and the microgrids
        self.owner_instances: dict[str, dict[str, Definition]] = {}
        self.instance_templates: dict[int, str] = {}      # id(instance Definition) -> template name
        self.network: Definition | None = None
        self.network_stmt: ast.Network | None = None
        self.buses: dict[int, Definition] = {}
        self.bus_ranges: list[tuple[float, float, Span]] = []    # (first, last, the range in `buses`)
        self.declared: dict[tuple[int, int], Definition] = {}     # (id of a statement, bus k) -> its instance

    # ------------------------------------------------------------------ entry point
    def build(self) -> Index:
        for name, (unit, dim, text) in _BUILTIN_OBJECTIVES.items():
            self.builtins[name] = Definition(name, "builtin objective", None, unit=unit, dim=dim, doc=text)
        self.builtins["dt"] = Definition("dt", "builtin", None, unit="h", dim=units.TIME,
                                         doc="the step length, in hours", facts=self._dt_facts())
        for c in CARRIERS:
            self.builtins[c] = Definition(c, "carrier", None, doc=f"the {c} carrier: one balance per owner and step")
        for f, text in _FUNCTIONS.items():
            self.builtins[f] = Definition(f, "function", None, doc=text)
        for module in self.program.libraries:
            for item in module.items:
                if isinstance(item, ast.Device):
                    self.template(item, own=False)
                elif isinstance(item, ast.Let):
                    self.value(item, own=False)
                elif isinstance(item, ast.Use):
                    self.use(item, module, own=False)
        for item in self.main.items:
            if isinstance(item, ast.Device):
                self.template(item, own=True)
        for item in self.main.items:         # networks and microgrids first: names may refer to them from above
            if isinstance(item, ast.Network) and self.network is None:
                self.declare_network(item)
            elif isinstance(item, ast.Microgrid) and item.name not in self.owners:
                self.owners[item.name] = Definition(item.name, "microgrid", item.name_span, item.span,
                                                    doc=doc_comment(item))
                self.owner_instances[item.name] = {}
                for s in item.body:        # declared before any use: an objective above may name them
                    if isinstance(s, ast.Instance):
                        self.declared[(id(s), 0)] = self.instance(item.name, s.name, s.name_span, s.span, s.call,
                                                                  doc_comment(s))
        for item in self.main.items:
            self.item(item)
        return self.index

    def _dt_facts(self) -> list[str]:
        if self.checker is not None and getattr(self.checker, "steps", None):
            return [f"= {self.checker.dt_h:g} h here ({self.checker.steps} steps)"]
        return []

    # ------------------------------------------------------------------ top-level statements
    def item(self, item) -> None:
        own = self.index.symbols.append
        if isinstance(item, ast.Use):
            self.use(item, self.main, own=True)
        elif isinstance(item, ast.Device):
            d = self.index.templates.get(item.name)
            if d is not None and d.extent is item.span:
                own(d)
                self.template_body(item, d)
        elif isinstance(item, (ast.Profile, ast.Let)):
            d = self.value(item, own=True)
            own(d)
            self.expr(item.value, self.system)
        elif isinstance(item, ast.Objective):
            d = self.objective(item)
            own(d)
            self.expr(item.value, self.system)
            self.system.setdefault(item.name, d)
        elif isinstance(item, ast.Minimize):
            self.expr(item.value, self.system)
        elif isinstance(item, ast.Network):
            self.network_body(item, own)
        elif isinstance(item, ast.Microgrid):
            self.microgrid(item, own)
        elif isinstance(item, ast.Cluster):
            d = Definition(item.name, "cluster", item.name_span, item.span, doc=doc_comment(item),
                           code=_clip(item.span.text))
            own(d)
            self.index.add(item.name_span, d)
            for name, span in item.members:
                self.index.add(span, self.owners.get(name))
        elif isinstance(item, ast.Switch):
            d = Definition(item.name, "switch", item.name_span, item.span, doc=doc_comment(item),
                           code=_clip(item.span.text))
            own(d)
            self.index.add(item.name_span, d)
            for end in (item.a, item.b):
                self.endpoint(end, f"switch `{item.name}`")
            self.expr(item.limit, self.system)
        elif isinstance(item, ast.Couple):
            d = Definition(item.name, "coupling", item.name_span, item.span, doc=doc_comment(item),
                           code=_clip(item.span.text))
            own(d)
            self.index.add(item.name_span, d)
            self.expr(item.lhs, self.system)
            self.expr(item.rhs, self.system)
        elif isinstance(item, ast.Decompose):
            self.decompose(item, own)

    def use(self, item: ast.Use, module: ast.Module, own: bool) -> None:
        if not own or not item.is_path:
            return
        target = None
        try:
            want = (module.file.directory / item.target).resolve()
        except (OSError, RuntimeError, ValueError):
            return
        for lib in self.program.libraries:
            if real_path(lib.file) == want:
                target = lib
                break
        if target is None:
            return
        d = Definition(item.target, "library", target.file.span(0, 0), doc=doc_comment(target.items[0])
                       if target.items else "", facts=[f"`{len(target.items)}` statements"])
        self.index.add(_find(item.span, r'("[^"]*")') or item.span, d)

    # ------------------------------------------------------------------ values and objectives
    def value(self, item: ast.Profile | ast.Let, own: bool) -> Definition:
        kind = "profile" if isinstance(item, ast.Profile) else "constant"
        const = self.checker.env.get(item.name) if self.checker is not None else None
        dim = const.dim if const is not None else None
        if dim is None and item.unit is not None:
            dim = _unit_dim(item.unit)
        facts = _value_facts(const.value, const.dim) if const is not None else []
        if self.index.currency:                  # canonical money is the system's currency
            facts = [f.replace("money", self.index.currency) for f in facts]
        d = Definition(item.name, kind, item.name_span, item.span, unit=item.unit or (units.describe(dim) if dim
                       is not None and dim != units.NONE else None), dim=dim, doc=doc_comment(item),
                       code=_clip(item.span.text), facts=facts)
        if item.name not in self.system:
            self.system[item.name] = d
            self.index.values[item.name] = d
        self.index.add(item.name_span, d)
        return d

    def objective(self, item: ast.Objective) -> Definition:
        ir = self.ir.objectives.get(item.name) if self.ir is not None else None
        unit = ir.unit if ir is not None else item.unit
        dim = ir.dim if ir is not None else (_unit_dim(item.unit) if item.unit else None)
        minimized = self.ir is not None and self.ir.objective is not None and self.ir.objective.name == item.name
        d = Definition(item.name, "objective", item.name_span, item.span, unit=unit, dim=dim, doc=doc_comment(item),
                       code=_clip(item.span.text), facts=["minimized"] if minimized else [])
        self.index.add(item.name_span, d)
        return d

    # ------------------------------------------------------------------ templates
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
                       code=f"device {dev.name}(" + ", ".join(_param_text(p) for p in dev.params) + ")",
                       container=where)
        for p in dev.params:
            pir = tpl.params.get(p.name)
            span = _param_name(p)
            if p.is_carrier:
                child = Definition(p.name, "carrier parameter", span, p.span, container=dev.name,
                                   doc="a carrier: electricity, heat, gas or reactive", code=_clip(p.span.text))
            else:
                dim = pir.dim if pir is not None else None
                facts = [f"default `{_fmt(p.default)}`" if p.default is not None else "required"]
                child = Definition(p.name, "parameter", span, p.span, unit=p.unit or _canonical(dim), dim=dim,
                                   container=dev.name, code=_clip(p.span.text), facts=facts)
            d.children.append(child)
        for s in dev.body:
            if isinstance(s, ast.VarDecl):
                vir = tpl.vars.get(s.name)
                dim = vir.dim if vir is not None else None
                facts = [f"one value per step (`{s.name}[t]`)" if s.timed else "one value per instance"]
                if s.kind != "continuous":
                    facts.append(s.kind)
                if s.lower is not None or s.upper is not None:
                    lo = _fmt(s.lower) if s.lower is not None else "-inf"
                    hi = _fmt(s.upper) if s.upper is not None else "inf"
                    facts.append(f"bounds `{lo} .. {hi}`")
                d.children.append(Definition(s.name, "variable", s.name_span, s.span, unit=s.unit or _canonical(dim),
                                             dim=dim, container=dev.name, code=_clip(s.span.text), facts=facts,
                                             doc=doc_comment(s)))
            elif isinstance(s, ast.Let):
                d.children.append(Definition(s.name, "template let", s.name_span, s.span, unit=s.unit,
                                             dim=_unit_dim(s.unit) if s.unit else None, container=dev.name,
                                             code=_clip(s.span.text), doc=doc_comment(s)))
        ports = sorted({p.carrier for p in tpl.ports})
        variables = ", ".join(f"`{v.name}{'[t]' if v.timed else ''}` "
                              f"({v.kind if v.kind != 'continuous' else units.describe(v.dim)})"
                              for v in tpl.vars.values())
        if variables:
            d.facts.append(f"variables: {variables}")
        if ports:
            d.facts.append("ports: " + ", ".join(ports))
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

    # ------------------------------------------------------------------ the network
    def declare_network(self, net: ast.Network) -> None:
        facts = [_clip(s.span.text) for s in net.body
                 if isinstance(s, (ast.NetBase, ast.NetVoltage, ast.NetFormulation, ast.NetBuses, ast.NetSlack))]
        nir = self.ir.network if self.ir is not None else None
        if nir is not None:
            facts.append(f"{len(nir.buses)} buses, {len(nir.lines)} lines")
        self.network = Definition(net.name, "network", net.name_span, net.span, doc=doc_comment(net),
                                  facts=[f"`{f}`" for f in facts])
        self.network_stmt = net
        self.owners[net.name] = self.network
        self.owner_instances[net.name] = {}
        for s in net.body:
            if isinstance(s, ast.NetBuses):
                for r in s.ranges:
                    last = r.last.value if r.last is not None else r.first.value
                    self.bus_ranges.append((r.first.value, last, r.span))
            elif isinstance(s, ast.NetAt):
                for k, q in enumerate(s.buses):
                    span = _find(s.span, r":\s*(" + re.escape(s.name) + r")\s*=") if s.name else q.span
                    self.declared[(id(s), k)] = self.instance(net.name, self._at_name(s, q), span or q.span, s.span,
                                                              s.call, doc_comment(s))

    def bus(self, number: ast.Quantity, how: str = "") -> Definition | None:
        """The definition of a bus named by a number (created on first use); `how` adds what the use says."""
        if self.network is None:
            return None
        value = number.value
        if value != int(value):
            return None
        b = int(value)
        d = self.buses.get(b)
        if d is None:
            where = next((span for first, last, span in self.bus_ranges if first <= b <= last), None)
            d = Definition(str(b), "bus", where, None, container=self.network.name,
                           doc=f"bus {b} of network `{self.network.name}`")
            nir = self.ir.network if self.ir is not None else None
            if nir is not None and b in nir.buses:
                k = nir.buses.index(b)
                p, q = nir.load_p[k], nir.load_q[k]
                if np.any(p) or np.any(q):
                    d.facts.append(f"load: peak {float(np.max(p)):.6g} kW, mean {float(np.mean(p)):.6g} kW; "
                                   f"reactive peak {float(np.max(q)):.6g} kvar")
                lines = [f"{line.from_bus}–{line.to_bus}" for line in nir.lines if b in (line.from_bus, line.to_bus)]
                if lines:
                    d.facts.append("lines: " + ", ".join(lines[:12]) + (" …" if len(lines) > 12 else ""))
                if b == nir.slack_bus:
                    d.facts.append("the slack bus")
            elif where is None:
                d.facts.append("not among the network's buses")
            self.buses[b] = d
        if how and how not in d.facts:
            d.facts.append(how)
        self.index.add(number.span, d)
        return d

    def network_body(self, net: ast.Network, own) -> None:
        if self.network_stmt is not net:          # a second network: an error the checker reports
            d = Definition(net.name, "network", net.name_span, net.span)
            own(d)
            self.index.add(net.name_span, d)
            return
        d = self.network
        own(d)
        self.index.add(net.name_span, d)
        # attachments first, so a bus's hover lists them wherever it is pointed at
        for s in net.body:
            if isinstance(s, ast.NetAt):
                for q in s.buses:
                    self.bus(q, f"device `{self._at_name(s, q)}` ({s.call.func})")
        for item in self.main.items:
            if isinstance(item, ast.Microgrid) and item.at_network == net.name and item.at_bus is not None:
                self.bus(item.at_bus, f"microgrid `{item.name}` (tie line)")
            elif isinstance(item, ast.Switch):
                for end in (item.a, item.b):
                    if end.name == net.name and end.bus is not None:
                        self.bus(end.bus, f"switch `{item.name}`")
        for s in net.body:
            if isinstance(s, ast.NetBuses):
                for r in s.ranges:
                    self.bus(r.first)
                    if r.last is not None:
                        self.bus(r.last)
            elif isinstance(s, ast.NetSlack):
                self.bus(s.bus, "the slack bus")
                for e in (s.buy, s.sell):
                    if e is not None:
                        self.expr(e, self.system)
            elif isinstance(s, ast.NetLine):
                self.bus(s.from_bus)
                self.bus(s.to_bus)
                self.args(s.args, None)
            elif isinstance(s, ast.NetLoad):
                self.bus(s.bus, f"`{_clip(s.span.text, 100)}`")
                self.args(s.args, None)
            elif isinstance(s, ast.NetAt):
                tpl = self.index.templates.get(s.call.func)
                for k, _ in enumerate(s.buses):
                    inst = self.declared[(id(s), k)]
                    d.children.append(inst)
                    if s.name:                 # an unnamed one's span is its bus number: that names the bus
                        self.index.add(inst.span, inst)
                self.index.add(s.call.func_span, tpl)
                self.args(s.call.args, tpl)
            elif isinstance(s, (ast.NetBase, ast.NetVoltage)):
                for e in ((s.power, s.voltage) if isinstance(s, ast.NetBase) else (s.lower, s.upper)):
                    self.expr(e, self.system)
            elif isinstance(s, (ast.NetLines, ast.NetLoads)):
                self.expr(s.source, self.system)
            elif isinstance(s, ast.NetFormulation) and s.args:
                self.args(s.args, None)

    def _at_name(self, at: ast.NetAt, q: ast.Quantity) -> str:
        """The instance a bus of `at B, C: [NAME =] Template(...)` gets: the checker's name where it bound one."""
        if self.checker is not None:
            for insts in self.checker.instances.values():
                for inst in insts:
                    if inst.span.file is q.span.file and inst.span.start == q.span.start:
                        return inst.name.split(".", 1)[1]
        local = at.name if at.name else at.call.func.lower()
        if at.name is None or len(at.buses) > 1:
            value = q.value
            local = f"{local}_{int(value) if value == int(value) else q.text}"
        return local

    # ------------------------------------------------------------------ microgrids and instances
    def microgrid(self, m: ast.Microgrid, own) -> None:
        d = self.owners.get(m.name)
        if d is None or d.extent is not m.span:    # defined twice: the checker reports it
            d = Definition(m.name, "microgrid", m.name_span, m.span, doc=doc_comment(m))
        own(d)
        self.index.add(m.name_span, d)
        head = m.span.text.split("{", 1)[0]
        d.code = _clip(head)
        if m.at_span is not None:
            self.index.add(_find(m.at_span, r"at\s+(" + re.escape(m.at_network) + r")\b"),
                           self.owners.get(m.at_network) if self.network is not None
                           and m.at_network == self.network.name else None)
            if self.network is not None and m.at_network == self.network.name:
                self.bus(m.at_bus)
        if m.limit is not None:
            self.expr(m.limit, self.system)
        scope = dict(self.system)
        for s in m.body:
            if isinstance(s, ast.Let):
                local = Definition(s.name, "constant", s.name_span, s.span, unit=s.unit, container=m.name,
                                   code=_clip(s.span.text), doc=doc_comment(s))
                self.expr(s.value, scope)
                scope[s.name] = local
                self.index.add(s.name_span, local)
                d.children.append(local)
            elif isinstance(s, ast.Instance):
                tpl = self.index.templates.get(s.call.func)
                inst = self.declared.get((id(s), 0)) or self.instance(m.name, s.name, s.name_span, s.span, s.call,
                                                                       doc_comment(s))
                d.children.append(inst)
                self.index.add(s.name_span, inst)
                self.index.add(s.call.func_span, tpl)
                self.args(s.call.args, tpl, scope)
        names = [f"`{c.name.split('.', 1)[-1]}` ({self.instance_templates.get(id(c), '?')})" for c in d.children
                 if c.kind == "instance"]
        mir = self.ir.microgrids.get(m.name) if self.ir is not None else None
        if mir is not None and mir.limit_kw is not None:
            d.facts.append(f"tie limit {mir.limit_kw:g} kW")
        if names:
            d.facts.append("devices: " + ", ".join(names))

    def instance(self, owner: str, name: str, span: Span | None, extent: Span, call: ast.Call,
                 doc: str) -> Definition:
        tpl = self.index.templates.get(call.func)
        facts = []
        if tpl is not None and tpl.doc:
            facts.append("template: " + tpl.doc.split("\n", 1)[0])
        d = Definition(f"{owner}.{name}", "instance", span, extent, container=owner, doc=doc,
                       code=f"{name} = {_clip(call.span.text)}", facts=facts)
        self.instance_templates[id(d)] = call.func
        self.owner_instances.setdefault(owner, {}).setdefault(name, d)
        return d

    def args(self, args: list[ast.Arg], tpl: Definition | None, scope=None) -> None:
        """Arguments of a call: a named one names the template's parameter; values are system expressions."""
        params = {c.name: c for c in tpl.children if c.kind in ("parameter", "carrier parameter")} if tpl else {}
        for a in args:
            if a.name is not None and a.name_span is not None:
                self.index.add(a.name_span, params.get(a.name))
            self.expr(a.value, self.system if scope is None else scope)

    def endpoint(self, end: ast.Endpoint, what: str) -> None:
        self.index.add(_sub(end.span, 0, len(end.name)), self.owners.get(end.name))
        if end.bus is not None and self.network is not None and end.name == self.network.name:
            self.bus(end.bus, what)

    # ------------------------------------------------------------------ decomposition settings
    def decompose(self, item: ast.Decompose, own) -> None:
        d = Definition(item.method, "decompose", _find(item.span, r"decompose\s+(\w+)") or item.span, item.span,
                       code=f"decompose {item.method}", doc=doc_comment(item))
        own(d)
        self.index.add(d.span, d)
        for s in item.settings:
            spec = SPECS.get(s.name)
            span = _sub(s.span, 0, len(s.name))
            if spec is not None:
                default = getattr(DEFAULTS, s.name, None)
                facts = [f"default `{default}`" if default is not None else "no default"]
                if spec.choices:
                    facts.append("one of " + ", ".join(f"`{c}`" for c in spec.choices))
                if spec.unit:
                    facts.append(f"in {spec.unit}")
                child = Definition(s.name, "setting", span, s.span, doc=spec.help, facts=facts, container=item.method)
            else:
                child = Definition(s.name, "setting", span, s.span, doc="not a setting: `mgdsl check` says which are")
            d.children.append(child)
            self.index.add(span, child)
            self.expr(s.value, self.system)

    # ------------------------------------------------------------------ expressions
    def expr(self, e, scope: dict[str, Definition], system: bool = True) -> None:
        """Resolve the names of an expression in `scope`, and at system level also the network and microgrids
        (`mg1.es.e`); iteratively, as expressions nest 100 levels deep."""
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.Ref):
                self.ref(e, scope, system)
            elif isinstance(e, ast.Call):
                self.index.add(e.func_span, self.builtins.get(e.func) if e.func in _FUNCTIONS
                               or e.func in FUNCTIONS else self.index.templates.get(e.func))
                stack.extend(a.value for a in e.args)
            elif isinstance(e, ast.BinOp):
                stack.extend((e.left, e.right))
            elif isinstance(e, ast.Neg):
                stack.append(e.operand)
            elif isinstance(e, ast.Pow):
                stack.append(e.base)
            elif isinstance(e, ast.ListLit):
                stack.extend(e.items)

    def ref(self, r: ast.Ref, scope: dict[str, Definition], system: bool) -> None:
        spans = _part_spans(r)
        if not spans:
            return
        first = r.parts[0]
        if first in scope:
            d = scope[first]
        elif system and first in self.owners:
            d = self.owners[first]
        else:
            d = self.builtins.get(first)
        self.index.add(spans[0], d)
        if d is None or d.kind not in ("network", "microgrid") or len(spans) < 2:
            return
        inst = self.owner_instances.get(first, {}).get(r.parts[1])
        self.index.add(spans[1], inst)
        if inst is None or len(spans) < 3:
            return
        tpl = self.index.templates.get(self.instance_templates.get(id(inst), ""))
        if tpl is not None:
            var = next((c for c in tpl.children if c.name == r.parts[2] and c.kind in ("variable", "parameter")), None)
            self.index.add(spans[2], var)


def _part_spans(r: ast.Ref) -> list[Span]:
    out = []
    for m, part in zip(_NAME.finditer(r.span.text), r.parts):
        if m.group(0) != part:
            break
        out.append(_sub(r.span, m.start(), len(part)))
    return out


def _param_name(p: ast.Param) -> Span:
    if p.is_carrier:
        return _find(p.span, r"carrier\s+(" + re.escape(p.name) + r")\b") or p.span
    return _sub(p.span, 0, len(p.name))


def _param_text(p: ast.Param) -> str:
    if p.is_carrier:
        return f"carrier {p.name}"
    text = p.name + (f": {p.unit}" if p.unit else "")
    return text + (f" = {_fmt(p.default)}" if p.default is not None else "")


def _unit_dim(unit: str | None) -> Dim | None:
    try:
        return units.parse_unit(unit)[1] if unit else None
    except units.UnitError:
        return None


def _canonical(dim: Dim | None) -> str | None:
    return None if dim is None or dim == units.NONE else units.describe(dim)


def build_index(program: Program, checker=None, ir: SystemIR | None = None) -> Index:
    return Builder(program, checker, ir).build()

