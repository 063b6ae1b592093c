"""Partition a SystemIR for analytical target cascading: the network is the parent part; each microgrid
(or each cluster) is a child part. Each part gets an IR holding only its own owners' data; interactions
between parts become couplings, each with a target in the parent and a response in every child side."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, MgdError
from ..ir import CouplingIR, SystemIR

PARENT = "parent"


@dataclass
class Part:
    name: str                     # the network's name, "coordinator" (no network), a microgrid or a cluster
    owners: frozenset[str]        # the subsystems lowered in this part
    ir: SystemIR                  # only this part's data (see partition)
    is_parent: bool = False


@dataclass
class Coupling:
    """One cut interaction (its record, SystemIR.couplings), a value per step: the parent holds the target,
    child sides respond."""

    record: CouplingIR
    parts: tuple[str, str]        # the part of each side
    target_in_parent: bool        # one side is the parent's own variable (else the parent holds a copy)
    responders: list[str] = field(default_factory=list)   # child parts that respond

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def owners(self) -> tuple[str, str]:
        return self.record.a, self.record.b

    @property
    def unit(self) -> str:
        return self.record.unit

    @property
    def kind(self) -> str:
        """tie | switch | couple (record.quantity says which value: p, q, status, value)."""
        return self.record.kind


@dataclass
class Pair:
    """A target/response pair: coupling `coupling` as seen by child part `child`. Weights live here."""

    coupling: str
    child: str

    @property
    def id(self) -> str:
        return f"{self.coupling}@{self.child}"


@dataclass
class Partition:
    parent: Part
    children: list[Part]
    couplings: list[Coupling]
    pairs: list[Pair]
    children_mode: str

    @property
    def parts(self) -> list[Part]:
        return [self.parent] + self.children

    def coupling(self, coupling_id: str) -> Coupling:
        return next(c for c in self.couplings if c.id == coupling_id)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def couplings_of(self, part: str) -> list[Coupling]:
        """Couplings in which `part` holds a copy (the parent holds every cut coupling)."""
        if part == self.parent.name:
            return list(self.couplings)
        return [c for c in self.couplings if part in c.responders]

    def pairs_of(self, part: str) -> list[Pair]:
        if part == self.parent.name:
            return list(self.pairs)
        return [p for p in self.pairs if p.child == part]

    def manifest(self) -> dict:
        """The coupling manifest: what crosses between the parts, and nothing else."""
        return {
            "parent": self.parent.name,
            "children": [p.name for p in self.children],
            "children_mode": self.children_mode,
            "steps": self.parent.ir.steps,
            "dt_h": self.parent.ir.dt_h,
            "couplings": [{"id": c.id, "kind": c.kind, "name": c.record.name, "quantity": c.record.quantity,
                           "carrier": c.record.carrier, "owners": list(c.owners), "parts": list(c.parts),
                           "unit": c.unit, "per_base": c.record.per_base, "bound": c.record.bound,
                           "index": {"dim": "t", "steps": self.parent.ir.steps, "dt_h": self.parent.ir.dt_h},
                           "target": self.parent.name, "responders": c.responders} for c in self.couplings],
        }


def _sub_ir(ir: SystemIR, owners: frozenset[str], is_parent: bool) -> SystemIR:
    """The IR a part sees: its own instances, its own network, its microgrids; the parent also sees the
    interface of every tied microgrid (name, bus, tie limit), which is coupling data, not microgrid data."""
    instances = {t: [i for i in insts if i.owner in owners] for t, insts in ir.instances.items()}
    if is_parent:
        microgrids = {n: m for n, m in ir.microgrids.items() if n in owners or m.bus is not None}
    else:
        microgrids = {n: m for n, m in ir.microgrids.items() if n in owners}
    network = ir.network if ir.network is not None and ir.network.name in owners else None
    switches = [s for s in ir.switches if s.a.owner in owners or s.b.owner in owners]
    couples = [c for c in ir.couples if c.lhs_owner in owners or c.rhs_owner in owners]
    clusters = {n: c for n, c in ir.clusters.items() if set(c.members) <= owners}
    used = {t for t, insts in instances.items() if insts}
    templates = {t: tpl for t, tpl in ir.templates.items() if t in used}
    # each part minimizes its share of the objective (losses and vdi are the network's); the parent holds the
    # constant; the other objectives are evaluated on the merged results, not in the parts
    objective = ir.objective.share(owners, is_parent) if ir.objective is not None else None
    return dataclasses.replace(ir, templates=templates, instances={t: instances[t] for t in templates},
                               network=network, microgrids=microgrids, clusters=clusters, switches=switches,
                               couples=couples, objectives={}, objective=objective)


def partition(ir: SystemIR, children: str = "microgrids") -> Partition:
    if children not in ("microgrids", "clusters"):
        raise ValueError(f"children must be microgrids or clusters, not {children!r}")
    if not ir.microgrids:
        where = ir.network.span if ir.network is not None else None
        raise MgdError([Diagnostic("E0504", "nothing to decompose: the system has no microgrids", where,
                                   help="ATC makes each microgrid (or cluster) a child of the network")])
    groups: list[tuple[str, frozenset[str]]] = []
    if children == "clusters":
        clustered = set()
        for c in ir.clusters.values():
            groups.append((c.name, frozenset(c.members)))
            clustered |= set(c.members)
        groups += [(m, frozenset([m])) for m in ir.microgrids if m not in clustered]
    else:
        groups = [(m, frozenset([m])) for m in ir.microgrids]
    parent_owners = frozenset([ir.network.name]) if ir.network is not None else frozenset()
    parent_name = ir.network.name if ir.network is not None else "coordinator"
    parent = Part(parent_name, parent_owners, _sub_ir(ir, parent_owners, True), True)
    kids = [Part(name, owners, _sub_ir(ir, owners, False)) for name, owners in groups]
    part_of = {o: p.name for p in [parent] + kids for o in p.owners}
    couplings, pairs = [], []
    for rec in ir.couplings():
        pa, pb = part_of[rec.a], part_of[rec.b]
        if pa == pb:
            continue                                # internal to one part: an ordinary equality there
        responders = [p for p in (pa, pb) if p != parent_name]
        couplings.append(Coupling(rec, (pa, pb), parent_name in (pa, pb), responders))
        pairs += [Pair(rec.id, r) for r in responders]
    return Partition(parent, kids, couplings, pairs, children)
