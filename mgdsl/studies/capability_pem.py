"""The interchange capability under the uncertain profiles' error laws (docs/capability.md): Hong's 2m+1 point
estimate (mgdsl/studies/pem.py) of the mean and standard deviation of every band limit (schedule, PIC, AIC) per
microgrid and step. Each of the 2m+1 points checks the program with the profiles at that point's values and runs
the whole study there (a band moves with the budget, which is each point's own economic dispatch: not a bound
change of one resident model, so each point builds its group models again)."""
from __future__ import annotations

import time

import numpy as np

from ..sema.system import SystemChecker, check_program
from .pem import Input, hong_points
from .profiles import error as profile_error

BANDS = ("schedule", "pic_dn", "pic_up", "aic_dn", "aic_up")


def _inputs(system) -> tuple[list[Input], dict[str, np.ndarray]]:
    ir = system.ir
    names = [p for p in ir.uncertain if p in ir.laws]
    if not names:
        raise profile_error("E0821", "the system has no uncertain profile with an error law", None, "",
                            "declare one, e.g. `uncertain profile wind_pu normal(15 %) = csv(...)`")
    checker = SystemChecker(system._program)
    checker.check()
    forecast = {p: np.broadcast_to(np.asarray(checker.env[p].value, float), (ir.steps,)).copy() for p in names}
    out = []
    for p in names:
        mu, sd, l3, l4 = ir.laws[p].moments()
        for t, f in enumerate(forecast[p]):
            if f != 0 and sd > 0:
                out.append(Input(p, t, float(f), mu, sd, l3, l4))
    return out, forecast


def add_point_estimate(system, result, run, say) -> None:
    """Run the study (`run(ir, progress)`) at Hong's 2m+1 points and add `NAME_mean`, `NAME_std` of every band limit
    to `result.bands`, and a `pem` record (inputs, solves, seconds) to the result."""
    ir = system.ir
    inputs, forecast = _inputs(system)
    m = len(inputs)
    means = {p: forecast[p] * (1 + ir.laws[p].moments()[0]) for p in forecast}
    points: list[tuple[dict, float]] = []           # (offsets from the forecast per profile, weight)
    centre_w = 0.0
    for inp in inputs:
        devs, ws, w0 = hong_points(inp, m)
        centre_w += w0
        for d, w in zip(devs, ws):
            values = {p: v.copy() for p, v in means.items()}
            values[inp.profile][inp.t] = inp.forecast * max(d, 0.0)
            points.append((values, w))
    points.insert(0, ({p: v.copy() for p, v in means.items()}, centre_w))
    say(f"point estimate: {m} random inputs, {len(points)} capability runs")
    t0 = time.perf_counter()
    stacks = {k: [] for k in BANDS if k in result.bands}
    weights = []
    last = t0
    for i, (values, w) in enumerate(points):
        ir_k = check_program(system._program, None, {p: values[p] - forecast[p] for p in values})
        r = run(ir_k, None)
        for k in stacks:
            stacks[k].append(r.bands[k].values)
        weights.append(w)
        now = time.perf_counter()
        if now - last >= 2.0 and i + 1 < len(points):
            say(f"point estimate: {i + 1}/{len(points)} runs, about {(now - t0) / (i + 1) * (len(points) - i - 1):.0f}"
                " s left")
            last = now
    w = np.asarray(weights)
    for k, stack in stacks.items():
        s = np.stack(stack)
        mean = np.tensordot(w, s, axes=1)
        std = np.sqrt(np.clip(np.tensordot(w, s ** 2, axes=1) - mean ** 2, 0, None))
        result.bands[f"{k}_mean"] = (("microgrid", "t"), mean)
        result.bands[f"{k}_std"] = (("microgrid", "t"), std)
    seconds = time.perf_counter() - t0
    result.timings["pem"] = seconds
    result.pem = {"scheme": "Hong 2m+1 (Reliability Engineering & System Safety 59(3), 1998)",
                  "profiles": list(forecast), "inputs": m, "runs": len(points), "seconds": seconds}
    say(f"point estimate: {len(points)} runs in {seconds:.1f} s")
