"""What a decomposed solve shows while it runs: rows (plain), rows with a ticking status line (terminal), and
JSON Lines events on stderr with --json while stdout keeps the summary."""
from __future__ import annotations

import io
import json

from click.testing import CliRunner
from rich.console import Console

import mgdsl
from mgdsl.cli import main
from mgdsl.progress import ATCProgress, progress_mode

from .atc_cases import CONTINUOUS


def test_json_events_follow_the_run(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    r = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--json", "--no-save",
                                  "--tolerance", "1e-4"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)                       # stdout: the summary only
    events = [json.loads(line) for line in r.stderr.splitlines()]
    assert events[0]["event"] == "start" and events[0]["method"] == "atc" and events[0]["tolerance_pu"] == 1e-4
    assert events[-1]["event"] == "end" and events[-1]["converged"] is True
    iterations = [e for e in events if e["event"] == "iteration"]
    assert [e["k"] for e in iterations] == list(range(1, summary["atc"]["iterations"] + 1))
    assert iterations[-1]["inconsistency_pu"] <= 1e-4
    assert iterations[-1]["objective"] == events[-1]["objective"] == summary["objective"]
    assert all(0 <= e["t"] < 4 for e in iterations)     # t counted from 0, as in the results
    assert all(e["elapsed_s"] >= e["seconds"] for e in iterations)


def test_plain_rows_one_per_iteration_with_admm(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    r = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--method", "admm", "--no-save"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("ADMM on ")
    rows = [line for line in r.output.splitlines() if line[:4].strip().isdigit()]
    iterations = int(r.output.split("converged after ")[1].split()[0])
    assert len(rows) == iterations and "\x1b[" not in r.output          # no live display when not a terminal


def test_live_status_line_on_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    assert progress_mode(console, as_json=False) == "live"
    system = mgdsl.loads(CONTINUOUS)
    options = system.atc_options(tolerance=1e-3)
    with ATCProgress(console, "live", "m.mgd", options) as progress:
        assert progress.status_text().startswith("building and solving the first iteration")
        run = system.solve_atc(options, progress=progress)
        status = progress.status_text()
    assert status.startswith(f"iteration {len(run.iterations) + 1} of at most 100")
    assert f"objective {run.objective:,.2f}" in status
    assert buffer.getvalue().count("tie.") >= len(run.iterations)      # every row printed above the status
