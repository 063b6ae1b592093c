"""A step window: the checked system restricted to steps FIRST..LAST of its horizon (`--steps 16..19`,
`System.window("16..19")`), as if its horizon were those steps.

Steps are numbered from 0, as `t` in results; both ends are included, as in the language's ranges. In the window:
- every series (profiles, instance arguments, the network's loads and prices, reserve requirements, the per-step
  weights of objectives) keeps its values at those steps;
- `first` and `last` in templates are the window's first and last step, `x[t-1]` at the window's first step is the
  declared `initial` value (the state the model declares, not the state the full horizon would reach there), and
  sums over the horizon (`sum(x * dt)`, horizon totals, objectives) run over the window;
- results count `t` from 0 at the window's first step; summary.json says which steps they are (`window`).
What cannot be windowed is refused, located: a window outside the horizon (E0851) or empty (E0852), an objective at
a fixed step (`x[last]`: the horizon's step, which a window would silently move, E0853), a fixed step beyond the
window in a template or a coupling (E0854: lowering would clamp it to the window's end)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from ..diagnostics import Diagnostic, MgdError
from ..ir import ObjectiveIR, SystemIR
from ..syntax import ast

FORMS = "`16..19` (steps 16 to 19, counted from 0 as `t` in results), `16-19`, or one step `16`"


@dataclass(frozen=True)
class Window:
    """Steps first..last (both included) of a horizon of `horizon` steps."""

    first: int
    last: int
    horizon: int

    @property
    def steps(self) -> int:
        return self.last - self.first + 1

    @property
    def slice(self) -> slice:
        return slice(self.first, self.last + 1)

    def to_json(self) -> dict:
        return {"first": self.first, "last": self.last, "steps": self.steps, "horizon": self.horizon}

    def text(self) -> str:
        return f"{self.first}..{self.last}"


def _error(code: str, message: str, span=None, label: str = "", **kw) -> MgdError:
    return MgdError([Diagnostic(code, message, span, label, **kw)])


def horizon_span(program):
    """The main file's `horizon` statement, where a window error points."""
    main = getattr(program, "main", None)
    return next((i.span for i in getattr(main, "items", []) if isinstance(i, ast.Horizon)), None)


def parse_window(spec, steps: int, span=None) -> Window:
    """`"16..19"`, `"16-19"`, `"16"`, `(16, 19)` or a Window -> a Window of a horizon of `steps` steps. E0850 for
    text that is no window, E0851 outside the horizon, E0852 empty (first after last)."""
    if isinstance(spec, Window):
        first, last = spec.first, spec.last
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(v, (int, np.integer)) for v in spec):
        first, last = int(spec[0]), int(spec[1])
    elif isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        first = last = int(spec)
    else:
        text = str(spec).strip()
        m = re.fullmatch(r"(-?\d+)\s*(?:(?:\.\.|-)\s*(-?\d+))?", text)
        if m is None:
            raise _error("E0850", f"`{text}` is not a step window", None, "",
                         help=f"give the steps as {FORMS}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
    if steps < 1:
        raise _error("E0851", "the system has no horizon to take a window of", span, "",
                     help="declare `horizon 24 steps of 1 h`, or leave out the window")
    if first > last:
        raise _error("E0852", f"the window {first}..{last} is empty: its first step comes after its last", span,
                     f"the horizon: steps 0 .. {steps - 1}",
                     help=f"give the earlier step first: `{last}..{first}`")
    if first < 0 or last > steps - 1:
        raise _error("E0851", f"the window {first}..{last} is outside the horizon of {steps} steps", span,
                     f"{steps} steps: 0 .. {steps - 1}",
                     help=f"steps run from 0 to {steps - 1}, as `t` in results: `0..{steps - 1}` is the whole "
                          "horizon")
    return Window(first, last, steps)


# ---------------------------------------------------------------- what a window cannot take
def _indexes(node):
    """Every ast.Index (x[first+k], x[last-k], x[t-k]) below a node of the parse tree."""
    if isinstance(node, ast.Index):
        yield node
        return
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _indexes(x)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            if name not in ("span", "name_span", "unit_span", "file"):
                yield from _indexes(getattr(node, name))


def _check_fixed_steps(ir: SystemIR, program, w: Window) -> None:
    """E0853 for an objective at a fixed step; E0854 for a fixed step beyond the window in a template or coupling."""
    main = getattr(program, "main", None)
    for item in getattr(main, "items", []):
        if isinstance(item, (ast.Objective, ast.Minimize)):
            for idx in _indexes(item.value):
                if idx.base in ("first", "last"):
                    raise _error(
                        "E0853", "an objective at a fixed step cannot be taken over a step window", idx.span,
                        f"step `{idx.base}{idx.offset:+d}` of the horizon".replace("+0", ""),
                        notes=["in a window, `first` and `last` are the window's own steps; an objective's fixed "
                               "step names the horizon's, and would move without a word"],
                        help="solve the whole horizon, or write the objective over every step (`sum(x * dt)`)")
    used = [ir.templates[name] for name, insts in ir.instances.items() if insts]
    sources = [(t.name, [c.stmt for c in t.constraints] + list(t.lets.values()) + [c.value for c in t.costs]
                + [p.value for p in t.ports] + [r.value for r in t.reserves]) for t in used]
    sources += [(f"coupling `{c.name}`", [c.lhs, c.rhs]) for c in ir.couples]
    for owner, nodes in sources:
        for idx in _indexes(nodes):
            if idx.base in ("first", "last") and abs(idx.offset) > w.steps - 1:
                raise _error(
                    "E0854", f"step `{idx.base}{idx.offset:+d}` of {owner} is outside the window of {w.steps} "
                             f"steps ({w.text()})", idx.span, "beyond the window",
                    notes=["in a window, `first` and `last` are its own first and last step"],
                    help=f"take a window of at least {abs(idx.offset) + 1} steps, or solve the whole horizon")


# ---------------------------------------------------------------- the windowed IR
def _cut(value, w: Window):
    """A series over the horizon's steps cut to the window; anything else as it is."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[-1] == w.horizon:
        return value[..., w.slice].copy()
    return value


def _objective(obj: ObjectiveIR | None, w: Window) -> ObjectiveIR | None:
    if obj is None:
        return None
    terms = [dataclasses.replace(t, coef=_cut(t.coef, w)) for t in obj.terms]
    return dataclasses.replace(obj, terms=terms)


def window_ir(ir: SystemIR, w: Window, program=None) -> SystemIR:
    """The checked system over the window's steps (module docstring). `program` (the parsed program) lets the
    fixed steps of objectives, templates and couplings be checked against the window."""
    if w.horizon != ir.steps:
        raise ValueError(f"a window of a {w.horizon}-step horizon applied to a system of {ir.steps} steps")
    _check_fixed_steps(ir, program, w)
    instances = {name: [dataclasses.replace(i, values={k: _cut(v, w) for k, v in i.values.items()})
                        for i in insts] for name, insts in ir.instances.items()}
    net = ir.network
    if net is not None:
        net = dataclasses.replace(net, buy_price=_cut(net.buy_price, w), sell_price=_cut(net.sell_price, w),
                                  load_p=_cut(net.load_p, w), load_q=_cut(net.load_q, w))
    reserves = [dataclasses.replace(r, amount_kw=_cut(np.asarray(r.amount_kw, dtype=float), w))
                for r in ir.reserves]
    objectives = {k: _objective(o, w) for k, o in ir.objectives.items()}
    return dataclasses.replace(ir, steps=w.steps, instances=instances, network=net, reserves=reserves,
                               objectives=objectives, objective=_objective(ir.objective, w))


def full_scales(scales: dict, w: Window) -> dict:
    """Profile factors given over the window's steps (IGDT scales an uncertain profile per step) as factors over
    the horizon: 1 outside the window."""
    out = {}
    for name, f in scales.items():
        f = np.asarray(f, dtype=float)
        if f.ndim == 1 and f.shape[0] == w.steps:
            full = np.ones(w.horizon)
            full[w.slice] = f
            f = full
        out[name] = f if f.ndim else float(f)
    return out


def windowed(system, spec):
    """The System over a window of its steps (`spec`: parse_window's forms), lowered and solved on demand."""
    from ..api import System

    base = system._window
    ir_full = system._full_ir if base is not None else system.ir
    span = horizon_span(system._program)
    w = parse_window(spec, system.ir.steps, span)
    if base is not None:                       # a window of a window: steps of the window, as results count them
        w = Window(base.first + w.first, base.first + w.last, base.horizon)
    out = System(window_ir(ir_full, w, system._program), dict(system.timings), None, system._main_span,
                 system._program)
    out._window = w
    out._full_ir = ir_full
    return out


def refuse(system, what: str) -> None:
    """Studies that check the model again by themselves over the whole horizon (pem, mpc, capability) take no
    window; the command line does not offer one to them, so this is a misuse of the Python API."""
    w = getattr(system, "_window", None)
    if w is not None:
        raise ValueError(f"{what} does not take a step window ({w.text()}): it checks the model again over the whole "
                         "horizon; call it on the system loaded without a window")
