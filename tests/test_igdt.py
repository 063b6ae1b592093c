"""Information gap decision theory (issue 10, item 6): `uncertain profile` in the language, robustness and
opportunity radii on models solved by hand (one wind unit, one load, one price), the robust schedule checked against
realizations of the envelope, the cap and unattainable budgets, switch states, one model per variant, the profiles
IGDT refuses (E0802) and the command line end to end."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.studies import igdt as igdt_module
from mgdsl.studies import resident as resident_module
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module

from .test_pareto import SOC_DAY as PARETO_SOC_DAY

# One step; 100 kW of wind available at 0.8 p.u., a 100 kW load, purchases at 1 yuan/kWh: the base case buys 20 kW
# (20 yuan). With the wind at (1 - a) 0.8 the purchase is 20 + 80 a, so the budget 20 (1 + s) holds up to a = s / 4;
# with (1 + a) 0.8 it is 20 - 80 a, down to 20 (1 - s) at a = s / 4 as well.
ONE_WIND = """use stdlib
horizon 1 steps of 1 h
uncertain profile wind_pu = [0.8]

microgrid mg {
    wt = Wind(p_max = 100 kW, profile = wind_pu, curtail_cost = CURTAIL)
    load = Load(electricity, base = 100 kW)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
}
"""


def one_wind(curtail: str = "0 yuan/kWh") -> str:
    return ONE_WIND.replace("CURTAIL", curtail)


# ---------------------------------------------------------------- the language
def test_uncertain_profile_parses_prints_and_checks():
    text = ("use stdlib\nhorizon 2 steps of 1 h\nuncertain profile wind_pu: pu = [0.5, 0.7]  # the forecast\n"
            "profile uncertain = 2\n\nmicrogrid mg {\n    wt = Wind(p_max = 10 kW, profile = wind_pu * uncertain)\n"
            "}\n")
    module = parse_text(text)
    assert [getattr(i, "uncertain", None) for i in module.items[2:4]] == [True, False]
    assert format_module(module) == text                                  # canonical already: printed as written
    assert format_module(parse_text(format_module(module))) == text
    system = mgdsl.loads(text)
    assert list(system.ir.uncertain) == ["wind_pu"]
    with pytest.raises(MgdError) as err:
        parse_text("horizon 2 steps of 1 h\nuncertain let x = 2\n")
    assert "only a profile can be uncertain" in err.value.diagnostics[0].help
    with pytest.raises(MgdError) as err:
        mgdsl.loads("horizon 2 steps of 1 h\nuncertain profile w = [0.5, -0.1]\n")
    d = err.value.diagnostics[0]
    assert d.code == "E0404" and "negative" in d.message and d.span.text == "[0.5, -0.1]"


def test_uncertain_does_not_change_a_solve():
    certain = mgdsl.loads(one_wind().replace("uncertain profile", "profile")).solve()
    assert mgdsl.loads(one_wind()).solve().objective == pytest.approx(certain.objective) == pytest.approx(20.0)


# ---------------------------------------------------------------- radii by hand
def test_radius_by_hand():
    result = mgdsl.loads(one_wind()).igdt(budgets=[0.02, 0.05, 0.1])
    assert result.base_objective == pytest.approx(20.0)
    for mode in ("robust", "opportunity"):
        assert result.alpha(mode) == pytest.approx({0.02: 0.005, 0.05: 0.0125, 0.1: 0.025}, rel=1e-7)
    c = result.curve
    assert c["target"].sel(mode="robust").values == pytest.approx([20.4, 21.0, 22.0])
    assert c["objective"].sel(mode="opportunity").values == pytest.approx([19.6, 19.0, 18.0])
    # the robust schedule uses the lower envelope: p = 80 (1 - a)
    for b, a in result.alpha("robust").items():
        p = float(result.schedules[("robust", b)]["Wind"]["p"].sel(instance="mg.wt", t=0))
        assert p == pytest.approx(80 * (1 - a), rel=1e-7)
    assert result.reach == {"wind_pu": {"Wind": 1}}


def test_curtailment_cost_is_at_its_worst_at_the_upper_envelope():
    """With curtail_cost 0.5 yuan/kWh the robust schedule p = 80 (1 - a) pays the curtailment of the wind at its
    upper envelope, 0.5 (80 (1 + a) - p) = 80 a: 20 + 80 a + 80 a <= 20 (1 + s) gives a = s / 8, not the s / 4 of
    the lower envelope alone. At the forecast it costs 20 + 80 a + 0.5 (80 - p) = 20 + 120 a. Opportunity: all the
    wind at (1 + a) 0.8 is used, nothing curtailed: a = s / 4."""
    result = mgdsl.loads(one_wind("0.5 yuan/kWh")).igdt(budgets=[0.02, 0.05, 0.1])
    robust = result.alpha("robust")
    assert robust == pytest.approx({0.02: 0.0025, 0.05: 0.00625, 0.1: 0.0125}, rel=1e-7)
    assert result.alpha("opportunity") == pytest.approx({0.02: 0.005, 0.05: 0.0125, 0.1: 0.025}, rel=1e-7)
    nominal = result.curve["nominal"].sel(mode="robust").values
    assert nominal == pytest.approx([20 + 120 * a for a in robust.values()], rel=1e-7)
    assert result.reach == {"wind_pu": {"Wind": 2}}                 # the bound and the curtailment cost


def test_robust_schedule_holds_for_every_realization():
    """The robust schedule of a two-step model, checked against realizations drawn from the envelope: always
    feasible (the wind it uses is available) and never above the budget, curtailment cost included."""
    text = """use stdlib
horizon 2 steps of 1 h
uncertain profile wind_pu = [0.8, 0.5]

microgrid mg {
    wt = Wind(p_max = 100 kW, profile = wind_pu, curtail_cost = 0.3 yuan/kWh)
    load = Load(electricity, base = 100 kW)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
}
"""
    result = mgdsl.loads(text).igdt(budgets=[0.1], modes=["robust"])
    base = result.base_objective                                    # 20 + 50 = 70, nothing curtailed
    assert base == pytest.approx(70.0)
    a = result.alpha("robust")[0.1]
    # by hand: p_t = 100 w_t (1 - a); cost = sum (100 - p_t) + 0.3 (100 w_t (1 + a) - p_t) = 70 + 130 a + 78 a
    assert a == pytest.approx(7.0 / 208.0, rel=1e-7)
    p = result.schedules[("robust", 0.1)]["Wind"]["p"].sel(instance="mg.wt").values
    rng = np.random.default_rng(1)
    forecast = np.array([0.8, 0.5])
    for _ in range(200):
        u = forecast * (1 + rng.uniform(-a, a, size=2))
        assert (p <= 100 * u + 1e-7).all()
        cost = float(np.sum(100 - p) + 0.3 * np.sum(100 * u - p))
        assert cost <= base * 1.1 + 1e-6
    worst = forecast * (1 + a)                                      # the curtailment's worst case
    assert float(np.sum(100 - p) + 0.3 * np.sum(100 * worst - p)) == pytest.approx(base * 1.1, rel=1e-7)


def test_cap_and_unattainable_budgets():
    """A 400 % budget holds with no wind at all (a = 1, capped); the opportunity to fall 150 % below 20 yuan does
    not exist (the grid cannot sell)."""
    result = mgdsl.loads(one_wind()).igdt(budgets=[4.0, 1.5])
    c = result.curve
    assert float(c["alpha"].sel(mode="robust", budget=4.0)) == pytest.approx(1.0)
    assert bool(c["capped"].sel(mode="robust", budget=4.0))
    assert str(c["status"].sel(mode="opportunity", budget=1.5).values) == "unattainable"
    assert np.isnan(float(c["alpha"].sel(mode="opportunity", budget=1.5)))
    assert ("opportunity", 1.5) not in result.schedules
    assert any("unattainable" in n for n in result.notes) and any("capped" in n for n in result.notes)


def test_switch_states_of_the_robust_schedule():
    """mg2 has a load and nothing else, so the switch to mg1 must stay closed: 80 kW of load against 60 kW of wind
    buys 20 + 60 a, within 20 (1 + s) up to a = s / 3 (a MILP: the switch status is binary)."""
    text = """use stdlib
horizon 2 steps of 1 h
uncertain profile wind_pu = [0.6, 0.6]

microgrid mg1 {
    wt = Wind(p_max = 100 kW, profile = wind_pu)
    load = Load(electricity, base = 30 kW)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
}

microgrid mg2 {
    load = Load(electricity, base = 50 kW)
}

switch k1 between mg1 and mg2 limit 100 kW
"""
    result = mgdsl.loads(text).igdt(budgets=[0.03, 0.09], modes=["robust"])
    assert result.settings["integers"]
    assert result.alpha("robust") == pytest.approx({0.03: 0.01, 0.09: 0.03}, rel=1e-6)
    assert result.switch_states("robust", 0.09) == {"k1": [1, 1]}
    assert result.to_json()["switches"]["robust/0.09"] == {"k1": [1, 1]}


def test_one_model_per_variant(monkeypatch):
    built = []
    real = igdt_module.Resident.__init__

    def counting(self, *args, **kw):
        built.append(1)
        real(self, *args, **kw)
    monkeypatch.setattr(igdt_module.Resident, "__init__", counting)
    lowered = []
    real_lower = resident_module.lower_system        # what the study lowers with (studies/resident.lazy_cones)
    monkeypatch.setattr(resident_module, "lower_system", lambda ir, **kw: lowered.append(1) or real_lower(ir, **kw))
    result = mgdsl.loads(one_wind()).igdt(budgets=[0.01, 0.02, 0.03, 0.04, 0.05])
    assert len(result.schedules) == 10
    assert len(built) == 2 and lowered == [1]


# ---------------------------------------------------------------- profiles IGDT refuses
def _refused(text: str, uncertain=None) -> MgdError:
    with pytest.raises(MgdError) as err:
        mgdsl.loads(text).igdt(uncertain, [0.05])
    assert err.value.diagnostics[0].code == "E0802"
    return err.value


def test_profiles_igdt_refuses():
    device = """use stdlib
horizon 3 steps of 1 h
uncertain profile w = [0.2, 0.5, 0.9]

device Odd(p_max: kW, profile = 1) {
    var p[t]: kW in 0 .. BOUND
    port electricity += p
}

microgrid mg {
    odd = Odd(p_max = 100 kW, profile = w)
    load = Load(electricity, base = 100 kW)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
}
"""
    err = _refused(device.replace("BOUND", "p_max * profile * profile"))
    assert "nonlinearly" in err.diagnostics[0].message
    err = _refused(device.replace("BOUND", "p_max * mean(profile)"))
    assert "other steps" in err.diagnostics[0].message
    assert "`w`" in err.diagnostics[0].message and err.diagnostics[0].span.text == "w"
    network = """use stdlib
horizon 1 steps of 1 h
uncertain profile demand = [0.9]
network dn {
    base 1 MVA, 12.66 kV
    formulation lindistflow
    buses 1 .. 2
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm
    load 2: p = 100 kW * demand, q = 20 kvar
}
"""
    assert "network's loads" in _refused(network).diagnostics[0].message
    err = _refused("use stdlib\nhorizon 1 steps of 1 h\nmicrogrid mg {\n    load = Load(electricity, base = 1 kW)\n"
                   "    grid = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n")
    assert "declares no uncertain profile" in err.diagnostics[0].message
    assert "is not an uncertain profile" in _refused(one_wind(), ["pv_pu"]).diagnostics[0].message
    with pytest.raises(ValueError, match="non-negative"):
        mgdsl.loads(one_wind()).igdt(budgets=[-0.1])


# ---------------------------------------------------------------- the command line
def test_cli_igdt_end_to_end(tmp_path):
    model = tmp_path / "wind.mgd"
    model.write_text(one_wind())
    out = tmp_path / "igdt"
    runner = CliRunner()
    r = runner.invoke(main, ["igdt", str(model), "--budget", "2%,5%,0.1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "robust      budget 5 %: alpha 1.25 %; worst case 21 yuan, at the forecast 21" in r.output
    assert "opportunity budget 10 %: alpha 2.5 %; best case 18 yuan\n" in r.output
    for name in ("igdt.csv", "igdt.json", "robustness.png", "base/summary.json", "robust_5pct/Wind.csv",
                 "opportunity_10pct/summary.json"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "igdt.csv")
    assert list(table["mode"]) == ["robust"] * 3 + ["opportunity"] * 3
    assert table["alpha"].tolist() == pytest.approx([0.005, 0.0125, 0.025] * 2, rel=1e-7)
    data = json.loads((out / "igdt.json").read_text())
    assert data["base_objective"] == pytest.approx(20.0) and data["uncertain"] == ["wind_pu"]
    summary = json.loads((out / "robust_5pct" / "summary.json").read_text())
    assert summary["alpha"] == pytest.approx(0.0125) and summary["worst_case"] == pytest.approx(21.0)
    r = runner.invoke(main, ["igdt", str(model), "--budget", "5%", "--mode", "robust", "--json",
                             "-o", str(tmp_path / "j")])
    assert r.exit_code == 0
    assert [row["alpha"] for row in json.loads(r.stdout)["results"]] == pytest.approx([0.0125])
    r = runner.invoke(main, ["igdt", str(model), "--budget", "five", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2
    r = runner.invoke(main, ["igdt", str(model), "--uncertain", "pv_pu", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0802" in r.output
    assert not (tmp_path / "x").exists()


# a SOC branch flow with capacitor steps: tests/test_pareto.py's, its wind uncertain
SOC_DAY = PARETO_SOC_DAY.replace("profile wind =", "uncertain profile wind =")


def test_lazy_cones_give_the_lift_radii():
    """A SOC branch flow with capacitor steps: the radii with the cones met by tangents on the resident models
    (cones = lazy) are the lift's within the cones' accuracy (1e-4)."""
    def radii(mode):
        return mgdsl.loads(SOC_DAY.format(mode=mode)).igdt(["wind"], budgets=[0.01, 0.03])

    lazy, lift = radii("lazy"), radii("lift")
    assert lazy.settings["cone_tangents"] > 0 and "cone_tangents" not in lift.settings
    assert lazy.settings["relaxation_first"] == {"certified": 4, "milp": 0}
    np.testing.assert_allclose(lazy.curve["alpha"].values, lift.curve["alpha"].values, rtol=1e-4)
    assert np.all(lazy.curve["alpha"].values > 0.03)
