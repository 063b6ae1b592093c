"""The studies of models/clusters94_003.mgd over some hours of Table 3, from Python: the vdi / losses / cost front
(`pareto`) or risk-averse IGDT against wind and PV (`igdt`), as in docs/case94.md.

Run from the repository root: python docs/case94/peak.py pareto|igdt 17,18,19,20 OUT_DIR"""
from __future__ import annotations

import re
import sys
import time

import pandas as pd

import mgdsl

MODEL = "models/clusters94_003.mgd"


def window(hours: list[int]) -> mgdsl.System:
    """The model with its horizon cut to `hours`: the CSV profiles replaced by those hours' values."""
    table = pd.read_csv("models/data/clusters94_003/hourly_profiles.csv").set_index("hour").loc[hours]
    src = open(MODEL).read().replace("horizon 24 steps", f"horizon {len(hours)} steps")
    src = re.sub(r'csv\("data/clusters94_003/hourly_profiles.csv", "(\w+)"\)',
                 lambda m: "[" + ", ".join(f"{v:g}" for v in table[m.group(1)]) + "]", src)
    return mgdsl.loads(src, path=MODEL)


def main(study: str, hours: str, out: str) -> None:
    system = window([int(h) for h in hours.split(",")])
    t = time.time()
    if study == "pareto":
        result = system.pareto("vdi", ["losses", "cost"], points=5, grid="diagonal", time_limit=600, mip_gap=1e-3)
    elif study == "igdt":
        result = system.igdt(["wind_pu", "pv_pu"], [0.02, 0.05, 0.1], modes=("robust",), time_limit=600,
                             mip_gap=1e-3, progress=lambda m: print(m, flush=True))
    else:
        sys.exit("the study is pareto or igdt")
    print("seconds", time.time() - t)
    result.save(out)
    print(result.table())


if __name__ == "__main__":
    main(*sys.argv[1:4])
