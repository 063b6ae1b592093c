"""Studies that repeat ATC and centralized solves of one system: a tolerance sweep, a sweep over the number
of microgrids, and random initial targets. Each writes a CSV and a PNG, and returns its rows."""
from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .files import atomic_write
from .ir import InstanceIR, MicrogridIR, SystemIR
from .lower.system import lower_system
from .report import relative_gap
from .solve.atc import ATCOptions, run_atc
from .solve.centralized import solve_lowered


def _central(ir: SystemIR) -> tuple[float, float]:
    t0 = time.perf_counter()
    low = lower_system(ir)
    info = solve_lowered(low)
    return info.objective, time.perf_counter() - t0


def _atc(ir: SystemIR, options: ATCOptions) -> dict:
    t0 = time.perf_counter()
    run = run_atc(ir, options)
    return {"objective": run.objective, "iterations": len(run.iterations), "converged": run.converged,
            "inconsistency_pu": run.iterations[-1].inconsistency, "seconds": time.perf_counter() - t0,
            "solve_seconds": run.solve_seconds}


def _write_csv(path: Path, rows: list[dict]) -> Path:
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return atomic_write(path, write)


def _figure(path: Path, draw) -> Path:
    """Draw with pyplot-like calls on a Figure that never touches the global matplotlib backend."""
    from .plot import new_figure, save_figure

    return save_figure(draw(new_figure), path)


Progress = Callable[[str], None]


def tolerance_sweep(ir: SystemIR, out: Path, options: ATCOptions, tolerances=(1e-2, 1e-3, 1e-4, 1e-5),
                    progress: Progress = print) -> list[dict]:
    """The paper's Table 2: iterations, cost, deviation from the centralized cost, and time per tolerance."""
    central, central_s = _central(ir)
    progress(f"centralized: {central:,.2f} in {central_s:.2f} s")
    rows = []
    for tol in tolerances:
        r = _atc(ir, dataclasses.replace(options, tolerance=tol))
        row = {"tolerance": tol, "iterations": r["iterations"], "converged": r["converged"],
               "atc_cost": round(r["objective"], 4), "centralized_cost": round(central, 4),
               "deviation_pct": round(100 * relative_gap(r["objective"], central), 5),
               "atc_seconds": round(r["seconds"], 3), "centralized_seconds": round(central_s, 3)}
        rows.append(row)
        progress(f"tolerance {tol:g}: {r['iterations']} iterations, {r['objective']:,.2f} "
                 f"({row['deviation_pct']:+.4f} %), {r['seconds']:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "tolerance_sweep.csv", rows)

    def draw(new_figure):
        fig, ax = new_figure(1, 2, figsize=(10, 3.8))
        tol = [r["tolerance"] for r in rows]
        ax[0].semilogx(tol, [r["iterations"] for r in rows], "o-")
        ax[0].set_xlabel("tolerance (p.u.)")
        ax[0].set_ylabel("iterations")
        ax[0].invert_xaxis()
        ax[1].semilogx(tol, [abs(r["deviation_pct"]) for r in rows], "o-", color="C1")
        ax[1].set_xlabel("tolerance (p.u.)")
        ax[1].set_ylabel("|deviation| from centralized (%)")
        ax[1].invert_xaxis()
        fig.suptitle("ATC against tolerance")
        return fig
    _figure(out / "tolerance_sweep.png", draw)
    return rows


def replicate_microgrids(ir: SystemIR, count: int) -> SystemIR:
    """The system with `count` tied microgrids: existing ones first, then copies of them (cyclically) at
    other buses of the network, spread along the bus list. Switches and couplings are not replicated."""
    if ir.network is None:
        raise ValueError("the scale study needs a network to attach microgrids to")
    base = [m for m in ir.microgrids.values() if m.bus is not None]
    if not base:
        raise ValueError("the scale study needs at least one microgrid attached to the network")
    used = {m.bus for m in base} | {ir.network.slack_bus}
    free = [b for b in ir.network.buses if b not in used]
    if count - len(base) > len(free):
        raise ValueError(f"the network has room for at most {len(base) + len(free)} microgrids")
    extra = count - len(base)
    picks = [free[int(k)] for k in np.linspace(0, len(free) - 1, extra)] if extra > 0 else []
    microgrids = {m.name: m for m in base[:count]}
    instances = {t: [i for i in insts if i.owner in microgrids or i.owner == ir.network.name]
                 for t, insts in ir.instances.items()}
    for k, bus in enumerate(picks):
        src = base[k % len(base)]
        name = f"{src.name}_x{k // len(base) + 1}"
        microgrids[name] = MicrogridIR(name, src.network, bus, src.limit_kw, src.span, src.reactive)
        for t, insts in ir.instances.items():
            for i in insts:
                if i.owner == src.name:
                    instances[t].append(InstanceIR(f"{name}.{i.name.split('.', 1)[1]}", i.template, name, None,
                                                   dict(i.values), i.span))
    keep = set(microgrids) | {ir.network.name}
    return dataclasses.replace(ir, microgrids=microgrids, instances=instances, clusters={},
                               switches=[s for s in ir.switches if s.a.owner in keep and s.b.owner in keep],
                               couples=[c for c in ir.couples if c.lhs_owner in keep and c.rhs_owner in keep])


def scale_sweep(ir: SystemIR, out: Path, options: ATCOptions, counts=(3, 6, 9, 12),
                progress: Progress = print) -> list[dict]:
    """The paper's Table 3: more microgrids on the feeder, ATC against centralized in cost and time."""
    rows = []
    for n in counts:
        sub = replicate_microgrids(ir, n)
        central, central_s = _central(sub)
        r = _atc(sub, options)
        row = {"microgrids": n, "atc_cost": round(r["objective"], 4), "centralized_cost": round(central, 4),
               "deviation_pct": round(100 * relative_gap(r["objective"], central), 5),
               "iterations": r["iterations"], "converged": r["converged"], "atc_seconds": round(r["seconds"], 3),
               "centralized_seconds": round(central_s, 3)}
        rows.append(row)
        progress(f"{n} microgrids: ATC {r['objective']:,.2f} in {r['seconds']:.1f} s ({r['iterations']} it.), "
                 f"centralized {central:,.2f} in {central_s:.1f} s ({row['deviation_pct']:+.4f} %)")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "scale_sweep.csv", rows)

    def draw(new_figure):
        fig, ax = new_figure(1, 2, figsize=(10, 3.8))
        n = [r["microgrids"] for r in rows]
        ax[0].plot(n, [r["atc_seconds"] for r in rows], "o-", label="ATC")
        ax[0].plot(n, [r["centralized_seconds"] for r in rows], "s-", label="centralized")
        ax[0].set_xlabel("microgrids")
        ax[0].set_ylabel("time (s)")
        ax[0].legend()
        ax[1].plot(n, [r["deviation_pct"] for r in rows], "o-", color="C2")
        ax[1].set_xlabel("microgrids")
        ax[1].set_ylabel("ATC cost deviation (%)")
        fig.suptitle("ATC and centralized as the system grows")
        return fig
    _figure(out / "scale_sweep.png", draw)
    return rows


def initial_values(ir: SystemIR, out: Path, options: ATCOptions, seeds: int = 20,
                   progress: Progress = print) -> list[dict]:
    """The paper's Fig. 18: ATC from random initial targets; the spread of the final cost."""
    central, _ = _central(ir)
    rows = []
    for seed in range(seeds):
        r = _atc(ir, dataclasses.replace(options, initial="random", seed=seed))
        rows.append({"seed": seed, "atc_cost": round(r["objective"], 4), "iterations": r["iterations"],
                     "converged": r["converged"],
                     "deviation_pct": round(100 * relative_gap(r["objective"], central), 5),
                     "seconds": round(r["seconds"], 3)})
        progress(f"seed {seed}: {r['objective']:,.2f} after {r['iterations']} iterations")
    costs = np.array([r["atc_cost"] for r in rows])
    progress(f"spread of the final cost: {costs.max() - costs.min():,.2f} (min {costs.min():,.2f}, "
             f"max {costs.max():,.2f}; centralized {central:,.2f})")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "initial_values.csv", rows)

    def draw(new_figure):
        fig, ax = new_figure(1, 1, figsize=(7, 3.8))
        ax = ax[0]
        ax.plot([r["seed"] for r in rows], costs, "o", label="ATC from random initial targets")
        ax.axhline(central, color="k", lw=1, ls="--", label="centralized")
        ax.set_xlabel("seed")
        ax.set_ylabel("total cost")
        ax.legend()
        ax.set_title(f"final cost spread {costs.max() - costs.min():,.2f}")
        return fig
    _figure(out / "initial_values.png", draw)
    return rows
