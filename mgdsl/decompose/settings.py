"""The decomposition settings, declared once: each setting's kind, default, limits, units and help drive the
`decompose` block check (`mgdsl check`), `ATCOptions.check`, the command-line flags and the table in docs/atc.md."""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, MgdError
from ..sema.limits import MAX_ATC_ITERATIONS as MAX_ITERATIONS
from ..sema.limits import MAX_ATC_WORKERS as MAX_WORKERS
from ..source import Span
from ..syntax import ast

METHODS = ("atc", "admm")
PENALTIES = ("pwl", "quadratic", "l1")
EXECUTORS = ("serial", "processes", "dask")
MAX_SEED = 2**32 - 1
ITERATION_LIMITS = {"atc": 100, "admm": 500}      # max_iterations by method, when not given
_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_KILOWATTS = {"kW": 1.0, "MW": 1000.0, "W": 1e-3}

GROUPS = {
    "method": "the update rule",
    "partition": "which parts",
    "penalty": "penalty and weights",
    "stopping": "when to stop",
    "start": "initial targets",
    "integers": "mixed-integer parts",
    "execution": "where parts run",
}


@dataclass(frozen=True)
class Spec:
    """How one setting is written, checked and documented."""

    kind: str                                  # word | number | count | text
    help: str
    group: str
    choices: tuple[str, ...] = ()              # word: the allowed words
    low: float | None = None                   # number/count: the smallest value (see `open_low`)
    open_low: bool = False                     # the smallest value itself is excluded
    high: float | None = None
    open_high: bool = False
    units: dict[str, float] | None = None      # units it may be written in, with factors to the plain number's
    unit: str = ""                             # the plain number's unit, for messages and docs
    optional: bool = False                     # None is allowed (and means what the help says)
    flag: bool = True                          # has its own command-line flag (initial_value comes with --initial)
    in_block: bool = True                      # may be written in a `decompose` block (`method` is the block's word)


def setting(default, spec: Spec):
    return field(default=default, metadata={"spec": spec})


@dataclass
class ATCOptions:
    """The settings of a decomposed solve (ATC or ADMM); see `Spec.help` of each field."""

    method: str = setting("atc", Spec(
        "word", "update rule: atc (targets and responses, the parent after its children) or admm (consensus "
        "ADMM, all parts at once)", "method", choices=METHODS, in_block=False))
    children: str = setting("microgrids", Spec(
        "word", "children of the network part: each microgrid, or each cluster", "partition",
        choices=("microgrids", "clusters")))
    penalty: str = setting("pwl", Spec(
        "word", "penalty form: pwl (tangents of d^2; parts stay LPs/MILPs), quadratic (no binaries), l1 (exact, may "
        "stop early)", "penalty", choices=PENALTIES))
    tolerance: float = setting(1e-3, Spec(
        "number", "stop when max |target - response| is below this, in p.u. of the base power", "stopping",
        low=0, open_low=True, high=1e6, unit="p.u."))
    objective_tolerance: float | None = setting(None, Spec(
        "number", "relative objective change (over two iterations) accepted as settled; default: tolerance",
        "stopping", low=0, open_low=True, high=1e6, optional=True))
    dual_tolerance: float | None = setting(None, Spec(
        "number", "multiplier motion per iteration accepted as settled, relative to the cost scale; default: "
        "10 x tolerance", "stopping", low=0, open_low=True, high=1e6, optional=True))
    max_iterations: int | None = setting(None, Spec(
        "count", "iteration limit (the last iterate is written, marked not converged); default: "
        f"{ITERATION_LIMITS['atc']} for atc, {ITERATION_LIMITS['admm']} for admm", "stopping",
        low=1, high=MAX_ITERATIONS, optional=True))
    initial_weight: float = setting(1.0, Spec(
        "number", "initial penalty weight w0, relative to the cost scale (ADMM: rho = 2 w0^2)", "penalty",
        low=0, open_low=True, high=1e6))
    beta: float = setting(2.0, Spec(
        "number", "factor by which a weight grows (ADMM: by which rho changes)", "penalty", low=1, high=1e6))
    gamma: float = setting(0.4, Spec(
        "number", "ATC: grow a weight where |c| > gamma |c_previous|", "penalty", low=0, open_low=True, high=1,
        open_high=True))
    max_weight: float = setting(3.0, Spec(
        "number", "cap of the weights, relative to the cost scale", "penalty", low=0, open_low=True, high=1e6))
    weights: str = setting("balanced", Spec(
        "word", "weight rule: balanced (grow and shrink against target motion) or classic (grow only)", "penalty",
        choices=("balanced", "classic")))
    balance: float = setting(10.0, Spec(
        "number", "balanced rule: the ratio of disagreement to target motion that moves a weight (ADMM: of primal "
        "to dual residual)", "penalty", low=0, open_low=True, high=1e6))
    initial: str = setting("zero", Spec(
        "word", "initial targets: zero, value (initial_value) or random (uniform within +-1 p.u., seed)", "start",
        choices=("zero", "value", "random")))
    initial_value: float = setting(0.0, Spec(
        "number", "initial targets with `initial value`, in kW (statuses: 0 or 1)", "start", low=-1e12, high=1e12,
        units=_KILOWATTS, unit="kW", flag=False))
    seed: int = setting(0, Spec("count", "seed of `initial random`", "start", low=0, high=MAX_SEED))
    integers: str = setting("relax", Spec(
        "word", "MILP parts: relax (hot-started LP relaxations until the exact check, then each answer certified; "
        "the MILP only where the certificate fails) or milp (a MILP every solve)", "integers",
        choices=("relax", "milp")))
    coarse_accuracy: float = setting(1e-2, Spec(
        "number", "polyhedral cones (distflow_socp) at this accuracy while answers are relaxed, the declared one "
        "from the exact check on; 0: always the declared one", "integers", low=0, high=1))
    fix_integers: int = setting(0, Spec(
        "count", "with integers milp: re-solve as LPs once their integers came out the same K times (0: never; "
        "K > 0 implies integers milp)", "integers",
        low=0, high=MAX_ITERATIONS))
    executor: str = setting("serial", Spec(
        "word", "where parts run: serial (this process), processes (resident worker processes) or dask "
        "(Dask workers; `pip install 'mgdsl[dask]'`)", "execution", choices=EXECUTORS))
    workers: int | None = setting(None, Spec(
        "count", "worker processes or Dask workers; default: one per core, at most one per part", "execution",
        low=1, high=MAX_WORKERS, optional=True))
    scheduler: str | None = setting(None, Spec(
        "text", "dask: address of an existing scheduler (tcp://HOST:PORT); default: a local cluster", "execution",
        optional=True))
    subproblem_time_limit: float = setting(300.0, Spec(
        "number", "seconds per subproblem solve; reaching it stops with E0605", "execution", low=0, open_low=True,
        high=1e7, units=_SECONDS, unit="s"))

    @property
    def iteration_limit(self) -> int:
        """max_iterations, or the method's default (ADMM's Jacobi rounds need more, each cheaper: all parts solve
        at once)."""
        return self.max_iterations if self.max_iterations is not None else ITERATION_LIMITS[self.method]

    def check(self) -> None:
        """Raise ValueError naming the first bad setting (the CLI shows it as a usage error)."""
        for name, spec in SPECS.items():
            problem = value_problem(name, spec, getattr(self, name))
            if problem:
                raise ValueError(f"{name}: {problem}")


SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in dataclasses.fields(ATCOptions)}
SETTINGS = set(SPECS)
DEFAULTS = ATCOptions()


def value_problem(name: str, spec: Spec, value) -> str | None:
    """What is wrong with `value` for this setting, or None."""
    if value is None:
        return None if spec.optional else "needs a value"
    if spec.kind == "word":
        if value not in spec.choices:
            return f"is one of {', '.join(spec.choices)}, not {value!r}"
        return None
    if spec.kind == "text":
        return None if isinstance(value, str) and value.strip() else "needs a non-empty text"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is a number, not {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, not {value}"
    if spec.kind == "count" and value != int(value):
        return f"is a whole number, not {value}"
    return _range_problem(spec, value)


def _range_problem(spec: Spec, value: float) -> str | None:
    low_ok = spec.low is None or (value > spec.low if spec.open_low else value >= spec.low)
    high_ok = spec.high is None or (value < spec.high if spec.open_high else value <= spec.high)
    if low_ok and high_ok:
        return None
    return f"must be {range_text(spec)}, not {value:g}"


def range_text(spec: Spec) -> str:
    parts = []
    if spec.low is not None:
        parts.append(f"{'>' if spec.open_low else '>='} {spec.low:g}")
    if spec.high is not None:
        parts.append(f"{'<' if spec.open_high else '<='} {spec.high:g}")
    return " and ".join(parts)


def options_from_block(block: ast.Decompose | None, base: ATCOptions | None = None) -> ATCOptions:
    """Read a `decompose atc|admm { ... }` block over `base` (the defaults); every unknown setting and bad value
    is an error at its place (E0504), all of them at once."""
    opts = dataclasses.replace(base) if base else ATCOptions()
    if block is None:
        return opts
    errors = []
    if block.method not in METHODS:
        errors.append(Diagnostic("E0504", f"unknown decomposition method `{block.method}`", block.span,
                                 "not a method", help=f"the methods are: {', '.join(METHODS)}"))
    else:
        opts.method = block.method
    for s in block.settings:
        spec = SPECS.get(s.name)
        if spec is None or not spec.in_block:
            errors.append(_unknown_setting(s))
            continue
        value, problem = _read_value(s.name, spec, s.value)
        code = "E0504"                                   # not the kind of value the setting takes
        if problem is None and spec.kind in ("number", "count"):
            code = "E0404"                               # the right kind, out of its range
            problem = None if math.isfinite(value) else "must be a finite number"
            problem = problem or _range_problem(spec, value)
        if problem is not None:
            errors.append(problem if isinstance(problem, Diagnostic) else Diagnostic(
                code, f"bad value for `{s.name}`: {problem}", s.value.span, "", help=_example(s.name, spec)))
            continue
        setattr(opts, s.name, value)
    if errors:
        raise MgdError(errors)
    return opts


def _unknown_setting(s: ast.Setting) -> Diagnostic:
    if s.name == "method":
        return Diagnostic("E0504", "the method is the word after `decompose`", s.span, "",
                          help=f"write `decompose {METHODS[1]} {{ ... }}` (methods: {', '.join(METHODS)})")
    names = sorted(n for n, spec in SPECS.items() if spec.in_block)
    close = difflib.get_close_matches(s.name, names, n=1)
    name_span = Span(s.span.file, s.span.start, s.span.start + len(s.name))     # a setting starts with its name
    return Diagnostic("E0504", f"unknown decomposition setting `{s.name}`", name_span, "not a setting",
                      help=(f"did you mean `{close[0]}`? " if close else "") + "settings: " + ", ".join(names))


def _read_value(name: str, spec: Spec, v: ast.Expr):
    """The value as written, in the setting's own unit; or a problem."""
    if spec.kind == "word":
        if isinstance(v, ast.Ref) and len(v.parts) == 1 and v.index is None:
            word = v.parts[0]
            if word not in spec.choices:
                return None, _unknown_choice(name, spec, word, v.span)
            return word, None
        return None, f"takes one of the words {', '.join(spec.choices)}"
    if spec.kind == "text":
        if isinstance(v, ast.String):
            return v.value, None
        return None, 'takes a text in quotes, such as "tcp://10.0.0.5:8786"'
    sign = 1.0
    if isinstance(v, ast.Neg) and isinstance(v.operand, ast.Quantity):
        sign, v = -1.0, v.operand
    if not isinstance(v, ast.Quantity):
        return None, "takes a plain number"
    value = sign * v.value
    if v.unit is None or (v.unit == "pu" and spec.unit == "p.u."):
        pass
    elif spec.units and v.unit in spec.units:
        value *= spec.units[v.unit]
    else:
        allowed = ", ".join(spec.units) if spec.units else ""
        return None, Diagnostic("E0504", f"`{name}` cannot be written in {v.unit}", v.unit_span or v.span, "",
                                help=f"write a plain number ({spec.unit or 'no unit'})"
                                + (f" or one in {allowed}" if allowed else ""))
    if spec.kind == "count" and math.isfinite(value):
        if value != int(value):
            return None, f"is a whole number, not {v.text}"
        value = int(value)
    return value, None


def _unknown_choice(name: str, spec: Spec, word: str, span) -> Diagnostic:
    help_ = f"`{name}` is one of: {', '.join(spec.choices)}"
    close = difflib.get_close_matches(word, spec.choices, n=1)
    if close:
        help_ = f"did you mean `{close[0]}`? " + help_
    return Diagnostic("E0504", f"unknown {name} `{word}`", span, f"not a known {name}", help=help_)


def _example(name: str, spec: Spec) -> str:
    default = getattr(DEFAULTS, name)
    if spec.kind == "text":
        return f'for example `{name} "tcp://10.0.0.5:8786"`'
    shown = default if default is not None else (1 if spec.kind == "count" else 0.001)
    return f"`{name}` {range_text(spec) or 'is a value'}; for example `{name} {shown}`"


def docs_table() -> str:
    """The settings table of docs/atc.md (tests/test_settings_schema.py keeps the docs equal to it)."""
    lines = ["| setting | value | default | meaning |", "|---|---|---|---|"]
    for name, spec in SPECS.items():
        default = getattr(DEFAULTS, name)
        if spec.kind == "word":
            value = " \\| ".join(spec.choices)
        elif spec.kind == "text":
            value = "text"
        else:
            value = ("whole number " if spec.kind == "count" else "number ") + range_text(spec)
            if spec.unit:
                value += f" ({spec.unit}" + (f"; or {', '.join(spec.units)}" if spec.units else "") + ")"
        where = "" if spec.in_block else " (the word after `decompose`)"
        flag = "`--" + name.replace("_", "-") + "`" if spec.flag else "`--initial`"
        lines.append(f"| `{name}`{where}, {flag} | {value} | {'-' if default is None else default} | "
                     f"{spec.help.replace('|', '/')} |")
    return "\n".join(lines)
