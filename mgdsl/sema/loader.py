"""Read a system file and every file it `use`s (the standard library, user libraries), parsing each once."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Collector, MgdError
from ..resources import stdlib_dir
from ..source import SourceFile
from ..syntax import ast
from ..syntax.parser import parse


@dataclass
class Program:
    """The main module and the library modules it pulled in, in load order."""

    main: ast.Module
    libraries: list[ast.Module] = field(default_factory=list)

    @property
    def modules(self) -> list[ast.Module]:
        return self.libraries + [self.main]


def read_source(path: str | Path) -> SourceFile:
    p = Path(path)
    try:
        return SourceFile(str(path), p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        from ..diagnostics import Diagnostic

        reason = "is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else (e.strerror or str(e)).lower()
        raise MgdError([Diagnostic("E0003", f"cannot read {path}: {reason}", None,
                                   help="check the path; it is relative to the current directory")]) from None


_LIBRARY_CACHE: dict[tuple[str, int, int], ast.Module] = {}


def _parse_library(path: Path) -> ast.Module:
    """Parse a library file once per content version: checking never mutates the AST, so it is shared."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    module = _LIBRARY_CACHE.get(key)
    if module is None:
        src = SourceFile(_display_path(path), path.read_text(encoding="utf-8"))
        module = parse(src)
        _LIBRARY_CACHE[key] = module
    return module


def load_program(main: SourceFile) -> Program:
    """Parse `main` and, transitively, its `use` targets. Collects errors of all files."""
    diag = Collector()
    seen: set[str] = set()
    libraries: list[ast.Module] = []

    def parse_collect(src: SourceFile) -> ast.Module | None:
        try:
            return parse(src)
        except MgdError as e:
            diag.extend(e)
            return None

    def visit_uses(module: ast.Module) -> None:
        for item in module.items:
            if not isinstance(item, ast.Use):
                continue
            if item.is_path:
                targets = [(module.file.directory / item.target)]
                if not targets[0].is_file():
                    diag.error("E0003", f"cannot read `{item.target}`: no such file", item.span, "used here",
                               help="paths in `use` are relative to the file that contains the `use`")
                    continue
            elif item.target == "stdlib":
                targets = sorted(stdlib_dir().glob("*.mgd"))
            else:
                diag.error("E0101", f"unknown library `{item.target}`", item.span, "not a library",
                           help='write `use stdlib`, or `use "path/to/file.mgd"` for a file of your own')
                continue
            for path in targets:
                key = str(path.resolve())
                if key in seen:
                    continue
                seen.add(key)
                try:
                    lib = _parse_library(path)
                except (OSError, UnicodeDecodeError):
                    diag.error("E0003", f"cannot read `{path}`", item.span, "used here")
                    continue
                except MgdError as e:
                    diag.extend(e)
                    continue
                for stmt in lib.items:
                    if not isinstance(stmt, (ast.Device, ast.Use, ast.Let)):
                        diag.error("E0504", "a library file may only contain `device`, `let` and `use`",
                                   stmt.span, "not allowed in a library",
                                   help="put systems (microgrids, networks, profiles) in the main file")
                visit_uses(lib)
                libraries.append(lib)

    if main.path != "<string>" and not main.path.startswith("<"):
        seen.add(str(Path(main.path).resolve()))
    module = parse_collect(main)
    if module is None:
        diag.raise_if_any()
    visit_uses(module)
    diag.raise_if_any()
    return Program(module, libraries)


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
