"""The language server's analysis on damaged models: the bundled models with lines dropped, doubled or cut and
characters inserted, as while typing. Checking, indexing, hover text, completion and symbols must not raise (a bug
there would be logged and answered with nothing; here it fails), and every diagnostic is mgdsl's own."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgdsl.errors import CODES
from mgdsl.lsp.analysis import analyze
from mgdsl.lsp.completion import complete
from mgdsl.lsp.hover import hover_text
from mgdsl.lsp.positions import span_range

ROOT = Path(__file__).resolve().parent.parent
MODELS = {p.name: p for p in sorted((ROOT / "models").glob("*.mgd"))}
TEXTS = {name: p.read_text(encoding="utf-8") for name, p in MODELS.items()}
PIECES = ["{", "}", "(", ")", "[", "]", "=", ",", ":", ".", "..", " kW", " 1", '"', "#", "\n", "x", "at ", "load ",
          "Storage(", "mg1.", "[t-1]", "é", "😀", "\x00", "\\\n"]


@st.composite
def damaged(draw):
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].split("\n")
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "double", "cut", "insert"]))
        if action == "drop":
            del lines[k]
        elif action == "double":
            lines.insert(k, lines[k])
        elif action == "cut":
            lines[k] = lines[k][: draw(st.integers(0, len(lines[k])))]
        else:
            at = draw(st.integers(0, len(lines[k])))
            lines[k] = lines[k][:at] + draw(st.sampled_from(PIECES)) + lines[k][at:]
        if not lines:
            lines = [""]
    return name, "\n".join(lines), draw(st.integers(0, 10_000))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_models_never_break_the_analysis(case):
    name, text, probe = case
    result = analyze(text, str(MODELS[name]))
    for d in result.diagnostics:
        assert d.code in CODES
        if d.span is not None:
            span_range(d.span, "utf-16")
    assert result.index_error is None, repr(result.index_error)
    index = result.index
    offset = probe % (len(text) + 1)
    complete(index, text, offset)
    if index is None:
        return
    found = index.at(offset)
    if found is not None:
        assert hover_text(found[1])
        assert hover_text(found[1], markdown=False)
    for d in index.symbols:
        assert d.name is not None
