"""The typed intermediate representation handed from checking to lowering: names bound, units checked,
values in canonical units (kW, kWh, kvar, h, currency), instances grouped per device template."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sema.units import Dim, describe
from .source import Span
from .syntax import ast

CARRIERS = ("electricity", "heat", "gas", "reactive")

Value = float | np.ndarray | str     # a scalar, a series over t, or a carrier name


@dataclass
class ParamIR:
    name: str
    is_carrier: bool
    dim: Dim | None
    default: ast.Expr | None
    span: Span


@dataclass
class VarIR:
    name: str
    timed: bool
    kind: str                         # continuous | binary | integer
    dim: Dim
    lower: ast.Expr | None
    upper: ast.Expr | None
    span: Span


@dataclass
class ConstraintIR:
    name: str                         # the label, or c1, c2 ... in declaration order
    stmt: ast.Constraint
    is_assertion: bool = False        # no variables: a check on the parameters, made per instance

    @property
    def span(self) -> Span:
        return self.stmt.span


@dataclass
class PortIR:
    carrier: str                      # a carrier name or the name of a carrier parameter
    sign: int
    value: ast.Expr
    dim: Dim
    span: Span


@dataclass
class CostIR:
    value: ast.Expr
    quadratic: bool
    currency: str
    span: Span


@dataclass
class ReserveShareIR:
    """`reserve up += r_up` in a template: what each instance adds to its owner's up or down reserve (kW)."""

    direction: str                    # up | down
    sign: int
    value: ast.Expr
    span: Span


@dataclass
class ReserveRequirementIR:
    """`reserve up >= ...` in a network or microgrid block: the reserve its pool (the owner's devices, and the
    slack bus for the network) must hold at each step. Lowered as the row `reserve.OWNER.DIRECTION` over t
    (lower/reserve.py), whose right-hand side is `amount_kw`."""

    owner: str                        # the network or a microgrid
    direction: str                    # up | down
    amount_kw: np.ndarray             # over t
    span: Span

    @property
    def row(self) -> str:
        return f"reserve.{self.owner}.{self.direction}"


@dataclass
class TemplateIR:
    name: str
    decl: ast.Device
    params: dict[str, ParamIR]
    vars: dict[str, VarIR]
    lets: dict[str, ast.Let]
    constraints: list[ConstraintIR]
    initials: dict[str, ast.Initial]
    ports: list[PortIR]
    costs: list[CostIR]
    doc: str = ""
    reserves: list[ReserveShareIR] = field(default_factory=list)   # `reserve up|down += ...` (sema/reserve.py)

    @property
    def span(self) -> Span:
        return self.decl.name_span


@dataclass
class InstanceIR:
    name: str                         # qualified: mg1.chp, dn.wt17
    template: str
    owner: str                        # the microgrid or network that holds it
    bus: int | None                   # network bus, for instances in the network
    values: dict[str, Value]
    span: Span


@dataclass
class LineIR:
    from_bus: int
    to_bus: int
    r_ohm: float
    x_ohm: float
    i_max_a: float                    # nan when the line has no current limit
    span: Span


@dataclass
class NetworkIR:
    name: str
    base_kva: float
    base_kv: float
    vmin: float                       # p.u.
    vmax: float
    formulation: str
    buses: list[int]
    slack_bus: int
    buy_price: np.ndarray | None      # currency/kWh over t
    sell_price: np.ndarray | None
    currency: str | None
    lines: list[LineIR]
    load_p: np.ndarray                # (bus, t) kW, in the order of `buses`
    load_q: np.ndarray                # (bus, t) kvar
    span: Span
    slack_span: Span
    voltage_span: Span | None = None  # the `voltage` limits, where a report of what to change points
    load_spans: list[tuple[int, Span]] = field(default_factory=list)   # (bus, its `load`/`loads` statement)
    settings: dict[str, float] = field(default_factory=dict)   # the formulation's (lower/formulations/)
    slack_voltage: float = 1.0        # p.u., the slack bus's set point (`slack 1 at 1.02 pu ...`)
    slack_limit_kw: float | None = None   # `slack 1 limit 5 MW`: |import| <= limit; with it the slack holds reserve

    @property
    def cone_accuracy(self) -> float:
        """distflow_socp: the polyhedral cones' parameter (lower/formulations/distflow_socp.py)."""
        return float(self.settings.get("accuracy", 1e-4))

@dataclass
class MicrogridIR:
    name: str
    network: str | None
    bus: int | None
    limit_kw: float | None            # of the tie: |P| when it carries active power only, else apparent power
    span: Span
    reactive: bool = False            # a device here can inject or absorb reactive power (set by checking)


@dataclass
class ClusterIR:
    name: str
    members: list[str]
    span: Span


@dataclass
class EndpointIR:
    owner: str                        # a microgrid, or the network
    bus: int | None                   # the bus when the owner is the network


@dataclass
class SwitchIR:
    name: str
    a: EndpointIR
    b: EndpointIR
    limit_kw: float                   # |P|, or the apparent power when the switch carries Q
    span: Span
    reactive: bool = False            # carries Q: both ends can (a bus, or microgrids with reactive devices)


@dataclass
class CoupleIR:
    name: str
    lhs: ast.Expr
    rhs: ast.Expr
    lhs_owner: str
    rhs_owner: str
    dim: Dim
    span: Span


# ------------------------------------------------------------------ balance nodes and couplings
# The contracts between lowering, the partition, the coordinator, results and the CLI: typed records made here,
# once, from the IR. Their string keys (a node's coordinate, a coupling's id) are labels, never parsed back.

@dataclass(frozen=True)
class BalanceNode:
    """One carrier balance: a microgrid's carrier (bus None) or a carrier at a network bus."""

    owner: str
    bus: int | None
    carrier: str

    @property
    def key(self) -> str:
        """Its coordinate in the balance rows: `mg1:electricity`, `dn:12:reactive`."""
        return f"{self.owner}:{self.carrier}" if self.bus is None else f"{self.owner}:{self.bus}:{self.carrier}"

    @staticmethod
    def of(key: str) -> BalanceNode:
        """The node of a balance-row coordinate (the inverse of `key`; owners and carriers hold no colon)."""
        owner, *bus, carrier = key.split(":")
        return BalanceNode(owner, int(bus[0]) if bus else None, carrier)


COUPLING_KINDS = ("tie", "switch", "couple")
_QUANTITY_SUFFIX = {("tie", "p"): "", ("tie", "q"): ".q", ("switch", "p"): ".flow", ("switch", "q"): ".q",
                    ("switch", "status"): ".closed", ("couple", "value"): ""}


def coupling_id(kind: str, name: str, quantity: str) -> str:
    """The one place a coupling's label is made: tie.mg1, tie.mg1.q, switch.k1.flow, switch.k1.q,
    switch.k1.closed, couple.NAME."""
    return f"{kind}.{name}{_QUANTITY_SUFFIX[kind, quantity]}"


@dataclass(frozen=True)
class CouplingIR:
    """One value per step shared by two owners: a tie's P or Q, a switch's P, Q or status, a `couple`.

    `a` and `b` own its two sides (a tie: the microgrid, then its network). Deviations between the sides are
    measured in p.u. of the base power (`per_base`: powers and couples), a status as it is (0..1). `bound` is
    |value|'s limit where known (a tie or switch rating, 1 for a status)."""

    kind: str                          # tie | switch | couple
    name: str                          # the microgrid (tie), the switch, the couple
    quantity: str                      # p | q | status | value
    a: str
    b: str
    carrier: str | None                # electricity (P), reactive (Q), None (status, couple)
    unit: str                          # kW, kvar, 1, or the couple's unit
    bound: float | None = None

    @property
    def id(self) -> str:
        return coupling_id(self.kind, self.name, self.quantity)

    @property
    def is_status(self) -> bool:
        """A 0/1 decision: not penalized by ATC, the parent's value is held as data (solve/coordinator.py)."""
        return self.quantity == "status"

    @property
    def per_base(self) -> bool:
        return not self.is_status

    def scale(self, base_kw: float) -> float:
        """What 1 p.u. of this coupling is in its unit: the base power (kW or kvar), 1 for a status."""
        return base_kw if self.per_base else 1.0


# ------------------------------------------------------------------ objectives
# Checking normalizes every objective to an affine form, constant + sum of coefficient x quantity, over typed
# quantities: what lowering, decomposition (each part minimizes its share) and results (each objective's value)
# need, and nothing of the parse tree.
BUILTIN_OBJECTIVES = ("cost", "losses", "vdi")


@dataclass(frozen=True)
class BuiltinQuantity:
    """A quantity the system provides. `cost`: every owner's cost terms and the network's purchases less its
    sales (money); each owner holds its share. `losses`: the network's active losses, sum of r l dt over lines
    and steps (kWh; distflow_socp only). `vdi`: the voltage deviation index, the mean of |V - 1| over buses and
    steps (p.u.). `losses` and `vdi` belong to the network."""

    name: str                         # cost | losses | vdi
    owner: str | None                 # the network for losses and vdi; None for cost (every owner's share)


@dataclass(frozen=True)
class VariableQuantity:
    """A decision variable of one instance: `mg1.chp.p` (summed over the steps with a coefficient per step)."""

    instance: str                     # mg1.chp
    template: str
    var: str
    owner: str
    timed: bool


@dataclass
class ObjectiveTerm:
    quantity: BuiltinQuantity | VariableQuantity
    coef: float | np.ndarray          # canonical units; a timed variable's term is sum over t of coef[t] x[t]
    span: Span                        # where the quantity is named first


@dataclass
class ObjectiveIR:
    """constant + sum of the terms, in canonical units (a currency, kWh, p.u. ...). `unit` is the unit its value
    is reported in: 1 `unit` is `scale` canonical units (`objective l: MWh = losses` has scale 1000)."""

    name: str                         # a declared name, a built-in, or the text of a `minimize` expression
    dim: Dim
    unit: str
    scale: float
    terms: list[ObjectiveTerm]
    constant: float
    span: Span | None
    builtin: bool = False

    def uses(self, name: str) -> bool:
        """Whether the built-in quantity `name` (cost, losses, vdi) appears with a nonzero weight."""
        return any(isinstance(t.quantity, BuiltinQuantity) and t.quantity.name == name for t in self.terms)

    def share(self, owners: frozenset[str] | set[str], holds_constant: bool) -> ObjectiveIR:
        """The part of the objective that `owners` hold (cost is shared by every owner: each part lowers its own
        cost terms); the constant goes to one part only. The shares of a partition sum to the whole."""
        terms = [t for t in self.terms if t.quantity.owner is None or t.quantity.owner in owners]
        return ObjectiveIR(self.name, self.dim, self.unit, self.scale, terms,
                           self.constant if holds_constant else 0.0, self.span, self.builtin)


@dataclass
class ErrorLaw:
    """The relative forecast error e of an uncertain profile (value = forecast * (1 + e)): `normal` with standard
    deviation `rel_std`, or `errors`, an observed `sample` of e. Its moments feed the point estimate scheme."""

    kind: str                          # "normal" | "errors"
    span: Span
    rel_std: float = 0.0
    sample: np.ndarray | None = None

    def moments(self) -> tuple[float, float, float, float]:
        """Mean, standard deviation, skewness and kurtosis (3 for a normal law) of e."""
        if self.sample is None:
            return 0.0, self.rel_std, 0.0, 3.0
        e = np.asarray(self.sample, dtype=float)
        mean, std = float(e.mean()), float(e.std())
        z = (e - mean) / std if std > 0 else np.zeros_like(e)
        return mean, std, float(np.mean(z ** 3)), float(np.mean(z ** 4)) if std > 0 else 3.0


@dataclass
class SystemIR:
    """A checked system: everything lowering needs, and nothing that refers to the parse tree's tokens."""

    steps: int
    dt_h: float
    templates: dict[str, TemplateIR]              # every loaded template
    instances: dict[str, list[InstanceIR]]        # template name -> its instances, in source order
    network: NetworkIR | None
    microgrids: dict[str, MicrogridIR]
    clusters: dict[str, ClusterIR]
    switches: list[SwitchIR]
    couples: list[CoupleIR]
    currency: str
    decompose: ast.Decompose | None
    main_file: str
    files: list[str] = field(default_factory=list)
    objectives: dict[str, ObjectiveIR] = field(default_factory=dict)   # the built-ins available, then declared
    objective: ObjectiveIR | None = None          # the one minimized (`minimize`); None: cost
    warnings: list = field(default_factory=list)  # W-coded diagnostics of the check (mgdsl check prints them)
    uncertain: dict[str, Span] = field(default_factory=dict)   # `uncertain profile` name -> its declaration
    laws: dict[str, ErrorLaw] = field(default_factory=dict)    # uncertain profile -> its error law (pem, mpc)
    reserves: list[ReserveRequirementIR] = field(default_factory=list)   # `reserve up|down >= ...` per owner

    def owners(self) -> list[str]:
        """The subsystems: the network (if any) then each microgrid."""
        return ([self.network.name] if self.network else []) + list(self.microgrids)

    def couplings(self) -> list[CouplingIR]:
        """Every interaction between two owners, in a fixed order: ties (P, then Q where the microgrid has
        reactive devices), switches (P, Q where both ends can, status), couples."""
        out = []
        for m in self.microgrids.values():
            if m.bus is not None:
                out.append(CouplingIR("tie", m.name, "p", m.name, m.network, "electricity", "kW", m.limit_kw))
                if m.reactive:
                    out.append(CouplingIR("tie", m.name, "q", m.name, m.network, "reactive", "kvar", m.limit_kw))
        for sw in self.switches:
            a, b = sw.a.owner, sw.b.owner
            out.append(CouplingIR("switch", sw.name, "p", a, b, "electricity", "kW", sw.limit_kw))
            if sw.reactive:
                out.append(CouplingIR("switch", sw.name, "q", a, b, "reactive", "kvar", sw.limit_kw))
            out.append(CouplingIR("switch", sw.name, "status", a, b, None, "1", 1.0))
        for c in self.couples:
            out.append(CouplingIR("couple", c.name, "value", c.lhs_owner, c.rhs_owner, None, describe(c.dim)))
        return out

    def used_templates(self) -> list[TemplateIR]:
        return [self.templates[name] for name, insts in self.instances.items() if insts]
