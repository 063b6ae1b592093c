"""Output folders are whole or absent: a run killed at any moment leaves the complete old or the complete new
folder (never a mix), a second run is refused, a user's folder is never replaced, and unwritable or full
disks end in one-line E07xx errors with exit code 5, not tracebacks."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

import mgdsl
from mgdsl import files
from mgdsl.cli import EXIT_OUTPUT, main
from mgdsl.diagnostics import MgdError
from mgdsl.files import MARKER, results_folder

ROOT = Path(__file__).resolve().parent.parent
ARBITRAGE = ROOT / "models" / "storage_arbitrage.mgd"
MGDSL = str(Path(sys.executable).with_name("mgdsl"))

# a second model with other templates (PV, no Storage), so a mix of two runs shows in the file names
SUNNY = """use stdlib
horizon 3 steps of 1 h
profile price: yuan/kWh = [0.2, 0.5, 1.0]
profile sun = [0.0, 0.8, 0.3]

microgrid home {
    pv = PV(p_max = 50 kW, profile = sun)
    grid = ElectricityTrade(buy_price = price, sell_price = price)
    load = Load(electricity, base = 20 kW)
}
"""


def run_cli(args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output                 # click >= 8.2: stdout and stderr, interleaved


def leftovers(parent: Path) -> list[str]:
    """Working files of mgdsl left anywhere under `parent`: temporaries, staging and old folders, locks."""
    return sorted(str(p.relative_to(parent)) for p in parent.rglob(".*") if p.name != MARKER)


def codes(err: MgdError) -> set[str]:
    return {d.code for d in err.diagnostics}


# ------------------------------------------------------------------------------------ the swap, in-process
def write_run(target: Path, tag: str, names: list[str], **kw) -> None:
    with results_folder(target, **kw) as staging:
        for name in names:
            files.atomic_write(staging / name, lambda p: Path(p).write_text(tag))
        files.atomic_write(staging / "summary.json", lambda p: Path(p).write_text(json.dumps({"model": tag})))


def test_a_new_run_replaces_every_file_and_keeps_sub_folders(tmp_path):
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv", "shared.csv"])
    (out / "study").mkdir()
    (out / "study" / "tolerance_sweep.csv").write_text("rows")
    write_run(out, "b", ["shared.csv"])
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "shared.csv", "study", "summary.json"]
    assert (out / "shared.csv").read_text() == "b" and (out / "study" / "tolerance_sweep.csv").read_text() == "rows"
    assert leftovers(tmp_path) == []


def test_hidden_files_are_kept_and_a_symlinked_folder_is_written_where_it_points(tmp_path):
    real = tmp_path / "real"
    write_run(real, "a", ["a1.csv"])
    (real / ".gitignore").write_text("*.nc\n")
    (tmp_path / "link").symlink_to(real)
    write_run(tmp_path / "link", "b", ["b1.csv"])
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in real.iterdir()) == [".gitignore", MARKER, "b1.csv", "summary.json"]


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    dead = tmp_path / ".m.lp.999999999.abcd1234.tmp.lp"          # no process has that pid
    alive = tmp_path / f".m.lp.{os.getpid()}.abcd1234.tmp.lp"
    dead.write_text("half")
    alive.write_text("being written")
    files.atomic_write(tmp_path / "m.lp", lambda p: Path(p).write_text("model"))
    assert not dead.exists() and alive.exists() and (tmp_path / "m.lp").read_text() == "model"


def test_keep_all_adds_files_to_the_folder(tmp_path):
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv"])
    with results_folder(out, keep="all") as staging:
        (staging / "figure.png").write_bytes(b"png")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a1.csv", "figure.png", "summary.json"]


def test_swap_without_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv"])
    write_run(out, "b", ["b1.csv"])
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b1.csv", "summary.json"]
    assert leftovers(tmp_path) == []


def test_the_old_folder_of_a_run_killed_between_its_two_renames_is_restored(tmp_path):
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv"])
    out.rename(tmp_path / ".res.old-abcd1234")
    (tmp_path / ".res.staging-efgh5678").mkdir()
    with results_folder(out, keep="all"):
        assert (out / "a1.csv").read_text() == "a"                 # restored before this run writes
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a1.csv", "summary.json"]
    assert leftovers(tmp_path) == []


def test_an_exception_leaves_the_old_folder_and_no_staging(tmp_path):
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv"])
    with pytest.raises(ZeroDivisionError), results_folder(out) as staging:
        (staging / "b1.csv").write_text("b")
        raise ZeroDivisionError("a failure inside the block")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a1.csv", "summary.json"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("content", [["notes.txt"], ["src/main.py"]])
def test_a_folder_that_is_not_mgdsl_output_is_refused_and_left_alone(tmp_path, content):
    user = tmp_path / "mine"
    for name in content:
        (user / name).parent.mkdir(parents=True, exist_ok=True)
        (user / name).write_text("keep me")
    with pytest.raises(MgdError) as err:
        write_run(user, "a", ["a1.csv"])
    assert codes(err.value) == {"E0703"} and "is not an mgdsl results folder" in str(err.value)
    assert sorted(str(p.relative_to(user)) for p in user.rglob("*") if p.is_file()) == content
    assert leftovers(tmp_path) == []


def test_a_file_in_the_way_is_refused_an_empty_folder_is_fine(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MgdError) as err:
        write_run(tmp_path / "file", "a", [])
    assert codes(err.value) == {"E0703"} and (tmp_path / "file").read_text() == "x"
    (tmp_path / "empty").mkdir()
    write_run(tmp_path / "empty", "a", ["a1.csv"])
    assert (tmp_path / "empty" / "a1.csv").read_text() == "a"


def test_a_results_folder_holding_only_a_study_may_be_replaced(tmp_path):
    out = tmp_path / "res"
    write_run(out / "study", "s", ["tolerance_sweep.csv"])
    write_run(out, "a", ["a1.csv"])
    assert (out / "study" / "tolerance_sweep.csv").read_text() == "s" and (out / "a1.csv").exists()


def test_a_second_run_is_refused_while_the_first_writes(tmp_path):
    out = tmp_path / "res"
    with results_folder(out) as staging:
        (staging / "a.csv").write_text("a")
        with pytest.raises(MgdError) as err:
            write_run(out, "b", ["b.csv"])
        assert codes(err.value) == {"E0702"} and f"process {os.getpid()}" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.csv"]
    assert leftovers(tmp_path) == []


def test_a_folder_is_not_replaced_while_a_study_writes_inside_it(tmp_path):
    out = tmp_path / "res"
    write_run(out, "a", ["a1.csv"])
    with results_folder(out / "study", keep="all") as staging:
        (staging / "tolerance_sweep.csv").write_text("s")
        with pytest.raises(MgdError) as err:
            write_run(out, "b", ["b1.csv"])
        assert codes(err.value) == {"E0702"} and "study" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a1.csv", "study", "summary.json"]


def _crash_after(steps: int) -> None:
    """In a forked child: die (as by SIGKILL: no cleanup) at the `steps`-th file-system change."""
    count = [0]

    def step(real):
        def wrapped(*args, **kwargs):
            count[0] += 1
            if count[0] > steps:
                os._exit(9)
            return real(*args, **kwargs)
        return wrapped

    for name in ("replace", "rename", "rmdir", "link", "unlink"):
        setattr(os, name, step(getattr(os, name)))
    files.shutil.rmtree = step(files.shutil.rmtree)
    files._exchange = step(files._exchange)


def assert_whole(out: Path, runs: dict[str, list[str]]) -> str | None:
    """The folder is absent, or exactly one run's complete files: returns that run's tag."""
    if not out.exists():
        return None
    tag = json.loads((out / "summary.json").read_text())["model"]
    assert sorted(p.name for p in out.iterdir()) == sorted(runs[tag] + ["summary.json", MARKER]), tag
    assert all((out / name).read_text() == tag for name in runs[tag])
    return tag


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_killed_at_every_step_the_folder_is_old_or_new_and_the_next_run_cleans_up(tmp_path, exchange):
    runs = {"a": ["a1.csv", "shared.csv"], "b": ["b1.csv", "b2.csv", "shared.csv"], "c": ["c1.csv"]}
    out = tmp_path / "res"
    seen = set()
    for steps in range(100):
        write_run(out, "a", runs["a"])
        pid = os.fork()
        if pid == 0:                                               # the child: killed at step `steps`
            finished = 3
            try:
                if not exchange:
                    files._exchange = lambda a, b: False
                _crash_after(steps)
                write_run(out, "b", runs["b"])
                finished = 0
            finally:
                os._exit(finished)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) in (0, 9)
        seen.add(assert_whole(out, runs))
        write_run(out, "c", runs["c"])                             # the next run: whole, and cleans up
        assert assert_whole(out, runs) == "c" and leftovers(tmp_path) == []
        if os.waitstatus_to_exitcode(status) == 0:                 # finished without reaching `steps`
            break
    assert steps > 5 and {"a", "b"} <= seen


# ----------------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """Each model's result files as a complete run writes them, from an in-process solve."""
    folder = tmp_path_factory.mktemp("models")
    sunny = folder / "sunny.mgd"
    sunny.write_text(SUNNY)
    out = {}
    for path in (ARBITRAGE, sunny):
        ref = folder / f"ref_{path.stem}"
        written = mgdsl.load(path).solve().write_into(ref)
        out[str(path)] = {p.name: p.read_bytes() for p in written if p.suffix == ".csv"} | {
            p.name: None for p in written if p.suffix != ".csv"}
    return out


def assert_complete_run(out: Path, expected) -> str | None:
    """Absent, or one model's complete files (CSV contents equal, netCDF readable): returns the model."""
    if not out.exists():
        return None
    model = json.loads((out / "summary.json").read_text())["model"]
    want = expected[model]
    assert sorted(p.name for p in out.iterdir()) == sorted([*want, MARKER]), model
    for name, content in want.items():
        if content is not None:
            assert (out / name).read_bytes() == content, name
        elif name.endswith(".nc"):
            with xr.open_dataset(out / name) as ds:
                ds.load()
    return model


def test_killing_solve_at_random_moments_never_mixes_two_models(tmp_path, expected):
    rng = random.Random(20)
    models = sorted(expected)
    out = tmp_path / "res"

    def solve(model):
        return subprocess.Popen([MGDSL, "solve", model, "-o", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    started = time.monotonic()
    assert solve(models[1]).wait() == 0                     # the previous results, complete
    duration = time.monotonic() - started
    outcomes = []
    for trial in range(5):
        model = models[trial % 2]
        proc = solve(model)
        if trial % 2:                       # at any moment of the run
            time.sleep(rng.uniform(0.2, 1.2 * duration))
        else:                               # while the results are written into the staging folder, or soon after
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and not any(
                    p.suffix == ".nc" for p in tmp_path.glob(".res.staging-*/*")):
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append((model == assert_complete_run(out, expected), proc.returncode))
    r = subprocess.run([MGDSL, "solve", models[0], "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert assert_complete_run(out, expected) == models[0]
    assert leftovers(tmp_path) == []
    assert any(rc == -signal.SIGKILL for _, rc in outcomes), outcomes     # some runs were really cut short


def test_two_solves_into_one_folder_do_not_mix(tmp_path, expected):
    models = sorted(expected)
    out = tmp_path / "res"
    for model in models + models[:1]:
        code, text = run_cli(["solve", model, "-o", out, "--plot"])
        assert code == 0, text
        figures = {p.name for p in out.glob("*.png")}
        assert {p.name for p in out.iterdir()} - figures == {*expected[model], MARKER}
        assert "storage.png" in figures if "Storage.nc" in expected[model] else "storage.png" not in figures


def test_a_second_concurrent_solve_is_refused(tmp_path):
    out = tmp_path / "res"
    lock = files._Lock(tmp_path / ".res.lock")
    assert lock.acquire()
    try:
        code, text = run_cli(["solve", ARBITRAGE, "-o", out])
    finally:
        lock.release()
    assert code == EXIT_OUTPUT and "error[E0702]" in text and f"(process {os.getpid()})" in text
    assert "Traceback" not in text and not out.exists()


def test_a_lock_of_a_killed_run_does_not_block(tmp_path):
    out = tmp_path / "res"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from mgdsl.files import results_folder
with results_folder({str(out)!r}) as staging:
    (staging / "half.csv").write_text("x")
    print("ready", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    assert run_cli(["solve", ARBITRAGE, "-o", out])[0] == EXIT_OUTPUT
    holder.kill()
    holder.wait()
    assert leftovers(tmp_path)                       # the lock file and the staging folder of the killed run
    code, text = run_cli(["solve", ARBITRAGE, "-o", out])
    assert code == 0, text
    assert leftovers(tmp_path) == [] and (out / "summary.json").exists() and not (out / "half.csv").exists()


def test_a_user_folder_is_refused_before_solving(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, text = run_cli(["solve", ARBITRAGE, "-o", tmp_path, "--json"])
    assert code == EXIT_OUTPUT
    diagnostics = json.loads(text[text.index("{"):])["diagnostics"]
    assert [d["code"] for d in diagnostics] == ["E0703"] and str(tmp_path) in diagnostics[0]["message"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("args", [
    ["solve", ARBITRAGE, "-o", "/proc/mgdsl-test/res"],
    ["solve", ARBITRAGE, "-o", "/proc/mgdsl-test", "--decompose", "atc"],
    ["compile", ARBITRAGE, "-o", "/proc/mgdsl-test.lp"],
    ["compile", ARBITRAGE, "-o", "/sys/mgdsl-test", "--decompose", "atc"],
    ["study", "tolerance", ARBITRAGE, "-o", "/proc/mgdsl-test"],
], ids=["solve", "solve-atc", "compile", "compile-atc", "study"])
def test_an_unwritable_place_is_one_line_and_exit_5(args):
    code, text = run_cli(args)
    assert code == EXIT_OUTPUT, text
    lines = [line for line in text.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error[E0701]: cannot write") and "mgdsl-test" in lines[0]
    assert "Traceback" not in text


def test_a_full_disk_keeps_the_old_results(tmp_path, monkeypatch, expected):
    out = tmp_path / "res"
    assert run_cli(["solve", ARBITRAGE, "-o", out])[0] == 0

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("mgdsl.results._to_csv", full)
    code, text = run_cli(["solve", ARBITRAGE, "-o", out])
    assert code == EXIT_OUTPUT and "No space left on device" in text and str(out) in text
    assert ".staging-" not in text and "Traceback" not in text
    assert assert_complete_run(out, expected) == str(ARBITRAGE) and leftovers(tmp_path) == []


def test_a_full_disk_seen_by_netcdf_is_e0701(tmp_path, monkeypatch):
    def hdf_error(*args, **kwargs):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr("mgdsl.results.write_netcdf", hdf_error)          # what every NAME.nc is written by
    monkeypatch.setattr(files, "_disk_full", lambda folder: True)
    code, text = run_cli(["solve", ARBITRAGE, "-o", tmp_path / "res"])
    assert code == EXIT_OUTPUT and "No space left on device" in text and "bug" not in text


def test_fmt_on_a_read_only_disk(tmp_path, monkeypatch):
    model = tmp_path / "m.mgd"
    model.write_text(ARBITRAGE.read_text().replace("horizon 3 steps", "horizon   3 steps"))
    before = model.read_text()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(model))

    monkeypatch.setattr(os, "replace", read_only)
    code, text = run_cli(["fmt", model])
    assert code == EXIT_OUTPUT and "error[E0701]: cannot write" in text and "Read-only file system" in text
    assert model.read_text() == before and leftovers(tmp_path) == []


def test_compile_decompose_replaces_its_folder(tmp_path):
    out = tmp_path / "atc"
    assert run_cli(["compile", ARBITRAGE, "--decompose", "atc", "-o", out])[0] == 0
    first = {p.name for p in out.iterdir()}
    (out / "stale.lp").write_text("from an earlier run")
    code, text = run_cli(["compile", ARBITRAGE, "--decompose", "atc", "-o", out, "--json"])
    assert code == 0, text
    assert {p.name for p in out.iterdir()} == first and "couplings.json" in first
    assert all(Path(p).parent == out for p in json.loads(text)["files"])


def test_plot_adds_figures_to_the_results_folder(tmp_path, expected):
    out = tmp_path / "res"
    assert run_cli(["solve", ARBITRAGE, "-o", out])[0] == 0
    code, text = run_cli(["plot", out])
    assert code == 0, text
    assert {p.name for p in out.iterdir()} == {*expected[str(ARBITRAGE)], MARKER, "balance_shop.png", "storage.png"}
    assert all(Path(line).parent == out for line in text.splitlines())
    code, text = run_cli(["plot", out, "-o", "/proc/mgdsl-test"])
    assert code == EXIT_OUTPUT and "error[E0701]" in text
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code, text = run_cli(["plot", out, "-o", tmp_path / "mine"])
    assert code == EXIT_OUTPUT and "error[E0703]" in text
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"] and leftovers(tmp_path) == []


def test_explain_e07xx():
    for code in ("E0701", "E0702", "E0703"):
        exit_code, text = run_cli(["explain", code])
        assert exit_code == 0 and text.startswith(code)
