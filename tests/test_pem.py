"""Point estimation (issue 11, item 3): error laws in the language, Hong's 2m+1 scheme exact for a response linear in
the inputs (mean and standard deviation by hand, normal and a skewed sample of errors), against Monte Carlo where
the response is not linear, tie powers and voltages on a small feeder, one model for every solve, the command line
end to end, and the located refusals."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.diagnostics import MgdError
from mgdsl.studies import profiles as profiles_module
from mgdsl.studies.pem import Input, hong_points
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module

DATA = Path(__file__).parent / "data" / "pem"
PRICE = 0.6
FORECAST = np.array([100.0, 200.0, 300.0])        # tests/data/pem/linear.mgd

LINEAR = """use stdlib
horizon 3 steps of 1 h
uncertain profile demand: kW LAW = [100, 200, 300]

microgrid mg1 {
    grid = ElectricityTrade(buy_price = 0.6 yuan/kWh)
    load = Load(electricity, base = demand)
}
"""

# 100 kW of load, wind of 100 kW at wind_pu, purchases at 1 yuan/kWh: the cost is 100 * sum(max(0, 1 - wind_pu)),
# not linear where the wind's spread crosses the load (the third step).
WIND = """use stdlib
horizon 3 steps of 1 h
uncertain profile wind_pu normal(15 %) = [0.5, 0.8, 0.95]

microgrid mg {
    wt = Wind(p_max = 100 kW, profile = wind_pu)
    load = Load(electricity, base = 100 kW)
    grid = ElectricityTrade(buy_price = 1 yuan/kWh)
}
"""

FEEDER = """use stdlib
horizon 2 steps of 1 h
uncertain profile wind_pu normal(20 %) = [0.4, 0.6]
network dn {
    base 1 MVA, 12.66 kV
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at 0.5 yuan/kWh
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm
    line 2 - 3: r = 0.5 ohm, x = 0.3 ohm
    load 2: p = 50 kW, q = 10 kvar
}
microgrid mg at dn.3 {
    wt = Wind(p_max = 100 kW, profile = wind_pu)
    load = Load(electricity, base = 150 kW)
}
"""


# ---------------------------------------------------------------- the language
def test_error_laws_parse_print_and_check():
    text = LINEAR.replace("LAW", "normal(10 %)")
    assert format_module(parse_text(text)) == text
    law = mgdsl.loads(text).ir.laws["demand"]
    assert (law.kind, law.rel_std) == ("normal", pytest.approx(0.1)) and law.moments() == (0.0, 0.1, 0.0, 3.0)
    law = mgdsl.loads(LINEAR.replace("LAW", "errors([-0.2, 0, 0.1, 0.3])")).ir.laws["demand"]
    e = np.array([-0.2, 0, 0.1, 0.3])
    mean, std, skew, kurt = law.moments()
    assert mean == pytest.approx(e.mean()) and std == pytest.approx(e.std())
    z = (e - e.mean()) / e.std()
    assert skew == pytest.approx(np.mean(z ** 3)) and kurt == pytest.approx(np.mean(z ** 4))


def test_errors_from_a_csv_column(tmp_path):
    (tmp_path / "errors.csv").write_text("err\n-0.1\n0.05\n0.2\n-0.05\n0.0\n")
    text = LINEAR.replace("LAW", 'errors(csv("errors.csv", "err"))')
    law = mgdsl.loads(text, str(tmp_path / "m.mgd")).ir.laws["demand"]
    assert law.kind == "errors" and list(law.sample) == [-0.1, 0.05, 0.2, -0.05, 0.0]


@pytest.mark.parametrize("law, message, span", [
    ("normal(90 %)", "from 0 to 57.7 %", "90 %"),
    ("gauss(10 %)", "unknown error law `gauss`", "gauss"),
    ("normal(5 kW)", "has a unit", "5 kW"),
    ("errors([0.1, 0.1])", "at least 2 different values", "[0.1, 0.1]"),
])
def test_bad_laws_are_located(law, message, span):
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINEAR.replace("LAW", law))
    d = err.value.diagnostics[0]
    assert d.code == "E0820" and message in d.message and d.span.text == span


# ---------------------------------------------------------------- Hong's scheme
def test_hong_points_of_a_normal_law():
    devs, ws, w0 = hong_points(Input("p", 0, 1.0, 0.0, 0.1, 0.0, 3.0), m=4)
    assert devs == pytest.approx([1 + 0.1 * np.sqrt(3), 1 - 0.1 * np.sqrt(3)])
    assert ws == pytest.approx([1 / 6, 1 / 6]) and w0 == pytest.approx(1 / 4 - 1 / 3)


def test_exact_for_a_linear_cost_normal():
    """cost = 0.6 sum(demand): mean 0.6 * 600, standard deviation 0.6 * 0.1 * sqrt(100^2 + 200^2 + 300^2)."""
    result = mgdsl.load(DATA / "linear.mgd").pem()
    assert result.mean == pytest.approx(PRICE * FORECAST.sum(), rel=1e-9)
    assert result.std == pytest.approx(PRICE * 0.1 * np.sqrt((FORECAST ** 2).sum()), rel=1e-9)
    assert len(result.points) == 2 * 3 + 1 and set(result.points["status"]) == {"optimal"}
    assert result.points["weight"].sum() == pytest.approx(1.0)


def test_exact_for_a_linear_cost_skewed_errors():
    """A biased, skewed sample: the mean moves by the errors' mean; the spread is their standard deviation."""
    e = np.array([-0.2, 0, 0.1, 0.3, 0.5])
    result = mgdsl.loads(LINEAR.replace("LAW", "errors([-0.2, 0, 0.1, 0.3, 0.5])")).pem()
    assert result.mean == pytest.approx(PRICE * (FORECAST * (1 + e.mean())).sum(), rel=1e-9)
    assert result.std == pytest.approx(PRICE * e.std() * np.sqrt((FORECAST ** 2).sum()), rel=1e-9)


def test_against_monte_carlo_where_the_cost_is_not_linear():
    """The third step's wind straddles the load (cost 100 max(0, 1 - w)): PEM's mean within 1 % of a 4000-draw
    Monte Carlo (standard error about 0.2 %) and of the closed form; its spread within 10 %."""
    result = mgdsl.loads(WIND).pem(monte_carlo=4000, seed=1)
    mc = result.monte_carlo
    # closed form of E[max(0, 1 - w)] for w ~ N(mu, s): (1 - mu) Phi(z) + s phi(z), z = (1 - mu) / s
    from math import erf, exp, pi, sqrt
    mu = np.array([0.5, 0.8, 0.95])
    s = 0.15 * mu
    z = (1 - mu) / s
    exact = 100 * sum((1 - m) * 0.5 * (1 + erf(q / sqrt(2))) + sd * exp(-q * q / 2) / sqrt(2 * pi)
                      for m, sd, q in zip(mu, s, z))
    assert mc["objective_mean"] == pytest.approx(exact, rel=0.01)
    assert result.mean == pytest.approx(exact, rel=0.01)
    assert mc["error_objective_mean"] < 0.01 and mc["error_objective_std"] < 0.10
    assert mc["solved"] == 4000 and mc["speedup"] > 1


def test_ties_and_voltages_on_a_feeder():
    """The microgrid imports 150 - 100 w at each step: its mean and standard deviation are linear in the wind."""
    result = mgdsl.loads(FEEDER).pem()
    w = np.array([0.4, 0.6])
    tie = result.moments["tie_import_mean"].sel(microgrid="mg").values
    assert tie == pytest.approx(150 - 100 * w, rel=1e-6)
    assert result.moments["tie_import_std"].sel(microgrid="mg").values == pytest.approx(100 * 0.2 * w, rel=1e-6)
    v = result.moments["voltage_mean"]
    assert set(v["bus"].values) == {1, 2, 3} and float(v.sel(bus=1).min()) == pytest.approx(1.0)
    assert float(result.moments["voltage_std"].sel(bus=3).max()) > 0


def test_one_model_for_every_solve(monkeypatch):
    """The 2m+1 solves and the Monte Carlo draws re-use one resident model: one HiGHS build for the study, and one
    lowering per profile move (forecast, +1, +w)."""
    built = []
    real = profiles_module.Resident

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(profiles_module, "Resident", counting)
    lowered = []
    real_lower = profiles_module.lower_system
    monkeypatch.setattr(profiles_module, "lower_system", lambda ir: lowered.append(1) or real_lower(ir))
    result = mgdsl.loads(WIND).pem(monte_carlo=20)
    assert len(result.points) == 7 and result.monte_carlo["solved"] == 20
    assert len(built) == 1 and len(lowered) == 3


# ---------------------------------------------------------------- refusals
def test_refusals_are_located():
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINEAR.replace(" LAW", "")).pem()
    d = err.value.diagnostics[0]
    assert d.code == "E0821" and "no error law" in d.message and d.span.text == "demand"
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINEAR.replace("LAW", "normal(5 %)")).pem(["nothing"])
    assert err.value.diagnostics[0].code == "E0821" and "`nothing`" in err.value.diagnostics[0].message
    price = ("use stdlib\nhorizon 2 steps of 1 h\nuncertain profile price: yuan/kWh normal(5 %) = [0.4, 0.9]\n"
             "microgrid mg {\n    grid = ElectricityTrade(buy_price = price)\n"
             "    load = Load(electricity, base = 10 kW)\n}\n")
    with pytest.raises(MgdError) as err:
        mgdsl.loads(price).pem()
    d = err.value.diagnostics[0]
    assert d.code == "E0821" and "multiplies a variable" in d.message and d.span.text == "price"
    with pytest.raises(MgdError) as err:
        mgdsl.loads(LINEAR.replace("LAW", "normal(5 %)")).pem(monte_carlo=1)
    assert err.value.diagnostics[0].code == "E0823"


# ---------------------------------------------------------------- command line
def test_cli_end_to_end(tmp_path):
    out = tmp_path / "pem"
    r = CliRunner().invoke(main, ["pem", str(DATA / "linear.mgd"), "--monte-carlo", "50", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["objective_mean"] == pytest.approx(360.0) and data["solves"] == 7
    assert data["monte_carlo"]["samples"] == 50
    assert {p.name for p in out.iterdir()} >= {"pem.json", "inputs.csv", "points.csv", "moments.csv", "moments.nc"}
    r = CliRunner().invoke(main, ["pem", str(DATA / "linear.mgd"), "--uncertain", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0821" in r.output and "Traceback" not in r.output


def test_a_declared_objective_in_its_unit():
    """`minimize energy` in MWh: the moments are in MWh (the model holds kWh)."""
    text = LINEAR.replace("LAW", "normal(10 %)") + "objective energy: MWh = sum(mg1.grid.buy * dt)\nminimize energy\n"
    result = mgdsl.loads(text).pem()
    assert (result.objective_name, result.unit) == ("energy", "MWh")
    assert result.mean == pytest.approx(0.6) and result.std == pytest.approx(0.1 * np.sqrt(14e4) / 1000)
