"""Network formulations as modules: each owns the settings it accepts (checked in sema/network.py against its
`settings`), the physics rows of a line (voltage drop, rating, losses), what it adds to the network's results
and to the solve summary. The registry maps the name after `formulation` to one; a new formulation is one
module here and one entry in FORMULATIONS."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:                 # checking reads the registry without importing the modelling stack
    import xarray as xr


@dataclass(frozen=True)
class Setting:
    """A value a formulation takes in `formulation NAME(setting = value)`: a dimensionless number in (low, high),
    or, where `choices` are given, one of those words (`cones = lazy`)."""

    name: str
    default: float | str
    low: float
    high: float
    help: str                         # what it means and a good value, for the diagnostic of a bad one
    choices: tuple[str, ...] = ()     # a word setting: the words it takes


@dataclass(frozen=True)
class LineLosses:
    """What a line loses between its ends, as linopy expressions over (line, t) in kW and kvar; None: lossless."""

    p: object = None
    q: object = None


class Formulation:
    """The protocol (and the lossless defaults): `lower` writes the line physics into the builder for a lowered
    network whose flows, squared voltages and slack exist (lower/network.py) and returns the losses taken at
    each line's receiving end; `results` adds its variables to the network's dataset; `summary` its figures
    and notes to the summary's `network` section. Checking asks `coefficients` (the largest matrix values it
    writes for a line, kept within MAX_MAGNITUDE) and `cells_per_line` (the model size estimate)."""

    name = ""
    settings: tuple[Setting, ...] = ()
    has_losses = False                # whether `losses` is a quantity of this formulation (sema/objectives.py)
    description = ""

    def lower(self, b, ln) -> LineLosses:
        raise NotImplementedError

    def coefficients(self, r_pu: float, x_pu: float, base_kva: float) -> dict[str, float]:
        """What a line's rows multiply its variables by, by what they are for (sema/network.py)."""
        return {"its voltage drop": 2 * max(r_pu, x_pu) / base_kva}

    def cells_per_line(self, net) -> int:
        """Variables plus rows per line and step beyond the flows and the voltage drop (sema/size.py)."""
        return 0

    def results(self, ln, ds: xr.Dataset) -> None:
        pass

    def summary(self, ds: xr.Dataset, network: dict, summary: dict) -> None:
        pass


def _registry() -> dict[str, Formulation]:
    from .distflow_socp import DistFlowSOCP
    from .lindistflow import LinDistFlow

    return {f.name: f for f in (LinDistFlow(), DistFlowSOCP())}


FORMULATIONS: dict[str, Formulation] = _registry()
DEFAULT = "lindistflow"


def formulation(name: str) -> Formulation:
    """The formulation registered as `name` (checking has refused any other)."""
    return FORMULATIONS[name]


def names() -> tuple[str, ...]:
    return tuple(FORMULATIONS)


def settings_of(net) -> dict[str, float | str]:
    """A network's formulation settings, the defaults filled in."""
    f = FORMULATIONS[net.formulation]
    return {s.name: net.settings.get(s.name, s.default) if s.choices else float(net.settings.get(s.name, s.default))
            for s in f.settings}
