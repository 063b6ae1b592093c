"""`pip install .` must ship the grammar and the standard library inside the package."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_grammar_and_stdlib(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("mgdsl-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mgdsl/grammar/mgdsl.lark" in names
    stdlib = {p.name for p in (ROOT / "stdlib").glob("*.mgd")}
    assert stdlib and all(f"mgdsl/stdlib/{n}" in names for n in stdlib)
    assert any(n.endswith("entry_points.txt") for n in names)
    # every Python module of the source tree is in the wheel (a package missing from pyproject's list is not)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mgdsl").rglob("*.py")}
    missing = sorted(m for m in modules if m not in names)
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {missing}"
