"""Check a `network` block: base values, voltage limits, buses, a radial line set, slack, loads. Every
number is finite, within its physical range and the size limits, so lowering can use it as it is."""
from __future__ import annotations

import math
from collections import defaultdict, deque

import numpy as np

from ..diagnostics import Collector, Label
from ..ir import LineIR, NetworkIR
from ..lower.formulations import DEFAULT as DEFAULT_FORMULATION
from ..lower.formulations import formulation as formulation_named
from ..lower.formulations import names as formulation_names
from ..syntax import ast
from . import units
from .limits import MAGNITUDE_TEXT, MAX_BUS_NUMBER, MAX_BUS_STEPS, MAX_BUSES, MAX_DATA_BYTES, MAX_MAGNITUDE
from .values import Evaluator, Failed, cell_number, cell_text, check_magnitude, convert, not_a_number

FORMULATIONS = formulation_names()


def _bus(q: ast.Quantity, diag: Collector) -> int | None:
    v = q.value
    if q.unit is not None or v != int(v) or not 0 <= v <= MAX_BUS_NUMBER:
        diag.error("E0404", f"`{q.text}` is not a bus number", q.span, "",
                   help=f"buses are numbered 0, 1, 2, ... up to {MAX_BUS_NUMBER:,}")
        return None
    return int(v)


def _scalar(value, span, diag: Collector, what: str) -> float | None:
    """One number (not a series over the horizon), or None after an error."""
    if value is None:
        return None
    if np.ndim(value):
        diag.error("E0404", f"{what} is one number, not a series over the horizon", span, "a series",
                   help="give a constant here; profiles scale loads and prices only")
        return None
    return float(value)


def _declared_buses(net: ast.Network, diag: Collector, steps: int) -> list[int]:
    """The buses of every `buses` statement, counted before any list of them is built (MAX_BUSES)."""
    ranges = []
    count = 0
    for s in net.body:
        if not isinstance(s, ast.NetBuses):
            continue
        for r in s.ranges:
            a = _bus(r.first, diag)
            b = _bus(r.last, diag) if r.last is not None else a
            if a is None or b is None:
                continue
            if b < a:
                diag.error("E0404", "bus range runs backwards", r.span, "", help=f"write {b} .. {a}")
                continue
            count += b - a + 1
            if count > MAX_BUSES:
                diag.error("E0004", f"the network has more than {MAX_BUSES:,} buses", r.span, "too many buses",
                           help="mgdsl's limit on the size of one network (docs/language.md, section Limits)")
                return []
            ranges.append((a, b))
    if count * steps > MAX_BUS_STEPS:
        diag.error("E0004", f"{count:,} buses over {steps:,} steps exceed the limit of {MAX_BUS_STEPS:,} bus-steps",
                   net.name_span, "too large", help="shorten the horizon or reduce the network")
        return []
    return [bus for a, b in ranges for bus in range(a, b + 1)]


def check_network(net: ast.Network, ev: Evaluator, diag: Collector,
                  steps: int) -> tuple[NetworkIR | None, list[ast.NetAt]]:
    n_before = len(diag.diagnostics)
    base_kva, base_kv = 1000.0, None
    vmin, vmax = 0.95, 1.05
    formulation = DEFAULT_FORMULATION
    settings: dict[str, float] = {}
    slack: ast.NetSlack | None = None
    lines: list[LineIR] = []
    load_p: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(steps))
    load_q: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(steps))
    load_spans: list[tuple[int, object]] = []
    at_stmts: list[ast.NetAt] = []
    seen: dict[type, ast.Stmt] = {}

    def once(s: ast.Stmt) -> bool:
        repeatable = (ast.NetLine, ast.NetLoad, ast.NetAt, ast.NetLines, ast.NetLoads, ast.NetBuses)
        if type(s) in seen and not isinstance(s, repeatable):
            diag.error("E0502", "this network setting is given twice", s.span, "again here",
                       secondary=[Label(seen[type(s)].span, "first given here")])
            return False
        seen[type(s)] = s
        return True

    # `from matpower("case33bw")`: the imported network gives the base values, voltage limits, buses, lines and
    # loads; statements written beside it override the base power and the limits, and add lines and loads
    source = next((s for s in net.body if isinstance(s, ast.NetFrom)), None)
    feeder = None
    if source is not None:
        try:
            feeder = _imported(source, ev)
        except Failed:
            pass
        if feeder is not None:
            base_kva, base_kv = feeder.base_mva * 1000.0, feeder.base_kv
            vmin, vmax = feeder.vmin, feeder.vmax
            if feeder.notes:
                parts = f"{len(feeder.notes)} part{'s' if len(feeder.notes) > 1 else ''}"
                diag.warning("W0502", f"importing {feeder.name} left out {parts} of it that mgdsl does not model",
                             source.span, "imported here", notes=list(feeder.notes),
                             help="the model is solved without them (docs/import.md); model them as devices or "
                                  "loads, or import the network as CSV tables with `mgdsl import` to edit it")
    buses = _declared_buses(net, diag, steps)
    if feeder is not None and not any(isinstance(s, ast.NetBuses) for s in net.body):
        if len(feeder.buses) > MAX_BUSES or len(feeder.buses) * steps > MAX_BUS_STEPS:
            diag.error("E0004", f"the imported network's {len(feeder.buses):,} buses over {steps:,} steps exceed "
                                "mgdsl's size limits", source.span, "too large",
                       help="docs/language.md, section Limits")
        else:
            buses = list(feeder.buses)
    bus_set = set(buses)
    lines_incomplete = source is not None and feeder is None
    for s in net.body:
        if not once(s):
            continue
        before = len(diag.diagnostics)
        try:
            if isinstance(s, ast.NetBase):
                p = convert(ev.eval(s.power), units.POWER, s.power.span, diag, "the base power")
                v = convert(ev.eval(s.voltage), units.VOLTAGE, s.voltage.span, diag, "the base voltage")
                p = _scalar(p, s.power.span, diag, "the base power")
                v = _scalar(v, s.voltage.span, diag, "the base voltage")
                # both divide: the impedance base is kV^2 / MVA, the current base MVA / kV
                for value, span, what in ((p, s.power.span, "power"), (v, s.voltage.span, "voltage")):
                    if value is not None and value <= 0:
                        diag.error("E0404", f"the base {what} must be positive", span, "not positive",
                                   help="write e.g. `base 1 MVA, 12.66 kV`")
                if p is not None and p > 0:
                    base_kva = p
                if v is not None and v > 0 and feeder is not None and abs(v - feeder.base_kv) > 1e-9 * v:
                    diag.error("E0403", f"the imported network is at {feeder.base_kv:g} kV, not {v:g} kV",
                               s.voltage.span, "another voltage", secondary=[Label(source.span, "imported here")],
                               help=f"its impedances are ohm at {feeder.base_kv:g} kV: write `base ..., "
                                    f"{feeder.base_kv:g} kV`, or leave `base` out to take the case's")
                elif v is not None and v > 0:
                    base_kv = v
            elif isinstance(s, ast.NetVoltage):
                lo, hi = ev.eval(s.lower), ev.eval(s.upper)
                lo_v = convert(lo, units.NONE, s.lower.span, diag, "a voltage limit (p.u.)")
                hi_v = convert(hi, units.NONE, s.upper.span, diag, "a voltage limit (p.u.)")
                lo_v = _scalar(lo_v, s.lower.span, diag, "a voltage limit")
                hi_v = _scalar(hi_v, s.upper.span, diag, "a voltage limit")
                if lo_v is not None and hi_v is not None:
                    if not 0 < lo_v < hi_v <= 10:
                        diag.error("E0404", "voltage limits must satisfy 0 < lower < upper <= 10 p.u.", s.span, "",
                                   help="write e.g. `voltage 0.93 .. 1.07 pu`")
                    vmin, vmax = lo_v, hi_v
            elif isinstance(s, ast.NetFormulation):
                if s.name not in FORMULATIONS:
                    diag.error("E0502", f"unknown formulation `{s.name}`", s.name_span, "",
                               help="available: " + ", ".join(FORMULATIONS))
                else:
                    formulation = s.name
                    settings = _formulation_settings(s, ev, diag)
            elif isinstance(s, ast.NetBuses):
                pass                                   # read first, by _declared_buses
            elif isinstance(s, ast.NetSlack):
                slack = s
            elif isinstance(s, ast.NetLines):
                lines.extend(_lines_from_csv(s, ev, diag))
            elif isinstance(s, ast.NetLine):
                a, b = _bus(s.from_bus, diag), _bus(s.to_bus, diag)
                args = _named_args(s.args, {"r": units.IMPEDANCE, "x": units.IMPEDANCE, "i_max": units.CURRENT},
                                   ("r", "x"), s.span, ev, diag)
                if args is not None:
                    values = {k: _scalar(v, s.span, diag, f"`{k}` of a line") for k, v in args.items()}
                    problem = _line_problem(values["r"], values.get("i_max", math.nan))
                    if problem:
                        diag.error("E0404", problem, s.span, "", help="r >= 0 ohm; i_max > 0 A, or leave it out")
                    elif a is not None and b is not None and None not in values.values():
                        lines.append(LineIR(a, b, values["r"], values["x"], values.get("i_max", math.nan), s.span))
            elif isinstance(s, ast.NetLoads):
                for bus, p, q in _loads_from_csv(s, ev, diag, steps):
                    load_spans.append((bus, s.span))
                    if bus in bus_set:
                        load_p[bus] = load_p[bus] + p
                        load_q[bus] = load_q[bus] + q
            elif isinstance(s, ast.NetLoad):
                bus = _bus(s.bus, diag)
                args = _named_args(s.args, {"p": units.POWER, "q": units.REACTIVE}, ("p",), s.span, ev, diag)
                if bus is not None and args is not None:
                    load_spans.append((bus, s.span))
                    if bus in bus_set:
                        load_p[bus] = load_p[bus] + args["p"]
                        load_q[bus] = load_q[bus] + args.get("q", 0.0)
            elif isinstance(s, ast.NetAt):
                at_stmts.append(s)
            elif isinstance(s, ast.NetFrom) and feeder is not None:
                scale = _multiplier(_import_call(s.source)[1], ev, diag, steps)
                on = feeder.lines[feeder.lines["in_service"] == 1]
                lines.extend(LineIR(int(a), int(b), float(r), float(x), float(i), s.span)
                             for a, b, r, x, i in zip(on["from"], on["to"], on["r_ohm"], on["x_ohm"], on["i_max_a"]))
                for bus, p, q in zip(feeder.loads["bus"], feeder.loads["p_kw"], feeder.loads["q_kvar"]):
                    for value, dim in ((float(p) * scale, units.POWER), (float(q) * scale, units.REACTIVE)):
                        if not check_magnitude(value, dim, s.source.span, diag, f"the imported load at bus {bus}"):
                            raise Failed()
                    load_spans.append((int(bus), s.span))
                    if int(bus) in bus_set:
                        load_p[int(bus)] = load_p[int(bus)] + float(p) * scale
                        load_q[int(bus)] = load_q[int(bus)] + float(q) * scale
        except Failed:
            pass
        if isinstance(s, (ast.NetLine, ast.NetLines)) and len(diag.diagnostics) > before:
            lines_incomplete = True

    if base_kv is None and not any(isinstance(x, (ast.NetBase, ast.NetFrom)) for x in net.body):
        diag.error("E0502", f"network `{net.name}` has no base values", net.name_span, "",
                   help="add `base 1 MVA, 12.66 kV` (base power and nominal line-to-line voltage)")
    if not buses and not any(isinstance(s, (ast.NetBuses, ast.NetFrom)) for s in net.body):
        diag.error("E0502", f"network `{net.name}` has no buses", net.name_span, "", help="add `buses 1 .. N`")
    if len(bus_set) != len(buses):
        diag.error("E0502", "a bus is declared twice", seen.get(ast.NetBuses, net).span, "")
    slack_bus = None
    slack_voltage = 1.0
    buy = sell = None
    if slack is None:
        diag.error("E0502", f"network `{net.name}` has no slack bus", net.name_span, "",
                   help="add `slack 1 buys at PRICE` (the substation bus and its purchase price)")
    else:
        slack_bus = _bus(slack.bus, diag)
        if slack_bus is not None and feeder is not None and slack_bus != feeder.slack:
            diag.error("E0403", f"the imported network is fed at bus {feeder.slack}, not {slack_bus}", slack.bus.span,
                       "another bus", secondary=[Label(source.span, "imported here")],
                       help=f"write `slack {feeder.slack} buys at PRICE`")
        elif slack_bus is not None and bus_set and slack_bus not in bus_set:
            diag.error("E0109", f"slack bus {slack_bus} is not a declared bus", slack.bus.span, "unknown bus")
        if slack.voltage is not None:
            c = ev.try_eval(slack.voltage)
            v = convert(c, units.NONE, slack.voltage.span, diag, "the slack voltage (p.u.)") if c is not None else None
            v = _scalar(v, slack.voltage.span, diag, "the slack voltage")
            if v is not None and not vmin <= v <= vmax:
                # the slack bus is held there, its neighbours near it: outside the limits the model is infeasible
                limits = seen.get(ast.NetVoltage)
                diag.error("E0510", f"the slack voltage set point {v:g} p.u. is outside the network's voltage limits "
                                    f"{vmin:g} .. {vmax:g} p.u.", slack.voltage.span, "outside the limits",
                           secondary=[Label(limits.span, "the limits")] if limits is not None else [],
                           help="give the set point in p.u. within the limits, e.g. `slack 1 at 1.02 pu buys at "
                                "PRICE`, or widen `voltage`")
            elif v is not None:
                slack_voltage = v
        elif feeder is not None and vmin <= feeder.slack_voltage <= vmax:
            slack_voltage = feeder.slack_voltage          # the imported network's set point, unless written here
        for which, expr in (("buy", slack.buy), ("sell", slack.sell)):
            if expr is None:
                continue
            c = ev.try_eval(expr)
            if c is None:
                continue
            if c.dim != units.MONEY / units.ENERGY and not c.zero:
                diag.error("E0203", f"a price must be money per energy, but this is {units.describe(c.dim)}",
                           expr.span, "", help="give a price in yuan/kWh (or usd/kWh, eur/kWh)")
                continue
            if not check_magnitude(c.value, units.MONEY / units.ENERGY, expr.span, diag, "the price"):
                continue
            series = np.broadcast_to(np.asarray(c.value, dtype=float), (steps,)).copy()
            if which == "buy":
                buy = series
            else:
                sell = series
    if buy is not None and sell is not None and (sell > buy).any():
        # buying at the slack to sell back there would earn without limit: the model would be unbounded
        step = int(np.argmax(sell > buy))
        diag.error("E0404", f"the slack sells above its purchase price (t={step}: {sell[step]:g} > {buy[step]:g})",
                   slack.sell.span, "above the purchase price",
                   help="a sale price at or below the purchase price at every step; buying to sell back is unbounded")
    for line in lines:
        for b in (line.from_bus, line.to_bus):
            if bus_set and b not in bus_set:
                diag.error("E0109", f"line {line.from_bus}-{line.to_bus} ends at bus {b}, which is not declared",
                           line.span, "unknown bus", help="add the bus to `buses`")
    for bus, span in load_spans:
        if bus_set and bus not in bus_set:
            diag.error("E0109", f"load at bus {bus}, which is not declared", span, "unknown bus")
    # a radial check after a line failed (or ends at an unknown bus) would only echo that error
    if buses and lines and not lines_incomplete and not any(d.code == "E0109" for d in diag.diagnostics[n_before:]):
        _check_radial(net, buses, lines, slack_bus if slack_bus is not None else buses[0], diag)
    if base_kv is not None and len(diag.diagnostics) == n_before:
        _check_per_unit(lines, base_kva, base_kv, formulation, seen.get(ast.NetBase), diag)
    if len(diag.diagnostics) > n_before:
        return None, at_stmts
    order = {b: k for k, b in enumerate(buses)}
    lp = np.zeros((len(buses), steps))
    lq = np.zeros((len(buses), steps))
    for b, arr in load_p.items():
        lp[order[b]] += arr
    for b, arr in load_q.items():
        lq[order[b]] += arr
    voltage = seen.get(ast.NetVoltage)
    return NetworkIR(net.name, base_kva, base_kv, vmin, vmax, formulation, buses, slack_bus, buy, sell, None,
                     lines, lp, lq, net.span, slack.span, voltage_span=voltage.span if voltage else None,
                     load_spans=load_spans, settings=settings, slack_voltage=slack_voltage), at_stmts


def _formulation_settings(s: ast.NetFormulation, ev: Evaluator, diag: Collector) -> dict[str, float | str]:
    """`formulation NAME(setting = value, ...)`: the settings the formulation's module declares, each a number
    in its range or one of its words."""
    known = {x.name: x for x in formulation_named(s.name).settings}
    out: dict[str, float | str] = {}
    for a in s.args or []:
        setting = known.get(a.name or "")
        if setting is None:
            diag.error("E0104", f"`{s.name}` has no setting `{a.name or ''}`", a.span, "",
                       help="; ".join(x.help for x in known.values()) or f"`{s.name}` takes no settings")
            continue
        if setting.choices:
            v = a.value
            word = v.parts[0] if isinstance(v, ast.Ref) and len(v.parts) == 1 and v.index is None else None
            if word in setting.choices:
                out[setting.name] = word
            else:
                diag.error("E0404", f"`{setting.name}` takes one of the words {', '.join(setting.choices)}", v.span,
                           "", help=setting.help)
            continue
        v = convert(ev.eval(a.value), units.NONE, a.value.span, diag, f"the {setting.name}")
        v = _scalar(v, a.value.span, diag, f"the {setting.name}")
        if v is not None and not (setting.low < float(v) < setting.high):
            diag.error("E0404", f"the {setting.name} must be between {setting.low:g} and {setting.high:g}",
                       a.value.span, "", help=setting.help)
        elif v is not None:
            out[setting.name] = float(v)
    return out


def _check_per_unit(lines: list[LineIR], base_kva: float, base_kv: float, formulation: str, base: ast.Stmt | None,
                    diag: Collector) -> None:
    """The coefficients lowering writes for each line (lower/network.py: impedances in p.u. of kV^2 / MVA,
    flows in p.u. of the base power) stay within MAX_MAGNITUDE: a 1e-6 kV base makes every impedance huge in
    p.u., and HiGHS refuses matrix values beyond 1e15. The first line out of range is reported."""
    z_base = base_kv ** 2 / (base_kva / 1000.0)                      # ohm
    for line in lines:
        # a base voltage so small that kV^2 underflows (1e-300 kV, found by the fuzzer) makes every impedance infinite
        r_pu, x_pu = ((abs(z) / z_base if z_base > 0 else math.inf if z else 0.0) for z in (line.r_ohm, line.x_ohm))
        coefficients = formulation_named(formulation).coefficients(r_pu, x_pu, base_kva)
        for what, value in coefficients.items():
            if not value <= MAX_MAGNITUDE:
                diag.error("E0404", f"line {line.from_bus}-{line.to_bus}: a coefficient of {what} would be "
                                    f"{value:.3g}, beyond {MAGNITUDE_TEXT}", line.span, "out of range in p.u.",
                           secondary=[Label(base.span, "per unit of these base values")] if base is not None else [],
                           help=f"check the base values and the line's impedance: in p.u. of Z_base = kV^2 / MVA = "
                                f"{z_base:.3g} ohm it is r = {r_pu:.3g}, x = {x_pu:.3g}")
                return


def _check_radial(net, buses, lines, slack_bus, diag: Collector) -> None:
    adj = defaultdict(list)
    for line in lines:
        adj[line.from_bus].append(line.to_bus)
        adj[line.to_bus].append(line.from_bus)
    if len(lines) != len(buses) - 1:
        diag.error("E0502", f"network `{net.name}` has {len(buses)} buses and {len(lines)} lines in service; "
                            f"a radial network has {len(buses) - 1}", net.name_span, "",
                   help="the branch-flow formulations need a radial (tree) network: remove loops, or mark tie "
                        "lines `in_service` = 0 in the CSV")
        return
    seen = {slack_bus}
    queue = deque([slack_bus])
    while queue:
        b = queue.popleft()
        for n in adj[b]:
            if n not in seen:
                seen.add(n)
                queue.append(n)
    missing = sorted(set(buses) - seen)
    if missing:
        diag.error("E0502", f"buses {missing[:10]} are not connected to the slack bus", net.name_span, "",
                   help="every bus needs a path of lines to the slack bus")


def _named_args(args: list[ast.Arg], want: dict, required: tuple, span, ev: Evaluator, diag: Collector):
    out = {}
    ok = True
    for a in args:
        if a.name is None or a.name not in want:
            diag.error("E0104", f"unknown argument `{a.name or ''}`", a.span, "",
                       help="arguments: " + ", ".join(f"{k} = ..." for k in want))
            ok = False
            continue
        c = ev.try_eval(a.value)
        if c is None:
            ok = False
            continue
        v = convert(c, want[a.name], a.value.span, diag, f"`{a.name}`")
        if v is None:
            ok = False
            continue
        out[a.name] = v
    for r in required:
        if r not in out and ok:
            diag.error("E0105", f"missing argument `{r}`", span, "",
                       help="give " + ", ".join(f"{k} = ..." for k in required))
            ok = False
    return out if ok else None


def _table_call(expr: ast.Expr) -> tuple[ast.Call | None, list[ast.Expr]]:
    """Split `csv("f") * a * b` into the csv call and its multipliers."""
    if isinstance(expr, ast.Call) and expr.func == "csv":
        return expr, []
    if isinstance(expr, ast.BinOp) and expr.op == "*":
        call, rest = _table_call(expr.left)
        if call is not None:
            return call, rest + [expr.right]
        call, rest = _table_call(expr.right)
        if call is not None:
            return call, rest + [expr.left]
    return None, []


def _read_table(call: ast.Call, ev: Evaluator, required: list[str], diag: Collector):
    if len(call.args) != 1:
        ev.fail("E0403", "a network table is read with csv(\"file.csv\") alone", call.span, "",
                help="the file's columns are fixed: see docs/language.md, section Networks")
    table, s = ev.table(call)
    missing = [c for c in required if c not in table.header]
    if missing:
        ev.fail("E0403", f"{s.value} lacks column(s) {', '.join(missing)}", call.span, "",
                help="required columns: " + ", ".join(required))
    return s, table


def _num(text: str, s, row: int, col: str, ev: Evaluator, span) -> float:
    """A cell as a finite number within MAX_MAGNITUDE; a bad cell is an error that quotes that cell only."""
    value = cell_number(text)
    if value is None:
        ev.fail("E0403", f"{s.value} row {row}: `{cell_text(text)}` in column `{col}` {not_a_number(text)}",
                span, "read here", help="fix the cell in the file")
    if not check_magnitude(value, units.NONE, span, ev.diag, f"{s.value} row {row}, column `{col}`"):
        raise Failed()
    return value


def _bus_cell(text: str, s, row: int, col: str, ev: Evaluator, span) -> int:
    value = _num(text, s, row, col, ev, span)
    if value != int(value) or not 0 <= value <= MAX_BUS_NUMBER:
        ev.fail("E0403", f"{s.value} row {row}: `{cell_text(text)}` in column `{col}` is not a bus number", span,
                "read here", help=f"buses are numbered 0, 1, 2, ... up to {MAX_BUS_NUMBER:,}")
    return int(value)


def _line_problem(r_ohm: float | None, i_max_a: float | None) -> str:
    """Why a line's values are not physical, or ''."""
    if r_ohm is not None and r_ohm < 0:
        return "a line's resistance cannot be negative"
    if i_max_a is not None and not math.isnan(i_max_a) and i_max_a <= 0:
        return "a line's current limit must be positive"
    return ""


_IN_SERVICE = {"": True, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _lines_from_csv(stmt: ast.NetLines, ev: Evaluator, diag: Collector) -> list[LineIR]:
    call, extra = _table_call(stmt.source)
    if call is None or extra:
        ev.fail("E0403", "`lines` takes a table: csv(\"lines.csv\")", stmt.source.span, "",
                help="columns: from, to, r_ohm, x_ohm, and optionally i_max_a, in_service")
    s, table = _read_table(call, ev, ["from", "to", "r_ohm", "x_ohm"], diag)
    out = []
    for k, row in table.records():
        service = _IN_SERVICE.get(row.get("in_service", "").lower())
        if service is None:
            ev.fail("E0403", f"{s.value} row {k}: `{cell_text(row['in_service'])}` in column `in_service` is not "
                             "1 or 0", call.span, "read here", help="in_service is 1 (or true) or 0 (or false)")
        if not service:
            continue
        ends = [_bus_cell(row[c], s, k, c, ev, call.span) for c in ("from", "to")]
        r, x = (_num(row[c], s, k, c, ev, call.span) for c in ("r_ohm", "x_ohm"))
        i_max = _num(row["i_max_a"], s, k, "i_max_a", ev, call.span) if row.get("i_max_a") else math.nan
        problem = _line_problem(r, i_max)
        if problem:
            ev.fail("E0403", f"{s.value} row {k}: {problem}", call.span, "read here",
                    help="r_ohm >= 0; i_max_a > 0, or an empty cell for no limit")
        out.append(LineIR(ends[0], ends[1], r, x, i_max, stmt.span))
    return out


_IMPORTERS = ("matpower", "pandapower")


def _import_call(expr: ast.Expr) -> tuple[ast.Call | None, list[ast.Expr]]:
    """Split `matpower("case33bw") * a * b` into the import call and its multipliers."""
    if isinstance(expr, ast.Call) and expr.func in _IMPORTERS:
        return expr, []
    if isinstance(expr, ast.BinOp) and expr.op == "*":
        call, rest = _import_call(expr.left)
        if call is not None:
            return call, rest + [expr.right]
        call, rest = _import_call(expr.right)
        if call is not None:
            return call, rest + [expr.left]
    return None, []


def _imported(stmt: ast.NetFrom, ev: Evaluator):
    """The network of `from matpower("CASE")` (a case of MATPOWER's library, or a .m file) or `from
    pandapower("net.json")` (a pandapower.to_json file), as a mgdsl.network_import.Feeder; files are read under
    the model's folders only."""
    from ..network_import import NetworkImportError, from_matpower, from_pandapower

    call, _ = _import_call(stmt.source)
    if call is None or len(call.args) != 1 or call.args[0].name is not None \
            or not isinstance(call.args[0].value, ast.String):
        ev.fail("E0403", "`from` takes an imported network: matpower(\"CASE\") or pandapower(\"FILE.json\")",
                stmt.source.span, "", help='e.g. `from matpower("case33bw")`, optionally times a load profile')
    name = call.args[0].value.value
    by_name = call.func == "matpower" and not name.endswith(".m") and "/" not in name and "\\" not in name
    if by_name:
        where = name
    else:
        path, _ = ev.resolve_path(call)
        if path.stat().st_size > MAX_DATA_BYTES:
            ev.fail("E0004", f"{name} is larger than {MAX_DATA_BYTES // 2**20} MB", call.span, "too large",
                    help="docs/language.md, section Limits")
        where = path
    try:
        return (from_matpower if call.func == "matpower" else from_pandapower)(where)
    except NetworkImportError as e:
        ev.fail("E0403", f"cannot import {name}: {e}", call.span, "imported here",
                help="docs/import.md lists what can be imported; `mgdsl import` writes the network as CSV tables "
                     "to edit")


def _multiplier(factors: list[ast.Expr], ev: Evaluator, diag: Collector, steps: int) -> np.ndarray:
    """The product of the profiles and numbers a table of loads is multiplied by, over the horizon."""
    scale = np.ones(steps)
    for m in factors:
        v = convert(ev.eval(m), units.NONE, m.span, diag, "a load multiplier")
        if v is None:
            raise Failed()
        scale = scale * v
    return scale


def _loads_from_csv(stmt: ast.NetLoads, ev: Evaluator, diag: Collector, steps: int):
    call, multipliers = _table_call(stmt.source)
    if call is None:
        ev.fail("E0403", "`loads` takes a table: csv(\"loads.csv\"), optionally times a profile", stmt.source.span,
                "", help="columns: bus, p_kw, q_kvar")
    s, table = _read_table(call, ev, ["bus", "p_kw"], diag)
    scale = np.ones(steps)
    for m in multipliers:
        c = ev.eval(m)
        v = convert(c, units.NONE, m.span, diag, "a load multiplier")
        if v is None:
            raise Failed()
        scale = scale * v
    for k, row in table.records():
        bus = _bus_cell(row["bus"], s, k, "bus", ev, call.span)
        p = _num(row["p_kw"], s, k, "p_kw", ev, call.span)
        q = _num(row["q_kvar"], s, k, "q_kvar", ev, call.span) if row.get("q_kvar") else 0.0
        for value, dim, col in ((p * scale, units.POWER, "p_kw"), (q * scale, units.REACTIVE, "q_kvar")):
            if not check_magnitude(value, dim, stmt.source.span, diag, f"{s.value} row {k}, `{col}` times its profile"):
                raise Failed()
        yield bus, p * scale, q * scale


def check_switch_loops(network: NetworkIR | None, microgrids: dict, switches: list, diag: Collector) -> None:
    """W0505: a switch that joins two network buses outside the network (through microgrids' ties and other
    switches) closes a loop the radial check does not see: power can go around the network's lines between
    those buses through it, with no impedance, so with no voltage drop and no losses. One warning names every
    such switch; a loop back to the same bus bypasses no line and is not reported."""
    if network is None or not switches:
        return
    parent: dict[str, str] = {}
    bus_of: dict[str, int] = {}            # a component's network bus, when it reaches one

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def node(owner: str, bus: int | None) -> str:
        if bus is None:
            return f"mg:{owner}"
        bus_of.setdefault(f"bus:{bus}", bus)
        return f"bus:{bus}"

    def join(a: str, b: str) -> bool:
        """Union; True when both sides reached different buses (a path between them outside the lines)."""
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        around = ra in bus_of and rb in bus_of and bus_of[ra] != bus_of[rb]
        parent[ra] = rb
        if rb not in bus_of and ra in bus_of:
            bus_of[rb] = bus_of[ra]
        return around

    for mg in microgrids.values():
        if mg.network is not None and mg.bus is not None:
            join(node(mg.name, None), node(mg.network, mg.bus))
    loops = [sw for sw in switches if join(node(sw.a.owner, sw.a.bus), node(sw.b.owner, sw.b.bus))]
    if not loops:
        return
    names = ", ".join(f"`{sw.name}`" for sw in loops)
    first = loops[0]
    diag.warning("W0505", f"switch{'es' if len(loops) > 1 else ''} {names} close{'' if len(loops) > 1 else 's'} "
                          f"a loop around the lines of network `{network.name}`", first.span,
                 "joins two network buses outside the network",
                 secondary=[Label(sw.span, "also closes a loop") for sw in loops[1:5]],
                 notes=["a switch moves power without impedance: while it is closed, power can go from one network "
                        "bus to another through it and the microgrids, with no voltage drop and no losses, which the "
                        "radial branch-flow model does not see (docs/language.md, section Switches)"],
                 help="if the path is a feeder, model it as a `line` of the network (which must stay radial); if "
                      "the microgrids only trade, tie them to one network bus; or accept the lossless transfer as "
                      "a simplification of the model")
