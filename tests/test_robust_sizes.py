"""Inputs whose structure alone would exhaust the machine: a model too large to lower, a chain of `use`s
deeper than Python's stack, and a used file that is not .mgd text. Each is a located error from `check`."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.sema.limits import MAX_MODEL_SIZE
from mgdsl.sema.size import model_shares

ROOT = Path(__file__).resolve().parent.parent


def errors(text: str, path: Path) -> MgdError:
    with pytest.raises(MgdError) as info:
        mgdsl.loads(text, path=str(path))
    return info.value


def storages(steps: int, count: int) -> str:
    devices = "\n".join(f"    b{i} = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)" for i in range(count))
    return (f"use stdlib\nhorizon {steps} steps of 1 min\nmicrogrid shop {{\n"
            f"    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh)\n{devices}\n}}\nminimize cost\n")


def test_a_model_too_large_to_lower_is_a_check_error(tmp_path):
    """A year of minutes for 100 batteries is half a billion variables and rows: refused at the horizon, at once."""
    t0 = time.perf_counter()
    err = errors(storages(1_000_000, 100), tmp_path / "m.mgd")
    assert time.perf_counter() - t0 < 10
    (d,) = err.diagnostics
    assert d.code == "E0004" and f"{MAX_MODEL_SIZE:,}" in d.message
    assert (d.span.line, d.span.text) == (2, "1000000")
    assert any("100 instances of `Storage`" in label.message for label in d.secondary)


def test_a_large_network_with_cones_is_a_check_error(tmp_path):
    """The branch-flow cones cost about 100 rows and variables per line and step: a network within the bus and
    bus-step limits can still be far too large."""
    lines = "\n".join(f"    line {b - 1} - {b}: r = 0.1 ohm, x = 0.1 ohm" for b in range(2, 2001))
    text = (f"horizon 20000 steps of 1 min\nnetwork dn {{\n    base 1 MVA, 12.66 kV\n    buses 1 .. 2000\n"
            f"    formulation distflow_socp(accuracy = 1e-9)\n    slack 1 buys at 0.5 yuan/kWh\n{lines}\n}}\n")
    (d,) = errors(text, tmp_path / "m.mgd").diagnostics
    assert d.code == "E0004" and d.span.line == 1
    assert any("network `dn`" in label.message for label in d.secondary)


@pytest.mark.parametrize("name", ["storage_arbitrage", "example", "ieee33_3mg"])
def test_size_estimate_is_close_to_the_lowered_model(name):
    """The estimate bounds the lowered model from above without overstating it much, so the limit means what
    it says."""
    system = mgdsl.load(ROOT / "models" / f"{name}.mgd")
    ir = system.ir
    estimate = sum(s.cells for s in model_shares(ir.templates, ir.instances, ir.steps, ir.network, ir.microgrids,
                                                 ir.switches))
    actual = system.model.nvars + system.model.ncons
    assert actual <= estimate <= 2 * actual


def test_a_long_chain_of_uses(tmp_path):
    """Each library uses the next, 1,500 deep: more than Python's recursion limit."""
    depth = 1500
    for k in range(depth):
        (tmp_path / f"lib{k}.mgd").write_text(f'use "lib{k + 1}.mgd"\nlet k{k} = {k}\n')
    (tmp_path / f"lib{depth}.mgd").write_text("device Last(p_max: kW) {\n var p[t]: kW in 0 .. p_max\n"
                                              " port electricity += p\n}\n")
    (tmp_path / "m.mgd").write_text('use "lib0.mgd"\nhorizon 2 steps of 1 h\nmicrogrid m { d = Last(p_max = 1 kW) }\n')
    system = mgdsl.load(tmp_path / "m.mgd")
    assert "Last" in system.ir.templates


def test_libraries_are_listed_after_what_they_use(tmp_path):
    (tmp_path / "a.mgd").write_text('use "b.mgd"\nlet a = b + 1\n')
    (tmp_path / "b.mgd").write_text("let b = 1\n")
    from mgdsl.sema.loader import load_program, read_source

    program = load_program(read_source(tmp_path / "a.mgd"))
    assert [Path(m.file.path).name for m in program.modules] == ["b.mgd", "a.mgd"]


def test_a_used_file_with_nul_bytes_is_not_quoted(tmp_path):
    (tmp_path / "blob.mgd").write_bytes(b"let a = 1\n\x00\x01SECRET\n")
    err = errors('use "blob.mgd"\n', tmp_path / "m.mgd")
    (d,) = err.diagnostics
    assert d.code == "E0003" and d.span.file.path.endswith("m.mgd") and "not text" in d.message
    assert "SECRET" not in err.render()


def test_data_files_together_have_a_limit(tmp_path, monkeypatch):
    """Each file within its limit, but not all of them together: checking keeps every table's text."""
    import mgdsl.sema.values as values

    monkeypatch.setattr(values, "MAX_TOTAL_DATA_BYTES", 100)
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text("x\n" + "1\n" * 30)          # 62 bytes each
    text = ('horizon 30 steps of 1 h\nprofile a = csv("a.csv", "x")\nprofile b = csv("b.csv", "x")\n'
            "let c = 1\n")
    (d,) = errors(text, tmp_path / "m.mgd").diagnostics
    assert d.code == "E0004" and "together" in d.message and d.span.line == 3


def test_csv_columns_are_read_from_quoted_ragged_and_blank_lines(tmp_path):
    """Cells are parsed again when a column is read: quoting, spaces, blank lines and empty trailing cells
    give the same values as the checked table."""
    (tmp_path / "p.csv").write_text('"name, with comma",x ,y\n\n"a",1, 2,\n b ,"3",4\n\n')
    text = ('use stdlib\nhorizon 2 steps of 1 h\nprofile x = csv("p.csv", "x")\nprofile y = csv("p.csv", "y")\n'
            "microgrid m {\n l = Load(electricity, base = 1 kW * x)\n"
            " g = ElectricityTrade(buy_price = 0.1 yuan/kWh * y)\n}\n")
    system = mgdsl.loads(text, path=str(tmp_path / "m.mgd"))
    assert list(system.ir.instances["Load"][0].values["base"]) == [1.0, 3.0]
    from mgdsl.sema.values import read_table

    table = read_table(tmp_path / "p.csv")
    assert table.header == ["name, with comma", "x", "y"]
    assert table.column("x") == ["1", "3"] and table.column("y") == ["2", "4"]
    assert list(table.lines) == [3, 4]
    assert [row for _, row in table.records()][1] == {"name, with comma": "b", "x": "3", "y": "4"}


def test_source_files_together_have_a_limit(tmp_path, monkeypatch):
    import mgdsl.sema.loader as loader

    monkeypatch.setattr(loader, "MAX_TOTAL_SOURCE_BYTES", 200)
    for name in ("a", "b"):
        (tmp_path / f"{name}.mgd").write_text(f"let {name} = 1\n" + "# padding\n" * 10)      # 108 bytes each
    err = errors('use "a.mgd"\nuse "b.mgd"\n', tmp_path / "m.mgd")
    (d,) = err.diagnostics
    assert d.code == "E0004" and "together" in d.message and d.span.text == 'use "b.mgd"'
