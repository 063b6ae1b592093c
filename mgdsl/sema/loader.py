"""Read a system file and every file it `use`s (the standard library, user libraries), parsing each once.
Only files under the folders the model may read (sema/files.py) are opened."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Collector, Diagnostic, MgdError
from ..resources import stdlib_dir
from ..source import SourceFile
from ..syntax import ast
from ..syntax.parser import parse
from .files import BOM, FileAccess, FileProblem, bad_path_text, decode_text, read_bytes
from .limits import MAX_SOURCE_BYTES, MAX_TOTAL_SOURCE_BYTES, fmt_bytes


@dataclass
class Program:
    """The main module and the library modules it pulled in, in load order, and the folders it may read."""

    main: ast.Module
    libraries: list[ast.Module] = field(default_factory=list)
    access: FileAccess | None = None

    @property
    def modules(self) -> list[ast.Module]:
        return self.libraries + [self.main]

    def file_access(self) -> FileAccess:
        if self.access is None:
            self.access = FileAccess.for_model(self.main.file.directory)
        return self.access


def _too_large(what: str) -> str:
    return f"the {what} is larger than {fmt_bytes(MAX_SOURCE_BYTES)}"


def read_source(path: str | Path) -> SourceFile:
    """The main .mgd file, named by the user: any path may be read, within the size limit, as UTF-8 text."""
    try:
        data = read_bytes(Path(path), MAX_SOURCE_BYTES, ".mgd file")
        text = decode_text(data, ".mgd file", nul_is_binary=False)
    except FileProblem as e:
        code = "E0004" if "larger than" in e.reason else "E0003"
        raise MgdError([Diagnostic(code, f"cannot read {path}: {e.reason}", None,
                                   help="check the path; it is relative to the current directory")]) from None
    return SourceFile(str(path), text)


def source_from_text(text: str, path: str) -> SourceFile:
    """A model given as a string (`mgdsl.loads`): the same size limit and byte-order-mark rule as a file."""
    if len(text) > MAX_SOURCE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise MgdError([Diagnostic("E0004", f"cannot read {path}: {_too_large('model text')}", None,
                                   help="split the model: put device templates in a library file and `use` it")])
    return SourceFile(path, text[1:] if text.startswith(BOM) else text)


_LIBRARY_CACHE: dict[tuple[str, int, int], ast.Module] = {}


def _parse_library(path: Path) -> ast.Module:
    """Parse a library file once per content version: checking never mutates the AST, so it is shared.
    Raises FileProblem (nothing of the file is quoted) or MgdError (its syntax errors, quoting it: it is .mgd)."""
    try:
        st = path.stat()
    except OSError as e:
        raise FileProblem((e.strerror or "cannot be read").lower()) from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    module = _LIBRARY_CACHE.get(key)
    if module is None:
        # a NUL byte means the file is not .mgd text (a binary renamed, say): reported without quoting it
        text = decode_text(read_bytes(path, MAX_SOURCE_BYTES, "file"), "file")
        module = parse(SourceFile(_display_path(path), text))
        _LIBRARY_CACHE[key] = module
    return module


def load_program(main: SourceFile, access: FileAccess | None = None) -> Program:
    """Parse `main` and, transitively, its `use` targets. Collects errors of all files."""
    access = access or FileAccess.for_model(main.directory)
    diag = Collector()
    seen: set[str] = set()
    libraries: list[ast.Module] = []
    source_bytes = [len(main.text)]           # of the files parsed so far (MAX_TOTAL_SOURCE_BYTES)

    def parse_collect(src: SourceFile) -> ast.Module | None:
        try:
            return parse(src)
        except MgdError as e:
            diag.extend(e)
            return None

    def use_target(module: ast.Module, item: ast.Use) -> Path | None:
        """The file a `use "path"` names, if the model may read it; otherwise report why not."""
        bad = bad_path_text(item.target)
        if bad is not None:
            diag.error("E0003", f"`use` cannot name a file: {bad}", item.span, "not a file name",
                       help='write `use "devices.mgd"`, a path relative to this file')
            return None
        target = module.file.directory / item.target
        if not access.permits(target):
            diag.error("E0405", f"`{item.target}` is outside the folders this model may read", item.span,
                       "not allowed", help=access.refusal_help())
            return None
        if target.suffix != ".mgd":
            diag.error("E0003", f"`use` reads .mgd files, and `{item.target}` is not one", item.span,
                       "not a .mgd file", help="data files are read with csv(\"file.csv\", \"column\")")
            return None
        if not target.is_file():
            diag.error("E0003", f"cannot read `{item.target}`: no such file", item.span, "used here",
                       help="paths in `use` are relative to the file that contains the `use`")
            return None
        return target

    def used_files(module: ast.Module):
        """(the `use`, a file it names) for each file of each `use` of `module`, in order; bad ones reported."""
        for item in module.items:
            if not isinstance(item, ast.Use):
                continue
            if item.is_path:
                target = use_target(module, item)
                if target is not None:
                    yield item, target
            elif item.target == "stdlib":
                for path in sorted(stdlib_dir().glob("*.mgd")):
                    yield item, path
            else:
                diag.error("E0101", f"unknown library `{item.target}`", item.span, "not a library",
                           help='write `use stdlib`, or `use "path/to/file.mgd"` for a file of your own')

    def open_library(item: ast.Use, path: Path) -> ast.Module | None:
        """The parsed library at `path` (first visit only), or None, with its problems reported."""
        key = str(path.resolve())
        if key in seen:
            return None
        seen.add(key)
        try:
            size = path.stat().st_size
            if source_bytes[0] + size > MAX_TOTAL_SOURCE_BYTES:
                raise FileProblem("the model's .mgd files together are larger than "
                                  f"{fmt_bytes(MAX_TOTAL_SOURCE_BYTES)}")
            lib = _parse_library(path)
            source_bytes[0] += size
        except OSError as e:
            diag.error("E0003", f"cannot read `{item.target}`: {(e.strerror or 'cannot be read').lower()}", item.span,
                       "used here")
            return None
        except FileProblem as e:
            code = "E0004" if "larger than" in e.reason else "E0003"
            diag.error(code, f"cannot read `{item.target}`: {e.reason}", item.span, "used here",
                       help="`use` reads .mgd files: UTF-8 text of device templates and constants")
            return None
        except MgdError as e:
            diag.extend(e)
            return None
        for stmt in lib.items:
            if not isinstance(stmt, (ast.Device, ast.Use, ast.Let)):
                diag.error("E0504", "a library file may only contain `device`, `let` and `use`",
                           stmt.span, "not allowed in a library",
                           help="put systems (microgrids, networks, profiles) in the main file")
        return lib

    def visit_uses(module: ast.Module) -> None:
        """Depth first through the `use`s, each library listed after the ones it uses. An explicit stack, not
        recursion: a chain of a thousand files, each using the next, must not exhaust Python's stack."""
        walks = [used_files(module)]
        opened: list[ast.Module | None] = [None]          # the library whose uses each walk goes through
        while walks:
            step = next(walks[-1], None)
            if step is None:
                walks.pop()
                lib = opened.pop()
                if lib is not None:
                    libraries.append(lib)
                continue
            lib = open_library(*step)
            if lib is not None:
                walks.append(used_files(lib))
                opened.append(lib)

    if main.path != "<string>" and not main.path.startswith("<"):
        seen.add(str(Path(main.path).resolve()))
    module = parse_collect(main)
    if module is None:
        diag.raise_if_any()
    visit_uses(module)
    diag.raise_if_any()
    return Program(module, libraries, access)


def _display_path(path: Path) -> str:
    """Stdlib files are shown as stdlib/NAME.mgd; others relative to the working directory if possible."""
    try:
        if path.resolve().is_relative_to(stdlib_dir().resolve()):
            return f"stdlib/{path.name}"
    except (OSError, ValueError):
        pass
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
