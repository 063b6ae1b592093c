"""Start-up cost: each command imports only what it needs (`python -X importtime` in a subprocess). `check`, `fmt`
and `explain` never import the modelling stack (linopy, xarray, pandas, scipy), plotting or dask; `solve`
imports linopy but neither matplotlib nor dask (xarray asks dask whether arrays are dask arrays and which
scheduler writes netCDF: mgdsl answers the first while dask is not imported and writes through xarray's store
API, mgdsl/api.py and mgdsl/results.py); once a user imports dask, xarray still knows dask arrays."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "storage_arbitrage.mgd"
HEAVY = ("linopy", "xarray", "pandas", "scipy", "polars", "matplotlib", "dask", "highspy")


def import_log(*args: str) -> list[tuple[int, str]]:
    """(nesting, module) for every module a `mgdsl ARGS` run imports, in the interpreter's order: a module is
    listed after the ones it imports, which are one level deeper."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mgdsl.cli", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    log = [(len(m.group(1)) // 2, m.group(2))
           for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$", proc.stderr, flags=re.M)]
    assert any(name == "mgdsl.cli" for _, name in log)  # the log was read (its format did not change)
    return log


def imported(*args: str) -> set[str]:
    return {name for _, name in import_log(*args)}


def roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def importer_chain(log: list[tuple[int, str]], module: str) -> list[str]:
    """Who imported `module`: the chain of modules up to the first one imported at the top."""
    i = next(i for i, (_, name) in enumerate(log) if name == module)
    chain, level = [module], log[i][0]
    for depth, name in log[i + 1:]:
        if depth < level:
            chain.append(name)
            level = depth
    return chain[::-1]


@pytest.mark.parametrize("args", [["check", str(MODEL)], ["fmt", "--stdout", str(MODEL)], ["explain", "E0001"]])
def test_light_commands_import_no_modelling_stack(args):
    log = import_log(*args)
    heavy = [name for _, name in log if name in HEAVY]
    assert not heavy, (f"`mgdsl {args[0]}` imports {sorted(heavy)}; the first through "
                       + " -> ".join(importer_chain(log, heavy[0])))


def test_solve_imports_linopy_but_not_plotting_or_dask(tmp_path):
    log = import_log("solve", str(MODEL), "--out", str(tmp_path / "out"))
    names = {name for _, name in log}
    assert "linopy" in names and "netCDF4" in names    # the checks below would pass vacuously otherwise
    for heavy in ("matplotlib", "dask", "distributed"):
        assert heavy not in roots(names), f"`mgdsl solve` imports {heavy}: " + " -> ".join(
            importer_chain(log, next(n for n in names if n.split(".")[0] == heavy)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".mgdsl-output", "ElectricityTrade.csv", "ElectricityTrade.nc", "Load.csv", "Load.nc", "Storage.csv",
        "Storage.nc", "summary.json"]


@pytest.fixture(scope="module")
def results_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imports") / "out"
    subprocess.run([sys.executable, "-m", "mgdsl.cli", "solve", str(MODEL), "--out", str(out)], check=True,
                   capture_output=True, timeout=120)
    return out


@pytest.mark.parametrize("command", ["plot", "report"])
def test_plot_and_report_import_no_solver(command, results_folder, tmp_path):
    """They read a results folder: the dataset names come from mgdsl.result_names, not mgdsl.results (linopy)."""
    log = import_log(command, str(results_folder), "-o", str(tmp_path / ("report.html" if command == "report"
                                                                          else "figures")))
    names = {name for _, name in log}
    assert "xarray" in names and "mgdsl.result_names" in names    # else the checks below pass vacuously
    for heavy in ("linopy", "highspy", "mgdsl.results", "mgdsl.lower"):
        assert heavy not in names, f"`mgdsl {command}` imports {heavy}: " + " -> ".join(importer_chain(log, heavy))


# xarray asks dask (and imports it) whether an array is a dask collection; mgdsl answers False while dask is not
# imported. Once the user imports it, xarray's own answer comes back: dask arrays are chunked and computed.
AFTER_DASK = """
import sys
import mgdsl
mgdsl.load(sys.argv[1]).lower()
assert "dask" not in sys.modules
import dask.array as da
import xarray as xr
from xarray.namedarray.utils import is_duck_dask_array
x = xr.DataArray(da.ones((4, 3), chunks=2), dims=("a", "b"))
assert is_duck_dask_array(x.data) and not is_duck_dask_array(x.values)
assert x.chunks == ((2, 2), (2, 1)) and isinstance((2 * x).data, da.Array)
assert float((2 * x).sum().compute()) == 24.0
print("ok")
"""


def test_xarray_knows_dask_arrays_once_dask_is_imported():
    proc = subprocess.run([sys.executable, "-c", AFTER_DASK, str(MODEL)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr[-2000:]
