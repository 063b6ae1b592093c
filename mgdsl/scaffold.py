"""`mgdsl init NAME`: a new project folder with a small working model, its data and a README of the next steps."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# One day in hours: a time-of-use price (yuan/kWh), the demand and the solar output per unit of their peaks.
_PRICE = [0.30] * 7 + [0.60] * 4 + [1.00] * 3 + [0.60] * 3 + [1.00] * 4 + [0.60] * 2 + [0.30]
_DEMAND = [0.45, 0.42, 0.40, 0.40, 0.42, 0.50, 0.62, 0.75, 0.82, 0.85, 0.86, 0.88,
           0.87, 0.85, 0.84, 0.86, 0.90, 0.97, 1.00, 0.98, 0.90, 0.78, 0.62, 0.52]
_SOLAR = [0.0] * 6 + [0.05, 0.18, 0.36, 0.55, 0.72, 0.84, 0.90, 0.86, 0.74, 0.56, 0.34, 0.14, 0.03] + [0.0] * 5

_MODEL = """\
# {name}: one microgrid with solar panels, a battery, a load and a grid connection, over one day in hourly steps
# (made by `mgdsl init`; the README beside this file says what to do next).
use stdlib

horizon 24 steps of 1 h

# Hour by hour (data/profiles.csv): the time-of-use price, and the demand and the solar output per unit of their peaks.
profile price: yuan/kWh = csv("data/profiles.csv", "price")
profile demand = csv("data/profiles.csv", "demand")
profile solar = csv("data/profiles.csv", "solar")

microgrid site {{
    pv = PV(p_max = 60 kW, profile = solar)
    battery = Storage(electricity, capacity = 100 kWh, p_max = 30 kW)
    load = Load(electricity, base = 40 kW * demand)
    grid = ElectricityTrade(buy_price = price, sell_price = 0.5 * price)
}}

minimize cost
"""

_README = """\
# {name}

A microgrid model made by `mgdsl init`: `{name}.mgd` is the system (solar panels, a battery, a load and a grid
connection at a time-of-use price, one day in hourly steps), `data/profiles.csv` its hourly data.

## Next steps

1. Check the model; every error is reported at once, with its place and a hint:

       mgdsl check {name}.mgd

2. Solve it (HiGHS); the objective, the cost per subsystem and where the results went are printed:

       mgdsl solve {name}.mgd

   The results are in `results/{name}/`: a netCDF and a CSV file per device template (`Storage.csv` holds the
   battery's charge `ch`, discharge `dis` and energy `e` hour by hour), and `summary.json`. `mgdsl solve {name}.mgd
   --plot` adds figures, `--report` one HTML page of them.

3. Make it yours: change the sizes in `{name}.mgd` (`p_max`, `capacity`), put your own prices and profiles in
   `data/profiles.csv` (one row per hour), add devices. `mgdsl templates` lists the standard library's devices
   (CHP, boilers, wind, heat storage, flexible loads, ...) and their parameters.

4. Grow it into a system: several microgrids, a distribution network with its buses and lines, clusters,
   switches; then solve it decomposed (`mgdsl solve {name}.mgd --decompose atc`).

## Where to read more

- the language: `docs/language.md` of mgdsl (units, templates, systems, networks, objectives);
- the standard library: `docs/stdlib.md`; an error code: `mgdsl explain E0201`;
- an editor that checks as you type, with hover and completion: `docs/editors.md` (`mgdsl lsp`).
"""


class InitError(Exception):
    """The project cannot be made there: the name is taken (`unwritable` False) or the folder cannot be written."""

    def __init__(self, message: str, unwritable: bool = False):
        super().__init__(message)
        self.unwritable = unwritable


def _profiles_csv() -> str:
    rows = ["hour,price,demand,solar"]
    rows += [f"{h},{p:.2f},{d:.2f},{s:.2f}" for h, (p, d, s) in enumerate(zip(_PRICE, _DEMAND, _SOLAR))]
    return "\n".join(rows) + "\n"


def init_project(target: str | Path) -> list[Path]:
    """Write the project into the folder `target` (made; it may exist if empty). Its name is the folder's name.
    The files appear together: they are written into a hidden folder beside it, which is then renamed."""
    target = Path(target)
    name = target.resolve().name
    if not name or name.startswith("."):
        raise InitError(f"`{target}` cannot name a project folder: give a name such as `mygrid`")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InitError(f"`{target}` exists and is not an empty folder: choose a new name")
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.init-", dir=parent))
    except OSError as e:
        raise InitError(f"cannot write in `{parent}`: {e.strerror or e}", unwritable=True) from None
    try:
        (staging / "data").mkdir()
        (staging / f"{name}.mgd").write_text(_MODEL.format(name=name), encoding="utf-8")
        (staging / "data" / "profiles.csv").write_text(_profiles_csv(), encoding="utf-8")
        (staging / "README.md").write_text(_README.format(name=name), encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        os.rename(staging, target)        # an empty folder is replaced; a new one appears whole
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise InitError(f"cannot write `{target}`: {e.strerror or e}", unwritable=True) from None
    return [target / f"{name}.mgd", target / "data" / "profiles.csv", target / "README.md"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
