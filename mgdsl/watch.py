"""`mgdsl check --watch FILE`: check FILE again whenever it or a file it uses (`use`, `csv(...)`) changes.

Changes are found by polling each file's modification time and size every 0.2 s: no file-watching library is
installed with mgdsl, a model is a handful of files, and a stat of each costs microseconds, so polling is
simple, portable (network drives and editors that replace files on save included) and well under a second."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.2
_CSV = re.compile(r"""\bcsv\(\s*"((?:[^"\\\n]|\\.)*)\"""")


def stamp(paths) -> dict[Path, tuple[int, int] | None]:
    """Modification time and size of each file; None for one that is missing (being saved, or deleted)."""
    out = {}
    for p in paths:
        try:
            st = p.stat()
            out[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[p] = None
    return out


def used_files(system) -> set[Path]:
    """The .mgd files a checked system was read from and the CSV files they name."""
    found: set[Path] = set()
    program = getattr(system, "_program", None)
    for module in program.modules if program is not None else ():
        path = Path(module.file.path)
        if not path.is_file():
            continue
        found.add(path.resolve())
        for m in _CSV.finditer(module.file.text):
            found.add((path.parent / m.group(1)).resolve())
    return found


def error_files(err) -> set[Path]:
    """The files a failed check points at (so that fixing one of them checks again)."""
    out = set()
    for d in getattr(err, "diagnostics", ()):
        path = getattr(getattr(getattr(d, "span", None), "file", None), "path", None)
        if path and Path(path).is_file():
            out.add(Path(path).resolve())
    return out


def watch(main: Path, check: Callable[[], tuple[bool, set[Path]]], echo: Callable[[str], None],
          clear: Callable[[], None] = lambda: None, polls: int | None = None) -> None:
    """Run `check` (which reports, and returns whether the model is valid and the files it read or blamed), then
    again after each change to those files or to `main`; `polls` bounds the polls (tests), None: until Ctrl-C."""
    main = main.resolve()
    watched: set[Path] = {main}
    n = 0
    while True:
        clear()
        started = time.perf_counter()
        echo(f"[{time.strftime('%H:%M:%S')}] checking {main.name}")
        # stamped before the check reads them, so that a save during the check is a change too
        before = stamp(watched)
        ok, files = check()
        # a valid model: exactly what it read; a failed one may have stopped early: keep what it read before
        watched = (files if ok else watched | files) | {main}
        before = {**stamp(watched - before.keys()), **{p: s for p, s in before.items() if p in watched}}
        echo(f"[{time.strftime('%H:%M:%S')}] {'ok' if ok else 'failed'} in {time.perf_counter() - started:.2f} s;"
             f" watching {len(watched)} file{'s' if len(watched) != 1 else ''} (Ctrl-C to stop)")
        missing_polls = 0
        while True:
            time.sleep(POLL_SECONDS)
            n += 1
            if polls is not None and n >= polls:
                return
            now = stamp(watched)
            if now == before:
                continue
            # an editor that saves by replacing the file leaves it missing for a moment: wait one poll for it
            gone = any(now[p] is None and before[p] is not None for p in watched)
            missing_polls = missing_polls + 1 if gone else 0
            if not gone or missing_polls > 1:
                break
