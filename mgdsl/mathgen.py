"""Device templates' mathematics as LaTeX, rendered from the checked syntax tree that is lowered, not comments."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .ir import TemplateIR
from .syntax import ast

# ------------------------------------------------------------------ names -> symbols
# A name is split at its underscores: the head is the symbol, the rest a superscript (p_max -> p^{max},
# eta_ch -> \eta^{ch}, shift_out -> \mathrm{shift}^{out}); the time step is the subscript. A head that names a
# Greek letter is that letter, a one-letter head is itself (italic), any other head is upright (\mathrm).
# Distinct names give distinct symbols. `dt` is \Delta t, the step length in hours.
GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
         "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega")
SYMBOLS = {"dt": r"\Delta t"} | {g: "\\" + g for g in GREEK}
NOTE = ("The steps are t = 0 … N−1 and Δt is the step length in hours; x<sub>−1</sub> is a state before the "
        "first step (its `initial` value). A parameter given as a series over t takes its value at step t. "
        "A constraint that shifts a variable past an end of the horizon (t−1 at the first step without an "
        "`initial`) holds only where the shifted value exists, as the quantifier says. Names are typeset by one "
        "rule: the part after the first underscore is a superscript (`p_max` is p<sup>max</sup>, `eta_ch` is "
        "η<sup>ch</sup>), a Greek letter's name is the letter, another word is upright, and `dt` is Δt.")

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _rm(text: str) -> str:
    return r"\mathrm{" + re.sub(r"([_%$#&{}])", r"\\\1", text) + "}"


def symbol(name: str) -> str:
    """The LaTeX symbol of a name (without a time subscript)."""
    if name in SYMBOLS:
        return SYMBOLS[name]
    parts = name.split("_")
    if len(parts) == 1 or not all(parts) or not all(_WORD.fullmatch(p) for p in parts):
        return _head(name)
    return _head(parts[0]) + "^{" + ",".join(_rm(p) for p in parts[1:]) + "}"


def _head(word: str) -> str:
    if word in GREEK:
        return "\\" + word
    if len(word) == 1 and word.isalpha():
        return word
    return _rm(word)


def unit(text: str) -> str:
    """A unit as written (kW, money/kWh, %) in upright type."""
    if text == "%":
        return r"\%"
    return _rm(text).replace("*", r"\cdot ")


def number(text: str) -> str:
    m = re.fullmatch(r"([0-9.]+)[eE]([+-]?)0*([0-9]+)", text)
    if m:
        mant, sign, exp = m.groups()
        power = "10^{" + ("-" if sign == "-" else "") + exp + "}"
        return power if float(mant) == 1 else mant + r" \times " + power
    return text


# ------------------------------------------------------------------ expressions
@dataclass
class Scope:
    """What the renderer knows of the names of one template."""

    timed: set[str]                   # timed variables (and lets whose value is timed): a bare name is x_t
    initials: set[str]                # variables with an `initial` value (x[t-1] exists at the first step)
    params: set[str]
    lets: dict[str, ast.Expr] = field(default_factory=dict)   # a let's value: its shifts are the user's

    @classmethod
    def of(cls, tpl: TemplateIR) -> Scope:
        timed = {v.name for v in tpl.vars.values() if v.timed}
        for name, let in tpl.lets.items():         # in declaration order: a let may use an earlier one
            if _uses_time(let.value, timed):
                timed.add(name)
        return cls(timed, set(tpl.initials), {p for p in tpl.params if not tpl.params[p].is_carrier},
                   {name: let.value for name, let in tpl.lets.items()})


def _uses_time(e: ast.Expr, timed: set[str]) -> bool:
    """Whether e varies with t outside a sum (a timed name, or an index relative to t)."""
    if isinstance(e, ast.Ref):
        if e.index is not None:
            return e.index.base == "t"
        return len(e.parts) == 1 and e.name in timed
    if isinstance(e, ast.Call):
        return e.func not in ("sum", "max", "min", "mean") and any(_uses_time(a.value, timed) for a in e.args)
    return any(_uses_time(c, timed) for c in _children(e))


def _children(e: ast.Expr) -> list[ast.Expr]:
    if isinstance(e, ast.BinOp):
        return [e.left, e.right]
    if isinstance(e, ast.Neg):
        return [e.operand]
    if isinstance(e, ast.Pow):
        return [e.base, e.exponent]
    if isinstance(e, ast.Call):
        return [a.value for a in e.args]
    if isinstance(e, ast.ListLit):
        return list(e.items)
    return []


def _shifts(e: ast.Expr, scope: Scope) -> tuple[int, int]:
    """(steps lost at the start, steps lost at the end) by the t-k and t+k shifts in e (and in the lets it uses):
    x[t-1] of a variable with an `initial` value exists at the first step; any other shift past an end does not."""
    lo = hi = 0
    if isinstance(e, ast.Ref) and e.index is not None and e.index.base == "t":
        k = e.index.offset
        if k < 0 and not (k == -1 and e.name in scope.initials):
            lo = -k
        elif k > 0:
            hi = k
    if isinstance(e, ast.Ref) and e.index is None and e.name in scope.lets:
        lo, hi = _shifts(scope.lets[e.name], scope)
    for c in _children(e):
        a, b = _shifts(c, scope)
        lo, hi = max(lo, a), max(hi, b)
    return lo, hi


_ADD, _MUL, _NEG, _POW = 1, 2, 3, 4


def _level(e: ast.Expr) -> int:
    if isinstance(e, ast.BinOp):
        return _ADD if e.op in "+-" else _MUL
    if isinstance(e, ast.Neg):
        return _NEG
    if isinstance(e, ast.Quantity) and e.unit:
        return _MUL                                 # 5 kW: a product of a number and a unit
    return 9


def _paren(s: str) -> str:
    return r"\left(" + s + r"\right)"


def _index(ix: ast.Index) -> str:
    if ix.base == "t":
        return "t" if ix.offset == 0 else f"t{ix.offset:+d}"
    if ix.base == "first":
        return str(ix.offset)
    return "N-1" if ix.offset == 0 else f"N-{1 - ix.offset}"


def expr(e: ast.Expr, scope: Scope | None = None) -> str:
    """LaTeX of one expression: x[t-1] -> x_{t-1}, a / b -> \\frac{a}{b}, sum(x) -> \\sum_{t} x_{t}, dt -> \\Delta t."""
    scope = scope or Scope(set(), set(), set())
    return _Render(scope).go(e)


class _Render:
    def __init__(self, scope: Scope):
        self.scope = scope

    def go(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Quantity):
            n = number(e.text)
            return n if not e.unit else n + r"\," + unit(e.unit)
        if isinstance(e, ast.Ref):
            return self.ref(e)
        if isinstance(e, ast.Neg):
            inner = self.go(e.operand)
            return "-" + (_paren(inner) if _level(e.operand) in (_ADD, _NEG) else inner)
        if isinstance(e, ast.BinOp):
            return self.binop(e)
        if isinstance(e, ast.Pow):
            base = self.go(e.base)
            simple = _level(e.base) == 9 and not isinstance(e.base, ast.Call) and "^" not in base
            return (base if simple else _paren(base)) + "^{" + number(e.exponent.text) + "}"
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.String):
            return r'\text{"' + re.sub(r"([_%$#&{}\\])", r"\\\1", e.value) + r'"}'
        if isinstance(e, ast.ListLit):
            return r"\left[" + ", ".join(self.go(i) for i in e.items) + r"\right]"
        raise TypeError(f"internal: cannot render {type(e).__name__}")

    def ref(self, e: ast.Ref) -> str:
        if len(e.parts) > 1:
            base = _rm(e.name)
        else:
            base = symbol(e.name)
        if e.index is not None:
            return base + "_{" + _index(e.index) + "}"
        if len(e.parts) == 1 and e.name in self.scope.timed:
            return base + "_{t}"
        return base

    def binop(self, e: ast.BinOp) -> str:
        if e.op == "/":
            return r"\frac{" + self.go(e.left) + "}{" + self.go(e.right) + "}"
        left, right = self.go(e.left), self.go(e.right)
        if e.op in "+-":
            wrap = _level(e.right) == _NEG or (e.op == "-" and _level(e.right) == _ADD)
            return f"{left} {e.op} {_paren(right) if wrap else right}"
        if _level(e.left) == _ADD:
            left = _paren(left)
        if _level(e.right) in (_ADD, _NEG):
            right = _paren(right)
        return left + r" \cdot " + right

    def call(self, e: ast.Call) -> str:
        args = [a.value for a in e.args]
        if e.func in ("sum", "max", "min", "mean") and len(args) == 1:
            op = {"sum": r"\sum_{t}", "max": r"\max_{t}", "min": r"\min_{t}", "mean": r"\operatorname{mean}_{t}"}
            inner = self.go(args[0])
            return op[e.func] + " " + (_paren(inner) if _level(args[0]) in (_ADD, _NEG) else inner)
        parts = [(f"{_rm(a.name)} = " if a.name else "") + self.go(a.value) for a in e.args]
        return r"\operatorname{" + _rm(e.func)[8:-1] + "}" + _paren(", ".join(parts))


OPS = {"==": "=", "<=": r"\le", ">=": r"\ge", "<": "<", ">": ">"}


def _quantifier(lo: int, hi: int) -> str:
    if lo and hi:
        return rf"{lo} \le t \le N-{1 + hi}"
    if lo:
        return rf"t \ge {lo}"
    if hi:
        return rf"t \le N-{1 + hi}"
    return r"\forall t"


# ------------------------------------------------------------------ one template
@dataclass
class Line:
    math: str                         # the relation
    note: str = ""                    # the label, unit or quantifier (LaTeX), shown beside it


@dataclass
class TemplateMath:
    name: str
    variables: list[Line]
    initials: list[Line]
    lets: list[Line]
    constraints: list[Line]
    conditions: list[Line]
    balance: list[Line]
    cost: list[Line]
    reserve: list[Line] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[Line]]]:
        return [(title, lines) for title, lines in (
            ("Variables", self.variables), ("Definitions", self.lets), ("Initial values", self.initials),
            ("Constraints", self.constraints), ("Balance contributions (per step, into each carrier's balance)",
                                                  self.balance),
            ("Cost (its terms in the objective)", self.cost),
            ("Spinning reserve (per step, into its owner's reserve pool)", self.reserve),
            ("Conditions on the parameters (checked per instance)", self.conditions)) if lines]


def template_math(tpl: TemplateIR) -> TemplateMath:
    scope = Scope.of(tpl)
    r = _Render(scope)
    variables = []
    for v in tpl.vars.values():
        decl = next(s for s in tpl.decl.body if isinstance(s, ast.VarDecl) and s.name == v.name)
        x = symbol(v.name) + ("_{t}" if v.timed else "")
        lo = r.go(v.lower) if v.lower is not None else None
        hi = r.go(v.upper) if v.upper is not None else None
        if v.kind == "binary":
            math = x + r" \in \{0, 1\}"
        elif lo is not None and hi is not None:
            math = rf"{lo} \le {x} \le {hi}"
        elif lo is not None:
            math = rf"{x} \ge {lo}"
        elif hi is not None:
            math = rf"{x} \le {hi}"
        else:
            math = x + r" \in \mathbb{R}"
        if v.kind == "integer":
            math += r",\ " + x + r" \in \mathbb{Z}"
        notes = [unit(decl.unit)] if decl.unit else []
        if v.timed:
            notes.append(r"\forall t")
        variables.append(Line(math, r",\ ".join(notes)))
    initials = [Line(symbol(name) + "_{-1} = " + r.go(i.value)) for name, i in tpl.initials.items()]
    lets = [Line(symbol(name) + ("_{t}" if name in scope.timed else "") + " := " + r.go(let.value))
            for name, let in tpl.lets.items()]
    constraints, conditions = [], []
    for c in tpl.constraints:
        stmt = c.stmt
        math = r.go(stmt.terms[0])
        for op, term in zip(stmt.ops, stmt.terms[1:]):
            math += f" {OPS[op]} {r.go(term)}"
        if c.is_assertion:
            conditions.append(Line(math))
            continue
        notes = []
        if any(_uses_time(t, scope.timed) for t in stmt.terms):
            lo = hi = 0
            for t in stmt.terms:
                a, b = _shifts(t, scope)
                lo, hi = max(lo, a), max(hi, b)
            notes.append(_quantifier(lo, hi))
        if stmt.label:
            notes.append(r"\text{(" + _rm(stmt.label)[8:-1] + ")}")
        constraints.append(Line(math, r"\quad ".join(notes)))
    balance = []
    by_carrier: dict[str, list[str]] = {}
    for p in tpl.ports:
        term = r.go(p.value)
        if p.sign < 0:
            term = "- " + (_paren(term) if _level(p.value) in (_ADD, _NEG) else term)
        elif _level(p.value) == _NEG:
            term = "+ " + _paren(term)
        else:
            term = "+ " + term
        by_carrier.setdefault(p.carrier, []).append(term)
    for carrier, terms in by_carrier.items():
        name = symbol(carrier) if carrier in tpl.params else _rm(carrier)
        math = " ".join(terms)
        balance.append(Line(math[2:] if math.startswith("+ ") else math, r"\text{into } " + name + r",\ \forall t"))
    cost = []
    for c in tpl.costs:
        value = r.go(c.value)
        if _uses_time(c.value, scope.timed):
            value = r"\sum_{t} " + (_paren(value) if _level(c.value) in (_ADD, _NEG) else value)
        cost.append(value)
    cost_lines = [Line(r"\mathrm{cost} = " + " + ".join(cost))] if cost else []
    reserve = [Line(("- " if rs.sign < 0 else "") + r.go(rs.value),
                    r"\text{into " + rs.direction + r" reserve},\ \forall t") for rs in tpl.reserves]
    return TemplateMath(tpl.name, variables, initials, lets, constraints, conditions, balance, cost_lines, reserve)


# ------------------------------------------------------------------ documents
def _aligned(lines: list[Line]) -> str:
    rows = [f"& {ln.math}" + (f" && {ln.note}" if ln.note else "") for ln in lines]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def markdown_body(tpl: TemplateIR, heading: str = "####") -> list[str]:
    """Markdown lines of one template's mathematics: a paragraph and a $$ block per section."""
    out = []
    for title, lines in template_math(tpl).sections():
        out += [f"{heading} {title}" if heading else f"{title}:", "", "$$", _aligned(lines), "$$", ""]
    return out


def tex_body(tpl: TemplateIR) -> str:
    """LaTeX of one template: a subsection with a paragraph and an aligned display per section."""
    out = [r"\subsection*{" + _rm(tpl.name)[8:-1] + "}", ""]
    for title, lines in template_math(tpl).sections():
        out += [r"\paragraph{" + title + "}", r"\[", _aligned(lines), r"\]", ""]
    return "\n".join(out)


def render(templates: list[TemplateIR], fmt: str = "md", title: str | None = None) -> str:
    """A whole document (md: Markdown with $$ blocks; tex: a LaTeX fragment with amsmath displays)."""
    if fmt == "tex":
        head = [f"% {title}" if title else "% generated by mgdsl math", ""]
        return "\n".join(head + [tex_body(t) for t in templates]).rstrip() + "\n"
    out = [f"# {title}" if title else "# Mathematics", "", NOTE, ""]
    for t in templates:
        out += [f"## {t.name}", ""] + markdown_body(t, heading="###")
    return "\n".join(out).rstrip() + "\n"


def stdlib_template(name: str) -> TemplateIR | None:
    from .docgen import stdlib_templates

    for _, _, templates in stdlib_templates():
        for t in templates:
            if t.name == name:
                return t
    return None


def file_templates(path: str | Path, allow_read=None) -> list[TemplateIR]:
    """The templates a file defines (in its order), then those of the library it uses; a file of templates only
    (a library) is checked template by template."""
    from .api import load
    from .diagnostics import Collector
    from .sema.templates import check_template
    from .source import SourceFile
    from .syntax.parser import parse

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return load(path, allow_read=allow_read).ir.used_templates()   # reports the file it cannot read
    module = parse(SourceFile(str(path), text))
    if all(isinstance(i, ast.Device | ast.Use) for i in module.items):
        diag = Collector()
        templates = [check_template(i, diag) for i in module.items if isinstance(i, ast.Device)]
        diag.raise_if_any()
        return templates
    ir = load(path, allow_read=allow_read).ir
    own = [i.name for i in module.items if isinstance(i, ast.Device)]
    used = [t.name for t in ir.used_templates()]
    return [ir.templates[n] for n in own + [u for u in used if u not in own]]
