"""mgdsl arbitrate (paper 002): each conflict class on hand-made candidates with hand-computed numbers, fusion
weights, the projection of a feasible command, hard limits under random candidates, shedding by priority, the QP
built once, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.cli import main
from mgdsl.cluster_domain import domain
from mgdsl.cluster_state import Bases, initial_state, respond
from mgdsl.diagnostics import MgdError
from mgdsl.studies.arbitrate import Arbiter, Options, apply_events, fusion_weights
from mgdsl.studies.commands import Command, Event
from mgdsl.studies.projection import Projection, Term, Weights

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "models" / "cluster3_002.mgd"
DATA = ROOT / "models" / "data" / "cluster3_002"

# one microgrid: storage 500 kW, PV 400 kW, load 450 kW -> the storage carries 50 kW
ONE = """use stdlib
horizon 4 steps of 1 s
microgrid mg1 {
    es = GFMStorage(capacity = 5 kWh, p_max = 500 kW, soc_init = 50 %)
    pv = PV(p_max = 400 kW)
    load = Load(electricity, base = 450 kW)
}
"""


def one(events=()):
    dom = domain(mgdsl.loads(ONE).ir, 0)
    return dom, apply_events(dom, initial_state(dom), list(events), 0), Arbiter(dom)


def classes(decision, target):
    return {c["class"]: c for t in decision.targets if t["target"] == target for c in t["conflicts"]}


def test_direction_conflict():
    dom, s, arb = one()
    d = arb.decide(s, [Command(0, "A1", "mg1", 100.0), Command(0, "A2", "mg1", -50.0)])
    found = classes(d, "mg1")
    assert found["direction"]["product"] == -5000.0
    assert found["direction"]["controllers"] == ["A1", "A2"]
    assert d.targets[0]["method"] == "projection"


def test_capacity_conflict_against_the_storage_margin():
    dom, s, arb = one()
    # the storage carries 50 kW of its 500: 450 kW left
    d = arb.decide(s, [Command(0, "A1", "mg1.es", 300.0), Command(0, "A2", "mg1.es", 200.0)])
    cap = classes(d, "mg1.es")["capacity"]
    assert cap["sum_kw"] == 500.0 and cap["available_kw"] == pytest.approx(450.0)
    assert "direction" not in classes(d, "mg1.es")
    d = arb.decide(s, [Command(0, "A1", "mg1.es", 250.0), Command(0, "A2", "mg1.es", 200.0)])
    assert "capacity" not in classes(d, "mg1.es")


def test_objective_conflict_from_the_index_increments():
    # a 100 kW load step: the storage carries it beyond its reference, m = 100 kW;
    # A1 restores frequency (m -> 0), A2 overshoots (m -> -130 kW): the frequency index moves both ways
    dom, s, arb = one([Event(0, "load", "mg1", 100.0)])
    d = arb.decide(s, [Command(0, "A1", "mg1", 100.0), Command(0, "A2", "mg1", 230.0)])
    found = classes(d, "mg1")
    assert set(found) == {"objective"}
    f = dom.microgrids[0].f_coef                      # 60 Hz / (500 kW / 0.5 %) = 6e-4 Hz/kW
    assert f == pytest.approx(6e-4)
    base = (f * 100 / 0.5) ** 2
    dj = found["objective"]["delta_j"]
    assert dj["A1"]["frequency"] == pytest.approx(0 - base)
    assert dj["A2"]["frequency"] == pytest.approx((f * 130 / 0.5) ** 2 - base)
    assert "frequency" in found["objective"]["indices"] and "voltage" in found["objective"]["indices"]


def test_fusion_weights_sum_to_one_and_suppress_a_silent_controller():
    cands = [Command(0, "A1", "mg1", 40.0, comm=1.0, res=1.0, his=1.0),
             Command(0, "A2", "mg1", 10.0, comm=0.5, res=0.2, his=1.0),
             Command(0, "A3", "mg1", -500.0, comm=0.0),                    # no communication
             Command(0, "A4", "mg1", 900.0, age_s=10.0)]                   # stale
    w = fusion_weights(cands, Options())
    assert w.sum() == pytest.approx(1.0)
    assert w[2] == 0.0 and w[3] == 0.0
    # eta = 0.5 C_com + 0.3 C_res + 0.2 C_his: 1.0 and 0.51
    assert w[0] == pytest.approx(1.0 / 1.51) and w[1] == pytest.approx(0.51 / 1.51)
    dom, s, arb = one()
    d = arb.decide(s, cands)
    t = d.targets[0]
    # the suppressed ones raise no conflict: the live two agree, fusion is executed as it is
    assert t["conflicts"] == [] and t["method"] == "fusion"
    assert t["command_kw"] == pytest.approx((40 * 1.0 + 10 * 0.51) / 1.51, abs=1e-6)


def test_projection_of_a_feasible_fused_command_is_itself():
    dom, s, arb = one()
    d = arb.decide(s, [Command(0, "A1", "mg1.es", 30.0), Command(0, "A2", "mg1.es", 50.0)])
    assert d.targets[0]["method"] == "fusion"
    assert d.targets[0]["command_kw"] == pytest.approx(40.0, abs=1e-7)
    assert d.state.eref[0] == pytest.approx(s.eref[0] + 40.0, abs=1e-7)
    # and the QP alone, with only the distance term: a point inside the domain projects onto itself,
    # one outside onto the nearest bound (the storage's 500 kW)
    p = Projection(dom, Weights(0, 0, 0, 0, 0, conflict=1.0), Bases())
    for target, expected in ((123.0, 123.0), (900.0, 500.0)):
        p.set_state(s, s.hydro, False)
        p.objective([Term(int(p.eref[0]), target, 1.0, 500.0)])
        x = p.run("qp")
        assert x[p.eref[0]] == pytest.approx(expected, abs=1e-4)


def test_an_infeasible_fused_command_is_projected():
    dom, s, arb = one()
    d = arb.decide(s, [Command(0, "A1", "mg1.es", 600.0)])     # 50 + 600 kW > 500 kW
    t = d.targets[0]
    assert t["method"] == "projection" and {c["class"] for c in t["conflicts"]} == {"capacity"}
    assert d.state.eref[0] <= 500.0 + 1e-6


SHED = """use stdlib
horizon 4 steps of 1 s
microgrid mg1 {
    es = GFMStorage(capacity = 5 kWh, p_max = 400 kW)
    pv = PV(p_max = PVMAX)
    critical = UninterruptibleLoad(base = 300 kW)
    cheap = InterruptibleLoad(base = 100 kW, compensation = 1 yuan/kWh)
    dear = InterruptibleLoad(base = 100 kW, compensation = 3 yuan/kWh)
}
"""


@pytest.mark.parametrize("pv, step, cheap, dear", [
    ("150 kW", 0.0, 0.0, 0.0),        # 500 kW of load, 400 + 150 kW of supply: nothing is shed
    ("0 kW", 0.0, 100.0, 0.0),        # 500 kW of load, 400 kW of storage: 100 kW shed, the cheap load first
    ("0 kW", 50.0, 100.0, 50.0),      # 550 kW: the cheap load wholly, then 50 kW of the dear one
])
def test_load_is_shed_in_priority_order_only_when_nothing_else_is_left(pv, step, cheap, dear):
    dom = domain(mgdsl.loads(SHED.replace("PVMAX", pv)).ir, 0)
    s = apply_events(dom, initial_state(dom), [Event(0, "load", "mg1", step)], 0)
    d = Arbiter(dom).decide(s, [Command(0, "A1", "mg1", 0.0)])
    assert d.state.shed == pytest.approx([cheap, dear], abs=1e-5)
    assert respond(dom, d.state).unserved == pytest.approx([0.0], abs=1e-6)


def test_no_command_at_all_is_reported():
    dom = domain(mgdsl.loads(SHED.replace("PVMAX", "0 kW")).ir, 0)
    s = apply_events(dom, initial_state(dom), [Event(0, "load", "mg1", 400.0)], 0)
    with pytest.raises(MgdError) as e:
        Arbiter(dom).decide(s, [Command(0, "A1", "mg1", 0.0)])
    assert e.value.diagnostics[0].code == "E0812"


@pytest.fixture(scope="module")
def case_b():
    system = mgdsl.load(CASE)
    dom = domain(system.ir, 4)
    s = apply_events(dom, initial_state(dom), [Event(4, "load", "mg2", 400.0), Event(4, "pv", "mg3", -300.0)], 4)
    return dom, s, Arbiter(dom)


TARGETS = ["mg1", "mg2", "mg3", "mg2.es", "mg2.hydro", "k12", "k23"]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A1", "A2", "A3"]), st.sampled_from(TARGETS),
                          st.floats(-1500, 1500), st.floats(0.0, 2.0)), min_size=1, max_size=6))
def test_projection_never_violates_a_hard_limit(case_b, cands):
    dom, s, arb = case_b
    d = arb.decide(s, [Command(0, c, t, v, rho) for c, t, v, rho in cands])
    x, r, tol = d.state, respond(dom, d.state), 1e-4
    rated = np.array([m.p_rated for m in dom.microgrids])
    assert np.all(np.abs(x.eref) <= rated + tol)
    assert np.all(r.unserved <= tol) and np.all(np.abs(r.output) <= rated + tol)
    assert np.all(x.pv <= x.pv_avail + tol) and np.all(x.pv >= -tol)
    assert np.all(np.abs(r.df) <= 0.5 + tol) and np.all(np.abs(r.dv) <= 0.05 + tol)
    h = dom.hydros[0]
    assert abs(x.hydro[0] - s.hydro[0]) <= h.ramp + tol and h.p_min - tol <= x.hydro[0] <= h.p_max + tol
    assert np.all(np.abs(x.tie) <= np.array([t.limit for t in dom.ties]) + tol)
    assert np.all((x.shed >= -tol) & (x.shed <= np.array([q.base for q in dom.sheds]) + tol))
    assert np.all((r.soc_next >= 0.1 - tol) & (r.soc_next <= 0.9 + tol))


def test_case_b_classes_and_one_model_for_every_event():
    a = mgdsl.load(CASE).arbitrate(DATA / "case_b_commands.csv", at=4, events=DATA / "case_b_events.csv")
    assert a.builds == 1 and a.solves >= 2
    ev = a.events[0]
    by = {t["target"]: {c["class"] for c in t["conflicts"]} for t in ev["targets"]}
    assert by["mg2.es"] == {"direction", "capacity", "objective"}
    assert by["mg2.hydro"] >= {"capacity"} and by["k23"] == set()
    hydro = next(t for t in ev["targets"] if t["target"] == "mg2.hydro")
    assert hydro["command_kw"] == pytest.approx(80.0, abs=1e-4)          # 0.08 MW/s over a 1 s interval
    assert any("ramp limit" in b for b in ev["binding"])
    assert set(a.commands["method"].sel(event=0).values.tolist()) >= {"projection", "fusion"}


def test_a_device_with_no_supervisory_role_is_named_not_silently_dropped(tmp_path):
    """A microturbine has no role in the supervisory domain: the study names it (JSON and screen)."""
    path = tmp_path / "mt.mgd"
    path.write_text(ONE.replace("    load = ", "    mt = Microturbine(p_max = 100 kW, fuel_price = 1 yuan/kWh)\n"
                                              "    load = "))
    cmds = tmp_path / "c.csv"
    cmds.write_text("controller,target,value\nA1,mg1.es,60\n")
    assert mgdsl.load(path).arbitrate(str(cmds)).ignored == ["mg1.mt"]
    r = CliRunner().invoke(main, ["arbitrate", str(path), "--commands", str(cmds), "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert "left out of the supervisory domain" in r.output and "mg1.mt" in r.output
    data = json.loads((tmp_path / "a" / "arbitrate.json").read_text())
    assert data["ignored"] == ["mg1.mt"]


def test_cli_arbitrate(tmp_path):
    out = tmp_path / "arb"
    r = CliRunner().invoke(main, ["arbitrate", str(CASE), "--commands", str(DATA / "case_b_commands.csv"),
                                  "--events", str(DATA / "case_b_events.csv"), "--at", "4", "-o", str(out),
                                  "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["qp_builds"] == 1 and len(data["events"]) == 2
    assert {p.name for p in out.iterdir()} >= {"arbitrate.json", "commands.csv", "candidates.csv",
                                               "references.csv", "terms.csv", "arbitrate.png"}
    bad = tmp_path / "bad.csv"
    bad.write_text("controller,target,value\nA1,mg7,5\n")
    r = CliRunner().invoke(main, ["arbitrate", str(CASE), "--commands", str(bad), "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "E0811" in r.output and "Traceback" not in r.output


def test_commands_from_json_equal_the_csv(tmp_path):
    rows = [{"event": 0, "controller": "A1", "target": "mg2.es", "value": 450, "confidence": 1.0, "comm": 1},
            {"event": 0, "controller": "A2", "target": "mg2.es", "value": -200}]
    path = tmp_path / "cmds.json"
    path.write_text(json.dumps(rows))
    csv = tmp_path / "cmds.csv"
    csv.write_text("event,controller,target,value\n0,A1,mg2.es,450\n0,A2,mg2.es,-200\n")
    system = mgdsl.load(CASE)
    a, b = system.arbitrate(path, at=4, events=DATA / "case_b_events.csv"), \
        system.arbitrate(csv, at=4, events=DATA / "case_b_events.csv")
    assert a.commands.equals(b.commands) and a.events[0]["targets"][0]["command_kw"] == pytest.approx(
        b.events[0]["targets"][0]["command_kw"])


def test_bad_settings_are_reported(tmp_path):
    cmds = str(DATA / "case_b_commands.csv")
    r = CliRunner().invoke(main, ["arbitrate", str(CASE), "--commands", cmds, "--alpha", "0.3,-1,0.1,0.1,0.1",
                                  "-o", str(tmp_path / "a")])
    assert r.exit_code == 1 and "E0814" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["arbitrate", str(CASE), "--commands", cmds, "--at", "20", "-o", str(tmp_path / "b")])
    assert r.exit_code == 1 and "E0814" in r.output
    r = CliRunner().invoke(main, ["arbitrate", str(CASE), "--commands", cmds, "--alpha", "1,2",
                                  "-o", str(tmp_path / "c")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_the_resident_qp_answers_as_a_fresh_one(case_b):
    # numbers changed in place between events give what a QP built for the event alone gives
    dom, s, arb = case_b
    events = [[Command(0, "A1", "mg2.es", 450.0), Command(0, "A2", "mg2.es", -200.0)],
              [Command(0, "A1", "mg1", 80.0, rho=2.0), Command(0, "A3", "mg2.hydro", 500.0)],
              [Command(0, "A2", "k23", -350.0), Command(0, "A3", "k23", 100.0, rho=0.3)],
              [Command(0, "A1", "mg3", 40.0), Command(0, "A2", "mg3", 60.0)]]
    for cmds in events:
        a, b = arb.decide(s, cmds), Arbiter(dom).decide(s, cmds)
        for name in ("eref", "pv", "hydro", "tie", "shed"):
            assert getattr(a.state, name) == pytest.approx(getattr(b.state, name), abs=1e-4)
    assert arb.proj.builds == 1 and arb.proj.solves >= len(events)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.floats(-600, 900), st.floats(-500, 0),
       st.lists(st.tuples(st.sampled_from(["A1", "A2", "A3"]), st.sampled_from(TARGETS),
                          st.floats(-3000, 3000), st.floats(0.0, 5.0)), min_size=1, max_size=10))
def test_projection_never_violates_a_hard_limit_under_random_events(load_step, pv_drop, cands):
    system = mgdsl.load(CASE)
    dom = domain(system.ir, 4)
    s = apply_events(dom, initial_state(dom), [Event(4, "load", "mg2", load_step), Event(4, "pv", "mg3", pv_drop)], 4)
    try:
        d = Arbiter(dom).decide(s, [Command(0, c, t, v, rho) for c, t, v, rho in cands])
    except MgdError as e:                      # a disturbance beyond everything: said so, never a wrong command
        assert e.diagnostics[0].code == "E0812"
        return
    r, tol = respond(dom, d.state), 1e-4
    rated = np.array([m.p_rated for m in dom.microgrids])
    assert np.all(np.abs(d.state.eref) <= rated + tol) and np.all(r.unserved <= tol)
    assert np.all(np.abs(r.df) <= 0.5 + tol) and np.all((r.soc_next >= 0.1 - tol) & (r.soc_next <= 0.9 + tol))
    assert abs(d.state.hydro[0] - s.hydro[0]) <= dom.hydros[0].ramp + tol


# ---------------------------------------------------------------- ties to a network and the network's limits
# one microgrid tied at bus 2 of a two-bus network: base 1 MVA, 10 kV -> z_base = 100 ohm
NET = """use stdlib
horizon 4 steps of 1 s
network dn {{
    base 1 MVA, 10 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 2
    slack 1
    line 1 - 2: {line}
    {load}
}}
microgrid mg1 at dn.2 limit {limit} {{
    es = GFMStorage(capacity = 5 kWh, p_max = 1000 kW, soc_init = 50 %)
    load = Load(electricity, base = 450 kW)
}}
{extra}
"""


def net_case(line, limit="1000 kW", load="", extra="", cmds=()):
    dom = domain(mgdsl.loads(NET.format(line=line, limit=limit, load=load, extra=extra)).ir, 0)
    s = initial_state(dom)
    d = Arbiter(dom).decide(s, [Command(0, "A1", target, value) for target, value in cmds])
    return dom, s, d


def tie_flow(dom, d, name):
    return d.state.tie[[t.name for t in dom.ties].index(name)]


def test_network_line_rating_binds_a_tie_import():
    # i_max = 10 A at 10 kV: S = sqrt(3) 10 kV 10 A = 173.205 kVA at 1 p.u. The model's polygon at the sending
    # end's squared voltage v = 1 (the slack): P <= S (a + c v), secant of sqrt on [0.81, 1.21]: c = 1 / 2,
    # a = 0.9 - 0.81 / 2 = 0.495, so P <= 0.995 S = 172.339 kW (Q = 0: the facet next to the P axis binds)
    dom, s, d = net_case("r = 1 ohm, x = 0.5 ohm, i_max = 10 A", cmds=[("tie.mg1", 400.0)])
    assert [(t.name, t.a, t.b, t.bus) for t in dom.ties] == [("tie.mg1", "dn", "mg1", 2)]
    cap = 0.995 * np.sqrt(3) * 10 * 10
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(cap, abs=1e-4)
    assert d.state.eref[0] == pytest.approx(450.0 - cap, abs=1e-4)       # the storage carries the rest
    assert respond(dom, d.state).mismatch == pytest.approx([0.0], abs=1e-5)
    assert "dn: line 1-2 rating limit" in d.binding
    # exporting is limited the same way
    _, _, d = net_case("r = 1 ohm, x = 0.5 ohm, i_max = 10 A", cmds=[("tie.mg1", -400.0)])
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(-cap, abs=1e-4)


def test_network_voltage_floor_binds_a_tie_import():
    # r = 10 ohm = 0.1 p.u., x = 5 ohm = 0.05 p.u., bus 2 loads 100 kW, 50 kvar (0.1, 0.05 p.u.); an import T kW:
    # v2 = 1 - 2 (0.1 (0.1 + T / 1000) + 0.05 * 0.05) >= 0.9^2  ->  T <= 825 kW
    dom, s, d = net_case("r = 10 ohm, x = 5 ohm", load="load 2: p = 100 kW, q = 50 kvar",
                         cmds=[("tie.mg1", 900.0)])
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(825.0, abs=1e-4)
    assert "dn: bus 2 voltage limit" in d.binding
    # two candidates beyond it: a capacity conflict against the network's margin, not the tie's 1000 kW
    _, _, d = net_case("r = 10 ohm, x = 5 ohm", load="load 2: p = 100 kW, q = 50 kvar",
                       cmds=[("tie.mg1", 900.0), ("tie.mg1", 600.0)])
    assert classes(d, "tie.mg1")["capacity"]["available_kw"] == pytest.approx(825.0, abs=1e-6)
    # a command inside the domain is kept
    _, _, d = net_case("r = 10 ohm, x = 5 ohm", load="load 2: p = 100 kW, q = 50 kvar", cmds=[("tie.mg1", 300.0)])
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(300.0, abs=1e-4)


def test_tie_and_switch_to_a_network_bus_within_their_limits():
    # the tie line's own limit, and a switch from the microgrid to bus 1 (positive: from mg1 into the bus)
    dom, s, d = net_case("r = 0.1 ohm, x = 0.05 ohm", limit="100 kW",
                         extra="switch k1 between mg1 and dn.1 limit 60 kW",
                         cmds=[("tie.mg1", 300.0), ("k1", -200.0)])
    assert [(t.name, t.a, t.b, t.bus) for t in dom.ties] == [("tie.mg1", "dn", "mg1", 2), ("k1", "mg1", "dn", 1)]
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(100.0, abs=1e-4)
    assert tie_flow(dom, d, "k1") == pytest.approx(-60.0, abs=1e-4)
    # both imports relieve the storage: 450 - 100 - 60
    assert d.state.eref[0] == pytest.approx(290.0, abs=1e-4)
    assert any("tie.mg1" in b for b in d.binding) and any("k1" in b for b in d.binding)


def test_network_rows_follow_the_tree_whichever_way_a_line_is_written():
    # a chain 1 - 2 - 3 with its second line written 3 - 2: 5 ohm = 0.05 p.u. each, no reactance, no loads;
    # an import T at bus 3: v3 = 1 - 2 (0.05 + 0.05) T / 1000 >= 0.81  ->  T <= 950 kW
    text = NET.format(line="r = 5 ohm, x = 0 ohm\n    line 3 - 2: r = 5 ohm, x = 0 ohm", limit="2000 kW",
                      load="", extra="").replace("buses 1 .. 2", "buses 1 .. 3").replace("at dn.2", "at dn.3")
    dom = domain(mgdsl.loads(text).ir, 0)
    d = Arbiter(dom).decide(initial_state(dom), [Command(0, "A1", "tie.mg1", 1200.0)])
    assert tie_flow(dom, d, "tie.mg1") == pytest.approx(950.0, abs=1e-4)
    assert "dn: bus 3 voltage limit" in d.binding
