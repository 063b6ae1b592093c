"""ATC decomposition: agreement with the centralized optimum, the information boundary between
subproblems, MILP children, options, executors, and the failure modes a user meets."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import main
from mgdsl.decompose.partition import partition
from mgdsl.diagnostics import MgdError
from mgdsl.highs import hipo_available, new_highs
from mgdsl.solve.atc import ATCOptions, run_atc

from .atc_cases import CONTINUOUS, MILP, optimum_with_fixed_couplings

# the quadratic penalty needs HiPO (highspy-extras of highspy's version); without it ATC refuses it (E0606,
# tested in tests/test_highs_qp.py)
needs_hipo = pytest.mark.skipif(not hipo_available(), reason="HiPO not available (highspy-extras must match highspy)")


@pytest.fixture(scope="module")
def central():
    return mgdsl.loads(CONTINUOUS).solve().objective


@pytest.mark.parametrize("penalty", ["pwl", pytest.param("quadratic", marks=needs_hipo)])
def test_atc_reaches_the_centralized_optimum(penalty, central):
    run = run_atc(mgdsl.loads(CONTINUOUS).ir, ATCOptions(penalty=penalty, tolerance=1e-4))
    assert run.converged
    assert abs(run.objective - central) / abs(central) < 1e-3
    for pid, value in run.responses.items():
        coupling = pid.split("@")[0]
        assert np.max(np.abs(run.targets[coupling] - value)) <= 1e-4 * 1000 + 1e-6   # tolerance in kW
    # ATC's tie-line values are optimal ones: fixing them leaves the centralized optimum unchanged
    fixed = optimum_with_fixed_couplings(CONTINUOUS, run.targets, slack_kw=0.2)
    assert abs(fixed - central) / abs(central) < 1e-3


def test_l1_penalty_reaches_consistency(central):
    """l1 is an exact penalty: it reaches consistency, but may stop at a consistent point above the optimum
    (documented in docs/atc.md). Its answer is feasible, so it is an upper bound of the optimum."""
    run = run_atc(mgdsl.loads(CONTINUOUS).ir, ATCOptions(penalty="l1", tolerance=1e-3))
    assert run.converged and run.iterations[-1].inconsistency <= 1e-3
    assert run.objective >= central * (1 - 1e-4)
    fixed = optimum_with_fixed_couplings(CONTINUOUS, run.targets, slack_kw=0.5)
    assert fixed == pytest.approx(run.objective, rel=1e-3)      # its reported cost is the cost of its ties


def test_results_have_the_centralized_form(central):
    system = mgdsl.loads(CONTINUOUS)
    run = system.solve_atc(system.atc_options(tolerance=1e-4))
    res = run.results
    assert set(res.datasets) >= {"Storage", "CHP", "dn", "ties"}
    assert sorted(res["Storage"].instance.values) == ["a.es", "b.es"]
    assert res["ties"]["import"].shape == (2, 4)
    assert res.summary["atc"]["converged"] is True
    assert sum(res.costs.values()) == pytest.approx(run.objective, rel=1e-9)


def test_milp_child_reaches_consistency():
    system = mgdsl.loads(MILP)
    central = system.solve().objective
    run = run_atc(mgdsl.loads(MILP).ir, ATCOptions(penalty="pwl", tolerance=1e-4))
    assert run.converged and run.iterations[-1].inconsistency <= 1e-4
    # MILP children have no duality theory to lean on; ATC still lands within a small gap of the optimum
    # (it may sit a hair below it: the last iterate is consistent only to the tolerance)
    assert -2e-4 < (run.objective - central) / abs(central) < 0.02


def test_milp_parts_with_held_integers_still_end_on_a_milp_solve():
    """fix_integers: after two unchanged MILP solves a part re-solves as an LP with its integers held; before
    accepting convergence every part is solved with its integers free again."""
    central = mgdsl.loads(MILP).solve().objective
    run = run_atc(mgdsl.loads(MILP).ir, ATCOptions(penalty="pwl", tolerance=1e-4, fix_integers=2))
    assert run.converged and run.iterations[-1].inconsistency <= 1e-4
    assert any(it.integers_held for it in run.iterations)
    assert not run.iterations[-1].integers_held
    assert -2e-4 < (run.objective - central) / abs(central) < 0.02


def test_quadratic_penalty_with_binaries_is_refused_before_solving():
    with pytest.raises(MgdError) as e:
        run_atc(mgdsl.loads(MILP).ir, ATCOptions(penalty="quadratic"))
    d = e.value.diagnostics[0]
    assert d.code == "E0604" and "`a`" in d.message and "pwl" in d.help


def test_processes_executor_matches_serial():
    ir = mgdsl.loads(CONTINUOUS).ir
    serial = run_atc(ir, ATCOptions(tolerance=1e-4))
    procs = run_atc(ir, ATCOptions(tolerance=1e-4, executor="processes", workers=2))
    assert len(procs.iterations) == len(serial.iterations)
    assert procs.objective == pytest.approx(serial.objective, rel=1e-9)


def test_random_initial_targets_are_reproducible():
    ir = mgdsl.loads(CONTINUOUS).ir
    a = run_atc(ir, ATCOptions(initial="random", seed=3, max_iterations=3))
    b = run_atc(ir, ATCOptions(initial="random", seed=3, max_iterations=3))
    c = run_atc(ir, ATCOptions(initial="random", seed=4, max_iterations=3))
    assert [i.objective for i in a.iterations] == [i.objective for i in b.iterations]
    assert [i.objective for i in a.iterations] != [i.objective for i in c.iterations]


def test_clusters_as_children():
    text = CONTINUOUS + "cluster both = {a, b}\n"
    p = partition(mgdsl.loads(text).ir, "clusters")
    assert [c.name for c in p.children] == ["both"]
    run = run_atc(mgdsl.loads(text).ir, ATCOptions(children="clusters", tolerance=1e-4))
    central = mgdsl.loads(text).solve().objective
    assert run.converged and abs(run.objective - central) / abs(central) < 1e-3


def test_child_to_child_couplings_go_through_the_parent():
    text = CONTINUOUS.replace("es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)",
                              "es = Storage(electricity, capacity = 200 kWh, p_max = 100 kW)\n"
                              "    hin = Import(heat, p_max = 50 kW)") \
        .replace("gb = GasBoiler(h_max = 200 kW)",
                 "gb = GasBoiler(h_max = 200 kW)\n    hout = Export(heat, p_max = 50 kW)")
    text += "switch k between a and b limit 100 kW\n"
    text = text.replace("load = Load(electricity, base = 150 kW * shape)",
                        "load = Load(electricity, base = 150 kW * shape)\n    hl = Load(heat, base = 20 kW)")
    text += "couple pipe: a.hout.p == b.hin.p\n"
    ir = mgdsl.loads(text).ir
    p = partition(ir)
    aux = [c for c in p.couplings if not c.target_in_parent]
    assert {c.id for c in aux} == {"switch.k.flow", "switch.k.closed", "couple.pipe"}
    assert all(sorted(c.responders) == ["a", "b"] for c in aux)
    run = run_atc(ir, ATCOptions(tolerance=1e-3))
    assert run.converged
    central = mgdsl.loads(text).solve().objective
    assert -2e-3 < (run.objective - central) / abs(central) < 0.02


# ---------------------------------------------------------------- the information boundary
MARKED = CONTINUOUS.replace("capacity = 200 kWh", "capacity = 271.828 kWh").replace("p_max = 300 kW, profile",
                                                                                     "p_max = 314.159 kW, profile")


def _read_back(path: Path) -> tuple[list[str], np.ndarray]:
    """The column and row names of a written model file, and every number in it (costs, bounds, row bounds,
    matrix), as HiGHS reads them back: the test speaks of the model, not of how a writer formats numbers
    (HiGHS 1.16 writes 244.64519999999999 where 1.15 wrote 244.6452)."""
    h = new_highs()
    assert str(h.readModel(str(path))).endswith("kOk"), path
    lp = h.getLp()
    values = np.concatenate([np.asarray(a, dtype=float) for a in (
        lp.col_cost_, lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_, lp.a_matrix_.value_)])
    return list(lp.col_names_) + list(lp.row_names_), values


def _coordinates(name: str) -> list[str]:
    """`Storage.e(b.es,3)` -> ["b.es", "3"]; `balance(dn.3.electricity,0)` -> ["dn.3.electricity", "0"]."""
    inside = re.fullmatch(r"[^()]*\((.*)\)", name)
    return inside.group(1).split(",") if inside else []


def _holds(values: np.ndarray, x: float) -> bool:
    return bool(np.any(np.isclose(values, x, rtol=1e-9, atol=0)))


@pytest.mark.parametrize("fmt", ["lp", "mps"])
def test_subproblem_files_hold_only_their_own_data(tmp_path, fmt):
    system = mgdsl.loads(MARKED)
    system.write_subproblems(tmp_path, fmt=fmt)
    models = {p.stem: _read_back(p) for p in tmp_path.glob(f"*.{fmt}")}
    assert set(models) == {"dn", "a", "b"}
    manifest = json.loads((tmp_path / "couplings.json").read_text())
    assert {c["id"] for c in manifest["couplings"]} == {"tie.a", "tie.b"}
    owner_of = {i.name: i.owner for insts in system.ir.instances.values() for i in insts}
    subsystems = set(system.ir.owners())                       # dn, a, b
    for part, (names, _) in models.items():
        assert names, f"{part}'s file has no names"
        for name in names:
            coords = _coordinates(name)
            # another part's instance (b.es in a's file) or another subsystem's node (dn.3.electricity)
            foreign = [c for c in coords if (c in owner_of and owner_of[c] != part)
                       or (c.split(".")[0] in subsystems - {part} and c.count(".") >= 1)]
            assert not foreign, f"{part}'s file has {name}: data of {foreign}"
            if part != "dn":
                assert not name.startswith("dn."), f"{part}'s file holds the network's {name}"
    # b's parameters (271.828 kWh * 0.9 and * 0.1, 314.159 kW * 0.9) are in b's model, and nowhere else
    marked = [244.6452, 27.1828, 282.7431, 271.828, 314.159]
    assert _holds(models["b"][1], 244.6452) and _holds(models["b"][1], 282.7431)
    for part in ("dn", "a"):
        leaked = [x for x in marked if _holds(models[part][1], x)]
        assert not leaked, f"{part}'s model holds b's values {leaked}"


def test_subproblem_objects_hold_only_their_own_data():
    system = mgdsl.loads(MARKED)
    p = partition(system.ir)
    for part in p.parts:
        owners = {i.owner for insts in part.ir.instances.values() for i in insts}
        assert owners <= set(part.owners)
        if not part.is_parent:
            assert part.ir.network is None and set(part.ir.microgrids) == set(part.owners)
        else:
            # the parent knows each tied microgrid's interface (bus, limit), not its devices
            assert not any(i.owner in system.ir.microgrids for insts in part.ir.instances.values() for i in insts)


# ---------------------------------------------------------------- failure modes, options, command line
def test_infeasible_child_is_named_with_its_declarations():
    text = CONTINUOUS.replace("load = Load(electricity, base = 150 kW * shape)",
                              "load = Load(electricity, base = 900 kW)")
    with pytest.raises(MgdError) as e:
        run_atc(mgdsl.loads(text).ir, ATCOptions())
    d = e.value.diagnostics[0]
    assert d.code == "E0601" and "subproblem `b`" in d.message
    files = {l.span.file.path for l in d.secondary} | {d.span.file.path}
    assert "stdlib/loads.mgd" in files


def test_non_convergence_exits_3_and_writes_the_last_iterate(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--max-iterations", "2",
                                  "--tolerance", "1e-6", "-o", str(out)])
    assert r.exit_code == 3
    text = r.output + getattr(r, "stderr", "")
    assert "did not converge" in text and "tie.a@a" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "not converged" and summary["atc"]["converged"] is False
    assert (out / "Storage.nc").exists()


def test_cli_solve_compare_and_json(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    r = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--compare", "--tolerance", "1e-4",
                                  "--json", "--no-save"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout if hasattr(r, "stdout") else r.output)
    cmp = summary["atc"]["compare"]
    assert abs(cmp["relative_gap"]) < 1e-3
    assert summary["atc"]["time_s"]["subproblem_solves"] > 0
    assert summary["atc"]["history"][0]["iteration"] == 1


def test_cli_stopping_options_reach_the_driver(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    bad = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--max-weight", "0"])
    assert bad.exit_code == 2 and "max_weight: must be > 0" in bad.output
    # a loose multiplier test and a low cap still converge, to a consistent point
    r = CliRunner().invoke(main, ["solve", str(path), "--decompose", "atc", "--tolerance", "1e-4", "--max-weight",
                                  "2", "--dual-tolerance", "1e-2", "--json", "--no-save"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout if hasattr(r, "stdout") else r.output)
    assert summary["atc"]["converged"] is True and summary["atc"]["final_inconsistency_pu"] <= 1e-4
    assert summary["atc"]["options"]["max_weight"] == 2 and summary["atc"]["options"]["dual_tolerance"] == 1e-2


def test_cli_compile_decompose(tmp_path):
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS)
    r = CliRunner().invoke(main, ["compile", str(path), "--decompose", "atc", "-o", str(tmp_path / "sub"),
                                  "--format", "mps"])
    assert r.exit_code == 0, r.output
    # (not the dot-files that mark the folder as mgdsl's output)
    written = sorted(p.name for p in (tmp_path / "sub").iterdir() if not p.name.startswith("."))
    assert written == ["a.mps", "b.mps", "couplings.json", "dn.mps"]


def test_decompose_block_sets_options_and_is_checked():
    system = mgdsl.loads(CONTINUOUS + "decompose atc {\n    penalty quadratic\n    tolerance 1e-4\n    beta 2.2\n}\n")
    opts = system.atc_options()
    assert (opts.penalty, opts.tolerance, opts.beta) == ("quadratic", 1e-4, 2.2)
    assert system.atc_options(penalty="l1").penalty == "l1"          # the command line wins
    with pytest.raises(MgdError) as e:
        mgdsl.loads(CONTINUOUS + "decompose atc {\n    penalti pwl\n}\n")
    assert e.value.diagnostics[0].code == "E0504" and "penalty" in e.value.diagnostics[0].help


def test_unknown_executor_is_reported_by_check_at_its_value(tmp_path):
    """An unknown executor used to pass `mgdsl check` and crash at solve; it is an E0504 at the word."""
    with pytest.raises(MgdError) as e:
        mgdsl.loads(CONTINUOUS + "decompose atc {\n    executor daskk\n}\n")
    (d,) = e.value.diagnostics
    assert d.code == "E0504" and "`daskk`" in d.message
    assert d.span.file.text[d.span.start:d.span.end] == "daskk"
    assert "did you mean `dask`?" in d.help and "serial, processes, dask" in d.help
    path = tmp_path / "m.mgd"
    path.write_text(CONTINUOUS + "decompose atc {\n    executor daskk\n}\n")
    r = CliRunner().invoke(main, ["check", str(path)])
    assert r.exit_code == 1 and "E0504" in r.output and "Traceback" not in r.output
    with pytest.raises(ValueError, match="serial, processes, dask"):
        ATCOptions(executor="daskk").check()


def test_subproblem_time_limit_is_read_from_the_block_and_checked():
    opts = mgdsl.loads(CONTINUOUS + "decompose atc {\n    subproblem_time_limit 2 min\n}\n").atc_options()
    assert opts.subproblem_time_limit == 120.0
    assert ATCOptions().subproblem_time_limit == 300.0                 # the documented default
    with pytest.raises(MgdError) as e:
        mgdsl.loads(CONTINUOUS + "decompose atc {\n    subproblem_time_limit 0\n}\n")
    assert e.value.diagnostics[0].code == "E0404" and "subproblem_time_limit" in e.value.diagnostics[0].message


@pytest.mark.parametrize("text", [CONTINUOUS, MILP], ids=["lp-parts", "milp-part"])
def test_subproblem_that_reaches_its_time_limit_stops_atc_with_E0605(text):
    with pytest.raises(MgdError) as e:
        run_atc(mgdsl.loads(text).ir, ATCOptions(subproblem_time_limit=1e-9))
    (d,) = e.value.diagnostics
    assert d.code == "E0605"
    assert re.match(r"subproblem `\w+` \(ATC iteration 1\): HiGHS reached the subproblem time limit", d.message)
    assert "subproblem_time_limit" in d.help
