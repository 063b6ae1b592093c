"""What the studies share for their output: JSON without NaN, CSV tables, figures on the Agg canvas."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import atomic_write


def plain(value):
    """A value JSON can hold: numpy scalars and arrays as Python numbers and lists, NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def write_json(path: Path, data: dict) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(plain(data), indent=2) + "\n"))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def figure(path: Path, draw) -> Path:
    """Draw with `draw(new_figure)` on a Figure that never touches the global matplotlib backend."""
    from ..plot import new_figure, save_figure

    return save_figure(draw(new_figure), path)
