"""mgdsl.plot: every figure of a small solved system (centralized and ATC) is a complete, non-trivial PNG."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import mgdsl
from mgdsl import plot

SMALL = """use stdlib
horizon 6 steps of 1 h
profile price: yuan/kWh = [0.3, 0.3, 0.6, 1.0, 1.0, 0.6]
profile shape = [0.6, 0.7, 0.9, 1.0, 0.9, 0.7]
profile wind_pu = [0.8, 0.9, 0.5, 0.3, 0.4, 0.7]

network dn {
    base 1 MVA, 12.66 kV
    voltage 0.9 .. 1.1 pu
    formulation lindistflow
    buses 1 .. 3
    slack 1 buys at price
    line 1 - 2: r = 0.5 ohm, x = 0.3 ohm
    line 2 - 3: r = 0.5 ohm, x = 0.3 ohm
    load 3: p = 200 kW * shape, q = 60 kvar * shape
    at 2: svc2 = SVC(q_min = -50 kvar, q_max = 100 kvar)
    at 3: cb3 = CapacitorBank(q_step = 25 kvar, units = 2)
}

microgrid mg1 at dn.2 limit 400 kW {
    es = Storage(electricity, capacity = 300 kWh, p_max = 150 kW)
    chp = CHP(p_max = 200 kW, ramp = 100 kW)
    gb = GasBoiler(h_max = 200 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    heat = Load(heat, base = 120 kW * shape)
    load = Load(electricity, base = 250 kW * shape)
}

microgrid mg2 at dn.3 limit 300 kW {
    wt = Wind(p_max = 200 kW, profile = wind_pu)
    es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)
    hs = Storage(heat, capacity = 200 kWh, p_max = 80 kW)
    chp = CHP(p_max = 100 kW)
    gb = GasBoiler(h_max = 150 kW)
    gas = GasSupply(price = 0.35 yuan/kWh)
    heat = Load(heat, base = 100 kW * shape)
    load = FlexibleLoad(electricity, base = 180 kW * shape, shift = 20 %, curtail = 5 %)
}
"""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def central():
    return mgdsl.loads(SMALL).solve()


@pytest.fixture(scope="module")
def atc_run():
    system = mgdsl.loads(SMALL)
    return system.solve_atc(system.atc_options(tolerance=1e-2))       # a few iterations are enough here


def assert_png(path, expected: Path) -> None:
    path = Path(path)
    assert path == expected
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    assert len(data) > 10_000                     # axes, labels and data, not a blank canvas
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]   # no temporary left


def test_power_balance(central, tmp_path):
    out = tmp_path / "balance_mg2.png"
    assert_png(plot.power_balance(central, "mg2", out), out)
    heat = tmp_path / "heat_mg1.png"
    assert_png(plot.power_balance(central, "mg1", heat, carrier="heat"), heat)


def test_power_balance_unknown_microgrid(central, tmp_path):
    with pytest.raises(ValueError, match="nothing injects electricity in 'nope'"):
        plot.power_balance(central, "nope", tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_balance_closes(central):
    """What the balance figure stacks (device injections + tie import) sums to zero in a centralized solve."""
    for mg in ("mg1", "mg2"):
        total = central["ties"]["import"].sel(microgrid=mg).values.copy()
        for ds in central.datasets.values():
            if "owner" in ds.coords and "electricity_injection" in ds:
                total += ds["electricity_injection"].where(ds["owner"] == mg, 0).sum("instance").values
        np.testing.assert_allclose(total, 0, atol=1e-6)


def test_voltage_heatmap(central, tmp_path):
    out = tmp_path / "voltage.png"
    assert_png(plot.voltage_heatmap(central, "dn", out), out)
    with pytest.raises(ValueError, match="no network 'xx'"):
        plot.voltage_heatmap(central, "xx", tmp_path / "v2.png")


def test_reactive_compensation(central, tmp_path):
    out = tmp_path / "reactive.png"
    assert_png(plot.reactive_compensation(central, "dn", out), out)


def test_storage(central, tmp_path):
    out = tmp_path / "storage.png"
    assert_png(plot.storage(central, out), out)
    one = tmp_path / "sub" / "es.png"                 # missing folders are created
    assert_png(plot.storage(central, one, instances=["mg1.es", "mg2.hs"]), one)
    with pytest.raises(KeyError, match="mg9.es"):
        plot.storage(central, tmp_path / "x.png", instances=["mg9.es"])


def test_atc_convergence(atc_run, tmp_path):
    a = tmp_path / "conv_iterations.png"
    assert_png(plot.atc_convergence(atc_run.iterations, a, tolerance=1e-2, currency="yuan"), a)
    zero = [{"iteration": 1, "objective": 100.0, "inconsistency_pu": 0.5},     # the summary.json form,
            {"iteration": 2, "objective": 101.0, "inconsistency_pu": 0.0}]     # an exact zero on the log scale
    b = tmp_path / "conv_zero.png"
    assert_png(plot.atc_convergence(zero, b), b)


def test_tie_convergence(tmp_path):
    hist = {"tie.mg1": [np.array([0.0, 10, 20, 5, 5, 5]), np.array([5.0, 12, 18, 5, 5, 5])],
            "tie.mg2": np.array([[1.0, 2, 3, 4, 5, 6], [1.5, 2, 3, 4, 5, 6]])}
    out = tmp_path / "ties.png"
    assert_png(plot.tie_convergence(hist, out, hours=[1, 2]), out)


def test_purchase_comparison(atc_run, central, tmp_path):
    out = tmp_path / "purchase.png"
    assert_png(plot.purchase_comparison(atc_run.results, central, "dn", out), out)


def test_plot_all(central, atc_run, tmp_path):
    history = atc_run.results.summary["atc"]["history"]
    assert history and {"iteration", "objective", "inconsistency_pu"} <= set(history[0])
    paths = plot.plot_all(central, tmp_path / "figs", history=history)
    names = [p.name for p in paths]
    assert names == ["balance_mg1.png", "balance_mg2.png", "voltage.png", "reactive.png", "storage.png",
                     "convergence.png"]
    for p in paths:
        assert_png(p, p)
    assert sorted(os.listdir(tmp_path / "figs")) == sorted(names)


def test_saved_directory(central, tmp_path):
    """A results directory written by Results.save works like the Results object."""
    central.save(tmp_path / "res")
    out = tmp_path / "voltage.png"
    assert_png(plot.voltage_heatmap(tmp_path / "res", "dn", out), out)


def test_plot_all_without_network(central, tmp_path):
    """Network figures are skipped when there is no network (here: its datasets left out of a mapping)."""
    data = {name: ds for name, ds in central.datasets.items() if name not in ("dn", "ties", "SVC", "CapacitorBank")}
    assert [p.name for p in plot.plot_all(data, tmp_path)] == ["balance_mg1.png", "balance_mg2.png", "storage.png"]
    with pytest.raises(ValueError, match="networks in these results: none"):
        plot.voltage_heatmap(data, None, tmp_path / "v.png")
