"""The .mgd abstract syntax tree: plain dataclasses, each node carrying the Span it was parsed from."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..source import Span


# ------------------------------------------------------------------ expressions
@dataclass(eq=False)
class Quantity:
    text: str                 # the number exactly as written (the printer keeps it)
    unit: str | None
    span: Span
    unit_span: Span | None = None

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(eq=False)
class Index:
    base: str                 # "t" | "first" | "last"
    offset: int               # signed: t-1 -> -1
    span: Span


@dataclass(eq=False)
class Ref:
    parts: list[str]          # a, or a.b.c
    index: Index | None
    span: Span

    @property
    def name(self) -> str:
        return ".".join(self.parts)


@dataclass(eq=False)
class Arg:
    name: str | None
    value: Expr
    span: Span
    name_span: Span | None = None


@dataclass(eq=False)
class Call:
    func: str
    args: list[Arg]
    span: Span
    func_span: Span


@dataclass(eq=False)
class String:
    value: str
    span: Span


@dataclass(eq=False)
class ListLit:
    items: list[Expr]
    span: Span


@dataclass(eq=False)
class Neg:
    operand: Expr
    span: Span


@dataclass(eq=False)
class BinOp:
    op: str                   # + - * /
    left: Expr
    right: Expr
    span: Span


@dataclass(eq=False)
class Pow:
    base: Expr
    exponent: Quantity
    span: Span


Expr = Quantity | Ref | Call | String | ListLit | Neg | BinOp | Pow


# ------------------------------------------------------------------ statements
@dataclass(eq=False)
class Stmt:
    span: Span
    comments: list[str] = field(default_factory=list, kw_only=True)      # full-line comments above
    trailing: str | None = field(default=None, kw_only=True)             # comment at end of line
    blank_before: bool = field(default=False, kw_only=True)              # an empty line above it


@dataclass(eq=False)
class Use(Stmt):
    target: str               # a library name (stdlib) or a path
    is_path: bool


@dataclass(eq=False)
class Horizon(Stmt):
    steps: Quantity
    step: Quantity            # a duration


@dataclass(eq=False)
class Profile(Stmt):
    name: str
    unit: str | None
    value: Expr
    name_span: Span
    uncertain: bool = False   # `uncertain profile`: a forecast that `mgdsl igdt` varies within an envelope
    distribution: Distribution | None = None    # its error's law, for `mgdsl pem` and Monte Carlo


@dataclass(eq=False)
class Distribution:
    """`normal(15 %)` (relative standard deviation) or `errors(csv(...))` (a sample of relative forecast errors)."""

    span: Span
    kind: str
    kind_span: Span
    value: Expr


@dataclass(eq=False)
class Let(Stmt):
    name: str
    unit: str | None
    value: Expr
    name_span: Span


@dataclass(eq=False)
class Objective(Stmt):
    """`objective NAME: UNIT = EXPR`: a named quantity to minimize or report (built-ins: cost, losses, vdi)."""
    name: str
    unit: str | None
    value: Expr
    name_span: Span


@dataclass(eq=False)
class Minimize(Stmt):
    """`minimize EXPR`: an objective's name, a built-in, or a weighted sum of them."""
    value: Expr


@dataclass(eq=False)
class Param:
    name: str
    is_carrier: bool
    unit: str | None
    default: Expr | None
    span: Span


@dataclass(eq=False)
class VarDecl(Stmt):
    name: str
    timed: bool
    kind: str                 # continuous | binary | integer
    unit: str | None
    lower: Expr | None
    upper: Expr | None
    name_span: Span
    # a one-sided bound written `>= e` keeps its operator so the printer can restore it
    bound_form: str = "range"  # range | lower | upper | none


@dataclass(eq=False)
class Constraint(Stmt):
    label: str | None
    terms: list[Expr]
    ops: list[str]            # len(terms) - 1 comparison operators


@dataclass(eq=False)
class Initial(Stmt):
    name: str
    value: Expr
    name_span: Span


@dataclass(eq=False)
class Port(Stmt):
    carrier: str
    sign: int                 # +1 for +=, -1 for -=
    value: Expr
    carrier_span: Span


@dataclass(eq=False)
class Cost(Stmt):
    value: Expr


@dataclass(eq=False)
class ReserveShare(Stmt):
    """`reserve up += r_up` in a template: the device's share of its owner's up (or down) spinning reserve."""
    direction: str            # as written; `up` or `down` when valid (checked in sema/reserve.py)
    sign: int                 # +1 for +=, -1 for -=
    value: Expr
    direction_span: Span


@dataclass(eq=False)
class Device(Stmt):
    name: str
    params: list[Param]
    body: list[Stmt]
    name_span: Span
    closing_comments: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ the network
@dataclass(eq=False)
class NetBase(Stmt):
    power: Expr
    voltage: Expr


@dataclass(eq=False)
class NetVoltage(Stmt):
    lower: Expr
    upper: Expr


@dataclass(eq=False)
class NetFormulation(Stmt):
    name: str
    name_span: Span
    args: list[Arg] | None = None     # formulation settings: distflow_socp(accuracy = 1e-4)


@dataclass(eq=False)
class BusRange:
    first: Quantity
    last: Quantity | None
    span: Span


@dataclass(eq=False)
class NetBuses(Stmt):
    ranges: list[BusRange]


@dataclass(eq=False)
class NetSlack(Stmt):
    bus: Quantity
    buy: Expr | None
    sell: Expr | None
    voltage: Expr | None = None       # `slack 1 at 1.02 pu`: the set point (p.u.); None: 1 p.u.
    limit: Expr | None = None         # `slack 1 limit 5 MW`: its capacity (kW); None: unlimited


@dataclass(eq=False)
class NetLines(Stmt):
    source: Expr


@dataclass(eq=False)
class NetLine(Stmt):
    from_bus: Quantity
    to_bus: Quantity
    args: list[Arg]


@dataclass(eq=False)
class NetLoads(Stmt):
    source: Expr


@dataclass(eq=False)
class NetFrom(Stmt):
    """`from matpower("case33bw") * shape`: an imported network (its base, buses, lines and loads)."""
    source: Expr


@dataclass(eq=False)
class NetLoad(Stmt):
    bus: Quantity
    args: list[Arg]


@dataclass(eq=False)
class NetAt(Stmt):
    buses: list[Quantity]
    name: str | None
    call: Call


@dataclass(eq=False)
class Network(Stmt):
    name: str
    body: list[Stmt]
    name_span: Span
    closing_comments: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ microgrids and structure
@dataclass(eq=False)
class Instance(Stmt):
    name: str
    call: Call
    name_span: Span


@dataclass(eq=False)
class Microgrid(Stmt):
    name: str
    at_network: str | None
    at_bus: Quantity | None
    limit: Expr | None
    body: list[Stmt]
    name_span: Span
    at_span: Span | None = None
    closing_comments: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Cluster(Stmt):
    name: str
    members: list[tuple[str, Span]]
    name_span: Span


@dataclass(eq=False)
class Endpoint:
    name: str
    bus: Quantity | None
    span: Span


@dataclass(eq=False)
class Switch(Stmt):
    name: str
    a: Endpoint
    b: Endpoint
    limit: Expr
    name_span: Span


@dataclass(eq=False)
class ReserveRequirement(Stmt):
    """`reserve up >= 10 % * load + 200 kW` in a network or microgrid block: the reserve its pool must hold."""
    direction: str
    op: str                   # as written; `>=` when valid
    value: Expr
    direction_span: Span


@dataclass(eq=False)
class Couple(Stmt):
    name: str
    lhs: Expr
    op: str
    rhs: Expr
    name_span: Span


@dataclass(eq=False)
class Setting:
    name: str
    value: Expr
    span: Span
    comments: list[str] = field(default_factory=list)
    trailing: str | None = None
    blank_before: bool = False


@dataclass(eq=False)
class Decompose(Stmt):
    method: str
    settings: list[Setting]
    closing_comments: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Module:
    """One parsed file."""

    items: list[Stmt]
    file: object            # SourceFile
    closing_comments: list[str] = field(default_factory=list)


def refs(e):
    """Every name reference (`Ref`) inside expression `e`, depth first: through operators, calls' arguments and list
    literals."""
    if isinstance(e, Ref):
        yield e
    for child in ("left", "right", "operand", "base"):
        sub = getattr(e, child, None)
        if sub is not None and not isinstance(sub, (str, int)):
            yield from refs(sub)
    if isinstance(e, Call):
        for a in e.args:
            yield from refs(a.value)
    if isinstance(e, ListLit):
        for item in e.items:
            yield from refs(item)
