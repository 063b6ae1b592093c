"""`mgdsl init NAME`: the project it writes checks, solves (the battery works the price spread), is in the canonical
layout, and its README names the next commands; an occupied or unwritable place is refused and left as it was."""
from __future__ import annotations

from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.syntax.parser import parse_text
from mgdsl.syntax.printer import format_module


def test_init_writes_a_project_that_checks_and_solves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["init", "mygrid"])
    assert r.exit_code == 0, r.output
    root = tmp_path / "mygrid"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == \
        ["README.md", "data", "data/profiles.csv", "mygrid.mgd"]
    assert "mgdsl check mygrid.mgd" in r.output
    assert not list(tmp_path.glob(".mygrid*"))                      # no staging folder left
    text = (root / "mygrid.mgd").read_text(encoding="utf-8")
    assert format_module(parse_text(text)) == text                   # `mgdsl fmt` would not change it
    system = mgdsl.load(root / "mygrid.mgd")
    assert not system.warnings
    results = system.solve()
    assert results.summary["status"] == "optimal" and results.objective > 0
    storage = results["Storage"]
    assert float(storage["dis"].sum()) > 10                          # the battery is used
    readme = (root / "README.md").read_text(encoding="utf-8")
    for step in ("mgdsl check mygrid.mgd", "mgdsl solve mygrid.mgd", "results/mygrid/", "mgdsl templates",
                 "data/profiles.csv", "docs/editors.md"):
        assert step in readme


def test_init_into_an_empty_folder_and_not_into_a_full_one(tmp_path):
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(main, ["init", str(tmp_path / "empty")]).exit_code == 0
    assert (tmp_path / "empty" / "empty.mgd").is_file()
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine", encoding="utf-8")
    r = CliRunner().invoke(main, ["init", str(full)])
    assert r.exit_code == 2 and "not an empty folder" in r.output
    assert [p.name for p in full.iterdir()] == ["notes.txt"]


def test_init_where_nothing_can_be_written(tmp_path):
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    r = CliRunner().invoke(main, ["init", str(tmp_path / "a_file" / "proj")])
    assert r.exit_code == 5 and "cannot write" in r.output
