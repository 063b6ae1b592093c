"""Regression tests of the reliability issue: inputs that crashed the checker or the compiler (each is now a
located error that says what to do), the size limits, and the files a model may read."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import mgdsl
from mgdsl.diagnostics import MgdError
from mgdsl.resources import stdlib_dir
from mgdsl.sema import limits

ROOT = Path(__file__).resolve().parent.parent
HEAD = "use stdlib\nhorizon 3 steps of 1 h\nprofile price: yuan/kWh = [0.3, 0.6, 1.2]\n"
SHOP = "microgrid shop {\n grid = ElectricityTrade(buy_price = price)\n load = Load(electricity, base = 100 kW)\n}\n"


def network(body: str = "", base: str = "1 MVA, 12.66 kV", buses: str = "1 .. 3", lines: str | None = None) -> str:
    if lines is None:
        lines = " line 1 - 2: r = 0.1 ohm, x = 0.1 ohm\n line 2 - 3: r = 0.1 ohm, x = 0.1 ohm\n"
    return (f"network dn {{\n base {base}\n buses {buses}\n slack 1 buys at price\n{lines}{body}}}\n")


def error_of(text: str | None = None, path: Path | str | None = None, lower: bool = True, **kwargs) -> MgdError:
    """The MgdError that checking (and lowering) raises; every diagnostic has a location and renders."""
    with pytest.raises(MgdError) as caught:
        system = mgdsl.load(path, **kwargs) if text is None else mgdsl.loads(text, path=str(path or "<string>"),
                                                                             **kwargs)
        if lower:
            system.lower()
    for d in caught.value.diagnostics:
        assert d.span is not None, f"{d.code} has no location: {d.message}"
        assert d.help, f"{d.code} says not what to do: {d.message}"
        d.render()
    return caught.value


def codes(err: MgdError) -> list[str]:
    return [d.code for d in err.diagnostics]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("text, code, where", [
    ("let x = 10 ^ 400\n", "E0404", (4, 9)),                                     # overflow of a power
    ("let x = 1e200 * 1e200 * 0\n", "E0404", (4, 9)),                            # overflow, then 0 * inf
    ("let x = 1e309\n", "E0404", (4, 9)),                                        # a literal beyond floats
    ("profile p = [1, 2, 1e400]\n", "E0404", (4, 20)),
])
def test_numbers_that_overflow_are_located(text, code, where):
    err = error_of(HEAD + text, lower=False)
    assert codes(err) == [code]
    assert (err.diagnostics[0].span.line, err.diagnostics[0].span.column) == where


def test_horizon_number_out_of_range():
    assert codes(error_of("use stdlib\nhorizon 1e309 steps of 1 h\n")) == ["E0404"]
    assert codes(error_of("use stdlib\nhorizon 3 steps of 1e309 h\n")) == ["E0404"]
    assert codes(error_of("use stdlib\nhorizon 3 steps of 1e300 h\n" + SHOP.replace("= price", "= 1 yuan/kWh"))) \
        == ["E0404"]
    err = error_of("use stdlib\nhorizon 99999999999999999999 steps of 1 h\n" + SHOP.replace("= price", "= 1 yuan/kWh"))
    assert codes(err) == ["E0004"] and "1,000,000 steps" in err.diagnostics[0].message


def test_time_offset_out_of_range():
    tpl = "device D() {\n var p[t]: kW in 0 .. 1 kW\n p[t] <= p[t-OFFSET]\n port electricity += p\n}\n"
    for offset in ("1e309", "2.5", "99999999999"):
        err = error_of(HEAD + tpl.replace("OFFSET", offset) + "microgrid m {\n d = D()\n}\n")
        assert codes(err) == ["E0503"], offset


@pytest.mark.parametrize("index", ["first-1", "last+1", "first+3", "last-3"])
def test_fixed_steps_outside_the_horizon(index):
    """Lowering once clamped these to the first or last step without a word."""
    tpl = ("device D() {\n var p[t]: kW in 0 .. 1 kW\n p[INDEX] >= 0.5 kW\n port electricity += p\n}\n"
           .replace("INDEX", index))
    err = error_of(HEAD + tpl + "microgrid m {\n d = D()\n g = ElectricityTrade(buy_price = price)\n}\n")
    assert codes(err) == ["E0503"] and err.diagnostics[0].span.text == f"[{index}]"


def test_argument_beyond_the_magnitude_limit():
    """Load(base = 1e308 kW) once reached linopy and failed there with an IndexError."""
    err = error_of(HEAD + SHOP.replace("100 kW", "1e308 kW"))
    assert codes(err) == ["E0404"] and "out of range" in err.diagnostics[0].message
    assert err.diagnostics[0].span.text == "1e308 kW"


def test_default_computed_out_of_range_points_at_the_call():
    err = error_of(HEAD + "microgrid m {\n s = Storage(electricity, capacity = 1e11 kWh, p_max = 1 kW, soc_init = 90,"
                          " soc_max = 100)\n}\n")
    assert "E0404" in codes(err)


def _line_of(stdlib_file: str, text: str) -> int:
    """The line of the stdlib file that holds `text` (the expected location, wherever formatting put it)."""
    lines = (stdlib_dir() / stdlib_file).read_text().splitlines()
    return next(k for k, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("instance, where", [
    ("gb = GasBoiler(h_max = 10 kW, eta = 0)", f"conversion.mgd:{_line_of('conversion.mgd', 'h / eta')}"),
    ("es = Storage(electricity, capacity = 10 kWh, p_max = 1 kW, eta_dis = 0)", "storage.mgd"),
])
def test_division_by_zero_in_a_template_is_found_by_check(instance, where):
    err = error_of(HEAD + f"microgrid m {{\n {instance}\n g = GasSupply(price = 0.3 yuan/kWh)\n}}\n", lower=False)
    d = err.diagnostics[0]
    assert d.code == "E0404" and "division by zero" in d.message and where in d.location()
    assert d.secondary and d.secondary[0].span.file.path == "<string>"           # the instance is named too


def test_template_product_out_of_range():
    text = (HEAD + "device D(a: kW) {\n var x[t]: kW in 0 .. a * a / 1 kW\n port electricity += x\n}\n"
            "microgrid m {\n d = D(a = 1e11 kW)\n}\n")
    assert codes(error_of(text, lower=False)) == ["E0404"]


def test_couple_constants_are_checked():
    text = (HEAD + "microgrid a {\n g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n"
            "microgrid b {\n g = ElectricityTrade(buy_price = 1 yuan/kWh)\n}\n"
            "couple c: a.g.buy * 1e200 * 1e200 == b.g.buy\n")
    assert codes(error_of(text, lower=False)) == ["E0404"]


# ------------------------------------------------------------------ the network
def test_base_values_must_be_positive():
    for base in ("0 MVA, 12.66 kV", "1 MVA, 0 kV", "-1 MVA, 12.66 kV"):
        err = error_of(HEAD + network(base=base))
        assert codes(err) == ["E0404"], base
        assert "must be positive" in err.diagnostics[0].message


def test_network_values_must_be_numbers_not_series_or_overflows():
    assert codes(error_of(HEAD + network(base="1 MVA * [1, 2, 3], 12.66 kV"))) == ["E0404"]
    assert codes(error_of(HEAD + network(lines=" line 1 - 2: r = 0 ohm * (1e308 * 10), x = 0.1 ohm\n"
                                                " line 2 - 3: r = 0.1 ohm, x = 0.1 ohm\n"))) == ["E0404"]
    assert codes(error_of(HEAD + network(lines=" line 1 - 2: r = -1 ohm, x = 0.1 ohm\n"
                                                " line 2 - 3: r = 0.1 ohm, x = 0.1 ohm\n"))) == ["E0404"]
    assert codes(error_of(HEAD + network(body=" load 2: p = 1e13 kW\n"))) == ["E0404"]


def test_slack_selling_above_its_purchase_price():
    err = error_of(HEAD + network().replace("buys at price", "buys at price sells at 1 yuan/kWh"))
    assert codes(err) == ["E0404"] and "t=0" in err.diagnostics[0].message


def test_division_by_a_tiny_value_in_a_template():
    """eta_dis = 1e-300 made a coefficient of 1e300, which failed inside linopy with an IndexError."""
    err = error_of(HEAD + "microgrid m {\n es = Storage(electricity, capacity = 10 kWh, p_max = 1 kW, "
                          "eta_dis = 1e-300)\n g = ElectricityTrade(buy_price = price)\n}\n")
    assert codes(err) == ["E0404"] and "coefficient" in err.diagnostics[0].message


def test_bus_numbers_and_counts():
    assert codes(error_of(HEAD + network(buses="1 .. 2147483648"))) == ["E0404"]      # not a bus number
    t0 = time.perf_counter()
    err = error_of(HEAD + network(buses="1 .. 100000000"))          # once 97 s and 10 GB
    assert codes(err) == ["E0004"] and time.perf_counter() - t0 < 5
    err = error_of("use stdlib\nhorizon 100000 steps of 1 min\nprofile price: yuan/kWh = 1 yuan/kWh\n"
                   + network(buses="1 .. 1000"))
    assert codes(err) == ["E0004"] and "bus-steps" in err.diagnostics[0].message


@pytest.mark.parametrize("table, column, content", [
    ("lines", "from", "from,to,r_ohm,x_ohm\n1,2,0.1,0.1\ninf,3,0.1,0.1\n"),
    ("lines", "to", "from,to,r_ohm,x_ohm\n1,2,0.1,0.1\n2,nan,0.1,0.1\n"),
    ("lines", "r_ohm", "from,to,r_ohm,x_ohm\n1,2,nan,0.1\n2,3,0.1,0.1\n"),
    ("lines", "x_ohm", "from,to,r_ohm,x_ohm\n1,2,0.1,1e999\n2,3,0.1,0.1\n"),
    ("lines", "from", "from,to,r_ohm,x_ohm\n1.5,2,0.1,0.1\n2,3,0.1,0.1\n"),
    ("lines", "in_service", "from,to,r_ohm,x_ohm,in_service\n1,2,0.1,0.1,maybe\n2,3,0.1,0.1,1\n"),
    ("loads", "bus", "bus,p_kw\ninf,1\n"),
    ("loads", "bus", "bus,p_kw\nnan,1\n"),
    ("loads", "p_kw", "bus,p_kw\n2,nan\n"),
    ("loads", "q_kvar", "bus,p_kw,q_kvar\n2,1,-inf\n"),
    ("loads", "p_kw", "bus,p_kw\n2,1e300\n"),
])
def test_network_tables_with_bad_cells(tmp_path, table, column, content):
    write(tmp_path / "t.csv", content)
    if table == "lines":
        text = HEAD + network(lines=' lines csv("t.csv")\n')
    else:
        text = HEAD + network(body=' loads csv("t.csv")\n')
    err = error_of(text, path=tmp_path / "m.mgd")
    assert codes(err) in (["E0403"], ["E0404"])
    assert column in err.diagnostics[0].message


# ------------------------------------------------------------------ expressions and sizes
@pytest.mark.parametrize("expr", [
    "-" * 500 + "1",                                      # 500 nested negations
    " + ".join(["1"] * 500),                              # a sum of 500 terms
    " + ".join(["1"] * 5000),
    "sum(" * 150 + "1" + ")" * 150,
    "[" * 150 + "1" + "]" * 150,
])
def test_deep_expressions_are_a_located_limit(expr):
    err = error_of(HEAD + f"let x = {expr}\n" + SHOP)
    assert codes(err) == ["E0004"]
    assert "levels deep" in err.diagnostics[0].message and err.diagnostics[0].span.line == 4


def test_expressions_at_the_depth_limit_compile_and_solve():
    terms = " + ".join(["1 kW"] * (limits.MAX_EXPRESSION_DEPTH - 2))
    system = mgdsl.loads(HEAD + f"let x = {terms}\n" + SHOP.replace("100 kW", "x"))
    assert system.solve().objective == pytest.approx(98 * (0.3 + 0.6 + 1.2))
    tpl = ("device D(a: kW) {\n var p[t]: kW in 0 .. " + " + ".join(["a"] * 90) + "\n port electricity += p\n"
           " cost += " + " + ".join(["0.01 yuan/kWh * p * dt"] * 90) + "\n}\n")
    system = mgdsl.loads(HEAD + tpl + "microgrid m {\n d = D(a = 1 kW)\n l = Load(electricity, base = 1 kW)\n}\n")
    system.solve()


def test_source_file_size_limit(tmp_path, monkeypatch):
    big = write(tmp_path / "big.mgd", "# " + "x" * 200 + "\n")
    monkeypatch.setattr("mgdsl.sema.loader.MAX_SOURCE_BYTES", 150)
    with pytest.raises(MgdError) as caught:
        mgdsl.load(big)
    assert codes(caught.value) == ["E0004"]
    err = error_of('use "big.mgd"\n' + HEAD, path=tmp_path / "m.mgd", lower=False)
    assert codes(err) == ["E0004"]
    with pytest.raises(MgdError) as caught:
        mgdsl.loads("# " + "x" * 200)
    assert codes(caught.value) == ["E0004"]


def test_a_device_is_not_a_model_file():
    with pytest.raises(MgdError) as caught:
        mgdsl.load("/dev/zero")                            # would be read forever
    assert codes(caught.value) == ["E0003"] and "not a regular file" in caught.value.diagnostics[0].message


def test_series_values_limit(monkeypatch):
    monkeypatch.setattr("mgdsl.sema.system.MAX_SERIES_VALUES", 10)
    err = error_of(HEAD + "profile shape = [1, 2, 3]\nmicrogrid m {\n"
                   + "".join(f" l{k} = Load(electricity, base = {k} kW * shape)\n" for k in range(1, 6)) + "}\n")
    assert codes(err) == ["E0004"]


def test_decompose_settings_in_range():
    err = error_of(HEAD + SHOP + "decompose atc {\n max_iterations 1e300\n workers 99999\n tolerance 1e300\n"
                                 "}\n", lower=False)
    assert codes(err) == ["E0404", "E0404", "E0404"]
    assert codes(error_of(HEAD + SHOP + "decompose atc {\n seed 2.5\n}\n", lower=False)) == ["E0504"]


# ------------------------------------------------------------------ data files
@pytest.mark.parametrize("content, words", [
    (bytes(range(256)) * 4, "not text"),
    ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
    (b"a\n\xff\xfe1\n", "not UTF-8"),
    ("a\n" + "x" * (200 * 1024) + "\n", "larger than 128 kB"),
    ("a,b\n1\n", "has 1 cells but the header has 2"),
    ("a,a\n1,2\n", "twice"),
    ("", "empty"),
    ("a\n", "no data rows"),
])
def test_unreadable_csv_files(tmp_path, content, words):
    write(tmp_path / "d.csv", content)
    err = error_of(HEAD + 'profile p = csv("d.csv", "a")\n' + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) in (["E0403"], ["E0004"])
    assert words in err.diagnostics[0].message


def test_csv_file_size_limit(tmp_path, monkeypatch):
    write(tmp_path / "d.csv", "a\n" + "1\n" * 100)
    monkeypatch.setattr("mgdsl.sema.values.MAX_DATA_BYTES", 50)
    err = error_of(HEAD + 'profile p = csv("d.csv", "a")\n' + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) == ["E0004"]


def test_csv_cells_inf_and_nan(tmp_path):
    write(tmp_path / "d.csv", "a\n1\ninf\n2\n")
    err = error_of(HEAD + 'profile p = csv("d.csv", "a")\n' + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) == ["E0403"] and "row 3: `inf`" in err.diagnostics[0].message


def test_nul_byte_in_a_csv_path():
    err = error_of(HEAD + 'profile p = csv("a\x00b.csv", "x")\n' + SHOP)
    assert codes(err) == ["E0402"] and "control character" in err.diagnostics[0].message


def test_nul_byte_in_a_model_file_is_located(tmp_path):
    err = error_of(path=write(tmp_path / "m.mgd", HEAD + "let x = 1\x00\n" + SHOP), lower=False)
    assert codes(err) == ["E0002"] and "\\x00" in err.diagnostics[0].message


def test_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path / "m.mgd", b"\xef\xbb\xbf" + (HEAD + SHOP).encode())
    assert mgdsl.load(path).solve().objective == pytest.approx(210.0)
    assert mgdsl.loads("\ufeff" + HEAD + SHOP).ir.steps == 3
    write(tmp_path / "lib.mgd", b"\xef\xbb\xbfdevice D() {\n var p[t]: kW in 0 .. 1 kW\n port electricity += p\n}\n")
    mgdsl.loads('use "lib.mgd"\n' + HEAD + "microgrid m {\n d = D()\n}\n", path=str(tmp_path / "m.mgd"))


def test_missing_column_does_not_list_the_header(tmp_path):
    write(tmp_path / "d.csv", "secret_one,secret_two,electricity\n" + "1,2,3\n" * 3)
    err = error_of(HEAD + 'profile p = csv("d.csv", "electricty")\n' + SHOP, path=tmp_path / "m.mgd")
    text = err.render()
    assert "did you mean `electricity`" in text and "secret" not in text


# ------------------------------------------------------------------ checks moved from lowering to checking
def test_heat_device_in_the_network_is_a_check_error():
    err = error_of(HEAD + network(body=" at 2: h = Load(heat, base = 10 kW)\n"), lower=False)
    assert codes(err) == ["E0504"] and "no `heat` balance" in err.diagnostics[0].message


def test_no_decision_variables_is_a_check_error():
    err = error_of(HEAD + "device D() {\n port electricity += 0 kW\n}\nmicrogrid m {\n d = D()\n}\n", lower=False)
    assert codes(err) == ["E0505"]


# ------------------------------------------------------------------ files a model may read
def test_csv_outside_the_model_folder_is_refused(tmp_path):
    for target in ("../../../../../../../../etc/passwd", "/etc/passwd", "/proc/self/environ"):
        err = error_of(HEAD + f'profile p = csv("{target}", "root")\n' + SHOP, path=tmp_path / "m.mgd")
        assert codes(err) == ["E0405"], target
        text = err.render()
        assert "root:" not in text and "--allow-read" in text


def test_use_outside_the_model_folder_does_not_print_the_file(tmp_path):
    err = error_of('use "/etc/passwd"\n' + HEAD + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) == ["E0405"] and "root:" not in err.render()


def test_use_of_a_file_that_is_not_mgd_text(tmp_path):
    write(tmp_path / "data.csv", "secret,1\n")
    err = error_of('use "data.csv"\n' + HEAD + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) == ["E0003"] and "secret" not in err.render()
    write(tmp_path / "bin.mgd", b"secret\x00\xff\xfe")
    err = error_of('use "bin.mgd"\n' + HEAD + SHOP, path=tmp_path / "m.mgd")
    assert codes(err) == ["E0003"] and "secret" not in err.render()


def test_symlink_leaving_the_folder_counts_as_leaving(tmp_path):
    outside = write(tmp_path / "outside" / "prices.csv", "price\n1\n2\n3\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.symlink(outside, model_dir / "prices.csv")
    os.symlink(outside.parent, model_dir / "data")
    for path in ("prices.csv", "data/prices.csv"):
        err = error_of(HEAD + f'profile p = csv("{path}", "price")\n' + SHOP, path=model_dir / "m.mgd")
        assert codes(err) == ["E0405"]
    # allowed explicitly: read
    system = mgdsl.loads(HEAD + 'profile p = csv("data/prices.csv", "price")\n' + SHOP,
                         path=str(model_dir / "m.mgd"), allow_read=[tmp_path / "outside"])
    assert list(system.ir.instances["Load"][0].values) == ["c", "base"]


def test_allow_read_opens_a_folder(tmp_path):
    write(tmp_path / "shared" / "p.csv", "price\n0.3\n0.6\n1.2\n")
    write(tmp_path / "shared" / "lib.mgd", "device D() {\n var p[t]: kW in 0 .. 1 kW\n port electricity += p\n}\n")
    text = ('use "../shared/lib.mgd"\n' + HEAD.replace("[0.3, 0.6, 1.2]", 'csv("../shared/p.csv", "price")')
            + SHOP + "microgrid m {\n d = D()\n}\n")
    model = write(tmp_path / "model" / "m.mgd", text)
    assert set(codes(error_of(path=model, lower=False))) == {"E0405"}
    system = mgdsl.load(model, allow_read=[str(tmp_path / "shared")])
    assert system.solve().objective == pytest.approx(210.0)
    assert mgdsl.load(model, allow_read=tmp_path / "shared").ir.steps == 3        # one folder alone


def test_bundled_models_read_only_their_folder():
    for path in sorted(ROOT.glob("models/*.mgd")):
        mgdsl.load(path)                                     # their data is in models/data/
