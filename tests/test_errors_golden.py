"""Golden tests for diagnostics: one .mgd per error code, its rendered report kept in a .txt beside it (more
cases of a code are named CODE_what.mgd). Regenerate after an intended change with MGDSL_UPDATE_GOLDEN=1 and
review the diff."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.errors import CODES

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path("tests/golden/errors")
CASES = sorted((ROOT / GOLDEN).glob("[EW]*.mgd"))         # errors, and warnings (W codes)


def render_case(path: Path) -> tuple[str, set[str]]:
    """Check (or solve, if the file's first line says `# golden: solve [options]`) and render the error."""
    first = path.read_text().splitlines()[0]
    options = {}
    action = "check"
    if first.startswith("# golden:"):
        words = shlex.split(first[len("# golden:"):])
        action = words[0]
        if "--time-limit" in words:
            options["time_limit"] = float(words[words.index("--time-limit") + 1])
    try:
        system = mgdsl.load(GOLDEN / path.name)
        if action == "window":              # `# golden: window FIRST..LAST [ACTION ARGS]`: over those steps
            system = system.window(words[1])
            words = words[2:] or ["check"]
            action = words[0]
        if action == "solve":
            system.solve(**options)
        elif action == "pareto":            # `# golden: pareto MINIMIZE BOUND,...`
            system.pareto(words[1], words[2].split(","), points=2)
        elif action == "igdt":              # `# golden: igdt [PROFILE,...]`
            system.igdt(words[1].split(",") if len(words) > 1 else None, [0.05])
        elif action == "pem":               # `# golden: pem [PROFILE,...]`
            system.pem(words[1].split(",") if len(words) > 1 else None)
        elif action == "arbitrate":         # `# golden: arbitrate COMMANDS.csv [STEP]` (the CSV beside the .mgd)
            system.arbitrate(GOLDEN / words[1], int(words[2]) if len(words) > 2 else 0)
        elif action == "simulate":          # `# golden: simulate EVENTS.csv [CONTROL]`
            system.simulate(GOLDEN / words[1], words[2] if len(words) > 2 else "ccmac")
        elif action == "mpc":               # `# golden: mpc WINDOW ACTUAL.csv` (the CSV beside the .mgd)
            system.mpc(words[1], GOLDEN / words[2])
        elif action == "capability":        # `# golden: capability [TOLERANCE [STEP,...]]`
            system.capability(float(words[1]) if len(words) > 1 else 0.05,
                              [int(h) for h in words[2].split(",")] if len(words) > 2 else None)
    except MgdError as err:
        return err.render(color=False) + "\n", {d.code for d in err.diagnostics}
    if system.warnings:             # a W code: the model is valid; its warnings are the report
        return "\n\n".join(w.render(color=False) for w in system.warnings) + "\n", {w.code for w in system.warnings}
    raise AssertionError(f"{path.name}: no error was reported")


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path):
    text, codes = render_case(path)
    code = path.stem.split("_")[0]
    assert code in codes, f"{path.name} should report {code}, reported {sorted(codes)}"
    expected = path.with_suffix(".txt")
    if os.environ.get("MGDSL_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert expected.exists(), f"{expected.name} is missing: create it with MGDSL_UPDATE_GOLDEN=1 and review it"
    assert text == expected.read_text()


# codes that no .mgd file can produce, each with the test that covers it instead
NOT_FROM_A_MODEL = {
    "E0603": "a HiGHS stop other than a limit, infeasibility or unboundedness: tests/test_highs_solve.py",
    "E0606": "HiPO missing from the installation: tests/test_highs_runs.py",
    "E0610": "a lost ATC worker process: tests/test_atc_faults.py",
    "E0611": "the dask executor without `distributed` installed: tests/test_atc_dask.py",
    "E0612": "an unreachable Dask scheduler: tests/test_atc_dask.py",
    "E0621": "Clarabel missing from the installation: tests/test_cones.py",
    "E0622": "Clarabel stopping without a solution: tests/test_cones.py",
    "E0623": "an unknown `cones` given to System.solve: tests/test_cones.py",
    "E0701": "an unwritable or full output folder: tests/test_results_folder.py",
    "E0702": "an output folder another run is writing: tests/test_results_folder.py",
    "E0703": "an output folder that is not mgdsl's: tests/test_results_folder.py",
    "W0504": "a note of a lindistflow solve's summary, not a diagnostic: tests/test_formulations.py",
}


def test_every_code_has_a_golden_file():
    have = {p.stem.split("_")[0] for p in CASES}
    missing = sorted(set(CODES) - have - set(NOT_FROM_A_MODEL))
    assert not missing, f"error codes without a golden test: {missing}"


def test_every_code_is_explained():
    from mgdsl.errors import explain

    for code in CODES:
        text = explain(code)
        assert text.startswith(code) and len(text) > 80
