"""Locate package data: the grammar and the standard library, installed or in a source checkout."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # Installed wheel: mgdsl/grammar, mgdsl/stdlib. Source checkout or editable install: ../grammar.
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mgdsl installation is incomplete: no {name}/ directory next to {_PACKAGE}")


def grammar_text() -> str:
    return (_data_dir("grammar") / "mgdsl.lark").read_text(encoding="utf-8")


def stdlib_dir() -> Path:
    return _data_dir("stdlib")
