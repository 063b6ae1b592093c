"""`mgdsl check --watch`: a subprocess watches a model while the test edits the model and the CSV file it reads;
each save is checked again (the right verdict, within a second or two), and Ctrl-C ends it with status 0."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mgdsl.watch import stamp, used_files

MODEL = """use stdlib
horizon 2 steps of 1 h
profile demand: kW = csv("data.csv", "load")

microgrid a {
    load = Load(electricity, base = demand)
    grid = ElectricityTrade(buy_price = 0.5 yuan/kWh, sell_price = 0.2 yuan/kWh, p_max = 100 kW)
}
"""
GOOD_CSV = "hour,load\n1,10\n2,12\n"


class Lines:
    """The output lines of a process, read by a thread, waited for with a deadline."""

    def __init__(self, stream):
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.q.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        """Seconds until a line containing `text` arrives."""
        t0 = time.perf_counter()
        while True:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                raise AssertionError(f"no line with {text!r} within {timeout} s; saw:\n" + "\n".join(self.seen))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return time.perf_counter() - t0


def save(path: Path, text: str) -> None:
    # a new modification time even on file systems with coarse timestamps, whatever the size
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == old:
        os.utime(path, ns=(old + 1_000_000, old + 1_000_000))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_watch_rechecks_the_model_and_its_csv_on_save_and_exits_0_on_ctrl_c(tmp_path):
    model, data = tmp_path / "m.mgd", tmp_path / "data.csv"
    save(model, MODEL)
    save(data, GOOD_CSV)
    proc = subprocess.Popen([sys.executable, "-m", "mgdsl.cli", "check", "--watch", "--no-color", str(model)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    out = Lines(proc.stdout)
    try:
        out.wait_for("m.mgd: ok (1 microgrids, 2 device instances")
        out.wait_for("watching 2 files")                    # the model and its CSV file
        # a syntax error in the model
        save(model, MODEL.replace("horizon 2 steps", "horizon 2 stepz"))
        took = out.wait_for("error[E0001]")
        out.wait_for("failed in")
        assert took < 5.0
        # fixed: ok again
        save(model, MODEL)
        out.wait_for("m.mgd: ok")
        # a bad cell in the CSV file the model reads: watched too
        save(data, "hour,load\n1,10\n2,abc\n")
        out.wait_for("error[E0403]")
        save(data, GOOD_CSV)
        took = out.wait_for("m.mgd: ok")
        assert took < 5.0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not any("Traceback" in line for line in out.seen)


def test_used_files_are_the_mgd_files_read_and_the_csv_files_they_name(tmp_path):
    import mgdsl

    (tmp_path / "m.mgd").write_text(MODEL)
    (tmp_path / "data.csv").write_text(GOOD_CSV)
    system = mgdsl.load(tmp_path / "m.mgd")
    found = used_files(system)
    assert (tmp_path / "m.mgd").resolve() in found and (tmp_path / "data.csv").resolve() in found
    assert all(p.suffix in (".mgd", ".csv") for p in found)
    missing = tmp_path / "gone.csv"
    assert stamp([missing]) == {missing: None}
