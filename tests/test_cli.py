"""The command line as a user runs it: exit codes, rendered errors without tracebacks, files written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import netCDF4  # noqa: F401  (the netCDF backend must be installed)
import xarray as xr
from click.testing import CliRunner

from mgdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent

SMALL = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5, 1.0]

microgrid mg1 {
    es = Storage(electricity, capacity = 100 kWh, p_max = 50 kW, eta_ch = 1, eta_dis = 1, soc_min = 0,
                 soc_max = 1, soc_init = 0, soc_end = 0)
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = 10 kW)
}
"""


def write(tmp_path: Path, text: str, name: str = "m.mgd") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_check_ok(tmp_path):
    r = CliRunner().invoke(main, ["check", str(write(tmp_path, SMALL))])
    assert r.exit_code == 0 and "ok" in r.output


def test_check_reports_all_errors_with_locations(tmp_path):
    bad = SMALL.replace("p_max = 50 kW", "p_max = 50 kWh").replace("Load(electricity", "Lod(electricity")
    path = write(tmp_path, bad)
    proc = subprocess.run([sys.executable, "-m", "mgdsl.cli", "check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error[E0202]" in proc.stderr and "error[E0102]" in proc.stderr
    assert f"{path}:6:" in proc.stderr and f"{path}:9:" in proc.stderr


def test_check_json(tmp_path):
    path = write(tmp_path, SMALL.replace("price)", "prise)", 1))
    r = CliRunner().invoke(main, ["check", "--json", str(path)])
    data = json.loads(r.output)
    assert r.exit_code == 1 and data["ok"] is False
    assert data["diagnostics"][0]["code"] == "E0101" and data["diagnostics"][0]["line"] == 8


def test_missing_file_is_a_diagnostic_not_a_traceback(tmp_path):
    r = CliRunner().invoke(main, ["check", str(tmp_path / "nope.mgd")])
    assert r.exit_code == 1 and "E0003" in r.output + (r.stderr if hasattr(r, "stderr") else "")


def test_explain():
    r = CliRunner().invoke(main, ["explain", "E0201"])
    assert r.exit_code == 0 and "dt" in r.output
    r = CliRunner().invoke(main, ["explain", "E9999"])
    assert r.exit_code == 2


def test_fmt_rewrites_and_check_mode(tmp_path):
    path = write(tmp_path, "horizon 2 steps of 1 h\nlet  x=1+2   # three\n")
    r = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert r.exit_code == 1
    r = CliRunner().invoke(main, ["fmt", str(path)])
    assert r.exit_code == 0
    assert path.read_text() == "horizon 2 steps of 1 h\nlet x = 1 + 2  # three\n"
    assert CliRunner().invoke(main, ["fmt", "--check", str(path)]).exit_code == 0


def test_compile_lp_and_mps(tmp_path):
    path = write(tmp_path, SMALL)
    for suffix in ("lp", "mps"):
        out = tmp_path / f"model.{suffix}"
        r = CliRunner().invoke(main, ["compile", str(path), "-o", str(out), "--json"])
        assert r.exit_code == 0, r.output
        info = json.loads(r.output)
        assert info["variables"] == 18 and info["constraints"] == 10
        assert "Storage.e" in out.read_text()


def test_solve_writes_results_and_json(tmp_path):
    path = write(tmp_path, SMALL)
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["solve", str(path), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["status"] == "optimal"
    assert abs(summary["objective"] - (-23.0)) < 1e-6       # hand-computed: see tests/test_known_optima.py
    ds = xr.open_dataset(out / "Storage.nc")
    assert list(ds["e"].sel(instance="mg1.es").values) == [50.0, 50.0, 0.0]
    assert (out / "Storage.csv").read_text().startswith("instance,t,")
    assert json.loads((out / "summary.json").read_text())["objective"] == summary["objective"]


def test_solve_infeasible_exits_1_and_names_declarations(tmp_path):
    path = write(tmp_path, SMALL.replace("sell_price = price)", "sell_price = price, p_max = 5 kW)"))
    r = CliRunner().invoke(main, ["solve", str(path), "--no-save"])
    assert r.exit_code == 1
    text = r.output + getattr(r, "stderr", "")
    assert "E0601" in text and "stdlib/" in text


def test_stdlib_reference_is_up_to_date():
    from mgdsl.docgen import markdown

    assert (ROOT / "docs/stdlib.md").read_text() == markdown(), \
        "regenerate: mgdsl templates --markdown > docs/stdlib.md"


def test_templates_lists_the_library():
    r = CliRunner().invoke(main, ["templates"])
    assert r.exit_code == 0 and "Storage(carrier c" in r.output and "SVC(" in r.output


def test_solve_plot_and_plot_command(tmp_path):
    path = write(tmp_path, SMALL)
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["solve", str(path), "-o", str(out), "--plot"])
    assert r.exit_code == 0, r.output
    assert (out / "storage.png").read_bytes()[:4] == b"\x89PNG" and (out / "balance_mg1.png").exists()
    r = CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "figs" / "storage.png").exists()
