"""The report of an infeasible model: quick (one LP for a Farkas certificate, then HiGHS's IIS search on its
rows only, bounded in time), short (grouped by declaration, at most a few lines), and led by what the user can
act on (the network's voltage limits and loads, the instance lines of their own file) before the library."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import mgdsl
from mgdsl import highs
from mgdsl.diagnostics import MgdError
from mgdsl.solve import centralized
from mgdsl.solve.centralized import diagnose_infeasible

MODELS = Path(__file__).resolve().parent.parent / "models"

# 2.5 MW through two 2-ohm lines: bus 3 cannot stay above 0.95 p.u. at the peak (step 1)
OVERLOADED = """use stdlib
horizon 3 steps of 1 h
profile shape = [0.5, 1, 0.6]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.95 .. 1.05 pu
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 2 ohm, x = 1 ohm
    line 2 - 3: r = 2 ohm, x = 1 ohm
    load 3: p = 1500 kW * shape, q = 300 kvar * shape
}

microgrid mg1 at dn.3 limit 2 MW {
    load = Load(electricity, base = 1000 kW * shape)
}
"""


def _report(text: str, **kwargs):
    low = mgdsl.loads(text).lower()
    with pytest.raises(MgdError) as e:
        diagnose_infeasible(low, **kwargs)
    (d,) = e.value.diagnostics
    assert d.code == "E0601"
    return d


def _is_library(span) -> bool:
    return span.file.path.startswith("stdlib/")


def test_the_users_declarations_lead_the_report():
    t0 = time.perf_counter()
    d = _report(OVERLOADED)
    assert time.perf_counter() - t0 < 5
    # the primary label is what the user can change, the voltage limits of their network; the library's line
    # comes after the user's lines
    assert not _is_library(d.span) and d.span.file.text[d.span.start:d.span.end] == "voltage 0.95 .. 1.05 pu"
    spans = [d.span] + [label.span for label in d.secondary]
    library = [k for k, s in enumerate(spans) if _is_library(s)]
    assert library and min(library) > max(k for k, s in enumerate(spans) if not _is_library(s))
    assert any("load = Load(electricity" in s.file.line_text(s.line) for s in spans)    # the instance line
    conflicts = [n for n in d.notes if n.startswith("conflict:")]
    # first the limit that binds (the voltage floor at bus 3), then the network's loads at the step that fails,
    # with the numbers to act on, then the instance
    assert "voltage limit (0.95 .. 1.05 p.u.)" in conflicts[0] and "bus 3 (lower limit)" in conflicts[0]
    assert "network `dn`" in conflicts[1] and "1,500 kW and 300 kvar at t=1" in conflicts[1]
    assert "for mg1.load at t=1" in conflicts[2]
    loads = next(lab for lab in d.secondary if lab.message == "loads")
    assert loads.span.file.line_text(loads.span.line).strip().startswith("load 3: p = 1500 kW")
    assert len(conflicts) <= centralized._SHOWN_GROUPS
    assert not any(n.startswith("partial") for n in d.notes)       # the search finished: a minimal conflict


def test_the_listing_is_capped(monkeypatch):
    monkeypatch.setattr(centralized, "_SHOWN_GROUPS", 2)
    monkeypatch.setattr(centralized, "_SHOWN_LABELS", 2)
    d = _report(OVERLOADED)
    conflicts = [n for n in d.notes if n.startswith("conflict:")]
    assert len(conflicts) == 2 and len(d.secondary) == 1
    more = [n for n in d.notes if n.startswith("... and ")]
    assert more and "more declarations" in more[0] and "rows" in more[0]


def test_when_the_search_runs_out_of_time_the_certificate_is_reported_as_partial(monkeypatch):
    """No time left for HiGHS's IIS search: the Farkas certificate's rows are reported, said to be partial; they
    do form a conflict (the model restricted to them is infeasible)."""
    monkeypatch.setattr(highs, "_iis", lambda h, row_of, deadline: highs.Conflict([], [], False, "time limit"))
    model = mgdsl.loads(OVERLOADED).lower().model
    h = highs.from_linopy(model)
    found = highs.conflict(h, 10)
    assert found.rows and not found.irreducible and found.stopped == "time limit"
    rows = np.array([r for r, _ in found.rows])
    lp = h.getLp()
    sub = highs._restricted(lp, rows, np.zeros(0, dtype=np.int32))
    assert highs.run(sub, 10) == highs.INFEASIBLE
    d = _report(OVERLOADED)
    assert any(n.startswith("partial: the search for a minimal conflict stopped at its time limit") for n in d.notes)
    assert not _is_library(d.span)


def test_no_time_at_all_still_gives_a_located_report():
    d = _report(OVERLOADED, time_limit=0.0)
    assert d.notes[-1] == "HiGHS found no conflict within 0 s"
    assert d.span is not None and not _is_library(d.span)            # the system's own lines


# a CHP that must run at 60 kW or more, or not at all, for a 30 kW load it cannot export to
INTEGER_CONFLICT = """use stdlib
horizon 2 steps of 1 h
microgrid mg {
    chp = CHPUnit(p_max = 200 kW, p_min = 60 kW)
    load = Load(electricity, base = 30 kW)
    heat = Export(heat, p_max = 1 MW)
    gas = GasSupply(price = 0.3 yuan/kWh)
}
"""


def test_a_conflict_of_integer_decisions_is_named_so():
    with pytest.raises(MgdError) as e:
        mgdsl.loads(INTEGER_CONFLICT).solve()
    (d,) = e.value.diagnostics
    assert d.code == "E0601"
    assert any("integer decisions" in n and "CHPUnit.on" in n for n in d.notes), d.notes
    assert "chp = CHPUnit(" in d.span.file.line_text(d.span.line)     # the instance that decides on/off


@pytest.mark.slow
def test_an_overloaded_33_bus_day_is_reported_in_seconds():
    """models/ieee33_3mg.mgd with 2.5 times the feeder's loads: the 0.93 p.u. limit fails at the evening peak.
    HiGHS's IIS search on the whole model ran 7.5 minutes and listed 1,250 rows."""
    path = MODELS / "ieee33_3mg.mgd"
    text = path.read_text().replace('loads csv("data/ieee33/loads.csv") * load_shape',
                                    'loads csv("data/ieee33/loads.csv") * load_shape * 2.5')
    system = mgdsl.loads(text, str(path))
    t0 = time.perf_counter()
    with pytest.raises(MgdError) as e:
        system.solve()
    assert time.perf_counter() - t0 < 120
    (d,) = e.value.diagnostics
    conflicts = [n for n in d.notes if n.startswith("conflict:")]
    assert d.code == "E0601" and len(conflicts) <= centralized._SHOWN_GROUPS
    assert "voltage limit (0.93 .. 1.07 p.u.)" in conflicts[0]
    assert any("carrier balance of network `dn`" in c and "network load at these buses" in c for c in conflicts)
