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


def test_solve_imports_linopy_but_not_plotting_or_dask_arrays(tmp_path):
    names = imported("solve", str(MODEL), "--out", str(tmp_path / "out"))
    assert "linopy" in names                           # the check above would pass vacuously otherwise
    assert "matplotlib" not in roots(names)
    assert "dask.array" not in names
    assert (tmp_path / "out" / "summary.json").exists()
