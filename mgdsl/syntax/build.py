"""The AST built bottom-up, one grammar rule at a time, as the LALR driver (lalr.py) reduces: callback
`b_<rule>(children, start, end)` per rule or alias, children shaped as in lark's tree. Numbers that are not
finite, time offsets out of range and expressions nested too deeply are reported here, at their place, in the
order a top-down walk of the file meets them (so a located error never depends on how the AST was built)."""
from __future__ import annotations

import bisect
import math
import re

from ..diagnostics import Collector, Diagnostic, InternalError, MgdError
from ..sema.limits import MAX_EXPRESSION_DEPTH, MAX_SYNTAX_ERRORS, MAX_TIME_OFFSET
from ..source import SourceFile, Span
from . import ast


def _is_token(x) -> bool:
    return type(x) is tuple                         # tokens are (type, text, start, end)


class Builder:
    """One file's callbacks. Expression nodes nested below others get their height (levels of nesting below
    them) in `height`; a statement's own expressions are checked against MAX_EXPRESSION_DEPTH by `top`.
    Diagnostics wait in `pending` (sort key, Collector.error arguments) until `finish`."""

    def __init__(self, file: SourceFile):
        self.file = file
        self.height: dict[int, int] = {}
        self.pending: list[tuple] = []
        # [first node beyond the limit, end of its expression), and the expression: kept alive, as `height` is
        # keyed by id()
        self.too_deep: list[tuple[int, int, object]] = []
        self.fatal: Diagnostic | None = None        # an error that stops the build (reported alone)

    # ---- the driver's interface
    def callbacks(self, rules) -> list:
        out = []
        for rule in rules:
            build = getattr(self, "b_" + rule.name, None)
            if build is None and not rule.inline:
                build = _no_callback(rule.name)
            out.append(build)
        return out

    def finish(self) -> None:
        """Raise what the build found, as the collector of a top-down walk would have it."""
        if self.fatal is not None:
            raise MgdError([self.fatal])
        if not self.pending:
            return
        # what a walk stopped by a too deep expression did not reach (E0004's own key is a half offset); the
        # ranges merged and searched by bisection: a file may hold tens of thousands of each
        ranges: list[list[int]] = []
        for p, end in sorted((p, end) for p, end, _ in self.too_deep):
            if ranges and p <= ranges[-1][1]:
                ranges[-1][1] = max(ranges[-1][1], end)
            else:
                ranges.append([p, end])
        starts = [r[0] for r in ranges]

        def unseen(key) -> bool:
            i = bisect.bisect_right(starts, key) - 1
            return i >= 0 and key < ranges[i][1]

        kept = sorted((d for d in self.pending if d[0] % 1 or not unseen(d[0])), key=lambda d: d[0])
        collector = Collector()
        # the first few only: each diagnostic shows its line, and a list of 100,000 numbers too large on one
        # line made 100,000 copies of it (quadratic: a 56 kB line, 1.3 GB)
        for _, args in kept[:MAX_SYNTAX_ERRORS]:
            collector.error(*args)
        if len(kept) > MAX_SYNTAX_ERRORS:
            collector.diagnostics[-1].notes.append(f"{len(kept) - MAX_SYNTAX_ERRORS:,} more errors like these "
                                                   f"further in the file are not shown")
        collector.raise_if_any()

    # ---- helpers
    def span(self, start, end) -> Span:
        return Span(self.file, 0, 0) if start is None else Span(self.file, start, end)

    def tspan(self, tok) -> Span:
        return Span(self.file, tok[2], tok[3])

    def error(self, span: Span, *args) -> None:
        self.pending.append((span.start, args[:2] + (span,) + args[2:]))

    def qty(self, num, unit) -> ast.Quantity:
        sp = Span(self.file, num[2], num[3] if unit is None else unit[3])
        text = num[1]
        if not math.isfinite(float(text)):
            self.pending.append((num[2], ("E0404", f"the number `{_clip(text)}` is too large", self.tspan(num),
                                          "beyond the largest number (about 1.8e308)",
                                          "write a value in a larger unit (MW, MWh), or check the exponent")))
            text = "0"
        if unit is None:
            return ast.Quantity(text, None, sp, None)
        return ast.Quantity(text, unit[1], sp, self.tspan(unit))

    def top(self, e):
        """A statement's own expression (not inside another): too deep, it is reported and replaced by 0."""
        if self.height.get(id(e), 0) <= MAX_EXPRESSION_DEPTH:
            return e
        sp = e.span
        self.too_deep.append((_first_beyond(e), sp.end, e))
        # after what the walk met inside it, before what follows it
        self.pending.append((sp.end - 0.5, (
            "E0004", f"this expression nests more than {MAX_EXPRESSION_DEPTH} levels deep", sp, "too deep",
            "split it: name parts with `let` (a sum of n terms is n levels deep)")))
        return ast.Quantity("0", None, sp)

    def top_args(self, args: list) -> list:
        for a in args:
            a.value = self.top(a.value)
        return args

    def nested(self, node, children) -> None:
        """Record `node`'s height from its children's."""
        h = self.height
        h[id(node)] = 1 + max((h.get(id(c), 0) for c in children), default=-1)

    # ---- top level
    def b_start(self, c, s, e):
        return ast.Module([x for x in c if isinstance(x, ast.Stmt)], self.file)

    def b_use(self, c, s, e):
        tok = c[0]
        if tok[0] == "STRING":
            return ast.Use(self.span(s, e), _unquote(tok[1]), True)
        return ast.Use(self.span(s, e), tok[1], False)

    def b_horizon(self, c, s, e):
        steps, num, unit = c
        return ast.Horizon(self.span(s, e), self.qty(steps, None), self.qty(num, unit))

    def b_profile(self, c, s, e):
        uncertain, name, unit, law, value = c
        return ast.Profile(self.span(s, e), name[1], unit[1] if unit else None, self.top(value), self.tspan(name),
                           uncertain is not None, law)

    def b_distribution(self, c, s, e):
        kind, arg = c
        return ast.Distribution(self.span(s, e), kind[1], self.tspan(kind), self.top(arg))

    def b_let(self, c, s, e):
        name, unit, value = c
        return ast.Let(self.span(s, e), name[1], unit[1] if unit else None, self.top(value), self.tspan(name))

    def b_objective(self, c, s, e):
        name, unit, value = c
        return ast.Objective(self.span(s, e), name[1], unit[1] if unit else None, self.top(value),
                             self.tspan(name))

    def b_minimize(self, c, s, e):
        return ast.Minimize(self.span(s, e), self.top(c[0]))

    # ---- devices
    def b_device(self, c, s, e):
        name = c[0]
        params = [x for x in c[1:] if isinstance(x, ast.Param)]
        body = [x for x in c[1:] if isinstance(x, ast.Stmt)]
        return ast.Device(self.span(s, e), name[1], params, body, self.tspan(name))

    def b_carrier_param(self, c, s, e):
        return ast.Param(c[0][1], True, None, None, self.span(s, e))

    def b_value_param(self, c, s, e):
        name, unit, default = c
        return ast.Param(name[1], False, unit[1] if unit else None,
                         self.top(default) if default is not None else None, self.span(s, e))

    def b_continuous(self, c, s, e):
        return "continuous", c[0]

    def b_binary(self, c, s, e):
        return "binary", None

    def b_integer(self, c, s, e):
        return "integer", c[0]

    def b_bounds_range(self, c, s, e):
        return "range", self.top(c[0]), self.top(c[1])

    def b_bounds_cmp(self, c, s, e):
        op, value = c
        if op[1] == ">=":
            return "lower", self.top(value), None
        if op[1] == "<=":
            return "upper", None, self.top(value)
        if self.fatal is None:
            self.fatal = Diagnostic("E0001", "a variable bound cannot be an equality", self.tspan(op),
                                    "use `in a .. b`, `>=` or `<=`",
                                    help="to fix a variable, write a constraint: `x[t] == value`")
        return "none", None, None

    def b_var_decl(self, c, s, e):
        name, time_index, (kind, unit), bounds = c
        form, lower, upper = bounds if bounds is not None else ("none", None, None)
        return ast.VarDecl(self.span(s, e), name[1], time_index is not None, kind, unit[1] if unit else None,
                           lower, upper, self.tspan(name), bound_form=form)

    def b_constraint(self, c, s, e):
        label = c[0]
        terms, ops = [], []
        for x in c[1:]:
            if _is_token(x) and x[0] == "CMP":
                ops.append(x[1])
            else:
                terms.append(self.top(x))
        return ast.Constraint(self.span(s, e), label[1] if label else None, terms, ops)

    def b_initial(self, c, s, e):
        name, value = c
        return ast.Initial(self.span(s, e), name[1], self.top(value), self.tspan(name))

    def b_port(self, c, s, e):
        carrier, op, value = c
        return ast.Port(self.span(s, e), carrier[1], 1 if op[1] == "+=" else -1, self.top(value),
                        self.tspan(carrier))

    def b_cost(self, c, s, e):
        return ast.Cost(self.span(s, e), self.top(c[0]))

    def b_reserve_share(self, c, s, e):
        direction, op, value = c
        return ast.ReserveShare(self.span(s, e), direction[1], 1 if op[1] == "+=" else -1, self.top(value),
                                self.tspan(direction))

    def b_reserve_req(self, c, s, e):
        direction, op, value = c
        return ast.ReserveRequirement(self.span(s, e), direction[1], op[1], self.top(value), self.tspan(direction))

    # ---- network
    def b_network(self, c, s, e):
        name = c[0]
        return ast.Network(self.span(s, e), name[1], [x for x in c[1:] if isinstance(x, ast.Stmt)],
                           self.tspan(name))

    def b_net_base(self, c, s, e):
        return ast.NetBase(self.span(s, e), self.top(c[0]), self.top(c[1]))

    def b_net_voltage(self, c, s, e):
        return ast.NetVoltage(self.span(s, e), self.top(c[0]), self.top(c[1]))

    def b_net_formulation(self, c, s, e):
        name, *rest = c
        sp = self.span(s, e)
        args = None
        if len(c) > 1 or sp.text.rstrip().endswith(")"):
            args = self.top_args([a for a in rest if isinstance(a, ast.Arg)])
        return ast.NetFormulation(sp, name[1], self.tspan(name), args)

    def b_net_buses(self, c, s, e):
        return ast.NetBuses(self.span(s, e), list(c))

    def b_bus_range(self, c, s, e):
        first, last = c
        return ast.BusRange(self.qty(first, None), self.qty(last, None) if last else None, self.span(s, e))

    def b_net_slack(self, c, s, e):
        bus, at, limit, buy, sell = c
        return ast.NetSlack(self.span(s, e), self.qty(bus, None), buy, sell, at, limit)

    def b_slack_at(self, c, s, e):
        return self.top(c[0])

    b_slack_limit = b_slack_buy = b_slack_sell = b_mg_limit = b_slack_at

    def b_net_lines(self, c, s, e):
        return ast.NetLines(self.span(s, e), self.top(c[0]))

    def b_net_line(self, c, s, e):
        a, b, *args = c
        return ast.NetLine(self.span(s, e), self.qty(a, None), self.qty(b, None), self.top_args(args))

    def b_net_loads(self, c, s, e):
        return ast.NetLoads(self.span(s, e), self.top(c[0]))

    def b_net_from(self, c, s, e):
        return ast.NetFrom(self.span(s, e), self.top(c[0]))

    def b_net_load(self, c, s, e):
        bus, *args = c
        return ast.NetLoad(self.span(s, e), self.qty(bus, None), self.top_args(args))

    def b_net_at(self, c, s, e):
        buses = [self.qty(x, None) for x in c if _is_token(x) and x[0] == "NUMBER"]
        name = next((x for x in c if _is_token(x) and x[0] == "NAME"), None)
        call = c[-1]
        self.top_args(call.args)
        return ast.NetAt(self.span(s, e), buses, name[1] if name else None, call)

    # ---- microgrids and structure
    def b_microgrid(self, c, s, e):
        name, at, limit, *body = c
        at_net, at_bus, at_span = at if at is not None else (None, None, None)
        return ast.Microgrid(self.span(s, e), name[1], at_net, at_bus, limit,
                             [x for x in body if isinstance(x, ast.Stmt)], self.tspan(name), at_span)

    def b_mg_at(self, c, s, e):
        return c[0][1], self.qty(c[1], None), self.span(s, e)

    def b_instance(self, c, s, e):
        name, call = c
        self.top_args(call.args)
        return ast.Instance(self.span(s, e), name[1], call, self.tspan(name))

    def b_cluster(self, c, s, e):
        name, *members = c
        return ast.Cluster(self.span(s, e), name[1], [(m[1], self.tspan(m)) for m in members], self.tspan(name))

    def b_switch(self, c, s, e):
        name, a, b, limit = c
        return ast.Switch(self.span(s, e), name[1], a, b, self.top(limit), self.tspan(name))

    def b_endpoint(self, c, s, e):
        name, bus = c
        return ast.Endpoint(name[1], self.qty(bus, None) if bus is not None else None, self.span(s, e))

    def b_couple(self, c, s, e):
        name, lhs, op, rhs = c
        return ast.Couple(self.span(s, e), name[1], self.top(lhs), op[1], self.top(rhs), self.tspan(name))

    def b_decompose(self, c, s, e):
        method, *settings = c
        return ast.Decompose(self.span(s, e), method[1], settings)

    def b_setting(self, c, s, e):
        return ast.Setting(c[0][1], self.top(c[1]), self.span(s, e))

    # ---- expressions (a node inside another is one level deeper than it)
    def b_quantity(self, c, s, e):
        return self.qty(c[0], c[1])

    def b_ref(self, c, s, e):
        *names, index = c
        return ast.Ref([n[1] for n in names], index, self.span(s, e))

    def b_index(self, c, s, e):
        base, offset = c
        k = 0
        if offset is not None:
            kind, tok = offset
            value = float(tok[1])
            if not (value == int(value) if math.isfinite(value) else False) or value > MAX_TIME_OFFSET:
                self.error(self.tspan(tok), "E0503", f"the time offset `{_clip(tok[1])}` is not a whole number of "
                                                     f"steps up to {MAX_TIME_OFFSET:,}", "not a step count",
                           "write a whole number of steps, as in `x[t-1]` or `x[last-2]`")
            else:
                k = int(value)
            if kind == "minus_offset":
                k = -k
        return ast.Index(base[1], k, self.span(s, e))

    def b_plus_offset(self, c, s, e):
        return "plus_offset", c[0]

    def b_minus_offset(self, c, s, e):
        return "minus_offset", c[0]

    def b_call(self, c, s, e):
        name, *args = c
        args = [a for a in args if a is not None]
        node = ast.Call(name[1], args, self.span(s, e), self.tspan(name))
        if args:
            self.nested(node, [a.value for a in args])
        return node

    def b_arg(self, c, s, e):
        name, value = c
        if name is None:
            return ast.Arg(None, value, self.span(s, e), None)
        return ast.Arg(name[1], value, self.span(s, e), self.tspan(name))

    def b_string(self, c, s, e):
        return ast.String(_unquote(c[0][1]), self.span(s, e))

    def b_list(self, c, s, e):
        items = [x for x in c if x is not None]
        node = ast.ListLit(items, self.span(s, e))
        if items:
            self.nested(node, items)
        return node

    def b_neg(self, c, s, e):
        node = ast.Neg(c[0], self.span(s, e))
        self.nested(node, c)
        return node

    def b_add(self, c, s, e, op="+"):
        node = ast.BinOp(op, c[0], c[1], self.span(s, e))
        self.nested(node, c)
        return node

    def b_sub(self, c, s, e):
        return self.b_add(c, s, e, "-")

    def b_mul(self, c, s, e):
        return self.b_add(c, s, e, "*")

    def b_div(self, c, s, e):
        return self.b_add(c, s, e, "/")

    def b_pow(self, c, s, e):
        base, exponent = c
        node = ast.Pow(base, self.qty(exponent, None), self.span(s, e))
        self.nested(node, (base,))
        return node


def _first_beyond(e) -> int:
    """Where a top-down walk of expression `e` first meets a node deeper than the limit (its start offset):
    what it would have reported inside `e` after that point it never reached."""
    stack = [(e, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            return node.span.start
        kind = type(node)
        if kind is ast.BinOp:
            kids = (node.left, node.right)
        elif kind is ast.Neg:
            kids = (node.operand,)
        elif kind is ast.Pow:
            kids = (node.base,)
        elif kind is ast.Call:
            kids = [a.value for a in node.args]
        elif kind is ast.ListLit:
            kids = node.items
        else:
            continue
        stack.extend((k, depth + 1) for k in reversed(kids))
    raise InternalError("an expression counted too deep has no node beyond the limit")


def _no_callback(name: str):
    def fail(c, s, e):
        raise InternalError(f"the grammar rule `{name}` has no AST builder (mgdsl/syntax/build.py)")
    return fail


def _clip(text: str, width: int = 24) -> str:
    """A token as quoted in a message: long numbers are shortened."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])
