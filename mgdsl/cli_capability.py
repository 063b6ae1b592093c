"""`mgdsl capability`: the interchange capability study (docs/capability.md); it parses arguments and prints, the
study lives in mgdsl/studies/capability.py."""
from __future__ import annotations

import json
import math

import click

from .cli import _names, _study_run, allow_read_option, main, per_solve_options


def _tolerance(ctx, param, value) -> float:
    text = value.strip()
    try:
        out = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a fraction (0.05) or a percentage (5%) of the economic dispatch's "
                                 "cost") from None
    if not math.isfinite(out) or out < 0:
        raise click.BadParameter(f"{value!r}: a non-negative fraction or percentage")
    return out


def _hours(ctx, param, value) -> list[int] | None:
    """"0-5,17" or "0..5,17" -> [0, 1, 2, 3, 4, 5, 17]."""
    if value is None:
        return None
    out = []
    for item in _names(value):
        a, sep, b = item.replace("..", "-").partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise click.BadParameter(f"{item!r}: steps are whole numbers from 0, or ranges like 0-5") from None
        if hi < lo:
            raise click.BadParameter(f"{item!r}: a range goes from the lower step to the higher")
        out += list(range(lo, hi + 1))
    if not out:
        raise click.BadParameter("give steps, like 0-5,17")
    return out


@main.command("capability")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cost-tolerance", "tolerance", default="5%", show_default=True, callback=_tolerance,
              help="How far above its own economic dispatch's cost a microgrid may go to move its tie: a "
                   "percentage (5%) or a fraction (0.05).")
@click.option("--hours", default=None, callback=_hours,
              help="Steps to study, numbered from 0: a list with ranges, like 0-5,17 (default: every step).")
@click.option("--network/--no-network", default=True, show_default=True,
              help="Correct the predicted ranges by the network (AIC); --no-network gives the prediction only.")
@click.option("--range-reserve", is_flag=True,
              help="The network's declared up and down reserve also covers the widest microgrid range of the step.")
@click.option("--pem", is_flag=True, help="Also the mean and standard deviation of every band limit under the "
              "uncertain profiles' error laws (Hong's 2m+1 point estimate).")
@click.option("--executor", type=click.Choice(["serial", "processes"]), default="serial", show_default=True,
              help="Where the microgrids' models run: this process, or worker processes (in parallel).")
@click.option("--workers", type=int, default=None, help="Worker processes for --executor processes (default: "
              "the cores).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for capability.json, capability.csv, groups.csv, capability.nc and band_MG.png "
                   "(default: results/NAME/capability).")
@per_solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the study (capability.json) on stdout; progress on "
              "stderr.")
@allow_read_option
def capability_cmd(file, tolerance, hours, network, range_reserve, pem, executor, workers, out_dir, time_limit,
                   mip_gap, as_json):
    """Interchange capability of FILE's microgrids: per microgrid and step, the range of tie power it can hold
    within the cost tolerance of its own economic dispatch (PIC), and that range corrected by the network's
    voltage, current and reserve limits for all microgrids at once (AIC)."""

    def run(system, progress):
        return system.capability(tolerance, hours, network=network, pem=pem, executor=executor, workers=workers,
                                 time_limit=time_limit, mip_gap=mip_gap, range_reserve=range_reserve,
                                 progress=progress)

    result, target, written, console = _study_run(file, out_dir, as_json, "capability", run)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    b = result.bands.sel(t=result.hours)
    console.print(f"[bold]{file}[/bold]: {len(result.microgrids)} microgrid(s), {len(result.hours)} step(s), cost "
                  f"tolerance {100 * result.tolerance:g} %; {result.counts['predict_solves']} prediction solves in "
                  f"{result.timings['predict']:.2f} s")
    has_aic = "aic_dn" in b
    console.print(f"  {'microgrid':<12} {'PIC width (kW)':>15} {'AIC width (kW)':>15}   (means over the steps)"
                  if has_aic else f"  {'microgrid':<12} {'PIC width (kW)':>15}")
    for mg in result.microgrids:
        s = b.sel(microgrid=mg)
        pic = float((s["pic_up"] - s["pic_dn"]).mean())
        line = f"  {mg:<12} {pic:>15,.1f}"
        if has_aic:
            line += f" {float((s['aic_up'] - s['aic_dn']).mean()):>15,.1f}"
        console.print(line)
    if result.pem is not None:
        std = max(float(b[f"{k}_std"].max()) for k in ("pic_dn", "pic_up") if f"{k}_std" in b)
        console.print(f"  point estimate: {result.pem['inputs']} random inputs of {', '.join(result.pem['profiles'])},"
                      f" {result.pem['runs']} runs in {result.pem['seconds']:.1f} s; largest standard deviation of a "
                      f"PIC limit {std:,.4g} kW")
    for note in result.notes:
        console.print(f"[bold yellow]note[/bold yellow]: {note}")
    console.print(f"written to {target}/ ({len(written)} files; capability.csv has every microgrid and step)")
