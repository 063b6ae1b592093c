"""The interchange case of paper 001 (models/mmg_interchange.mgd, docs/interchange.md): it checks with the devices,
links and uncertain profiles the paper names; its actual day is what docs/interchange/perturb.py writes; every
microgrid, heat and network balance closes on its solution; ATC reaches the centralized optimum, the point
estimate and the capability study run on it (those under --runslow)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import mgdsl

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "mmg_interchange.mgd"
DATA = ROOT / "models" / "data" / "mmg_interchange"
MICROGRIDS = ("mg1", "mg2", "mg3")
MTL_LIMIT = 200.0                            # the power link between mg1 and mg2, each way, kW
TIE_LIMITS = {"mg1": 500.0, "mg2": 600.0, "mg3": 500.0}
REL_ATC = 1e-3                               # ATC against the centralized optimum (docs/interchange.md)
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def system():
    return mgdsl.load(MODEL)


@pytest.fixture(scope="module")
def solved(system):
    return system.solve()


def test_the_case_has_what_the_paper_names(system):
    ir = system.ir
    assert ir.steps == 24 and ir.dt_h == 1.0
    assert ir.network.formulation == "distflow_socp"
    assert len(ir.network.buses) == 33 and len(ir.network.lines) == 32
    assert {m: ir.microgrids[m].bus for m in ir.microgrids} == {"mg1": 17, "mg2": 18, "mg3": 33}
    used = {name: {i.owner for i in insts} for name, insts in ir.instances.items() if insts}
    for template in ("Microturbine", "DieselEngine", "Storage", "InterruptibleLoad", "UninterruptibleLoad"):
        assert set(MICROGRIDS) <= used[template], template
    assert used["Wind"] | used["PV"] >= set(MICROGRIDS)          # every microgrid has a renewable source
    assert {"dn"} <= used["Storage"]                              # the network's batteries
    # the cooperative link: a switch for power, a heat pipe coupled between the same two microgrids
    # the cooperative links: power both ways and heat from mg1 to mg2, continuous (no binaries: every study's
    # re-solve restarts an LP from its last basis, docs/interchange.md)
    assert [(c.name, c.lhs_owner, c.rhs_owner) for c in ir.couples] == \
        [("mtl12", "mg1", "mg2"), ("mtl21", "mg2", "mg1"), ("heat12", "mg1", "mg2")]
    assert not ir.switches
    assert not any(v.kind != "continuous" for name, insts in ir.instances.items() if insts
                   for v in ir.templates[name].vars.values()), "the case is an LP"
    # the forecasts with error laws: microgrid load, wind and PV
    assert {name: (law.kind, law.rel_std) for name, law in ir.laws.items()} == \
        {"mg_load": ("normal", 0.05), "wind_pu": ("normal", 0.15), "pv_pu": ("normal", 0.10)}
    # spinning reserve: the network (slack within its 5 MW limit, batteries) and every microgrid, up and down
    assert sorted((r.owner, r.direction) for r in ir.reserves) == \
        sorted((o, d) for o in ("dn", *MICROGRIDS) for d in ("up", "down"))
    assert ir.network.slack_limit_kw == 5000.0
    assert not system.warnings


def test_actual_day_is_what_the_seeded_script_writes():
    spec = importlib.util.spec_from_file_location("perturb", ROOT / "docs" / "interchange" / "perturb.py")
    perturb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(perturb)
    assert perturb.actual_csv() == (DATA / "actual.csv").read_text()
    rows = np.loadtxt(DATA / "actual.csv", delimiter=",", skiprows=1)
    assert rows.shape == (24, 4) and (rows[:, 1:] >= 0).all() and (rows[:, 2:] <= 1).all()


def _balances(system, r):
    """Largest residual (kW) of every microgrid's electricity and heat balance, the switch and the heat pipe."""
    inj = {}
    for ds in r.datasets.values():
        if "instance" not in ds.dims:
            continue
        for carrier in ("electricity", "heat"):
            if f"{carrier}_injection" in ds:
                for m in (*MICROGRIDS, "dn"):
                    v = ds[f"{carrier}_injection"].where(ds.owner == m, 0).sum("instance").values
                    inj[m, carrier] = inj.get((m, carrier), 0) + v
    tie = r["ties"]["import"]
    res = {m: inj[m, "electricity"] + tie.sel(microgrid=m).values for m in MICROGRIDS}
    res.update({f"{m} heat": inj[m, "heat"] for m in MICROGRIDS})
    return {k: float(np.abs(v).max()) for k, v in res.items()}


def _physical(r):
    tie = r["ties"]["import"]
    for m, limit in TIE_LIMITS.items():
        assert np.abs(tie.sel(microgrid=m).values).max() <= limit + 1e-6, m
    # what one end of a link sends the other receives (before the receiving end's efficiency)
    for sender, receiver in (("mg1.heat_out", "mg2.heat_in"), ("mg1.mtl_out", "mg2.mtl_in"),
                             ("mg2.mtl_out", "mg1.mtl_in")):
        sent = r["Export"]["p"].sel(instance=sender).values
        np.testing.assert_allclose(sent, r["Import"]["p"].sel(instance=receiver).values, atol=1e-6)
        assert sent.max() <= (MTL_LIMIT if "mtl" in sender else 120.0) + 1e-6
    vm = r["dn"]["vm"].values
    assert vm.min() >= 0.93 - 1e-6 and vm.max() <= 1.07 + 1e-6
    np.testing.assert_allclose(r["dn"]["vm"].sel(bus=1).values, 1.02, atol=1e-9)
    # every pool holds its reserve: the network 10 % of its load up and 5 % down, each microgrid the same of its own
    res = r["reserve"]
    assert float(res["margin"].min()) >= -1e-6
    load = np.loadtxt(DATA / "profiles.csv", delimiter=",", skiprows=1)[:, 1]
    feeder = np.loadtxt(ROOT / "models/data/ieee33/loads.csv", delimiter=",", skiprows=1)[:, 1].sum()
    np.testing.assert_allclose(res["requirement"].sel(pool="dn", direction="up").values, 0.1 * feeder * load)
    np.testing.assert_allclose(res["requirement"].sel(pool="mg2", direction="down").values, 0.05 * 500 * load)
    # the uninterruptible loads are served in full; at most half of an interruptible load is cut
    ul, il = r["UninterruptibleLoad"], r["InterruptibleLoad"]
    load = np.loadtxt(DATA / "profiles.csv", delimiter=",", skiprows=1)[:, 1]
    np.testing.assert_allclose(ul["p"].sel(instance="mg2.ul").values, 300 * load, atol=1e-6)
    assert np.all(il["cut"].values <= 0.5 * il["p"].values + il["cut"].values + 1e-6)


def test_the_case_solves_and_balances(system, solved):
    r = solved
    assert r.summary["status"] == "optimal"
    assert max(_balances(system, r).values()) < 1e-6
    _physical(r)
    # the network's balance with its losses: purchases + batteries = loads + microgrid imports + line losses
    dn = r["dn"]
    loads = np.loadtxt(ROOT / "models/data/ieee33/loads.csv", delimiter=",", skiprows=1)[:, 1].sum()
    load = np.loadtxt(DATA / "profiles.csv", delimiter=",", skiprows=1)[:, 1]
    bess = r["Storage"]["electricity_injection"].where(r["Storage"].owner == "dn", 0).sum("instance").values
    losses = dn["losses"].sum("line").values
    np.testing.assert_allclose(dn["buy"].values + bess,
                               loads * load + r["ties"]["import"].sum("microgrid").values + losses, atol=1e-3)


@slow
def test_atc_reaches_the_centralized_optimum(system, solved):
    central = solved.objective
    run = system.solve_atc(system.atc_options())
    assert run.converged
    assert abs(run.objective - central) <= REL_ATC * abs(central), (run.objective, central)


@slow
def test_point_estimate_of_the_pv_error_against_monte_carlo(system, solved):
    """PV's 10 uncertain hours (21 solves) against 40 Monte Carlo draws: the means agree within the Monte Carlo's
    own error, the spreads within a third (40 draws estimate a standard deviation to about 11 %)."""
    result = system.pem("pv_pu", monte_carlo=40, seed=1)
    mc = result.monte_carlo
    assert len(result.points) == 2 * 10 + 1 and mc["solved"] == 40
    assert result.mean == pytest.approx(solved.objective, rel=5e-3)
    assert abs(result.mean - mc["objective_mean"]) <= 4 * mc["objective_mean_standard_error"]
    assert result.std > 0 and abs(result.std - mc["objective_std"]) <= 0.35 * mc["objective_std"]


def test_capability_prediction_on_every_hour(system):
    """The prediction at the default 5 % (a few seconds: one resident LP per group, 146 solves)."""
    cap = system.capability(0.05, network=False)
    b = cap.bands
    tol = 1e-6
    assert not np.isnan(b["pic_dn"].values).any() and not np.isnan(b["pic_up"].values).any()
    assert (b["pic_dn"] <= b["schedule"] + tol).all() and (b["schedule"] <= b["pic_up"] + tol).all()
    for m, limit in TIE_LIMITS.items():                    # within the tie lines
        assert float(np.abs(b[["pic_dn", "pic_up"]].sel(microgrid=m).to_array()).max()) <= limit + tol
    # mg1 and mg2 are one group (their power line and heat pipe), mg3 another
    assert sorted(cap.groups["members"]) == ["mg1 mg2", "mg3"]


@slow
def test_capability_correction_within_the_prediction_on_every_hour(system):
    """The correction over the day. At 5 % the whole system has no solution within the microgrids' budgets (the
    network needs them 14-16 % off their own optimum, docs/interchange.md), so no hour has an AIC; at 20 % every
    hour has one, inside the prediction, and mg2 at the feeder's weakest bus must export at t=17."""
    assert np.isnan(system.capability(0.05, hours=[17]).bands["aic_up"].sel(t=17).values).all()
    b = system.capability(0.20).bands
    tol = 1e-6
    assert not np.isnan(b["aic_dn"].values).any() and not np.isnan(b["aic_up"].values).any()
    assert (b["pic_dn"] <= b["aic_dn"] + tol).all() and (b["aic_dn"] <= b["aic_up"] + tol).all()
    assert (b["aic_up"] <= b["pic_up"] + tol).all()
    assert float(b["aic_up"].sel(microgrid="mg2", t=17)) < 0 < float(b["schedule"].sel(microgrid="mg2", t=17))
