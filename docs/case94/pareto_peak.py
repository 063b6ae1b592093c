"""The vdi / losses / cost front of models/clusters94_003.mgd over some hours of Table 3, from Python.

Run from the repository root: python docs/case94/pareto_peak.py 17,18,19,20 OUT_DIR (docs/case94.md)."""
import re, sys, time
import pandas as pd, mgdsl
hours = [int(h) for h in sys.argv[1].split(",")]
out = sys.argv[2]
model = "models/clusters94_003.mgd"
table = pd.read_csv("models/data/clusters94_003/hourly_profiles.csv").set_index("hour").loc[hours]
src = open(model).read().replace("horizon 24 steps", f"horizon {len(hours)} steps")
src = re.sub(r'csv\("data/clusters94_003/hourly_profiles.csv", "(\w+)"\)',
             lambda m: "[" + ", ".join(f"{v:g}" for v in table[m.group(1)]) + "]", src)
system = mgdsl.loads(src, path=model)
t = time.time()
front = system.pareto("vdi", ["losses", "cost"], points=5, grid="diagonal", time_limit=600, mip_gap=1e-3)
print("seconds", time.time() - t)
front.save(out)
print(front.table())
