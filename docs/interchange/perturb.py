"""Write models/data/mmg_interchange/actual.csv: the 'actual' day of the interchange case, its forecasts perturbed
by seeded, hour-to-hour correlated errors with the spread of each profile's declared error law.

Run from the repository root: `.venv/bin/python docs/interchange/perturb.py` (the same file every time)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "models" / "data" / "mmg_interchange"
SEED = 2017                      # the paper's year; any fixed seed makes the file reproducible
RHO = 0.8                        # hour-to-hour correlation of a forecast error (errors persist for hours)
# profile in the model -> (column of profiles.csv, relative standard deviation of its law in the model)
LAWS = {"mg_load": ("load", 0.05), "wind_pu": ("wind", 0.15), "pv_pu": ("pv", 0.10)}


def ar1(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """n errors of an AR(1) process e[t] = RHO e[t-1] + u[t], stationary with standard deviation sigma."""
    e = np.empty(n)
    e[0] = rng.normal(0.0, sigma)
    for t in range(1, n):
        e[t] = RHO * e[t - 1] + rng.normal(0.0, sigma * np.sqrt(1 - RHO**2))
    return e


def actual_csv() -> str:
    """The text of actual.csv: one row per step, one column per uncertain profile of the model."""
    with open(DATA / "profiles.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(SEED)
    actual = {}
    for name, (column, sigma) in LAWS.items():
        forecast = np.array([float(r[column]) for r in rows])
        value = forecast * (1 + ar1(rng, len(rows), sigma))
        if name != "mg_load":
            value = np.minimum(value, 1.0)          # availability cannot exceed the rated power
        actual[name] = np.maximum(value, 0.0)
    lines = [",".join(["t", *actual])]
    lines += [",".join([str(t), *(f"{actual[n][t]:.4f}" for n in actual)]) for t in range(len(rows))]
    return "\n".join(lines) + "\n"


def main() -> None:
    (DATA / "actual.csv").write_text(actual_csv())


if __name__ == "__main__":
    main()
