"""ATC on systems with switches. A switch's hourly status is a 0/1 value that multipliers and weights cannot
reach, so it is not an ATC coupling: the parent owns every cut switch's status, the children receive it as
data (closed while the flows settle, then the parent's statuses, held on both sides for the final iterations),
and only the flows are penalized. The centralized optimum is the reference, with microgrids and with clusters
as children, on random systems and on the bundled models."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings

import mgdsl
from mgdsl.diagnostics import MgdError

from .strategies import GeneratedSystem, systems

TOLERANCE = 1e-4
REL = 1e-3                        # 0.1 %

# two microgrids that only gain by trading over their switch: mg_a has cheap PV at noon, mg_b a load and
# storage; a switch of 150 kW joins them, and each also has a tie to the network
ONE_SWITCH = """use stdlib
horizon 4 steps of 1 h
profile price: yuan/kWh = [0.4, 0.9, 1.2, 0.5]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at price
    line 1 - 2: r = 0.3 ohm, x = 0.2 ohm
    line 2 - 3: r = 0.3 ohm, x = 0.2 ohm
}

microgrid mg_a at dn.2 limit 50 kW {
    pv = PV(p_max = 300 kW, profile = [0.1, 0.8, 1.0, 0.3])
    load = Load(electricity, base = 40 kW)
}

microgrid mg_b at dn.3 limit 100 kW {
    es = Storage(electricity, capacity = 200 kWh, p_max = 80 kW, soc_init = 0.2)
    load = Load(electricity, base = 120 kW)
}

switch k between mg_a and mg_b limit 150 kW
cluster both = {mg_a, mg_b}
"""


@functools.lru_cache(maxsize=128)
def centralized(text: str) -> float | None:
    try:
        return mgdsl.loads(text).solve().objective
    except MgdError as err:
        if err.diagnostics[0].code == "E0601":
            return None
        raise


def _statuses_respected(run) -> None:
    """Every switch carries no power in the hours its (reported) status is open."""
    switches = run.results.datasets.get("switches")
    if switches is None:
        return
    flow, closed = switches["flow"].values, switches["closed"].values
    assert np.all(np.isin(np.round(closed, 6), (0.0, 1.0))), "a switch status is not 0/1"
    assert np.all(np.abs(flow[closed < 0.5]) <= 1e-6), "an open switch carries power"


def check_switch_system(text: str, children: str, max_price: float, note=print, strict: bool = True,
                        method: str = "atc") -> None:
    central = centralized(text)
    if central is None:
        assume(False)
    system = mgdsl.loads(text)
    run = system.solve_atc(system.atc_options(tolerance=TOLERANCE, children=children, method=method))
    note(f"method={method} children={children} centralized={central:.6f} atc={run.objective:.6f} "
         f"iterations={len(run.iterations)} converged={run.converged}")
    if strict:
        assert run.converged
    else:
        # In a lossless loop (LinDistFlow, switches between microgrids that also have ties) the split of a flow
        # between parallel paths is degenerate: the pwl penalty can leave two children alternating between
        # equally good vertices just above the tolerance (docs/atc.md). The cost is still the optimum's.
        assert run.converged or run.iterations[-1].inconsistency <= 10 * TOLERANCE, \
            f"stopped at {run.iterations[-1].inconsistency:.3g} p.u."
    # what the remaining inconsistency (kW per coupling and step, 1 MVA base) may be worth
    inconsistency_kw = max(TOLERANCE, run.iterations[-1].inconsistency) * 1000
    energy_kwh = inconsistency_kw * len(run.responses) * system.ir.steps * system.ir.dt_h
    slack = 2 * max_price * energy_kwh + 1e-6 * abs(central)
    assert abs(run.objective - central) <= REL * abs(central) + slack, \
        f"ATC {run.objective:.6f} vs centralized {central:.6f}"
    _statuses_respected(run)


@pytest.mark.parametrize("children", ["microgrids", "clusters"])
def test_one_switch_between_two_microgrids(children):
    check_switch_system(ONE_SWITCH, children, max_price=1.2)


@pytest.mark.parametrize("children", ["microgrids", "clusters"])
def test_admm_one_switch_between_two_microgrids(children):
    """ADMM holds switch statuses the same way (the coordinator does it, whatever the rule)."""
    check_switch_system(ONE_SWITCH, children, max_price=1.2, method="admm")


@pytest.mark.parametrize("children", ["microgrids", "clusters"])
@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
@given(system=systems(max_steps=4, max_microgrids=3, switches=True))
def test_atc_with_switches_small(children, system: GeneratedSystem):
    note(system.text)
    check_switch_system(system.text, children, system.max_price, note=note, strict=False)


@pytest.mark.slow
@pytest.mark.parametrize("children", ["microgrids", "clusters"])
@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(system=systems(switches=True))
def test_atc_with_switches(children, system: GeneratedSystem):
    note(system.text)
    check_switch_system(system.text, children, system.max_price, note=note, strict=False)


def test_bundled_clusters94_with_cluster_children():
    """The bundled clustered case: six microgrids that reach the feeder only through switches, two clusters
    joined by a switch, hourly statuses. Measured: 44 iterations, +0.027 % (before statuses were data: 86
    iterations, +2.87 %)."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "models" / "clusters94.mgd"
    central = mgdsl.load(path).solve().objective
    system = mgdsl.load(path)
    run = system.solve_atc(system.atc_options(children="clusters"))
    assert run.converged
    assert abs(run.objective - central) <= REL * abs(central)
    _statuses_respected(run)
