"""Every ATC setting of the `decompose atc { ... }` block is also a command-line flag, and the flag wins."""
from __future__ import annotations

import dataclasses

from mgdsl.cli import _atc_overrides, solve
from mgdsl.solve.atc import ATCOptions

FROM_ANOTHER_FLAG = {"initial_value": "--initial"}


def test_every_setting_has_a_flag():
    flags = {opt for p in solve.params for opt in getattr(p, "opts", [])}
    missing = [f.name for f in dataclasses.fields(ATCOptions)
               if f.name not in FROM_ANOTHER_FLAG and "--" + f.name.replace("_", "-") not in flags]
    assert not missing, f"ATC settings without a flag: {missing}"


def test_flags_become_overrides():
    kw = {"weights": "classic", "balance": 4.0, "fix_integers": 2, "objective_tolerance": 1e-4,
          "subproblem_time_limit": 20.0, "initial": "12.5"}
    over = _atc_overrides(kw)
    options = dataclasses.replace(ATCOptions(), **{k: v for k, v in over.items() if v is not None})
    options.check()
    assert (options.weights, options.balance, options.fix_integers) == ("classic", 4.0, 2)
    assert (options.objective_tolerance, options.subproblem_time_limit) == (1e-4, 20.0)
    assert (options.initial, options.initial_value) == ("value", 12.5)
