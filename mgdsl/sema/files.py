"""Which files a model may read, and reading them safely: a .mgd source or a CSV table is read only under
the allowed folders, within its size limit, and decoded as UTF-8 text with a clear error otherwise."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..resources import stdlib_dir
from .limits import fmt_bytes

# A UTF-8 byte-order mark, written by some Windows editors at the start of a text file: not part of the text.
BOM = "\ufeff"


class FileProblem(Exception):
    """A file could not be read; `reason` says why in words fit for a diagnostic (no file content)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FileAccess:
    """The folders a model may read: its own folder, the standard library, and any folder the user allowed
    (`--allow-read DIR`, `allow_read=[...]`). All are resolved, so a symbolic link that leaves them counts as
    leaving."""

    model_dir: Path
    allowed: list[Path] = field(default_factory=list)

    @classmethod
    def for_model(cls, model_dir: Path, allow_read: Iterable[str | os.PathLike] | None = None) -> FileAccess:
        extra = [Path(d).expanduser().resolve() for d in (allow_read or [])]
        return cls(model_dir.resolve(), extra)

    @property
    def roots(self) -> list[Path]:
        return [self.model_dir, stdlib_dir().resolve(), *self.allowed]

    def permits(self, path: Path) -> bool:
        try:
            real = path.resolve()
        except (OSError, RuntimeError, ValueError):      # a symlink loop, an unreadable component
            return False
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def refusal_help(self) -> str:
        shown = [_shown(self.model_dir)] + [_shown(d) for d in self.allowed]
        return (f"a model reads files under {' and '.join(f'`{s}`' for s in shown)} and the standard library; "
                "move the file there, or allow its folder with `--allow-read DIR` (`allow_read=[DIR]` in Python)")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def bad_path_text(text: str) -> str | None:
    """Why a path written in a model cannot name a file (a NUL or another control character), or None."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "it contains a control character"
    if not text.strip():
        return "it is empty"
    return None


def read_bytes(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Never reads more than limit + 1 bytes, so a
    device or a /proc file that reports no size cannot exhaust memory."""
    try:
        if not path.is_file():
            raise FileProblem("no such file" if not path.exists() else "not a regular file")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileProblem:
        raise
    except (OSError, ValueError) as e:
        raise FileProblem(((getattr(e, "strerror", None) or str(e)) or "cannot be read").lower()) from None
    if len(data) > limit:
        raise FileProblem(f"the {what} is larger than {fmt_bytes(limit)}")
    return data


def decode_text(data: bytes, what: str, nul_is_binary: bool = True) -> str:
    """UTF-8 text without a byte-order mark; invalid UTF-8 (or a NUL byte, if `nul_is_binary`) is a FileProblem
    that quotes nothing of the file (it may not be text, or not the user's). A .mgd file keeps its NUL bytes:
    the lexer reports each at its place."""
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        raise FileProblem(f"the {what} is UTF-16 text; save it as UTF-8")
    if nul_is_binary and b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise FileProblem(f"the {what} is not text (a NUL byte on line {line})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FileProblem(f"the {what} is not UTF-8 text (invalid byte on line {line}); save it as UTF-8") from None
    return text[1:] if text.startswith(BOM) else text
