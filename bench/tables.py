"""The benchmarks' shared output: a console table of (key, heading, format) columns, and the CSV file."""
from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mgdsl.files import atomic_write  # noqa: E402


def format_cell(row: dict, key: str, fmt: str) -> str:
    """A missing value (None, "" or absent) prints as "-"."""
    value = row.get(key)
    if value is None or value == "":
        return "-"
    return fmt.format(value)


def print_table(rows: list[dict], columns: list[tuple[str, str, str]],
                cell: Callable[[dict, str, str], str] = format_cell) -> None:
    heads = [h for _, h, _ in columns]
    cells = [[cell(r, k, f) for k, _, f in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    print("  ".join(h.rjust(w) for h, w in zip(heads, widths)))
    for c in cells:
        print("  ".join(x.rjust(w) for x, w in zip(c, widths)))


def write_csv(path: Path, rows: list[dict], fields: list[str] | None = None) -> None:
    """All rows (only `fields`, default the first row's keys) to `path`, whole or not at all; says where."""
    fields = fields or list(rows[0])

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    atomic_write(path, write)
    path = Path(path).resolve()
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
