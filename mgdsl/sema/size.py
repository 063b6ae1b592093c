"""The size of the model a checked system lowers to (variables plus constraint rows), estimated from the
counts alone before anything of that size exists: a model too large for memory is a located error in `check`
(E0004, MAX_MODEL_SIZE), not an exhausted machine in `compile` or `solve`."""
from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Collector, Label
from ..ir import CARRIERS, InstanceIR, MicrogridIR, NetworkIR, TemplateIR
from ..source import Span
from .limits import MAX_MODEL_SIZE

# Per line and step of a network: the flows P and Q and the voltage-drop row, and what the formulation adds
# (lower/formulations/: Formulation.cells_per_line).
_LINE_CELLS = 3


@dataclass
class Share:
    """One part of the model and the variables plus rows it brings."""

    what: str
    span: Span
    cells: int


def _template_share(tpl: TemplateIR, instances: list[InstanceIR], steps: int) -> Share:
    per_instance = sum(steps if v.timed else 1 for v in tpl.vars.values())
    # every comparison of a constraint is a row per step at most (a row without a variable is not written)
    per_instance += sum(len(c.stmt.ops) * steps for c in tpl.constraints if not c.is_assertion)
    count = len(instances)
    return Share(f"{count:,} instance{'s' if count != 1 else ''} of `{tpl.name}`", instances[0].span,
                 count * per_instance)


def _network_share(net: NetworkIR, steps: int) -> Share:
    buses, lines = len(net.buses), len(net.lines)
    per_step = buses * (1 + 2) + 3                   # a squared voltage and two balances per bus; the slack
    from ..lower.formulations import formulation

    per_line = _LINE_CELLS + formulation(net.formulation).cells_per_line(net)
    return Share(f"network `{net.name}` ({buses:,} buses, {lines:,} lines)", net.span,
                 steps * (per_step + lines * per_line))


def model_shares(templates: dict[str, TemplateIR], instances: dict[str, list[InstanceIR]], steps: int,
                 network: NetworkIR | None, microgrids: dict[str, MicrogridIR],
                 switches: list) -> list[Share]:
    """What each part of the system brings to the lowered model, largest first (`switches`: their statements)."""
    shares = [_template_share(templates[name], insts, steps) for name, insts in instances.items() if insts]
    if network is not None:
        shares.append(_network_share(network, steps))
    if microgrids:
        first = next(iter(microgrids.values()))
        # a balance per carrier and step, and a tie line (two flows tied by a row) for each attached microgrid
        per_microgrid = steps * (len(CARRIERS) + 3)
        plural = "s" if len(microgrids) != 1 else ""
        shares.append(Share(f"the balances and ties of {len(microgrids):,} microgrid{plural}", first.span,
                            len(microgrids) * per_microgrid))
    if switches:
        # two copies of a flow and a status, two rows per copy, and the two rows that tie the copies
        shares.append(Share(f"{len(switches):,} switches", switches[0].span, len(switches) * steps * 8))
    return sorted(shares, key=lambda s: -s.cells)


def check_model_size(shares: list[Share], horizon: Span | None, diag: Collector) -> bool:
    """False, after an E0004 at the horizon (the factor every part shares), when the model is over the limit."""
    total = sum(s.cells for s in shares)
    if total <= MAX_MODEL_SIZE:
        return True
    largest = shares[:3]
    diag.error("E0004", f"the model would have about {total:,} variables and constraint rows, more than the limit "
                        f"of {MAX_MODEL_SIZE:,}", horizon or largest[0].span, "for this many steps" if horizon else "",
               secondary=[Label(s.span, f"{s.what}: about {s.cells:,}") for s in largest if s.span is not horizon],
               help="shorten the horizon or lengthen its steps, or split the system into studies of their own "
                    "(docs/language.md, section Limits)")
    return False
