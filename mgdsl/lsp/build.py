"""Build a document's Index from the loaded program's AST, with units, dimensions and values from the checker:
the top-level statements and name resolution here, templates in build_templates.py, the system in build_system.py,
reserve requirements in build_reserve.py."""
from __future__ import annotations

from ..decompose.settings import DEFAULTS, SPECS
from ..ir import CARRIERS, SystemIR
from ..sema import units
from ..sema.loader import Program
from ..sema.typing import FUNCTIONS, MATH_FUNCTIONS
from ..source import Span
from ..syntax import ast
from .build_reserve import ReserveDefs
from .build_system import SystemDefs
from .build_templates import TemplateDefs
from .index import Definition, Index
from .positions import real_path
from .text import clip, doc_comment, find, part_spans, sub, unit_dim, value_facts

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
    **{f: f"{f}(x): of a plain number or series, in system files and parameter defaults"
          + (" (radians)" if f in ("sin", "cos", "tan") else "") for f in MATH_FUNCTIONS},
}
class Builder(TemplateDefs, SystemDefs, ReserveDefs):
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
            if isinstance(item, ast.Profile) and item.distribution is not None:
                self.expr(item.distribution.value, self.system)     # `normal(sd)`, `errors(csv(...))`
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
                           code=clip(item.span.text))
            own(d)
            self.index.add(item.name_span, d)
            for name, span in item.members:
                self.index.add(span, self.owners.get(name))
        elif isinstance(item, ast.Switch):
            d = Definition(item.name, "switch", item.name_span, item.span, doc=doc_comment(item),
                           code=clip(item.span.text))
            own(d)
            self.index.add(item.name_span, d)
            for end in (item.a, item.b):
                self.endpoint(end, f"switch `{item.name}`")
            self.expr(item.limit, self.system)
        elif isinstance(item, ast.Couple):
            d = Definition(item.name, "coupling", item.name_span, item.span, doc=doc_comment(item),
                           code=clip(item.span.text))
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
        self.index.add(find(item.span, r'("[^"]*")') or item.span, d)

    # ------------------------------------------------------------------ values and objectives
    def value(self, item: ast.Profile | ast.Let, own: bool) -> Definition:
        kind = "profile" if isinstance(item, ast.Profile) else "constant"
        const = self.checker.env.get(item.name) if self.checker is not None else None
        dim = const.dim if const is not None else None
        if dim is None and item.unit is not None:
            dim = unit_dim(item.unit)
        facts = value_facts(const.value, const.dim) if const is not None else []
        if self.index.currency:                  # canonical money is the system's currency
            facts = [f.replace("money", self.index.currency) for f in facts]
        d = Definition(item.name, kind, item.name_span, item.span, unit=item.unit or (units.describe(dim) if dim
                       is not None and dim != units.NONE else None), dim=dim, doc=doc_comment(item),
                       code=clip(item.span.text), facts=facts)
        if item.name not in self.system:
            self.system[item.name] = d
            self.index.values[item.name] = d
        self.index.add(item.name_span, d)
        return d

    def objective(self, item: ast.Objective) -> Definition:
        ir = self.ir.objectives.get(item.name) if self.ir is not None else None
        unit = ir.unit if ir is not None else item.unit
        dim = ir.dim if ir is not None else (unit_dim(item.unit) if item.unit else None)
        minimized = self.ir is not None and self.ir.objective is not None and self.ir.objective.name == item.name
        d = Definition(item.name, "objective", item.name_span, item.span, unit=unit, dim=dim, doc=doc_comment(item),
                       code=clip(item.span.text), facts=["minimized"] if minimized else [])
        self.index.add(item.name_span, d)
        return d



    # ------------------------------------------------------------------ decomposition settings
    def decompose(self, item: ast.Decompose, own) -> None:
        d = Definition(item.method, "decompose", find(item.span, r"decompose\s+(\w+)") or item.span, item.span,
                       code=f"decompose {item.method}", doc=doc_comment(item))
        own(d)
        self.index.add(d.span, d)
        for s in item.settings:
            spec = SPECS.get(s.name)
            span = sub(s.span, 0, len(s.name))
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
        spans = part_spans(r)
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



def build_index(program: Program, checker=None, ir: SystemIR | None = None) -> Index:
    return Builder(program, checker, ir).build()

