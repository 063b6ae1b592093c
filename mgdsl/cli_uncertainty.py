"""`mgdsl pem` and `mgdsl mpc`: the point estimate and rolling-horizon studies (docs/uncertainty.md); they parse
arguments and print, the studies live in mgdsl/studies/pem.py and mpc.py."""
from __future__ import annotations

import json
import math
import sys

import click

from .cli import EXIT_INPUT, _names, _study_run, allow_read_option, main, per_solve_options


@main.command("pem")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--uncertain", default=None, help="Comma-separated uncertain profiles to draw (default: every one with "
              "an error law, `uncertain profile NAME normal(15 %) = ...`).")
@click.option("--monte-carlo", "monte_carlo", type=int, default=0, show_default=True,
              help="Also draw this many Monte Carlo samples on the same model and report the point estimate's error "
                   "and speed-up.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Monte Carlo draws.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for pem.json, inputs.csv, points.csv, moments.csv, moments.nc and pem.png "
                   "(default: results/NAME/pem).")
@per_solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the study (pem.json) on stdout; progress on stderr.")
@allow_read_option
def pem_cmd(file, uncertain, monte_carlo, seed, out_dir, time_limit, mip_gap, as_json):
    """Point estimation (Hong's 2m+1 scheme) on FILE: mean and standard deviation of the objective, of every
    tie-line power and of the bus voltages under the uncertain profiles' error laws."""

    def run(system, progress):
        return system.pem(_names(uncertain) if uncertain else None, monte_carlo, seed=seed, time_limit=time_limit,
                          mip_gap=mip_gap, progress=progress)

    result, target, written, console = _study_run(file, out_dir, as_json, "pem", run)
    data = result.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        console.print(f"[bold]{file}[/bold]: {data['inputs']} random inputs of {', '.join(result.profiles)}, "
                      f"{data['solves']} solves on one model in {result.timings['pem']:.2f} s")
        console.print(f"  {result.objective_name}: mean {result.mean:,.6g} {result.unit}, "
                      f"standard deviation {result.std:,.4g} {result.unit}")
        for name, unit in (("tie_import", "kW"), ("voltage", "pu")):
            if f"{name}_std_max" in data:
                console.print(f"  {name.replace('_', ' ')}: largest standard deviation {data[name + '_std_max']:.4g} "
                              f"{unit} (moments.csv has every element and step)")
        mc = result.monte_carlo
        if mc is not None and "objective_mean" in mc:
            console.print(f"  Monte Carlo, {mc['solved']} samples in {mc['seconds']:.2f} s: mean "
                          f"{mc['objective_mean']:,.6g} (standard error {mc['objective_mean_standard_error']:,.3g}), "
                          f"std {mc['objective_std']:,.4g}; point estimate off by "
                          f"{100 * mc['error_objective_mean']:.3g} % (mean) and {100 * mc['error_objective_std']:.3g} "
                          f"% (std), {mc['speedup']:.1f}x faster")
        for note in result.notes:
            console.print(f"[bold yellow]note[/bold yellow]: {note}")
        console.print(f"written to {target}/ ({len(written)} files)")
    if not math.isfinite(result.mean):
        sys.exit(EXIT_INPUT)


@main.command("mpc")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--window", required=True, help="The look-ahead: a duration (4h, 90min) or a number of steps.")
@click.option("--actual", required=True, type=click.Path(dir_okay=False),
              help="CSV of the realized values: one column per uncertain profile (named as it), one row per step.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for mpc.json, steps.csv, forecast_vs_actual.csv, mpc.png and schedule/ "
                   "(default: results/NAME/mpc).")
@per_solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the study (mpc.json) on stdout; progress on stderr.")
@allow_read_option
def mpc_cmd(file, window, actual, out_dir, time_limit, mip_gap, as_json):
    """Rolling-horizon control of FILE: at each step solve the window with the realized values so far and the
    forecast after, commit the step, carry the state on; the committed schedule over the horizon."""

    def run(system, progress):
        return system.mpc(window, actual, time_limit=time_limit, mip_gap=mip_gap, progress=progress)

    result, target, written, console = _study_run(file, out_dir, as_json, "mpc", run)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        n = len(result.steps)
        console.print(f"[bold]{file}[/bold]: window {result.window} steps, {n} window solves on one model in "
                      f"{result.timings['steps']:.2f} s; realized {', '.join(result.profiles)} from {actual}")
        if result.completed:
            console.print(f"  {result.objective_name}: realized {result.objective:,.6g} {result.unit}; known ahead "
                          f"(hindsight) {result.hindsight:,.6g}; planned at the forecast {result.forecast_plan:,.6g}")
        for note in result.notes:
            console.print(f"[bold yellow]note[/bold yellow]: {note}")
        console.print(f"written to {target}/ ({len(written)} files)")
    if not result.completed:
        sys.exit(EXIT_INPUT)
