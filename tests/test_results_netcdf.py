"""mgdsl/results.py write_netcdf writes NAME.nc through xarray's store API (to_netcdf asks dask for its scheduler,
which imports `distributed`): the files must be the very bytes `Dataset.to_netcdf` writes, for every kind of
variable a results folder holds, and read back identical."""
from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mgdsl
from mgdsl.results import write_netcdf

ROOT = Path(__file__).resolve().parents[1]


def every_kind() -> xr.Dataset:
    """What results datasets hold: floats with NaN over (instance, t) and over (instance), an integer
    dimension (buses), string coordinates, a non-dimension coordinate (owner), attributes of each type."""
    ds = xr.Dataset(
        {"p": (("instance", "t"), np.array([[1.5, np.nan, -2.0], [0.0, 3.25, 1e-9]]), {"units": "kW"}),
         "cost_total": ("instance", np.array([4.0, np.nan]), {"units": "yuan", "description": "whole horizon"}),
         "v": (("bus", "t"), np.arange(6.0).reshape(2, 3) / 7, {"units": "pu^2"}),
         "closed": (("bus", "t"), np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))},
        coords={"instance": ["pv1", "battery_two"], "t": np.arange(3), "bus": np.array([1, 18])})
    ds = ds.assign_coords(owner=("instance", ["mg1", "mg2"]))
    ds.attrs.update(template="Storage", base_kva=1000.0, slack_bus=1, formulation="lindistflow")
    return ds


def solved() -> dict[str, xr.Dataset]:
    return mgdsl.load(ROOT / "models" / "storage_arbitrage.mgd").solve().datasets


@pytest.mark.parametrize("datasets", [lambda: {"every_kind": every_kind()}, solved], ids=["every_kind", "solved"])
def test_the_same_bytes_as_to_netcdf(tmp_path, datasets):
    for name, ds in datasets().items():
        ours, theirs = tmp_path / f"{name}.nc", tmp_path / f"{name}.ref.nc"
        write_netcdf(ds, ours)
        ds.to_netcdf(theirs)
        assert filecmp.cmp(ours, theirs, shallow=False), name
        with xr.open_dataset(ours) as back:
            assert back.identical(ds), name
