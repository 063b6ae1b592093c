"""The one door into linopy: every variable and constraint is added here, named after the .mgd and
mapped to the source span that declared it (for error reports), and the add calls are counted.

`variable_arrays` and `constraint_arrays` take numpy arrays that are already complete (bounds; labels,
coefficients, signs and right-hand sides of the rows) and make the linopy object in one step, as
`Model.add_variables`/`add_constraints` would, without their alignment and broadcasting of every field:
those cost 5-10 ms per call, the bulk of lowering a small model."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import linopy
import numpy as np
import pandas as pd
import xarray as xr
from linopy.constraints import Constraint
from linopy.model import _check_infinities
from linopy.variables import Variable

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

    def variable_arrays(self, name: str, span: Span | None, description: str, dim: str | None,
                        coords: list[pd.Index], lower: np.ndarray, upper: np.ndarray, binary: bool = False,
                        integer: bool = False) -> Variable:
        """A variable over `coords` with bounds given as arrays of its shape (or broadcastable to it)."""
        self.add_calls += 1
        self.provenance[name] = Provenance(span, description, dim)
        m = self.model
        if name in m.variables:
            raise ValueError(f"Variable '{name}' already assigned to model")
        shape = tuple(len(c) for c in coords)
        dims = tuple(c.name for c in coords)
        size = int(np.prod(shape))
        start = m._xCounter
        labels = m._allocate_labels(start, start + size).reshape(shape)
        m._xCounter += size
        # bounds as read-only views where they repeat (a number, or one value per instance over t): linopy
        # never writes a variable's fields in place, and full copies of uniform bounds cost memory for nothing
        data = xr.Dataset({"lower": (dims, np.broadcast_to(np.asarray(lower, dtype=float), shape)),
                           "upper": (dims, np.broadcast_to(np.asarray(upper, dtype=float), shape)),
                           "scaling": (dims, _filled(1.0, shape)), "labels": (dims, labels)},
                          coords=dict(zip(dims, coords)),
                          attrs={"label_range": (start, start + size), "name": name, "binary": binary,
                                 "integer": integer, "semi_continuous": False})
        var = Variable(data, name=name, model=m, skip_broadcast=True)
        m.variables.add(var)
        return var

    def constraint_arrays(self, name: str, span: Span | None, description: str, dim: str | None,
                          coords: list[pd.Index], vars_: np.ndarray, coeffs: np.ndarray, sign: str,
                          rhs: np.ndarray):
        """Rows over `coords`: `vars_`/`coeffs` of shape (*coords, terms), `rhs` of shape coords. A row whose
        right-hand side is NaN is not written (its label is -1), as linopy does."""
        self.add_calls += 1
        self.provenance[name] = Provenance(span, description, dim)
        m = self.model
        shape = tuple(len(c) for c in coords)
        dims = tuple(c.name for c in coords)
        absent = np.isnan(rhs)
        rhs = np.where(absent, 0.0, rhs) if absent.any() else rhs
        signs = _filled(sign, shape)
        _check_infinities(signs, rhs, name)
        size = int(np.prod(shape))
        start = m._cCounter
        labels = m._allocate_labels(start, start + size).reshape(shape)
        m._cCounter += size
        labels[absent] = -1
        term = dims + ("_term",)
        data = xr.Dataset({"coeffs": (term, coeffs), "vars": (term, vars_.astype(m._dtypes["labels"], copy=False)),
                           "sign": (dims, signs), "rhs": (dims, rhs), "labels": (dims, labels),
                           "scaling": (dims, _filled(1.0, shape))},
                          coords=dict(zip(dims, coords)), attrs={"label_range": (start, start + size), "name": name})
        con = Constraint(data, model=m, name=name, skip_broadcast=True)
        return m.constraints.add(con)


def _filled(value, shape: tuple[int, ...]) -> np.ndarray:
    """`value` everywhere in `shape`, as a read-only view of one element: a row's sign and scaling are the same
    for every row of a declaration, and a full array of them costs as much memory as its right-hand side."""
    return np.broadcast_to(np.array(value), shape)
