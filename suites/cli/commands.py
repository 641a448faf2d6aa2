"""The ``mcgradbench`` commands: list, run, report, check, advise.

Each command turns its options into one call of the library (``suites.run.sweep``,
``suites.read``) and prints what comes back; ``suites.cli.terminal`` draws it.
Kept import-light: ``--help``, usage errors and a bad option need click alone;
torch, pandas and the registries load inside the command that uses them.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from suites.cli.terminal import (BadInput, Interruptible, Seconds, command_line, display, echo_cells,
                                 echo_progress_messages, echo_registered, echo_summary, fit,
                                 progress_sweep)
from suites.read.report import FORMATS


@click.group(cls=Interruptible, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcgradbench")
def main():
    """Benchmark Monte Carlo gradient estimators: bias, variance and time against exact gradients."""


@main.command("list")
def list_cmd():
    """List estimators (with the families they apply to), problems and suites, and where each
    came from (built-in or plugin)."""
    echo_registered()


@main.command()
@click.argument("suite", required=False)
@click.option("--estimator", "estimator_names", multiple=True, help="Only these estimators (repeatable).")
@click.option("--problem", "problem_names", multiple=True, help="Only these problems (repeatable).")
@click.option("--device", "devices", multiple=True, help="cpu, cuda or cuda:N (repeatable); default: cpu, and cuda when available.")
@click.option("--num-estimates", type=int, default=None, help="Override M, the number of independent estimates per cell.")
@click.option("--num-samples", type=int, default=None, help="Override K, the inner samples each estimate averages.")
@click.option("--seed", type=int, default=None, help="Override the seed of every cell.")
@click.option("--min-run-time", type=float, default=0.2, show_default=True,
              help="Seconds spent timing each cell (torch.utils.benchmark); 0 skips timing.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="CPU threads for torch (torch.set_num_threads): one gives steady timings (on "
                   "2 shared cores torch's own choice made one cell 140x slower); more measures "
                   "multi-threaded speed.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory for results.csv and meta.json [default: results/runs/<utc-time>-<suite>/].")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in DIR: skip its finished cells; its recorded suite and options apply unless given again.")
@click.option("--dry-run", is_flag=True, help="List the cells (and which are finished) without running them.")
@click.option("--grid", type=click.Path(dir_okay=False), default=None,
              help="Run the grid file FILE (TOML; format in suites/run/grids/files.py) instead of a "
                   "named suite.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where cells run: in this process, or as Ray tasks (the ray extra).")
@click.option("--address", default=None,
              help="Ray cluster address (e.g. auto, or ray://host:10001) [default: start a local instance].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="--backend ray without --address: CPUs of the local Ray instance (cells at "
                   "once) [default: all].")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="train and sbn suites: Adam steps per curve [default: 3,000; sbn 50,000].")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="train and sbn suites: seeds 0..N-1 per (problem, estimator) [default: 3].")
@click.option("--grad-variance", type=click.IntRange(min=0), default=None,
              help="train suite: extra estimates at each logged step for the gradient's variance "
                   "[default: 0, off]; sbn suite: estimates of each probe at each checkpoint "
                   "[default: 1,000; 0: no probes].")
@click.option("--heldout-samples", type=click.IntRange(min=1), default=None,
              help="sbn suite: samples K of the held-out importance-weighted bound [default: 100].")
@click.option("--profile", type=click.Choice(["quick", "full"]), default="full", show_default=True,
              help="quick: the representative cells of the suite (suites/run/profiles.py; what make "
                   "bench runs); --problem/--estimator/--steps/--seeds given win.")
@click.option("--quiet", is_flag=True, help="Print only errors and the results path.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="The summary as a table or as JSON records.")
@click.pass_context
def run(ctx, suite, estimator_names, problem_names, devices, num_estimates, num_samples, seed,
        min_run_time, threads, out, resume, dry_run, grid, backend, address, workers, steps, seeds,
        grad_variance, heldout_samples, profile, quiet, output):
    """Run SUITE's grid (default: core), store it cell by cell and print its table."""
    from suites.run.sweep import DEFAULT_OPTIONS, execute, plan

    echo_progress_messages()
    options = {"estimator_names": list(estimator_names), "problem_names": list(problem_names),
               "devices": list(devices), "num_estimates": num_estimates, "num_samples": num_samples,
               "seed": seed, "min_run_time": min_run_time, "threads": threads, "steps": steps,
               "seeds": seeds, "grad_variance": grad_variance, "heldout_samples": heldout_samples}
    given = [k for k in DEFAULT_OPTIONS
             if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT]
    try:
        planned = plan(suite, options, given, out, resume, grid, profile, backend, address, workers)
    except ValueError as error:
        raise BadInput(str(error)) from None
    if dry_run:
        return echo_cells(planned.cells, planned.done)
    sweep = progress_sweep(ctx, lambda **show: execute(planned, command_line(ctx), **show),
                           planned.suite, "none" if quiet else display(output))
    echo_summary(sweep, planned.suite, quiet, output)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Report directory [default: RUN_DIR/report for the first RUN_DIR].")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="md (report.md), html (report.html), latex (tables.tex); repeatable [default: all].")
def report(run_dirs, out, formats):
    """Render tables and figures of one or more runs (RUN_DIR: a run directory or its results.csv)."""
    from suites.read.report.render import render  # matplotlib and seaborn load only for this command

    from suites.store.rundir import reconcile_meta

    run_dirs = list(dict.fromkeys(run_dirs))  # a run given twice is one run
    first = Path(run_dirs[0])
    # RUN_DIR/results.csv reports into RUN_DIR/report, as RUN_DIR does
    out = Path(out) if out else (first.parent if first.suffix == ".csv" else first) / "report"
    for run_dir in run_dirs:  # a run killed by SIGKILL left meta.json behind results.csv
        note = reconcile_meta(run_dir)
        if note:
            click.echo(note, err=True)
    try:
        written = render(run_dirs, out, formats or FORMATS)
    except ValueError as error:
        raise BadInput(str(error)) from None
    except OSError as error:
        raise BadInput(f"cannot write the report to {out}: {error.strerror or error}") from None
    click.echo(f"wrote {len(written)} files to {out}", err=True)
    for path in written:
        if path.parent == out:
            click.echo(str(path))


@main.command()
@click.argument("kind", type=click.Choice(["estimator", "problem"]))
@click.argument("name")
def check(kind, name):
    """Conformance checks of an estimator or problem (NAME, or pkg.module:Class[,key=value...]); exit 1 on failure."""
    from suites.read.conformance import check_estimator, check_problem

    try:
        results = (check_estimator if kind == "estimator" else check_problem)(name)
    except ValueError as error:
        raise BadInput(str(error)) from None
    for result in results:
        click.echo(fit(result.line(), 12))
    failed = [r.name for r in results if not r.passed]
    untested = [r.name for r in results if r.passed and not r.tested]
    passed = len(results) - len(failed) - len(untested)
    click.echo(fit(f"{kind} {name}: {passed} of {len(results)} checks passed"
                   + (f"; not tested: {', '.join(untested)}" if untested else "")
                   + (f"; failed: {', '.join(failed)}" if failed else ""), 2))
    if failed:
        sys.exit(1)


def advice_progress():
    """On a terminal, one status line on stderr rewritten as ``advise`` measures; else none."""
    if not sys.stderr.isatty():
        return None
    width = shutil.get_terminal_size((80, 24)).columns - 1
    return lambda line: click.echo("\r\033[K" + f"advise: {line}"[:width], err=True, nl=False)


@main.command()
@click.option("--problem", "problem_name", required=True,
              help="A problem label as the tables print it, NAME(key=value,...), or "
                   "pkg.module:Class[,key=value...].")
@click.option("--evaluations", type=click.IntRange(min=1), default=4, show_default=True,
              help="Budget of cost evaluations per estimate, the same for every estimator.")
@click.option("--num-estimates", type=click.IntRange(min=2, max=10**9), default=None,
              help="M per estimator [default: by problem size, 200 to 10,000].")
@click.option("--estimator", "estimator_names", multiple=True,
              help="Only these estimators, NAME(key=value,...) (repeatable) [default: all that apply].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--by", type=click.Choice(["work", "time"]), default="work", show_default=True,
              help="Rank by variance x cost evaluations (independent of machine load) or by "
                   "variance x seconds (timed in turn over --rounds rounds).")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=5, show_default=True,
              help="Timing rounds: every estimator timed once per round, in turn.")
@click.option("--min-run-time", type=Seconds(min=0, min_open=True, max=600), default=0.2,
              show_default=True, help="Seconds timing each estimator, over all rounds.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def advise(problem_name, evaluations, num_estimates, estimator_names, seed, by, rounds,
           min_run_time, output):
    """Rank every applicable estimator on one problem at the same budget of cost evaluations."""
    import json

    from estimators.registry import split_spec

    from suites import problems
    from suites.problems.labels import problem_label
    from suites.read import advise as advice

    try:
        problem = problems.get(problem_name)
        variants = [split_spec(name) for name in estimator_names] or None
        table, skipped = advice.advise(problem, evaluations, num_estimates, seed, min_run_time,
                                       variants, by=by, rounds=rounds,
                                       progress=advice_progress())
    except ValueError as error:
        raise BadInput(str(error)) from None
    finally:
        if sys.stderr.isatty():
            click.echo("\r\033[K", err=True, nl=False)
    label = problem_label(problem.name, problem.config_json)
    if output == "json":
        click.echo(json.dumps(advice.as_json(label, table, evaluations, skipped), indent=1))
    else:
        width = shutil.get_terminal_size((80, 24)).columns
        click.echo(advice.render(label, table, evaluations, skipped, width))

