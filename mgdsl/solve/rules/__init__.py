"""Update rules of the decomposition loop (solve/coordinator.py), by the name of the `method` setting."""
from __future__ import annotations

from .admm import ADMMRule
from .atc import ATCRule

RULES = {"atc": ATCRule, "admm": ADMMRule}
