"""AST -> canonical .mgd text (`mgdsl fmt`): 4-space indents, spaces around operators, comments kept."""
from __future__ import annotations

from . import ast

WIDTH = 100
INDENT = "    "

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def expr_prec(e: ast.Expr) -> int:
    if isinstance(e, ast.BinOp):
        return _PREC[e.op]
    if isinstance(e, ast.Neg):
        return 3
    if isinstance(e, ast.Pow):
        return 4
    return 5


def fmt_expr(e: ast.Expr) -> str:
    if isinstance(e, ast.Quantity):
        return e.text if e.unit is None else f"{e.text} {e.unit}"
    if isinstance(e, ast.Ref):
        return e.name + (fmt_index(e.index) if e.index is not None else "")
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(fmt_arg(a) for a in e.args)})"
    if isinstance(e, ast.String):
        return '"' + e.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(e, ast.ListLit):
        return "[" + ", ".join(fmt_expr(i) for i in e.items) + "]"
    if isinstance(e, ast.Neg):
        inner = fmt_expr(e.operand)
        if expr_prec(e.operand) < 3 or isinstance(e.operand, ast.Neg):
            inner = f"({inner})"
        return "-" + inner
    if isinstance(e, ast.Pow):
        base = fmt_expr(e.base)
        if expr_prec(e.base) < 5:
            base = f"({base})"
        return f"{base}^{e.exponent.text}"
    if isinstance(e, ast.BinOp):
        p = _PREC[e.op]
        left, right = fmt_expr(e.left), fmt_expr(e.right)
        if expr_prec(e.left) < p:
            left = f"({left})"
        if expr_prec(e.right) <= p:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    raise TypeError(f"cannot print {type(e).__name__}")


def fmt_index(i: ast.Index) -> str:
    if i.offset == 0:
        return f"[{i.base}]"
    return f"[{i.base}{'+' if i.offset > 0 else '-'}{abs(i.offset)}]"


def fmt_arg(a: ast.Arg) -> str:
    return fmt_expr(a.value) if a.name is None else f"{a.name} = {fmt_expr(a.value)}"


def _wrapped(prefix: str, items: list[str], suffix: str, indent: str) -> str:
    """`prefix(a, b, c)suffix` on one line if it fits, else one item per line."""
    one = f"{prefix}({', '.join(items)}){suffix}"
    if len(indent) + len(one) <= WIDTH or not items:
        return one
    inner = "".join(f"{indent}{INDENT}{item},\n" for item in items)
    return f"{prefix}(\n{inner}{indent}){suffix}"


def _fmt_value(e: ast.Expr, indent: str, used: int) -> str:
    """An expression; a call or list literal that would overflow the line is wrapped."""
    text = fmt_expr(e)
    if len(indent) + used + len(text) <= WIDTH:
        return text
    if isinstance(e, ast.Call):
        return _wrapped(e.func, [fmt_arg(a) for a in e.args], "", indent)
    if isinstance(e, ast.ListLit):
        lines, line = [], ""
        for item in (fmt_expr(i) + "," for i in e.items):
            if line and len(indent) + len(INDENT) + len(line) + 1 + len(item) > WIDTH:
                lines.append(line)
                line = item
            else:
                line = f"{line} {item}" if line else item
        lines.append(line)
        body = "".join(f"{indent}{INDENT}{l}\n" for l in lines)
        return f"[\n{body}{indent}]"
    return text


class Printer:
    def __init__(self) -> None:
        self.out: list[str] = []

    def line(self, indent: str, text: str, stmt=None) -> None:
        trailing = getattr(stmt, "trailing", None) if stmt is not None else None
        self.out.append(f"{indent}{text}" + (f"  {trailing}" if trailing else ""))

    def comments(self, indent: str, comments: list[str]) -> None:
        for c in comments:
            self.out.append(f"{indent}{c}" if c else "")     # "" stands for a blank line

    def block(self, indent: str, stmts, closing: list[str], top: bool = False) -> None:
        for k, s in enumerate(stmts):
            is_block = isinstance(s, (ast.Device, ast.Network, ast.Microgrid, ast.Decompose))
            if k > 0 and (s.blank_before or (top and is_block) or (top and _is_block(stmts[k - 1]))):
                self.out.append("")
            self.comments(indent, s.comments)
            self.stmt(indent, s)
        if closing:
            self.comments(indent, closing)

    def open_block(self, indent: str, header: str, stmt, body, closing) -> None:
        self.line(indent, header + " {", None)
        self.block(indent + INDENT, body, closing)
        self.line(indent, "}", stmt)

    def stmt(self, ind: str, s) -> None:
        method = getattr(self, "p_" + type(s).__name__)
        method(ind, s)

    # ---- top level
    def p_Use(self, ind, s):
        target = f'"{s.target}"' if s.is_path else s.target
        self.line(ind, f"use {target}", s)

    def p_Horizon(self, ind, s):
        self.line(ind, f"horizon {s.steps.text} steps of {fmt_expr(s.step)}", s)

    def p_Profile(self, ind, s):
        law = f" {s.distribution.kind}({fmt_expr(s.distribution.value)})" if s.distribution else ""
        head = ("uncertain " if s.uncertain else "") + f"profile {s.name}" + (f": {s.unit}" if s.unit else "") \
            + law + " = "
        self.line(ind, head + _fmt_value(s.value, ind, len(head)), s)

    def p_Let(self, ind, s):
        head = f"let {s.name}" + (f": {s.unit}" if s.unit else "") + " = "
        self.line(ind, head + _fmt_value(s.value, ind, len(head)), s)

    def p_Objective(self, ind, s):
        head = f"objective {s.name}" + (f": {s.unit}" if s.unit else "") + " = "
        self.line(ind, head + _fmt_value(s.value, ind, len(head)), s)

    def p_Minimize(self, ind, s):
        self.line(ind, f"minimize {_fmt_value(s.value, ind, len('minimize '))}", s)

    # ---- devices
    def p_Device(self, ind, s):
        params = [fmt_param(p) for p in s.params]
        header = _wrapped(f"device {s.name}", params, " {", ind)
        self.line(ind, header, None)
        self.block(ind + INDENT, s.body, s.closing_comments)
        self.line(ind, "}", s)

    def p_VarDecl(self, ind, s):
        text = f"var {s.name}" + ("[t]" if s.timed else "") + ": "
        if s.kind == "binary":
            text += "binary"
        elif s.kind == "integer":
            text += "integer" + (f" {s.unit}" if s.unit else "")
        else:
            text += s.unit or ""
        if s.bound_form == "range":
            text += f" in {fmt_expr(s.lower)} .. {fmt_expr(s.upper)}"
        elif s.bound_form == "lower":
            text += f" >= {fmt_expr(s.lower)}"
        elif s.bound_form == "upper":
            text += f" <= {fmt_expr(s.upper)}"
        self.line(ind, text, s)

    def p_Constraint(self, ind, s):
        parts = [fmt_expr(s.terms[0])]
        for op, term in zip(s.ops, s.terms[1:]):
            parts.append(f"{op} {fmt_expr(term)}")
        self.line(ind, (f"{s.label}: " if s.label else "") + " ".join(parts), s)

    def p_Initial(self, ind, s):
        self.line(ind, f"initial {s.name} = {fmt_expr(s.value)}", s)

    def p_Port(self, ind, s):
        self.line(ind, f"port {s.carrier} {'+=' if s.sign > 0 else '-='} {fmt_expr(s.value)}", s)

    def p_Cost(self, ind, s):
        self.line(ind, f"cost += {fmt_expr(s.value)}", s)

    def p_ReserveShare(self, ind, s):
        self.line(ind, f"reserve {s.direction} {'+=' if s.sign > 0 else '-='} {fmt_expr(s.value)}", s)

    def p_ReserveRequirement(self, ind, s):
        head = f"reserve {s.direction} {s.op} "
        self.line(ind, head + _fmt_value(s.value, ind, len(head)), s)

    # ---- network
    def p_Network(self, ind, s):
        self.open_block(ind, f"network {s.name}", s, s.body, s.closing_comments)

    def p_NetBase(self, ind, s):
        self.line(ind, f"base {fmt_expr(s.power)}, {fmt_expr(s.voltage)}", s)

    def p_NetVoltage(self, ind, s):
        self.line(ind, f"voltage {fmt_expr(s.lower)} .. {fmt_expr(s.upper)}", s)

    def p_NetFormulation(self, ind, s):
        args = "" if s.args is None else "(" + ", ".join(fmt_arg(a) for a in s.args) + ")"
        self.line(ind, f"formulation {s.name}{args}", s)

    def p_NetBuses(self, ind, s):
        rs = [r.first.text + (f" .. {r.last.text}" if r.last is not None else "") for r in s.ranges]
        self.line(ind, "buses " + ", ".join(rs), s)

    def p_NetSlack(self, ind, s):
        text = f"slack {s.bus.text}"
        if s.voltage is not None:
            text += f" at {fmt_expr(s.voltage)}"
        if s.limit is not None:
            text += f" limit {fmt_expr(s.limit)}"
        if s.buy is not None:
            text += f" buys at {fmt_expr(s.buy)}"
        if s.sell is not None:
            text += f" sells at {fmt_expr(s.sell)}"
        self.line(ind, text, s)

    def p_NetLines(self, ind, s):
        self.line(ind, f"lines {fmt_expr(s.source)}", s)

    def p_NetLine(self, ind, s):
        self.line(ind, f"line {s.from_bus.text} - {s.to_bus.text}: " + ", ".join(fmt_arg(a) for a in s.args), s)

    def p_NetLoads(self, ind, s):
        self.line(ind, f"loads {fmt_expr(s.source)}", s)

    def p_NetFrom(self, ind, s):
        self.line(ind, f"from {fmt_expr(s.source)}", s)

    def p_NetLoad(self, ind, s):
        self.line(ind, f"load {s.bus.text}: " + ", ".join(fmt_arg(a) for a in s.args), s)

    def p_NetAt(self, ind, s):
        head = "at " + ", ".join(b.text for b in s.buses) + ": " + (f"{s.name} = " if s.name else "")
        self.line(ind, head + _fmt_value(s.call, ind, len(head)), s)

    # ---- microgrids and structure
    def p_Microgrid(self, ind, s):
        header = f"microgrid {s.name}"
        if s.at_network is not None:
            header += f" at {s.at_network}.{s.at_bus.text}"
        if s.limit is not None:
            header += f" limit {fmt_expr(s.limit)}"
        self.open_block(ind, header, s, s.body, s.closing_comments)

    def p_Instance(self, ind, s):
        head = f"{s.name} = "
        self.line(ind, head + _fmt_value(s.call, ind, len(head)), s)

    def p_Cluster(self, ind, s):
        self.line(ind, f"cluster {s.name} = {{{', '.join(m for m, _ in s.members)}}}", s)

    def p_Switch(self, ind, s):
        self.line(ind, f"switch {s.name} between {fmt_endpoint(s.a)} and {fmt_endpoint(s.b)} "
                       f"limit {fmt_expr(s.limit)}", s)

    def p_Couple(self, ind, s):
        self.line(ind, f"couple {s.name}: {fmt_expr(s.lhs)} {s.op} {fmt_expr(s.rhs)}", s)

    def p_Decompose(self, ind, s):
        self.open_block(ind, f"decompose {s.method}", s, s.settings, s.closing_comments)

    def p_Setting(self, ind, s):
        self.line(ind, f"{s.name} {fmt_expr(s.value)}", s)


def _is_block(s) -> bool:
    return isinstance(s, (ast.Device, ast.Network, ast.Microgrid, ast.Decompose))


def fmt_param(p: ast.Param) -> str:
    if p.is_carrier:
        return f"carrier {p.name}"
    text = p.name + (f": {p.unit}" if p.unit else "")
    if p.default is not None:
        text += f" = {fmt_expr(p.default)}"
    return text


def fmt_endpoint(e: ast.Endpoint) -> str:
    return e.name + (f".{e.bus.text}" if e.bus is not None else "")


def format_module(module: ast.Module) -> str:
    """The canonical text of a parsed file."""
    p = Printer()
    p.block("", module.items, module.closing_comments, top=True)
    return "\n".join(p.out).rstrip("\n") + "\n"
