"""The size and magnitude limits of a model, each checked before anything of that size is allocated
(documented in docs/language.md, section Limits; a breach is error E0004, a number out of range E0404)."""
from __future__ import annotations

import math

import numpy as np

# ---- files
MAX_SOURCE_BYTES = 4 * 1024 * 1024        # one .mgd file (about 20 s to parse); the 1000-microgrid benchmark is 0.6 MB
MAX_TOTAL_SOURCE_BYTES = 16 * 1024 * 1024  # the main file and every library it uses, together
MAX_DATA_BYTES = 64 * 1024 * 1024         # one CSV file: a year of 1-minute values in ten columns fits
MAX_TOTAL_DATA_BYTES = 256 * 1024 * 1024  # all CSV files of one model: checking keeps their text
MAX_CSV_FIELD_CHARS = 128 * 1024          # one CSV cell (Python's csv default, kept explicit)
# Syntax errors are reported several at a time by parsing again with the bad line blanked; a large file is
# parsed once only so that a broken 8 MB file costs one parse, not ten.
MAX_SYNTAX_ERRORS = 10
MAX_REPARSED_CHARS = 1024 * 1024

# ---- sizes
MAX_STEPS = 1_000_000                     # horizon steps: a year at 1-minute resolution is 525,600
MAX_BUSES = 100_000                       # buses of the network
MAX_BUS_NUMBER = 1_000_000_000            # a bus number (they need not be dense)
MAX_BUS_STEPS = 50_000_000                # buses x steps: the network's load arrays (two floats each)
MAX_SERIES_VALUES = 100_000_000           # values in all distinct series a checked model keeps (800 MB)
MAX_EXPRESSION_DEPTH = 100                # nesting of one expression; a chain `a + b + ...` of n terms is n deep
MAX_TIME_OFFSET = MAX_STEPS               # k in x[t-k], x[first+k]
# Variables plus constraint rows of the lowered model, estimated by check: about 150 bytes each to lower
# (the 100-microgrid x 8760-step benchmark, 16.6M variables, needed 5 GB), so the limit is about 15 GB.
MAX_MODEL_SIZE = 100_000_000

# ---- numbers
# Any value in canonical units (kW, kWh, kvar, h, currency, ohm, A, kV) beyond this is refused: HiGHS treats
# 1e20 as infinite, and products of such values with the model's coefficients leave its numerical range.
MAX_MAGNITUDE = 1e12
MAGNITUDE_TEXT = "1e12"                  # as messages write it
# ATC settings that size the work: more iterations or worker processes than this is a typo, not a study.
MAX_ATC_ITERATIONS = 1_000_000
MAX_ATC_WORKERS = 256


def is_finite(value) -> bool:
    """True when a scalar or array holds only finite numbers."""
    if type(value) is float:                      # the common case first: checking runs this per operation
        return math.isfinite(value)
    if isinstance(value, np.ndarray):
        return bool(np.isfinite(value).all())
    try:
        return math.isfinite(value)
    except TypeError:
        return False


def largest(value) -> float:
    """The largest magnitude in a finite scalar or array."""
    if isinstance(value, np.ndarray):
        return float(max(value.max(), -value.min())) if value.size else 0.0
    return abs(float(value))


def in_range(value) -> bool:
    """Finite and at most MAX_MAGNITUDE in magnitude."""
    if type(value) is float:
        return -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE       # False for nan
    return is_finite(value) and largest(value) <= MAX_MAGNITUDE


def fmt_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} kB"
