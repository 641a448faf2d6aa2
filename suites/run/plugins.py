"""Plugins on the command line: where entries came from, and ad hoc names in a suite's grid.

The registries (``estimators.registry.Registry``) find plugins; this module
holds what the CLI needs on top of them:

* ``origins()``: every estimator, problem and suite with where it came from,
  and the plugins that failed to load (one line each);
* ``add_named_cells(cells, ...)``: ``mcgradbench run SUITE --estimator NAME``
  with a NAME the suite's grid does not hold (a plugin, or ``pkg.module:Class``
  with options after commas) measures NAME on the grid's other axes: every
  problem configuration, device, ``M`` and seed of the grid where it applies,
  at the grid's budgets of cost evaluations; likewise ``--problem NAME[,key=value...]`` for a problem.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import Iterable, Sequence

import estimators

from suites.run import grids
from suites import problems
from suites.run.grids.base import samples_within
from suites.run.grids.base import Cell


@functools.lru_cache(maxsize=None)
def _built(name: str, canonical_config: str):
    return problems.get(name, **json.loads(canonical_config))


def built(name: str, config: dict):
    """The problem ``name(**config)``, built once per process (a VAE trains at construction)."""
    return _built(name, json.dumps(config, sort_keys=True))


def origins() -> list[tuple[str, str, str, str]]:
    """``(kind, name, origin, description)`` for every registered entry."""
    rows = [("estimator", n, estimators.origin(n), estimators.describe(n)) for n in estimators.names()]
    rows += [("problem", n, problems.origin(n), problems.describe(n)) for n in problems.names()]
    rows += [("suite", n, grids.origin(n), grids.get(n).description) for n in grids.names()]
    return rows


def failures() -> list[str]:
    """One line per plugin (of any kind) that failed to load."""
    return [*estimators.plugin_failures().values(), *problems.plugin_failures().values(),
            *grids.plugin_failures().values()]


def validate_names(estimator_names: Sequence[str], problem_names: Sequence[str]) -> None:
    """``ValueError`` (one line) for a name that is neither registered nor importable."""
    for name in estimator_names:
        estimators.get(name)
    for name in problem_names:
        problems.get(name)


def add_named_cells(cells: list[Cell], estimator_names: Iterable[str] = (),
                    problem_names: Iterable[str] = ()) -> list[Cell]:
    """``cells`` plus cells for the names the grid does not hold, on the grid's other axes.

    A new estimator runs at every distinct (problem, config, device, M, seed) of the
    grid where it applies, at the grid's budgets of cost evaluations there (the ``K`` of
    its one-evaluation-a-sample estimators), with the largest ``K`` whose estimate fits
    the budget on that problem (``Estimator.evaluations``, as ``advise``); a new problem
    with every distinct (estimator, options, device, M, K, seed) of the grid that
    applies to it.
    """
    held_estimators = {c.estimator for c in cells}
    held_problems = {c.problem for c in cells}
    added = []
    for name in estimator_names:
        if name in held_estimators:
            continue
        estimator = estimators.get(name)
        seen = set()
        for cell in cells:
            problem = built(cell.problem, cell.problem_config)
            # The grid's budgets of cost evaluations are those of its one-evaluation-a-sample
            # estimators (DisARM's pairs and REBAR's triples are fitted into the same budgets).
            held = estimators.get(cell.estimator, **cell.estimator_config)
            if (not estimator.applies_to(problem)
                    or held.evaluations(problem, cell.num_samples) != cell.num_samples):
                continue
            k = samples_within(estimator, problem, cell.num_samples)
            key = (cell.problem, grids.base._canonical(cell.problem_config), cell.device,
                   cell.num_estimates, k, cell.seed)
            if key in seen or k < 1:
                continue
            seen.add(key)
            try:
                estimator.check_num_samples(k)
            except ValueError:
                continue
            added.append(dataclasses.replace(cell, estimator=name, estimator_config={},
                                             num_samples=k))
    for name in problem_names:
        if name in held_problems:
            continue
        problem = problems.get(name)
        seen = set()
        for cell in cells + added:
            key = (cell.estimator, grids.base._canonical(cell.estimator_config), cell.device,
                   cell.num_estimates, cell.num_samples, cell.seed)
            if key in seen:
                continue
            seen.add(key)
            if estimators.get(cell.estimator, **cell.estimator_config).applies_to(problem):
                added.append(dataclasses.replace(cell, problem=name, problem_config={}))
    return cells + added


def use_grid(path: str, suite: str | None) -> str:
    """Register the grid file at ``path`` as a suite (for ``run --grid``); its name.

    ``GridError`` (one line, naming the key) if the file is malformed; ``ValueError`` if a
    SUITE argument names another suite, or the file's name is taken by another suite.
    """
    grid = grids.load_grid(path)
    if suite and suite != grid.name:
        raise ValueError(f"--grid {path} defines suite {grid.name!r}; drop the SUITE argument "
                         f"{suite!r} or make it {grid.name!r}")
    grids.register(grid, origin=f"grid file {path}", replace=True)
    return grid.name
