"""Candidate commands and events for the supervisory layer, read from CSV or JSON with every bad cell located
(E0811 commands, E0813 events). A command: event, controller, target (a microgrid, its storage, a hydro unit or a
tie), quantity `p`, value in kW, confidence rho, and the communication index C_com, resource correlation C_res,
history C_his and age (s) of the message. An event: step, kind (load | pv), microgrid, value in kW."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..diagnostics import Diagnostic, Label, MgdError
from ..source import SourceFile


@dataclass
class Command:
    event: int
    controller: str
    target: str
    value: float               # kW, a change of the target's reference
    rho: float = 1.0
    comm: float = 1.0
    res: float = 1.0
    his: float = 1.0
    age_s: float = 0.0
    span: object = None


@dataclass
class Event:
    step: int
    kind: str                  # load: the microgrid's load changes by value; pv: its PV availability does
    microgrid: str
    value: float
    span: object = None


COMMAND_COLUMNS = {"event": 0, "controller": None, "target": None, "quantity": "p", "value": None,
                   "confidence": 1.0, "comm": 1.0, "res": 1.0, "his": 1.0, "age_s": 0.0}
EVENT_COLUMNS = {"step": None, "kind": None, "microgrid": None, "value": None}


def _err(code, message, span, label, help_, secondary=()):
    return MgdError([Diagnostic(code, message, span, label, help=help_,
                                secondary=[Label(s, t) for s, t in secondary if s])])


def _rows(path: str | Path, code: str, columns: dict, what: str):
    """(records with a span per cell, the source) from a CSV or a JSON list of objects."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise _err(code, f"cannot read the {what} {path}: {getattr(e, 'strerror', None) or e}", None, "",
                   "give a readable UTF-8 CSV or JSON file") from None
    src = SourceFile(str(path), text)
    records = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise _err(code, f"the {what} are not valid JSON: {e.msg}", src.span(e.pos, e.pos + 1), "here",
                       "write a JSON list of objects, one per row") from None
        if isinstance(data, dict):
            data = data.get("commands", data.get("events"))
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise _err(code, f"the {what} JSON is not a list of objects", src.span(0, min(len(text), 1)), "here",
                       "write a list like [{\"controller\": \"A1\", \"target\": \"mg2\", \"value\": 120}, ...]")
        whole = src.span(0, len(text.rstrip()))
        for r in data:
            records.append(({k: ("" if v is None else str(v)) for k, v in r.items()},
                            {k: whole for k in r}, whole))
    else:
        lines = text.splitlines(keepends=True)
        if not lines or not lines[0].strip():
            raise _err(code, f"the {what} file is empty", src.span(0, 0), "no header",
                       f"its first line names the columns: {', '.join(c for c, d in columns.items() if d is None)}")
        header = [h.strip() for h in next(csv.reader(io.StringIO(lines[0])))]
        head_span = src.span(0, len(lines[0].rstrip("\r\n")))
        for h in header:
            if h not in columns:
                raise _err(code, f"unknown column `{h}` in the {what}", head_span, "this header",
                           f"the columns are {', '.join(f'`{c}`' for c in columns)}")
        offset = len(lines[0])
        for line in lines[1:]:
            if line.strip() and not line.lstrip().startswith("#"):
                cells = next(csv.reader(io.StringIO(line)))
                spans, pos = {}, 0
                for name, cell in zip(header, cells):
                    spans[name] = src.span(offset + pos, offset + pos + max(len(cell), 1))
                    pos += len(cell) + 1
                records.append(({n: c.strip() for n, c in zip(header, cells)}, spans,
                                src.span(offset, offset + len(line.rstrip("\r\n")))))
            offset += len(line)
    for name, default in columns.items():
        if default is None and records and any(name not in r for r, _, _ in records):
            raise _err(code, f"the {what} have no `{name}` column", src.span(0, len(text.splitlines()[0]))
                       if text else None, "this header", f"add a `{name}` column")
    return records


def _number(rec, spans, row_span, name, default, code, what, low=None, integer=False):
    cell = rec.get(name, "")
    if cell == "":
        if default is None:
            raise _err(code, f"`{name}` is missing in this row of the {what}", row_span, "this row",
                       f"give `{name}`")
        return default
    try:
        value = float(cell)
        ok = value == value and abs(value) != float("inf") and (low is None or value >= low) \
            and (not integer or value == int(value))
    except ValueError:
        ok = False
    if not ok:
        kind = "a whole number" if integer else "a number"
        bound = f" of at least {low:g}" if low is not None else ""
        raise _err(code, f"`{name}` is not {kind}{bound}: `{cell}`", spans.get(name, row_span), "this cell",
                   f"give `{name}` as {kind}{bound}")
    return int(value) if integer else value


def read_commands(path: str | Path, targets: dict) -> list[Command]:
    """Candidate commands from a CSV or JSON file; every target must be one of `targets` (E0811)."""
    out = []
    for rec, spans, row in _rows(path, "E0811", COMMAND_COLUMNS, "commands"):
        target = rec.get("target", "")
        if target not in targets:
            raise _err("E0811", f"unknown command target `{target}`", spans.get("target", row), "this target",
                       "target a microgrid, its grid-forming storage, a SmallHydro unit or a tie switch: "
                       + ", ".join(f"`{t}`" for t in list(targets)[:12]))
        if rec.get("quantity", "p") not in ("p", ""):
            raise _err("E0811", f"unknown quantity `{rec['quantity']}`", spans.get("quantity", row), "this cell",
                       "commands set active power: write `p` (kW)")
        if not rec.get("controller"):
            raise _err("E0811", "a command without a controller", row, "this row", "name the controller")
        out.append(Command(
            _number(rec, spans, row, "event", 0, "E0811", "commands", 0, True), rec["controller"], target,
            _number(rec, spans, row, "value", None, "E0811", "commands"),
            _number(rec, spans, row, "confidence", 1.0, "E0811", "commands", 0.0),
            _number(rec, spans, row, "comm", 1.0, "E0811", "commands", 0.0),
            _number(rec, spans, row, "res", 1.0, "E0811", "commands", 0.0),
            _number(rec, spans, row, "his", 1.0, "E0811", "commands", 0.0),
            _number(rec, spans, row, "age_s", 0.0, "E0811", "commands", 0.0), row))
    return out


def read_events(path: str | Path, microgrids: list[str], steps: int) -> list[Event]:
    """Disturbances from a CSV or JSON file (E0813)."""
    out = []
    for rec, spans, row in _rows(path, "E0813", EVENT_COLUMNS, "events"):
        step = _number(rec, spans, row, "step", None, "E0813", "events", 0, True)
        if step >= steps:
            raise _err("E0813", f"t={step} is beyond the horizon ({steps} steps)", spans.get("step", row),
                       "this step", f"give a step from 0 to {steps - 1}")
        if rec.get("kind") not in ("load", "pv"):
            raise _err("E0813", f"unknown event kind `{rec.get('kind')}`", spans.get("kind", row), "this kind",
                       "write `load` (the microgrid's load changes by value kW) or `pv` (its PV availability does)")
        if rec.get("microgrid") not in microgrids:
            raise _err("E0813", f"unknown microgrid `{rec.get('microgrid')}`", spans.get("microgrid", row),
                       "this microgrid", "name one of " + ", ".join(f"`{m}`" for m in microgrids))
        out.append(Event(step, rec["kind"], rec["microgrid"],
                         _number(rec, spans, row, "value", None, "E0813", "events"), row))
    return sorted(out, key=lambda e: e.step)
