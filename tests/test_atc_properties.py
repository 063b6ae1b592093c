"""Property tests of ATC over random valid continuous systems (tests/strategies.py).

For every penalty form ATC converges to tie-line values consistent to the tolerance. With the pwl and
quadratic penalties its objective is the centralized optimum (within 0.1 %) and its tie-line values are
optimal ones: fixing the ties at ATC's targets leaves the centralized optimum unchanged. With l1, an exact
penalty that may stop at a consistent but suboptimal point (see test_atc.test_l1_penalty_reaches_consistency),
its answer is feasible, so no better than the optimum, and its reported cost is the cost of its ties.

Comparisons of money allow, in both directions, what the remaining inconsistency may be worth
(GeneratedSystem.implied_slack: at most 0.1 kW per tie and step at the 1e-4 tolerance).

The `slow` variants (pytest --runslow, `make test-all`) draw many random systems; the default run checks each
penalty on a few derandomized examples, so that it is deterministic. Shrinking is off in both: every example
costs seconds (a centralized solve, an ATC run, a solve with fixed ties), so shrinking would run for many
minutes; a failure prints the whole generated .mgd text instead (hypothesis `note`).

The last tests are minimal systems, found by these properties, on which ATC once failed them; they stay as
regression tests."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.highs import hipo_available
from mgdsl.solve.atc import ATCOptions, run_atc

from .atc_cases import optimum_with_fixed_couplings
from .strategies import GeneratedSystem, systems

TOLERANCE = 1e-4              # p.u. of the 1 MVA base: 0.1 kW
BASE_KW = 1000.0
REL = 1e-3                    # 0.1 %
# the quadratic penalty needs HiPO (highspy-extras of highspy's version); without it ATC refuses it (E0606)
needs_hipo = pytest.mark.skipif(not hipo_available(), reason="HiPO not available (highspy-extras must match highspy)")
PENALTIES = ["pwl", pytest.param("quadratic", marks=needs_hipo), "l1"]


@functools.lru_cache(maxsize=512)
def centralized(text: str) -> float | None:
    """The centralized optimum, or None when the system is infeasible (the property does not apply).
    Cached: the parametrized tests may see the same systems for each penalty."""
    try:
        return mgdsl.loads(text).solve().objective
    except MgdError as err:
        if err.diagnostics and err.diagnostics[0].code == "E0601":
            return None
        raise


def _gap(a: float, b: float) -> str:
    return f"{(a - b) / max(abs(b), 1e-9):+.3%}"


def check_atc_properties(system: GeneratedSystem, penalty: str, note=note, method: str = "atc") -> None:
    """The properties of ATC on one system; `note` records what a failure report shows (hypothesis' `note`
    inside a property, `print` elsewhere)."""
    note(system.text)
    central = centralized(system.text)
    if central is None:
        assume(False)           # infeasible: not a system the properties speak of
    try:
        run = run_atc(mgdsl.loads(system.text).ir, ATCOptions(method=method, penalty=penalty, tolerance=TOLERANCE))
    except MgdError as err:
        # HiGHS's QP solvers fail on some small degenerate parts (see QP_BREAKS_HIGHS below): the driver stops
        # with E0603 and its advice, never with a wrong answer; the properties speak of the solves that succeed
        first = err.diagnostics[0]
        if penalty == "quadratic" and first.code == "E0603" and "QP solvers" in (first.help or ""):
            note(f"HiGHS QP failure: {err.diagnostics[0].message}")
            assume(False)
        raise
    last = run.iterations[-1]
    note(f"method={method} penalty={penalty} centralized={central:.6f} atc={run.objective:.6f} "
         f"iterations={len(run.iterations)} inconsistency={last.inconsistency:.3g} p.u. at {last.where} t={last.step}")

    converged, objective, targets = run.converged, run.objective, run.targets
    assert converged, f"ATC did not converge in {len(run.iterations)} iterations ({last.inconsistency:.3g} p.u.)"
    # consistency: every response within the tolerance of its target (kW), as the driver measures it
    assert last.inconsistency <= TOLERANCE
    deviation_kwh = 0.0
    for pid, response in run.responses.items():
        miss = np.abs(targets[pid.split("@")[0]] - response)
        assert np.max(miss) <= TOLERANCE * BASE_KW + 1e-6, f"{pid} misses its target by {np.max(miss):.4g} kW"
        deviation_kwh += float(np.sum(miss)) * system.dt_h
    slack = system.implied_slack(deviation_kwh) + 1e-6 * (1 + abs(central))

    box_kw = 2 * TOLERANCE * BASE_KW
    fixed = optimum_with_fixed_couplings(system.text, targets, slack_kw=box_kw)
    # what the freedom of +-box_kw around the targets may be worth (the fixed optimum may use it)
    box_slack = system.implied_slack(box_kw * system.dt_h * system.steps * len(run.responses))
    note(f"optimum with the ties held within {box_kw:g} kW of ATC's targets: {fixed:.6f}; "
         f"money slack {slack:.4g} (box {box_slack:.4g})")
    if penalty in ("pwl", "quadratic"):
        # ATC's objective is the optimum within 0.1 %, give or take what its inconsistency may be worth
        assert abs(objective - central) <= REL * abs(central) + slack, \
            f"ATC {objective:.6f} vs centralized {central:.6f}: gap {_gap(objective, central)}"
        # its tie-line values are optimal ones: fixing them leaves the centralized optimum unchanged
        assert abs(fixed - central) <= REL * abs(central) + slack, \
            f"ties fixed at ATC's targets cost {fixed:.6f}, the optimum is {central:.6f}: gap {_gap(fixed, central)}"
    else:
        # l1 stops at a consistent, feasible point: no better than the optimum, and it costs what ATC reports
        # (the fixed optimum may be lower by what the box around the targets is worth, never higher)
        assert objective >= central - 1e-4 * abs(central) - slack, \
            f"l1 ATC {objective:.6f} is below the optimum {central:.6f}"
        assert fixed - objective <= REL * abs(objective) + slack, \
            f"ties fixed at ATC's targets cost {fixed:.6f}, more than the {objective:.6f} ATC reports"
        assert objective - fixed <= REL * abs(objective) + slack + box_slack, \
            f"ties fixed at ATC's targets cost {fixed:.6f}, ATC reports {objective:.6f}"


# The default run: three derandomized (deterministic) examples per penalty, smaller systems.
@pytest.mark.parametrize("penalty", PENALTIES)
@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(system=systems(max_steps=5, max_microgrids=3))
def test_atc_properties_small(penalty, system):
    check_atc_properties(system, penalty)


# The full property: many random systems (pytest --runslow). A failing example is kept in .hypothesis/
# (gitignored) and replayed first by the next run.
@pytest.mark.slow
@pytest.mark.parametrize("penalty", PENALTIES)
@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(system=systems())
def test_atc_properties(penalty, system):
    check_atc_properties(system, penalty)


# Ties that carry Q as well as P (every microgrid holds a reactive device): Q couplings reach the optimum too.
@settings(max_examples=1, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(system=systems(max_steps=4, max_microgrids=2, reactive=True))
def test_atc_properties_reactive_small(system):
    assert "PQ(" in system.text or "q_max" in system.text
    check_atc_properties(system, "pwl")


@pytest.mark.slow
@pytest.mark.parametrize("penalty", PENALTIES)
@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(system=systems(reactive=True))
def test_atc_properties_reactive(penalty, system):
    check_atc_properties(system, penalty)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(system=systems(reactive=True))
def test_admm_properties_reactive(system):
    check_atc_properties(system, "pwl", method="admm")


# Consensus ADMM shares the parts, executors and results: the same properties hold for it.
@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(system=systems(max_steps=5, max_microgrids=3))
def test_admm_properties_small(system):
    check_atc_properties(system, "pwl", method="admm")


@pytest.mark.slow
@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(system=systems())
def test_admm_properties(system):
    check_atc_properties(system, "pwl", method="admm")


# ---------------------------------------------------------------- minimal systems that once failed (regressions)
def _case(text: str, max_price: float) -> GeneratedSystem:
    ir = mgdsl.loads(text).ir
    return GeneratedSystem(text, ir.steps, ir.dt_h, list(ir.microgrids), max_price)


# Once: the quadratic penalty's QP (HiGHS HiPO) ended "no progress" (model status Unknown) on a microgrid of a PV
# array and a fixed load, and run_atc raised E0603 (now the active-set solver retries such a QP). The same happens
# on other small parts (a gas boiler and a heat load
# only; an electric boiler with no heat load: "Solve error", a dual infeasibility of 1.8e-7 against 1e-7).
QP_STATUS = """use stdlib
horizon 5 steps of 1 h
profile price: yuan/kWh = [0.59, 1.17, 0.43, 1.44, 1.02]
profile shape = [0.69, 0.7, 0.95, 1, 0.48]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 2
    slack 1 buys at price
    line 1 - 2: r = 0.28 ohm, x = 0.09 ohm
}

microgrid a at dn.2 limit 350 kW {
    pv = PV(p_max = 210 kW, profile = [0.24, 0.4, 0.25, 0.44, 0.72])
    load = Load(electricity, base = 49 kW * shape)
}
"""

# Once: pwl stopped ("converged", consistent) at -24.58 against an optimum of -31.45 (weights grown up to 1e3
# froze the iterates; now they are capped at 10): c's PV should go, through the
# network, to b, which sells it; a third microgrid whose tie is held at 0 (a heat store only) is enough to freeze
# the transfer part-way. More iterations do not help (-24.60 after 300 at objective_tolerance 1e-7).
PWL_STALL = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [1.45, 0.72, 1.14]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 4
    slack 1 buys at price
    line 1 - 2: r = 0.46 ohm, x = 0.23 ohm
    line 1 - 3: r = 0.54 ohm, x = 0.17 ohm
    line 2 - 4: r = 0.47 ohm, x = 0.31 ohm
}

microgrid a at dn.2 limit 650 kW {
    hs = Storage(heat, capacity = 100 kWh, p_max = 50 kW)
}

microgrid b at dn.3 limit 250 kW {
    grid = ElectricityTrade(buy_price = 0.34 yuan/kWh, sell_price = 0.126 yuan/kWh, p_max = 880 kW)
}

microgrid c at dn.4 limit 900 kW {
    pv = PV(p_max = 130 kW, profile = [0.3, 0.73, 0.89])
}
"""

# Once: pwl never converged on a microgrid whose tie is held at 0 under a small network load (now the objective
# test has a floor, the worth of one tolerance-sized deviation): the parent's target
# alternates by 0.018 kW (inside the tolerance) and the objective (47.59 / 47.61) by 4e-4 relative, above the
# relative objective tolerance (= tolerance, 1e-4), for all 100 iterations.
PWL_SMALL_OBJECTIVE = """use stdlib
horizon 6 steps of 30 min
profile price: yuan/kWh = [0.64, 0.69, 1.31, 0.94, 0.4, 0.78]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 2
    slack 1 buys at price
    line 1 - 2: r = 0.54 ohm, x = 0.17 ohm
    load 2: p = 20 kW, q = 4 kvar
}

microgrid a at dn.2 limit 200 kW {
    hs = Storage(heat, capacity = 100 kWh, p_max = 50 kW)
}
"""


# pwl stopped at -171.57 against an optimum of -176.22 (+2.6 %) with a weight cap of 10: consistent, but the
# multipliers still moved by 2 w^2 |c| each iteration. Fixed by the multiplier-stationarity stop test
# (dual_tolerance), relaxing weights that hold a consistent point together, and a weight cap of 3.
FREEZE_OPEN = """use stdlib
horizon 4 steps of 1 h
profile price: yuan/kWh = [0.62, 0.96, 0.35, 0.66]
profile shape = [0.56, 0.77, 0.78, 1]
profile heat_shape = [0.46, 0.65, 1, 0.77]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 4
    slack 1 buys at price
    line 1 - 2: r = 0.6 ohm, x = 0.17 ohm
    line 1 - 3: r = 0.08 ohm, x = 0.21 ohm
    line 1 - 4: r = 0.2 ohm, x = 0.18 ohm
    load 3: p = 250 kW * shape, q = 62.5 kvar * shape
}

microgrid mg1 at dn.2 limit 200 kW {
    es1 = Storage(heat, capacity = 350 kWh, p_max = 180 kW, eta_ch = 0.92, eta_dis = 0.92, soc_init = 0.3)
    es2 = Storage(heat, capacity = 110 kWh, p_max = 230 kW, eta_ch = 0.85, eta_dis = 0.85, soc_init = 0.35)
    es3 = Storage(heat, capacity = 250 kWh, p_max = 110 kW, eta_ch = 0.88, eta_dis = 0.88, soc_init = 0.58)
    gas4 = GasSupply(price = 0.34 yuan/kWh)
}

microgrid mg2 at dn.4 limit 300 kW {
    eb1 = ElectricBoiler(p_max = 200 kW)
    es2 = Storage(electricity, capacity = 360 kWh, p_max = 260 kW, eta_ch = 0.91, eta_dis = 0.91, soc_init = 0.73)
    gb3 = GasBoiler(h_max = 220 kW)
}

microgrid mg3 at dn.3 limit 700 kW {
    re1 = Wind(p_max = 310 kW, profile = [0.08, 0.76, 0.55, 0.81])
    es2 = Storage(heat, capacity = 580 kWh, p_max = 30 kW, eta_ch = 0.96, eta_dis = 0.96, soc_init = 0.78)
    es3 = Storage(heat, capacity = 330 kWh, p_max = 210 kW, eta_ch = 0.92, eta_dis = 0.92, soc_init = 0.41)
    grid4 = ElectricityTrade(buy_price = 0.88 yuan/kWh, sell_price = 0.572 yuan/kWh, p_max = 960 kW)
}
"""


# pwl reached a consistent point (1.8e-5 p.u.) whose objective then alternated between two neighbouring vertices
# (0.1 yuan apart) for ever: the objective test now compares over two iterations.
PWL_ALTERNATES = """use stdlib
horizon 6 steps of 1 h
profile price: yuan/kWh = [0.2, 0.2, 0.73, 0.2, 0.34, 1.09]
profile shape = [0.69, 0.49, 0.82, 1, 0.73, 0.47]
profile heat_shape = [0.49, 0.75, 0.72, 0.85, 0.84, 1]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at price
    line 1 - 2: r = 0.37 ohm, x = 0.35 ohm
    line 1 - 3: r = 0.19 ohm, x = 0.4 ohm
    load 2: p = 70 kW * shape, q = 21.7 kvar * shape
}

microgrid mg1 at dn.2 limit 200 kW {
    es1 = Storage(electricity, capacity = 690 kWh, p_max = 20 kW, eta_ch = 0.85, eta_dis = 0.85, soc_init = 0.2)
}

minimize cost
"""

# On this system's `mg1` (an electric boiler and power-to-gas with nothing to feed, and a grid trade), HiGHS 1.15's
# QP solvers fail on a 21-column QP: the active-set solver "claims optimality" with a 0.03 primal infeasibility,
# HiPO ends "Unknown" at a point 300 yuan from the optimum (which the driver once accepted). The quadratic
# penalty must stop with E0603 and advise pwl; pwl solves it.
QP_BREAKS_HIGHS = """use stdlib
horizon 3 steps of 30 min
profile price: yuan/kWh = [0.91, 0.26, 1.31]
profile shape = [0.64, 0.89, 1]
profile heat_shape = [1, 0.55, 0.89]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 5
    slack 1 buys at price
    line 1 - 2: r = 0.12 ohm, x = 0.36 ohm
    line 2 - 3: r = 0.4 ohm, x = 0.08 ohm
    line 1 - 4: r = 0.48 ohm, x = 0.1 ohm
    line 2 - 5: r = 0.05 ohm, x = 0.06 ohm
    load 4: p = 260 kW * shape, q = 91 kvar * shape
}

microgrid mg1 at dn.4 limit 200 kW {
    eb1 = ElectricBoiler(p_max = 180 kW)
    grid2 = ElectricityTrade(buy_price = 1.08 yuan/kWh, sell_price = 0.454 yuan/kWh, p_max = 910 kW)
    p2g3 = PowerToGas(p_max = 60 kW)
}

microgrid mg2 at dn.2 limit 900 kW {
    re1 = Wind(p_max = 220 kW, profile = [0.6, 0.75, 0.46])
}

microgrid mg3 at dn.3 limit 200 kW {
    re1 = PV(p_max = 400 kW, profile = [0.66, 0.04, 0.89])
    chp2 = CHP(p_max = 210 kW, ramp = 138 kW, eta_e = 0.32, eta_h = 0.46)
    es3 = Storage(heat, capacity = 830 kWh, p_max = 180 kW, eta_ch = 0.88, eta_dis = 0.88, soc_init = 0.57)
    chp4 = CHP(p_max = 190 kW, ramp = 121 kW, eta_e = 0.28, eta_h = 0.48)
}

microgrid mg4 at dn.5 limit 1000 kW {
    p2g1 = PowerToGas(p_max = 60 kW)
}

minimize cost
"""


@needs_hipo
def test_quadratic_penalty_reports_highs_qp_failure_and_pwl_solves_it():
    with pytest.raises(MgdError) as err:
        run_atc(mgdsl.loads(QP_BREAKS_HIGHS).ir, ATCOptions(penalty="quadratic", tolerance=TOLERANCE))
    diag = err.value.diagnostics[0]
    assert diag.code == "E0603" and "`mg1`" in diag.message and "penalty pwl" in diag.help
    check_atc_properties(_case(QP_BREAKS_HIGHS, 1.31), "pwl", note=print)


@pytest.mark.parametrize("text, max_price, penalty", [
    pytest.param(PWL_ALTERNATES, 1.09, "pwl", id="pwl-alternates-between-vertices"),
    pytest.param(QP_STATUS, 1.44, "quadratic", id="quadratic-qp-status-unknown", marks=needs_hipo),
    pytest.param(FREEZE_OPEN, 0.96, "pwl", id="pwl-freeze-open"),
    pytest.param(FREEZE_OPEN, 0.96, "quadratic", id="quadratic-freeze-open", marks=needs_hipo),
    pytest.param(PWL_STALL, 1.45, "pwl", id="pwl-freeze-at-consistent-suboptimal-point"),
    pytest.param(PWL_STALL, 1.45, "quadratic", id="quadratic-freeze-at-consistent-suboptimal-point",
                 marks=needs_hipo),
    pytest.param(PWL_SMALL_OBJECTIVE, 1.31, "pwl", id="pwl-small-objective-settles"),
])
def test_systems_that_once_failed(text, max_price, penalty):
    """Minimal systems found by the properties; each broke ATC once (see the comments above them)."""
    check_atc_properties(_case(text, max_price), penalty, note=print)
