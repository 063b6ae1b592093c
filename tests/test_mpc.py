"""Rolling-horizon control (issue 11, item 4): a battery case checked by hand (the energy carried from window to
window, the realized cost, the hindsight and forecast optima), a perfect forecast with a window as long as the
horizon equals the full solve, ramps held across committed steps, one resident model, the command line, and bad
input (unknown profile, window too long, a CSV missing a column or with a bad cell) reported located."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.studies.mpc import window_steps

DATA = Path(__file__).parent / "data" / "mpc"
FORECAST = [0, 0, 40, 40]                        # storage.mgd's demand
ACTUAL = [0, 0, 60, 20]                          # actual.csv


@pytest.fixture(scope="module")
def storage():
    return mgdsl.load(DATA / "storage.mgd")


@pytest.fixture(scope="module")
def feeder():
    return mgdsl.load(DATA / "feeder.mgd")


def test_window_parsing():
    assert window_steps("4h", 24, 1.0) == 4 and window_steps("90min", 8, 0.25) == 6
    assert window_steps(3, 24, 1.0) == 3 and window_steps("2 steps", 4, 1.0) == 2
    for bad, what in (("90min", "whole number"), ("5h", "longer than the horizon"), ("0", "whole number"),
                      ("4 kW", "not a duration"), ("soon", "not a window")):
        with pytest.raises(MgdError) as err:
            window_steps(bad, 4, 1.0)
        assert err.value.diagnostics[0].code == "E0823" and what in err.value.diagnostics[0].message


def test_storage_by_hand(storage):
    """Window 2 h, the evening load realized 60 then 20 kW instead of 40 and 40 (storage.mgd: 20 kWh stored, prices
    0.2, 0.2, 1.0, 0.8, 0.01 yuan/kWh of throughput).
    t=0: the window (t=0..1) sees no load: nothing is done, e = 20.
    t=1: the window (t=1..2) sees 40 kW at t=2: charge 20 at 0.2 rather than buy at 1.0: e = 40.
    t=2: 60 kW realized, 40 forecast at t=3 (0.8): discharge all 40 now (1.0 > 0.8), buy 20: e = 0.
    t=3: 20 kW realized, nothing stored: buy 20 at 0.8.
    Cost 0.2 * 20 + 0.01 * 20 + 1.0 * 20 + 0.01 * 40 + 0.8 * 20 = 40.6 yuan."""
    r = storage.mpc("2h", DATA / "actual.csv")
    assert r.completed and r.window == 2
    assert r.results["Storage"]["e"].values.ravel() == pytest.approx([20, 40, 0, 0], abs=1e-6)
    assert r.results["ElectricityTrade"]["buy"].values.ravel() == pytest.approx([0, 20, 20, 20], abs=1e-6)
    assert r.objective == pytest.approx(40.6) == r.results.objective
    # known ahead: store 50 more at 0.2, discharge 50 + 20, buy 10 at the peak: 10 + 0.01 * 120 + 10 = 21.2
    assert r.hindsight == pytest.approx(21.2)
    assert r.forecast_plan == pytest.approx(13.4)                 # charge 60, discharge 40 + 40
    assert list(r.forecast_vs_actual["demand_forecast"]) == FORECAST
    assert list(r.forecast_vs_actual["demand_actual"]) == ACTUAL
    assert list(r.steps["window_end"]) == [1, 2, 3, 3]             # the window shrinks at the end


def test_perfect_forecast_full_window_is_the_full_solve(storage):
    assert storage.mpc(4, {"demand": FORECAST}).objective == pytest.approx(storage.solve().objective) \
        == pytest.approx(13.4)


@pytest.mark.slow
def test_perfect_forecast_full_window_on_a_feeder(feeder):
    f = [0.2, 0.5, 0.7, 0.4, 0.3, 0.6]
    full = feeder.solve()
    r = feeder.mpc("6h", {"wind_pu": f})
    assert r.objective == pytest.approx(full.objective, rel=1e-9)
    assert r.hindsight == pytest.approx(full.objective, rel=1e-9)


@pytest.mark.slow
def test_ramps_and_limits_hold_across_committed_steps(feeder):
    """The microturbine's `p[t] - p[t-1]` has no `initial`: the committed past, fixed in the model, carries it."""
    r = feeder.mpc(3, {"wind_pu": [0.1, 0.6, 0.5, 0.2, 0.5, 0.4]})
    assert r.completed and r.objective >= r.hindsight - 1e-6
    p = r.results["Microturbine"]["p"].values.ravel()
    assert np.all(np.abs(np.diff(p)) <= 40 + 1e-6) and np.abs(np.diff(p)).max() == pytest.approx(40)
    wind = r.results["Wind"]["p"].values.ravel()
    assert np.all(wind <= 200 * np.array([0.1, 0.6, 0.5, 0.2, 0.5, 0.4]) + 1e-6)     # the actual availability
    e = r.results["Storage"]["e"].values.ravel()
    es = r.results["Storage"]
    flow = (0.95 * es["ch"] - es["dis"] / 0.95).values.ravel()
    assert np.diff(np.concatenate([[150.0], e])) == pytest.approx(flow, abs=1e-6)   # soc_init 0.5 of 300 kWh
    assert np.all(np.abs(r.results["ties"]["import"].values) <= 400 + 1e-6)


def test_one_resident_model(storage, monkeypatch):
    """Every window and the references are solved on the model the first study built (kept on the System)."""
    from mgdsl.studies import profiles

    storage.mpc(2, {"demand": ACTUAL})
    monkeypatch.setattr(profiles, "ProfileModel", None)          # a rebuild would fail
    r = storage.mpc("2h", DATA / "actual.csv")
    assert r.objective == pytest.approx(40.6)


# ---------------------------------------------------------------- bad input
def _err(system, window, actual, **kw) -> MgdError:
    with pytest.raises(MgdError) as err:
        system.mpc(window, actual, **kw)
    return err.value


def test_bad_input_is_located(storage, tmp_path):
    d = _err(storage, "5h", DATA / "actual.csv").diagnostics[0]
    assert d.code == "E0823" and "longer than the horizon" in d.message
    d = _err(storage, 2, {"price": [1, 1, 1, 1]}).diagnostics[0]
    assert d.code == "E0821" and "`price` is not an uncertain profile" in d.message and d.span.text == "price"
    csv = tmp_path / "a.csv"
    csv.write_text("t,load\n0,1\n1,1\n2,1\n3,1\n")
    d = _err(storage, 2, csv).diagnostics[0]
    assert d.code == "E0822" and "`load` of the actual values is not an uncertain profile" in d.message
    assert (d.span.line, d.span.column, d.span.text) == (1, 1, "t,load")
    csv.write_text("t\n0\n1\n2\n3\n")
    d = _err(storage, 2, csv).diagnostics[0]
    assert d.code == "E0822" and "no column `demand`" in d.message and d.span.text == "t"
    csv.write_text("t,demand\n0,0\n1,0\n2,x\n3,1\n")
    d = _err(storage, 2, csv).diagnostics[0]
    assert d.code == "E0822" and "`x`" in d.message and (d.span.line, d.span.column, d.span.text) == (4, 3, "x")
    csv.write_text("demand\n0\n0\n")
    d = _err(storage, 2, csv).diagnostics[0]
    assert d.code == "E0822" and "2 rows but the horizon has 4 steps" in d.message and d.span.line == 3


# ---------------------------------------------------------------- command line
def test_cli_end_to_end(tmp_path):
    out = tmp_path / "mpc"
    args = ["mpc", str(DATA / "storage.mgd"), "--window", "2h", "--actual", str(DATA / "actual.csv"), "-o", str(out)]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["realized_objective"] == pytest.approx(40.6) and data["window_steps"] == 2
    assert {p.name for p in out.iterdir()} >= {"mpc.json", "steps.csv", "forecast_vs_actual.csv", "schedule"}
    assert (out / "schedule" / "Storage.nc").exists() and (out / "schedule" / "summary.json").exists()
    r = CliRunner().invoke(main, [*args[:2], "--window", "9h", "--actual", str(DATA / "actual.csv"), "-o",
                                  str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0823" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_unit_status_carries_across_windows():
    """A MILP: the CHP's `start[t] >= on[t] - on[t-1]` sees the committed status, so a unit kept on through the
    dear hours is started (and paid for) once; a perfect forecast over the whole horizon is the full solve."""
    system = mgdsl.load(DATA / "chp.mgd")
    assert system.mpc(6, {"demand": [100, 100, 200, 200, 100, 100]}).objective == \
        pytest.approx(system.solve().objective, rel=1e-6)
    r = system.mpc(2, {"demand": [100, 100, 250, 150, 100, 100]})
    on = r.results["CHPUnit"]["on"].values.ravel()
    start = r.results["CHPUnit"]["start"].values.ravel()
    assert list(on) == [0, 0, 1, 1, 1, 0] and start.sum() == pytest.approx(1.0)
    assert r.objective >= r.hindsight - 1e-6
