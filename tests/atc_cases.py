"""Small systems shared by the ATC tests, and the check that ATC's coupling values are optimal ones."""
from __future__ import annotations

import numpy as np
import xarray as xr

import mgdsl
from mgdsl.ir import coupling_id

CONTINUOUS = """use stdlib
horizon 4 steps of 1 h
profile price: yuan/kWh = [0.3, 0.5, 1.0, 0.6]
profile shape = [0.6, 0.8, 1.0, 0.7]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 4
    slack 1 buys at price
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm
    line 2 - 3: r = 0.5 ohm, x = 0.3 ohm
    line 2 - 4: r = 0.4 ohm, x = 0.2 ohm
    load 3: p = 200 kW * shape, q = 50 kvar * shape
    at 4: SVC(q_min = -50 kvar, q_max = 100 kvar)
}

microgrid a at dn.3 limit 400 kW {
    es = Storage(electricity, capacity = 300 kWh, p_max = 150 kW)
    chp = CHP(p_max = 200 kW, ramp = 100 kW)
    heat = Load(heat, base = 120 kW * shape)
    gb = GasBoiler(h_max = 200 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    load = FlexibleLoad(electricity, base = 250 kW * shape, shift = 20 %, curtail = 5 %)
}

microgrid b at dn.4 limit 300 kW {
    pv = PV(p_max = 300 kW, profile = [0, 0.5, 0.9, 0.3])
    load = Load(electricity, base = 150 kW * shape)
    es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)
}
"""

# mg a gets an on/off CHP: its subproblem is a MILP.
MILP = CONTINUOUS.replace("chp = CHP(p_max = 200 kW, ramp = 100 kW)",
                          "chp = CHPUnit(p_max = 200 kW, p_min = 60 kW, ramp = 100 kW)")


def optimum_with_fixed_couplings(text: str, targets: dict[str, np.ndarray], slack_kw: float) -> float:
    """The centralized optimum when every tie line's P, and Q where it carries Q, is held within `slack_kw`
    (kvar for Q) of ATC's targets: equal to the free optimum exactly when ATC's coupling values are optimal ones
    (a test that tolerates degenerate optima, where the centralized solver may pick other, equally good, coupling
    values)."""
    system = mgdsl.loads(text)
    low = system.lower()
    for key, quantity in (("mg", "p"), ("q_mg", "q")):
        ties = low.ties.get(key)
        if ties is None:
            continue
        names = [str(n) for n in ties.coords["tie"].values]
        r = xr.DataArray(np.stack([targets[coupling_id("tie", n, quantity)] for n in names]),
                         coords=ties.labels.coords)
        low.model.add_constraints(ties <= r + slack_kw, name=f"fix_{quantity}_hi")
        low.model.add_constraints(ties >= r - slack_kw, name=f"fix_{quantity}_lo")
    return system.solve().objective
