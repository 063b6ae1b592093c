"""The numbers each instance gives its template: every parameter-only part of a template body (a bound, a
coefficient, an initial state, a constant term) evaluated for all instances at once, so a division by zero or
an overflow is reported at its place in the template and its instance, before lowering meets it. The same for
the constant parts of `couple` expressions."""
from __future__ import annotations

import numpy as np

from ..diagnostics import Collector, Label
from ..ir import CoupleIR, InstanceIR, TemplateIR
from ..syntax import ast
from .limits import MAGNITUDE_TEXT, MAX_MAGNITUDE
from .units import parse_unit

# Instances are evaluated in chunks of at most this many values per array, so memory stays bounded
# whatever the number of instances and steps.
CHUNK_VALUES = 2_000_000


class _Reported(Exception):
    """A problem was reported for the statement being evaluated; skip the rest of it."""


class _Linear:
    """A part with decision variables, known by the largest magnitude its variables' coefficients can reach
    (per item, and per step where a coefficient varies): `p[t] * 1e11 * 1e11` has coefficients of 1e22, which
    HiGHS refuses (its matrix values stop at 1e15) although each number is in range."""

    def __init__(self, scale: np.ndarray):
        self.scale = scale


# A reference to a decision variable: coefficient 1.
_VARIABLE = _Linear(np.ones((1, 1)))


def _rows(values: list, steps: int) -> np.ndarray:
    """One row per item: (items, 1) when every value is a number, else (items, steps); a single row when every
    item has the same series (a shared profile), which broadcasts."""
    if values and isinstance(values[0], np.ndarray) and all(v is values[0] for v in values):
        return np.broadcast_to(values[0].astype(float, copy=False), (steps,)).reshape(1, steps)
    if any(isinstance(v, np.ndarray) for v in values):
        return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (steps,)) for v in values])
    return np.asarray(values, dtype=float).reshape(-1, 1)


class _Values:
    """Evaluates expressions for several items at once (the instances of a template, or one coupling). Values
    are arrays of shape (items, 1) or (items, steps); a part with decision variables is a _Linear."""

    def __init__(self, params: dict[str, np.ndarray], items: list[tuple[str, object | None]], dt_h: float,
                 diag: Collector, what: str):
        self.params = params
        self.items = items                                 # (name, span of its arguments or None) per row
        self.dt_h = dt_h
        self.diag = diag
        self.what = what                                   # what to change, for the hint
        self.lets: dict[str, np.ndarray | _Linear] = {}

    def report(self, bad: np.ndarray, span, message: str, label: str) -> None:
        bad = np.broadcast_to(bad, (len(self.items), bad.shape[-1]))
        name, item_span = self.items[int(np.argwhere(bad.any(axis=1))[0][0])]
        self.diag.error("E0404", f"`{name}`: {message}", span, label,
                        secondary=[Label(item_span, "with these arguments")] if item_span is not None else [],
                        help=f"change {self.what.format(name=name)}: values in a model are finite and within "
                             f"{MAGNITUDE_TEXT} in canonical units (kW, kWh, h, currency ...)")
        raise _Reported()

    def checked(self, value: np.ndarray, span) -> np.ndarray:
        # a finite sum means finite values, without an array of flags (the values are at most ~1e24 each)
        if not np.isfinite(value.sum()):
            bad = ~np.isfinite(value)
            if bad.any():
                self.report(bad, span, "this expression has no finite value", "overflows or is undefined")
        return value

    def constant(self, value: np.ndarray | _Linear, span) -> None:
        """A parameter-only part that becomes a coefficient, bound or constant of the model."""
        if isinstance(value, _Linear) or (value.max() <= MAX_MAGNITUDE and value.min() >= -MAX_MAGNITUDE):
            return
        self.report(~(np.abs(value) <= MAX_MAGNITUDE), span, f"this value is beyond {MAGNITUDE_TEXT}", "out of range")

    def coefficients(self, scale: np.ndarray, span) -> _Linear:
        """A part with variables whose coefficients must stay within MAX_MAGNITUDE."""
        if not scale.max() <= MAX_MAGNITUDE:
            largest = float(np.nanmax(np.where(np.isfinite(scale), scale, np.inf)))
            self.report(~(scale <= MAX_MAGNITUDE), span, f"a variable's coefficient here reaches {largest:.3g}, beyond "
                        f"{MAGNITUDE_TEXT}", "coefficient out of range")
        return _Linear(scale)

    def linear(self, op: str, a: np.ndarray | _Linear, b: np.ndarray | _Linear, span) -> _Linear:
        """`a op b` where a or b has variables: a bound on its coefficients (a sum's add up)."""
        if op in "+-":
            return self.coefficients(sum(x.scale for x in (a, b) if isinstance(x, _Linear)), span)
        sa = a.scale if isinstance(a, _Linear) else np.abs(a)
        sb = b.scale if isinstance(b, _Linear) else np.abs(b)
        if op == "*":
            return self.coefficients(sa * sb, span)
        if isinstance(b, _Linear):
            return _Linear(sa)                             # divided by a variable: the typing refuses it
        return self.coefficients(sa / sb, span)

    def eval(self, e: ast.Expr) -> np.ndarray | _Linear:
        if isinstance(e, ast.Quantity):
            scale = parse_unit(e.unit)[0] if e.unit else 1.0
            return np.full((1, 1), e.value * scale)
        if isinstance(e, ast.Ref):
            name = e.name
            if name == "dt":
                return np.full((1, 1), self.dt_h)
            if name in self.params:
                return self.params[name]
            if name in self.lets:
                return self.lets[name]
            return _VARIABLE
        if isinstance(e, ast.Neg):
            inner = self.eval(e.operand)
            return inner if isinstance(inner, _Linear) else -inner
        if isinstance(e, ast.BinOp):
            a, b = self.eval(e.left), self.eval(e.right)
            if e.op == "/" and not isinstance(b, _Linear) and (b == 0).any():
                self.report(b == 0, e.right.span, "division by zero", "this is 0")
            if isinstance(a, _Linear) or isinstance(b, _Linear):
                self.constant(a, e.left.span)
                self.constant(b, e.right.span)
                if e.op == "/" and not isinstance(b, _Linear):
                    # x / b multiplies x by 1 / b: that coefficient must stay in range too
                    tiny = np.abs(b) < 1 / MAX_MAGNITUDE
                    if tiny.any():
                        self.report(tiny, e.right.span, f"dividing by this value makes a coefficient beyond "
                                                        f"{MAGNITUDE_TEXT}", "too close to 0")
                return self.linear(e.op, a, b, e.span)
            value = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[e.op](a, b)
            return self.checked(value, e.span)
        if isinstance(e, ast.Pow):
            base = self.eval(e.base)
            if isinstance(base, _Linear):
                return self.coefficients(base.scale ** float(e.exponent.value), e.span)
            return self.checked(np.power(base, float(e.exponent.value)), e.span)
        if isinstance(e, ast.Call):
            inner = self.eval(e.args[0].value)
            if isinstance(inner, _Linear):
                # sum(x) and mean(x) take each step's variable once: its coefficient at that step, at most
                return _Linear(inner.scale.max(axis=1, keepdims=True))
            if inner.shape[1] == 1:
                return inner                                # lowering: a value without time is left as it is
            reduce = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[e.func]
            return self.checked(reduce(inner, axis=1, keepdims=True), e.span)
        return _VARIABLE

    def top(self, e: ast.Expr | None) -> None:
        """A whole expression of the body: its parts are checked as they are evaluated."""
        if e is not None:
            self.constant(self.eval(e), e.span)

    def run_template(self, tpl: TemplateIR) -> None:
        for var in tpl.vars.values():
            self.statement(lambda var=var: (self.top(var.lower), self.top(var.upper)))
        for init in tpl.initials.values():
            self.statement(lambda init=init: self.top(init.value))
        for name, let in tpl.lets.items():
            self.lets[name] = _VARIABLE                     # until evaluated (a failed let stays so)
            self.statement(lambda name=name, let=let: self.lets.__setitem__(name, self.eval(let.value)))
        for c in tpl.constraints:
            if not c.is_assertion:                          # assertions were evaluated when binding
                self.statement(lambda c=c: [self.top(t) for t in c.stmt.terms])
        for port in tpl.ports:
            self.statement(lambda port=port: self.top(port.value))
        for cost in tpl.costs:
            self.statement(lambda cost=cost: self.top(cost.value))

    def statement(self, check) -> None:
        try:
            check()
        except _Reported:
            pass


def check_instance_values(tpl: TemplateIR, insts: list[InstanceIR], steps: int, dt_h: float,
                          diag: Collector) -> None:
    """Report the first bad value of each template statement, for the first instance that makes it bad."""
    if not insts:
        return
    check_fixed_steps(template_expressions(tpl), steps, diag, f" (used by `{insts[0].name}`)")
    per_chunk = max(1, CHUNK_VALUES // max(1, steps))
    names = [p.name for p in tpl.params.values() if not p.is_carrier]
    with np.errstate(all="ignore"):
        for start in range(0, len(insts), per_chunk):
            chunk = insts[start:start + per_chunk]
            params = {name: _rows([i.values[name] for i in chunk], steps) for name in names}
            before = len(diag.diagnostics)
            _Values(params, [(i.name, i.span) for i in chunk], dt_h, diag,
                    "the arguments of `{name}`").run_template(tpl)
            if len(diag.diagnostics) > before:
                return                                       # one chunk's report per template is enough


def _indexed_refs(e):
    """The references with a time index in an expression."""
    if isinstance(e, ast.Ref):
        if e.index is not None:
            yield e
    elif isinstance(e, ast.Call):
        for a in e.args:
            yield from _indexed_refs(a.value)
    else:
        for child in (getattr(e, "left", None), getattr(e, "right", None), getattr(e, "operand", None),
                      getattr(e, "base", None)):
            if child is not None:
                yield from _indexed_refs(child)


def template_expressions(tpl: TemplateIR):
    """Every expression of a template's body."""
    for var in tpl.vars.values():
        yield from (b for b in (var.lower, var.upper) if b is not None)
    yield from (init.value for init in tpl.initials.values())
    yield from (let.value for let in tpl.lets.values())
    for c in tpl.constraints:
        yield from c.stmt.terms
    yield from (port.value for port in tpl.ports)
    yield from (cost.value for cost in tpl.costs)


def check_fixed_steps(exprs, steps: int, diag: Collector, who: str) -> None:
    """`x[first+k]` and `x[last-k]` name a step of the horizon; lowering would otherwise clamp them silently."""
    for e in exprs:
        for ref in _indexed_refs(e):
            index = ref.index
            if index.base == "t":
                continue
            step = index.offset if index.base == "first" else steps - 1 + index.offset
            if not 0 <= step < steps:
                diag.error("E0503", f"`{ref.name}[{index.base}{index.offset:+d}]` is outside the horizon of {steps} "
                                    f"steps{who}", index.span, "no such step",
                           help="`first+k` and `last-k` count from the ends of the horizon: k from 0 to "
                                f"{steps - 1}")
                return


def check_couple_values(cp: CoupleIR, env: dict, steps: int, dt_h: float, diag: Collector) -> None:
    """The constants of a coupling (`couple h: a.x * k == b.y`) are finite and in range; `env` maps the
    system's profiles and constants to their Const."""
    from .values import POISONED

    # a poisoned name (its definition failed, already reported) is left out: its uses stay silent
    params = {name: _rows([c.value], steps) for name, c in env.items() if c is not POISONED}
    check_fixed_steps((cp.lhs, cp.rhs), steps, diag, "")
    values = _Values(params, [(f"couple {cp.name}", None)], dt_h, diag, "the constants of `{name}`")
    with np.errstate(all="ignore"):
        values.statement(lambda: (values.top(cp.lhs), values.top(cp.rhs)))
