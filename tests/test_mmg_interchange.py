"""The interchange case of paper 001 (models/mmg_interchange.mgd, docs/interchange.md): it checks with the devices,
links and uncertain profiles the paper names; its actual day is what docs/interchange/perturb.py writes; every
microgrid, heat and network balance closes on its solutions (a LinDistFlow copy by default, the case itself and its
ATC, point-estimate and capability studies under --runslow)."""
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
SWITCH_LIMIT = 200.0                         # switch mtl12, kW
TIE_LIMITS = {"mg1": 500.0, "mg2": 600.0, "mg3": 500.0}
REL_ATC = 1e-3                               # ATC against the centralized optimum (docs/interchange.md)
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def system():
    return mgdsl.load(MODEL)


@pytest.fixture(scope="module")
def linear():
    """The case with LinDistFlow instead of the SOC branch flow: the same microgrids and links, solved in a second."""
    text = MODEL.read_text().replace("formulation distflow_socp(accuracy = 1e-4)", "formulation lindistflow")
    assert "lindistflow" in text
    system = mgdsl.loads(text, path=str(MODEL))
    return system, system.solve()


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
    assert [(s.name, s.a.owner, s.b.owner, s.limit_kw) for s in ir.switches] == [("mtl12", "mg1", "mg2", SWITCH_LIMIT)]
    assert [(c.name, c.lhs_owner, c.rhs_owner) for c in ir.couples] == [("heat12", "mg1", "mg2")]
    # the forecasts with error laws: microgrid load, wind and PV
    assert {name: (law.kind, law.rel_std) for name, law in ir.laws.items()} == \
        {"mg_load": ("normal", 0.05), "wind_pu": ("normal", 0.15), "pv_pu": ("normal", 0.10)}
    # one warning, the switch that joins two buses outside the network (documented in the data README)
    assert [w.code for w in system.warnings] == ["W0505"]


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
    flow = r["switches"]["flow"].sel(switch="mtl12").values          # from mg1 to mg2
    res = {
        "mg1": inj["mg1", "electricity"] + tie.sel(microgrid="mg1").values - flow,
        "mg2": inj["mg2", "electricity"] + tie.sel(microgrid="mg2").values + flow,
        "mg3": inj["mg3", "electricity"] + tie.sel(microgrid="mg3").values,
    }
    res.update({f"{m} heat": inj[m, "heat"] for m in MICROGRIDS})
    return {k: float(np.abs(v).max()) for k, v in res.items()}


def _physical(r):
    tie = r["ties"]["import"]
    for m, limit in TIE_LIMITS.items():
        assert np.abs(tie.sel(microgrid=m).values).max() <= limit + 1e-6, m
    sw = r["switches"]
    assert np.all(np.abs(sw["flow"].values) <= SWITCH_LIMIT * sw["closed"].values + 1e-6)
    sent = r["Export"]["p"].sel(instance="mg1.heat_out").values
    got = r["Import"]["p"].sel(instance="mg2.heat_in").values
    np.testing.assert_allclose(sent, got, atol=1e-6)
    vm = r["dn"]["vm"].values
    assert vm.min() >= 0.93 - 1e-6 and vm.max() <= 1.07 + 1e-6
    np.testing.assert_allclose(r["dn"]["vm"].sel(bus=1).values, 1.02, atol=1e-9)
    # the uninterruptible loads are served in full; at most half of an interruptible load is cut
    ul, il = r["UninterruptibleLoad"], r["InterruptibleLoad"]
    load = np.loadtxt(DATA / "profiles.csv", delimiter=",", skiprows=1)[:, 1]
    np.testing.assert_allclose(ul["p"].sel(instance="mg2.ul").values, 300 * load, atol=1e-6)
    assert np.all(il["cut"].values <= 0.5 * il["p"].values + il["cut"].values + 1e-6)


def test_linear_copy_solves_and_balances(linear):
    system, r = linear
    assert r.summary["status"] == "optimal"
    assert max(_balances(system, r).values()) < 1e-6
    _physical(r)
    # the network's balance: purchases and its batteries feed its loads and the microgrids (LinDistFlow: no losses)
    dn = r["dn"]
    loads = np.loadtxt(ROOT / "models/data/ieee33/loads.csv", delimiter=",", skiprows=1)[:, 1].sum()
    load = np.loadtxt(DATA / "profiles.csv", delimiter=",", skiprows=1)[:, 1]
    bess = r["Storage"]["electricity_injection"].where(r["Storage"].owner == "dn", 0).sum("instance").values
    np.testing.assert_allclose(dn["buy"].values + bess, loads * load + r["ties"]["import"].sum("microgrid").values,
                               atol=1e-5)


@slow
def test_the_case_solves_and_balances(system):
    r = system.solve()
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
    assert r.summary["max_relaxation_gap_pu"] <= 1e-6 if "max_relaxation_gap_pu" in r.summary else True


@slow
def test_atc_reaches_the_centralized_optimum(system):
    central = system.solve().objective
    run = system.solve_atc(system.atc_options())
    assert run.converged
    assert abs(run.objective - central) <= REL_ATC * abs(central), (run.objective, central)
