"""The benchmarks' shared console table: right-aligned columns from (key, heading, format) triples."""
from __future__ import annotations

from typing import Callable


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
