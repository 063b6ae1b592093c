"""Where things are: mgdsl Spans (character offsets) <-> LSP positions (UTF-16/8/32 code units), files <-> URIs."""
from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls import uris

from ..resources import stdlib_dir
from ..source import SourceFile, Span


def _units(text: str, encoding: str) -> int:
    """Code units of `text` in the negotiated position encoding (utf-16 unless the client chose another)."""
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def position(file: SourceFile, offset: int, encoding: str) -> types.Position:
    """The LSP position of a character offset. Lines end at "\\n" only, as in SourceFile (a "\\r" before it is
    part of the line's end, never counted in a column that follows it)."""
    line, col = file.position(offset)
    start = offset - (col - 1)
    return types.Position(line=line - 1, character=_units(file.text[start:offset], encoding))


def span_range(span: Span, encoding: str) -> types.Range:
    return types.Range(start=position(span.file, span.start, encoding),
                       end=position(span.file, span.end, encoding))


def offset(text: str, pos: types.Position, encoding: str) -> int:
    """The character offset of an LSP position in `text` (clamped to the line and the text)."""
    start = 0
    for _ in range(pos.line):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    units = 0
    for i, ch in enumerate(line):
        if units >= pos.character:
            return start + i
        units += _units(ch, encoding)
    return start + len(line)


def to_path(uri: str) -> str | None:
    """The file system path of a file: URI, or None (an unsaved buffer)."""
    try:
        return uris.to_fs_path(uri)
    except Exception:        # a malformed URI is the client's; the document is then checked as text
        return None


def to_uri(path: Path) -> str:
    return uris.from_fs_path(str(path)) or path.as_uri()


_REAL: dict[int, tuple[SourceFile, Path | None]] = {}


def real_path(file: SourceFile) -> Path | None:
    """The file a SourceFile was read from. Libraries are shown relative to the working folder, and the standard
    library as stdlib/NAME.mgd; the candidate whose text is the SourceFile's is the one."""
    known = _REAL.get(id(file))
    if known is not None and known[0] is file:
        return known[1]
    found = None
    if not file.path.startswith("<"):
        candidates = [Path(file.path)]
        if file.path.startswith("stdlib/"):
            candidates.append(stdlib_dir() / file.path[len("stdlib/"):])
        for path in candidates:
            try:
                text = path.read_bytes().decode("utf-8")        # no newline translation: offsets must agree
            except (OSError, ValueError):
                continue
            if text.removeprefix("\ufeff") == file.text:
                found = path.resolve()
                break
    if len(_REAL) > 4096:
        _REAL.clear()
    _REAL[id(file)] = (file, found)
    return found
