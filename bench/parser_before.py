"""The parser as it was before issue 13, kept to measure the current one against in the same run
(bench_startup.py): lark's LALR parser with `propagate_positions`, its parse tree, then a walk of the tree that
builds the AST (the code below is mgdsl/syntax/parser.py's `_Builder` of commit 8cc8919, the last one with a
tree). The collector is left on, as it was. Syntax errors are left to the current parser; a rule this builder
does not know (a construct added to the grammar since) raises AttributeError: the benchmark's file uses none."""
from __future__ import annotations

import functools
import math
import re

import lark
from lark import Token, Tree

from mgdsl.diagnostics import Collector, InternalError, MgdError
from mgdsl.resources import grammar_text
from mgdsl.sema.limits import MAX_EXPRESSION_DEPTH, MAX_TIME_OFFSET
from mgdsl.source import SourceFile, Span
from mgdsl.syntax import ast
from mgdsl.syntax import parser as current
from mgdsl.syntax.parser import _attach


@functools.lru_cache(maxsize=1)
def lark_parser() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True, postlex=current._NewlinePostLexer(), cache=True)


def parse(file: SourceFile) -> ast.Module:
    try:
        tree = lark_parser().parse(file.text)
    except lark.exceptions.UnexpectedInput:
        return current.parse(file)                 # raises the syntax errors
    builder = _Builder(file)
    module = builder.module(tree)
    builder.diag.raise_if_any()
    comments = _comment_positions(file)
    _attach(module.items, comments, module.closing_comments, file, 0)
    return module


# ------------------------------------------------------------------ tree -> AST (as it was)
class _TooDeep(Exception):
    """An expression nests deeper than MAX_EXPRESSION_DEPTH: every later stage walks expressions recursively."""


class _Builder:
    """Builds the AST from lark's tree. Numbers that are not finite, time offsets out of range and
    expressions nested too deeply are reported here, at their place, so no later stage meets them."""

    def __init__(self, file: SourceFile):
        self.file = file
        self.diag = Collector()

    def span(self, node) -> Span:
        if isinstance(node, Token):
            return self.file.span(node.start_pos, node.end_pos)
        meta = node.meta
        if getattr(meta, "empty", True):
            return self.file.span(0, 0)
        return self.file.span(meta.start_pos, meta.end_pos)

    def module(self, tree: Tree) -> ast.Module:
        return ast.Module([self.item(c) for c in tree.children if isinstance(c, Tree)], self.file)

    def item(self, t: Tree) -> ast.Stmt:
        return getattr(self, "s_" + t.data)(t, self.span(t))

    # ---- top level
    def s_use(self, t, sp):
        tok = t.children[0]
        if tok.type == "STRING":
            return ast.Use(sp, _unquote(tok.value), True)
        return ast.Use(sp, tok.value, False)

    def s_horizon(self, t, sp):
        steps, num, unit = t.children
        return ast.Horizon(sp, self.qty(steps, None), self.qty(num, unit))

    def s_profile(self, t, sp):
        uncertain, name, unit, dist, value = t.children
        law = None
        if dist is not None:
            kind, arg = dist.children
            law = ast.Distribution(self.span(dist), kind.value, self.span(kind), self.expr(arg))
        return ast.Profile(sp, name.value, unit.value if unit else None, self.expr(value), self.span(name),
                           uncertain is not None, law)

    def s_let(self, t, sp):
        name, unit, value = t.children
        return ast.Let(sp, name.value, unit.value if unit else None, self.expr(value), self.span(name))

    def s_objective(self, t, sp):
        name, unit, value = t.children
        return ast.Objective(sp, name.value, unit.value if unit else None, self.expr(value), self.span(name))

    def s_minimize(self, t, sp):
        return ast.Minimize(sp, self.expr(t.children[0]))

    # ---- devices
    def s_device(self, t, sp):
        name = t.children[0]
        params, body = [], []
        for c in t.children[1:]:
            if not isinstance(c, Tree):
                continue
            if c.data in ("carrier_param", "value_param"):
                params.append(self.param(c))
            else:
                body.append(self.item(c))
        return ast.Device(sp, name.value, params, body, self.span(name))

    def param(self, c: Tree) -> ast.Param:
        if c.data == "carrier_param":
            return ast.Param(c.children[0].value, True, None, None, self.span(c))
        name, unit, default = c.children
        return ast.Param(name.value, False, unit.value if unit else None,
                         self.expr(default) if default is not None else None, self.span(c))

    def s_var_decl(self, t, sp):
        name, time_index, vtype, bounds = t.children
        kind = vtype.data
        unit_tok = vtype.children[0] if vtype.children else None
        unit = unit_tok.value if unit_tok is not None else None
        lower = upper = None
        form = "none"
        if bounds is not None:
            if bounds.data == "bounds_range":
                lower, upper = self.expr(bounds.children[0]), self.expr(bounds.children[1])
                form = "range"
            else:
                op, value = bounds.children
                if op.value == ">=":
                    lower, form = self.expr(value), "lower"
                elif op.value == "<=":
                    upper, form = self.expr(value), "upper"
                else:
                    raise MgdError([_diag_bound_eq(self.span(op))])
        return ast.VarDecl(sp, name.value, time_index is not None, kind, unit, lower, upper, self.span(name),
                           bound_form=form)

    def s_constraint(self, t, sp):
        label = t.children[0]
        terms, ops = [], []
        for c in t.children[1:]:
            if isinstance(c, Token) and c.type == "CMP":
                ops.append(c.value)
            else:
                terms.append(self.expr(c))
        return ast.Constraint(sp, label.value if label else None, terms, ops)

    def s_initial(self, t, sp):
        name, value = t.children
        return ast.Initial(sp, name.value, self.expr(value), self.span(name))

    def s_port(self, t, sp):
        carrier, op, value = t.children
        return ast.Port(sp, carrier.value, 1 if op.value == "+=" else -1, self.expr(value), self.span(carrier))

    def s_cost(self, t, sp):
        return ast.Cost(sp, self.expr(t.children[0]))

    def s_reserve_share(self, t, sp):
        direction, op, value = t.children
        return ast.ReserveShare(sp, direction.value, 1 if op.value == "+=" else -1, self.expr(value),
                                self.span(direction))

    def s_reserve_req(self, t, sp):
        direction, op, value = t.children
        return ast.ReserveRequirement(sp, direction.value, op.value, self.expr(value), self.span(direction))

    # ---- network
    def s_network(self, t, sp):
        name = t.children[0]
        body = [self.item(c) for c in t.children[1:] if isinstance(c, Tree)]
        return ast.Network(sp, name.value, body, self.span(name))

    def s_net_base(self, t, sp):
        return ast.NetBase(sp, self.expr(t.children[0]), self.expr(t.children[1]))

    def s_net_voltage(self, t, sp):
        return ast.NetVoltage(sp, self.expr(t.children[0]), self.expr(t.children[1]))

    def s_net_formulation(self, t, sp):
        name, *rest = t.children
        args = None
        if len(t.children) > 1 or sp.text.rstrip().endswith(")"):
            args = [self.arg(a) for a in rest if isinstance(a, Tree)]
        return ast.NetFormulation(sp, name.value, self.span(name), args)

    def s_net_buses(self, t, sp):
        ranges = []
        for r in t.children:
            first, last = r.children
            ranges.append(ast.BusRange(self.qty(first, None), self.qty(last, None) if last else None, self.span(r)))
        return ast.NetBuses(sp, ranges)

    def s_net_slack(self, t, sp):
        bus, at, limit, buy, sell = t.children
        return ast.NetSlack(sp, self.qty(bus, None), self.expr(buy.children[0]) if buy else None,
                            self.expr(sell.children[0]) if sell else None,
                            self.expr(at.children[0]) if at else None,
                            self.expr(limit.children[0]) if limit else None)

    def s_net_lines(self, t, sp):
        return ast.NetLines(sp, self.expr(t.children[0]))

    def s_net_line(self, t, sp):
        a, b, *args = t.children
        return ast.NetLine(sp, self.qty(a, None), self.qty(b, None), [self.arg(x) for x in args])

    def s_net_loads(self, t, sp):
        return ast.NetLoads(sp, self.expr(t.children[0]))

    def s_net_from(self, t, sp):
        return ast.NetFrom(sp, self.expr(t.children[0]))

    def s_net_load(self, t, sp):
        bus, *args = t.children
        return ast.NetLoad(sp, self.qty(bus, None), [self.arg(x) for x in args])

    def s_net_at(self, t, sp):
        buses = [self.qty(c, None) for c in t.children if isinstance(c, Token) and c.type == "NUMBER"]
        name = next((c for c in t.children if isinstance(c, Token) and c.type == "NAME"), None)
        call = self.call(t.children[-1])
        return ast.NetAt(sp, buses, name.value if name else None, call)

    # ---- microgrids and structure
    def s_microgrid(self, t, sp):
        name, at, limit, *body = t.children
        at_net = at_bus = at_span = None
        if at is not None:
            at_net, at_bus, at_span = at.children[0].value, self.qty(at.children[1], None), self.span(at)
        lim = self.expr(limit.children[0]) if limit is not None else None
        return ast.Microgrid(sp, name.value, at_net, at_bus, lim, [self.item(c) for c in body if isinstance(c, Tree)],
                             self.span(name), at_span)

    def s_instance(self, t, sp):
        name, call = t.children
        return ast.Instance(sp, name.value, self.call(call), self.span(name))

    def s_cluster(self, t, sp):
        name, *members = t.children
        return ast.Cluster(sp, name.value, [(m.value, self.span(m)) for m in members], self.span(name))

    def s_switch(self, t, sp):
        name, a, b, limit = t.children
        return ast.Switch(sp, name.value, self.endpoint(a), self.endpoint(b), self.expr(limit), self.span(name))

    def endpoint(self, t):
        name, bus = t.children
        return ast.Endpoint(name.value, self.qty(bus, None) if bus is not None else None, self.span(t))

    def s_couple(self, t, sp):
        name, lhs, op, rhs = t.children
        return ast.Couple(sp, name.value, self.expr(lhs), op.value, self.expr(rhs), self.span(name))

    def s_decompose(self, t, sp):
        method, *settings = t.children
        out = [ast.Setting(s.children[0].value, self.expr(s.children[1]), self.span(s)) for s in settings]
        return ast.Decompose(sp, method.value, out)

    # ---- expressions
    def qty(self, num: Token, unit: Token | None) -> ast.Quantity:
        sp = self.span(num) if unit is None else self.span(num).to(self.span(unit))
        text = num.value
        if not math.isfinite(float(text)):
            self.diag.error("E0404", f"the number `{_clip(text)}` is too large", self.span(num),
                            "beyond the largest number (about 1.8e308)",
                            help="write a value in a larger unit (MW, MWh), or check the exponent")
            text = "0"
        return ast.Quantity(text, unit.value if unit is not None else None, sp,
                            self.span(unit) if unit is not None else None)

    def arg(self, t: Tree, depth: int = 0) -> ast.Arg:
        """An argument; `depth` > 0 continues the nesting of the expression it is in."""
        name, value = t.children
        return ast.Arg(name.value if name else None, self.expr(value, depth), self.span(t),
                       self.span(name) if name else None)

    def call(self, t: Tree, depth: int | None = None) -> ast.Call:
        """A call; `depth` is its nesting inside an expression, None for a statement's call (an instance), whose
        arguments are expressions of their own."""
        name, *args = t.children
        inner = 0 if depth is None else depth + 1
        return ast.Call(name.value, [self.arg(a, inner) for a in args if a is not None], self.span(t),
                        self.span(name))

    def expr(self, t, depth: int = 0) -> ast.Expr:
        """The AST of an expression; `depth` is its nesting below the statement's top expression."""
        if depth:
            return self._expr(t, depth)
        try:
            return self._expr(t, 0)
        except _TooDeep:
            sp = self.span(t)
            self.diag.error("E0004", f"this expression nests more than {MAX_EXPRESSION_DEPTH} levels deep", sp,
                            "too deep", help="split it: name parts with `let` (a sum of n terms is n levels deep)")
            return ast.Quantity("0", None, sp)

    def _expr(self, t, depth: int) -> ast.Expr:
        if depth > MAX_EXPRESSION_DEPTH:
            raise _TooDeep()
        deeper = depth + 1
        sp = self.span(t)
        if isinstance(t, Token):
            if t.type == "NUMBER":
                return self.qty(t, None)
            if t.type == "STRING":
                return ast.String(_unquote(t.value), sp)
            raise InternalError(f"the grammar produced an expression token {t.type}")
        kind = t.data
        if kind == "quantity":
            return self.qty(t.children[0], t.children[1])
        if kind == "ref":
            *names, index = t.children
            return ast.Ref([n.value for n in names], self.index(index) if index is not None else None, sp)
        if kind == "call":
            return self.call(t, depth)
        if kind == "string":
            return ast.String(_unquote(t.children[0].value), sp)
        if kind == "list":
            return ast.ListLit([self._expr(c, deeper) for c in t.children if c is not None], sp)
        if kind == "neg":
            return ast.Neg(self._expr(t.children[0], deeper), sp)
        if kind in ("add", "sub", "mul", "div"):
            op = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[kind]
            return ast.BinOp(op, self._expr(t.children[0], deeper), self._expr(t.children[1], deeper), sp)
        if kind == "pow":
            return ast.Pow(self._expr(t.children[0], deeper), self.qty(t.children[1], None), sp)
        raise AssertionError(f"unexpected rule {kind}")

    def index(self, t: Tree) -> ast.Index:
        base, offset = t.children
        k = 0
        if offset is not None:
            tok = offset.children[0]
            value = float(tok.value)
            if not (value == int(value) if math.isfinite(value) else False) or value > MAX_TIME_OFFSET:
                self.diag.error("E0503", f"the time offset `{_clip(tok.value)}` is not a whole number of steps "
                                         f"up to {MAX_TIME_OFFSET:,}", self.span(tok), "not a step count",
                                help="write a whole number of steps, as in `x[t-1]` or `x[last-2]`")
            else:
                k = int(value)
            if offset.data == "minus_offset":
                k = -k
        return ast.Index(base.value, k, self.span(t))


def _diag_bound_eq(span: Span):
    from ..diagnostics import Diagnostic

    return Diagnostic("E0001", "a variable bound cannot be an equality", span, "use `in a .. b`, `>=` or `<=`",
                      help="to fix a variable, write a constraint: `x[t] == value`")


def _clip(text: str, width: int = 24) -> str:
    """A token as quoted in a message: long numbers are shortened."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


# ------------------------------------------------------------------ comments (as it was)
_COMMENT = re.compile(r"#[^\n]*")


def _comment_positions(file: SourceFile) -> list[tuple[int, str]]:
    """Comments found by scanning the text outside strings."""
    out = []
    text = file.text
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif ch == "#":
            m = _COMMENT.match(text, i)
            out.append((i, m.group(0).rstrip()))
            i = m.end()
        else:
            i += 1
    return out

