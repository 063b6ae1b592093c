"""Text -> AST: a cached lark LALR parser, a newline post-lexer, comment attachment, syntax diagnostics."""
from __future__ import annotations

import contextlib
import functools
import gc
import math
import re

import lark
from lark import Token, Tree

from ..diagnostics import Collector, InternalError, MgdError
from ..resources import grammar_text
from ..sema.limits import MAX_EXPRESSION_DEPTH, MAX_REPARSED_CHARS, MAX_SYNTAX_ERRORS, MAX_TIME_OFFSET
from ..source import SourceFile, Span
from . import ast

_CONTINUATION_VALUES = {"+", "-", "*", "/", ",", "=", "^", "..", "+=", "-="}


class _NewlinePostLexer:
    """Drop newlines inside ( ) and [ ] and after a binary operator or comma; collapse repeats."""

    always_accept = ("_NL",)

    def process(self, stream):
        # Tokens must be yielded at once, never buffered: the contextual lexer lexes the next token
        # in the parser state reached by the tokens already yielded.
        depth = 0
        prev: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if depth > 0 or prev is None or prev.type == "_NL" or prev.value in _CONTINUATION_VALUES \
                        or prev.type == "CMP":
                    continue
            elif tok.value in ("(", "["):
                depth += 1
            elif tok.value in (")", "]"):
                depth = max(0, depth - 1)
            prev = tok
            yield tok


class _Pos:
    """Where a rule's text lies: `start_pos`/`end_pos` of the node itself (a `?rule` that passes its only child
    up keeps the child's own), `cs`/`ce` of everything its rule matched (parentheses included); the parent
    extends from these. What lark's propagate_positions computes, without lines and columns (SourceFile
    finds those from offsets) and at a third of its cost."""

    __slots__ = ("start_pos", "end_pos", "cs", "ce")
    empty = False

    def __init__(self, start: int, end: int):
        self.start_pos = self.cs = start
        self.end_pos = self.ce = end


def _positioned(build):
    """Wrap one rule's tree builder: give the tree it returns a _Pos from its raw children (tokens, trees)."""
    def reduce(children, build=build, Tree=Tree, Token=Token, Pos=_Pos):
        res = build(children)
        if type(res) is not Tree:
            return res
        start = end = None
        for c in children:
            if type(c) is Token:
                start = c.start_pos
                break
            if type(c) is Tree and c._meta is not None:
                start = c._meta.cs
                break
        if start is None:
            return res                            # an empty match: no position (meta.empty)
        for c in reversed(children):
            if type(c) is Token:
                end = c.end_pos
                break
            if type(c) is Tree and c._meta is not None:
                end = c._meta.ce
                break
        meta = res._meta
        if meta is None:
            res._meta = Pos(start, end)
        else:                                     # the child passed up by `?rule`: keep its own span
            meta.cs, meta.ce = start, end
        return res
    return reduce


def _next_token(lexer, lex_state, parser_state=None, Token=Token):
    """lark's BasicLexer.next_token without line and column counting (a third of the lexer's time): tokens get
    offsets only, as every later stage locates by offset. An unexpected character is left to lark's own
    method, with the line counter set right, so its error is the usual one."""
    line_ctr = lex_state.line_ctr
    text = lex_state.text.text
    end = lex_state.text.end
    pos = line_ctr.char_pos
    mres = lexer.scanner._mres
    ignore, callback = lexer.ignore_types, lexer.callback
    while pos < end:
        for mre in mres:
            m = mre.match(text, pos, end)
            if m:
                break
        else:
            line_ctr.char_pos = pos
            line_ctr.line = text.count("\n", 0, pos) + 1
            line_ctr.line_start_pos = text.rfind("\n", 0, pos) + 1
            line_ctr.column = pos - line_ctr.line_start_pos + 1
            return lark.lexer.BasicLexer.next_token(lexer, lex_state, parser_state)
        type_ = m.lastgroup
        start, pos = pos, m.end()
        if type_ in ignore and type_ not in callback:
            continue
        t = Token(type_, m.group(0), start, None, None, None, None, pos)
        if type_ in callback:
            t = callback[type_](t)
        if type_ not in ignore:
            line_ctr.char_pos = pos
            lex_state.last_token = t
            return t
    line_ctr.char_pos = pos
    raise EOFError(lexer)


def _fast_lexers(parser: lark.Lark) -> None:
    """Give each of the contextual lexer's state lexers _next_token, when lark's internals are as expected."""
    lexer = getattr(parser.parser, "lexer", None)
    lexer = getattr(lexer, "lexer", lexer)                  # inside the connector to the newline post-lexer
    lexers = getattr(lexer, "lexers", None)
    if not isinstance(lexers, dict):
        return
    for lexer in set(lexers.values()):
        if isinstance(lexer, lark.lexer.BasicLexer) and hasattr(lexer.scanner, "_mres"):
            lexer.next_token = functools.partial(_next_token, lexer)


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    # cache=True: lark keeps the analysed grammar in the temporary directory, keyed by the grammar's hash
    # (0.2-0.4 s saved in every process; if the directory is not writable lark just builds it again)
    parser = lark.Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True,
                       postlex=_NewlinePostLexer(), cache=True)
    # positions by _positioned instead of propagate_positions=True (which took 40 % of a large file's parse)
    callbacks = parser.parser.parser.parser.callbacks
    for rule, build in callbacks.items():
        # `?rule: one_symbol` passes its child up unchanged, positions and all (5 of every atom's reductions)
        if not (len(rule.expansion) == 1 and rule.options.expand1 and not rule.alias):
            callbacks[rule] = _positioned(build)
    _fast_lexers(parser)
    return parser


# Human names for the terminals a user may see in "expected ..." lists.
_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "UNIT": "a unit", "STRING": "a string", "_NL": "a new line",
    "CMP": "a comparison (==, <=, >=)", "PORT_OP": "`+=` or `-=`", "TIME": "`t`", "FIRST": "`first`",
    "LAST": "`last`", "TIME_INDEX": "`[t]`", "$END": "the end of the file",
}


def _describe_expected(expected: set[str]) -> str:
    parser = _parser()
    names = []
    for term in sorted(expected):
        if term in _TERMINAL_NAMES:
            names.append(_TERMINAL_NAMES[term])
            continue
        try:
            pattern = parser.get_terminal(term).pattern
        except KeyError:
            names.append(term.lower())
            continue
        if isinstance(pattern, lark.lexer.PatternStr):
            names.append(f"`{pattern.value}`")
        else:
            names.append(term.lower())
    names = sorted(set(names))
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _describe_token(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of file"
    return f"`{tok.value}`"


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, file: SourceFile, collector: Collector) -> int:
    """Record one syntax error; return the offset where it happened."""
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = file.text[pos] if pos < len(file.text) else ""
        if ch == '"':
            collector.error("E0002", "unterminated string", file.span(pos, pos + 1), "this string is not closed",
                            help="close the string with `\"` on the same line")
        else:
            shown = ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
            collector.error("E0002", f"unexpected character `{shown}`", file.span(pos, pos + 1), "not valid here",
                            help="remove it; comments start with `#`")
        return pos
    tok = getattr(err, "token", None)
    expected = getattr(err, "expected", None) or getattr(err, "accepts", None) or set()
    if tok is None or tok.type == "$END" or getattr(tok, "start_pos", None) is None:
        pos = len(file.text.rstrip())
        span = file.span(max(0, pos - 1), pos)
        collector.error("E0001", "unexpected end of file", span, "the file ends here",
                        help=f"expected {_describe_expected(set(expected))}; is a `}}` or `)` missing?")
        return len(file.text)
    start = tok.start_pos
    end = tok.end_pos if tok.type != "_NL" else start + 1
    found = _describe_token(tok)
    hint = f"expected {_describe_expected(set(expected))}"
    message = f"unexpected {found}"
    if tok.type == "UNIT" and "/" in tok.value:
        hint += "; a compound unit has no spaces (`yuan/kWh`) and a division needs spaces (`a / b`)"
    if tok.type in ("NUMBER", "NAME", "STRING") and "COMMA" in expected:
        hint += "; is a `,` or an operator missing before it?"
    if tok.type == "UNIT":
        hint += "; a quantity has one unit, written without spaces (`yuan/kWh`, `kW/h`)"
    if tok.type == "NAME" and tok.value in ("t", "first", "last"):
        hint += f"; `{tok.value}` is reserved for time indexing"
    if re.search(r"(^|\s)uncertain\s*$", file.text[:start]) and tok.value != "profile":
        hint = "only a profile can be uncertain: write `uncertain profile NAME = ...`"
    if tok.type == "_NL":
        message = "unexpected end of line"
        hint += "; an expression may continue on the next line only inside ( ) or after an operator"
    collector.error("E0001", message, file.span(start, end), "unexpected here", help=hint)
    return start


@contextlib.contextmanager
def paused_gc():
    """The garbage collector off for a parse or a check, back on after (when it was on): both make hundreds of
    thousands of objects that all live on, so every collection in between is wasted (half of a large file's
    parse). Reference counting still frees what dies."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def parse(file: SourceFile) -> ast.Module:
    """Parse a file, reporting syntax errors of several statements at once (by blanking a bad line
    and parsing again), then build the AST and attach comments."""
    with paused_gc():
        return _parse(file)


def _parse(file: SourceFile) -> ast.Module:
    collector = Collector()
    text = file.text
    tree = None
    # every further syntax error costs a parse of the whole file: a large file reports its first one only
    attempts = MAX_SYNTAX_ERRORS if len(text) <= MAX_REPARSED_CHARS else 1
    for _ in range(attempts):
        try:
            tree = _parser().parse(text)
            break
        except lark.exceptions.UnexpectedInput as err:
            pos = _syntax_diagnostic(err, file, collector)
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line_end = len(text) if line_end < 0 else line_end
            bad_line = text[line_start:line_end]
            # Blanking a line that opens or closes a block would only produce follow-on errors.
            if pos >= len(text) or "{" in bad_line or "}" in bad_line or not bad_line.strip():
                break
            text = text[:line_start] + " " * (line_end - line_start) + text[line_end:]
    if collector:
        collector.raise_if_any()
    builder = _Builder(file)
    module = builder.module(tree)
    builder.diag.raise_if_any()
    _attach_comments(module, file)
    return module


def parse_text(text: str, path: str = "<string>") -> ast.Module:
    return parse(SourceFile(path, text))


# ------------------------------------------------------------------ tree -> AST
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


# ------------------------------------------------------------------ comments
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


def _children(stmt) -> tuple[list | None, list | None]:
    if isinstance(stmt, (ast.Device, ast.Network, ast.Microgrid)):
        return stmt.body, stmt.closing_comments
    if isinstance(stmt, ast.Decompose):
        return stmt.settings, stmt.closing_comments
    return None, None


def _attach_comments(module: ast.Module, file: SourceFile) -> None:
    comments = _comment_positions(file)
    _attach(module.items, comments, module.closing_comments, file, 0)


def _has_blank_line(text: str) -> bool:
    return re.search(r"\n[ \t\f\r]*\n", text) is not None


def _attach(children, comments, closing, file: SourceFile, prev_end: int) -> None:
    i = 0
    for child in children:
        first = True
        while i < len(comments) and comments[i][0] < child.span.start:
            pos, text = comments[i]
            if _has_blank_line(file.text[prev_end:pos]):
                if first:
                    child.blank_before = True
                else:
                    child.comments.append("")      # a blank line inside the comment block
            first = False
            child.comments.append(text)
            prev_end = pos + len(text)
            i += 1
        if _has_blank_line(file.text[prev_end:child.span.start]):
            if first:
                child.blank_before = True
            else:
                child.comments.append("")          # a blank line between the comments and the statement
        inner = []
        while i < len(comments) and comments[i][0] < child.span.end:
            inner.append(comments[i])
            i += 1
        end_line = file.position(child.span.end)[0]
        if i < len(comments) and file.position(comments[i][0])[0] == end_line:
            child.trailing = comments[i][1]
            prev_end = comments[i][0] + len(comments[i][1])
            i += 1
        else:
            prev_end = child.span.end
        body, body_closing = _children(child)
        if body is not None:
            header_end = file.text.find("{", getattr(child, "name_span", child.span).end)
            _attach(body, inner, body_closing, file, header_end + 1 if header_end >= 0 else child.span.start)
        else:
            # comments inside a multi-line statement move above it
            child.comments.extend(text for _, text in inner)
    for pos, text in comments[i:]:
        if closing is not None and _has_blank_line(file.text[prev_end:pos]) and (closing or children):
            closing.append("")
        closing.append(text)
        prev_end = pos + len(text)
