"""Review of the fast parser (mgdsl/syntax/lalr.py, build.py, parser.py): where lark's analysed grammar is kept
(never a file another user could plant, never half a file another process is writing, never an analysis of
another grammar), lark's re-parse of a rejected text after the driver's memory is freed, and syntax errors on
adversarial texts (a carriage return alone, non-ASCII letters, an end of file after a blanked line) located
and saying what to do."""
from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mgdsl.diagnostics import MgdError
from mgdsl.sema.limits import MAX_SYNTAX_ERRORS
from mgdsl.syntax import parser
from mgdsl.syntax.parser import parse_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """_parser() made again in this process, its cache folder `tmp_path / "cache"`."""
    monkeypatch.setenv("MGDSL_CACHE_DIR", str(tmp_path / "cache"))
    parser._parser.cache_clear()
    parser._tables.cache_clear()
    yield tmp_path / "cache"
    parser._parser.cache_clear()
    parser._tables.cache_clear()


def test_the_cache_folder_is_private_and_the_file_is_named_by_the_grammar(fresh):
    path = parser._cache_file(parser.grammar_text())
    assert path is not None and path.parent == fresh
    if hasattr(os, "getuid"):
        assert stat.S_IMODE(fresh.stat().st_mode) & 0o077 == 0
    assert parser._cache_file(parser.grammar_text() + "\n// changed\n") != path        # another grammar
    parser._parser()
    assert path.is_file() and not list(fresh.glob(".*.part"))           # written whole, the part renamed
    parser._parser.cache_clear()
    assert parse_text("let a = 1\n").items[0].name == "a"               # read back from the file


def test_a_file_cut_short_is_made_again(fresh):
    parser._parser()
    path = parser._cache_file(parser.grammar_text())
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    parser._parser.cache_clear()
    assert parse_text("let a = 1\n").items[0].name == "a"
    assert len(path.read_bytes()) > len(whole) // 2                   # written whole again


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="folder owners and modes are POSIX's")
def test_a_folder_others_may_write_is_not_used(fresh, monkeypatch, tmp_path):
    fresh.mkdir(mode=0o777)
    os.chmod(fresh, 0o777)                                                # the umask left out
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = parser._cache_file(parser.grammar_text())
    assert path is not None and path.parent == tmp_path / "xdg" / "mgdsl"   # the next folder instead
    os.symlink(tmp_path / "xdg" / "mgdsl", tmp_path / "link")
    monkeypatch.setenv("MGDSL_CACHE_DIR", str(tmp_path / "link"))       # a link is not the user's folder
    assert parser._cache_file(parser.grammar_text()).parent == tmp_path / "xdg" / "mgdsl"


def test_no_usable_folder_means_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MGDSL_CACHE_DIR", "relative/folder")               # only an absolute folder is taken
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parser._cache_file(parser.grammar_text()).parent == tmp_path / "mgdsl"
    monkeypatch.setattr(parser, "_private_folder", lambda folder, uid: False)
    assert parser._cache_file(parser.grammar_text()) is None
    parser._parser.cache_clear()
    try:
        assert parse_text("let a = 1\n").items[0].name == "a"              # analysed in this process
    finally:
        parser._parser.cache_clear()


def _planted(tmpdir: Path, marker: Path) -> Path:
    """A pickle that writes `marker` when loaded, at the name lark's cache=True reads for mgdsl's grammar (lark
    1.3: `.lark_cache_<user>_<sha256 of grammar, options, versions>_<python>.tmp`; it unpickles a part of the
    file before it compares the digest the file holds)."""
    import getpass

    import lark
    from lark.load_grammar import sha256_digest

    options = "parserlalrlexercontextualmaybe_placeholdersTruecacheTrue"      # as the call was written
    digest = sha256_digest(parser.grammar_text() + options + lark.__version__ + str(sys.version_info[:2]))
    path = tmpdir / f".lark_cache_{getpass.getuser()}_{digest}_{sys.version_info[0]}_{sys.version_info[1]}.tmp"

    class Planted:
        def __reduce__(self):
            return (Path.write_text, (marker, "planted code ran"))

    path.write_bytes(digest.encode() + b"\n" + pickle.dumps(Planted()))
    return path


def test_a_file_planted_in_the_temporary_directory_is_never_loaded(fresh, tmp_path, monkeypatch):
    import tempfile

    import lark

    tmpdir, marker = tmp_path / "tmp", tmp_path / "ran"
    tmpdir.mkdir()
    _planted(tmpdir, marker)
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    assert parse_text("let a = 1\n").items[0].name == "a"   # mgdsl's parser, made again: never reads it
    assert not marker.exists()
    lark.Lark(parser.grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True,
              postlex=parser._NewlinePostLexer(), cache=True)
    if not marker.exists():
        pytest.skip(f"lark {lark.__version__}'s cache=True no longer reads the file this test plants")


def test_lark_reports_a_syntax_error_after_the_drivers_stack_is_freed(monkeypatch):
    # called inside `except Reject`, the exception's traceback keeps the driver's frame, and so its stack (a
    # 4 MB file of `(` held 0.7 GB more through lark's parse)
    seen = []
    real = parser._raise_syntax_errors

    def spy(file):
        seen.append(sys.exc_info()[0])
        real(file)

    monkeypatch.setattr(parser, "_raise_syntax_errors", spy)
    with pytest.raises(MgdError) as caught:
        parse_text("let a = " + "(" * 1000 + "\n")
    assert seen == [None] and caught.value.diagnostics[0].code == "E0001"


def test_processes_that_write_the_cache_at_once_each_write_a_whole_file(tmp_path):
    # each writes under a name of its own and renames: the file any of them leaves is whole
    env = dict(os.environ, MGDSL_CACHE_DIR=str(tmp_path))
    code = "from mgdsl.syntax import parser\nprint(parser.parse_text('let a = 1\\n').items[0].name)\n"
    runs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    assert [r.communicate()[0].strip() for r in runs] == ["a"] * 2
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [parser._cache_file(parser.grammar_text()).name]   # no part left
    import lark

    with open(files[0], "rb") as f:
        loaded = lark.Lark.__new__(lark.Lark)._load(f, postlex=parser._NewlinePostLexer())
    assert loaded.parse("let a = 1\n").children[0].data == "let"


def _diagnostics(text: str) -> list:
    with pytest.raises(MgdError) as caught:
        parse_text(text)
    return caught.value.diagnostics


def test_an_end_of_file_found_after_blanking_a_bad_line_is_located_in_what_was_parsed():
    # the second parse reads line 2 blanked: it ends after `(1`, the `)` missing there; it used to be placed at
    # the end of the file (`2`, on the blanked line), "the file ends here"
    found = sorted(_diagnostics("let a = (1\nlet b = 2\n"), key=lambda d: d.span.start)
    assert [(d.span.line, d.span.column, d.span.text) for d in found] == [(1, 10, "1"), (2, 5, "b")]
    assert found[0].message == "unexpected end of file once the lines with errors are left out"
    assert "`)`" in found[0].help
    (eof,) = _diagnostics("let a = 1\nlet b = 2 +\n")                   # nothing blanked: the file's end
    assert (eof.message, eof.label, eof.span.text) == ("unexpected end of file", "the file ends here", "+")


@pytest.mark.parametrize("text, where, help_has", [
    ("horizon 2 steps of 1 h\rlet a = 1\r", (1, 23), "carriage return alone"),
    ("let é = 1\n", (1, 5), "ASCII letters"),
    ("let a = 1 \u00a7 2\n", (1, 11), "remove it"),
    ("let a = 1 \\", (1, 11), "last thing on its line"),                 # the file ends after it
    ("horizon 2 steps of 1 h\r\n# 变量 é\r\nlet a = 1\x00\r\n", (3, 10), "remove it"),   # CRLF, multibyte before
])
def test_unexpected_characters_say_what_to_do(text, where, help_has):
    (d,) = _diagnostics(text)
    assert d.code == "E0002" and (d.span.line, d.span.column) == where and help_has in d.help


def test_threads_parsing_at_once_from_fresh_tables_get_what_one_thread_gets():
    # the driver's tables fill lazily (a state's lexer, a rule's reducer, a chain of `?a: b`): several threads
    # filling them at once (mgdsl.loads from a thread pool) must parse as one does
    import threading

    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "stdlib").glob("*.mgd"))[:4]]

    def shape(module):
        return [(type(s).__name__, s.span.start, s.span.end, len(getattr(s, "body", ()) or ())) for s in module.items]

    expected = [shape(parse_text(t)) for t in texts]
    parser._tables.cache_clear()
    got: dict[int, list] = {}

    def work(k: int) -> None:
        got[k] = shape(parse_text(texts[k % len(texts)]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[k] for k in range(8)] == [expected[k % len(texts)] for k in range(8)]
    import gc

    assert gc.isenabled()                                   # each parse's pause of the collector ended


def test_what_too_deep_expressions_hide_is_found_in_n_log_n():
    # a file of 30,000 `let aN = ---...-1e999` (4 MB) held as many too deep expressions as number errors: the
    # builder compared each error with each expression (minutes); ranges merged and bisected now
    import time

    from mgdsl.source import SourceFile, Span
    from mgdsl.syntax.build import Builder

    n = 20_000
    builder = Builder(SourceFile("<t>", "x\n" * (3 * n)))
    for i in range(n):
        builder.too_deep.append((6 * i, 6 * i + 3, None))
        for k in (1, 4):                                 # inside the expression (hidden), after it (reported)
            builder.pending.append((6 * i + k, ("E0404", "m", Span(builder.file, 6 * i + k, 6 * i + k + 1))))
    start = time.process_time()
    with pytest.raises(MgdError) as caught:
        builder.finish()
    assert time.process_time() - start < 2
    assert [d.span.start for d in caught.value.diagnostics] == [6 * i + 4 for i in range(MAX_SYNTAX_ERRORS)]
    assert caught.value.diagnostics[-1].notes == [f"{n - MAX_SYNTAX_ERRORS:,} more errors like these further in "
                                                  "the file are not shown"]


def test_many_numbers_too_large_on_one_line_are_not_shown_each_with_the_line():
    # each diagnostic shows its line: 8,000 of them on one 56 kB line made a 674 MB message (1.3 GB peak)
    text = "horizon 2 steps of 1 h\nprofile p = [" + "1e999, " * 8000 + "1]\n"
    found = _diagnostics(text)
    assert [d.code for d in found] == ["E0404"] * MAX_SYNTAX_ERRORS and "7,990 more" in found[-1].notes[0]
    with pytest.raises(MgdError) as caught:
        parse_text(text)
    assert len(str(caught.value)) < 20 * len(text)


