"""Start-up cost: each command imports only what it needs (`python -X importtime` in a subprocess). `check`, `fmt`
and `explain` never import the modelling stack (linopy, xarray, pandas, scipy), plotting or dask; `solve`
imports linopy but neither matplotlib nor dask.array."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "storage_arbitrage.mgd"
HEAVY = ("linopy", "xarray", "pandas", "scipy", "polars", "matplotlib", "dask", "highspy")


def imported(*args: str, cwd: Path | None = None) -> set[str]:
    """The top-level packages a `mgdsl ARGS` run imports, from the interpreter's own import log."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mgdsl.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr, flags=re.M)
    assert "mgdsl.cli" in names                        # the log was read (its format did not change)
    return set(names)


def roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("args", [["check", str(MODEL)], ["fmt", "--stdout", str(MODEL)], ["explain", "E0001"]])
def test_light_commands_import_no_modelling_stack(args):
    heavy = roots(imported(*args)) & set(HEAVY)
    assert not heavy, f"`mgdsl {args[0]}` imports {sorted(heavy)}"


def test_solve_imports_linopy_but_not_plotting_or_dask_arrays(tmp_path):
    names = imported("solve", str(MODEL), "--out", str(tmp_path / "out"))
    assert "linopy" in names                           # the check above would pass vacuously otherwise
    assert "matplotlib" not in roots(names)
    assert "dask.array" not in names
    assert (tmp_path / "out" / "summary.json").exists()
