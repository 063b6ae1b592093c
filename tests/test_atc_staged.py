"""Staged subproblem solves (mgdsl/decompose/subproblem.py): MILP parts answer with their LP relaxation and
coarse polyhedral cones until the coordinator asks for an exact solve; from then on every answer is certified
as a MILP answer (relaxation bound against a rounded point), or the MILP is solved where the bounds disagree."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mgdsl
from mgdsl.decompose.partition import partition
from mgdsl.decompose.subproblem import Subproblem
from mgdsl.highs import INFEASIBLE, run
from mgdsl.solve.atc import ATCOptions, run_atc, specs_for

from .atc_cases import CONTINUOUS

# the 4-bus system with the branch-flow cones and a capacitor bank of two units (integers n[t] and sw[t])
CONES = CONTINUOUS.replace("formulation lindistflow", "formulation distflow_socp(accuracy = 1e-4)").replace(
    "    at 4: SVC(q_min = -50 kvar, q_max = 100 kvar)\n",
    "    at 4: SVC(q_min = -50 kvar, q_max = 100 kvar)\n"
    "    at 3: cb = CapacitorBank(q_step = 40 kvar, units = 2, max_switches = 2)\n")

# microgrid a with an on/off CHP whose minimum output exceeds what its small heat load can take: the relaxation
# runs it part-on (on[t] fractional), the MILP cannot, so the bounds of the certificate disagree
LOOSE = CONTINUOUS.replace("chp = CHP(p_max = 200 kW, ramp = 100 kW)",
                           "chp = CHPUnit(p_max = 200 kW, p_min = 120 kW)") \
    .replace("heat = Load(heat, base = 120 kW * shape)", "heat = Load(heat, base = 40 kW * shape)")


def _spec(text: str, part: str | None = None):
    system = mgdsl.loads(text)
    part_of = partition(system.ir, "microgrids")
    specs = {s.part.name: s for s in specs_for(part_of, system.atc_options(), 1000.0)}
    return specs[part or part_of.parent.name], system


def _requests(system, spec, factors=(0.5, 0.9, 1.0)):
    """Requests around the centralized tie flows, with prices that move: (remote, lam, w) per request."""
    ties = system.solve()["ties"]["import"].values
    pairs = len(spec.pairs)
    return [(ties[:pairs] * f, np.full((pairs, 4), 400.0 * f), np.full((pairs, 4), 15.0)) for f in factors]


def _total(sp: Subproblem) -> float:
    """The subproblem's optimal value with its penalty terms (the last HiGHS run: the certifying LP)."""
    return sp.h.getInfo().objective_function_value


def test_relaxed_coarse_answers_then_exact_gives_the_milp_optimum():
    spec, system = _spec(CONES)
    staged = Subproblem(spec, 4)
    milp = Subproblem(dataclasses.replace(spec, integers="milp", coarse_accuracy=0.0), 4)
    fine = Subproblem(dataclasses.replace(spec, coarse_accuracy=0.0), 4)      # relaxed, declared accuracy
    assert staged.relaxed and staged.staged and not milp.staged
    # two cone families (||(2P, 2Q)|| <= s and ||(s, l - v)|| <= l + v) over 3 lines and 4 steps: 2 rows each
    assert staged.cones is not None and len(staged.cones.coarse_rows) == 2 * 2 * 3 * 4
    requests = _requests(system, spec)
    for k, (v, lam, w) in enumerate(requests):
        exact = k == len(requests) - 1
        for sp in (staged, milp, fine):
            sp.set_values(v, lam, w)
        out = staged.solve(exact=exact)
        ref = milp.solve(exact=exact)
        relaxed_fine = fine.solve(exact=False)
        assert relaxed_fine.integers_fixed and not ref.integers_fixed
        if not exact:
            # relaxed integers and coarse cones: a relaxation of the MILP, and said to be one
            assert out.integers_fixed and staged.cones.coarse
            assert _total(staged) <= _total(fine) + 1e-6 <= _total(milp) + 2e-6
        else:
            assert not out.integers_fixed and not staged.cones.coarse
            x = staged._x[staged.int_cols]
            assert np.allclose(x, np.round(x), atol=1e-6)                  # an integral point
            assert _total(staged) == pytest.approx(_total(milp), rel=1e-4, abs=1e-6)
            assert sum(staged.certificates.values()) == 1 and staged.certificates["milp"] == 0
    # once an exact solve was asked for, every answer is certified (not relaxed) and the cones stay refined
    staged.set_values(*requests[0])
    milp.set_values(*requests[0])
    assert not staged.solve(exact=False).integers_fixed and not staged.cones.coarse
    milp.solve(exact=False)
    assert _total(staged) == pytest.approx(_total(milp), rel=1e-4, abs=1e-6)


def test_certificate_falls_back_to_the_milp_when_the_bounds_disagree():
    spec, system = _spec(LOOSE, "a")
    ties = system.solve()["ties"]["import"].values
    v, lam, w = ties[:1] * 0.3, np.full((1, 4), -1500.0), np.full((1, 4), 10.0)
    staged = Subproblem(spec, 4)
    milp = Subproblem(dataclasses.replace(spec, integers="milp"), 4)
    for sp in (staged, milp):
        sp.set_values(v, lam, w)
    assert staged.solve(exact=False).integers_fixed          # the relaxation: the CHP part-on
    assert not np.allclose(staged._x[staged.int_cols], np.round(staged._x[staged.int_cols]), atol=1e-6)
    out = staged.solve(exact=True)
    ref = milp.solve(exact=True)
    lower, upper = staged.last_certificate
    assert upper - lower > staged._mip_gap(upper)           # the rounded point is not good enough ...
    assert staged.certificates == {"relaxation integral": 0, "rounding": 0, "milp": 1}   # ... so the MILP
    assert not out.integers_fixed
    assert _total(staged) == pytest.approx(_total(milp), rel=1e-6)
    assert out.own_cost == pytest.approx(ref.own_cost, rel=1e-6)
    # and the relaxation's basis survives the MILP: the next solve is a hot start, not a cold interior point
    staged.set_values(v * 1.1, lam, w)
    staged.solve(exact=False)
    assert staged.h.getInfo().ipm_iteration_count <= 0


def test_rounding_fixes_one_declared_variable_at_a_time():
    """n[t] rounded up to 1 needs sw[0] >= 1; rounding sw on its own (0.4 -> 0) would make the point infeasible.
    Fixing n first and re-solving lets sw follow."""
    spec, system = _spec(CONES)
    spec = dataclasses.replace(spec, coarse_accuracy=0.0)
    sp = Subproblem(spec, 4)
    n_cols, sw_cols = (g[0] for g in sp.int_groups)          # CapacitorBank.n, then CapacitorBank.sw
    m = sp.low.model
    assert list(m.variables).index("CapacitorBank.n") < list(m.variables).index("CapacitorBank.sw")
    sp.set_values(*_requests(system, spec)[2])
    sp.solve(exact=False)
    lower = _total(sp)
    x = sp._x.copy()
    x[n_cols], x[sw_cols] = 0.6, 0.4                         # a fractional point: n rounds to 1, sw to 0
    # all at once: infeasible
    probe = Subproblem(spec, 4)
    probe.set_values(*_requests(system, spec)[2])
    values = np.round(x[probe.int_cols])
    probe.h.changeColsBounds(len(probe.int_cols), probe.int_cols, values, values)
    assert run(probe.h, 60) == INFEASIBLE
    # one declared variable at a time: an integral point with n = 1 throughout
    found = sp._round(x)
    assert found is not None
    point, upper = found
    assert np.allclose(point[n_cols], 1.0) and np.allclose(point[sw_cols], np.round(point[sw_cols]), atol=1e-6)
    assert point[sw_cols].sum() >= 1 - 1e-6
    assert upper >= lower - 1e-6                             # a feasible point: above the relaxation


@pytest.mark.parametrize("mode", [{}, {"integers": "milp", "coarse_accuracy": 0.0}])
def test_atc_with_staged_parts_reaches_the_centralized_optimum(mode, monkeypatch):
    if mode:                                   # MILP solves throughout, at the declared accuracy
        from mgdsl.solve import atc

        specs_for_ = atc.specs_for
        monkeypatch.setattr(atc, "specs_for", lambda *a, **k: [dataclasses.replace(s, **mode)
                                                                 for s in specs_for_(*a, **k)])
    central = mgdsl.loads(CONES).solve().objective
    run_ = run_atc(mgdsl.loads(CONES).ir, ATCOptions(tolerance=1e-4))
    assert run_.converged and run_.iterations[-1].inconsistency <= 1e-4
    assert not run_.iterations[-1].integers_held
    assert run_.iterations[0].integers_held == (not mode)        # staged: the first answers are relaxed
    assert abs(run_.objective - central) / abs(central) < 1e-3
