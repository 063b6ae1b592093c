"""Summaries and reports of solves: the numbers `mgdsl solve` prints and summary.json holds, computed here so
that the CLI only parses arguments and prints, and a study computes the same numbers the same way."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

# Costs this close (relative gap) with a coupling further apart than FAR_APART of its own range (the largest
# magnitude either solve gives it), or switch statuses that differ, mean that the system has several equally
# good operating points: the coupling difference then says which one each method picked, not how far ATC is
# from the optimum (the cost gap says that).
CLOSE_COSTS = 5e-3
FAR_APART = 0.1


def relative_gap(value: float, reference: float) -> float:
    """(value - reference) / |reference|, a fraction (x 100 for %): how much dearer ATC's cost is than the
    centralized optimum. A reference of 0 counts as 1e-9, so the gap stays finite."""
    return (value - reference) / max(abs(reference), 1e-9)


def compare_with_centralized(system, run):
    """Solve the same checked model centrally (not parsed again) and compare it with the ATC run `run`.
    Returns the centralized Results and the comparison (see `comparison`)."""
    from .api import System
    from .solve.atc import coupling_values

    central_sys = System(system.ir)
    t0 = time.perf_counter()
    central = central_sys.solve()
    seconds = time.perf_counter() - t0           # lowering, the solve and collecting its results
    base_kw = system.ir.network.base_kva if system.ir.network is not None else 1000.0
    solved = central_sys.lower(solver_cones=True)     # the model as solved (its cones not written as the lift)
    return central, comparison(run.objective, central.objective, run.targets, coupling_values(solved),
                               coupling_units(system.ir), seconds, base_kw, run.options.tolerance)


def coupling_units(ir) -> dict[str, str]:
    """Coupling id -> unit of its values ("kW", "kvar"; "1" for a switch status)."""
    return {c.id: c.unit for c in ir.couplings()}


def comparison(atc_objective: float, central_objective: float, atc_values: dict, central_values: dict,
               units: dict[str, str], central_seconds: float, base_kw: float, tolerance: float) -> dict:
    """ATC against the centralized solve: the cost gap, and where the coupling values differ most, each with its
    unit. Power couplings (kW, the headline) and other quantities are compared as values; switch statuses
    (unitless 0/1) by the steps at which they differ."""
    differences, statuses = {}, {"steps": 0, "of": 0, "at": []}
    for cid, values in atc_values.items():
        if cid not in central_values:
            continue
        a, c = np.asarray(values, dtype=float), np.asarray(central_values[cid], dtype=float)
        unit = units.get(cid, "")
        if unit == "1":
            differ = np.round(a) != np.round(c)
            statuses["steps"] += int(differ.sum())
            statuses["of"] += int(differ.size)
            if differ.any():
                statuses["at"].append(cid)
            continue
        diff = np.abs(a - c)
        t = int(np.argmax(diff)) if diff.size else 0
        scale = float(max(np.abs(a).max(initial=0.0), np.abs(c).max(initial=0.0)))
        differences[cid] = {"value": float(diff[t]) if diff.size else 0.0, "unit": unit, "t": t, "range": scale}
    power = {cid: d for cid, d in differences.items() if d["unit"] == "kW"} or differences
    worst = max(power, key=lambda cid: power[cid]["value"]) if power else None
    gap = relative_gap(atc_objective, central_objective)
    largest = power[worst]["value"] if worst else 0.0
    unit = power[worst]["unit"] if worst else "kW"
    far = any(d["value"] > FAR_APART * d["range"] and d["value"] / base_kw > tolerance for d in differences.values())
    several = bool(abs(gap) <= CLOSE_COSTS and (far or statuses["steps"]))
    return {"centralized_objective": central_objective, "relative_gap": gap,
            "largest_coupling_difference": largest, "unit": unit, "at": worst,
            "t": power[worst]["t"] if worst else None, "differences": differences,
            "status_differences": statuses, "several_optima": several, "centralized_seconds": central_seconds}


def add_comparison(summary: dict, comparison: dict) -> None:
    """Put a comparison into an ATC run's summary (atc.compare) and its time into timings_s."""
    summary["atc"]["compare"] = comparison
    summary["timings_s"]["compare_centralized"] = round(comparison["centralized_seconds"], 4)


def method_label(summary: dict) -> str:
    """ATC or ADMM: the update rule the decomposed run used."""
    return str(summary["atc"].get("options", {}).get("method", "atc")).upper()


def time_line(summary: dict) -> str:
    """What the total time of an ATC run was spent on; the parts add up to the total."""
    timings, atc = summary["timings_s"], summary["atc"]["time_s"]
    total = timings.get("total", 0.0)
    read = timings.get("parse", 0.0) + timings.get("check", 0.0)
    atc_s = timings.get("atc", 0.0)
    parts = [f"reading and checking the model {read:.2f} s",
             f"{method_label(summary)} {atc_s:.2f} s (build {atc['build']:.2f} s, "
             f"subproblem solves {atc['subproblem_solves']:.2f} s, "
             f"coordination {atc['coordination']:.2f} s)"]
    counted = read + atc_s
    if "compare_centralized" in timings:
        parts.append(f"the centralized solve of --compare {timings['compare_centralized']:.2f} s")
        counted += timings["compare_centralized"]
    if total - counted >= 0.005:
        parts.append(f"start-up and the rest {total - counted:.2f} s")
    return f"time: {total:.2f} s in all: " + ", ".join(parts)


def comparison_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the ATC-against-centralized table."""
    c, atc = summary["atc"]["compare"], summary["atc"]
    name, unit = summary.get("objective_name") or "cost", summary.get("objective_unit") or summary["currency"]
    label = f"total cost ({summary['currency']})" if name == "cost" else f"objective {name} ({unit})"
    header = ["method", label, "gap", "iterations", "time (s)"]
    rows = [[method_label(summary), f"{atc['objective']:,.2f}", f"{100 * c['relative_gap']:+.4f} %",
             str(atc["iterations"]), f"{summary['timings_s'].get('atc', 0.0):.2f}"],
            ["centralized", f"{c['centralized_objective']:,.2f}", "", "", f"{c['centralized_seconds']:.2f}"]]
    return header, rows


def comparison_lines(summary: dict) -> list[str]:
    """The lines under the table: the coupling differences with their units, what a large one at a small gap
    means, and what each time counts."""
    c = summary["atc"]["compare"]
    lines = []
    if c["at"] is not None:
        unit = "" if c["unit"] in ("", "1") else f" {c['unit']}"
        lines.append(f"largest coupling difference: {c['largest_coupling_difference']:.4g}{unit} "
                     f"({c['at']} at t={c['t']})")
    s = c["status_differences"]
    if s["of"]:
        lines.append("switch statuses (0/1, no unit): the same at every step" if not s["steps"] else
                     f"switch statuses (0/1, no unit) differ at {s['steps']} of {s['of']} steps "
                     f"({', '.join(s['at'][:4])}{' ...' if len(s['at']) > 4 else ''})")
    if c["several_optima"]:
        lines.append(f"the costs differ by only {100 * abs(c['relative_gap']):.2g} % while the couplings differ: "
                     "the system has several equally good (or nearly so) operating points, such as storage or "
                     "purchases that can move between hours at almost no cost, and ATC and the centralized solve "
                     "settled on different ones. The cost gap measures ATC's distance from the optimum; the "
                     "coupling difference does not.")
    lines.append("time (s): ATC counts its build, subproblem solves and coordination; centralized counts lowering, "
                 "solving and collecting the whole model once. The `time:` line above adds reading the model.")
    return lines


# ---------------------------------------------------------------- a report too long for the screen
def full_report_path(results_dir: str | Path) -> Path:
    """Where `mgdsl solve` writes the whole infeasibility report: beside the results folder, NAME.infeasible.txt
    (the folder itself keeps the previous results whole)."""
    results_dir = Path(results_dir)
    return results_dir.parent / f"{results_dir.name}.infeasible.txt"


def write_full_report(err, results_dir: str | Path | None) -> Path | None:
    """Write the whole report of a diagnostic that has more lines than the screen shows (E0601: every line of
    the conflict) to `full_report_path(results_dir)`, and name the file in a note of the diagnostic. Nothing
    when there is no such diagnostic or no results folder (--no-save); a file that cannot be written is skipped
    (the report is a help: the error stays the one to show)."""
    from .diagnostics import MgdError
    from .files import atomic_write

    d = next((d for d in err.diagnostics if d.details), None)
    if d is None or results_dir is None:
        return None
    path = full_report_path(results_dir)
    text = (d.render(color=False) + "\n\nevery line of the report:\n" + "\n".join(f"  {x}" for x in d.details)
            + "\n")
    try:
        atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
    except (OSError, MgdError):
        return None
    d.notes.append(f"the whole report ({len(d.details)} lines) is in {path}")
    return path


def remove_full_report(results_dir: str | Path | None) -> None:
    """Remove the infeasibility report of an earlier run once a solve of that folder succeeded."""
    if results_dir is not None:
        with contextlib.suppress(OSError):
            full_report_path(results_dir).unlink()
