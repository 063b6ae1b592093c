"""Index the spinning-reserve requirements of a network or microgrid block (`reserve up >= 10 % * load + base`):
the names of the amount (profiles, constants, the block's lets, `load`: the pool's demand) and the direction word,
whose hover says what the pool must hold and what in it can hold it. Template shares are in build_templates.py."""
from __future__ import annotations

import numpy as np

from ..sema import units
from ..sema.reserve import DIRECTIONS, LOAD, counts_in_pool, pool_load
from ..syntax import ast
from .index import Definition
from .text import clip, doc_comment

_MAX_HOLDERS = 12             # devices listed in a requirement's hover


def _kw(values: np.ndarray) -> str:
    """`12.5 kW`, or `min .. max kW (mean m)` for a series that varies."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo == hi:
        return f"{lo:.6g} kW"
    return f"{lo:.6g} .. {hi:.6g} kW (mean {float(np.mean(values)):.6g} kW)"


class ReserveDefs:
    """The Builder's part for reserve requirements (a mixin: `self` is the Builder)."""

    def requirements(self, owner: Definition, body: list, scope: dict[str, Definition]) -> None:
        """The `reserve ... >= ...` statements of `body` (the block of `owner`); `scope` holds the system's values
        and the block's own lets, all of them (sema reads every let of the block before a requirement)."""
        reqs = [s for s in body if isinstance(s, ast.ReserveRequirement)]
        if not reqs:
            return
        scope = dict(scope)
        # `load` is the pool's demand unless the file names a value `load` itself (as sema/reserve.py reads it)
        scope.setdefault(LOAD, self._pool_load(owner))
        for s in reqs:
            d, amount = self._requirement(s, owner)
            self.index.add(s.direction_span, d)
            self.expr(s.value, scope)
            if amount is not None:
                owner.facts.append(f"reserve {s.direction}: at least {amount}")

    def _pool_load(self, owner: Definition) -> Definition:
        pool = "the network's bus loads and the demand of its load devices" \
            if owner.kind == "network" else "its load devices' demand"
        d = Definition(LOAD, "builtin", None, unit="kW", dim=units.POWER, container=owner.name,
                       doc=f"in a reserve requirement, the electric demand of `{owner.name}`'s pool per step "
                           f"({pool}): a device's `base` parameter when its template draws electricity, before "
                           "any shifting or shedding")
        checker = self.checker
        if checker is not None and getattr(checker, "steps", None):
            network = self.ir.network if self.ir is not None else None
            try:
                load = pool_load(owner.name, network, checker.templates, checker.instances, checker.steps)
            except (KeyError, ValueError, TypeError):      # a model with errors: no figures, the doc stands
                return d
            d.facts.append(f"here: {_kw(load)}, {checker.steps} steps")
        return d

    def _requirement(self, s: ast.ReserveRequirement, owner: Definition) -> tuple[Definition, str | None]:
        """Its definition (on the direction word), and the amount checked (None where the checker refused it)."""
        if s.direction not in DIRECTIONS:
            return Definition(s.direction, "reserve requirement", s.direction_span, s.span, container=owner.name,
                              code=clip(s.span.text), facts=["not a direction: `up` or `down`"]), None
        d = Definition(f"reserve {s.direction}", "reserve requirement", s.direction_span, s.span, unit="kW",
                       dim=units.POWER, container=owner.name, code=clip(s.span.text), doc=doc_comment(s))
        ir = self.ir
        req = next((r for r in ir.reserves if r.owner == owner.name and r.direction == s.direction
                    and r.span.start == s.span.start), None) if ir is not None else None
        amount = _kw(req.amount_kw) if req is not None else None
        if req is not None:
            d.facts.append(f"at least {amount} at every step (row `{req.row}`)")
        what = "power it can still add" if s.direction == "up" else "power it can still shed"
        d.facts.append(f"the {s.direction} spinning reserve ({what} within a step) that the pool of "
                       f"`{owner.name}` must hold: " + ("the slack bus and the devices at the network's buses"
                                                         if owner.kind == "network" else "its own devices"))
        holders = self._holders(owner.name, s.direction)
        if holders:
            d.facts.append("held by: " + ", ".join(holders[:_MAX_HOLDERS])
                           + (" …" if len(holders) > _MAX_HOLDERS else ""))
        return d, amount

    def _holders(self, owner: str, direction: str) -> list[str]:
        """What in the pool holds reserve in `direction`: devices with a share, and a slack bus with a limit."""
        out = []
        network = self.ir.network if self.ir is not None else None
        if network is not None and network.name == owner and network.slack_limit_kw is not None:
            out.append(f"the slack bus (limit {network.slack_limit_kw:.6g} kW)")
        checker = self.checker
        if checker is None:
            return out
        for name, insts in checker.instances.items():
            tpl = checker.templates.get(name)
            if tpl is None or not any(r.direction == direction for r in tpl.reserves):
                continue
            for inst in insts:
                if inst.owner == owner and counts_in_pool(tpl, inst):
                    out.append(f"`{inst.name.split('.', 1)[-1]}` ({name})")
        return out
