"""The `mgdsl` command: check | fmt | compile | solve | explain. Bad input ends in a rendered
diagnostic and exit code 1, never a traceback."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .diagnostics import MgdError

EXIT_INPUT = 1          # the model has errors (or is infeasible / unbounded)
EXIT_USAGE = 2          # click's own code for bad command-line usage


def _color(ctx_flag: bool | None) -> bool:
    if ctx_flag is not None:
        return ctx_flag
    return sys.stderr.isatty()


def _fail(err: MgdError, as_json: bool, color: bool) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]}, indent=2))
    else:
        click.echo(err.render(color=color), err=True)
    sys.exit(EXIT_INPUT)


def _load(path: str):
    from .api import load

    return load(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mgdsl")
def main() -> None:
    """mgdsl: model microgrid clusters under a distribution network, once, in .mgd files."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON.")
@click.option("--color/--no-color", default=None, help="Colour the diagnostics (default: when a terminal).")
def check(file: str, as_json: bool, color: bool | None) -> None:
    """Check FILE and report every error in it at once."""
    try:
        system = _load(file)
    except MgdError as e:
        _fail(e, as_json, _color(color))
    ir = system.ir
    n_inst = sum(len(v) for v in ir.instances.values())
    if as_json:
        click.echo(json.dumps({"ok": True, "instances": n_inst, "microgrids": len(ir.microgrids),
                               "templates": len(ir.used_templates())}, indent=2))
    else:
        click.echo(f"{file}: ok ({len(ir.microgrids)} microgrids, {n_inst} device instances of "
                   f"{len(ir.used_templates())} templates, {ir.steps} steps of {ir.dt_h:g} h)")


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Explain an error code, e.g. `mgdsl explain E0201`."""
    from .errors import explain as explain_code

    try:
        click.echo(explain_code(code))
    except KeyError as e:
        click.echo(f"error: {e.args[0]}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
@click.option("--markdown", is_flag=True, help="Print the library reference as Markdown (docs/stdlib.md).")
def templates(markdown: bool) -> None:
    """List the standard library's device templates and their parameters."""
    from .docgen import markdown as md, stdlib_templates
    from .syntax.printer import fmt_param

    if markdown:
        click.echo(md(), nl=False)
        return
    for name, _, tpls in stdlib_templates():
        for t in tpls:
            summary = t.doc.splitlines()[0] if t.doc else ""
            click.echo(f"{t.name}({', '.join(fmt_param(p) for p in t.decl.params)})")
            if summary:
                click.echo(f"    {summary}   [stdlib/{name}]")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Do not write; exit 1 if a file is not formatted.")
@click.option("--stdout", is_flag=True, help="Print the formatted text instead of rewriting the file.")
def fmt(files: tuple[str, ...], check_only: bool, stdout: bool) -> None:
    """Rewrite FILES in the canonical layout (comments are kept)."""
    from .sema.loader import read_source
    from .syntax.parser import parse
    from .syntax.printer import format_module

    unformatted = []
    for file in files:
        try:
            src = read_source(file)
            text = format_module(parse(src))
        except MgdError as e:
            _fail(e, False, _color(None))
        if stdout:
            click.echo(text, nl=False)
        elif text != src.text:
            if check_only:
                unformatted.append(file)
            else:
                from .results import _atomic

                _atomic(Path(file), lambda p, text=text: Path(p).write_text(text, encoding="utf-8"))
                click.echo(f"formatted {file}")
    if unformatted:
        for f in unformatted:
            click.echo(f"would reformat {f}", err=True)
        sys.exit(EXIT_INPUT)


@main.command("compile")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(), default=None,
              help="Model file to write (.lp or .mps). Default: out/NAME.lp next to the working directory.")
@click.option("--format", "fmt_", type=click.Choice(["lp", "mps"]), default=None, help="File format if --out has no suffix.")
@click.option("--json", "as_json", is_flag=True, help="Print the model size as JSON.")
def compile_cmd(file: str, out: str | None, fmt_: str | None, as_json: bool) -> None:
    """Compile FILE to a centralized LP/MPS model and print its size."""
    try:
        system = _load(file)
        system.lower()
    except MgdError as e:
        _fail(e, as_json, _color(None))
    suffix = f".{fmt_}" if fmt_ else ".lp"
    target = Path(out) if out else Path("out") / f"{system.name}{suffix}"
    if target.suffix.lower() not in (".lp", ".mps"):
        target = target.with_suffix(suffix)
    t0 = time.perf_counter()
    system.write(target)
    size = system.size()
    info = {"model": file, "written": str(target), **size,
            "timings_s": {**{k: round(v, 4) for k, v in system.timings.items()}, "write": round(time.perf_counter() - t0, 4)}}
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        kind = "MILP" if size["binaries"] or size["integers"] else ("QP" if size["quadratic"] else "LP")
        click.echo(f"wrote {target}: {kind} with {size['variables']} variables ({size['binaries']} binary, "
                   f"{size['integers']} integer) and {size['constraints']} constraints")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds.")
@click.option("--mip-gap", type=float, default=None, help="Relative MIP gap for models with binaries.")
@click.option("--no-save", is_flag=True, help="Do not write result files.")
def solve(file: str, out_dir: str | None, as_json: bool, time_limit: float | None, mip_gap: float | None,
          no_save: bool) -> None:
    """Solve FILE with HiGHS and write results (netCDF + CSV per template, summary.json)."""
    t0 = time.perf_counter()
    try:
        system = _load(file)
        results = system.solve(time_limit=time_limit, mip_gap=mip_gap)
    except MgdError as e:
        _fail(e, as_json, _color(None))
    total = time.perf_counter() - t0
    results.summary["timings_s"]["total"] = round(total, 4)
    written = []
    if not no_save:
        target = Path(out_dir) if out_dir else Path("results") / system.name
        written = results.save(target)
        results.summary["output"] = str(target)
    if as_json:
        click.echo(json.dumps(results.summary, indent=2))
        return
    _print_summary(results.summary, written)


def _print_summary(summary: dict, written) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cur = summary["currency"]
    console.print(f"[bold]{summary['model']}[/bold]: [green]{summary['status']}[/green], "
                  f"objective [bold]{summary['objective']:,.2f} {cur}[/bold] "
                  f"in {summary['timings_s']['total']:.2f} s (solver {summary['timings_s']['solve']:.2f} s)")
    table = Table("subsystem", f"cost ({cur})", box=None, pad_edge=False)
    for owner, cost in summary["costs"].items():
        table.add_row(owner, f"{cost:,.2f}")
    console.print(table)
    if written:
        console.print(f"results written to {summary['output']}/ ({len(written)} files)")


if __name__ == "__main__":
    main()
