"""`--allow-read DIR` on the command line: a model reads beyond its own folder only where the user says so."""
from __future__ import annotations

from click.testing import CliRunner

from mgdsl.cli import EXIT_INPUT, main

MODEL = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = csv("../data/price.csv", "p")
microgrid m {
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = 10 kW)
}
"""


def _layout(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "price.csv").write_text("p\n1\n2\n3\n")
    model = tmp_path / "model" / "m.mgd"
    model.write_text(MODEL)
    return model


def test_reading_outside_the_model_folder_needs_allow_read(tmp_path):
    model = _layout(tmp_path)
    refused = CliRunner().invoke(main, ["check", str(model)])
    assert refused.exit_code == EXIT_INPUT
    assert "E0405" in refused.output and "--allow-read" in refused.output
    allowed = CliRunner().invoke(main, ["check", str(model), "--allow-read", str(tmp_path / "data")])
    assert allowed.exit_code == 0, allowed.output


def test_solve_with_allow_read_uses_the_data(tmp_path):
    model = _layout(tmp_path)
    result = CliRunner().invoke(main, ["solve", str(model), "--no-save", "--json",
                                       "--allow-read", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    # 10 kW bought for one hour at each of 1, 2, 3 yuan/kWh
    assert '"objective": 60.0' in result.output
