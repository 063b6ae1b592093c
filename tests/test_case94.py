"""The 94-bus case of paper 003 (models/clusters94_003.mgd): its structure against the paper, the base feeder against
an independent AC power flow and the published figures, and the SOC branch flow's exactness on the case's dispatch."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mgdsl
from mgdsl.acpf import radial_power_flow
from mgdsl.verify import verify

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "clusters94_003.mgd"
DATA = ROOT / "models" / "data" / "clusters94_003"
CLUSTERS = {"c1": {"mg1", "mg5"}, "c2": {"mg7", "mg8", "mg10"}, "c3": {"mg2", "mg3", "mg4", "mg6", "mg9"}}

FEEDER = f"""use stdlib
horizon 1 steps of 1 h

network dn {{
    base 1 MVA, 15 kV
    voltage 0.8 .. 1.1 pu
    formulation distflow_socp(accuracy = 1e-5)
    buses 1 .. 94
    slack 1 buys at 1 usd/kWh
    lines csv("{DATA}/lines.csv")
    loads csv("{DATA}/loads.csv")
}}
"""


def _ac_nominal():
    """The AC power flow of the published feeder at nominal load (mgdsl.acpf), in the SOC model's p.u."""
    lines = pd.read_csv(DATA / "lines.csv")
    loads = pd.read_csv(DATA / "loads.csv").set_index("bus")
    z_base = 15.0 ** 2 / 1.0
    buses = list(range(1, 95))
    p = np.array([loads.p_kw.get(b, 0.0) for b in buses]) / 1000
    q = np.array([loads.q_kvar.get(b, 0.0) for b in buses]) / 1000
    return radial_power_flow(buses, 1, [(a, b, r / z_base, x / z_base) for a, b, r, x in lines.values], p, q)


def test_base_feeder_agrees_with_ac_and_the_published_figures():
    """Nominal load, no microgrid: published AC power flow 362.9 kW of losses, 0.8485 p.u. at bus 92 (with the
    published r = 20.743 ohm on branch 25-90); the SOC model and mgdsl.acpf must give the same."""
    ac = _ac_nominal()
    assert float(ac.losses.sum()) * 1000 == pytest.approx(362.9, abs=0.1)
    assert int(np.argmin(ac.vm)) + 1 == 92 and float(ac.vm.min()) == pytest.approx(0.8485, abs=1e-4)

    res = mgdsl.loads(FEEDER).solve()
    ds = res["dn"]
    assert float(ds["buy"].sum()) - 4797.0 == pytest.approx(float(ac.losses.sum()) * 1000, abs=0.1)
    assert float(ds["losses"].sum()) == pytest.approx(float(ac.losses.sum()) * 1000, abs=0.1)
    vm = ds["vm"].isel(t=0)
    assert int(vm.idxmin()) == 92 and float(vm.min()) == pytest.approx(0.8485, abs=1e-4)
    np.testing.assert_allclose(vm.sel(bus=list(range(1, 95))).values, ac.vm, atol=2e-4)
    assert res.summary["network"]["max_relaxation_gap_pu"] < 1e-6


def test_case_structure_is_the_papers():
    system = mgdsl.load(MODEL)
    ir = system.ir
    assert set(ir.microgrids) == {f"mg{k}" for k in range(1, 11)}
    assert {name: set(c.members) for name, c in ir.clusters.items()} == CLUSTERS
    kinds: dict[str, set] = {mg: set() for mg in ir.microgrids}
    for template, instances in ir.instances.items():
        for inst in instances:
            if inst.owner in kinds:
                kinds[inst.owner].add(template)
    for mg, found in kinds.items():                 # WT, PV, MT, ESS and DR in each
        assert found == {"WindPQ", "PV", "Microturbine", "Storage", "FlexibleLoadPQ"}, mg
    ends = {sw.name: (sw.a, sw.b) for sw in ir.switches}
    for k in range(1, 11):                          # S1..S10: microgrid k to the network
        assert {ends[f"s{k}"][0].owner, ends[f"s{k}"][1].owner} == {f"mg{k}", "dn"}
    home = {mg: c for c, members in CLUSTERS.items() for mg in members}
    between = {frozenset(home[e.owner] for e in ends[f"k{k}"]) for k in (1, 2, 3)}
    assert between == {frozenset(p) for p in (("c1", "c2"), ("c2", "c3"), ("c3", "c1"))}   # K1..K3
    assert all(sw.reactive for sw in ir.switches)   # every switch carries P and Q (paper 003, Eqs. 10-11)
    assert set(ir.uncertain) == {"wind_pu", "pv_pu"}
    assert ir.network.formulation == "distflow_socp"
    # the microgrids serve the published loads of their buses (power factor 0.9), moved out of the network's loads:
    # the totals are kept
    published = pd.read_csv(DATA / "loads.csv")
    network = pd.read_csv(DATA / "network_loads.csv")
    mg_loads = [float(m) for m in re.findall(r"base = ([\d.]+) kW \* demand", MODEL.read_text())]
    assert len(mg_loads) == 10 and network.p_kw.sum() + sum(mg_loads) == pytest.approx(published.p_kw.sum(), abs=1e-6)
    tan_phi = float(re.search(r"let load_tan_phi: kvar/kW = ([\d.]+)", MODEL.read_text()).group(1))
    assert network.q_kvar.sum() + tan_phi * sum(mg_loads) == pytest.approx(published.q_kvar.sum(), rel=1e-3)
    # the profiles are Table 3 of the paper, unchanged
    table3 = pd.read_csv(ROOT.parent / "shared" / "data" / "seed003" / "hourly_profiles.csv") \
        if (ROOT.parent / "shared" / "data" / "seed003").is_dir() else None
    if table3 is not None:
        pd.testing.assert_frame_equal(pd.read_csv(DATA / "hourly_profiles.csv"), table3)


def short_horizon(hours: list[int]) -> str:
    """The case's source over the given hours of Table 3 (1-based): the csv profiles replaced by their values."""
    table = pd.read_csv(DATA / "hourly_profiles.csv").set_index("hour").loc[hours]
    text = MODEL.read_text().replace("horizon 24 steps", f"horizon {len(hours)} steps")

    def inline(match: re.Match) -> str:
        values = ", ".join(f"{v:g}" for v in table[match.group(1)])
        return f"[{values}]"
    return re.sub(r'csv\("data/clusters94_003/hourly_profiles.csv", "(\w+)"\)', inline, text)


def test_step_window_is_the_model_over_those_hours():
    """`System.window("16..19")` (steps counted from 0) is the model written over Table 3's hours 17-20: the same
    profiles in every instance, the network's loads and prices, the same objectives."""
    got = mgdsl.load(MODEL).window("16..19").ir
    ref = mgdsl.loads(short_horizon([17, 18, 19, 20]), path=str(MODEL)).ir
    assert got.steps == ref.steps == 4
    for name, insts in ref.instances.items():
        for a, b in zip(got.instances[name], insts):
            assert a.name == b.name
            for k, v in b.values.items():
                if not isinstance(v, str):
                    np.testing.assert_allclose(np.asarray(a.values[k], dtype=float), np.asarray(v, dtype=float),
                                               rtol=1e-12, err_msg=f"{a.name}.{k}")
    for attr in ("load_p", "load_q", "buy_price"):
        np.testing.assert_allclose(getattr(got.network, attr), getattr(ref.network, attr), rtol=1e-12)
    assert list(got.objectives) == list(ref.objectives)


def test_short_horizon_is_exact_under_ac(tmp_path: Path):
    """The peak hour (18 of Table 3, step 17): the dispatch meets the voltage limit, and an AC power flow of it
    (mgdsl verify) finds the voltages and losses of the SOC model."""
    system = mgdsl.load(MODEL).window("17")
    res = system.solve()
    assert res.summary["status"] == "optimal"
    net = res.summary["network"]
    assert net["min_voltage_pu"] >= 0.9 - 1e-6
    assert net["fictitious_losses_kwh"] < 1e-3 * net["losses_kwh"]
    assert float(abs(res["switches"]["q"]).sum()) > 1.0           # reactive power crosses the switches
    res.save(tmp_path / "out")
    check = verify(tmp_path / "out").summary()
    assert check["max_voltage_difference_pu"] < 1e-3
    assert abs(check["loss_error_kwh"]) < 1e-2 * check["losses_model_kwh"]
    assert not check["steps_without_ac_solution"]


# ---------------------------------------------------------------------------------------- slow: the whole day

@pytest.mark.slow
def test_full_day_is_exact_under_ac(tmp_path: Path):
    """The 24-hour centralized dispatch (~35 s): every hour's AC power flow agrees with the SOC model, the
    voltages stay within 0.9 .. 1.1 p.u., and the coordinated microgrids beat the feeder alone on all three
    objectives (paper 003, Table 4)."""
    res = mgdsl.load(MODEL).solve(mip_gap=1e-4)
    assert res.summary["status"] == "optimal"
    res.save(tmp_path / "out")
    check = verify(tmp_path / "out").summary()
    assert check["max_voltage_difference_pu"] < 1e-3
    assert abs(check["loss_error_kwh"]) < 1e-2 * check["losses_model_kwh"]
    assert not check["voltage_violations"]
    before = mgdsl.load(DATA / "before.mgd").solve()
    for name in ("cost", "losses", "vdi"):
        assert res.summary["objectives"][name]["value"] < before.summary["objectives"][name]["value"], name


@pytest.mark.slow
def test_atc_with_cluster_children_reaches_the_centralized_cost():
    """ATC with the clusters as children (~8 min) against the centralized optimum. Measured (docs/case94.md): +0.13 %
    with active power only, +0.56 % with reactive power at the switches, both converged at tolerance 1e-3. The
    lossless paths that the links between microgrids open beside the feeder make the flows degenerate; the 0.1 %
    that ATC reaches on tree-shaped cases is not reached with the default weights, so this bounds the gap at 1 % (a
    regression guard); `max_weight 0.3` closes it (-0.012 % in 95 iterations, docs/case94.md)."""
    system = mgdsl.load(MODEL)
    central = system.solve(mip_gap=1e-4).objective
    run = system.solve_atc(system.atc_options(children="clusters"))
    assert run.converged
    assert -1e-4 <= (run.objective - central) / central <= 1e-2      # the centralized MIP is solved to 1e-4


@pytest.mark.slow
def test_full_day_pareto_front_finishes():
    """The whole-day front of docs/case94.md as measured there (vdi minimized, losses and cost bounded, 5 points on
    the diagonal, 900 s per solve, MIP gap 1e-3): its relaxations are solved by HiPO (studies/relaxed.py), so it
    finishes (45 min at load 10 on 2 cores) with its first two epsilons infeasible and 3 points solved; none is
    dominated, and every point is exact (no fictitious losses)."""
    front = mgdsl.load(MODEL).pareto("vdi", ["losses", "cost"], points=5, grid="diagonal", time_limit=900,
                                     mip_gap=1e-3)
    solved = front.solved
    assert len(solved) >= 3
    assert not front.points["dominated"].values.any()
    assert front.points["exact"].values[solved].all()
    assert front.best["vdi"] < front.worst["vdi"] and front.compromise is not None
