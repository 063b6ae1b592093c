"""Index definitions of the system: the network and its buses, microgrids, their instances and the arguments of
instances (a named argument names the template's parameter)."""
from __future__ import annotations

import re

import numpy as np

from ..source import Span
from ..syntax import ast
from .index import Definition
from .text import clip, doc_comment, find, sub


class SystemDefs:
    """The Builder's part for the network, microgrids and instances (a mixin: `self` is the Builder)."""

    def declare_network(self, net: ast.Network) -> None:
        head = [clip(s.span.text) for s in net.body
                if isinstance(s, (ast.NetBase, ast.NetVoltage, ast.NetFormulation, ast.NetBuses, ast.NetSlack))]
        nir = self.ir.network if self.ir is not None else None
        facts = [f"{len(nir.buses)} buses, {len(nir.lines)} lines"] if nir is not None else []
        code = "\n".join([f"network {net.name} {{"] + [f"    {h}" for h in head] + ["    ...", "}"])
        self.network = Definition(net.name, "network", net.name_span, net.span, doc=doc_comment(net), facts=facts,
                                  code=code)
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
                    span = find(s.span, r":\s*(" + re.escape(s.name) + r")\s*=") if s.name else q.span
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
            d = Definition(str(b), "bus", where, None, container=self.network.name)
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
                    if nir.slack_limit_kw is not None:
                        d.facts.append(f"slack limit {nir.slack_limit_kw:.6g} kW: its headroom is reserve")
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
                for e in (s.buy, s.sell, s.voltage, s.limit):
                    if e is not None:
                        self.expr(e, self.system)
            elif isinstance(s, ast.NetLine):
                self.bus(s.from_bus)
                self.bus(s.to_bus)
                self.args(s.args, None)
            elif isinstance(s, ast.NetLoad):
                self.bus(s.bus, f"`{clip(s.span.text, 100)}`")
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
            elif isinstance(s, (ast.NetLines, ast.NetLoads, ast.NetFrom)):
                self.expr(s.source, self.system)          # `from matpower("case33bw") * shape` too
            elif isinstance(s, ast.NetFormulation) and s.args:
                self.args(s.args, None)
        self.requirements(d, net.body, self.system)

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
        d.code = clip(head)
        if m.at_span is not None:
            self.index.add(find(m.at_span, r"at\s+(" + re.escape(m.at_network) + r")\b"),
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
                                   code=clip(s.span.text), doc=doc_comment(s))
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
        self.requirements(d, m.body, scope)

    def instance(self, owner: str, name: str, span: Span | None, extent: Span, call: ast.Call,
                 doc: str) -> Definition:
        tpl = self.index.templates.get(call.func)
        facts = []
        if tpl is not None and tpl.doc:
            facts.append("template: " + tpl.doc.split("\n", 1)[0])
        d = Definition(f"{owner}.{name}", "instance", span, extent, container=owner, doc=doc,
                       code=f"{name} = {clip(call.span.text)}", facts=facts)
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
        self.index.add(sub(end.span, 0, len(end.name)), self.owners.get(end.name))
        if end.bus is not None and self.network is not None and end.name == self.network.name:
            self.bus(end.bus, what)
