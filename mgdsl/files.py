"""Output whole or absent: atomic files; folders staged beside the target, locked, swapped in by one rename."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

from .diagnostics import Diagnostic, MgdError

# Every folder mgdsl writes carries this file; with summary.json (solve) and couplings.json (compile
# --decompose) it is how a folder that may be replaced is told from a user's folder that must not be.
MARKER = ".mgdsl-output"
_OUTPUT_FILES = ("summary.json", "couplings.json", MARKER)
# Folders written before the marker existed: the studies' tables and the figures of `mgdsl plot -o`.
_LEGACY_OUTPUT = re.compile(r"(tolerance_sweep|scale_sweep|initial_values)\.(csv|png)|"
                            r"(balance_.+|voltage.*|reactive.*|storage|convergence|tie_convergence|purchase)\.png")

# what the user can do, by the reason the system gave
_REMEDIES = {
    errno.ENOSPC: "free some disk space or write elsewhere",
    errno.EDQUOT: "free some of your disk quota or write elsewhere",
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to",
    errno.EROFS: "choose a folder on a writable disk",
    errno.ENOENT: "check the path or write elsewhere",
    errno.ENOTDIR: "check the path: part of it is a file",
    errno.EISDIR: "a folder is in the way: choose another name",
}


# ----------------------------------------------------------------------------------------------- errors
def cannot_write(path: str | Path, exc: OSError, what: str = "") -> MgdError:
    """E0701 for an OSError met while writing `path` (`what` it is, e.g. "results to "): one line with the
    path, the system's reason (and the file it concerned, when another) and what to do."""
    reason = exc.strerror or str(exc)
    remedy = _REMEDIES.get(exc.errno, "check the path, its permissions and the free disk space")
    where = f" ({exc.filename})" if exc.filename and Path(str(exc.filename)) != Path(path) else ""
    return _error("E0701", f"cannot write {what}{path}: {reason}{where}; {remedy}")


def _error(code: str, message: str) -> MgdError:
    return MgdError([Diagnostic(code, message, None)])


def _disk_full(folder: Path) -> bool:
    """True when the filesystem of `folder` has (nearly) no space left: writers such as netCDF report a full
    disk as their own error (RuntimeError "NetCDF: HDF error"), not as OSError(ENOSPC)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


# ----------------------------------------------------------------------------------------------- files
def _umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's process
        return True
    return True


def _remove_dead_temporaries(target: Path) -> None:
    """Remove temporary files of `target` left by runs that were killed (their pid is in the name)."""
    prefix = f".{target.name}."
    with contextlib.suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix) or ".tmp" not in entry.name:
                continue
            pid = entry.name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def atomic_write(target: str | Path, write: Callable[[str], object]) -> Path:
    """Call write(tmp) on a temporary file beside `target` (same suffix, so writers that pick a format by
    suffix work), then rename it over `target`. mkstemp makes 0600 files: give the umask's permissions.
    Raises MgdError E0701 when the file cannot be written (unwritable folder, full disk)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temporaries(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.",
                                   suffix=f".tmp{target.suffix}")
        os.close(fd)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    except Exception as exc:
        if _disk_full(target.parent):             # checked before the partial file is removed below
            raise cannot_write(target, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from exc
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return target


# ----------------------------------------------------------------------------------------------- locks
class _Lock:
    """An exclusive flock on a lock file. The kernel drops it when its process dies, so a killed run never
    keeps a folder locked. The file is removed on release; a run that locked a file just removed by its
    holder sees another inode at the path and locks the new file instead (so two runs never both hold)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Lock without waiting: False when another process holds the lock."""
        import fcntl

        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError:        # another user's lock file, left by a killed run: flock needs no write
                fd = os.open(self.path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                with contextlib.suppress(OSError):       # who holds it, for the message of a refused run
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return True
            os.close(fd)

    def holder(self) -> str:
        """The holder's pid as written in the lock file, or '' when unknown."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return ""
        return text if text.isdigit() else ""

    def release(self) -> None:
        if self.fd is None:
            return
        import fcntl

        with contextlib.suppress(OSError):
            os.unlink(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_UN)      # explicitly: a forked child may still share the descriptor
        os.close(self.fd)
        self.fd = None


def _lock_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


def _busy(shown: str | Path, lock: _Lock) -> MgdError:
    pid = lock.holder()
    who = f"another mgdsl run (process {pid})" if pid else "another mgdsl run"
    return _error("E0702", f"{who} is writing {shown} right now; wait for it to finish or write elsewhere with -o")


# ------------------------------------------------------------------------------------------ folder rules
def _is_artifact(name: str) -> bool:
    """Hidden working files of mgdsl: lock files, staging and old folders, temporaries, the marker."""
    return name.startswith(".") and (name.endswith(".lock") or ".staging-" in name or ".old-" in name
                                     or ".tmp" in name or name == MARKER)


def is_output_folder(folder: Path, depth: int = 1) -> bool:
    """True for a folder mgdsl wrote (or an empty one): it may be replaced. A folder holding only output
    folders (results/NAME holding only study/) counts too."""
    if any((folder / name).is_file() for name in _OUTPUT_FILES):
        return True
    try:
        entries = [e for e in os.scandir(folder) if not _is_artifact(e.name)]
    except OSError:
        return False
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if depth == 0 or not is_output_folder(Path(entry.path), depth - 1):
                return False
        elif not _LEGACY_OUTPUT.fullmatch(entry.name):
            return False
    return True


def _check_replaceable(folder: Path, shown: str | Path) -> None:
    if os.path.lexists(folder) and not folder.is_dir():
        raise _error("E0703", f"{shown} is a file, not a results folder; it is left as it is: "
                              "write elsewhere with -o")
    if folder.is_dir() and not is_output_folder(folder):
        raise _error("E0703", f"{shown} is not an mgdsl results folder (it has other files and no summary.json), "
                              "so it is left as it is: write to a new or empty folder with -o")


def _stale(folder: Path) -> Iterator[Path]:
    """Staging and old folders of `folder` that killed runs left beside it (mkdtemp's 8-character suffix,
    so the staging of another target whose name merely starts alike never matches)."""
    pattern = re.compile(rf"\.{re.escape(folder.name)}\.(staging|old)-[A-Za-z0-9_]{{8}}")
    with contextlib.suppress(OSError), os.scandir(folder.parent) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link (same filesystem, instant; a later atomic replace in either folder leaves the other alone),
    else copy."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


Keep = Literal["folders", "all"]


def _carry_over(old: Path, staging: Path, keep: Keep) -> None:
    """Bring what the new folder keeps from the old one into staging: sub-folders (written by other commands,
    like `study/`) and hidden files (a user's `.gitignore`: mgdsl writes none), and with keep="all" every file
    this run did not write anew."""
    if not old.is_dir():
        return
    with os.scandir(old) as entries:
        for entry in entries:
            dest = staging / entry.name
            if _is_artifact(entry.name) or os.path.lexists(dest):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, dest, symlinks=True, copy_function=_link_or_copy,
                                ignore=lambda _, names: [n for n in names if _is_artifact(n)])
            elif keep == "all" or entry.name.startswith("."):
                _link_or_copy(entry.path, str(dest))


def _hold_inner_locks(folder: Path, shown: str | Path) -> list[_Lock]:
    """Lock every output folder inside `folder` (a study writing results/NAME/study): replacing `folder`
    while such a run writes would lose its output. Raises E0702 when one is busy."""
    held: list[_Lock] = []
    if not folder.is_dir():
        return held
    for lock_file in sorted(folder.glob(".*.lock")):
        lock = _Lock(lock_file)
        if not lock.acquire():
            for other in held:
                other.release()
            inner = Path(shown) / lock_file.name[1:-len(".lock")]
            raise _busy(inner, lock)
        held.append(lock)
    return held


# ------------------------------------------------------------------------------------------------- swap
def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staging: Path, target: Path) -> None:
    """Make `staging` the folder at `target`, a reader seeing the complete old or the complete new folder.
    With an exchange (Linux) there is no moment without a folder; otherwise the old one is renamed aside
    and the new one renamed in: between these two renames (microseconds) `target` is absent."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)           # now the old folder
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.rmdir(old)                                            # only its unique name is wanted
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)                               # put the old results back
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def results_folder(target: str | Path | None, keep: Keep = "folders",
                   check_first: bool = True) -> Iterator[Path | None]:
    """Write an output folder whole: yield a hidden staging folder beside `target` (same filesystem), then
    swap it in by one rename when the block ends without an exception; on an exception (or a kill) the
    target is untouched and the staging folder is removed (by the next run, after a kill).

    The command's files replace the old folder's files, so files of an earlier run never mix with new ones;
    sub-folders and hidden files are carried over, and with keep="all" every old file not written anew
    (`mgdsl plot` adds figures to a results folder). A lock file `.NAME.lock` beside the target, held while
    the block runs, refuses a second run (E0702). A target that exists and is not an mgdsl output folder is
    refused (E0703), before the block when `check_first`, and always before the swap. Other OSErrors are E0701.
    `target` None (nothing to save) yields None and does nothing."""
    if target is None:
        yield None
        return
    shown = target
    folder = Path(os.path.realpath(target))        # a symlinked results folder: write where it points
    if not folder.name:
        raise _error("E0703", f"{shown} cannot be a results folder; write to a new or empty folder with -o")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = _Lock(_lock_path(folder))
        locked = lock.acquire()
    except OSError as exc:
        raise cannot_write(shown, exc, "results to ") from None
    if not locked:
        raise _busy(shown, lock)
    staging = None
    try:
        try:
            for leftover in list(_stale(folder)):     # of killed runs: no run holds the lock but us
                if ".old-" in leftover.name and not os.path.lexists(folder):
                    os.rename(leftover, folder)           # killed between its two renames: the complete old folder
                else:
                    shutil.rmtree(leftover, ignore_errors=True)
            if check_first:
                _check_replaceable(folder, shown)
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.staging-"))
            os.chmod(staging, 0o777 & ~_umask())
        except OSError as exc:
            raise cannot_write(shown, exc, "results to ") from None
        try:
            yield staging
        except MgdError as err:
            raise _named_by_target(err, staging, shown) from None
        _check_replaceable(folder, shown)
        inner = _hold_inner_locks(folder, shown)
        try:
            _carry_over(folder, staging, keep)
            from . import __version__

            (staging / MARKER).write_text(f"written by mgdsl {__version__}; this folder is replaced as a whole "
                                          "by the next run that writes here\n")
            _swap_in(staging, folder)
        except OSError as exc:
            raise cannot_write(shown, exc, "results to ") from None
        finally:
            for other in inner:
                other.release()
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        lock.release()


def _named_by_target(err: MgdError, staging: Path, shown: str | Path) -> MgdError:
    """The error with the hidden staging folder's name replaced by the folder the user asked for."""
    if not any(str(staging) in d.message for d in err.diagnostics):
        return err
    for d in err.diagnostics:
        d.message = d.message.replace(str(staging), str(shown))
    return MgdError(err.diagnostics)


def moved(paths: Iterable[str | Path], staging: Path | None, target: str | Path | None) -> list[Path]:
    """Where files written into `staging` are once the folder was swapped in at `target`."""
    if staging is None or target is None:
        return [Path(p) for p in paths]
    return [Path(target) / Path(p).relative_to(staging) for p in paths]


def write_whole(target: str | Path, write_into: Callable[[Path], Iterable[str | Path]]) -> list[Path]:
    """Write a folder whole: `write_into(staging)` fills a staging folder beside `target`, swapped in at the end
    (`results_folder`); returns where the files are then. The `save` of results and of every study."""
    with results_folder(target) as staging:
        written = write_into(staging)
    return moved(written, staging, target)
