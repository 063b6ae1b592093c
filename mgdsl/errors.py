"""The registry of stable error codes: a title and an explanation for each (`mgdsl explain CODE`)."""
from __future__ import annotations

# code -> (title, explanation). Codes are stable: never reuse or renumber one. E codes are errors; W codes are
# warnings, reported with a model that is still checked, compiled and solved.
CODES: dict[str, tuple[str, str]] = {
    # ---- E00xx: reading and syntax
    "E0001": ("syntax error", """
The parser met a token it did not expect. The message names what it found and what would have been
valid at that point. Common causes: a missing newline between two statements, an unclosed parenthesis,
a keyword used as a name (`t`, `first`, `last`, `var`, `port`, `cost`, `in` ...), or a compound unit
written with spaces (`yuan / kWh` is a division; write `yuan/kWh`).
"""),
    "E0002": ("unexpected character", """
The file contains a character that cannot start any token of the language (for example `$` or `;`),
or a string that is not closed on its line. Remove the character or close the string.
"""),
    "E0003": ("cannot read file", """
A model file or a file named by `use "..."` could not be read: it does not exist, is not a file, or is
not UTF-8 text. Paths in `use` are relative to the file that contains the `use`.
"""),
    "E0004": ("input too large", """
The model exceeds one of mgdsl's size limits, which are checked before anything of that size is read or
allocated: a .mgd file over 4 MB (16 MB for all of a model's), a CSV file over 64 MB (256 MB for all of a
model's) or a CSV cell over 128 kB, a horizon over 1,000,000 steps, a network over 100,000 buses (or
50,000,000 buses x steps), an expression nested over 100 levels deep (a chain `a + b + c ...` of n terms
counts n levels: name parts of it with `let`), a time offset beyond the horizon limit, more than 100,000,000
values in the model's series, or a model of more than about 100,000,000 variables and constraint rows
(estimated from the counts of instances, lines and steps). docs/language.md lists the limits.
"""),
    # ---- E01xx: names
    "E0101": ("unknown name", """
An expression names something that is not defined where it is used. Inside a device template the names
in scope are the template's parameters, its variables, its `let` definitions, `dt` (the step length)
and top-level `let` constants. In a system file, the top-level profiles and `let` constants.
"""),
    "E0102": ("unknown device template", """
An instance calls a template that no loaded file defines. Add `use stdlib` (the standard library) or
`use "file.mgd"` for your own templates, or fix the spelling. `mgdsl explain`-ing the library:
see docs/stdlib.md for every standard template.
"""),
    "E0103": ("duplicate definition", """
Two declarations in the same scope have the same name: two templates, two parameters or variables of
one template, two instances in one microgrid, two microgrids, a profile and a constant, and so on.
Rename one of them.
"""),
    "E0104": ("unknown argument", """
A template was called with a keyword argument it does not declare. The message lists the template's
parameters.
"""),
    "E0105": ("missing argument", """
A template parameter without a default value was not given an argument. Give it one, e.g.
`Storage(electricity, capacity = 1 MWh, p_max = 250 kW)`.
"""),
    "E0106": ("too many arguments", """
A template was called with more positional arguments than it has parameters, or an argument was given
both by position and by name. Positional arguments fill parameters in declaration order; prefer
keyword arguments for anything but the carrier.
"""),
    "E0107": ("unknown unit", """
A unit is not one mgdsl knows. Known units: W kW MW GW (power), Wh kWh MWh GWh (energy), h min s
(time), var kvar Mvar (reactive power), varh kvarh Mvarh, VA kVA MVA (apparent power), V kV (voltage), A kA (current),
ohm (impedance), yuan usd eur money (money; a system uses one currency), pu and % (dimensionless). Compound units
are written without spaces, e.g. `yuan/kWh`, `kW/h`.
"""),
    "E0108": ("unknown carrier", """
A carrier argument or port names an energy carrier that does not exist. Carriers: electricity, heat,
gas, reactive (reactive power, in kvar). A template may take a carrier as a parameter
(`device Storage(carrier c, ...)`) and use it in `port c += ...`.
"""),
    "E0109": ("unknown reference", """
A structural statement refers to a network, bus, microgrid, instance or variable that does not exist:
`microgrid m at dn.99` with no bus 99, `switch k between mg1 and mgX`, `cluster c = {...}` naming an
unknown microgrid, or `couple` naming an unknown instance variable.
"""),
    # ---- E02xx: units and dimensions
    "E0201": ("unit mismatch", """
The two sides of `+`, `-` or a comparison have different physical dimensions, for example power (kW)
added to energy (kWh). Multiply power by `dt` (the step length, in hours) to obtain energy, or divide
energy by `dt` to obtain power. A system file that names two currencies (yuan and usd, say) is also
reported here: mgdsl knows no exchange rates.
"""),
    "E0202": ("argument has the wrong unit", """
An argument's dimension differs from the parameter's declared unit, for example `250 kW` given to a
`capacity: kWh` parameter. Arguments in another unit of the same dimension are converted (1 MWh to kWh).
"""),
    "E0203": ("declaration has the wrong unit", """
A value does not have the dimension its declaration requires: a variable bound in another dimension
than the variable, a port expression that is not power (kW, or kvar for the reactive carrier), a cost
term that is not money, a profile whose values do not match its declared unit, or an initial state in
another dimension than its variable.
"""),
    "E0204": ("invalid exponent", """
Only whole, non-negative powers of dimensional quantities are supported (`p^2`). A power of an
expression with decision variables is allowed only as `x^2` inside a `cost +=` term.
"""),
    "E0205": ("default in another currency", """
An instance leaves a price at its template's default, and that default is written in another currency than
the system's: the standard library's non-zero price defaults (fuel, O&M, compensation, demand-response costs,
listed in docs/stdlib.md) are yuan values from its case studies. mgdsl knows no exchange rates, and reading
0.8 yuan/kWh as 0.8 usd/kWh would change the optimum without a word, so the instance is refused. Give the
named parameters explicitly in the system's currency (`InterruptibleLoad(base = 100 kW, compensation =
0.11 usd/kWh)`). Defaults written in the neutral `money` (all of them zero) hold in any currency; a system
that names no currency takes the currency of the defaults it uses.
"""),
    # ---- E03xx: linearity
    "E0301": ("nonlinear product of variables", """
A constraint multiplies two decision variables (or divides by one). Constraints must be linear: the
solver (HiGHS) handles linear and mixed-integer linear models. Typical fixes: fix one factor as a
parameter, use a binary with a big-M bound (`p[t] <= p_max * on[t]` is linear because `p_max` is a
parameter), or model a piecewise-linear curve.
"""),
    "E0302": ("quadratic term outside the objective", """
A quadratic term (a product of two variables, or `x^2`) is allowed only in a `cost +=` statement,
where it becomes part of a convex quadratic objective. Constraints, ports and bounds must be linear.
"""),
    "E0303": ("non-convex quadratic cost", """
A quadratic cost term must be a non-negative multiple of the square of one variable (`a * p^2` with
a >= 0) so that the objective is convex. Products of two different variables, negative coefficients
and time-varying coefficients that become negative are rejected.
"""),
    "E0304": ("objective cannot be minimized", """
`losses` and `vdi` may be minimized only with positive weights. The SOC branch flow (`distflow_socp`) is a
relaxation: it is exact when losses cost something, and with a negative weight the optimizer would invent
losses. The voltage deviation |V - 1| of `vdi` is linearized by auxiliary variables that bound it from
above, which is exact only when it is minimized. A negative weight on `cost` is refused when the model has
quadratic costs, which it would make concave. Give these objectives positive weights.
"""),
    # ---- E04xx: data
    "E0401": ("wrong profile length", """
A time series must have one value per step of the horizon (`horizon N steps of ...`), or exactly one
value (a constant). Check the list literal or the CSV column.
"""),
    "E0402": ("data file not found", """
A `csv("file", "column")` names a file that does not exist. CSV paths are relative to the .mgd file that
contains them.
"""),
    "E0403": ("bad data", """
A CSV file could not be used: the column is missing, a cell is not a number, or required columns of a
network table (lines: from,to,r_ohm,x_ohm; loads: bus,p_kw,q_kvar) are absent. The message names the
file, row and column.
"""),
    "E0404": ("invalid value", """
A value is outside what it can physically be: a negative capacity or step length, a lower bound above
an upper bound, a horizon of zero steps, a non-integer bus number. The message says which range is valid.
"""),
    "E0405": ("file outside the allowed folders", """
A `csv("...")` or `use "..."` names a file outside the folders this model may read: the folder of the main
.mgd file (and its subfolders) and the installed standard library. Paths are resolved, symbolic links
included, before they are compared. Move the file under the model's folder, or allow another folder with
`--allow-read DIR` on the command line (repeatable) or `allow_read=[DIR, ...]` in `mgdsl.load`.
"""),
    "E0410": ("a math function of a unit", """
sqrt, exp, log, sin, cos, tan, asin, acos and atan take plain numbers (`%` and `pu` are plain numbers; angles
are radians) and give plain numbers. The one exception is the square root of a unit whose powers are all
even: `sqrt(a * b)` of two powers in kW is in kW. Divide a quantity by a unit to make it a number
(`tan(acos(pf)) * 1 kvar/kW` turns a power factor into kvar per kW).
"""),
    "E0411": ("outside a math function's domain", """
A math function was given a value where it is not defined: the square root of a negative number, the
logarithm of 0 or less, `asin` or `acos` of a number outside -1 .. 1. The message gives the value (the first
such one of a series).
"""),
    "E0412": ("a decision variable in a math function", """
sqrt, exp, log, sin, cos, tan, asin, acos and atan apply to numbers known before the solve (parameters,
profiles, constants): of a decision variable they are not linear, and mgdsl builds linear (or convex
quadratic) models only.
"""),
    "E0413": ("a math function outside a parameter's default", """
Math functions are evaluated where values are known: in system files (`let`, `profile`, instance
arguments) and in a template parameter's default, per instance. In a template's constraints, bounds, ports,
costs and lets, use a parameter that holds the value instead:
`device LoadPQ(base: kW, pf = 0.9, tan_phi: kvar/kW = tan(acos(pf)) * 1 kvar/kW) { ... tan_phi * p ... }`.
In an objective or a coupling, name the value with a `let` of the system file: `let k = sqrt(2)`.
"""),
    # ---- E05xx: structure
    "E0501": ("missing horizon", """
A system file with microgrids or a network needs `horizon N steps of D` (for example
`horizon 24 steps of 1 h`) before any profile is used.
"""),
    "E0502": ("invalid network", """
The network description is incomplete or inconsistent: no buses, no slack bus, a line or load at an
undeclared bus, a network that is not connected and radial from the slack, two slack declarations, or an
unknown formulation (available: lindistflow, distflow_socp).
"""),
    "E0503": ("invalid time index", """
A time index is used where it has no meaning: `x[t-1]` on a parameter, an index on a variable declared
without `[t]`, `t` outside a device template, or an offset other than `t-k`, `t+k`, `first+k`, `last-k`.
An objective is one number for the whole horizon: a variable in it is summed over the steps (`sum(x * dt)`)
or taken at a fixed step (`x[last]`), never shifted (`x[t-1]`), and a total (`losses`) is not weighted by a
series.
"""),
    "E0504": ("invalid structure", """
A structural statement is inconsistent: a microgrid in two clusters, a switch whose two ends are the same,
a `couple` whose two sides belong to the same subsystem, an `initial` for an undeclared variable or one
without `[t]`, a carrier with no balance where a device injects into it (heat or gas in the network), or a
statement placed where it is not allowed.
"""),
    "E0505": ("nothing to optimize", """
The system has no instances: no microgrid devices and no network. Add at least one microgrid or a network.
"""),
    "E0506": ("objective not available", """
An objective names a quantity the system does not provide. `losses` needs a network with the SOC branch flow
(`formulation distflow_socp`): LinDistFlow (`lindistflow`) drops the r·l terms, so its flows arrive whole and
its losses are 0 by construction. `losses` and `vdi` (the voltage deviation index) belong to the
distribution network, so a system without one has neither. `cost` is always available. A `minimize` whose
objective has no decision variable in it (a constant) is also reported here. Other objectives are declared
with `objective NAME: UNIT = EXPR` over these built-ins and device variables (`sum(mg1.chp.p * dt)`).
"""),
    "W0501": ("reactive power kept inside a microgrid (warning)", """
A device in a microgrid can inject or absorb reactive power (a Microturbine with q_min/q_max, a WindPQ, an SVC, a
capacitor bank, a LoadPQ), but the microgrid has no tie to a network and no switch to a network bus or to another
microgrid with reactive devices: its reactive carrier balances inside the microgrid, so whatever the device could
do for the network's voltage does nothing. A microgrid tied to a network bus (`microgrid mg1 at dn.5 limit ...`)
or switched to one exchanges reactive power with it: its tie and switches carry Q as well as P. The model is
still solved as written.
"""),
    "W0502": ("imported network simplified (warning)", """
A network imported with `from matpower(...)` or `from pandapower(...)` holds something mgdsl's feeder model does
not: line charging, bus shunts, transformer no-load losses or phase shifts, a slack voltage set-point other than
1 p.u., generators (taken as fixed injections at their set-points) or storage units (fixed loads). The notes
name each and its size. The model is solved without them, so its flows and voltages differ from an AC power flow
of the original case by their effect (docs/import.md lists what is imported). If they matter, model them: a
generator as a device at its bus (`at BUS: NAME = ...`), a shunt as a load; or write the network as CSV tables
with `mgdsl import` and edit them.
"""),
    "E0510": ("slack voltage out of range", """
The slack bus is held at its voltage set point (`slack 1 at 1.02 pu buys at PRICE`; 1 p.u. when the `at` is left
out), in every formulation and in `mgdsl verify`'s AC power flow. The set point is a number in p.u. within the
network's voltage limits (`voltage 0.95 .. 1.05 pu`): outside them the buses next to the slack could not stay
within their limits and the model would be infeasible. Give the set point within the limits, or widen them.
"""),
    "W0504": ("LinDistFlow leaves out losses and AC voltages (note)", """
A note in the summary of a solve whose network uses `formulation lindistflow` (the default), printed by
`mgdsl solve` and kept in summary.json and report.html. LinDistFlow is linear and lossless: the slack buys
what the loads take and no more (on the 33-bus feeder at nominal load it misses 202.7 kW of losses, 5.5 %), and
its voltages are those of a lossless network, higher than an AC power flow's, so a dispatch that holds its voltage
limit in the model may break it in AC (models/example.mgd: 0.9267 p.u. against a 0.93 floor in 6 hours).
`mgdsl verify RESULTS` runs an AC power flow of the dispatch and lists losses and limits passed;
`formulation distflow_socp` (the SOC branch flow) has the losses and is exact where its relaxation is tight.
"""),
    "W0505": ("switch closes a loop around the network's lines (warning)", """
A `switch` moves power between its ends without impedance. When its two ends already reach two different buses of
the network (a microgrid tied at `dn.23` and another at `dn.28`, joined by a switch; or a microgrid tied at one bus
and switched to another), closing it lets power go from one bus to the other around the network's lines: with no
voltage drop and no losses, a path the radial check of the network does not see and the branch-flow model does not
describe. The warning names every such switch. If the path is a feeder, model it as a `line` (the network must stay
radial: open another line); if the microgrids only trade with one another, tie them at one network bus; or accept
the lossless transfer as a simplification (the bundled models of clustered microgrids do, as their papers do).
"""),
    # ---- E06xx: solving
    "E0601": ("infeasible model", """
No operating point satisfies every constraint. mgdsl solves the model's continuous relaxation once for a
certificate of infeasibility and narrows its rows to an irreducible conflict with HiGHS, within a time
bound of 20 s (or the run's --time-limit, if shorter; a conflict found when the bound is reached is reported
as partial). The report leads with what you can change: the limits of your network that take part (the
voltage limits, line ratings, tie-line and switch limits, each underlined where you wrote it), then the
network's loads at the steps involved, then your instances by name, then the library's declarations, one line
per declaration with its instances, buses and steps (t counted from 0). The screen shows the first 8 lines;
`mgdsl solve --json` lists every line (`details`), and `mgdsl solve` writes the whole report beside the
results folder, to NAME.infeasible.txt (named in the message; the results folder keeps the previous run).
Look for demand that exceeds supply plus tie-line limits, voltage limits a load cannot meet, storage end-state
requirements that cannot be met, or bounds that contradict each other. If the relaxation is feasible, the
conflict lies in on/off and integer decisions.
"""),
    "E0602": ("unbounded model", """
The objective can decrease without limit: some variable can grow forever while lowering the cost, for
example a sale at a positive price with no upper bound. mgdsl re-solves with large artificial bounds and
reports the variables that ran to them. Give them a physical bound (`in 0 .. p_max`).
"""),
    "E0603": ("solver failure", """
HiGHS stopped without an optimal solution for another reason than a time limit (E0605), infeasibility or
unboundedness: numerical trouble, or a QP its solvers could not finish. The message gives the solver's
status. Check for extreme coefficients (very large or very small parameters).
"""),
    "E0604": ("mixed-integer quadratic model", """
The model has binary or integer variables (a CHP on/off, a switch) and a quadratic cost term. That is a
mixed-integer quadratic program (MIQP), which HiGHS cannot solve, so mgdsl refuses it before solving
rather than return a wrong answer. Replace the quadratic cost by a piecewise-linear one (several linear
segments), or make the binaries continuous.
"""),
    "E0605": ("solver time limit", """
HiGHS reached a time limit without an answer mgdsl can use. For `mgdsl solve --time-limit S` this means it
found no feasible point in S seconds (with one, mgdsl writes it, with the status `time limit (feasible)` and
the MIP gap in summary.json); raise the limit, or look for an infeasibility the solver is slow to prove. For
ATC, a subproblem took longer than `subproblem_time_limit` (300 s by default): the message names the part and
the iteration. Raise the setting in the `decompose atc { ... }` block, or make the part smaller (`children
microgrids` rather than `clusters`, `fix_integers K` for large MILP parts).
"""),
    "E0606": ("QP solver not available", """
The quadratic ATC penalty (`penalty quadratic`) makes every subproblem a quadratic program, which mgdsl solves
with HiPO, HiGHS's interior-point solver from the `highspy-extras` package. HiPO is not available in this
installation: highspy-extras is missing, or its version does not match highspy's (highspy 1.16 refuses the
extras of 1.15, and HiGHS's other QP solver stalls on these subproblems). Use `penalty pwl` (the default, whose
subproblems are LPs or MILPs), or install matching versions of highspy and highspy-extras.
"""),
    "E0610": ("ATC worker lost", """
A worker process of `--executor processes`, or a Dask worker of `--executor dask`, ended or left the cluster
without answering (killed, out of memory, crashed inside the solver, or unreachable). mgdsl replaces a lost
worker and rebuilds its parts from their specifications, with the coordinator's targets, multipliers and
weights, and goes on; this error means workers kept dying (three restarts in one run), or that no Dask worker
was left to take the lost one's parts. Look for the out-of-memory killer in the system log (or the Dask
worker's log), or run with `--executor serial` to see the failure in the main process.
"""),
    "E0611": ("Dask not installed", """
`executor dask` (`--executor dask`) runs the ATC subproblems on a Dask cluster, through the `distributed`
package, an optional extra of mgdsl that is not installed here. Install it with `pip install 'mgdsl[dask]'`
(in every environment that runs a Dask worker for mgdsl as well), or use `--executor processes`, which runs
the subproblems in worker processes on this machine without Dask.
"""),
    "E0612": ("Dask cluster unavailable", """
`executor dask` could not use its cluster: the scheduler given with `--scheduler tcp://HOST:PORT` (or
`scheduler` in the `decompose` block) did not answer within 10 s, it has no workers, its workers cannot
import mgdsl or run another version of it, or a local cluster could not be started. The message gives the
reason. Check the address (`dask scheduler` prints it), start workers with `dask worker ADDRESS` in an
environment where the same mgdsl is installed, or leave `--scheduler` out to start a local cluster.
"""),
    "E0620": ("exact cones with integers need a linear cost", """
`formulation distflow_socp(cones = exact)` (or `mgdsl solve --cones exact`) solves the branch-flow cones as true
second-order cones: with Clarabel, an interior-point conic solver, for a continuous model, and with SCIP, a
mixed-integer solver, for a model with integers (a capacitor bank's steps, an on/off decision). SCIP is given linear
costs only, and this model has integers and a quadratic cost (the message names both). Replace the quadratic cost
by a piecewise-linear one, make the integers continuous (Clarabel then takes the model), or solve with `cones =
lazy` (the default) or `cones = lift`, which meet the cones within the network's `accuracy`.
"""),
    "E0621": ("conic solver not installed", """
`cones = exact` needs the solvers of the optional extra `conic`: Clarabel (continuous models) and PySCIPOpt, SCIP's
Python interface (models with integers); the one this model needs is not installed. Install them with
`pip install 'mgdsl[conic]'`, or solve with `cones = lazy` (the default) or `cones = lift`, which need only HiGHS.
"""),
    "E0622": ("conic solver failure", """
Clarabel or SCIP stopped without a solution of the model with exact cones: its iteration or time limit (SCIP
without a feasible point by then; with one, its point is written with its gap), or numerical trouble (the message
gives its status). A model it proves infeasible is not this error: mgdsl then solves the polyhedral model with
HiGHS to name the conflict (E0601). Solve with `cones = lazy` or `cones = lift`, or raise
`--time-limit`.
"""),
    "E0623": ("unknown cone treatment", """
The cones of a `distflow_socp` network are met in one of three ways: `lazy` (tangent planes added where a
solution violates a cone, the default), `lift` (the whole polyhedral approximation) or `exact` (Clarabel for
continuous models, SCIP for models with integers). A solve was asked for another (`System.solve(cones=...)`).
"""),
    # ---- E08xx: studies (mgdsl pareto, mgdsl igdt; docs/studies.md)
    "E0801": ("objective not usable by the study", """
`mgdsl pareto` (and `System.pareto`) names objectives the system does not have, names one twice, or names one
whose value is not linear. The objectives are the built-ins the network makes available (`cost`; `losses` under
`distflow_socp`; `vdi` with a network) and those declared with `objective NAME: UNIT = EXPR`; the message lists
them. The front bounds each objective but the minimized one by a row of the model (`value <= epsilon`), so an
objective with a quadratic cost term (a Microturbine's `a * p^2`) cannot be one; `mgdsl igdt` bounds the
minimized objective in the same way. Declare a linear objective, or make the cost piecewise linear.
"""),
    "E0802": ("profile not usable by IGDT", """
`mgdsl igdt` varies the profiles declared `uncertain profile NAME = ...` within (1 - a) .. (1 + a) times their
forecast and finds the largest radius a whose worst case keeps the objective within its budget (and the
smallest whose best case brings it down). That is one linear program when each uncertain profile enters the
model linearly, at its own step, in the bounds and right-hand sides of constraints and in constant cost terms,
as the availability of the standard library's Wind and PV does (0 <= p <= p_max * profile). This error names a
profile that is not declared uncertain (`--uncertain` chooses among the declared ones), or one that enters the
model where no fixed schedule can meet every value of its envelope: an equality (a carrier balance through a
load or a fixed injection, the network's loads, a coupling), a coefficient of a variable (a price, a
conversion factor), or the series as a whole (`max`, `mean`, `sum` of it). Make the uncertain quantity a
bound (a curtailable generation), or leave the profile certain.
"""),
    # ---- E0810-E0819: supervisory arbitration and simulation (mgdsl arbitrate, mgdsl simulate; docs/arbitration.md)
    "E0810": ("microgrid without grid-forming storage", """
`mgdsl arbitrate` and `mgdsl simulate` model each microgrid's frequency and voltage by the droop of its
grid-forming units: a power mismatch m shifts frequency by f0 * m / sum(p_max / f_droop) and voltage by
m / sum(p_max / v_droop). A microgrid without a `GFMStorage` (stdlib/hydro.mgd) has nothing that forms them.
Add one (`es = GFMStorage(capacity = 5 kWh, p_max = 500 kW, soc_init = 65 %)`), or leave the microgrid out.
"""),
    "E0811": ("bad commands", """
The candidate commands (`--commands FILE.csv` or `.json`) are rows of: `controller`, `target` (a microgrid, its
grid-forming storage `mg2.es`, a `SmallHydro` unit, or a tie switch), `value` (kW, a change of the target's
reference), and optionally `event` (a whole number grouping the rows arbitrated together), `quantity` (`p`),
`confidence` (rho >= 0), `comm`, `res`, `his` (the communication, resource-correlation and history indices
>= 0) and `age_s` (the message's age in seconds). A JSON file is a list of objects with the same keys. The
message points at the row and cell.
"""),
    "E0812": ("no executable command", """
The projection found no command that keeps every microgrid within its hard limits (storage power and SOC,
PV availability, hydro output and ramp, tie limits, the frequency and voltage ranges) even with every
sheddable load (`InterruptibleLoad`) shed. The disturbance exceeds what the cluster can carry at this step:
give it more storage power, PV, hydro ramp or sheddable load, add ties, or widen the limits.
"""),
    "E0813": ("bad events", """
The events of `--events FILE.csv` (or `.json`) are rows of `step` (a whole number within the horizon), `kind`
(`load`: the microgrid's load changes by `value` kW; `pv`: its PV availability does), `microgrid` and `value`.
The message points at the row and cell.
"""),
    "E0814": ("bad supervisory setting", """
A setting of `mgdsl arbitrate` or `mgdsl simulate` is out of range: `--at` outside the horizon, a negative
weight alpha or beta (or every beta 0), a normalization base or limit that is not positive, or an unknown
control strategy. The message names it.
"""),
    "E0820": ("invalid error law", """
An uncertain profile may say how its forecast errs, for `mgdsl pem` (point estimation) and its Monte Carlo check:
`uncertain profile NAME normal(15 %) = ...` (a relative error e ~ N(0, 0.15^2): the value is forecast * (1 + e)) or
`uncertain profile NAME errors(csv("errors.csv", "COLUMN")) = ...` (a sample of observed relative errors, at least
two different values above -1, whose mean, standard deviation, skewness and kurtosis are used). This error names a
law on a profile that is not declared `uncertain`, an unknown law, a value with a unit (the law is relative to
the forecast: give a number or a %), a standard deviation outside 0 .. 57.7 % (the points at 1 +- sqrt(3) sigma
would make the forecast negative), or a sample that is not one. docs/uncertainty.md describes the laws.
"""),
    "E0821": ("profile not usable by the study", """
`mgdsl pem` and `mgdsl mpc` change an uncertain profile's values in a model built once. This error names a
profile that is not declared `uncertain profile` (or, for `mgdsl pem`, one without an error law: `normal(15 %)`
or `errors(...)`), or one that enters the model where only a rebuilt model could follow it: as a coefficient of
a variable (a price multiplying a purchase), at other steps than its own (`max`, `mean`, `sum` of the series),
nonlinearly, or as a cost without variables. Profiles that bound variables or set right-hand sides (loads in
balances included) are fine. Choose another profile, or keep this one certain.
"""),
    "E0822": ("bad actual values", """
`mgdsl mpc --actual FILE.csv` reads the realized values of the uncertain profiles: a CSV with a header row, one
column per uncertain profile named as the profile (in its declared unit, like the forecast), one row per step of
the horizon (an optional first column `t` is ignored). This error names a missing column, a column that is not
an uncertain profile, a row count different from the horizon, or a cell that is not a number. The message
points at the line and column of the file.
"""),
    "E0823": ("bad study setting", """
A setting of `mgdsl mpc` or `mgdsl pem` is out of range: a window (`--window 4h`, or a number of steps) that is
not a whole, positive number of steps or is longer than the horizon, or a Monte Carlo sample size below 2.
Choose a window between one step and the horizon, written as a duration (`4h`, `90min`) or as steps (`4`).
"""),
    # ---- E0840-E0846: interchange capability (mgdsl capability; docs/capability.md)
    "E0840": ("no interchange to study", """
`mgdsl capability` finds, for every microgrid tied to the network, the range of its tie-line power at each step.
This system has no microgrid (a network alone), or none of its microgrids is tied to a network bus
(`microgrid mg1 at dn.10 limit 1 MW { ... }`): there is no tie whose range could be found. Tie the microgrids to
the network's buses, or study a system that has them.
"""),
    "E0841": ("cost not linear", """
The capability study bounds each microgrid's cost by a row of its model (its economic dispatch's cost plus the
tolerance), and a row must be linear: a device whose cost has a squared term (`MicroturbineQuadratic`'s
`a * p^2`) cannot be part of it. Use a device with a linear cost (`Microturbine`), or write the cost piecewise
linear.
"""),
    "E0842": ("bad capability setting", """
A setting of `mgdsl capability` is out of range: a cost tolerance that is negative or not a number (give a
fraction or a percentage of the economic dispatch's cost: `--cost-tolerance 5%` or `0.05`), a step outside the
horizon or an empty list of steps (`--hours 0-5,17`, steps numbered from 0), or an unknown executor (`serial`
or `processes`). The message names it.
"""),
    "E0843": ("economic dispatch without solution", """
The prediction starts from each microgrid's own economic dispatch: the microgrid (with the microgrids it shares
a switch or a `couple` with) alone, its tie priced at the network's slack, every other limit as declared. That
problem has no solution for the microgrid named: its loads cannot be served within its devices' and its tie's
limits (or its model is unbounded). `mgdsl solve` on the whole system reports which limits conflict.
"""),
    # ---- E0830-E0836: spinning reserve (docs/language.md, section Spinning reserve)
    "E0830": ("unknown reserve direction", """
Reserve has two directions: `up` (power a pool can still add: a generator's headroom, a storage that can
discharge more or charge less, the slack's capacity above its import) and `down` (power it can still shed). A
template writes `reserve up += r_up`, a network or microgrid block `reserve up >= 10 % * load`; any other word
after `reserve` is this error.
"""),
    "E0831": ("reserve not in kW", """
A reserve share (`reserve up += EXPR` in a template) and a requirement (`reserve up >= EXPR` in a network or
microgrid block) are power: kW, or another power unit converted to kW. The message names the dimension found.
Declare the reserve as a power variable (`var r_up[t]: kW >= 0`) and give requirements in kW or MW (a share of
the load, `10 % * load`, is power).
"""),
    "E0832": ("reserve requirement not a lower limit", """
A requirement says how much reserve a pool must hold at least: `reserve up >= AMOUNT`. `<=` and `==` are
refused: a pool may always hold more reserve than required.
"""),
    "E0833": ("not usable in reserve", """
A requirement is a known amount per step, the right-hand side of the pool's reserve rows: it may use numbers
with units, constants (`let`), profiles and `load` (the pool's electric demand per step: the network's bus loads
for the network, and the `base` of every load device of the owner). A device's variable (`mg1.chp.p`), an
unknown name or a time index (`x[t-1]`) is this error. A template's share (`reserve up += ...`) is the reserve
held at each step: its variables are taken at that step (`r_up`, `r_up[t]`), never at another (`r_up[t-1]`,
`r_up[last]`, `sum(r_up)`); a limit that involves other steps is a constraint of the template.
"""),
    "E0834": ("negative reserve requirement", """
A requirement is at least 0 kW at every step. The message names the first step where the amount written is
negative (a profile that goes below zero, a subtraction).
"""),
    "E0835": ("reserve required twice", """
A network or a microgrid has at most one requirement per direction. Add the amounts in one statement:
`reserve up >= 10 % * load + 200 kW`.
"""),
    "E0836": ("no device can hold the reserve", """
A pool must hold reserve, but nothing in it can: no device of the owner declares `reserve up += ...` (or down)
in its template and, for the network, its slack bus has no `limit` (an unlimited slack holds none). Add a
device that holds reserve (Microturbine, MicroturbineQuadratic, DieselEngine, an electric Storage, a
GFMStorage), give the
slack its capacity (`slack 1 limit 5 MW buys at PRICE`), or remove the requirement. A microgrid's pool holds
its own devices only: reserve does not cross its tie line.
"""),
    # ---- E0850-E0854: step windows (`--steps FIRST..LAST`, System.window; mgdsl/sema/window.py, docs/studies.md)
    "E0850": ("not a step window", """
`--steps` (and `System.window`) takes the steps to keep as FIRST..LAST, counted from 0 as `t` in results and both
included: `16..19`, `16-19`, or one step `16`. The text given is none of these. Steps are whole numbers; a
duration (`4h`) is the look-ahead of `mgdsl mpc --window`, not a window of the horizon.
"""),
    "E0851": ("step window outside the horizon", """
The window names a step the horizon does not have: steps run from 0 to N - 1 for `horizon N steps`, as `t` in
results (the paper's hours 17 to 20 of a day counted from 1 are steps 16..19). The label on the `horizon`
statement gives the range. Choose steps inside it; a system without a horizon has no window.
"""),
    "E0852": ("empty step window", """
The window's first step comes after its last (`19..16`). Give the earlier step first: `16..19`. One step is
`16` (or `16..16`).
"""),
    "E0853": ("objective at a fixed step in a window", """
An objective names a fixed step (`mg1.es.e[last]`, `x[first+2]`): the horizon's step. In a window `first` and
`last` are the window's own steps, so the objective would silently mean another step, or a step the window
does not have. Solve the whole horizon, or write the objective over every step (`sum(x * dt)`).
"""),
    "E0854": ("fixed step beyond the step window", """
A template or a `couple` names a fixed step (`e[first+30]`, `x[last-5]`) beyond the window: in a window `first`
and `last` are its own first and last step, and the window has fewer steps than the offset. Take a longer
window (the message says how long at least) or solve the whole horizon.
"""),
    # ---- E07xx: writing output (exit code 5)
    "E0701": ("cannot write results", """
mgdsl could not write its output (a results folder, a model file, figures, a study or a formatted file):
the folder cannot be created, it is read-only or not yours to write, or the disk is full. The message names
the path and the system's reason. Nothing is left half-written: a results folder is written beside its
target and swapped in whole at the end, so the previous results, if any, are still there and complete.
Choose another place with `-o`, fix the folder's permissions or free some disk space, and run again.
"""),
    "E0702": ("output folder in use", """
Another mgdsl run is writing the same output folder right now: it holds the lock file `.NAME.lock` beside
the folder. Two runs into one folder would replace each other's results, so the second is refused. Wait
for the other run to finish, or write elsewhere with `-o`. A killed run does not keep the lock (the
system releases it), and the next run removes what a killed run left behind (a hidden `.NAME.staging-*`).
"""),
    "E0703": ("not a results folder", """
The output folder exists and holds files mgdsl did not write (it has no `summary.json`, `couplings.json`
or `.mgdsl-output`). mgdsl replaces an output folder as a whole, so it refuses to replace this one: a typo
such as `-o ~` or `-o src/` must never delete your files. Write to a new or empty folder with `-o`, or
remove the folder yourself if it really is old output.
"""),
}


def explain(code: str) -> str:
    code = code.strip().upper()
    if not code.startswith(("E", "W")):
        code = "E" + code
    if code not in CODES:
        known = ", ".join(sorted(CODES))
        raise KeyError(f"no error code {code}; known codes: {known}")
    title, text = CODES[code]
    return f"{code}: {title}\n{text.rstrip()}\n"
