"""Static typing of template expressions: dimension, polynomial degree in the variables, time use.
Reports unit mismatches, nonlinear products and misplaced time indices as diagnostics."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Collector, Label
from ..syntax import ast
from . import units
from .units import Dim


@dataclass(frozen=True)
class Ty:
    dim: Dim
    degree: int = 0                       # 0 constant, 1 linear, 2 quadratic in the variables
    timed: bool = False                   # depends on the time index t
    zero: bool = False                    # a literal 0: compatible with any dimension
    variables: frozenset = field(default_factory=frozenset)   # (name, index text) of variables used


@dataclass
class Symbol:
    kind: str                             # param | var | let | dt | carrier
    dim: Dim | None = None
    timed: bool = False
    ty: Ty | None = None                  # for let
    span: object = None


FUNCTIONS = ("sum", "max", "min", "mean")
# Math functions of plain numbers, evaluated where values are known (sema/values.py): system files and
# parameter defaults. A template's body refers to them through a parameter (E0412, E0413).
MATH_FUNCTIONS = ("sqrt", "exp", "log", "sin", "cos", "tan", "asin", "acos", "atan")

# How to stay linear, by context (the default speaks of constraints).
_LINEAR_HELP = {"objective": "an objective is a weighted sum of quantities: scale and add them "
                             "(`cost + 0.2 yuan/kWh * losses`); quadratic terms belong in a template's `cost +=`"}


_UNITS_READ: dict[str, tuple[float, Dim]] = {}       # unit text -> its parse (a large file repeats a few units)


def unit_of(text: str, span, diag: Collector, what: str = "unit") -> tuple[float, Dim] | None:
    known = _UNITS_READ.get(text)
    if known is not None:
        return known
    try:
        known = _UNITS_READ[text] = units.parse_unit(text)
        return known
    except units.UnitError as e:
        diag.error("E0107", f"unknown unit `{e.name}`", span, "not a unit",
                   help=_unit_hint(e.name, text))
        return None


def _unit_hint(name: str, text: str) -> str:
    close = [u for u in units.UNITS if u.lower() == name.lower()]
    if close:
        return f"did you mean `{close[0]}`? units are case-sensitive"
    if "/" in text:
        return "compound units are written without spaces (`yuan/kWh`); put spaces around `/` to divide by a name"
    return "see `mgdsl explain E0107` for the list of units"


def conversion_hint(a: Dim, b: Dim) -> str:
    if a == b * units.TIME or b == a * units.TIME:
        return "multiply by `dt` (h) to turn power into energy, or divide energy by `dt`"
    return "both sides of `+`, `-` and comparisons need the same dimension"


class ExprTyper:
    """Types one expression in a scope; `context` is 'constraint', 'cost', 'port', 'bound', 'value', 'default',
    'objective' or 'couple' (a system file's coupling: as 'constraint', but a math function's fix is a `let`)."""

    def __init__(self, scope: dict[str, Symbol], diag: Collector, context: str, currency: str | None = None):
        self.scope = scope
        self.diag = diag
        self.context = context
        self.currency = currency              # names money in messages (a system's currency)

    def describe(self, dim: Dim) -> str:
        text = units.describe(dim)
        return text.replace("money", self.currency) if self.currency else text

    def check_same(self, a: Ty, b: Ty, span_a, span_b, op_span, verb: str) -> bool:
        if a.dim == b.dim or a.zero or b.zero:
            return True
        hint = conversion_hint(a.dim, b.dim)
        if self.context == "objective":
            hint = ("every term of an objective has the same unit: a weight carries the conversion "
                    f"(`0.2 {self.describe(units.MONEY)}/kWh * losses` is {self.describe(units.MONEY)})")
        self.diag.error(
            "E0201", f"unit mismatch: cannot {verb} {self.describe(a.dim)} and {self.describe(b.dim)}",
            op_span, f"this is {self.describe(a.dim)}" if span_a is op_span else "",
            secondary=[Label(span_a, f"this is {self.describe(a.dim)}"),
                       Label(span_b, f"this is {self.describe(b.dim)}")],
            help=hint)
        return False

    def ty(self, e: ast.Expr) -> Ty | None:
        method = getattr(self, "t_" + type(e).__name__)
        return method(e)

    def t_Quantity(self, e: ast.Quantity) -> Ty | None:
        if e.unit is None:
            return Ty(units.NONE, zero=(e.value == 0))
        u = unit_of(e.unit, e.unit_span or e.span, self.diag)
        return None if u is None else Ty(u[1])

    def t_String(self, e: ast.String) -> Ty | None:
        self.diag.error("E0504", "a string is not a value here", e.span, "strings name files, in `csv(...)`",
                        help="remove the quotes, or move the data into a profile")
        return None

    def t_ListLit(self, e: ast.ListLit) -> Ty | None:
        self.diag.error("E0504", "a list is not allowed in a device template", e.span, "a time series",
                        help="declare a parameter and pass the series as an argument from the system file")
        return None

    def t_Ref(self, e: ast.Ref) -> Ty | None:
        name = e.name
        sym = self.scope.get(name)
        if sym is None:
            self.diag.error("E0101", f"unknown name `{name}`", e.span, "not defined here",
                            help=_suggest(name, self.scope))
            return None
        if sym.kind == "carrier":
            self.diag.error("E0504", f"`{name}` is a carrier, not a value", e.span, "a carrier",
                            help="carriers appear only after `port`")
            return None
        if sym.kind == "var":
            if e.index is not None and not sym.timed:
                self.diag.error("E0503", f"`{name}` has no time index", e.index.span, "declared without [t]",
                                help=f"declare it as `var {name}[t]: ...`, or drop the index")
                return None
            timed = sym.timed and (e.index is None or e.index.base == "t")
            key = (name, "" if e.index is None else _index_key(e.index))
            return Ty(sym.dim, 1, timed, variables=frozenset([key]))
        if e.index is not None:
            self.diag.error("E0503", f"`{name}` cannot be indexed in time", e.index.span, "not a variable",
                            help="time offsets (t-1, first, last) apply to variables declared with [t]")
            return None
        if sym.kind == "let":
            return sym.ty
        if sym.kind == "dt":
            return Ty(units.TIME)
        return Ty(sym.dim, 0, sym.timed)

    def t_Call(self, e: ast.Call) -> Ty | None:
        if e.func in MATH_FUNCTIONS:
            return self.math_call(e)
        if e.func not in FUNCTIONS:
            self.diag.error("E0101", f"unknown function `{e.func}`", e.func_span, "not a function here",
                            help="functions in templates: sum(expr) over the horizon; max, min, mean of parameters")
            return None
        if len(e.args) != 1 or e.args[0].name is not None:
            self.diag.error("E0106", f"`{e.func}` takes exactly one expression", e.span, "",
                            help="write `sum(p * dt)` for the total over the horizon")
            return None
        inner = self.ty(e.args[0].value)
        if inner is None:
            return None
        if e.func != "sum" and inner.degree > 0:
            self.diag.error("E0301", f"`{e.func}` of a decision variable is not linear", e.span, "",
                            help=f"`{e.func}` applies to parameters only")
            return None
        return Ty(inner.dim, inner.degree, False, inner.zero, inner.variables)

    def math_call(self, e: ast.Call) -> Ty | None:
        """A math function: typed in a parameter's default (context "default", evaluated per instance by
        sema/values.py, with the same rules); refused elsewhere in a template or an objective, as lowering
        builds the model from parameters' values without evaluating functions of them."""
        if len(e.args) != 1 or e.args[0].name is not None:
            self.diag.error("E0106", f"`{e.func}` takes one argument", e.span, "", help=f"write `{e.func}(x)`")
            return None
        arg = e.args[0].value
        inner = self.ty(arg)
        if inner is None:
            return None
        if inner.degree > 0:
            self.diag.error("E0412", f"`{e.func}` of a decision variable is not linear", arg.span,
                            "a decision variable", help=f"`{e.func}` applies to numbers known before the solve: "
                                                         "parameters, profiles, constants")
            return None
        if self.context in ("objective", "couple"):          # a system file's: a `let` holds the value
            where = "an objective" if self.context == "objective" else "a coupling"
            self.diag.error("E0413", f"`{e.func}` is evaluated in a `let`, not in {where}", e.span, "not here",
                            help=f"name the value in the system file (`let k = {e.func}(...)`) and use `k` here")
            return None
        if self.context != "default":
            example = "tan_phi: kvar/kW = tan(acos(pf)) * 1 kvar/kW" if e.func in ("tan", "acos") else \
                f"k = {e.func}(x)"
            self.diag.error("E0413", f"`{e.func}` is evaluated in a parameter's default, not here", e.span,
                            "not here", help=f"add a parameter with this default (`{example}`) and use it here")
            return None
        dim = inner.dim
        if not inner.zero and dim != units.NONE:
            if e.func != "sqrt" or any(x % 2 for x in dim.exps):
                what = "the square root of" if e.func == "sqrt" else f"`{e.func}` of"
                self.diag.error("E0410", f"{what} {self.describe(dim)} has no unit", arg.span,
                                f"this is {self.describe(dim)}",
                                help=f"`{e.func}` takes a plain number (`%` and `pu` are plain numbers): divide by "
                                     "a unit first, as in `p / 1 kW`")
                return None
            dim = Dim(tuple(x // 2 for x in dim.exps))
        else:
            dim = units.NONE
        return Ty(dim, 0, inner.timed)

    def t_Neg(self, e: ast.Neg) -> Ty | None:
        return self.ty(e.operand)

    def t_BinOp(self, e: ast.BinOp) -> Ty | None:
        a, b = self.ty(e.left), self.ty(e.right)
        if a is None or b is None:
            return None
        timed = a.timed or b.timed
        vars_ = a.variables | b.variables
        if e.op in "+-":
            if not self.check_same(a, b, e.left.span, e.right.span, e.span, "add" if e.op == "+" else "subtract"):
                return None
            dim = b.dim if a.zero else a.dim
            return Ty(dim, max(a.degree, b.degree), timed, a.zero and b.zero, vars_)
        if e.op == "*":
            degree = a.degree + b.degree
            if degree >= 2 and not self.allow_quadratic(e, a, b):
                return None
            return Ty(a.dim * b.dim, degree, timed, a.zero or b.zero, vars_)
        # division
        if b.degree > 0:
            self.diag.error("E0301", "division by a decision variable is not linear", e.right.span,
                            "this contains a variable", help="divide only by parameters and constants")
            return None
        return Ty(a.dim / b.dim, a.degree, timed, a.zero, vars_)

    def allow_quadratic(self, e: ast.BinOp, a: Ty, b: Ty) -> bool:
        if self.context == "cost" and min(a.degree, b.degree) == 0 and max(a.degree, b.degree) == 2:
            return True                   # a coefficient times a square already checked
        names_a = ", ".join(f"`{n}`" for n, _ in sorted(a.variables))
        names_b = ", ".join(f"`{n}`" for n, _ in sorted(b.variables))
        if self.context != "cost":
            what = "quantities" if self.context == "objective" else "variables"
            self.diag.error("E0301", f"nonlinear product of {what} {names_a} and {names_b}", e.span,
                            f"a product of two {what}",
                            secondary=[Label(e.left.span, f"contains {names_a}"),
                                       Label(e.right.span, f"contains {names_b}")],
                            help=_LINEAR_HELP.get(self.context, "constraints must be linear; quadratic terms are "
                                                                "allowed only in `cost +=`"))
            return False
        if a.degree + b.degree > 2 or a.variables != b.variables or len(a.variables) != 1:
            self.diag.error("E0303", "a quadratic cost must be a multiple of one variable squared", e.span,
                            "not of the form a * x^2",
                            help="write `cost += a * p^2 * dt` with a non-negative coefficient `a`")
            return False
        return True

    def t_Pow(self, e: ast.Pow) -> Ty | None:
        base = self.ty(e.base)
        if base is None:
            return None
        k = e.exponent.value
        if k != int(k) or k < 0:
            self.diag.error("E0204", f"exponent {e.exponent.text} is not a whole number", e.exponent.span, "",
                            help="only whole, non-negative exponents are supported")
            return None
        k = int(k)
        if base.degree == 0:
            return Ty(base.dim ** k, 0, base.timed, base.zero and k > 0, base.variables)
        if k == 1:
            return base
        if k == 2 and self.context == "cost" and base.degree == 1 and len(base.variables) == 1:
            return Ty(base.dim ** 2, 2, base.timed, False, base.variables)
        if self.context != "cost":
            self.diag.error("E0302", "a power of a variable is not linear", e.span, "quadratic or higher",
                            help=_LINEAR_HELP.get(self.context, "quadratic terms are allowed only in `cost +=` "
                                                                "statements"))
        else:
            self.diag.error("E0204", "only the square of a single variable is allowed in a cost", e.span, "",
                            help="write `a * p^2` with `p` a variable")
        return None


def _index_key(i: ast.Index) -> str:
    return i.base if i.offset == 0 else f"{i.base}{i.offset:+d}"


def _suggest(name: str, scope: dict) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(scope), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return "names in scope: " + ", ".join(sorted(k for k in scope)[:12]) if scope else "nothing is in scope here"

