"""The decomposition settings are declared once (mgdsl/decompose/settings.py): every setting can be written in
the file and as a flag and reaches the options; a bad one is a located `check` error; the docs show the schema."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

import mgdsl
from mgdsl.cli import _atc_overrides, main, solve
from mgdsl.decompose.settings import DEFAULTS, SPECS, ATCOptions, docs_table, value_problem
from mgdsl.diagnostics import MgdError

from .atc_cases import CONTINUOUS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "atc.md"


def other_value(name: str):
    """A valid value for the setting that is not its default, as Python and as written in a file."""
    spec, default = SPECS[name], getattr(DEFAULTS, name)
    if spec.kind == "word":
        word = next(c for c in spec.choices if c != default)
        return word, word
    if spec.kind == "text":
        return "tcp://127.0.0.1:8786", '"tcp://127.0.0.1:8786"'
    if spec.kind == "count":
        value = (default or 1) + 1
        return value, str(value)
    value = (default or 0.01) / 2
    assert value_problem(name, spec, value) is None
    return value, repr(value)


def test_every_setting_is_a_field_with_a_spec_and_valid_default():
    assert [f.name for f in dataclasses.fields(ATCOptions)] == list(SPECS)
    for name, spec in SPECS.items():
        assert value_problem(name, spec, getattr(DEFAULTS, name)) is None, name
        assert spec.help and spec.group


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.in_block])
def test_every_setting_can_be_written_in_the_file(name):
    value, written = other_value(name)
    system = mgdsl.loads(CONTINUOUS + f"decompose atc {{\n    {name} {written}\n}}\n")
    assert getattr(system.atc_options(), name) == value


def test_the_method_is_the_word_after_decompose():
    assert mgdsl.loads(CONTINUOUS + "decompose admm {\n    tolerance 1e-4\n}\n").atc_options().method == "admm"
    with pytest.raises(MgdError) as e:
        mgdsl.loads(CONTINUOUS + "decompose atc {\n    method admm\n}\n")
    assert e.value.diagnostics[0].code == "E0504" and "decompose admm" in e.value.diagnostics[0].help


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.flag])
def test_every_setting_has_a_flag_that_reaches_the_options(name):
    flags = {opt: p for p in solve.params for opt in getattr(p, "opts", [])}
    flag = "--" + name.replace("_", "-")
    assert flag in flags, f"no flag {flag}"
    value, _ = other_value(name)
    parsed = flags[flag].type_cast_value(None, str(value)) if name != "initial" else "12.5"
    over = _atc_overrides({name: parsed})
    options = dataclasses.replace(ATCOptions(), **{k: v for k, v in over.items() if v is not None})
    options.check()
    if name == "initial":
        assert (options.initial, options.initial_value) == ("value", 12.5)
    else:
        assert getattr(options, name) == value


@pytest.mark.parametrize("line, code, at", [
    ("tolerence 1e-3", "E0504", "tolerence"),            # unknown setting, with a suggestion
    ("penalty quadratc", "E0504", "quadratc"),           # unknown word
    ("tolerance 0", "E0404", "0"),                       # out of range
    ("gamma 1", "E0404", "1"),
    ("max_iterations 2.5", "E0504", "2.5"),              # not a whole number
    ("subproblem_time_limit 5 kW", "E0504", "kW"),       # a unit the setting is not in
    ("scheduler tcp", "E0504", "tcp"),                   # text needs quotes
    ("workers 0", "E0404", "0"),
])
def test_a_bad_setting_is_a_located_check_error(tmp_path, line, code, at):
    text = CONTINUOUS + f"decompose atc {{\n    {line}\n}}\n"
    with pytest.raises(MgdError) as e:
        mgdsl.loads(text)
    (d,) = e.value.diagnostics
    assert d.code == code
    assert d.span.file.text[d.span.start:d.span.end] == at
    path = tmp_path / "m.mgd"
    path.write_text(text)
    r = CliRunner().invoke(main, ["check", str(path)])
    assert r.exit_code == 1 and code in r.output and "Traceback" not in r.output


def test_all_errors_of_a_block_at_once():
    with pytest.raises(MgdError) as e:
        mgdsl.loads(CONTINUOUS + "decompose atc {\n    tolerance -1\n    penalty nope\n    beta 0.5\n}\n")
    assert [d.code for d in e.value.diagnostics] == ["E0404", "E0504", "E0404"]


def test_units_convert_to_the_setting_unit():
    opts = mgdsl.loads(CONTINUOUS + "decompose atc {\n    subproblem_time_limit 2 min\n    initial value\n"
                                    "    initial_value 0.5 MW\n}\n").atc_options()
    assert (opts.subproblem_time_limit, opts.initial_value) == (120.0, 500.0)


def test_docs_show_the_schema():
    assert docs_table() in DOCS.read_text(), "docs/atc.md: paste mgdsl.decompose.settings.docs_table()"
