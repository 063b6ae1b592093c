"""Interchange capability (issue 11, item 1): the prediction (PIC) by hand on a generator and a load with the cost
tolerance binding and with the generator's limits binding, a storage making the range inter-temporal, the
network's correction (AIC) by a line rating and by a declared reserve (hand-computed), AIC never wider than PIC and
every AIC point solving feasible (a property over steps, microgrids and points of the box), the point estimate
against its closed form, the command line end to end, and the located refusals."""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.highs import OPTIMAL, from_linopy, run
from mgdsl.lower.system import lower_system
from mgdsl.studies.capability_model import add_budget_columns, groups_of, slack_prices

DATA = Path(__file__).parent / "data" / "capability"
HAND = DATA / "hand.mgd"

NETWORK = """use stdlib
horizon {steps} steps of 1 h
{profiles}
network dn {{
    base 1 MVA, 10 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. {buses}
    slack 1 {limit}buys at 0.6 yuan/kWh sells at 0.4 yuan/kWh
{lines}
{extra}
}}
"""


def system(microgrids: str, steps: int = 2, lines: str = "    line 1 - 2: r = 0.1 ohm, x = 0.1 ohm", buses: int = 2,
           extra: str = "", limit: str = "", profiles: str = "") -> mgdsl.System:
    text = NETWORK.format(steps=steps, buses=buses, lines=lines, extra=extra, limit=limit, profiles=profiles)
    return mgdsl.loads(text + microgrids, str(DATA / "case.mgd"))


GEN_LOAD = """
microgrid mg1 at dn.2 limit 200 kW {
    gen = Microturbine(p_max = 100 kW, fuel_price = 0.5 yuan/kWh)
    load = Load(electricity, base = 60 kW)
}
"""


def band(result, mg="mg1", kind="pic"):
    ds = result.bands.sel(microgrid=mg)
    return np.stack([ds[f"{kind}_dn"].values, ds[f"{kind}_up"].values], axis=1)


# ---------------------------------------------------------------- the prediction by hand
def test_hand_case_cost_tolerance_binds():
    # The dispatch: the generator (0.5 yuan/kWh) serves the 60 kW load at both steps, cost 60 yuan; importing at
    # 0.6 or exporting at 0.4 each cost 0.1 yuan/kWh more. Within 5 % (3 yuan over the horizon, all of it spendable
    # at one step, the other free) the tie moves 30 kW either way.
    r = mgdsl.load(HAND).capability(0.05)
    assert r.groups.loc[0, "economic_cost"] == pytest.approx(60.0)
    assert r.groups.loc[0, "budget"] == pytest.approx(63.0)
    np.testing.assert_allclose(r.bands["schedule"].values, 0.0, atol=1e-7)
    np.testing.assert_allclose(band(r), [[-30.0, 30.0], [-30.0, 30.0]], atol=1e-6)
    np.testing.assert_allclose(band(r, kind="aic"), band(r), atol=1e-6)       # the network limits nothing here


def test_hand_case_device_limits_bind():
    # Within 50 % (30 yuan) the budget would allow 300 kW; the load (60 kW, import with the generator off) and the
    # generator's spare 40 kW (export) bind first. With no tolerance the dispatch's optimum is unique: the tie at 0.
    s = mgdsl.load(HAND)
    np.testing.assert_allclose(band(s.capability(0.5, network=False)), [[-40.0, 60.0]] * 2, atol=1e-6)
    r = s.capability(0.0, hours=[1], network=False)
    np.testing.assert_allclose(band(r)[1], [0.0, 0.0], atol=1e-6)
    assert np.isnan(r.bands["pic_dn"].values[0, 0])     # steps not asked: NaN


def test_storage_makes_the_range_inter_temporal():
    # A 100 kWh storage (lossless, 0..100 %, starting at 50 kWh, ending anywhere) alone behind the tie; import and
    # export both priced 0.6 (sell capped at buy), so the dispatch sells the 50 kWh: -30 yuan; within 100 % the
    # budget is 0 yuan: the net purchase over the horizon is at most 0.
    # t=0: export up to the 50 kWh held; import up to the 50 kWh of room (sold again at t=1).
    # t=1: export up to p_max 100 (after buying 50 at t=0); import up to 50 (after selling 50 at t=0: budget).
    s = system("""
microgrid mg1 at dn.2 limit 500 kW {
    es = Storage(electricity, capacity = 100 kWh, p_max = 100 kW, eta_ch = 1, eta_dis = 1, soc_min = 0,
                 soc_max = 1, soc_init = 0.5, soc_end = 0)
}
""").capability(1.0, network=False)
    assert s.groups.loc[0, "economic_cost"] == pytest.approx(-20.0)      # 50 kWh sold at the sale price 0.4
    assert "aic_dn" not in s.bands
    # budget -20 + 20 = 0: sum(0.6 import - 0.4 export) <= 0
    dn, up = band(s).T
    assert dn[0] == pytest.approx(-50.0, abs=1e-6) and dn[1] == pytest.approx(-100.0, abs=1e-6)
    # import at t=0 of x (room 50) must be paid by selling at t=1: 0.6 x <= 0.4 (50 + x)  ->  x <= 100, room 50
    assert up[0] == pytest.approx(50.0, abs=1e-6)
    # import at t=1 of y: sell x <= 50 at t=0 first: 0.6 y <= 0.4 x  ->  y <= 33.33
    assert up[1] == pytest.approx(0.4 * 50 / 0.6, abs=1e-6)


# ---------------------------------------------------------------- the network's correction
def test_line_rating_narrows_the_correction():
    # A 20 kW load at bus 2 and the 4 A line (S = sqrt(3) 10 kV 4 A = 69.3 kVA at 1 p.u.): the line carries
    # 20 + tie, so the import stops at the rating less 20 kW while the export (-40) stays within it.
    s = system(GEN_LOAD, lines="    line 1 - 2: r = 0.1 ohm, x = 0.1 ohm, i_max = 4 A", extra="    load 2: p = 20 kW")
    r = s.capability(0.5)
    np.testing.assert_allclose(band(r), [[-40.0, 60.0]] * 2, atol=1e-6)
    aic = band(r, kind="aic")
    assert aic[:, 0] == pytest.approx([-40.0, -40.0], abs=1e-6)
    # the rating the model holds for a flow of P kW and no Q at the sending end: the centralized model's own
    # largest flow, by an independent solve of the same system with the tie free
    low = s.lower()
    h = from_linopy(low.model)
    col = int(np.asarray(low.network.P.labels.values)[0, 0])
    h.changeColsCost(h.getNumCol(), np.arange(h.getNumCol(), dtype=np.int32), np.zeros(h.getNumCol()))
    h.changeColCost(col, -1.0)
    run(h, None)
    p_max = h.getSolution().col_value[col]
    assert math.sqrt(3) * 10 * 4 * 0.9 < p_max < math.sqrt(3) * 10 * 4 * 1.1
    assert aic[:, 1] == pytest.approx([p_max - 20.0] * 2, abs=1e-5)
    assert np.all(aic[:, 1] < 60.0 - 1)


def test_reserve_narrows_the_correction():
    pytest.importorskip("mgdsl.lower.reserve")          # spinning reserve in the language (issue 11, item 2)
    # The slack can import 100 kW and must hold 50 kW of up reserve, its headroom 100 - (purchase - sale): with the
    # 20 kW load at bus 2, the tie may import 100 - 50 - 20 = 30 kW (the prediction allows 60).
    base = dict(limit="limit 100 kW ", extra="    load 2: p = 20 kW\n    reserve up >= {r} kW")

    def aic(r, **kw):
        s = system(GEN_LOAD, limit=base["limit"], extra=base["extra"].format(r=r))
        return band(s.capability(0.5, **kw), kind="aic")

    np.testing.assert_allclose(aic(0), [[-40.0, 60.0]] * 2, atol=1e-6)
    np.testing.assert_allclose(aic(50), [[-40.0, 30.0]] * 2, atol=1e-6)
    # --range-reserve: the reserve also covers the largest move of a microgrid above its schedule (0 -> 60 kW):
    # 100 - 20 - (0 + 60) = 20 kW
    np.testing.assert_allclose(aic(0, range_reserve=True), [[-40.0, 20.0]] * 2, atol=1e-6)


TWO_MG = """
microgrid mg1 at dn.2 limit 300 kW {
    gen = Microturbine(p_max = 150 kW, ramp = 40 kW, fuel_price = 0.5 yuan/kWh)
    es = Storage(electricity, capacity = 80 kWh, p_max = 40 kW)
    load = Load(electricity, base = 90 kW * shape)
}

microgrid mg2 at dn.3 limit 300 kW {
    de = DieselEngine(p_max = 120 kW, ramp = 50 kW, fuel_price = 0.55 yuan/kWh)
    load = Load(electricity, base = 70 kW * shape)
}
"""
TWO_LINES = ("    line 1 - 2: r = 0.3 ohm, x = 0.2 ohm, i_max = 9 A\n"
             "    line 2 - 3: r = 0.4 ohm, x = 0.3 ohm, i_max = 5 A")


@pytest.fixture(scope="module")
def two():
    s = system(TWO_MG, steps=4, lines=TWO_LINES, buses=3, extra="    load 2: p = 30 kW * shape\n    load 3: p = 20 kW",
               profiles="profile shape = [0.6, 1.0, 1.3, 0.8]")
    return s, s.capability(0.2)


def test_correction_never_wider_than_prediction(two):
    _, r = two
    b = r.bands
    ok = np.isfinite(b["aic_dn"].values)
    assert ok.sum() >= 4                                       # the case has corrected steps to check
    assert np.all(b["aic_dn"].values[ok] >= b["pic_dn"].values[ok] - 1e-6)
    assert np.all(b["aic_up"].values[ok] <= b["pic_up"].values[ok] + 1e-6)
    assert np.all(b["aic_dn"].values[ok] <= b["aic_up"].values[ok] + 1e-9)
    assert np.any(b["aic_up"].values[ok] < b["pic_up"].values[ok] - 1)   # the lines do narrow it somewhere


class Fixed:
    """The whole system lowered afresh (not the study's model), with or without every group's cost within its
    budget, in HiGHS with no objective: `feasible(t, point)` fixes the ties at step t and asks for a solution."""

    def __init__(self, s, r, budgets: bool):
        low = lower_system(s.ir)
        if budgets:
            groups = [g for g in groups_of(s.ir) if g.tied]
            add_budget_columns(low, groups, *slack_prices(s.ir))
        self.h = h = from_linopy(low.model)
        n = h.getNumCol()
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
        labels = np.asarray(low.ties["mg"].labels.values)
        names = [str(x) for x in low.ties["mg"].indexes["tie"]]
        self.cols = np.array([labels[names.index(mg)] for mg in r.microgrids])       # (microgrid, t)
        if budgets:
            z = np.asarray(low.model.variables["capability.cost"].labels.values)
            for g, col in zip(groups, z):
                h.changeColBounds(int(col), -np.inf, float(r.groups.set_index("group").loc[g.name, "budget"]) + 1e-7)
        lp = h.getLp()
        self.lo, self.up = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)

    def feasible(self, t, point) -> bool:
        cols = self.cols[:, t]
        for c, p in zip(cols, point):
            self.h.changeColBounds(int(c), float(p), float(p))
        ok = run(self.h, None) == OPTIMAL
        for c in cols:
            self.h.changeColBounds(int(c), self.lo[c], self.up[c])
        return ok


@pytest.fixture(scope="module")
def fixed(two):
    s, r = two
    return Fixed(s, r, False), Fixed(s, r, True)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_point_of_the_correction_solves(two, fixed, data):
    s, r = two
    b = r.bands
    t = data.draw(st.sampled_from([t for t in r.hours if np.isfinite(b["aic_dn"].values[:, t]).all()]), "step")
    lo, up = b["aic_dn"].values[:, t], b["aic_up"].values[:, t]
    # a corner or an inside point, every microgrid at once (the box is claimed for all of them together)
    shares = [data.draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1), f"share {mg}") for mg in r.microgrids]
    point = lo + np.asarray(shares) * (up - lo)
    plain, within_budgets = fixed
    assert plain.feasible(t, point)
    assert within_budgets.feasible(t, point)


def test_outside_the_correction_is_infeasible(two, fixed):
    # the box is not needlessly small: where the network narrowed the import, a little more is infeasible
    s, r = two
    b = r.bands
    cut = np.argwhere(np.isfinite(b["aic_up"].values) & (b["aic_up"].values < b["pic_up"].values - 1))
    k, t = map(int, cut[0])
    point = b["aic_up"].values[:, t].copy()
    point[k] += 0.5
    assert not fixed[1].feasible(t, point)


def test_correction_with_lazy_cones_equals_the_lift():
    # A SOC branch flow: the correction meets its cones by tangents on the resident model (cones = lazy) or as the
    # polyhedral lift's rows (cones = lift), both within the same accuracy. The corners' sums (what the up and down
    # LPs optimize) agree to it; the boxes themselves may be other optima of those LPs, so each lazy corner is
    # checked on the lift's own model (Fixed), moved 0.05 kW inwards for the accuracy (on ties of about 100 kW).
    def system_with(cones):
        socp = f"formulation distflow_socp(accuracy = 1e-4, cones = {cones})"
        text = NETWORK.replace("formulation lindistflow", socp)
        text = text.format(steps=4, buses=3, lines=TWO_LINES, limit="", profiles="profile shape = [0.6, 1.0, 1.3, 0.8]",
                           extra="    load 2: p = 30 kW * shape\n    load 3: p = 20 kW")
        return mgdsl.loads(text + TWO_MG, str(DATA / "case.mgd"))

    s = system_with("lazy")
    lazy, lift = s.capability(0.2), system_with("lift").capability(0.2)
    assert lazy.counts["correct_cone_tangents"] > 0 and "correct_cone_tangents" not in lift.counts
    for kind in ("aic_dn", "aic_up"):
        a, b = lazy.bands[kind].values, lift.bands[kind].values
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.isfinite(a).sum() >= 6
        np.testing.assert_allclose(a.sum(axis=0), b.sum(axis=0), atol=0.05)
    assert np.any(lift.bands["aic_up"].values < lift.bands["pic_up"].values - 1)     # the lines do narrow it
    on_lift = Fixed(s, lazy, True)                  # lower_system without solver_cones: the lift's rows
    for t in lazy.hours:
        lo, up = lazy.bands["aic_dn"].values[:, t], lazy.bands["aic_up"].values[:, t]
        if np.isnan(lo).any():
            continue
        for corner in itertools.product((0, 1), repeat=len(lo)):
            c = np.asarray(corner) == 1
            assert on_lift.feasible(t, np.where(c, up - 0.05, lo + 0.05)), (t, corner)


# ---------------------------------------------------------------- under uncertainty
@pytest.mark.parametrize("network", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_point_estimate_matches_the_closed_form(network):
    # gen 0.5, import 0.6, export 0.4 against an uncertain load L_t ~ 60 (1 + 0.1 e), within 5 %: the budget's
    # slack is 0.05 * 0.5 * (L_0 + L_1) and each kWh moved costs 0.1, so both limits are +-0.25 (L_0 + L_1),
    # linear in the inputs (no device limit binds at Hong's points): mean 30, std 0.25 * 6 * sqrt(2).
    r = mgdsl.load(DATA / "pem.mgd").capability(0.05, pem=True, network=network)
    assert r.pem["inputs"] == 2 and r.pem["runs"] == 5
    for kind, sign in (("pic_up", 1), ("pic_dn", -1), ("aic_up", 1), ("aic_dn", -1))[:4 if network else 2]:
        np.testing.assert_allclose(r.bands[f"{kind}_mean"].values, sign * 30.0, atol=1e-6)
        np.testing.assert_allclose(r.bands[f"{kind}_std"].values, 0.25 * 6 * math.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(r.bands["schedule_std"].values, 0.0, atol=1e-6)


# ---------------------------------------------------------------- the command line and the refusals
def test_cli_end_to_end(tmp_path):
    out = tmp_path / "cap"
    res = CliRunner().invoke(main, ["capability", str(HAND), "--cost-tolerance", "50%", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "mg1" in res.output and "written to" in res.output
    for name in ("capability.json", "capability.csv", "groups.csv", "capability.nc", "band_mg1.png"):
        assert (out / name).stat().st_size > 0
    import pandas as pd
    import xarray as xr

    table = pd.read_csv(out / "capability.csv")
    assert list(table.columns) == ["microgrid", "t", "schedule", "pic_dn", "pic_up", "aic_dn", "aic_up"]
    assert table["pic_up"].tolist() == pytest.approx([60.0, 60.0])
    with xr.open_dataset(out / "capability.nc") as ds:
        assert float(ds["pic_dn"].sel(microgrid="mg1", t=0)) == pytest.approx(-40.0)
    res = CliRunner().invoke(main, ["capability", str(HAND), "--hours", "1", "--no-network", "--json", "-o",
                                    str(tmp_path / "j")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout if hasattr(res, "stdout") else res.output)
    assert data["hours"] == [1] and data["tolerance"] == 0.05
    assert [(b["t"], b["pic_dn"], b["pic_up"]) for b in data["bands"]] == [(1, pytest.approx(-30.0),
                                                                           pytest.approx(30.0))]


def test_cli_point_estimate(tmp_path):
    res = CliRunner().invoke(main, ["capability", str(DATA / "pem.mgd"), "--pem", "--no-network", "-o",
                                    str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert "5 runs" in res.output and "2.121 kW" in res.output
    data = json.loads((tmp_path / "p" / "capability.json").read_text())
    assert data["pem"]["inputs"] == 2 and data["bands"][0]["pic_up_std"] == pytest.approx(1.5 * math.sqrt(2))


@pytest.mark.parametrize("args, code, text", [
    (["--cost-tolerance", "-5%"], 2, "non-negative"),
    (["--cost-tolerance", "abc"], 2, "percentage"),
    (["--hours", "3-1"], 2, "lower step"),
    (["--hours", "9"], 1, "E0842"),
])
def test_cli_bad_settings(tmp_path, args, code, text):
    res = CliRunner().invoke(main, ["capability", str(HAND), "-o", str(tmp_path / "x"), *args])
    assert res.exit_code == code, res.output
    assert text in res.output


def test_refusals_are_located():
    with pytest.raises(MgdError) as e:
        mgdsl.load(Path(__file__).parent / "data" / "pem" / "linear.mgd").capability()
    d = e.value.diagnostics[0]
    assert d.code == "E0840" and d.span is not None and "tied" in d.message
    with pytest.raises(MgdError) as e:
        system("").capability()
    assert e.value.diagnostics[0].code == "E0840" and e.value.diagnostics[0].span is not None
    with pytest.raises(MgdError) as e:
        system("""
microgrid mg1 at dn.2 limit 200 kW {
    gen = MicroturbineQuadratic(p_max = 100 kW)
    load = Load(electricity, base = 60 kW)
}
""").capability()
    assert e.value.diagnostics[0].code == "E0841" and "mg1.gen" in e.value.diagnostics[0].message
    with pytest.raises(MgdError) as e:
        system("""
microgrid mg1 at dn.2 limit 20 kW {
    load = Load(electricity, base = 60 kW)
}
""").capability()
    assert e.value.diagnostics[0].code == "E0843"


@pytest.mark.slow
def test_processes_executor_gives_the_same_bands(two):
    s, r = two
    p = s.capability(0.2, executor="processes", workers=2)
    for k in ("pic_dn", "pic_up", "aic_dn", "aic_up"):
        np.testing.assert_allclose(p.bands[k].values, r.bands[k].values, atol=1e-6)


def test_cooperative_group_and_held_integers():
    # mg1 and mg2 share a switched line (a binary status per step, s <= 100 kW from mg1 to mg2): one group, one
    # economic dispatch and budget. mg1's generator (0.3 yuan/kWh) runs at 100 kW and the group sells 20 kW at 0.4:
    # 2 * (30 - 8) = 44 yuan; within 50 %, 22 yuan more at one step (44 there). Each tie is priced on its own, so
    # one buying at 0.6 while the other sells at 0.4 costs the spread. With tie1 = 30 + s - gen, tie2 = 50 - s:
    #   mg2 up:   tie2 = 50 + y with mg1 selling 20 + y: 22 + 0.2 y <= 44            ->  y = 110, tie2 = 110
    #   mg2 down: s = 100, tie2 = -50, tie1 = 30 (gen 100): 30 + 18 - 20 = 28 <= 44    ->  -50
    #   mg1 up:   s >= 50: 38 + 0.2 s - 0.3 gen <= 44, tie1 = 30 + s - gen <= 50 + s/3  ->  83.33 at s = 100
    #   mg1 down: gen 100, s <= 50: 32 - 0.2 s <= 44  ->  s = -60, tie1 = -130
    s = system("""
microgrid mg1 at dn.2 limit 200 kW {
    gen = Microturbine(p_max = 100 kW, fuel_price = 0.3 yuan/kWh)
    load = Load(electricity, base = 30 kW)
}

microgrid mg2 at dn.2 limit 200 kW {
    load = Load(electricity, base = 50 kW)
}

switch k12 between mg1 and mg2 limit 100 kW
""")
    r = s.capability(0.5)
    assert r.groups["group"].tolist() == ["mg1+mg2"] and r.groups.loc[0, "economic_cost"] == pytest.approx(44.0)
    np.testing.assert_allclose(band(r, "mg2"), [[-50.0, 110.0]] * 2, atol=1e-6)
    np.testing.assert_allclose(band(r, "mg1"), [[-130.0, 50 + 100 / 3]] * 2, atol=1e-6)
    assert any("integer decisions" in n for n in r.notes)
    # the two ties cannot take their extremes together (both are fed by the same switch): the correction's box is
    # one the group can hold at once, and its corners solve within the budget
    aic = np.stack([r.bands["aic_dn"].values, r.bands["aic_up"].values])
    assert np.all(aic[0] >= r.bands["pic_dn"].values - 1e-6) and np.all(aic[1] <= r.bands["pic_up"].values + 1e-6)
    assert np.all((aic[1] - aic[0]).sum(axis=0) < (r.bands["pic_up"] - r.bands["pic_dn"]).values.sum(axis=0))
    check = Fixed(s, r, True)
    for t in r.hours:
        for c in itertools.product((0, 1), repeat=2):
            assert check.feasible(t, np.where(np.array(c) == 1, aic[1][:, t], aic[0][:, t]))
