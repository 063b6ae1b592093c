"""Step windows (`--steps FIRST..LAST`, System.window; mgdsl/sema/window.py): the system over some steps of its
horizon equals the same model written with those steps alone (its horizon shortened, its profiles cut), hours that
do not interact sum to the whole day, a storage starts the window from its declared initial state, studies take the
window, and what a window cannot take is a located error (E0850-E0854, golden files in tests/golden/errors)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.sema.window import Window, parse_window

PRICE = [0.2, 0.3, 0.5, 0.9, 0.6, 0.4]
LOAD = [1.0, 0.8, 1.2, 1.5, 1.1, 0.9]

# Six independent hours: a 100 kW load scaled by `demand`, bought at `price`: cost = sum of 100 demand price.
HOURS = """use stdlib
horizon STEPS steps of 1 h
profile price: yuan/kWh = PRICE
profile demand = LOAD

microgrid mg {
    grid = ElectricityTrade(buy_price = price)
    load = Load(electricity, base = 100 kW * demand)
}
"""

# The same with a 100 kWh battery (half full at the start, no emptier at the end): hours interact.
STORAGE = HOURS.replace("    load = Load", "    es = Storage(electricity, capacity = 100 kWh, p_max = 40 kW)\n"
                                          "    load = Load")


def model(text: str, first: int = 0, last: int = len(PRICE) - 1) -> str:
    """The model written over steps first..last alone: its horizon and profiles cut by hand."""
    return (text.replace("STEPS", str(last - first + 1))
            .replace("PRICE", str(PRICE[first:last + 1])).replace("LOAD", str(LOAD[first:last + 1])))


def test_independent_hours_sum_to_the_day():
    """Hand value: cost of hours 2..3 = 100 (1.2 x 0.5 + 1.5 x 0.9) = 195 yuan; the windows 0..2 and 3..5 add up
    to the whole day."""
    day = mgdsl.loads(model(HOURS))
    assert day.solve().summary["objective"] == pytest.approx(100 * float(np.dot(PRICE, LOAD)), rel=1e-9)
    assert day.window("2..3").solve().summary["objective"] == pytest.approx(195.0, rel=1e-9)
    parts = [day.window(w).solve().summary["objective"] for w in ("0..2", "3-5")]
    assert sum(parts) == pytest.approx(100 * float(np.dot(PRICE, LOAD)), rel=1e-9)


def test_window_equals_the_model_written_over_those_steps():
    """A storage model over steps 2..4: the same schedule and cost as the model written with three steps, whose
    battery starts from its declared initial state (soc_init) and must end no emptier (`e[last]`: the window's
    last step)."""
    full = mgdsl.loads(model(STORAGE))
    windowed = full.window((2, 4))
    assert windowed.ir.steps == 3 and full.ir.steps == 6          # the full system is left as it was
    got = windowed.solve()
    ref = mgdsl.loads(model(STORAGE, 2, 4)).solve()
    assert got.summary["objective"] == pytest.approx(ref.summary["objective"], rel=1e-9)
    e_got = got["Storage"]["e"].sel(instance="mg.es").values
    e_ref = ref["Storage"]["e"].sel(instance="mg.es").values
    assert e_got == pytest.approx(e_ref, abs=1e-6)
    assert e_got[-1] >= 50.0 - 1e-6                               # soc_end at the window's end
    assert got.summary["window"] == {"first": 2, "last": 4, "steps": 3, "horizon": 6}
    assert list(got["Storage"]["t"].values) == [0, 1, 2]           # t counts from the window's first step


def test_window_with_the_other_steps_fixed():
    """The full day with every step outside 2..4 held at values that leave the battery as the window starts it
    (idle, e = 50 kWh) costs the window's optimum plus those hours bought as they come."""
    full = mgdsl.loads(model(STORAGE))
    window_cost = full.window("2..4").solve().summary["objective"]
    low = full.lower()
    m = low.model
    ch, dis = m.variables["Storage.ch"], m.variables["Storage.dis"]
    outside = [0, 1, 5]
    m.add_constraints(ch.sel(t=outside) == 0, name="test.ch_fixed")
    m.add_constraints(dis.sel(t=outside) == 0, name="test.dis_fixed")
    fixed = full.solve().summary["objective"]
    others = 100 * sum(PRICE[t] * LOAD[t] for t in outside)
    assert fixed == pytest.approx(window_cost + others, rel=1e-9)


def test_studies_take_the_window():
    """IGDT over a window equals IGDT on the model written over those steps (its sensitivities come from the
    system checked again with the profile scaled: the window is kept); so does a Pareto front."""
    wind = HOURS.replace("    load = Load", "    wt = Wind(p_max = 60 kW, profile = wind_pu)\n    load = Load") \
        .replace("profile demand", "uncertain profile wind_pu = [0.5, 0.2, 0.8, 0.4, 0.6, 0.3]\nprofile demand")
    full = mgdsl.loads(model(wind))
    got = full.window("1..3").igdt(budgets=[0.05], modes=["robust"])
    ref_text = model(wind, 1, 3).replace("[0.5, 0.2, 0.8, 0.4, 0.6, 0.3]", "[0.2, 0.8, 0.4]")
    ref = mgdsl.loads(ref_text).igdt(budgets=[0.05], modes=["robust"])
    assert got.base_objective == pytest.approx(ref.base_objective, rel=1e-9)
    assert got.alpha("robust")[0.05] == pytest.approx(ref.alpha("robust")[0.05], rel=1e-6)
    two = (model(HOURS) + "objective bought: kWh = sum(mg.grid.buy * dt)\n")
    front = mgdsl.loads(two).window("4..5").pareto("cost", ["bought"], points=2)
    assert front.best["bought"] == pytest.approx(100 * (LOAD[4] + LOAD[5]), rel=1e-9)
    with pytest.raises(ValueError, match="does not take a step window"):
        full.window("1..3").pem()


def test_window_forms_and_errors():
    assert parse_window("16..19", 24) == Window(16, 19, 24)
    assert parse_window(" 16 - 19 ", 24) == Window(16, 19, 24)
    assert parse_window("7", 24) == Window(7, 7, 24)
    assert parse_window((0, 23), 24).steps == 24
    cases = {"4h": "E0850", "a..b": "E0850", "20..24": "E0851", "-1..2": "E0851", "19..16": "E0852"}
    for spec, code in cases.items():
        with pytest.raises(MgdError) as err:
            parse_window(spec, 24)
        assert err.value.diagnostics[0].code == code, spec
    system = mgdsl.loads(model(HOURS))
    inner = system.window("1..4").window("1..2")                 # steps 1..2 of the window: 2..3 of the day
    assert inner._window == Window(2, 3, 6)
    assert inner.solve().summary["objective"] == pytest.approx(195.0, rel=1e-9)


def test_cli_steps(tmp_path):
    path = tmp_path / "hours.mgd"
    path.write_text(model(HOURS))
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["solve", str(path), "--steps", "2..3", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] == pytest.approx(195.0, rel=1e-9)
    assert summary["window"]["first"] == 2 and summary["steps"] == 2
    r = CliRunner().invoke(main, ["solve", str(path), "--steps", "5..9", "--no-save"])
    assert r.exit_code == 1
    assert "E0851" in r.output and "outside the horizon of 6 steps" in r.output
