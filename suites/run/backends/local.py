"""The in-process backend: cells measured one after another, each delivered as it finishes."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from suites.run.grids import Cell
from suites.run.runner import run_cell


class LocalBackend:
    """Measure cells in this process, in order (the default backend)."""

    name = "local"
    #: run() takes ``on_start``: one cell runs at a time, so "the cell being measured" exists.
    reports_start = True

    def run(self, cells: Sequence[Cell], suite: str, min_run_time: float,
            on_done: Callable[[Cell, pd.DataFrame], None],
            on_start: Callable[[Cell], None] | None = None) -> None:
        for cell in cells:
            if on_start is not None:
                on_start(cell)
            on_done(cell, run_cell(cell, suite=suite, min_run_time=min_run_time))
