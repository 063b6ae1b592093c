"""A crash inside mgdsl is reported as a bug (exit 70, versions and a trace file), never as a user error or a
bare traceback; a user error that escapes a command is still rendered as a diagnostic (exit 1)."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import mgdsl.api
from mgdsl.cli import EXIT_BUG, EXIT_INPUT, main
from mgdsl.diagnostics import Diagnostic, InternalError, MgdError

ROOT = Path(__file__).resolve().parent.parent
MODEL = str(ROOT / "models" / "storage_arbitrage.mgd")


@pytest.fixture(autouse=True)
def _reports_in_tmp(monkeypatch, tmp_path):
    """Bug reports go to the temporary folder: keep them in this test's own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_an_unexpected_exception_is_a_bug_report(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(mgdsl.api, "load", broken)
    result = _run(["check", MODEL])
    assert result.exit_code == EXIT_BUG
    assert "this is a bug in mgdsl" in result.output
    assert "ZeroDivisionError: float division by zero" in result.output
    assert "Traceback" not in result.output
    where = re.search(r"the details are in (\S+)", result.output).group(1)
    report = Path(where).read_text()
    assert Path(where).parent == tmp_path
    assert "Traceback" in report and "highspy" in report and "command:" in report


def test_internal_error_is_a_bug_too(monkeypatch):
    def broken(*args, **kwargs):
        raise InternalError("partition lost a coupling")

    monkeypatch.setattr(mgdsl.api, "load", broken)
    result = _run(["solve", MODEL, "--no-save"])
    assert result.exit_code == EXIT_BUG
    assert "InternalError: partition lost a coupling" in result.output


def test_a_user_error_escaping_a_command_is_rendered(monkeypatch):
    # `mgdsl plot` does not catch MgdError itself: the command group must render it
    def gives_up(*args, **kwargs):
        raise MgdError([Diagnostic("E0603", "the solver gave up", None, help="try again")])

    monkeypatch.setattr("mgdsl.plot.plot_all", gives_up)
    result = _run(["plot", str(ROOT / "models")])
    assert result.exit_code == EXIT_INPUT
    assert "error[E0603]: the solver gave up" in result.output
    assert "Traceback" not in result.output
