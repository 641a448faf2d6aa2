"""Run the cells of a suite through ``suites.measure`` and collect the tidy rows."""
from __future__ import annotations

from typing import Callable, Iterable

import pandas as pd

import estimators

from suites.run import grids
from suites import problems
from suites.run.grids import Cell
from suites.measurement.measure import COLUMNS, measure


def full_call_timing(suite: str) -> bool:
    """Whether ``suite`` times raw calls of all M estimates (``Suite.time_full_calls``)."""
    return suite in grids.names() and grids.get(suite).time_full_calls


def check_cell_fits(cell: Cell, suite: str = "") -> None:
    """``ValueError`` (one line, naming the cell, the size and the memory available) when
    ``cell`` cannot fit on its device: what ``run`` checks of every cell before it writes."""
    from suites.measurement.measure import check_cell_fits as check_fits, resolve_device
    from suites.run.plugins import built

    problem = built(cell.problem, cell.problem_config)
    estimator = estimators.get(cell.estimator, **cell.estimator_config)
    estimates = (max(1, cell.settings.get("variance_estimates") or 1)
                 if cell.settings.get("kind") == "train" else cell.num_estimates)
    check_fits(problem, estimator, estimates, cell.num_samples,
               time_full_call=full_call_timing(suite), device=resolve_device(cell.device),
               what=f"cell {cell.label}")


def run_cell(cell: Cell, suite: str = "", min_run_time: float = 0.2) -> pd.DataFrame:
    """Measure one cell: its rows (one per parameter); a training cell: its rows per logged step."""
    if cell.settings.get("kind") == "train":
        from suites.run.training import train_cell
        return train_cell(cell)
    if cell.settings.get("kind") == "sbn":
        from suites.run.sbn import sbn_cell
        return sbn_cell(cell)
    return measure(
        problems.get(cell.problem, **cell.problem_config),
        estimators.get(cell.estimator, **cell.estimator_config),
        num_estimates=cell.num_estimates, num_samples=cell.num_samples, seed=cell.seed,
        device=cell.device, suite=suite, min_run_time=min_run_time,
        time_full_call=full_call_timing(suite),
    )


def run_cells(cells: Iterable[Cell], suite: str = "", min_run_time: float = 0.2,
              on_done: Callable[[Cell, pd.DataFrame], None] | None = None) -> pd.DataFrame:
    """Measure every cell in order; ``on_done(cell, rows)`` after each (progress, storage)."""
    frames = []
    for cell in cells:
        rows = run_cell(cell, suite=suite, min_run_time=min_run_time)
        frames.append(rows)
        if on_done is not None:
            on_done(cell, rows)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)
