"""`mgdsl math`: the templates' mathematics rendered from the checked syntax tree. Golden LaTeX per stdlib
template in tests/golden/math/NAME.tex (regenerate after an intended change with MGDSL_UPDATE_GOLDEN=1 and
review the diff), hand-checked renderings of expressions, docs/stdlib.md current, the command end to end."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mgdsl import mathgen
from mgdsl.cli import EXIT_INPUT, EXIT_USAGE, main
from mgdsl.diagnostics import Collector
from mgdsl.docgen import stdlib_templates
from mgdsl.sema.templates import check_template
from mgdsl.source import SourceFile
from mgdsl.syntax import ast
from mgdsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "math"
NAMES = [t.name for _, _, ts in stdlib_templates() for t in ts]


def balanced(tex: str) -> None:
    """Braces, \\left/\\right and \\begin/\\end pair up; no double sub- or superscript on one symbol."""
    depth = 0
    for i, ch in enumerate(tex):
        if ch in "{}" and i and tex[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, f"unbalanced braces at {i}: {tex[max(0, i - 40):i + 1]}"
    assert depth == 0, "unbalanced braces"
    assert len(re.findall(r"\\left\W", tex)) == len(re.findall(r"\\right\W", tex))
    assert re.findall(r"\\begin\{(\w+)\}", tex) == re.findall(r"\\end\{(\w+)\}", tex)
    assert not re.search(r"\^\{[^{}]*\}_\{[^{}]*\}\^", tex), "double superscript"


@pytest.mark.parametrize("name", NAMES)
def test_golden(name):
    text = mathgen.render([mathgen.stdlib_template(name)], "tex", f"Mathematics of {name}")
    balanced(text)
    expected = GOLDEN / f"{name}.tex"
    if os.environ.get("MGDSL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        expected.write_text(text)
    assert expected.exists(), f"{expected.name} is missing: create it with MGDSL_UPDATE_GOLDEN=1 and review it"
    assert text == expected.read_text()


def test_every_golden_is_a_template():
    assert sorted(p.stem for p in GOLDEN.glob("*.tex")) == sorted(NAMES)


def render_constraint(body_expr: str) -> str:
    """The rendering of one constraint in a small template."""
    text = ("device T(a, b: kW, p_max: kW, eta_ch = 0.9, dt2: h = 1 h, c2: money/kWh/kW = 0 money/kWh/kW) {\n"
            "    var x[t]: kW in 0 .. p_max\n    var y[t]: kW >= 0\n    var z: kW\n"
            f"    {body_expr}\n    port electricity += x\n    cost += c2 * x^2 * dt + c2 * z^2 * 1 h\n}}\n")
    module = parse(SourceFile("t.mgd", text))
    diag = Collector()
    tpl = check_template(next(i for i in module.items if isinstance(i, ast.Device)), diag)
    diag.raise_if_any()
    math = mathgen.template_math(tpl)
    assert math.cost[0].math == (r"\mathrm{cost} = \sum_{t} \left(\mathrm{c2} \cdot x_{t}^{2} "
                                 r"\cdot \Delta t + \mathrm{c2} \cdot z^{2} \cdot 1\,\mathrm{h}\right)")   # powers
    (line,) = math.constraints
    return line.math + (" | " + line.note if line.note else "")


@pytest.mark.parametrize("source, tex", [
    # a fraction, a time shift, dt, a Greek name with a superscript, a parameter with a superscript
    ("x[t] == x[t-1] + (eta_ch * y[t] - y[t] / a) * dt / dt2",
     r"x_{t} = x_{t-1} + \frac{\left(\eta^{\mathrm{ch}} \cdot y_{t} - \frac{y_{t}}{a}\right) \cdot \Delta t}"
     r"{\mathrm{dt2}} | t \ge 1"),
    # a comparison chain with a unary minus
    ("-p_max <= x[t] - x[t-1] <= p_max", r"-p^{\mathrm{max}} \le x_{t} - x_{t-1} \le p^{\mathrm{max}} | t \ge 1"),
    # a sum over the horizon: no quantifier
    ("sum(x * dt) <= 10 kWh", r"\sum_{t} x_{t} \cdot \Delta t \le 10\,\mathrm{kWh}"),
    ("sum(x + y) >= z", r"\sum_{t} \left(x_{t} + y_{t}\right) \ge z"),
    # fixed steps and a forward shift
    ("x[last] >= x[first+1]", r"x_{N-1} \ge x_{1}"),
    ("x[t+1] <= x[t] + b", r"x_{t+1} \le x_{t} + b | t \le N-2"),
    # a negated sum, a subtraction of a sum, a product with a sum
    ("y[t] >= a * x[t] - (b - z) * a", r"y_{t} \ge a \cdot x_{t} - \left(b - z\right) \cdot a | \forall t"),
    ("-(x[t] + y[t]) <= p_max - (a + 1) * 1 kW",
     r"-\left(x_{t} + y_{t}\right) \le p^{\mathrm{max}} - \left(a + 1\right) \cdot 1\,\mathrm{kW} | \forall t"),
    ("label_one: y[t] <= 1e-3 * p_max",
     r"y_{t} \le 10^{-3} \cdot p^{\mathrm{max}} | \forall t\quad \text{(label\_one)}"),
])
def test_expressions(source, tex):
    assert render_constraint(source) == tex


def test_powers_of_compound_bases():
    """Parentheses where a power's base is not one plain symbol (no double superscript)."""
    module = parse(SourceFile("t.mgd", "device T(p_max: kW) {\n    c: (x - y)^2 + p_max^2 + (-x)^3 == 0\n}\n"))
    (stmt,) = next(i for i in module.items if isinstance(i, ast.Device)).body
    scope = mathgen.Scope({"x", "y"}, set(), {"p_max"})
    assert mathgen.expr(stmt.terms[0], scope) == (r"\left(x_{t} - y_{t}\right)^{2} + "
                                                  r"\left(p^{\mathrm{max}}\right)^{2} + \left(-x_{t}\right)^{3}")


def test_symbols():
    assert mathgen.symbol("eta") == r"\eta"
    assert mathgen.symbol("eta_dis") == r"\eta^{\mathrm{dis}}"
    assert mathgen.symbol("p_max") == r"p^{\mathrm{max}}"
    assert mathgen.symbol("soc_min") == r"\mathrm{soc}^{\mathrm{min}}"
    assert mathgen.symbol("capacity") == r"\mathrm{capacity}"
    assert mathgen.symbol("dt") == r"\Delta t"
    assert mathgen.symbol("a_b_c") == r"a^{\mathrm{b},\mathrm{c}}"
    assert mathgen.symbol("x__y") == r"\mathrm{x\_\_y}"


def test_storage_reads_as_written():
    tex = mathgen.render([mathgen.stdlib_template("Storage")], "tex")
    assert (r"e_{t} = e_{t-1} + \left(\eta^{\mathrm{ch}} \cdot \mathrm{ch}_{t} - "
            r"\frac{\mathrm{dis}_{t}}{\eta^{\mathrm{dis}}}\right) \cdot \Delta t && \forall t") in tex
    assert r"e_{-1} = \mathrm{soc}^{\mathrm{init}} \cdot \mathrm{capacity}" in tex          # the initial value
    assert r"& \mathrm{dis}_{t} - \mathrm{ch}_{t} && \text{into } c" in tex                  # the port
    assert r"\mathrm{cost} = \sum_{t} \mathrm{om} \cdot" in tex                                # the cost
    assert r"0 \le \mathrm{soc}^{\mathrm{min}} \le \mathrm{soc}^{\mathrm{init}}" in tex      # a condition
    chp = mathgen.render([mathgen.stdlib_template("CHPUnit")], "md")
    assert r"\mathrm{on}_{t} \in \{0, 1\}" in chp and "$$" in chp
    assert r"-\mathrm{ramp} \le p_{t} - p_{t-1} \le \mathrm{ramp} && t \ge 1" in chp        # no initial: t >= 1


def test_stdlib_reference_carries_the_math():
    from mgdsl.docgen import markdown

    doc = (ROOT / "docs" / "stdlib.md").read_text()
    assert doc == markdown(), "regenerate: mgdsl templates --markdown > docs/stdlib.md"
    assert "## Defaults that carry money" in doc
    for name in NAMES:
        section = doc.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert "$$\n\\begin{aligned}" in section, name
    balanced(doc.replace("\\$", ""))


def test_cli_template(tmp_path):
    r = CliRunner().invoke(main, ["math", "Storage", "--format", "tex"])
    assert r.exit_code == 0, r.output
    assert r.output == (GOLDEN / "Storage.tex").read_text()
    out = tmp_path / "s.md"
    r = CliRunner().invoke(main, ["math", "Storage", "-o", str(out)])
    assert r.exit_code == 0 and out.read_text().startswith("# Mathematics of Storage")
    assert "$$" in out.read_text()


def test_cli_file_renders_its_own_and_used_templates(tmp_path):
    (tmp_path / "m.mgd").write_text("""\
use stdlib
horizon 2 steps of 1 h
device Heater(h_max: kW, cop = 3) {
    var h[t]: kW in 0 .. h_max
    port electricity -= h / cop
    port heat += h
}
microgrid mg {
    hp = Heater(h_max = 10 kW)
    grid = ElectricityTrade(buy_price = 0.1 money/kWh)
    load = Load(heat, base = 5 kW)
}
""")
    r = CliRunner().invoke(main, ["math", str(tmp_path / "m.mgd")])
    assert r.exit_code == 0, r.output
    heads = re.findall(r"^## (\w+)", r.output, re.M)
    assert heads[0] == "Heater" and sorted(heads) == ["ElectricityTrade", "Heater", "Load"]
    assert r"- \frac{h_{t}}{\mathrm{cop}} && \text{into } \mathrm{electricity}" in r.output
    balanced(r.output)


def test_cli_library_file():
    r = CliRunner().invoke(main, ["math", str(ROOT / "stdlib" / "storage.mgd"), "--format", "tex"])
    assert r.exit_code == 0 and r"\subsection*{Storage}" in r.output


def test_cli_unknown_template_and_bad_file(tmp_path):
    r = CliRunner().invoke(main, ["math", "Storag"])
    assert r.exit_code == EXIT_USAGE
    assert "did you mean `Storage`" in r.output and "Traceback" not in r.output
    (tmp_path / "bad.mgd").write_text("horizon 2 steps of 1 h\nmicrogrid mg { x = Nope() }\n")
    r = CliRunner().invoke(main, ["math", str(tmp_path / "bad.mgd")])
    assert r.exit_code == EXIT_INPUT and "error[E" in r.output and "Traceback" not in r.output


def test_lets_untimed_variables_and_forward_shifts(tmp_path):
    """A let's shift carries into the constraint's quantifier; an untimed variable and its cost have no t."""
    (tmp_path / "tank.mgd").write_text("""\
device Tank(cap: kWh, loss = 1 %, alpha_in = 0.9) {
    var e[t]: kWh in 0 .. cap
    var u[t]: kW in 0 .. 10 kW
    var size: kWh >= 0
    let kept = (1 - loss) * e[t-1]
    bal: e[t] == kept + alpha_in * u[t] * dt
    e[t] <= size
    e[t+2] >= 0 kWh
    cost += 3 money/kWh * size
    port heat -= u
}
""")
    (tpl,) = mathgen.file_templates(tmp_path / "tank.mgd")
    m = mathgen.template_math(tpl)
    assert [ln.math for ln in m.lets] == [r"\mathrm{kept}_{t} := \left(1 - \mathrm{loss}\right) \cdot e_{t-1}"]
    assert [ln.note for ln in m.constraints] == [r"t \ge 1\quad \text{(bal)}", r"\forall t", r"t \le N-3"]
    assert m.variables[2].math == r"\mathrm{size} \ge 0" and m.variables[2].note == r"\mathrm{kWh}"
    assert m.cost[0].math == r"\mathrm{cost} = 3\,\mathrm{money/kWh} \cdot \mathrm{size}"
    assert m.balance[0].math == r"- u_{t}"


KATEX_CHECK = r"""
const katex = require(process.env.KATEX_MODULE); const fs = require('fs');
let bad = [];
for (const block of JSON.parse(fs.readFileSync(0, 'utf8'))) {
  try { katex.renderToString(block, {displayMode: true, throwOnError: true, strict: 'error'}); }
  catch (e) { bad.push(e.message); }
}
console.log(JSON.stringify(bad));
"""


def test_katex_renders_every_block():
    """Every $$ block of docs/stdlib.md renders in KaTeX (strict), when node and katex are at hand:
    MGDSL_KATEX=/path/to/node_modules/katex (e.g. after `npm install katex` in a scratch folder)."""
    import json
    import shutil
    import subprocess

    module = os.environ.get("MGDSL_KATEX")
    if not module or shutil.which("node") is None:
        pytest.skip("set MGDSL_KATEX to a katex module folder (and have node) to render the math")
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", (ROOT / "docs" / "stdlib.md").read_text(), re.S)
    assert len(blocks) > 3 * len(NAMES)
    r = subprocess.run(["node", "-e", KATEX_CHECK], input=json.dumps(blocks), capture_output=True, text=True,
                       env={**os.environ, "KATEX_MODULE": module}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
