"""The ``mcgradbench`` command line: list, run, report, check, advise.

Kept import-light: ``--help``, usage errors and a bad option need click alone;
torch, pandas and the registries load inside the command that uses them.
"""
from __future__ import annotations

import logging
import shlex
import shutil
import sys
from pathlib import Path

import click

from suites.read.report import FORMATS


class BadInput(click.ClickException):
    """A one-line error for bad user input; exit code 2 like click's usage errors."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


class Interruptible(click.Group):
    """A group whose commands end in one line, exit code 130, when interrupted at any point
    (also while torch loads, before any cell ran); a sweep's own handler says what was stored."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


def echo_progress_messages() -> None:
    """Long set-up steps (a reference gradient, trained VAE weights) log at INFO under
    ``suites``: print them on their own line, clear of the progress bar."""
    logger = logging.getLogger("suites")
    if not any(getattr(h, "mcgradbench", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("\n%(message)s"))
        handler.mcgradbench = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@click.group(cls=Interruptible, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcgradbench")
def main():
    """Benchmark Monte Carlo gradient estimators: bias, variance and time against exact gradients."""


@main.command("list")
def list_cmd():
    """List estimators (with the families they apply to), problems and suites, and where each
    came from (built-in or plugin)."""
    import estimators

    from suites.run import plugins
    from suites.problems.labels import plain_text

    for kind, title in (("estimator", "Estimators"), ("problem", "Problems"), ("suite", "Suites")):
        click.echo(f"{title}:")
        for _, name, origin, description in (r for r in plugins.origins() if r[0] == kind):
            where = "" if origin == "built-in" else f"  [{origin}]"
            applies = ""
            if kind == "estimator":
                family = getattr(estimators._REGISTRY.lookup(name), "families", ())
                applies = f" [applies to: {', '.join(family)}]" if family else ""
            click.echo(f"  {name:<26} {plain_text(description)}{applies}{where}")
    for line in plugins.failures():
        click.echo(f"warning: {line}", err=True)


#: Options of ``run`` that set how a cell runs rather than which cells run.
TRAIN_OPTIONS = ("steps", "seeds", "grad_variance")
RUN_OPTIONS = ("min_run_time", "threads") + TRAIN_OPTIONS
#: Options of ``run`` recorded in meta.json and reused by ``--resume`` unless given again.
RECORDED = ("estimator_names", "problem_names", "devices", "num_estimates", "num_samples", "seed",
            "steps", "seeds", "grad_variance",
            "min_run_time", "threads")


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
              help="Run the grid file FILE (TOML; format in suites/grids/files.py) instead of a named suite.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where cells run: in this process, or as Ray tasks (the ray extra).")
@click.option("--address", default=None,
              help="Ray cluster address (e.g. auto, or ray://host:10001) [default: start a local instance].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="--backend ray without --address: CPUs of the local Ray instance (cells at "
                   "once) [default: all].")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="train suite: Adam steps per curve [default: 3,000].")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="train suite: seeds 0..N-1 per (problem, estimator) [default: 3].")
@click.option("--grad-variance", type=click.IntRange(min=0), default=None,
              help="train suite: extra estimates at each logged step for the gradient's variance "
                   "[default: 0, off].")
@click.pass_context
def run(ctx, suite, estimator_names, problem_names, devices, num_estimates, num_samples, seed,
        min_run_time, threads, out, resume, dry_run, grid, backend, address, workers, steps, seeds,
        grad_variance):
    """Run SUITE's grid (default: core), store it cell by cell and print its table."""
    import torch

    from suites.run import backends, plugins
    from suites.store import rundir as store
    from suites.read.summary import format_summary
    from suites.run.sweep import Sweep, load_run, open_run, select_cells

    echo_progress_messages()
    if out and resume:
        raise BadInput("give --out DIR for a new run or --resume DIR to continue one, not both")
    options = {"estimator_names": list(estimator_names), "problem_names": list(problem_names),
               # a device given twice would measure every cell twice
               "devices": list(dict.fromkeys(devices)), "num_estimates": num_estimates,
               "num_samples": num_samples, "seed": seed, "min_run_time": min_run_time,
               "threads": threads, "steps": steps, "seeds": seeds, "grad_variance": grad_variance}
    try:
        suite = plugins.use_grid(grid, suite) if grid else suite
        meta, table = ({}, store.empty_table()) if resume is None else load_run(resume)
        if resume is not None:
            suite, options = resumed_selection(ctx, suite, options, meta, resume)
        suite = suite or "core"
        if not 0 <= options["min_run_time"] < float("inf"):  # also refuses nan
            raise ValueError(f"--min-run-time must be a finite number >= 0, got {options['min_run_time']}")
        if options["threads"] is not None and options["threads"] < 1:
            raise ValueError(f"--threads must be >= 1, got {options['threads']}")
        selection = {k: v for k, v in options.items() if k not in RUN_OPTIONS}
        cells = select_cells(suite, **selection)
        if suite == "train":
            from suites.run.grids.train import configured
            cells = configured(cells, options["steps"], options["seeds"], options["grad_variance"])
        elif any(options[k] is not None for k in TRAIN_OPTIONS):
            raise ValueError(f"--steps, --seeds and --grad-variance apply to the train suite, "
                             f"not to {suite!r}")
        if address and backend != "ray":
            raise ValueError("--address names a Ray cluster: give it with --backend ray")
        if workers is not None and (backend != "ray" or address):
            raise ValueError("--workers sizes the local Ray instance that --backend ray starts "
                             "without --address")
        runner = backends.get(backend, **({"address": address} if address else {}),
                              **({"num_cpus": workers} if workers else {}))
    except ValueError as error:
        raise BadInput(str(error)) from None
    done = store.finished_keys(table)
    pending = [c for c in cells if store.cell_key(c) not in done]
    if dry_run:
        echo_cells(cells, done)
        return
    options["devices"] = options["devices"] or sorted({c.device for c in cells})
    threads_before = torch.get_num_threads()
    try:
        # Set before meta.json is written, so that it records the threads the timings used.
        torch.set_num_threads(options["threads"] or threads_before)
        try:
            run_dir, meta, table, lock = open_run(suite, cells, options, out, resume, meta, table,
                                                  command_line(ctx))
        except ValueError as error:
            raise BadInput(str(error)) from None
        with lock:
            done = store.finished_keys(table)  # as read under the lock
            pending = [c for c in cells if store.cell_key(c) not in done]
            sweep = Sweep(run_dir, meta, table, total=len(cells))
            table = progress_sweep(ctx, sweep, pending, suite, options["min_run_time"], runner)
    finally:
        torch.set_num_threads(threads_before)
    width = shutil.get_terminal_size((80, 24)).columns
    if suite == "train":
        from suites.read.summary import format_train_summary
        click.echo(format_train_summary(table, width))
    else:
        click.echo(format_summary(table, width))
    click.echo(f"results: {run_dir / store.RESULTS}", err=True)


def command_line(ctx) -> str:
    """The invocation as typed, rebuilt from the options given (what meta.json records)."""
    words = ["mcgradbench", ctx.info_name]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words += [param.opts[0]] if value else []
        else:
            for item in (value if param.multiple else [value]):
                words += [param.opts[0], str(item)]
    return shlex.join(words)


#: Options that set what a cell measures: a resumed run must keep them, or one table would
#: mix two settings. The filters (estimators, problems, devices) may differ: they pick cells.
SETTINGS = {"steps": "--steps", "grad_variance": "--grad-variance",
            "num_estimates": "--num-estimates", "num_samples": "--num-samples", "seed": "--seed",
            "min_run_time": "--min-run-time", "threads": "--threads"}


def resumed_selection(ctx, suite, options: dict, meta: dict, run_dir) -> tuple[str | None, dict]:
    """Suite and options for ``--resume``: the recorded ones; filters may be given again,
    settings only with their recorded values."""
    if not meta:
        from suites.store import rundir as store

        raise ValueError(f"{run_dir}: has {store.RESULTS} but no {store.META}, so the settings "
                         f"its cells were measured with are unknown; start a new run with --out")
    recorded_suite = meta.get("suite")
    if suite and recorded_suite and suite != recorded_suite:
        raise ValueError(f"--resume: the run holds suite {recorded_suite!r}, not {suite!r}")
    recorded = meta.get("options", {})
    given = {k for k in RECORDED
             if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
    for key, flag in SETTINGS.items():
        if key in given and key in recorded and options[key] != recorded[key]:
            raise ValueError(f"--resume {run_dir}: the run was measured with {flag} "
                             f"{recorded[key]}, not {options[key]}; one run keeps one setting "
                             f"(start a new run with --out to measure another)")
    merged = {k: (options[k] if k in given or k not in recorded else recorded[k]) for k in options}
    return suite or recorded_suite, merged


def echo_cells(cells, done: set) -> None:
    """The ``--dry-run`` listing: one cell a line, finished ones marked."""
    from suites.store import rundir as store

    for cell in cells:
        mark = "done" if store.cell_key(cell) in done else "    "
        click.echo(f"{mark}  {cell.label}")
    finished = sum(store.cell_key(c) in done for c in cells)
    click.echo(f"{len(cells)} cells: {finished} finished, {len(cells) - finished} to run")


def shorten(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, an ellipsis marking the cut."""
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def progress_bar(length: int, label: str, width: int, file=None):
    """click's progress bar within ``width`` columns, its last field the cell being measured.

    A line wider than the terminal wraps, and the bar then leaves one stale line per
    update instead of redrawing: the bar and the cell label give way to fit.
    """
    bar_width = max(8, min(30, width // 8))
    status = {"text": ""}
    bar = click.progressbar(length=length, label=shorten(label, max(8, width // 6)),
                            width=bar_width, file=file or sys.stderr, show_pos=True,
                            show_percent=False, item_show_func=lambda _: status["text"] or None)
    # "label  [bar]  pos/length  eta  item", the eta up to "1d 00:00:00"
    fixed = len(bar.label) + 2 + bar_width + 2 + 2 + 2 * len(str(length)) + 1 + 2 + 11 + 2
    room = max(0, width - 1 - fixed)

    def show(text: str) -> None:
        status["text"] = shorten(text, room)
    bar.show = show
    return bar


def progress_sweep(ctx, sweep: Sweep, pending, suite, min_run_time, backend):
    """``run_sweep`` with a progress bar; an interrupt or bad input ends in one line."""
    from suites.run.sweep import run_sweep

    width = shutil.get_terminal_size((80, 24)).columns
    try:
        click.echo(f"{suite}: {len(pending)} of {sweep.total} cells to run, into {sweep.run_dir}",
                   err=True)
        with progress_bar(len(pending), suite, width) as bar:
            def started(cell):
                bar.show(f"running {cell.label}")
                bar.render_progress()  # update(0) would not redraw

            def finished(cell):
                bar.show(f"done {cell.label}")
                bar.update(1)
            return run_sweep(sweep, pending, suite, min_run_time, backend,
                             on_cell=finished, on_start=started)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {sweep.finished} of {sweep.total} cells stored in "
                   f"{sweep.run_dir}; continue with: mcgradbench run --resume {sweep.run_dir}",
                   err=True)
        ctx.exit(130)
    except ValueError as error:
        raise BadInput(str(error)) from None
    except OSError as error:
        # A full disk, a lost mount, a permission change: every finished cell is on disk.
        raise BadInput(f"cannot write to {sweep.run_dir}: {error.strerror or error}; "
                       f"{sweep.finished} of {sweep.total} cells stored; continue with: "
                       f"mcgradbench run --resume {sweep.run_dir}") from None


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Report directory [default: RUN_DIR/report for the first RUN_DIR].")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="md (report.md), html (report.html), latex (tables.tex); repeatable [default: all].")
def report(run_dirs, out, formats):
    """Render tables and figures of one or more runs (RUN_DIR: a run directory or its results.csv)."""
    from suites.read.report.render import render  # matplotlib and seaborn load only for this command

    run_dirs = list(dict.fromkeys(run_dirs))  # a run given twice is one run
    out = Path(out) if out else Path(run_dirs[0]) / "report"
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
        click.echo(result.line())
    failed = [r.name for r in results if not r.passed]
    click.echo(f"{kind} {name}: {len(results) - len(failed)} of {len(results)} checks passed"
               + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        sys.exit(1)


@main.command()
@click.option("--problem", "problem_name", required=True,
              help="A problem name, or pkg.module:Class[,key=value...], with its configuration after commas.")
@click.option("--evaluations", type=int, default=4, show_default=True,
              help="Budget of cost evaluations per estimate, the same for every estimator.")
@click.option("--num-estimates", type=int, default=None,
              help="M per estimator [default: by problem size, 200 to 10,000].")
@click.option("--estimator", "estimator_names", multiple=True,
              help="Only these estimators, NAME[,key=value...] (repeatable) [default: all that apply].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--min-run-time", type=float, default=0.2, show_default=True, help="Seconds timing each estimator.")
def advise(problem_name, evaluations, num_estimates, estimator_names, seed, min_run_time):
    """Rank every applicable estimator on one problem at the same budget of cost evaluations."""
    from suites.read import advise as advice
    from estimators.registry import split_spec

    from suites import problems

    try:
        problem = problems.get(problem_name)
        variants = [split_spec(name) for name in estimator_names] or None
        if num_estimates is not None and num_estimates < 2:
            raise ValueError(f"--num-estimates must be >= 2, got {num_estimates}")
        table, skipped = advice.advise(problem, evaluations, num_estimates, seed, min_run_time, variants)
    except ValueError as error:
        raise BadInput(str(error)) from None
    click.echo(advice.render(problem, table, evaluations, skipped))


if __name__ == "__main__":  # pragma: no cover
    main()
