"""mgdsl simulate (paper 002): the quasi-static droop response by hand, determinism, Case B's comparison of the
strategies (CCMAC balances SOC better than OOHC and never asks the hydro unit beyond its ramp), the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.cluster_domain import domain
from mgdsl.studies.commands import Event, read_commands

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "models" / "cluster3_002.mgd"
EVENTS = ROOT / "models" / "data" / "cluster3_002" / "case_b_events.csv"

ONE = """use stdlib
horizon 6 steps of 1 s
microgrid mg1 {
    es = GFMStorage(capacity = 5 kWh, p_max = 500 kW, soc_init = 50 %)
    pv = PV(p_max = 400 kW)
    load = Load(electricity, base = 450 kW)
}
"""


def test_droop_by_hand():
    # a 100 kW load step at t = 2 s on a 500 kW unit with a 0.5 % droop: 60 * 0.005 * 100 / 500 = 0.06 Hz,
    # 0.05 * 100 / 500 = 0.01 p.u., never restored; the unit then gives 150 kW: 150 / 3600 kWh per second
    sim = mgdsl.loads(ONE).simulate([Event(2, "load", "mg1", 100.0)], control="droop")
    tr = sim.trajectory.sel(microgrid="mg1")
    assert sim.metrics["max_df_hz"] == pytest.approx(0.06)
    assert sim.metrics["max_dv_pu"] == pytest.approx(0.01)
    assert tr["df_hz"].values == pytest.approx([0, 0, -0.06, -0.06, -0.06, -0.06])
    assert sim.metrics["recovery_time_s"] == float("inf")
    soc = 0.5 - (2 * 50 + 3 * 150) / 3600 / 5       # SOC at the start of the last step
    assert tr["soc"].values[-1] == pytest.approx(soc)


def test_secondary_control_restores_the_frequency():
    # OOHC: the microgrid's own controller gives its storage the whole mismatch, one interval later
    sim = mgdsl.loads(ONE).simulate([Event(2, "load", "mg1", 100.0)], control="oohc")
    df = sim.trajectory["df_hz"].sel(microgrid="mg1").values
    assert df[2] == pytest.approx(-0.06) and np.abs(df[3:]).max() < 1e-9
    assert sim.metrics["recovery_time_s"] == 1.0
    # CCMAC: the three controllers propose K_p * m with K_p = 1, 0.5, 1 and agree in direction, so their fusion
    # (equal weights) gives 5/6 of the mismatch each interval: what is left shrinks by 6 per step
    sim = mgdsl.loads(ONE).simulate([Event(2, "load", "mg1", 100.0)], control="ccmac")
    df = sim.trajectory["df_hz"].sel(microgrid="mg1").values
    assert df[2:] == pytest.approx([-0.06, -0.01, -0.01 / 6, -0.01 / 36], rel=1e-6)


def test_simulation_is_deterministic():
    system = mgdsl.load(CASE)
    a = system.simulate(EVENTS, control="ccmac")
    b = system.simulate(EVENTS, control="ccmac")
    assert a.trajectory.equals(b.trajectory) and a.hydro.equals(b.hydro) and a.metrics == b.metrics


@pytest.fixture(scope="module")
def case_b():
    system = mgdsl.load(CASE)
    return {c: system.simulate(EVENTS, control=c).metrics for c in ("ccmac", "oohc", "droop")}


def test_case_b_compares_as_the_paper_says(case_b):
    cc, oo, dr = case_b["ccmac"], case_b["oohc"], case_b["droop"]
    assert cc["hydro_ramp_violations"] == 0 and oo["hydro_ramp_violations"] > 0
    assert cc["max_soc_deviation_pct"] < 0.5 * oo["max_soc_deviation_pct"]
    assert cc["recovery_time_s"] < oo["recovery_time_s"] < dr["recovery_time_s"]
    assert cc["critical_load_supply_pct"] == 100.0
    # the first swing comes before any command: the same disturbance, the same droop
    assert oo["max_df_hz"] == pytest.approx(dr["max_df_hz"])


def test_cli_simulate(tmp_path):
    out = tmp_path / "sim"
    r = CliRunner().invoke(main, ["simulate", str(CASE), "--events", str(EVENTS), "--control", "oohc", "-o", str(out),
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["hydro_ramp_violations"] > 0
    assert {p.name for p in out.iterdir()} >= {"simulate.json", "trajectory.csv", "hydro.csv", "simulate.png"}
    bad = tmp_path / "ev.csv"
    bad.write_text("step,kind,microgrid,value\n99,load,mg1,5\n")
    r = CliRunner().invoke(main, ["simulate", str(CASE), "--events", str(bad), "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0813" in r.output and "Traceback" not in r.output


def test_profiles_move_step_by_step_like_events():
    # PV at 75 % of 400 kW from t = 2 s: the same 100 kW shortfall as a load step of 100 kW
    text = ONE.replace("horizon 6 steps of 1 s",
                       "horizon 6 steps of 1 s\nprofile pv_pu = [1, 1, 0.75, 0.75, 0.75, 0.75]")
    text = text.replace("PV(p_max = 400 kW)", "PV(p_max = 400 kW, profile = pv_pu)")
    by_profile = mgdsl.loads(text).simulate([], control="droop").trajectory["df_hz"].sel(microgrid="mg1").values
    by_event = mgdsl.loads(ONE).simulate([Event(2, "pv", "mg1", -100.0)], control="droop")
    assert by_profile == pytest.approx(by_event.trajectory["df_hz"].sel(microgrid="mg1").values)
    assert by_profile[2] == pytest.approx(-0.06)


def test_explicit_candidates_join_ccmac():
    # Case B's candidates issued after t = 4 (the commands file's event 0 moved to step 4)
    system = mgdsl.load(CASE)
    data = ROOT / "models" / "data" / "cluster3_002" / "case_b_commands.csv"
    cmds = [c for c in read_commands(data, domain(system.ir, 0).targets()) if c.event == 0]
    for c in cmds:
        c.event = 4
    plain = system.simulate(EVENTS, control="ccmac")
    with_cmds = system.simulate(EVENTS, control="ccmac", commands=cmds)
    assert not plain.trajectory.equals(with_cmds.trajectory)
    assert with_cmds.metrics["hydro_ramp_violations"] == 0
    assert with_cmds.metrics["critical_load_supply_pct"] == 100.0
    # the hydro unit still moves by at most its ramp per step
    p = with_cmds.hydro["p_kw"].values.ravel()
    assert np.abs(np.diff(p)).max() <= 80.0 + 1e-6
