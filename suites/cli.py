"""The ``mcgradbench`` command line: list, run."""
from __future__ import annotations

import dataclasses
import sys

import click
import pandas as pd

import estimators

from . import grids, problems
from .runner import run_cells


class BadInput(click.ClickException):
    """A one-line error for bad user input; exit code 2 like click's usage errors."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The printed view of result rows: one line per cell and parameter."""
    def options(config: str) -> str:
        inner = config.strip("{}").replace('"', "").replace(" ", "")
        return inner
    view = pd.DataFrame({
        "problem": df["problem"] + "(" + df["problem_config"].map(options) + ")",
        "estimator": df["estimator"] + df["estimator_config"].map(
            lambda c: f"({options(c)})" if options(c) else ""),
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


@main.command()
@click.argument("suite", default="core")
@click.option("--estimator", "estimator_names", multiple=True, help="Only these estimators (repeatable).")
@click.option("--problem", "problem_names", multiple=True, help="Only these problems (repeatable).")
@click.option("--device", "devices", multiple=True, help="cpu, cuda or cuda:N (repeatable); default: cpu, and cuda when available.")
@click.option("--num-estimates", type=int, default=None, help="Override M, the number of independent estimates per cell.")
@click.option("--seed", type=int, default=None, help="Override the seed of every cell.")
def run(suite, estimator_names, problem_names, devices, num_estimates, seed):
    """Run SUITE's grid and print its table."""
    try:
        cells = select_cells(suite, estimator_names, problem_names, devices, num_estimates, seed)
        with click.progressbar(length=len(cells), label=f"{suite}: {len(cells)} cells",
                               file=sys.stderr) as bar:
            df = run_cells(cells, suite=suite, on_done=lambda cell, rows: bar.update(1))
    except ValueError as error:
        raise BadInput(str(error)) from None
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.float_format", "{:.4g}".format):
        click.echo(summary_table(df).to_string(index=False))


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
