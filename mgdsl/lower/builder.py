"""The one door into linopy: every variable and constraint is added here, named after the .mgd and
mapped to the source span that declared it (for error reports), and the add calls are counted."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import linopy

from ..source import Span

# linopy 0.10 keeps its old, positional arithmetic by default; mgdsl uses the label-aligned "v1"
# semantics and turns every legacy-semantics warning into an error so a silent misalignment cannot pass.
linopy.options["semantics"] = "v1"
warnings.filterwarnings("error", category=linopy.LinopySemanticsWarning)


@dataclass
class Provenance:
    """Where a linopy variable or constraint came from."""

    span: Span | None
    description: str            # e.g. "variable `e` of Storage", "carrier balance"
    dim: str | None = None      # the instance dimension (template name), if any


@dataclass
class Builder:
    model: linopy.Model = field(default_factory=lambda: linopy.Model(force_dim_names=True))
    provenance: dict[str, Provenance] = field(default_factory=dict)
    add_calls: int = 0

    def variable(self, name: str, span: Span | None, description: str, dim: str | None = None, **kwargs):
        self.add_calls += 1
        self.provenance[name] = Provenance(span, description, dim)
        return self.model.add_variables(name=name, **kwargs)

    def constraint(self, name: str, lhs, span: Span | None, description: str, dim: str | None = None, mask=None):
        self.add_calls += 1
        self.provenance[name] = Provenance(span, description, dim)
        return self.model.add_constraints(lhs, name=name, mask=mask)
