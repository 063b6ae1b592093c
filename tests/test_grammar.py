"""The editor grammar (editors/vscode/syntaxes/mgdsl.tmLanguage.json) against the language's own grammar: every keyword
of grammar/mgdsl.lark is highlighted as a keyword wherever the parser reads one, and no name is (the parser's tokens
are the truth, over a sample of every keyword, the standard library and the bundled models); its units are the
checker's; and snapshot files of the stdlib and models (vscode-tmgrammar-snap) hold every token's scopes.

The TextMate checks need node and the pinned npm packages (editors/vscode/package-lock.json; `npm ci` is run here
when they are missing); without node they are skipped, except under MGDSL_REQUIRE_NODE=1 (CI).
`MGDSL_UPDATE_SNAPSHOTS=1` (make grammar-snapshots) rewrites the snapshots after a deliberate change of the grammar
or of a stdlib/model file."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import lark
import pytest

from mgdsl.resources import grammar_text
from mgdsl.sema.units import UNITS
from mgdsl.syntax.parser import _NewlinePostLexer

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "mgdsl.tmLanguage.json"
SAMPLE = VSCODE / "test" / "keywords.mgd"
SNAPSHOTS = VSCODE / "test" / "snap"
SOURCES = {"stdlib": sorted((ROOT / "stdlib").glob("*.mgd")), "models": sorted((ROOT / "models").glob("*.mgd"))}
CORPUS = [SAMPLE] + SOURCES["stdlib"] + SOURCES["models"]


# ------------------------------------------------------------------ the parser's view
def _lark(keep: bool = True) -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", keep_all_tokens=keep,
                     propagate_positions=True, maybe_placeholders=True, postlex=_NewlinePostLexer())


def lark_keywords() -> set[str]:
    """The grammar's keywords: its terminals that are a literal word (`use`, `steps`, `t`, `first`, ...)."""
    return {t.pattern.value for t in _lark().terminals
            if isinstance(t.pattern, lark.lexer.PatternStr) and re.fullmatch(r"[A-Za-z_]+", t.pattern.value)}


def parser_tokens(path: Path) -> list[tuple[str, str, int, int, int]]:
    """(kind, text, line from 0, start, end) of each keyword and NAME token, columns in UTF-16 units as in
    the editor. `kind` is "keyword" or "name"."""
    text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    keywords = lark_keywords()
    lines = text.split("\n")
    out = []
    tree = _lark().parse(text)
    for tok in tree.scan_values(lambda v: isinstance(v, lark.Token)):
        if tok.type == "NAME":
            kind = "name"
        elif tok.value in keywords and tok.type not in ("UNIT", "NAME"):
            kind = "keyword"
        else:
            continue
        line = lines[tok.line - 1]
        start = len(line[: tok.column - 1].encode("utf-16-le")) // 2
        end = start + len(tok.value.encode("utf-16-le")) // 2
        out.append((kind, tok.value, tok.line - 1, start, end))
    return out


def keyword_scope(scopes: list[str]) -> bool:
    return any((s.startswith("keyword.") and not s.startswith("keyword.operator.")) or s.startswith("storage.type.")
               for s in scopes)


# ------------------------------------------------------------------ node and the pinned npm packages
@pytest.fixture(scope="module")
def node() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("MGDSL_REQUIRE_NODE") == "1":          # CI (.ci/run): these tests must run
            pytest.fail("MGDSL_REQUIRE_NODE=1 but node or npm is not installed")
        pytest.skip("node and npm are not installed (CI installs them: .ci/run)")
    if not (VSCODE / "node_modules" / "vscode-tmgrammar-test").is_dir():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VSCODE, capture_output=True, text=True)
        assert r.returncode == 0, f"npm ci in editors/vscode failed:\n{r.stdout}\n{r.stderr}"
    return VSCODE


def textmate_tokens(node: Path, files: list[Path]) -> dict[str, list]:
    r = subprocess.run(["node", "test/tokens.js", str(GRAMMAR), *map(str, files)], cwd=node,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ------------------------------------------------------------------ keywords
def test_the_sample_holds_every_keyword_of_the_grammar():
    """A keyword added to grammar/mgdsl.lark must get a line in editors/vscode/test/keywords.mgd (and a rule in the
    TextMate grammar, which the next test checks)."""
    seen = {text for kind, text, *_ in parser_tokens(SAMPLE) if kind == "keyword"}
    missing = lark_keywords() - seen
    assert not missing, f"keywords of grammar/mgdsl.lark missing from {SAMPLE.relative_to(ROOT)}: {sorted(missing)}"
    names = {text for kind, text, *_ in parser_tokens(SAMPLE) if kind == "name"}
    # the sample also uses words of the keywords as names, where the parser reads a name
    assert {"load", "line", "base", "voltage", "cost"} <= names


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_keywords_and_only_keywords_are_highlighted(node, path):
    tm = textmate_tokens(node, [path])[str(path)]
    by_line: dict[int, list] = {}
    for line, start, end, scopes in tm:
        by_line.setdefault(line, []).append((start, end, scopes))
    wrong = []
    for kind, text, line, start, end in parser_tokens(path):
        covering = [scopes for s, e, scopes in by_line.get(line, []) if s < end and e > start]
        assert covering, f"{path.name}:{line + 1}: no TextMate token at `{text}`"
        highlighted = all(keyword_scope(scopes) for scopes in covering)
        if kind == "keyword" and not highlighted:
            wrong.append(f"{path.name}:{line + 1}:{start + 1}: keyword `{text}` is {covering[0][-1]}")
        if kind == "name" and any(keyword_scope(scopes) for scopes in covering):
            wrong.append(f"{path.name}:{line + 1}:{start + 1}: name `{text}` is highlighted as {covering[0][-1]}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------ units
def test_units_are_those_of_the_checker():
    rule = json.loads(GRAMMAR.read_text(encoding="utf-8"))["repository"]["unit"]["match"]
    first = re.match(r"\(\?:%\|\(\?:([^)]*)\)", rule)
    assert first, rule
    assert set(first.group(1).split("|")) | {"%"} == set(UNITS)


# ------------------------------------------------------------------ the extension's files
def test_the_extension_declares_the_language_grammar_and_server():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = pkg["contributes"]["languages"]
    assert language["id"] == "mgdsl" and language["extensions"] == [".mgd"]
    assert (VSCODE / language["configuration"]).is_file()
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["scopeName"] == "source.mgdsl" and (VSCODE / grammar["path"]).resolve() == GRAMMAR
    assert json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"] == "source.mgdsl"
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert pkg["contributes"]["configuration"]["properties"]["mgdsl.server.command"]["default"] == ["mgdsl", "lsp"]
    extension = (VSCODE / pkg["main"]).read_text(encoding="utf-8")
    assert "vscode-languageclient/node" in extension and '"server.command"' in extension
    lock = json.loads((VSCODE / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in {**pkg["dependencies"], **pkg["devDependencies"]}.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_the_extension_script_is_valid_javascript(node):
    r = subprocess.run(["node", "--check", "extension.js"], cwd=node, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ snapshots
def test_snapshots_of_the_stdlib_and_models(node, tmp_path):
    """Each stdlib and model file's tokens and scopes, as vscode-tmgrammar-snap records them, are those of its
    committed snapshot (editors/vscode/test/snap/<folder>/<file>.snap): a change of the grammar shows as a diff."""
    update = os.environ.get("MGDSL_UPDATE_SNAPSHOTS") == "1"
    copies = []
    for folder, files in SOURCES.items():
        (tmp_path / folder).mkdir()
        for f in files:
            shutil.copy(f, tmp_path / folder / f.name)
            snap = SNAPSHOTS / folder / (f.name + ".snap")
            if snap.exists() and not update:
                shutil.copy(snap, tmp_path / folder / snap.name)
            elif not update:
                pytest.fail(f"no snapshot {snap.relative_to(ROOT)}: run `make grammar-snapshots` and commit it")
            copies.append(tmp_path / folder / f.name)
    stale = sorted(p.relative_to(SNAPSHOTS) for p in SNAPSHOTS.glob("*/*.snap")
                   if not (ROOT / p.relative_to(SNAPSHOTS).with_suffix("")).exists())
    tool = node / "node_modules" / ".bin" / "vscode-tmgrammar-snap"
    r = subprocess.run([str(tool), "--config", str(node / "package.json"), *(["--updateSnapshot"] if update else []),
                        *map(str, copies)], cwd=tmp_path, capture_output=True, text=True)
    if update:
        assert r.returncode == 0, r.stdout + r.stderr
        for folder in SOURCES:
            (SNAPSHOTS / folder).mkdir(parents=True, exist_ok=True)
            for snap in (tmp_path / folder).glob("*.snap"):
                shutil.copy(snap, SNAPSHOTS / folder / snap.name)
        for p in stale:
            (SNAPSHOTS / p).unlink()
        return
    assert not stale, f"snapshots of files that are gone: {stale} (make grammar-snapshots removes them)"
    assert r.returncode == 0, ("the TextMate grammar's tokens differ from the snapshots; if the change is meant, "
                               "run `make grammar-snapshots` and commit editors/vscode/test/snap:\n" + r.stdout[-6000:])
