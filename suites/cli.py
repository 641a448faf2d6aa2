"""The ``mcgradbench`` command line: list, run, report."""
from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

import click
import pandas as pd
import torch

import estimators

from . import grids, problems, store
from .labels import estimator_label, problem_label
from .report import FORMATS
from .runner import run_cells


class BadInput(click.ClickException):
    """A one-line error for bad user input; exit code 2 like click's usage errors."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The printed view of result rows: one line per cell and parameter."""
    view = pd.DataFrame({
        "problem": [problem_label(n, c) for n, c in zip(df["problem"], df["problem_config"])],
        "estimator": [estimator_label(n, c) for n, c in zip(df["estimator"], df["estimator_config"])],
        "param": df["param"], "device": df["device"], "K": df["num_samples"],
        "variance": df["variance"], "var_se": df["variance_se"],
        "bias_norm": df["bias_norm"], "bias_se": df["bias_se"], "max|z|": df["max_abs_z"],
        "biased": df["biased"].map({True: "yes", False: ""}),
        "time_ms": df["time_s"] * 1e3,
    })
    return view


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcgradbench")
def main():
    """Benchmark Monte Carlo gradient estimators: bias, variance and time against exact gradients."""


@main.command("list")
def list_cmd():
    """List estimators, problems and suites."""
    click.echo("Estimators:")
    for name in estimators.names():
        click.echo(f"  {name:<26} {estimators.describe(name)}")
    click.echo("Problems:")
    for name in problems.names():
        click.echo(f"  {name:<26} {problems.describe(name)}")
    click.echo("Suites:")
    for name in grids.names():
        click.echo(f"  {name:<26} {grids.get(name).description}")


#: Options of ``run`` recorded in meta.json and reused by ``--resume`` unless given again.
RECORDED = ("estimator_names", "problem_names", "devices", "num_estimates", "seed", "min_run_time",
            "threads")


@main.command()
@click.argument("suite", required=False)
@click.option("--estimator", "estimator_names", multiple=True, help="Only these estimators (repeatable).")
@click.option("--problem", "problem_names", multiple=True, help="Only these problems (repeatable).")
@click.option("--device", "devices", multiple=True, help="cpu, cuda or cuda:N (repeatable); default: cpu, and cuda when available.")
@click.option("--num-estimates", type=int, default=None, help="Override M, the number of independent estimates per cell.")
@click.option("--seed", type=int, default=None, help="Override the seed of every cell.")
@click.option("--min-run-time", type=float, default=0.2, show_default=True,
              help="Seconds spent timing each cell (torch.utils.benchmark); 0 skips timing.")
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (torch.set_num_threads) [default: torch's choice]; "
                   "1 gives steadier timings on a shared machine.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory for results.csv and meta.json [default: results/runs/<utc-time>-<suite>/].")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in DIR: skip its finished cells; its recorded suite and options apply unless given again.")
@click.option("--dry-run", is_flag=True, help="List the cells (and which are finished) without running them.")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="train suite: Adam steps per curve.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="train suite: seeds per cell.")
@click.pass_context
def run(ctx, suite, estimator_names, problem_names, devices, num_estimates, seed, min_run_time,
        threads, out, resume, dry_run, steps, seeds):
    """Run SUITE's grid (default: core), store it cell by cell and print its table."""
    if suite == "train":
        from .train import run_train
        try:
            table = run_train(out or resume or store.default_run_dir("train", store.utc_now()),
                              problem_names, estimator_names, steps=steps, seeds=seeds)
        except ValueError as error:
            raise BadInput(str(error)) from None
        click.echo(table.groupby(["problem", "estimator", "step"])["objective"].mean().to_string())
        return
    if out and resume:
        raise BadInput("give --out DIR for a new run or --resume DIR to continue one, not both")
    options = {"estimator_names": list(estimator_names), "problem_names": list(problem_names),
               "devices": list(devices), "num_estimates": num_estimates, "seed": seed,
               "min_run_time": min_run_time, "threads": threads}
    try:
        meta, table = ({}, store.empty_table()) if resume is None else load_run(resume)
        if resume is not None:
            suite, options = resumed_selection(ctx, suite, options, meta)
        suite = suite or "core"
        if options["min_run_time"] < 0:
            raise ValueError(f"--min-run-time must be >= 0, got {options['min_run_time']}")
        if options["threads"] is not None and options["threads"] < 1:
            raise ValueError(f"--threads must be >= 1, got {options['threads']}")
        selection = {k: v for k, v in options.items() if k not in ("min_run_time", "threads")}
        cells = select_cells(suite, **selection)
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
        run_dir, meta, table = open_run(suite, cells, options, out, resume, meta, table)
        table = sweep(ctx, run_dir, meta, table, pending, suite, options["min_run_time"], len(cells))
    finally:
        torch.set_num_threads(threads_before)
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.float_format", "{:.4g}".format):
        click.echo(summary_table(table).to_string(index=False))
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


def load_run(run_dir) -> tuple[dict, pd.DataFrame]:
    """The meta and table of a run to resume (a run killed before its first cell has no rows)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"{run_dir}: no such run directory to resume")
    meta = store.read_meta(path)
    if not meta and not (path / store.RESULTS).exists():
        raise ValueError(f"{run_dir}: holds neither {store.META} nor {store.RESULTS}; nothing to resume")
    if not (path / store.RESULTS).exists():
        return meta, store.empty_table()
    return meta, store.read_results(path, require_key=True)


def resumed_selection(ctx, suite, options: dict, meta: dict) -> tuple[str | None, dict]:
    """Suite and options for ``--resume``: the recorded ones, except those given again."""
    recorded_suite = meta.get("suite")
    if suite and recorded_suite and suite != recorded_suite:
        raise ValueError(f"--resume: the run holds suite {recorded_suite!r}, not {suite!r}")
    recorded = meta.get("options", {})
    given = {k for k in RECORDED
             if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
    merged = {k: (options[k] if k in given or k not in recorded else recorded[k]) for k in options}
    return suite or recorded_suite, merged


def echo_cells(cells, done: set) -> None:
    """The ``--dry-run`` listing: one cell a line, finished ones marked."""
    for cell in cells:
        mark = "done" if store.cell_key(cell) in done else "    "
        click.echo(f"{mark}  {cell.label}")
    finished = sum(store.cell_key(c) in done for c in cells)
    click.echo(f"{len(cells)} cells: {finished} finished, {len(cells) - finished} to run")


def open_run(suite, cells, options, out, resume, meta, table):
    """Create (or reopen for ``--resume``) the run directory and write its meta.json."""
    started = store.utc_now()
    command = command_line(click.get_current_context())
    if resume is not None:
        run_dir = Path(resume)
        finished = sum(store.cell_key(c) in store.finished_keys(table) for c in cells)
        meta = store.resumed_meta(meta, cells, finished, command, started)
    else:
        run_dir = Path(out) if out else store.default_run_dir(suite, started)
        if (run_dir / store.RESULTS).exists() or (run_dir / store.META).exists():
            raise BadInput(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                           f"or choose another --out")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BadInput(f"cannot create {run_dir}: {error.strerror}") from None
        meta = store.new_meta(suite, cells, command, options, started)
        # A header-only table from the start: a run killed before its first cell is resumable.
        store.atomic_write_text(run_dir / store.RESULTS, store.table_csv(table))
    store.write_meta(run_dir, meta)
    return run_dir, meta, table


def sweep(ctx, run_dir, meta, table, pending, suite, min_run_time, total):
    """Measure ``pending`` cells, storing each as it finishes; the whole run's table."""
    state = {"table": table, "done": 0}

    def finished() -> int:
        return total - len(pending) + state["done"]

    def store_cell(cell, rows):
        state["table"] = store.append_cell(run_dir, state["table"], cell, rows)
        state["done"] += 1
        bar.update(1, current_item=cell)

    try:
        with click.progressbar(length=len(pending), label=f"{suite}: {len(pending)} of {total} cells",
                               file=sys.stderr, item_show_func=lambda c: c.label if c else None,
                               ) as bar:
            run_cells(pending, suite=suite, min_run_time=min_run_time, on_done=store_cell)
    except KeyboardInterrupt:
        store.write_meta(run_dir, store.progressed_meta(meta, finished()))
        click.echo(f"\ninterrupted: {finished()} of {total} cells stored in {run_dir}; "
                   f"continue with: mcgradbench run --resume {run_dir}", err=True)
        ctx.exit(130)
    except ValueError as error:
        store.write_meta(run_dir, store.progressed_meta(meta, finished()))
        raise BadInput(str(error)) from None
    store.write_meta(run_dir, store.progressed_meta(meta, finished(), ended=store.utc_now()))
    return state["table"]


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Report directory [default: RUN_DIR/report for the first RUN_DIR].")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="md (report.md), html (report.html), latex (tables.tex); repeatable [default: all].")
def report(run_dirs, out, formats):
    """Render tables and figures of one or more runs (RUN_DIR: a run directory or its results.csv)."""
    from .report.render import render  # matplotlib and seaborn load only for this command

    out = Path(out) if out else Path(run_dirs[0]) / "report"
    try:
        written = render(run_dirs, out, formats or FORMATS)
    except ValueError as error:
        raise BadInput(str(error)) from None
    click.echo(f"wrote {len(written)} files to {out}", err=True)
    for path in written:
        if path.parent == out:
            click.echo(str(path))


def select_cells(suite, estimator_names=(), problem_names=(), devices=(), num_estimates=None,
                 seed=None):
    """The cells of ``suite`` after the command line's filters and overrides."""
    for name in estimator_names:
        estimators.get(name)  # unknown names fail here, listing the known ones
    for name in problem_names:
        if name not in problems.names():
            raise ValueError(f"unknown problem {name!r}; known: {', '.join(problems.names())}")
    if num_estimates is not None and num_estimates < 2:
        raise ValueError(f"--num-estimates must be >= 2, got {num_estimates}")
    from .measure import resolve_device
    for device in devices:
        resolve_device(device)
    cells = grids.get(suite).cells(devices or None)
    cells = [c for c in cells
             if (not estimator_names or c.estimator in estimator_names)
             and (not problem_names or c.problem in problem_names)]
    overrides = {}
    if num_estimates is not None:
        overrides["num_estimates"] = num_estimates
    if seed is not None:
        overrides["seed"] = seed
    return [dataclasses.replace(c, **overrides) for c in cells]


if __name__ == "__main__":  # pragma: no cover
    main()
