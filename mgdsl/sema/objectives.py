"""Check `objective NAME: UNIT = EXPR` and `minimize EXPR` into ObjectiveIR (mgdsl/ir.py).

Names are resolved (the built-ins cost, losses and vdi, objectives declared above, profiles and constants,
OWNER.INSTANCE.VARIABLE), the expression is typed like any other (dimensions, linearity, time), and its value
is normalized to constant + sum of coefficient x quantity in canonical units. What the network cannot provide
(`losses` under lindistflow, `losses` or `vdi` without a network) and what cannot be minimized (a negative
weight on losses or vdi) are located errors."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..diagnostics import InternalError, Label
from ..ir import BUILTIN_OBJECTIVES, BuiltinQuantity, NetworkIR, ObjectiveIR, ObjectiveTerm, VariableQuantity
from ..syntax import ast
from ..syntax.printer import fmt_expr
from . import units
from .typing import ExprTyper, Symbol, unit_of
from .values import POISONED, Const, Failed, check_magnitude

_BUILTIN_DIMS = {"cost": units.MONEY, "losses": units.ENERGY, "vdi": units.NONE}


@dataclass
class _Lin:
    """An affine value: const + sum of coef x quantity. `timed`: a value per step (inside `sum(...)`), whose
    variable terms hold a coefficient per step; otherwise a total over the horizon."""

    const: float | np.ndarray
    terms: dict = field(default_factory=dict)          # quantity -> coefficient
    spans: dict = field(default_factory=dict)          # quantity -> where it is named first
    timed: bool = False


class _Stop(Exception):
    """An error in an objective, already reported."""


def unit_text(dim: units.Dim, currency: str) -> str:
    """The canonical unit of a dimension as shown for an objective: the system's currency for money, pu for none."""
    if dim == units.NONE:
        return "pu"
    return units.describe(dim).replace("money", currency)


def builtin_objectives(network: NetworkIR | None, currency: str) -> dict[str, ObjectiveIR]:
    """The built-in objectives the system provides: cost always; vdi with a network; losses with a network whose
    formulation has losses (distflow_socp: lower/formulations/, `has_losses`)."""
    from ..lower.formulations import formulation

    names = ["cost"]
    if network is not None:
        if formulation(network.formulation).has_losses:
            names.append("losses")
        names.append("vdi")
    out = {}
    for name in names:
        owner = None if name == "cost" else network.name
        dim = _BUILTIN_DIMS[name]
        out[name] = ObjectiveIR(name, dim, unit_text(dim, currency), 1.0,
                                [ObjectiveTerm(BuiltinQuantity(name, owner), 1.0, None)], 0.0, None, builtin=True)
    return out


class ObjectiveChecker:
    """Checks a system's objective statements. `checker` is the SystemChecker (names, instances, evaluator)."""

    def __init__(self, checker, network: NetworkIR | None, currency: str):
        self.c = checker
        self.diag = checker.diag
        self.network = network
        self.currency = currency
        self.steps = checker.steps or 1
        self.objectives: dict[str, ObjectiveIR] = builtin_objectives(network, currency)
        self.declared: dict[str, ast.Objective] = {}
        self.failed: set[str] = set()                  # declared objectives with errors: their uses stay silent

    def check(self, stmts: list[ast.Objective | ast.Minimize]) -> tuple[dict[str, ObjectiveIR], ObjectiveIR]:
        decls = [s for s in stmts if isinstance(s, ast.Objective)]
        for d in decls:
            self.declare(d)
        for d in decls:
            if d.name in self.declared and self.declared[d.name] is d:
                self.define(d)
        minimized = None
        first = None
        for s in stmts:
            if not isinstance(s, ast.Minimize):
                continue
            if first is not None:
                self.diag.error("E0504", "`minimize` is given twice", s.span, "again here",
                                secondary=[Label(first.span, "first here")],
                                help="a system minimizes one objective; to weigh several, add them: "
                                     "`minimize cost + 0.2 yuan/kWh * losses`")
                continue
            first = s
            minimized = self.minimize(s)
        return self.objectives, minimized if minimized is not None else self.objectives["cost"]

    # ------------------------------------------------------------------ declarations
    def declare(self, d: ast.Objective) -> None:
        if d.name in BUILTIN_OBJECTIVES:
            self.diag.error("E0103", f"`{d.name}` is a built-in objective", d.name_span, "built in",
                            help="choose another name; the built-ins are cost, losses and vdi, and `minimize` "
                                 "takes them without a declaration")
            return
        if d.name in self.declared:
            self.diag.error("E0103", f"objective `{d.name}` is defined twice", d.name_span, "defined again here",
                            secondary=[Label(self.declared[d.name].name_span, "first defined here")],
                            help="rename one of them")
            return
        self.declared[d.name] = d

    def define(self, d: ast.Objective) -> None:
        self.failed.add(d.name)                        # until it succeeds: a reference to itself stays silent
        declared = None
        if d.unit is not None:
            declared = unit_of(d.unit, d.name_span, self.diag)
            if declared is None:
                return
        lin, dim, zero = self.value(d.value)
        if lin is None:
            return
        if declared is not None and dim != declared[1] and not zero:
            self.diag.error("E0203", f"objective `{d.name}` is declared {d.unit} but its value is "
                                     f"{unit_text(dim, self.currency)}", d.value.span,
                            f"this is {unit_text(dim, self.currency)}",
                            help=f"make its value {d.unit}: a weight carries the conversion (`0.2 {self.currency}/kWh "
                                 f"* losses` is {self.currency})")
            return
        if declared is not None:
            dim = declared[1]
        unit, scale = (d.unit, declared[0]) if declared is not None else (unit_text(dim, self.currency), 1.0)
        self.objectives[d.name] = self.to_ir(d.name, dim, unit, scale, lin, d.name_span)
        self.failed.discard(d.name)

    def minimize(self, s: ast.Minimize) -> ObjectiveIR | None:
        v = s.value
        if isinstance(v, ast.Ref) and len(v.parts) == 1 and v.index is None and v.name in self.objectives \
                and v.name not in self.c.env:
            obj = self.objectives[v.name]
            chosen = ObjectiveIR(obj.name, obj.dim, obj.unit, obj.scale,
                                 [ObjectiveTerm(t.quantity, t.coef, t.span or v.span) for t in obj.terms],
                                 obj.constant, s.span, obj.builtin)
        else:
            lin, dim, _ = self.value(v, minimized=True)
            if lin is None:
                return None
            chosen = self.to_ir(fmt_expr(v), dim, unit_text(dim, self.currency), 1.0, lin, s.span)
        if not self.convex(chosen, s):
            return None
        if not chosen.terms:
            self.diag.error("E0506", "nothing to minimize: this objective has no decision in it", v.span,
                            "a constant", help=self.available_help())
            return None
        return chosen

    def convex(self, obj: ObjectiveIR, s: ast.Minimize) -> bool:
        """Losses and vdi may only be minimized (with positive weights): the SOC relaxation is exact when losses
        are minimized, not when they are rewarded, and vdi is an upper estimate made tight by minimizing it. A
        negative weight on cost turns its quadratic terms concave."""
        ok = True
        quadratic = [c for name, insts in self.c.instances.items() if insts
                     for c in self.c.templates[name].costs if c.quadratic]
        for t in obj.terms:
            q = t.quantity
            if not isinstance(q, BuiltinQuantity) or np.all(np.asarray(t.coef) >= 0):
                continue
            if q.name == "losses":
                why = ("with a negative weight, losses are rewarded and the SOC relaxation of the branch flow is no "
                       "longer exact: the optimizer would invent losses")
            elif q.name == "vdi":
                why = ("the deviation |V - 1| is linearized from above, which is exact only when it is minimized; "
                       "with a negative weight it would grow without limit")
            elif quadratic:
                why = "the model's quadratic costs (convex) become concave with a negative weight"
            else:
                continue
            self.diag.error("E0304", f"`{q.name}` cannot be minimized with a negative weight", t.span or s.span,
                            "weighted negatively", secondary=[Label(quadratic[0].span, "a quadratic cost")]
                            if q.name == "cost" else [],
                            notes=[why], help=f"give `{q.name}` a positive weight (a study that trades it off "
                                              "keeps every weight positive)")
            ok = False
        return ok

    # ------------------------------------------------------------------ expressions
    def value(self, e: ast.Expr, minimized: bool = False) -> tuple[_Lin | None, units.Dim | None, bool]:
        """Type and normalize an objective's expression: (its affine form, its dimension, whether it is a plain 0),
        or (None, None, False) after reporting an error."""
        scope = self.scope(e, minimized)
        if scope is None:
            return None, None, False
        ty = ExprTyper(scope, self.diag, "objective", self.currency).ty(e)
        if ty is None:
            return None, None, False
        if ty.timed:
            self.diag.error("E0503", "an objective is one number for the whole horizon, but this has a value per "
                                     "step", e.span, "a value per step",
                            help="sum it over the horizon: `sum(mg1.gas.buy * dt)`, or take one step: `x[last]`")
            return None, None, False
        try:
            lin = self.lin(e)
        except (_Stop, Failed):
            return None, None, False
        return lin, ty.dim, ty.zero

    def scope(self, e: ast.Expr, minimized: bool) -> dict[str, Symbol] | None:
        """The symbols of an objective's names, or None after reporting the names that cannot be used."""
        scope: dict[str, Symbol] = {}
        ok = True
        for ref in ast.refs(e):
            name = ref.name
            if name in scope:
                continue
            kind = self.resolve(ref, minimized)
            if kind is None:
                ok = False
            elif isinstance(kind, Const):
                scope[name] = Symbol("param", kind.dim, kind.is_series)
            elif isinstance(kind, ObjectiveIR):
                scope[name] = Symbol("var", kind.dim, timed=False)
            elif kind == "dt":
                scope[name] = Symbol("dt")
            else:
                _, var = kind
                scope[name] = Symbol("var", var.dim, timed=var.timed)
        return scope if ok else None

    def resolve(self, ref: ast.Ref, minimized: bool):
        """A profile or constant (Const), an objective (ObjectiveIR), "dt", or (VariableQuantity, VarIR) for
        OWNER.INSTANCE.VARIABLE; None after an error."""
        name = ref.name
        if len(ref.parts) == 1:
            if name == "dt":
                return "dt"
            if name in self.c.env:
                value = self.c.env[name]
                return None if value is POISONED else value        # a failed definition, already reported
            if name in self.objectives:
                return self.objectives[name]
            if name in self.failed:
                return None
            if name in BUILTIN_OBJECTIVES:
                self.unavailable(ref)
                return None
            if name in self.declared:
                self.diag.error("E0101", f"objective `{name}` is declared below", ref.span, "not yet declared",
                                secondary=[Label(self.declared[name].name_span, "declared here")],
                                help="an objective may use the objectives declared above it; move it up")
                return None
            self.diag.error("E0101", f"unknown {'objective' if minimized else 'name'} `{name}`", ref.span,
                            "not defined", help=self.available_help(name))
            return None
        inst = self.c.instance_index.get(".".join(ref.parts[:-1])) if len(ref.parts) >= 3 else None
        var = self.c.templates[inst.template].vars.get(ref.parts[-1]) if inst is not None else None
        if var is None:
            self.diag.error("E0109", f"`{name}` is not a variable of an instance", ref.span, "unknown",
                            help="a device quantity is written OWNER.INSTANCE.VARIABLE, e.g. `sum(mg1.chp.p * dt)`; "
                                 + self.available_help())
            return None
        return VariableQuantity(inst.name, inst.template, var.name, inst.owner, var.timed), var

    def unavailable(self, ref: ast.Ref) -> None:
        name = ref.name
        net = self.network
        if net is None and any(isinstance(i, ast.Network) for i in self.c.program.main.items):
            return                          # a network with errors of its own, already reported
        if net is None:
            self.diag.error("E0506", f"`{name}` is not available: the system has no network", ref.span,
                            "needs a network",
                            help=f"`{name}` belongs to the distribution network (declare `network NAME {{ ... }}`"
                                 + (" with `formulation distflow_socp`" if name == "losses" else "") + "); "
                                 + self.available_help())
            return
        self.diag.error("E0506", f"`losses` is not available: network `{net.name}` uses lindistflow, which has no "
                                 "losses", ref.span, "LinDistFlow has no losses",
                        secondary=[Label(net.span, "formulation lindistflow")],
                        notes=["LinDistFlow drops the r·l and x·l terms: its flows arrive whole, so its losses are 0 "
                               "by construction and minimizing them would change nothing"],
                        help="choose `formulation distflow_socp` in the network (the SOC branch flow model, whose "
                             "losses are r·l per line); " + self.available_help(losses_noted=True))

    def available_help(self, name: str | None = None, losses_noted: bool = False) -> str:
        import difflib

        names = list(self.objectives) + [n for n in self.declared if n not in self.objectives]
        close = difflib.get_close_matches(name, names + list(self.c.env), n=1) if name else []
        text = f"did you mean `{close[0]}`? " if close else ""
        text += "objectives here: " + ", ".join(f"`{n}`" for n in names)
        if "losses" not in self.objectives and not losses_noted:
            text += " (`losses` needs a network with `formulation distflow_socp`)"
        return text + "; declare more with `objective NAME: UNIT = EXPR`"

    # ------------------------------------------------------------------ normal form
    def const(self, e: ast.Expr) -> _Lin:
        c = self.c.evaluator(self.c.program.main).eval(e)          # raises Failed after reporting
        return _Lin(c.value, timed=c.is_series)

    def lin(self, e: ast.Expr) -> _Lin:
        if not any(self.resolve_known(r) for r in ast.refs(e)):
            return self.const(e)
        if isinstance(e, ast.Ref):
            return self.lin_ref(e)
        if isinstance(e, ast.Neg):
            return _scale(self.lin(e.operand), -1.0)
        if isinstance(e, ast.BinOp):
            a, b = self.lin(e.left), self.lin(e.right)
            if e.op in "+-":
                return self.add(a, _scale(b, -1.0) if e.op == "-" else b, e)
            if e.op == "*":
                if a.terms and b.terms:
                    raise InternalError("a product of two quantities passed the objective's typing")
                k, other = (a, b) if not a.terms else (b, a)
                return self.scaled(other, k, e)
            if b.terms:
                raise InternalError("a division by a quantity passed the objective's typing")
            if np.any(np.asarray(b.const) == 0):
                self.diag.error("E0404", "division by zero", e.right.span, "this is zero",
                                help="a divisor is never 0; check the value and its unit")
                raise _Stop()
            return self.scaled(a, _Lin(1.0 / np.asarray(b.const, dtype=float) if b.timed else 1.0 / float(b.const),
                                       timed=b.timed), e)
        if isinstance(e, ast.Pow):
            return self.lin(e.base)                     # typing allows only x^1 of a quantity
        if isinstance(e, ast.Call) and e.func == "sum":
            inner = self.lin(e.args[0].value)
            if not inner.timed:
                return inner
            return _Lin(float(np.sum(inner.const)), inner.terms, inner.spans, timed=False)
        raise InternalError(f"an objective's {type(e).__name__} passed typing with quantities in it")

    def resolve_known(self, ref: ast.Ref) -> bool:
        """Whether a name (already resolved without error) is a quantity rather than a constant."""
        return not (len(ref.parts) == 1 and (ref.name == "dt" or ref.name in self.c.env))

    def lin_ref(self, ref: ast.Ref) -> _Lin:
        if len(ref.parts) == 1:
            obj = self.objectives[ref.name]
            terms = {t.quantity: t.coef for t in obj.terms}
            return _Lin(obj.constant, terms, {q: ref.span for q in terms})
        q, var = self.resolve(ref, False)
        idx = ref.index
        if not var.timed:
            return _Lin(0.0, {q: 1.0}, {q: ref.span})
        if idx is None or (idx.base == "t" and idx.offset == 0):
            return _Lin(0.0, {q: np.ones(self.steps)}, {q: ref.span}, timed=True)
        if idx.base == "t":
            self.diag.error("E0503", f"`{ref.name}` is summed at every step in an objective: an offset has no "
                                     "meaning there", idx.span, "an offset",
                            help=f"write `sum({ref.name} * dt)` for the total, or a fixed step: "
                                 f"`{ref.name}[last]`, `{ref.name}[first+2]`")
            raise _Stop()
        pos = idx.offset if idx.base == "first" else self.steps - 1 + idx.offset
        if not 0 <= pos < self.steps:
            self.diag.error("E0503", f"step `{idx.base}{idx.offset:+d}` is outside the horizon of {self.steps} "
                                     "steps", idx.span, "no such step",
                            help=f"steps run from `first` to `last` (`first+{self.steps - 1}`)")
            raise _Stop()
        coef = np.zeros(self.steps)
        coef[pos] = 1.0
        return _Lin(0.0, {q: coef}, {q: ref.span})

    def add(self, a: _Lin, b: _Lin, e: ast.BinOp) -> _Lin:
        if a.timed != b.timed and ((a.terms and not a.timed) or (b.terms and not b.timed)):
            total = e.left if not a.timed else e.right
            self.diag.error("E0503", "this adds a total over the horizon to a value per step", e.span, "",
                            secondary=[Label(total.span, "a total")],
                            help="sum the value per step first: `sum(x * dt) + total`")
            raise _Stop()
        timed = a.timed or b.timed
        const = a.const + b.const
        if timed:
            const = np.broadcast_to(np.asarray(const, dtype=float), (self.steps,)).copy()
        terms = dict(a.terms)
        spans = dict(a.spans)
        for q, k in b.terms.items():
            terms[q] = terms[q] + k if q in terms else k
            spans.setdefault(q, b.spans[q])
        return _Lin(const, terms, spans, timed)

    def scaled(self, x: _Lin, k: _Lin, e: ast.Expr) -> _Lin:
        if k.timed and x.terms and not x.timed:
            self.diag.error("E0503", "a total over the horizon cannot be weighted by a series", e.span, "",
                            help="weigh it by one number, or sum the series first: `sum(price) * losses`")
            raise _Stop()
        out = _scale(x, k.const)
        out.timed = x.timed or k.timed
        if out.timed and not isinstance(out.const, np.ndarray):
            out.const = np.full(self.steps, float(out.const))
        return out

    def to_ir(self, name: str, dim, unit: str, scale: float, lin: _Lin, span) -> ObjectiveIR:
        terms = []
        for q, coef in lin.terms.items():
            coef = np.asarray(coef, dtype=float) if isinstance(coef, np.ndarray) else float(coef)
            if not np.any(coef):
                continue                                 # weighed out (a - a)
            if not check_magnitude(coef, units.NONE, lin.spans[q], self.diag, f"the weight of `{_name_of(q)}`"):
                continue
            terms.append(ObjectiveTerm(q, coef, lin.spans[q]))
        const = float(lin.const)
        check_magnitude(const, dim, span, self.diag, "the objective's constant")
        return ObjectiveIR(name, dim, unit, scale, terms, const, span)


def _scale(x: _Lin, k) -> _Lin:
    return _Lin(x.const * k, {q: c * k for q, c in x.terms.items()}, dict(x.spans), x.timed)


def _name_of(q) -> str:
    return q.name if isinstance(q, BuiltinQuantity) else f"{q.instance}.{q.var}"


def check_objectives(checker, stmts, network: NetworkIR | None, currency: str):
    """(every objective by name: the built-ins available, then the declared ones; the one minimized)."""
    return ObjectiveChecker(checker, network, currency).check(stmts)
