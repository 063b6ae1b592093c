"""Property tests of ATC over random valid continuous systems (tests/strategies.py): for every penalty form ATC
converges to consistent tie-line values; with the pwl and quadratic penalties its objective and its coupling
values are optimal ones (to the tolerance); with l1, an exact penalty that may stop at a consistent but
suboptimal point (see test_atc.test_l1_penalty_reaches_consistency), its answer is a feasible one whose
reported cost is the cost of its ties.

The `slow` variants (pytest --runslow, `make test-all`) draw many random systems; the default run checks each
penalty on a few derandomized examples, so that it is deterministic."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.solve.atc import ATCOptions, run_atc

from .atc_cases import optimum_with_fixed_couplings
from .strategies import GeneratedSystem, systems

TOLERANCE = 1e-4              # p.u. of the 1 MVA base: 0.1 kW
BASE_KW = 1000.0
REL = 1e-3                    # 0.1 %
PENALTIES = ["pwl", "quadratic", "l1"]


@functools.lru_cache(maxsize=512)
def centralized(text: str) -> float | None:
    """The centralized optimum, or None when the system is infeasible (the property does not apply).
    Cached: the parametrized tests see the same derandomized systems for each penalty."""
    try:
        return mgdsl.loads(text).solve().objective
    except MgdError as err:
        if err.diagnostics and err.diagnostics[0].code == "E0601":
            return None
        raise


def check_atc_properties(system: GeneratedSystem, penalty: str) -> None:
    note(system.text)
    central = centralized(system.text)
    assume(central is not None)
    run = run_atc(mgdsl.loads(system.text).ir, ATCOptions(penalty=penalty, tolerance=TOLERANCE))
    slack = system.implied_slack(TOLERANCE, BASE_KW)           # money the 0.1 kW tolerance may be worth
    last = run.iterations[-1]
    note(f"penalty={penalty} central={central:.6f} atc={run.objective:.6f} iterations={len(run.iterations)} "
         f"inconsistency={last.inconsistency:.3g} at {last.where} step {last.step} implied slack={slack:.4f}")

    assert run.converged, f"ATC did not converge in {len(run.iterations)} iterations ({last.inconsistency:.3g} p.u.)"
    # consistency: every response within the tolerance of its target (kW), as the driver measures it
    assert last.inconsistency <= TOLERANCE
    for pid, response in run.responses.items():
        coupling = pid.split("@")[0]
        assert np.max(np.abs(run.targets[coupling] - response)) <= TOLERANCE * BASE_KW + 1e-6, pid

    fixed = optimum_with_fixed_couplings(system.text, run.targets, slack_kw=2 * TOLERANCE * BASE_KW)
    note(f"optimum with the ties fixed at ATC's targets: {fixed:.6f}")
    if penalty in ("pwl", "quadratic"):
        # ATC's objective is the optimum within 0.1 %, give or take what the tolerance may be worth either way
        assert abs(run.objective - central) <= REL * abs(central) + slack
        # and its tie-line values are optimal ones: fixing them leaves the centralized optimum unchanged
        assert abs(fixed - central) <= REL * abs(central) + slack
    else:
        # l1 reaches a consistent, feasible point: an upper bound of the optimum, its cost that of its ties
        assert run.objective >= central - 1e-4 * abs(central) - slack
        assert abs(fixed - run.objective) <= REL * abs(run.objective) + slack


# The default run: a few deterministic examples per penalty (no shrinking: a failure is reported as drawn).
@pytest.mark.parametrize("penalty", PENALTIES)
@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(system=systems(max_steps=5, max_microgrids=3))
def test_atc_properties_small(penalty, system):
    check_atc_properties(system, penalty)


# The full property: many random systems (pytest --runslow). Failures are kept in .hypothesis/ and replayed.
@pytest.mark.slow
@pytest.mark.parametrize("penalty", PENALTIES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(system=systems())
def test_atc_properties(penalty, system):
    check_atc_properties(system, penalty)
