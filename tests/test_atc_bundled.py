"""Every bundled model, decomposed, reaches its centralized optimum (within 0.1 %) and converges, with microgrids
and with clusters as children, by ATC and by ADMM. The expensive combinations run with --runslow."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

import mgdsl

from .test_atc_switches import _statuses_respected

MODELS = Path(__file__).resolve().parent.parent / "models"
REL = 1e-3
slow = pytest.mark.slow

CASES = [
    ("storage_arbitrage", "microgrids", "atc"),
    ("chp_heat", "microgrids", "atc"),
    ("example", "microgrids", "atc"),
    ("clusters94", "clusters", "atc"),
    pytest.param("example", "clusters", "atc", marks=slow),
    pytest.param("clusters94", "microgrids", "atc", marks=slow),
    pytest.param("ieee33_3mg", "microgrids", "atc", marks=slow),
    pytest.param("example", "microgrids", "admm", marks=slow),
    pytest.param("clusters94", "microgrids", "admm", marks=slow),
    pytest.param("clusters94", "clusters", "admm", marks=slow),
]


@functools.cache
def centralized(name: str) -> float:
    return mgdsl.load(MODELS / f"{name}.mgd").solve().objective


@pytest.mark.parametrize("name, children, method", CASES)
def test_bundled_model_decomposed_reaches_the_centralized_optimum(name, children, method):
    system = mgdsl.load(MODELS / f"{name}.mgd")
    run = system.solve_atc(system.atc_options(children=children, method=method))
    central = centralized(name)
    last = run.iterations[-1]
    assert run.converged, f"not converged in {len(run.iterations)} iterations ({last.inconsistency:.3g} p.u.)"
    assert abs(run.objective - central) <= REL * abs(central), \
        f"{method} {run.objective:.4f} vs centralized {central:.4f}: {(run.objective - central) / central:+.4%}"
    _statuses_respected(run)
