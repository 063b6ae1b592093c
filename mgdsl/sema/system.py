"""Check a whole program (main file + libraries) into a SystemIR: templates, profiles, instances with
bound arguments, the network, microgrids, clusters, switches and couplings. Reports every error found;
what passes is a model lowering can build without further checks (finite values within the limits, every
port at a balance that exists)."""
from __future__ import annotations

import numpy as np

from ..decompose.settings import options_from_block
from ..diagnostics import Collector, Label, MgdError
from ..ir import CARRIERS, ClusterIR, CoupleIR, EndpointIR, InstanceIR, MicrogridIR, SwitchIR, SystemIR, TemplateIR
from ..syntax import ast
from . import units
from .instance_values import check_couple_values, check_instance_values
from .limits import MAX_SERIES_VALUES, MAX_STEPS
from .loader import Program
from .network import check_network, check_switch_loops
from .objectives import check_objectives
from .reserve import check_requirements, check_slack_limit, idle_reserve_removed, named_outside, without_requirements
from .size import check_model_size, model_shares
from .templates import check_template
from .typing import MATH_FUNCTIONS, ExprTyper, Symbol, unit_of
from .uncertainty import check_law
from .values import Const, CsvCache, Evaluator, Failed, check_magnitude, convert

# The step length: from a second to a (leap) year.
MIN_STEP_H, MAX_STEP_H = 1 / 3600, 8784.0


class SystemChecker:
    def __init__(self, program: Program, profile_scales: dict | None = None, profile_offsets: dict | None = None):
        self.program = program
        # `uncertain profile`s: name -> its name's span; `profile_scales` multiplies their values (mgdsl/studies/igdt.py
        # checks the program again with a profile scaled to see where it enters the model)
        self.uncertain: dict[str, object] = {}
        self.profile_scales = profile_scales or {}
        # `profile_offsets` (name -> a number or one per step) is added after the scale: mgdsl/studies/profiles.py
        # finds each profile's numbers in the model by moving it, and mpc/pem set it to drawn or realized values
        self.profile_offsets = profile_offsets or {}
        self.laws: dict[str, object] = {}      # uncertain profile -> its ErrorLaw (`normal(15 %)`, `errors(...)`)
        self.diag = Collector()
        self.templates: dict[str, TemplateIR] = {}
        self.env: dict[str, Const] = {}
        self.env_spans: dict[str, object] = {}
        self.steps: int | None = None
        self.dt_h = 1.0
        self.csvs = CsvCache(program.file_access())
        self.instances: dict[str, list[InstanceIR]] = {}
        self.instance_index: dict[str, InstanceIR] = {}
        self.instance_spans: dict[str, object] = {}
        self.bad_templates: set[str] = set()          # templates with errors of their own: not evaluated
        self.series_values = 0                        # values in the distinct series kept (MAX_SERIES_VALUES)
        self.series_counted: set[int] = set()
        # defaults written in a currency (`0.8 yuan/kWh`) that instances took: (instance, its call, parameter,
        # currency), checked against the system's currency once it is known (check_money_defaults)
        self.money_defaults: list[tuple[str, ast.Call, object, str]] = []
        self.directories: dict[int, object] = {}
        # id(ParamIR) -> (value, currency written) of a default that names nothing (`0.9`, `0.35 yuan/kWh`): the
        # same number for every instance, evaluated and checked once; False for a default that names something
        self.fixed_defaults: dict[int, tuple | bool | str] = {}
        self.default_errors: set[int] = set()   # id() of the diagnostics default_failed reported (kept alive)

    def evaluator(self, module: ast.Module, env: dict[str, Const] | None = None) -> Evaluator:
        directory = self.directories.get(id(module.file))
        if directory is None:                  # resolved once per file, not per microgrid
            directory = self.directories[id(module.file)] = module.file.directory
        return Evaluator(self.env if env is None else env, self.diag, self.steps, self.dt_h, directory, self.csvs)

    # ------------------------------------------------------------------ entry point
    def check(self) -> SystemIR:
        # overflows become inf and are reported where they happen (Evaluator.eval), not as numpy warnings
        with np.errstate(all="ignore"):
            ir = self._check()
        ir.warnings = list(self.diag.warnings)
        return ir

    def _check(self) -> SystemIR:
        for module in self.program.modules:
            for item in module.items:
                if isinstance(item, ast.Device):
                    self.add_template(item)
        main = self.program.main
        self.read_horizon(main)
        for module in self.program.libraries:
            for item in module.items:
                if isinstance(item, ast.Let):
                    self.define(item, module)
        network = None
        network_stmt = None
        microgrids: dict[str, MicrogridIR] = {}
        mg_stmts: list[ast.Microgrid] = []
        clusters: list[ast.Cluster] = []
        switches: list[ast.Switch] = []
        couples: list[ast.Couple] = []
        objective_stmts: list[ast.Objective | ast.Minimize] = []
        decompose = None
        for item in main.items:
            if isinstance(item, (ast.Profile, ast.Let)):
                self.define(item, main)
            elif isinstance(item, ast.Network):
                if network_stmt is not None:
                    self.diag.error("E0502", "a system has one distribution network", item.name_span, "second network",
                                    secondary=[Label(network_stmt.name_span, "first network")])
                    continue
                network_stmt = item
            elif isinstance(item, ast.Microgrid):
                mg_stmts.append(item)
            elif isinstance(item, ast.Cluster):
                clusters.append(item)
            elif isinstance(item, ast.Switch):
                switches.append(item)
            elif isinstance(item, ast.Couple):
                couples.append(item)
            elif isinstance(item, (ast.Objective, ast.Minimize)):
                objective_stmts.append(item)
            elif isinstance(item, ast.Decompose):
                if decompose is not None:
                    self.diag.error("E0504", "`decompose` is given twice", item.span, "")
                decompose = item
                try:
                    options_from_block(item)       # every setting checked against decompose/settings.py
                except MgdError as err:
                    self.diag.extend(err)
        ev = self.evaluator(main)
        at_stmts: list[ast.NetAt] = []
        if network_stmt is not None:
            if self.steps is None:
                self.diag.error("E0501", "the network needs a horizon", network_stmt.name_span, "",
                                help="add `horizon 24 steps of 1 h` at the top of the file")
            else:
                network, at_stmts = check_network(without_requirements(network_stmt), ev, self.diag, self.steps)
                check_slack_limit(network_stmt, network, ev, self.diag)
        for m in mg_stmts:
            mg = self.check_microgrid(m, network_stmt, network, microgrids)
            if mg is not None:
                microgrids[mg.name] = mg
        if network is not None:
            for at in at_stmts:
                self.network_instances(at, network)
        shares = model_shares(self.templates, self.instances, self.steps or 1, network, microgrids, switches)
        horizon = next((i.steps.span for i in main.items if isinstance(i, ast.Horizon)), None)
        if not check_model_size(shares, horizon, self.diag):
            self.diag.raise_if_any()          # the per-instance values below would already cost that much memory
        for name, insts in self.instances.items():
            if name not in self.bad_templates:
                check_instance_values(self.templates[name], insts, self.steps or 1, self.dt_h, self.diag)
        reserves = check_requirements(self, network_stmt, network, mg_stmts, microgrids)
        cluster_irs = self.check_clusters(clusters, microgrids)
        self.check_unique_names([(sw.name, sw.name_span) for sw in switches], "switch")
        self.check_unique_names([(cp.name, cp.name_span) for cp in couples], "coupling")
        switch_irs = [s for s in (self.check_switch(sw, microgrids, network) for sw in switches) if s is not None]
        couple_irs = [c for c in (self.check_couple(cp) for cp in couples) if c is not None]
        for c in couple_irs:
            check_couple_values(c, self.env, self.steps or 1, self.dt_h, self.diag)
        self.check_reactive_in_microgrids(microgrids, switch_irs)
        check_switch_loops(network, microgrids, switch_irs, self.diag)
        currency = self.check_money_defaults(self.check_currency(network))
        objectives, minimized = check_objectives(self, objective_stmts, network, currency)
        if self.steps is None and mg_stmts and not any(d.code == "E0501" for d in self.diag.diagnostics):
            self.diag.error("E0501", "the system has no horizon", mg_stmts[0].name_span, "this needs a horizon",
                            help="add `horizon 24 steps of 1 h` at the top of the file")
        if not self.diag and not any(self.instances.values()) and network is None:
            if mg_stmts or not any(isinstance(i, ast.Device) for i in main.items):
                where = (mg_stmts[0].name_span if mg_stmts
                         else main.items[0].span if main.items else main.file.span(0, 0))
                self.diag.error("E0505", "the system has nothing to optimize", where, "no devices",
                                help="add devices to a microgrid (`pv = PV(p_max = 100 kW)`), or a network")
        if not self.diag and network is None and not switch_irs and any(self.instances.values()) \
                and not any(self.templates[name].vars for name, insts in self.instances.items() if insts):
            first = next(i for insts in self.instances.values() for i in insts)
            self.diag.error("E0505", "the system has no decision variables", first.span, "no `var` in its template",
                            help="add a device that can act (a storage, a supply, a trade), or a network")
        if any(isinstance(i, ast.Horizon) for i in main.items):
            # a horizon that is there but invalid is reported once, not again by each use as a missing one
            self.diag.diagnostics = [d for d in self.diag.diagnostics if d.code != "E0501"]
        self.diag.raise_if_any()
        # a reserve no pool requires is left out of the templates lowered (sema/reserve.py)
        return SystemIR(self.steps or 0, self.dt_h, idle_reserve_removed(
                            self.templates, reserves, named_outside(objectives, couple_irs, self.instance_index)),
                        self.instances,
                        network, microgrids,
                        cluster_irs, switch_irs, couple_irs, currency, decompose, main.file.path,
                        [m.file.path for m in self.program.modules], objectives, minimized,
                        uncertain=dict(self.uncertain), laws=dict(self.laws), reserves=reserves)

    # ------------------------------------------------------------------ declarations
    def poison(self, name: str) -> None:
        """A definition that failed: later uses stay silent instead of reporting `unknown name`."""
        from .values import POISONED

        self.env[name] = POISONED
    def add_template(self, dev: ast.Device) -> None:
        if dev.name in self.templates:
            prev = self.templates[dev.name]
            self.diag.error("E0103", f"template `{dev.name}` is defined twice", dev.name_span, "defined again here",
                            secondary=[Label(prev.span, "first defined here")], help="rename one of them")
            return
        before = len(self.diag.diagnostics)
        self.templates[dev.name] = check_template(dev, self.diag)
        self.instances[dev.name] = []
        if len(self.diag.diagnostics) > before:
            self.bad_templates.add(dev.name)

    def count_series(self, values, span) -> bool:
        """Count the distinct series a checked model keeps; False (after an E0004) once over the limit."""
        for value in values:
            if isinstance(value, np.ndarray) and id(value) not in self.series_counted:
                self.series_counted.add(id(value))
                self.series_values += value.size
        if self.series_values > MAX_SERIES_VALUES:
            if self.series_values != -1:
                self.diag.error("E0004", f"the model holds more than {MAX_SERIES_VALUES:,} values in series",
                                span, "the limit is reached here",
                                help="shorten the horizon, or share profiles between devices instead of scaling "
                                     "one per device")
            self.series_values = -1 - MAX_SERIES_VALUES        # report once
            return False
        return True

    def read_horizon(self, main: ast.Module) -> None:
        horizons = [i for i in main.items if isinstance(i, ast.Horizon)]
        for extra in horizons[1:]:
            self.diag.error("E0504", "the horizon is given twice", extra.span, "again here",
                            secondary=[Label(horizons[0].span, "first given here")])
        if not horizons:
            return
        h = horizons[0]
        n = h.steps.value
        if h.steps.unit is not None or n != int(n) or n < 1:
            self.diag.error("E0404", "the number of steps must be a positive whole number", h.steps.span, "")
            return
        if n > MAX_STEPS:
            self.diag.error("E0004", f"the horizon has more than {MAX_STEPS:,} steps", h.steps.span, "too many steps",
                            help="use longer steps (`8760 steps of 1 h` for a year), or split the study in parts")
            return
        u = unit_of(h.step.unit or "", h.step.unit_span or h.step.span, self.diag)
        if u is None:
            return
        if u[1] != units.TIME or h.step.value <= 0:
            self.diag.error("E0404", "the step length must be a positive duration", h.step.span, "",
                            help="write e.g. `horizon 24 steps of 1 h` or `96 steps of 15 min`")
            return
        dt_h = h.step.value * u[0]
        if not MIN_STEP_H * (1 - 1e-9) <= dt_h <= MAX_STEP_H:
            self.diag.error("E0404", "the step length must be between 1 s and 8784 h (a year)", h.step.span, "",
                            help="write e.g. `horizon 24 steps of 1 h` or `96 steps of 15 min`")
            return
        self.steps = int(n)
        self.dt_h = dt_h

    def define(self, item: ast.Profile | ast.Let, module: ast.Module) -> None:
        if item.name in self.env or item.name == "dt":
            self.diag.error("E0103", f"`{item.name}` is defined twice", item.name_span, "defined again here",
                            secondary=[Label(self.env_spans[item.name], "first defined here")]
                            if item.name in self.env_spans else [])
            return
        c = self.evaluator(module).try_eval(item.value)
        if c is None:
            self.poison(item.name)
            return
        if item.unit is not None:
            u = unit_of(item.unit, item.span, self.diag)
            if u is None:
                return
            if c.dim == units.NONE and not c.zero:
                c = Const(c.value * u[0], u[1])          # plain numbers take the declared unit
            elif c.dim != u[1] and not c.zero:
                self.diag.error("E0203", f"`{item.name}` is declared {item.unit} but its value is "
                                         f"{units.describe(c.dim)}", item.value.span, "")
                return
            else:
                c = Const(c.value, u[1], c.zero)
        if isinstance(item, ast.Profile) and not c.is_series and self.steps is not None:
            c = Const(np.full(self.steps, float(c.value)), c.dim)
        if isinstance(item, ast.Profile) and item.uncertain:
            if np.any(np.asarray(c.value) < 0):
                self.diag.error("E0404", f"uncertain profile `{item.name}` has negative values", item.value.span,
                                "a forecast of at least 0 at every step",
                                help="an uncertain profile varies within (1 - a) .. (1 + a) times its forecast, so it "
                                     "must be non-negative: declare the forecast of a non-negative quantity")
                self.poison(item.name)
                return
            self.uncertain[item.name] = item.name_span
            if item.name in self.profile_scales:
                c = Const(np.asarray(c.value, dtype=float) * self.profile_scales[item.name], c.dim)
            if item.name in self.profile_offsets:
                c = Const(np.asarray(c.value, dtype=float) + self.profile_offsets[item.name], c.dim)
        if isinstance(item, ast.Profile) and item.distribution is not None:
            law = check_law(item, self.evaluator(module), self.diag)
            if law is not None:
                self.laws[item.name] = law
        if not self.count_series([c.value], item.name_span):
            self.poison(item.name)
            return
        self.env[item.name] = c
        self.env_spans[item.name] = item.name_span

    # ------------------------------------------------------------------ instances
    def bind(self, call: ast.Call, qualified: str, owner: str, bus: int | None, ev: Evaluator,
             span_for_name) -> InstanceIR | None:
        tpl = self.templates.get(call.func)
        if tpl is None:
            import difflib

            close = difflib.get_close_matches(call.func, list(self.templates), n=1)
            hint = (f"did you mean `{close[0]}`?" if close
                    else "add `use stdlib`, or `use \"file.mgd\"` with your templates")
            self.diag.error("E0102", f"unknown device template `{call.func}`", call.func_span, "no such template",
                            help=hint)
            return None
        if qualified in self.instance_index:
            self.diag.error("E0103", f"`{qualified}` is defined twice", span_for_name, "defined again here",
                            secondary=[Label(self.instance_spans[qualified], "first defined here")])
            return None
        params = list(tpl.params.values())
        given: dict[str, ast.Arg] = {}
        ok = True
        positional = [a for a in call.args if a.name is None]
        if any(a.name is None for a in call.args[len(positional):]):
            self.diag.error("E0106", "positional arguments must come before keyword arguments", call.span, "")
            return None
        for k, a in enumerate(positional):
            if k >= len(params):
                self.diag.error("E0106", f"`{tpl.name}` takes {len(params)} parameters, but {len(positional)} "
                                         "positional arguments were given", a.span, "extra argument",
                                help="name the arguments: " + _signature(tpl))
                ok = False
                break
            given[params[k].name] = a
        for a in call.args[len(positional):]:
            if a.name not in tpl.params:
                import difflib

                close = difflib.get_close_matches(a.name, list(tpl.params), n=1)
                self.diag.error("E0104", f"`{tpl.name}` has no parameter `{a.name}`", a.name_span or a.span,
                                "unknown parameter",
                                help=(f"did you mean `{close[0]}`? " if close else "")
                                + "parameters: " + _signature(tpl))
                ok = False
                continue
            if a.name in given:
                self.diag.error("E0106", f"`{a.name}` is given twice", a.span, "given again",
                                secondary=[Label(given[a.name].span, "first given here")])
                ok = False
                continue
            given[a.name] = a
        values: dict[str, object] = {}
        local_env: dict[str, Const] = {}
        if not ok:
            return None          # a misnamed argument would also show up as a missing one
        for p in params:
            a = given.get(p.name)
            if p.is_carrier:
                if a is None:
                    self.diag.error("E0105", f"`{tpl.name}` needs its carrier `{p.name}`", call.span, "",
                                    help=f"give it first, e.g. `{tpl.name}(electricity, ...)`; carriers: "
                                         + ", ".join(CARRIERS))
                    ok = False
                    continue
                if not (isinstance(a.value, ast.Ref) and len(a.value.parts) == 1 and a.value.index is None
                        and a.value.parts[0] in CARRIERS):
                    from ..syntax.printer import fmt_expr

                    self.diag.error("E0108", f"`{fmt_expr(a.value)}` is not a carrier (parameter `{p.name}` of "
                                             f"`{tpl.name}`)", a.value.span, "not a carrier",
                                    help="carriers: " + ", ".join(CARRIERS))
                    ok = False
                    continue
                values[p.name] = a.value.parts[0]
                continue
            if a is not None:
                c = ev.try_eval(a.value)
                if c is None:
                    ok = False
                    continue
                if c.dim != p.dim and not c.zero:
                    self.diag.error("E0202", f"`{p.name}` is {units.describe(p.dim)}, but this argument is "
                                             f"{units.describe(c.dim)}", a.value.span,
                                    f"this is {units.describe(c.dim)}",
                                    secondary=[Label(p.span, f"declared {units.describe(p.dim)} here")],
                                    help=_arg_hint(p.dim, c.dim))
                    ok = False
                    continue
            elif p.default is not None:
                fixed = self.fixed_defaults.get(id(p))
                if fixed == "failed":           # a default that names nothing failed: reported once, not per use
                    ok = False
                    continue
                if fixed:
                    value, currency = fixed
                    if currency is not None and value != 0:
                        self.money_defaults.append((qualified, call, p, currency))
                    local_env[p.name] = Const(value, p.dim)
                    values[p.name] = value
                    continue
                dev_ev = Evaluator(local_env, self.diag, self.steps, self.dt_h, ev.base_dir, self.csvs)
                before = len(self.diag.diagnostics)
                c = dev_ev.try_eval(p.default)
                if c is None:
                    self.default_failed(p, before, call, qualified)
                    ok = False
                    continue
                currency = currency_written(p.default)
                if currency is not None and np.any(np.asarray(c.value) != 0):
                    self.money_defaults.append((qualified, call, p, currency))
            else:
                self.diag.error("E0105", f"`{tpl.name}` needs `{p.name}`", call.span, "missing argument",
                                secondary=[Label(p.span, "declared here")],
                                help=f"add `{p.name} = ...` ({units.describe(p.dim)})")
                ok = False
                continue
            if a is not None:
                in_range_ = check_magnitude(c.value, p.dim, a.value.span, self.diag, f"`{p.name}`")
            else:
                # a default computed from the arguments: the template's default is where it went wrong
                in_range_ = check_magnitude(c.value, p.dim, call.span, self.diag, f"`{p.name}` (its default)")
            if not in_range_:
                ok = False
                continue
            if a is None and id(p) not in self.fixed_defaults:
                self.fixed_defaults[id(p)] = type(c.value) is float and not _names_something(p.default) \
                    and (c.value, currency)
            local_env[p.name] = Const(c.value, p.dim)
            values[p.name] = c.value
        if not ok or not self.count_series(values.values(), call.span):
            return None
        self.check_assertions(tpl, local_env, call, qualified, ev)
        inst = InstanceIR(qualified, tpl.name, owner, bus, values, call.span)
        self.instances[tpl.name].append(inst)
        self.instance_index[qualified] = inst
        self.instance_spans[qualified] = span_for_name
        return inst

    def default_failed(self, p, before: int, call: ast.Call, qualified: str) -> None:
        """The evaluation of parameter `p`'s default for instance `qualified` reported the diagnostics from
        index `before` on. One that names nothing failed for every instance: reported once. One computed from
        the arguments (`acos(pf)`, pf = 1.5) is located at the default: a label names each instance that gives
        the values, on one diagnostic when instances fail alike. What the template's own check reported
        already (`exp(2 h)`: E0410) is not repeated."""
        found = self.diag.diagnostics[before:]
        del self.diag.diagnostics[before:]
        names = _names_something(p.default)
        if not names:
            self.fixed_defaults[id(p)] = "failed"
        for d in found:
            key = (d.code, d.message, d.span and (d.span.file, d.span.start, d.span.end))
            same = next((o for o in self.diag.diagnostics
                         if (o.code, o.message, o.span and (o.span.file, o.span.start, o.span.end)) == key), None)
            if same is None:
                self.diag.diagnostics.append(d)
                self.default_errors.add(id(d))
                same = d
            if names and id(same) in self.default_errors and len(same.secondary) < 5:   # enough to find them
                same.secondary.append(Label(call.span, f"`{qualified}` gives the values"))

    def check_assertions(self, tpl: TemplateIR, env: dict[str, Const], call: ast.Call, name: str, ev) -> None:
        dev_ev = Evaluator(env, self.diag, self.steps, self.dt_h, ev.base_dir, self.csvs)
        for c in tpl.constraints:
            if not c.is_assertion:
                continue
            try:
                vals = [dev_ev.eval(t).value for t in c.stmt.terms]
            except Failed:
                continue
            for k, op in enumerate(c.stmt.ops):
                a, b = vals[k], vals[k + 1]
                # only the comparison asked for, on plain numbers without numpy: this runs per instance
                if type(a) is float and type(b) is float:
                    good = a <= b + 1e-9 if op == "<=" else (
                        a >= b - 1e-9 if op == ">=" else (a == b or abs(a - b) <= 1e-8 + 1e-5 * abs(b)))
                else:
                    a, b = np.asarray(a), np.asarray(b)
                    good = a <= b + 1e-9 if op == "<=" else (a >= b - 1e-9 if op == ">=" else np.isclose(a, b))
                if not np.all(good):
                    self.diag.error("E0404", f"`{name}` violates the condition of `{tpl.name}`", call.span,
                                    "these arguments", secondary=[Label(c.stmt.span, "this must hold")],
                                    help="change the arguments so that the condition holds")
                    return

    def check_microgrid(self, m: ast.Microgrid, network_stmt, network, existing) -> MicrogridIR | None:
        if m.name in existing or (network_stmt is not None and m.name == network_stmt.name):
            self.diag.error("E0103", f"`{m.name}` is defined twice", m.name_span, "defined again here")
            return None
        ev = self.evaluator(self.program.main)
        bus = None
        if m.at_network is not None:
            if network_stmt is None or m.at_network != network_stmt.name:
                self.diag.error("E0109", f"no network named `{m.at_network}`", m.at_span, "unknown network",
                                help=f"the network is `{network_stmt.name}`" if network_stmt
                                else "declare `network NAME { ... }`")
            else:
                b = m.at_bus.value
                if network is not None and (b != int(b) or int(b) not in network.buses):
                    self.diag.error("E0109", f"network `{network.name}` has no bus {m.at_bus.text}", m.at_bus.span,
                                    "unknown bus", help=f"buses are {network.buses[0]} .. {network.buses[-1]}")
                else:
                    bus = int(b)
        limit = None
        if m.limit is not None:
            c = ev.try_eval(m.limit)
            if c is not None:
                v = convert(c, units.POWER, m.limit.span, self.diag, "a tie-line limit")
                if v is not None:
                    if np.ndim(v) or v <= 0:
                        self.diag.error("E0404", "a tie-line limit must be one positive power", m.limit.span, "")
                    else:
                        limit = float(v)
        local_env = dict(self.env)
        for s in m.body:
            if isinstance(s, ast.Let):
                c = Evaluator(local_env, self.diag, self.steps, self.dt_h, ev.base_dir, self.csvs).try_eval(s.value)
                if c is not None:
                    local_env[s.name] = c
            elif isinstance(s, ast.Instance):
                inst_ev = Evaluator(local_env, self.diag, self.steps, self.dt_h, ev.base_dir, self.csvs)
                self.bind(s.call, f"{m.name}.{s.name}", m.name, None, inst_ev, s.name_span)
        return MicrogridIR(m.name, m.at_network if bus is not None else None, bus, limit, m.name_span)

    def network_instances(self, at: ast.NetAt, network) -> None:
        ev = self.evaluator(self.program.main)
        for q in at.buses:
            b = q.value
            if b != int(b) or int(b) not in network.buses:
                self.diag.error("E0109", f"network `{network.name}` has no bus {q.text}", q.span, "unknown bus")
                continue
            b = int(b)
            local = at.name if at.name else at.call.func.lower()
            if at.name is None or len(at.buses) > 1:
                local = f"{local}_{b}"
            inst = self.bind(at.call, f"{network.name}.{local}", network.name, b, ev, q.span)
            if inst is not None:
                self.check_network_carriers(inst)

    def check_network_carriers(self, inst: InstanceIR) -> None:
        """A device in the network injects only electricity and reactive power: the buses balance nothing else."""
        tpl = self.templates[inst.template]
        for port in tpl.ports:
            carrier = inst.values[port.carrier] if port.carrier in tpl.params else port.carrier
            if carrier not in ("electricity", "reactive"):
                self.diag.error("E0504", f"the network has no `{carrier}` balance, but `{inst.name}` injects {carrier}",
                                inst.span, "placed in the network", secondary=[Label(port.span, "this port")],
                                help="put heat and gas devices in a microgrid; the network balances electricity "
                                     "and reactive power")
                return

    # ------------------------------------------------------------------ structure
    def check_unique_names(self, named: list[tuple[str, object]], what: str) -> None:
        first: dict[str, object] = {}
        for name, span in named:
            if name in first:
                self.diag.error("E0103", f"{what} `{name}` is defined twice", span, "defined again here",
                                secondary=[Label(first[name], "first defined here")], help="rename one of them")
            else:
                first[name] = span

    def check_clusters(self, clusters: list[ast.Cluster], microgrids) -> dict[str, ClusterIR]:
        out: dict[str, ClusterIR] = {}
        member_of: dict[str, str] = {}
        for c in clusters:
            if c.name in out or c.name in microgrids:
                self.diag.error("E0103", f"`{c.name}` is defined twice", c.name_span, "")
                continue
            for name, span in c.members:
                if name not in microgrids:
                    self.diag.error("E0109", f"cluster `{c.name}` names `{name}`, which is not a microgrid", span,
                                    "unknown microgrid",
                                    help="microgrids: " + ", ".join(microgrids) if microgrids else "")
                elif name in member_of:
                    self.diag.error("E0504", f"`{name}` is already in cluster `{member_of[name]}`", span,
                                    "second cluster", help="a microgrid belongs to at most one cluster")
                else:
                    member_of[name] = c.name
            out[c.name] = ClusterIR(c.name, [n for n, _ in c.members], c.span)
        return out

    def endpoint(self, e: ast.Endpoint, microgrids, network) -> EndpointIR | None:
        if e.bus is None:
            if e.name in microgrids:
                return EndpointIR(e.name, None)
            self.diag.error("E0109", f"`{e.name}` is not a microgrid", e.span, "unknown microgrid",
                            help="a switch ties two microgrids, or a microgrid and a bus `dn.12`")
            return None
        if network is None or e.name != network.name:
            self.diag.error("E0109", f"no network named `{e.name}`", e.span, "unknown network")
            return None
        b = e.bus.value
        if b != int(b) or int(b) not in network.buses:
            self.diag.error("E0109", f"network `{network.name}` has no bus {e.bus.text}", e.bus.span, "unknown bus")
            return None
        return EndpointIR(network.name, int(b))

    def check_switch(self, sw: ast.Switch, microgrids, network) -> SwitchIR | None:
        a = self.endpoint(sw.a, microgrids, network)
        b = self.endpoint(sw.b, microgrids, network)
        c = self.evaluator(self.program.main).try_eval(sw.limit)
        limit = convert(c, units.POWER, sw.limit.span, self.diag, "a switch limit") if c is not None else None
        if a is None or b is None or limit is None:
            return None
        if a.owner == b.owner:
            self.diag.error("E0504", "a switch must tie two different subsystems", sw.span, "",
                            help="tie two microgrids, or a microgrid and a network bus")
            return None
        if np.ndim(limit) or limit <= 0:
            self.diag.error("E0404", "a switch limit must be one positive power", sw.limit.span, "")
            return None
        return SwitchIR(sw.name, a, b, float(limit), sw.span)

    def check_couple(self, cp: ast.Couple) -> CoupleIR | None:
        if cp.op != "==":
            self.diag.error("E0504", "a coupling is an equality", cp.span, f"`{cp.op}`",
                            help="write `couple NAME: a == b`")
            return None
        owners = []
        tys = []
        for side in (cp.lhs, cp.rhs):
            scope: dict[str, Symbol] = {name: Symbol("param", c.dim, c.is_series) for name, c in self.env.items()}
            side_owners = set()
            ok = True
            for ref in ast.refs(side):
                if ref.name in scope:
                    continue
                parts = ref.parts
                inst = self.instance_index.get(".".join(parts[:-1])) if len(parts) >= 3 else None
                var = self.templates[inst.template].vars.get(parts[-1]) if inst is not None else None
                if var is None:
                    self.diag.error("E0109", f"`{ref.name}` is not a variable of an instance", ref.span,
                                    "unknown", help="write OWNER.INSTANCE.VARIABLE, e.g. `mg1.chp.p`")
                    ok = False
                    continue
                side_owners.add(inst.owner)
                scope[ref.name] = Symbol("var", var.dim, timed=var.timed)
            if not ok:
                return None
            t = ExprTyper(scope, self.diag, "couple").ty(side)
            if t is None:
                return None
            if len(side_owners) != 1:
                self.diag.error("E0504", "each side of a coupling must use the variables of exactly one subsystem",
                                side.span, f"uses {', '.join(sorted(side_owners)) or 'no variables'}")
                return None
            owners.append(side_owners.pop())
            tys.append(t)
        if owners[0] == owners[1]:
            self.diag.error("E0504", f"both sides of `{cp.name}` belong to `{owners[0]}`", cp.span, "",
                            help="a coupling ties two different subsystems; within one, write a constraint")
            return None
        if tys[0].dim != tys[1].dim:
            self.diag.error("E0201", f"unit mismatch: cannot equate {units.describe(tys[0].dim)} and "
                                     f"{units.describe(tys[1].dim)}", cp.span, "",
                            secondary=[Label(cp.lhs.span, f"this is {units.describe(tys[0].dim)}"),
                                       Label(cp.rhs.span, f"this is {units.describe(tys[1].dim)}")])
            return None
        return CoupleIR(cp.name, cp.lhs, cp.rhs, owners[0], owners[1], tys[0].dim, cp.span)

    def check_currency(self, network) -> str:
        """The system's currency: the one its main file names (yuan, usd, eur); two are an error."""
        seen: dict[str, object] = {}
        text = self.program.main.file.text
        named = [c for c in units.CURRENCIES if c in text]      # a currency not in the text is not written
        for unit, span in _units_written(self.program.main) if named else ():
            for part in unit.split("/"):
                if part in units.CURRENCIES:
                    seen.setdefault(part, span)
            if len(seen) == len(named):
                break                            # every currency the text holds is found (the usual: one)
        if len(seen) > 1:
            (c1, s1), (c2, s2) = list(seen.items())[:2]
            self.diag.error("E0201", f"the system names two currencies: {c1} and {c2}", s2, f"this is {c2}",
                            secondary=[Label(s1, f"this is {c1}")],
                            help="mgdsl knows no exchange rates: express every price in one currency")
        return next(iter(seen), "money")

    def check_money_defaults(self, currency: str) -> str:
        """A default written in a currency (the standard library's prices are yuan) holds in a system of that
        currency, or of none named (which then takes it); in another it is refused at the instance, naming the
        parameters to give: mgdsl knows no exchange rates, and the number read as usd would be wrong."""
        used = {c for *_, c in self.money_defaults}
        if currency not in units.CURRENCIES and len(used) == 1:
            return next(iter(used))
        if currency not in units.CURRENCIES and len(used) > 1:
            currency = sorted(used)[0]              # the defaults themselves disagree: the others are reported
        by_instance: dict[str, list] = {}
        for name, call, p, cur in self.money_defaults:
            if cur != currency:
                by_instance.setdefault(name, [call]).append((p, cur))
        from ..syntax.printer import fmt_expr

        def both(items):
            return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

        for name, (call, *params) in by_instance.items():
            names = both([f"`{p.name}`" for p, _ in params])
            defaults = both([fmt_expr(p.default) for p, _ in params])
            wanted = ", ".join(f"{p.name} = ... {units.describe(p.dim).replace('money', currency)}"
                               for p, _ in params)
            their = "its default" if len(params) == 1 else "their defaults"
            self.diag.error(
                "E0205", f"`{name}` leaves {names} at {their}, {defaults}, but this system's currency is {currency}",
                call.span, f"takes {their} in {both(sorted({c for _, c in params}))}",
                secondary=[Label(p.default.span, f"the default, in {cur}") for p, cur in params[:2]],
                help=f"mgdsl knows no exchange rates: give {'it' if len(params) == 1 else 'them'} in {currency} "
                     f"({wanted})")
        return currency

    def check_reactive_in_microgrids(self, microgrids: dict[str, MicrogridIR], switches: list[SwitchIR]) -> None:
        """Marks each microgrid with a device that can inject or absorb reactive power (a port on `reactive` that
        is not held at zero by its variables' bounds): its tie and its switches then carry Q as well as P (see
        lower/system.py). W0501: such a microgrid with no tie to a network and no switch to a bus or to another
        microgrid with reactive devices balances its reactive power alone: warn once, at its devices."""
        found: dict[str, list[InstanceIR]] = {}
        for name, insts in self.instances.items():
            if name in self.bad_templates:
                continue
            tpl = self.templates[name]
            for inst in insts:
                if inst.owner in microgrids and any(
                        self._can_inject(tpl, inst, port) for port in tpl.ports
                        if inst.values.get(port.carrier, port.carrier) == "reactive"):
                    found.setdefault(inst.owner, []).append(inst)
        for owner in found:
            microgrids[owner].reactive = True
        for sw in switches:
            sw.reactive = all(e.owner not in microgrids or e.owner in found for e in (sw.a, sw.b))

        def reaches(sw: SwitchIR, owner: str) -> bool:
            other = sw.b if sw.a.owner == owner else sw.a if sw.b.owner == owner else None
            return other is not None and (other.owner not in microgrids or other.owner in found)

        for owner, insts in found.items():
            if microgrids[owner].bus is not None or any(reaches(sw, owner) for sw in switches):
                continue
            names = ", ".join(f"`{i.name}`" for i in insts[:4]) + (f" and {len(insts) - 4} more"
                                                                    if len(insts) > 4 else "")
            self.diag.warning(
                "W0501", f"the reactive power of {names} stays inside microgrid `{owner}`: it has no tie to a "
                         "network and no switch that carries reactive power, so these reactive limits do nothing "
                         "outside it",
                insts[0].span, "can inject reactive power",
                secondary=[Label(i.span, "can inject reactive power") for i in insts[1:4]]
                + [Label(microgrids[owner].span, "no reactive exchange with the network")],
                help=f"tie the microgrid to a network bus (`microgrid {owner} at NETWORK.BUS limit ... {{`), or "
                     "place the device at a network bus (`at BUS: NAME = ...` in the network block)")

    def _can_inject(self, tpl: TemplateIR, inst: InstanceIR, port) -> bool:
        """Whether a port can be non-zero: it has a variable whose bounds, for this instance, are not both 0."""
        variables = [tpl.vars[r.parts[0]] for r in ast.refs(port.value) if len(r.parts) == 1 and r.parts[0] in tpl.vars]
        if not variables:
            return True                            # a fixed injection: it too balances inside the microgrid
        env = {k: Const(v, tpl.params[k].dim) for k, v in inst.values.items()
               if k in tpl.params and not tpl.params[k].is_carrier}
        ev = Evaluator(env, Collector(), self.steps, self.dt_h, None, self.csvs)     # values already checked
        for var in variables:
            bounds = [ev.try_eval(b) for b in (var.lower, var.upper) if b is not None]
            if len(bounds) < 2 or not all(b is not None and not np.any(np.asarray(b.value)) for b in bounds):
                return True
        return False


def currency_written(expr) -> str | None:
    """The currency a default is written in (`0.8 yuan/kWh` -> yuan), or None (plain numbers, `money`)."""
    for node in _nodes(expr):
        if isinstance(node, ast.Quantity) and node.unit:
            for part in node.unit.split("/"):
                if part in units.CURRENCIES:
                    return part
    return None


def _names_something(expr) -> bool:
    """Whether an expression's value may differ between instances: it names a parameter or a constant, or
    reads a file (a math function of numbers is the same number everywhere)."""
    return any(isinstance(n, ast.Ref) or (isinstance(n, ast.Call) and n.func not in MATH_FUNCTIONS)
               for n in _nodes(expr))


def _nodes(node):
    yield node
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _nodes(x)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            if name not in ("span", "file", "name_span", "unit_span"):
                value = getattr(node, name)
                if hasattr(value, "__dataclass_fields__") or isinstance(value, (list, tuple)):
                    yield from _nodes(value)


def _units_written(module: ast.Module):
    """(unit text, span) of every unit written in a module: quantities and declared units."""
    def walk(node):
        if isinstance(node, ast.Quantity):
            if node.unit:
                yield node.unit, node.unit_span or node.span
            return
        if isinstance(node, (list, tuple)):
            for x in node:
                yield from walk(x)
            return
        if not hasattr(node, "__dataclass_fields__") or isinstance(node, ast.Module):
            return
        if isinstance(node, (ast.Profile, ast.Let, ast.Objective)) and node.unit:
            yield node.unit, node.name_span
        for name in node.__dataclass_fields__:
            if name not in ("span", "comments", "trailing", "file", "name_span", "unit_span"):
                yield from walk(getattr(node, name))
    for item in module.items:
        yield from walk(item)


def _signature(tpl: TemplateIR) -> str:
    from ..syntax.printer import fmt_param

    parts = [fmt_param(p) for p in tpl.decl.params]
    return f"{tpl.name}(" + ", ".join(parts) + ")"


def _arg_hint(want, got) -> str:
    if want == got * units.TIME:
        return "this is power; the parameter is energy (e.g. 1 MWh)"
    if got == want * units.TIME:
        return "this is energy; the parameter is power (e.g. 250 kW)"
    return f"give a value in {units.describe(want)}; other units of the same dimension are converted"


def check_program(program: Program, profile_scales: dict | None = None,
                  profile_offsets: dict | None = None) -> SystemIR:
    """The checked system. `profile_scales` (uncertain profile -> factor, a number or one per step) multiplies those
    profiles' values, then `profile_offsets` (the same, in the profile's canonical unit) is added: the studies
    check the program so to find where each one enters the model."""
    return SystemChecker(program, profile_scales, profile_offsets).check()
