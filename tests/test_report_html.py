"""report.html (mgdsl/report_html.py): written with the results by `mgdsl solve --report` (centralized and ATC) and by
`mgdsl report DIR`; every figure holds the folder's numbers; the page is self-contained and renders in headless
Chromium with no console error (a screenshot of each goes to results/ as a CI artifact)."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mgdsl.report_html import REPORT, read_folder, report_html, sections

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import chromium_binary, load_page

ROOT = Path(__file__).resolve().parent.parent

MODEL = """use stdlib
horizon 6 steps of 1 h
profile price: yuan/kWh = [0.3, 0.3, 0.6, 1.0, 1.0, 0.6]
profile shape = [0.6, 0.7, 0.9, 1.0, 0.9, 0.7]
profile wind_pu = [0.8, 0.9, 0.5, 0.3, 0.4, 0.7]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation distflow_socp
    buses 1 .. 3
    slack 1 buys at price
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm, i_max = 60 A
    line 2 - 3: r = 0.5 ohm, x = 0.3 ohm
    load 3: p = 200 kW * shape, q = 60 kvar * shape
    at 2: svc2 = SVC(q_min = -50 kvar, q_max = 100 kvar)
}

microgrid mg1 at dn.2 limit 400 kW {
    es = Storage(electricity, capacity = 300 kWh, p_max = 150 kW)
    gb = GasBoiler(h_max = 200 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    heat = Load(heat, base = 120 kW * shape)
    load = Load(electricity, base = 250 kW * shape)
}

microgrid mg2 at dn.3 limit 300 kW {
    wt = Wind(p_max = 200 kW, profile = wind_pu)
    es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)
    load = Load(electricity, base = 180 kW * shape)
}
"""

# what the page must do in a browser: every plot div drawn (plotly puts its svg.main-svg inside)
PLOTS = "[...document.querySelectorAll('.plotly-graph-div')].map(d => d.querySelectorAll('svg.main-svg').length)"
READY = ("window.Plotly !== undefined && document.querySelectorAll('.plotly-graph-div').length > 0 && "
         "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('svg.main-svg'))")


def _mgdsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mgdsl.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "small.mgd"
    path.write_text(MODEL)
    return path


@pytest.fixture(scope="module")
def central(model) -> Path:
    out = model.parent / "central"
    run = _mgdsl("solve", str(model), "-o", str(out), "--report")
    assert run.returncode == 0, run.stderr
    run = _mgdsl("verify", str(out))                  # the AC check joins the folder, and its report is renewed
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def atc(model) -> Path:
    out = model.parent / "atc"
    run = _mgdsl("solve", str(model), "--decompose", "atc", "--tolerance", "1e-2", "-o", str(out), "--report")
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def _figures(folder) -> dict[str, list]:
    return {s.id: s.figures for s in sections(folder)}


# ------------------------------------------------------------------------------------------ written with results
def test_solve_writes_the_report_with_the_results(central):
    assert (central / REPORT).is_file()
    names = {p.name for p in central.iterdir()}
    assert {"summary.json", "dn.nc", "Storage.nc", REPORT} <= names
    assert not [n for n in names if n.startswith(".") and n != ".mgdsl-output"]     # nothing half-written
    assert not [p for p in central.parent.iterdir() if ".staging-" in p.name]


def test_the_page_is_self_contained(central):
    page = (central / REPORT).read_text()
    assert re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=", page) == []
    # (plotly.js mentions CDN addresses of its optional map data and MathJax, which this page never loads: the
    # browser test records every request)
    import plotly

    assert f"plotly.js {plotly.__version__}, embedded" in page and len(page) > 3_000_000
    assert page.count('class="plotly-graph-div"') == sum(len(f) for f in _figures(central).values())


def test_sections_of_a_centralized_solve(central):
    found = [s.id for s in sections(central)]
    assert found == ["summary", "costs", "dispatch", "voltages", "loading", "storage", "ac-check"]   # no ATC here


def test_figures_hold_the_folders_numbers(central):
    folder = read_folder(central)
    figs = _figures(central)
    summary = json.loads((central / "summary.json").read_text())
    # costs: one bar per subsystem, the summary's values
    bar = figs["costs"][0].data[0]
    assert list(bar.x) == list(summary["costs"]) and np.allclose(bar.y, list(summary["costs"].values()))
    # voltages: the heat map is vm of dn.nc, bus by step
    with xr.open_dataset(central / "dn.nc") as dn:
        vm = dn["vm"].transpose("bus", "t").values
        p, q, v = dn["P"].values, dn["Q"].values, dn["vm"].values
    assert np.allclose(np.asarray(figs["voltages"][0].data[0].z, dtype=float), vm)
    # loading: line 1-2 has a 60 A limit; its current from the flows and the sending-end voltage,
    # I = |S| / (sqrt(3) V kV), matches the report's (from the squared currents) when the relaxation is tight
    z = np.asarray(figs["loading"][0].data[0].z, dtype=float)
    current = math.hypot(1, 0) * np.hypot(p[0], q[0]) / (math.sqrt(3) * 12.66 * v[0])
    assert np.allclose(z[0], current / 60 * 100, rtol=1e-3)
    assert np.isnan(z[1]).all()                                   # line 2-3 has no limit
    # dispatch: each microgrid's electricity balance closes: the bars (devices and tie import) sum to 0 per step
    for fig in figs["dispatch"]:
        title = fig.layout.title.text
        if title.startswith("mg") and "electricity" in title:
            total = np.sum([np.asarray(tr.y, dtype=float) for tr in fig.data], axis=0)
            assert np.allclose(total, 0, atol=1e-6), title
            assert "tie-line import" in [tr.name for tr in fig.data]
    assert {f.layout.title.text.split(":")[0] for f in figs["dispatch"]} == {
        "mg1", "mg2", "devices at the network's buses"}
    # storage: the stored energy of every instance, as in Storage.nc
    stored = {tr.name: np.asarray(tr.y, dtype=float) for tr in figs["storage"][0].data if tr.yaxis == "y"}
    ds = folder.datasets["Storage"]
    for inst in ds["instance"].values:
        assert np.allclose(stored[f"{inst} (Storage)"], ds["e"].sel(instance=inst).values)


def test_atc_run_has_its_convergence(atc):
    summary = json.loads((atc / "summary.json").read_text())
    history = summary["atc"]["history"]
    ids = [s.id for s in sections(atc)]
    assert "convergence" in ids and (atc / REPORT).is_file()
    assert "ac-check" not in ids and "storage" in ids                # no `mgdsl verify` ran on this folder
    fig = _figures(atc)["convergence"][0]
    objective, inconsistency = fig.data[0], fig.data[1]
    assert list(objective.x) == [h["iteration"] for h in history]
    assert np.allclose(objective.y, [h["objective"] for h in history])
    assert np.allclose(inconsistency.y, [max(abs(h["inconsistency_pu"]), 1e-16) for h in history])
    assert fig.data[2].y[0] == pytest.approx(1e-2)                 # the tolerance line
    page = (atc / REPORT).read_text()
    assert f"converged after {len(history)} iterations" in page


# ------------------------------------------------------------------------------------------ `mgdsl report DIR`
def test_report_command_keeps_the_folder_and_adds_studies(central, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(central, folder)
    (folder / REPORT).unlink()
    # a two-objective front, a three-objective one in a sub-folder, and capability bands: the study files the
    # report reads (docs/report.md); made up here, the studies that write them are separate commands
    (folder / "pareto.csv").write_text("point,cost [yuan],losses [kWh]\n2,900,30\n0,1000,10\n1,950,18\n")
    (folder / "study").mkdir()
    (folder / "study" / "pareto_3.csv").write_text("cost,losses,vdi\n1,3,0.2\n2,2,0.1\n3,1,0.3\n")
    (folder / "capability.csv").write_text("t,p_min,p_max,p\n0,-10,50,20\n1,-5,60,30\n2,0,40,10\n")
    run = _mgdsl("report", str(folder))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(folder / REPORT) and (folder / REPORT).is_file()
    assert (folder / "pareto.csv").is_file() and (folder / "study" / "pareto_3.csv").is_file()
    figs = _figures(folder)
    front = figs["pareto"][0].data[0]
    assert list(front.x) == [900, 950, 1000] and list(front.y) == [30, 18, 10]     # sorted along the front
    assert figs["pareto"][0].layout.xaxis.title.text == "cost [yuan]"
    assert len(figs["pareto"][1].data) == 3                       # three objectives: three pairs
    band = figs["capability"][0].data
    assert [tr.name for tr in band] == ["p min", "p band", "p"] and list(band[1].y) == [50, 60, 40]
    assert ("Pareto fronts" in (folder / REPORT).read_text())


def test_study_folders_of_pareto_and_igdt(central, tmp_path):
    """results/NAME/pareto/pareto.json and results/NAME/igdt/igdt.json, as `mgdsl pareto` and `mgdsl igdt` write
    them beside the results: the front with its compromise, the robustness curves."""
    folder = tmp_path / "studies"
    shutil.copytree(central, folder)
    (folder / "pareto").mkdir()
    points = [{"point": k, "status": "optimal", "cost": c, "losses": loss, "min_membership": m}
              for k, (c, loss, m) in enumerate([(100, 9, 0.0), (110, 5, 0.5), (130, 3, 0.3), (150, 2, 0.0)])]
    points.append({"point": 4, "status": "infeasible", "cost": None, "losses": None, "min_membership": None})
    (folder / "pareto" / "pareto.json").write_text(json.dumps({
        "study": "pareto", "minimize": "cost", "bound": ["losses"], "units": {"cost": "yuan", "losses": "kWh"},
        "points": points, "compromise": {"point": 1, "values": {"cost": 110, "losses": 5}, "min_membership": 0.5}}))
    (folder / "pareto" / "pareto.csv").write_text("point,status,cost,losses,membership_cost\n0,optimal,100,9,1\n")
    (folder / "igdt").mkdir()
    (folder / "igdt" / "igdt.json").write_text(json.dumps({
        "study": "igdt", "objective": "cost", "unit": "yuan", "uncertain": ["wind_pu"], "base_objective": 1000.0,
        "results": [{"mode": "robust", "budget": 0.05, "alpha": 0.12}, {"mode": "robust", "budget": 0.02,
                                                                           "alpha": 0.04},
                    {"mode": "opportunity", "budget": 0.02, "alpha": 0.03}]}))
    figs = _figures(folder)
    front = figs["pareto"]                                  # the study's table is drawn from its json, not again
    assert len(front) == 1
    pts, star = front[0].data[0], front[0].data[1]
    assert list(pts.x) == [9, 5, 3, 2] and list(pts.y) == [100, 110, 130, 150]      # infeasible point left out
    assert list(pts.marker.color) == [0.0, 0.5, 0.3, 0.0]
    assert (star.name, list(star.x), list(star.y)) == ("compromise", [5], [110])
    curves = {tr.name: (list(tr.x), list(tr.y)) for tr in figs["igdt"][0].data}
    assert curves["robust"][0] == [2, 5] and np.allclose(curves["robust"][1], [4, 12])
    assert np.allclose(curves["opportunity"][1], [3])
    assert "Compromise of pareto (point 1" in report_html(folder)


def test_an_old_folder_without_base_voltage_shows_apparent_power(central, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(central, folder)
    with xr.open_dataset(folder / "dn.nc") as ds:
        old = ds.load().drop_vars("i_max")
    del old.attrs["base_kv"]
    (folder / "dn.nc").unlink()
    old.to_netcdf(folder / "dn.nc")
    fig = _figures(folder)["loading"][0]
    assert "apparent power" in fig.layout.title.text
    assert np.allclose(np.asarray(fig.data[0].z, dtype=float),
                       np.hypot(old["P"].transpose("line", "t").values, old["Q"].transpose("line", "t").values))
    assert "Line loading" in report_html(folder)


def test_report_command_refuses_what_is_not_a_results_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    run = _mgdsl("report", str(tmp_path))
    assert run.returncode == 1 and "not a results folder" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------------------------------ in a real browser
def _need_chromium():
    if chromium_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


def test_the_browser_check_sees_errors_and_missing_figures(tmp_path):
    """The harness itself: a page that throws and logs an error, with a plot div that never draws, fails it."""
    _need_chromium()
    page = tmp_path / "broken.html"
    page.write_text("<html><body><div class='plotly-graph-div'></div><script>console.error('bad value');"
                    "throw new Error('boom');</script></body></html>")
    seen = load_page(page, {"plots": PLOTS}, ready=READY, timeout=5)
    assert any("bad value" in e for e in seen.console_errors) and any("boom" in e for e in seen.console_errors)
    assert seen.values["plots"] == [0]


@pytest.mark.parametrize("which", ["central", "atc"])
def test_the_report_renders_in_headless_chromium(which, request):
    _need_chromium()
    folder = request.getfixturevalue(which)
    expected = sum(len(f) for f in _figures(folder).values())
    shot = ROOT / "results" / f"report_screenshot_{which}.png"          # kept by CI as an artifact
    seen = load_page(folder / REPORT, {"plots": PLOTS, "title": "document.title",
                                       "sections": "[...document.querySelectorAll('section')].map(s => s.id)"},
                     ready=READY, screenshot=shot)
    assert seen.console_errors == [], seen.console_errors
    assert len(seen.values["plots"]) == expected and all(n >= 1 for n in seen.values["plots"]), seen.values
    assert seen.values["title"].startswith("mgdsl report")
    assert seen.values["sections"] == [s.id for s in sections(folder)]
    outside = [u for u in seen.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert outside == [], outside                                  # nothing fetched from a network
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_a_system_without_network_and_a_network_of_one_bus(tmp_path):
    import mgdsl

    bare = ("use stdlib\nhorizon 2 steps of 1 h\nmicrogrid mg1 {\n    load = Load(electricity, base = 10 kW)\n"
            "    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh, sell_price = 0.1 yuan/kWh)\n}\n")
    mgdsl.loads(bare).solve().save(tmp_path / "bare")
    assert [s.id for s in sections(tmp_path / "bare")] == ["summary", "costs", "dispatch"]
    fig = _figures(tmp_path / "bare")["dispatch"][0]
    bars = {tr.name: np.asarray(tr.y, dtype=float) for tr in fig.data}
    assert sorted(bars) == ["grid (ElectricityTrade)", "load (Load)"]
    assert np.allclose(bars["load (Load)"], -10) and np.allclose(bars["grid (ElectricityTrade)"], 10)
    one = ("horizon 2 steps of 1 h\nnetwork dn {\n    base 1 MVA, 10 kV\n    buses 1 .. 1\n"
           "    slack 1 buys at 0.5 yuan/kWh\n    load 1: p = 100 kW\n}\n")
    mgdsl.loads(one).solve().save(tmp_path / "one")
    assert [s.id for s in sections(tmp_path / "one")] == ["summary", "costs", "voltages"]   # no lines to load
    assert "<section id='voltages'>" in report_html(tmp_path / "one")
