"""Text -> AST: lark's LALR tables run by a fast driver that builds the AST as it reduces (lalr.py, build.py),
lark itself for syntax errors (several per file), the newline post-lexer, comment attachment."""
from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import re
import stat
import sys
import tempfile
import threading
from pathlib import Path

import lark
from lark import Token

from ..diagnostics import Collector, InternalError
from ..resources import grammar_text
from ..sema.limits import MAX_REPARSED_CHARS, MAX_SYNTAX_ERRORS
from ..source import SourceFile
from . import ast, lalr
from .build import Builder

_CONTINUATION_VALUES = lalr.CONTINUATION_VALUES


class _NewlinePostLexer:
    """Drop newlines inside ( ) and [ ] and after a binary operator or comma; collapse repeats."""

    always_accept = ("_NL",)

    def process(self, stream):
        # Tokens must be yielded at once, never buffered: the contextual lexer lexes the next token
        # in the parser state reached by the tokens already yielded.
        depth = 0
        prev: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                if depth > 0 or prev is None or prev.type == "_NL" or prev.value in _CONTINUATION_VALUES \
                        or prev.type == "CMP":
                    continue
            elif tok.value in ("(", "["):
                depth += 1
            elif tok.value in (")", "]"):
                depth = max(0, depth - 1)
            prev = tok
            yield tok


_LARK_OPTIONS = {"parser": "lalr", "lexer": "contextual", "maybe_placeholders": True}


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    """lark's LALR parser of the grammar: its tables and lexers drive lalr.run, and it reports syntax errors.
    lark's analysis of the grammar (0.15-0.4 s) is kept in a folder of the user's own (_cache_file)."""
    grammar = grammar_text()
    path = _cache_file(grammar)
    if path is not None:
        with contextlib.suppress(Exception):   # none yet, cut short, or unreadable: analysed and written again
            with open(path, "rb") as f:
                # lark's own load (what its cache=True does), with the post-lexer its lexers need
                return lark.Lark.__new__(lark.Lark)._load(f, postlex=_NewlinePostLexer())
    parser = lark.Lark(grammar, postlex=_NewlinePostLexer(), **_LARK_OPTIONS)
    if path is not None:
        # written whole under a name of this process's own, then renamed: another process reads no file or a
        # whole one, never half of one
        part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            with open(part, "wb") as f:
                parser.save(f, exclude_options=("postlex",))
            os.replace(part, path)
        except OSError:
            pass                               # not kept: the next process analyses the grammar again
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
    return parser


def _cache_file(grammar: str) -> Path | None:
    """Where lark's analysis of `grammar` is kept, or None. Not lark's own `cache=True`: that is a file of a
    predictable name in the shared temporary directory, which lark unpickles (code another user could plant
    there would run). The folder is $MGDSL_CACHE_DIR, else ~/.cache/mgdsl ($XDG_CACHE_HOME), else
    mgdsl-<uid> in the temporary directory, the first that is the user's own and that no one else may write;
    the name holds a digest of the grammar and of lark's and Python's versions, so a changed grammar or an
    upgrade never reads an older analysis."""
    key = hashlib.sha256(f"{grammar}\0{sorted(_LARK_OPTIONS.items())}\0{lark.__version__}\0"
                         f"{sys.version_info[:2]}".encode()).hexdigest()[:32]
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else None
    for folder in (os.environ.get("MGDSL_CACHE_DIR"), os.path.join(home, "mgdsl"),
                   os.path.join(tempfile.gettempdir(), f"mgdsl-{uid if uid is not None else 'user'}")):
        if folder and os.path.isabs(folder) and _private_folder(folder, uid):
            return Path(folder) / f"grammar-{key}.lark"
    return None


def _private_folder(folder: str, uid: int | None) -> bool:
    """Make `folder` (mode 0700) if it is missing; True when it is a real folder (not a link) of user `uid`
    that neither the group nor others may write."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except (OSError, ValueError):
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    return uid is None or (st.st_uid == uid and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


@functools.lru_cache(maxsize=1)
def _tables() -> lalr.Tables:
    try:
        return lalr.Tables(_parser())
    except lalr.Reject as err:
        raise InternalError(f"lark {lark.__version__} is not the lark mgdsl/syntax/lalr.py reads ({err})") from err


# Human names for the terminals a user may see in "expected ..." lists.
_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "UNIT": "a unit", "STRING": "a string", "_NL": "a new line",
    "CMP": "a comparison (==, <=, >=)", "PORT_OP": "`+=` or `-=`", "TIME": "`t`", "FIRST": "`first`",
    "LAST": "`last`", "TIME_INDEX": "`[t]`", "$END": "the end of the file",
}


def _describe_expected(expected: set[str]) -> str:
    parser = _parser()
    names = []
    for term in sorted(expected):
        if term in _TERMINAL_NAMES:
            names.append(_TERMINAL_NAMES[term])
            continue
        try:
            pattern = parser.get_terminal(term).pattern
        except KeyError:
            names.append(term.lower())
            continue
        if isinstance(pattern, lark.lexer.PatternStr):
            names.append(f"`{pattern.value}`")
        else:
            names.append(term.lower())
    names = sorted(set(names))
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _describe_token(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of file"
    return f"`{tok.value}`"


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, file: SourceFile, collector: Collector,
                       text: str | None = None) -> int:
    """Record one syntax error of `text` (the file's, with the lines of earlier errors blanked); return the
    offset where it happened."""
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = file.text[pos] if pos < len(file.text) else ""
        if ch == '"':
            collector.error("E0002", "unterminated string", file.span(pos, pos + 1), "this string is not closed",
                            help="close the string with `\"` on the same line")
        else:
            shown = ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
            if ch == "\r":
                hint = ("a line ends with a carriage return alone (as old Mac files do): save the file with LF or "
                        "CRLF line endings")
            elif ch == "\\":
                hint = "a `\\` continues the statement on the next line only as the last thing on its line (no " \
                       "comment after it)"
            elif ch.isalnum():
                hint = "names are ASCII letters, digits and `_`: write it without accents or other scripts"
            else:
                hint = "remove it; comments start with `#`"
            collector.error("E0002", f"unexpected character `{shown}`", file.span(pos, pos + 1), "not valid here",
                            help=hint)
        return pos
    tok = getattr(err, "token", None)
    expected = getattr(err, "expected", None) or getattr(err, "accepts", None) or set()
    if tok is None or tok.type == "$END" or getattr(tok, "start_pos", None) is None:
        # where the text lark read ends: a blanked line after it is not where the file stops making sense
        pos = len((file.text if text is None else text).rstrip())
        span = file.span(max(0, pos - 1), pos)
        cut = pos < len(file.text.rstrip())
        collector.error("E0001", "unexpected end of file" + (" once the lines with errors are left out" if cut else ""),
                        span, "the text ends here" if cut else "the file ends here",
                        help=f"expected {_describe_expected(set(expected))}; is a `}}` or `)` missing?")
        return len(file.text)
    start = tok.start_pos
    end = tok.end_pos if tok.type != "_NL" else start + 1
    found = _describe_token(tok)
    hint = f"expected {_describe_expected(set(expected))}"
    message = f"unexpected {found}"
    if tok.type == "UNIT" and "/" in tok.value:
        hint += "; a compound unit has no spaces (`yuan/kWh`) and a division needs spaces (`a / b`)"
    if tok.type in ("NUMBER", "NAME", "STRING") and "COMMA" in expected:
        hint += "; is a `,` or an operator missing before it?"
    if tok.type == "UNIT":
        hint += "; a quantity has one unit, written without spaces (`yuan/kWh`, `kW/h`)"
    if tok.type == "NAME" and tok.value in ("t", "first", "last"):
        hint += f"; `{tok.value}` is reserved for time indexing"
    if re.search(r"(^|\s)uncertain\s*$", file.text[:start]) and tok.value != "profile":
        hint = "only a profile can be uncertain: write `uncertain profile NAME = ...`"
    if tok.type == "_NL":
        message = "unexpected end of line"
        hint += "; an expression may continue on the next line only inside ( ) or after an operator"
    collector.error("E0001", message, file.span(start, end), "unexpected here", help=hint)
    return start


@contextlib.contextmanager
def paused_gc():
    """The garbage collector off for a parse or a check, back on after (when it was on): both make hundreds of
    thousands of objects that all live on, so every collection in between is wasted (half of a large file's
    parse). Reference counting still frees what dies."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def parse(file: SourceFile) -> ast.Module:
    """Parse a file, reporting syntax errors of several statements at once (by blanking a bad line
    and parsing again), then build the AST and attach comments."""
    with paused_gc():
        return _parse(file)


def _parse(file: SourceFile) -> ast.Module:
    tables = _tables()
    builder = Builder(file)
    try:
        module = lalr.run(file.text, tables, builder.callbacks(tables.rules))
    except lalr.Reject:
        module = None
    if module is None:
        # lark parses again out of the `except`: there, the exception's traceback would keep the driver's
        # stack alive through lark's parse (a 4 MB file of `(` held 1.8 GB instead of 1.1)
        builder = None
        _raise_syntax_errors(file)
        raise InternalError("lark accepts a file the LALR driver (mgdsl/syntax/lalr.py) rejects")
    builder.finish()
    _attach_comments(module, file)
    return module


def _raise_syntax_errors(file: SourceFile) -> None:
    """lark's report of a text the driver rejected: each further error found by blanking the bad line and
    parsing again. Returns only if lark accepts the text."""
    collector = Collector()
    text = file.text
    # every further syntax error costs a parse of the whole file: a large file reports its first one only
    attempts = MAX_SYNTAX_ERRORS if len(text) <= MAX_REPARSED_CHARS else 1
    for _ in range(attempts):
        try:
            _parser().parse(text)
            break
        except lark.exceptions.UnexpectedInput as err:
            pos = _syntax_diagnostic(err, file, collector, text)
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line_end = len(text) if line_end < 0 else line_end
            bad_line = text[line_start:line_end]
            # Blanking a line that opens or closes a block would only produce follow-on errors.
            if pos >= len(text) or "{" in bad_line or "}" in bad_line or not bad_line.strip():
                break
            text = text[:line_start] + " " * (line_end - line_start) + text[line_end:]
    collector.raise_if_any()


def parse_text(text: str, path: str = "<string>") -> ast.Module:
    return parse(SourceFile(path, text))


# ------------------------------------------------------------------ comments
# A string (to its closing quote or the end of its line; a backslash escapes any character) or a comment.
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\n\\]|\\.)*["\n]?|#[^\n]*', re.S)


def _comment_positions(file: SourceFile) -> list[tuple[int, str]]:
    """Comments found by scanning the text outside strings."""
    return [(m.start(), m.group().rstrip()) for m in _STRING_OR_COMMENT.finditer(file.text) if m.group()[0] == "#"]


def _children(stmt) -> tuple[list | None, list | None]:
    if isinstance(stmt, (ast.Device, ast.Network, ast.Microgrid)):
        return stmt.body, stmt.closing_comments
    if isinstance(stmt, ast.Decompose):
        return stmt.settings, stmt.closing_comments
    return None, None


def _attach_comments(module: ast.Module, file: SourceFile) -> None:
    comments = _comment_positions(file)
    _attach(module.items, comments, module.closing_comments, file, 0)


def _has_blank_line(text: str) -> bool:
    return re.search(r"\n[ \t\f\r]*\n", text) is not None


def _attach(children, comments, closing, file: SourceFile, prev_end: int) -> None:
    i = 0
    for child in children:
        first = True
        while i < len(comments) and comments[i][0] < child.span.start:
            pos, text = comments[i]
            if _has_blank_line(file.text[prev_end:pos]):
                if first:
                    child.blank_before = True
                else:
                    child.comments.append("")      # a blank line inside the comment block
            first = False
            child.comments.append(text)
            prev_end = pos + len(text)
            i += 1
        if _has_blank_line(file.text[prev_end:child.span.start]):
            if first:
                child.blank_before = True
            else:
                child.comments.append("")          # a blank line between the comments and the statement
        inner = []
        while i < len(comments) and comments[i][0] < child.span.end:
            inner.append(comments[i])
            i += 1
        end_line = file.position(child.span.end)[0]
        if i < len(comments) and file.position(comments[i][0])[0] == end_line:
            child.trailing = comments[i][1]
            prev_end = comments[i][0] + len(comments[i][1])
            i += 1
        else:
            prev_end = child.span.end
        body, body_closing = _children(child)
        if body is not None:
            header_end = file.text.find("{", getattr(child, "name_span", child.span).end)
            _attach(body, inner, body_closing, file, header_end + 1 if header_end >= 0 else child.span.start)
        else:
            # comments inside a multi-line statement move above it
            child.comments.extend(text for _, text in inner)
    for pos, text in comments[i:]:
        if closing is not None and _has_blank_line(file.text[prev_end:pos]) and (closing or children):
            closing.append("")
        closing.append(text)
        prev_end = pos + len(text)
