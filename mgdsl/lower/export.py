"""Write a linopy model as an LP or MPS file through HiGHS, with column and row names taken from the
.mgd (`Storage.e(mg1.es,3)`), built with array operations (linopy's named writer is far slower)."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np

from ..highs import column_positions, from_linopy, quiet_stdout, row_positions

# Characters an LP-file name may hold (CPLEX LP rules as HiGHS applies them: no brackets, colon or minus).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,!#$%&()/;?@{}|~']")


def _item_names(name: str, labels: np.ndarray, coords: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Labels (flattened, >= 0 only) and their names NAME(c1,c2,...)."""
    flat = labels.ravel()
    keep = flat >= 0
    if not coords:
        return flat[keep], [name] * int(keep.sum())
    combos = itertools.product(*[[str(c) for c in axis] for axis in coords])
    names = [f"{name}({','.join(c)})" for c, k in zip(combos, keep) if k]
    return flat[keep], names


def _label_names(items) -> dict[str, np.ndarray]:
    out_labels, out_names = [], []
    for name, obj in items:
        labels = np.asarray(obj.labels.values)
        coords = [np.asarray(obj.labels.coords[d].values) for d in obj.labels.dims]
        lab, names = _item_names(name, labels, coords)
        out_labels.append(lab)
        out_names += names
    labels = np.concatenate(out_labels) if out_labels else np.zeros(0, dtype=np.int64)
    return labels, out_names


def write_model(model, path: str | Path) -> None:
    """LP or MPS by the file's suffix."""
    h = from_linopy(model)
    for kind, items in (("col", model.variables.items()), ("row", model.constraints.items())):
        labels, names = _label_names(items)
        pos = column_positions(model, labels) if kind == "col" else row_positions(model, labels)
        setter = h.passColName if kind == "col" else h.passRowName
        for p, n in zip(pos.tolist(), names):
            if p >= 0:
                setter(int(p), _UNSAFE.sub("_", n.replace(":", ".")))
    with quiet_stdout():
        status = h.writeModel(str(path))
    if str(status).endswith("kError"):
        raise OSError(f"HiGHS could not write {path}")
