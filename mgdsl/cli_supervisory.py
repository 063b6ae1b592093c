"""`mgdsl arbitrate` and `mgdsl simulate`: the supervisory layer of paper 002 (docs/arbitration.md); they parse
arguments and print, the studies live in mgdsl/studies/arbitrate.py and simulate.py."""
from __future__ import annotations

import json

import click

from .cli import _study_run, allow_read_option, main


def _weights(f):
    """The objective's weights and bases, with paper 002's values as defaults."""
    for opt in reversed([
        click.option("--alpha", default="0.30,0.30,0.15,0.15,0.10", show_default=True,
                     help="alpha_1..alpha_5: frequency, voltage, SOC balance, hydro ramp, load shed."),
        click.option("--conflict-weight", type=float, default=0.10, show_default=True,
                     help="alpha_6: the weight of the confidence-weighted distance to the candidates."),
        click.option("--beta", default="0.5,0.3,0.2", show_default=True,
                     help="beta_1..beta_3 of the fusion weights: communication, resource correlation, history."),
        click.option("--df-max", type=float, default=0.5, show_default=True, help="Frequency base, Hz."),
        click.option("--dv-max", type=float, default=0.05, show_default=True, help="Voltage base, p.u."),
        click.option("--dsoc-max", type=float, default=10.0, show_default=True, help="SOC base, %."),
    ]):
        f = opt(f)
    return f


def _options(alpha, conflict_weight, beta, df_max, dv_max, dsoc_max):
    from .cluster_state import Bases
    from .studies.arbitrate import Options
    from .studies.projection import Weights

    try:
        a = [float(x) for x in alpha.split(",")]
        b = [float(x) for x in beta.split(",")]
    except ValueError:
        raise click.BadParameter("give comma-separated numbers") from None
    if len(a) != 5 or len(b) != 3:
        raise click.BadParameter("--alpha takes 5 numbers, --beta 3")
    opts = Options(Weights(*a, conflict=conflict_weight), Bases(df_max, dv_max, dsoc_max / 100.0), tuple(b))
    return opts


@main.command("arbitrate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--commands", required=True, type=click.Path(dir_okay=False),
              help="CSV or JSON of candidate commands: controller, target, value (kW), confidence, comm, ...")
@click.option("--at", "at", type=int, default=0, show_default=True, help="The model step whose domain is used.")
@click.option("--events", type=click.Path(dir_okay=False), default=None,
              help="CSV or JSON of disturbances (step, kind load|pv, microgrid, value kW) applied up to --at.")
@_weights
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for arbitrate.json, commands.csv, candidates.csv, references.csv, terms.csv and "
                   "arbitrate.png (default: results/NAME/arbitrate).")
@click.option("--json", "as_json", is_flag=True, help="Print the study (arbitrate.json) on stdout.")
@allow_read_option
def arbitrate_cmd(file, commands, at, events, alpha, conflict_weight, beta, df_max, dv_max, dsoc_max, out_dir,
                  as_json):
    """Arbitrate candidate commands over FILE's cluster at one step: conflicts, fusion or projection, shedding."""
    opts = _options(alpha, conflict_weight, beta, df_max, dv_max, dsoc_max)

    def run(system, progress):
        return system.arbitrate(commands, at=at, events=events, options=opts)

    result, target, written, console = _study_run(file, out_dir, as_json, "arbitrate", run)
    data = result.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{file}[/bold] at t={at}: {len(result.events)} events, {result.solves} QP/LP solves "
                  f"on one model built once, {result.timings['arbitrate']:.3f} s")
    for ev in result.events:
        console.print(f"event {ev['event']}:")
        for t in ev["targets"]:
            classes = ", ".join(sorted({c['class'] for c in t["conflicts"]})) or "none"
            cands = "; ".join(f"{c['controller']} {c['value_kw']:g} kW, {c['distance_kw']:.1f} kW away"
                              for c in t["candidates"])
            console.print(f"  {t['target']}: conflicts {classes}; {t['method']} -> {t['command_kw']:.1f} kW "
                          f"(candidates: {cands})", markup=False)
            for c in t["conflicts"]:
                console.print(f"    {c['class']}: {json.dumps(_rounded({k: v for k, v in c.items() if k != 'class'}))}",
                              markup=False)
        active = [k for k, v in ev["terms"].items() if v > 1e-9]
        console.print(f"  active terms: {', '.join(active) or 'none'}; binding: {'; '.join(ev['binding']) or 'none'}"
                      f"; shed: {ev['shed_kw'] or 'none'}", markup=False)
    _say_ignored(console, result.ignored)
    console.print(f"written to {target}/ ({len(written)} files)")


@main.command("simulate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--events", required=True, type=click.Path(dir_okay=False),
              help="CSV or JSON of disturbances: step, kind (load | pv), microgrid, value (kW).")
@click.option("--control", type=click.Choice(["ccmac", "oohc", "droop"]), default="ccmac", show_default=True,
              help="ccmac: cross candidates + arbitration; oohc: one controller per microgrid; droop: none.")
@click.option("--commands", type=click.Path(dir_okay=False), default=None,
              help="ccmac: extra candidate commands, each issued after the step in its `event` column.")
@_weights
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for simulate.json, trajectory.csv, hydro.csv and simulate.png "
                   "(default: results/NAME/simulate-CONTROL).")
@click.option("--json", "as_json", is_flag=True, help="Print the study (simulate.json) on stdout.")
@allow_read_option
def simulate_cmd(file, events, control, commands, alpha, conflict_weight, beta, df_max, dv_max, dsoc_max, out_dir,
                 as_json):
    """Step FILE's cluster through the events under one supervisory strategy; paper 002's metrics."""
    opts = _options(alpha, conflict_weight, beta, df_max, dv_max, dsoc_max)

    def run(system, progress):
        return system.simulate(events, control=control, options=opts, commands=commands)

    result, target, written, console = _study_run(file, out_dir, as_json, f"simulate-{control}", run)
    data = result.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    m = result.metrics
    recovery = f"{m['recovery_time_s']:g} s" if m["recovery_time_s"] != float("inf") else "not within the horizon"
    console.print(f"{file} under {control}: max |df| {m['max_df_hz']:.3f} Hz, max |dV| "
                  f"{m['max_dv_pu']:.4f} p.u., max SOC deviation {m['max_soc_deviation_pct']:.1f} %, hydro ramp "
                  f"violations {m['hydro_ramp_violations']}, critical load supply {m['critical_load_supply_pct']:.1f} "
                  f"%, recovery {recovery}", markup=False)
    _say_ignored(console, result.ignored)
    console.print(f"written to {target}/ ({len(written)} files)")


def _rounded(value, digits: int = 6):
    """The numbers of a conflict's evidence to `digits` significant digits, for the screen (the JSON keeps all)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v, digits) for v in value]
    return value


def _say_ignored(console, ignored: list[str]) -> None:
    """Devices the supervisory domain has no role for (a microturbine, a boiler): their limits are not in it."""
    if ignored:
        shown = ", ".join(ignored[:8]) + (f" and {len(ignored) - 8} more" if len(ignored) > 8 else "")
        console.print(f"note: left out of the supervisory domain (no role for their templates, docs/arbitration.md): "
                      f"{shown}", markup=False)
