"""Studies: each writes its CSV and PNG with one row per run, from real ATC and centralized solves."""
from __future__ import annotations

import csv

import mgdsl
from mgdsl.solve.atc import ATCOptions
from mgdsl.study import initial_values, replicate_microgrids, scale_sweep, tolerance_sweep

from .atc_cases import CONTINUOUS


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_tolerance_sweep(tmp_path):
    out = tolerance_sweep(mgdsl.loads(CONTINUOUS).ir, tmp_path, ATCOptions(), (1e-2, 1e-4), progress=lambda s: None)
    saved = rows(tmp_path / "tolerance_sweep.csv")
    assert [float(r["tolerance"]) for r in saved] == [1e-2, 1e-4]
    assert int(saved[1]["iterations"]) >= int(saved[0]["iterations"])        # tighter takes longer
    assert abs(out[1]["deviation_pct"]) < 0.1
    assert (tmp_path / "tolerance_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replicate_microgrids_adds_copies_at_free_buses():
    ir = mgdsl.loads(CONTINUOUS).ir
    big = replicate_microgrids(ir, 3)
    assert sorted(big.microgrids) == ["a", "a_x1", "b"]
    copy = big.microgrids["a_x1"]
    assert copy.bus not in (1, 3, 4) and copy.limit_kw == ir.microgrids["a"].limit_kw
    names = {i.name for insts in big.instances.values() for i in insts if i.owner == "a_x1"}
    assert names == {n.replace("a.", "a_x1.", 1) for insts in ir.instances.values() for i in insts
                     if i.owner == "a" for n in [i.name]}


def test_scale_sweep_and_initial_values(tmp_path):
    ir = mgdsl.loads(CONTINUOUS).ir
    out = scale_sweep(ir, tmp_path, ATCOptions(tolerance=1e-4), (2, 3), progress=lambda s: None)
    assert [r["microgrids"] for r in out] == [2, 3]
    assert out[1]["centralized_cost"] > out[0]["centralized_cost"]            # one more loaded microgrid
    assert all(abs(r["deviation_pct"]) < 0.1 for r in out)
    init = initial_values(ir, tmp_path, ATCOptions(tolerance=1e-4), seeds=2, progress=lambda s: None)
    assert len(rows(tmp_path / "initial_values.csv")) == 2
    # random starts land within a small spread of the optimum (the paper reports ~0.2 %)
    assert all(abs(r["deviation_pct"]) < 0.5 for r in init)
    assert (tmp_path / "scale_sweep.png").exists() and (tmp_path / "initial_values.png").exists()


def test_study_command_rejects_a_bad_list_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from mgdsl.cli import main

    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    for args in (["tolerance", str(path), "--tolerances", "1e-2,abc"], ["scale", str(path), "--microgrids", "3,x"]):
        r = CliRunner().invoke(main, ["study", *args])
        assert r.exit_code == 2 and "comma-separated list" in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)


def test_study_command_adds_its_files_to_the_study_folder(tmp_path):
    from click.testing import CliRunner

    from mgdsl.cli import main

    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    out = tmp_path / "study"
    out.mkdir()
    (out / "initial_values.csv").write_text("seed\n0\n")       # another study's table, from an earlier version
    r = CliRunner().invoke(main, ["study", "tolerance", str(path), "--tolerances", "1e-2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {"initial_values.csv", "tolerance_sweep.csv", "tolerance_sweep.png",
                                               ".mgdsl-output"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []      # no lock, no staging left
