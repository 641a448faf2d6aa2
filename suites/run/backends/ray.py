"""The Ray backend: each cell a Ray task, finished cells streamed back to the one writer.

Each cell runs as a task on a Ray cluster (a local instance started on
demand, or an existing one at ``address``) with ``num_gpus=1`` for CUDA
cells and ``cpus_per_cell`` CPUs otherwise; the task sets torch's threads to
the CPUs it holds, so timings mean what they mean locally. The driver waits
on the tasks with ``ray.wait`` and hands each finished cell's rows to
``on_done`` (the store's atomic append) as soon as it arrives, so an
interrupted sweep keeps every cell that finished and ``--resume`` runs only
the missing ones, on either backend.

Fault tolerance is Ray's: a task whose worker process dies is retried
(``max_retries``); an exception raised by the measurement itself (bad input)
is not retried and ends the sweep with that error, like the local backend.

Problems that are expensive to construct (a trained ``bernoulli_vae``, the
logistic-regression reference) are built once per worker process and reused
by every later cell of that worker (``functools.lru_cache`` in the task's
module; Ray keeps worker processes alive between tasks); the reference
gradient cache on disk is shared by the workers of one machine.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Callable, Sequence

import pandas as pd

from suites.run.grids import Cell


@functools.lru_cache(maxsize=16)
def _problem(name: str, config_json: str):
    from suites import problems
    return problems.get(name, **json.loads(config_json))


def measure_cell(cell: Cell, suite: str, min_run_time: float, threads: int) -> pd.DataFrame:
    """One cell, as a task runs it: torch threads set to the task's CPUs, problem cached
    (a training cell: its curve, ``suites.train``)."""
    import torch

    import estimators

    from suites.measurement.measure import measure
    from suites.run.runner import full_call_timing

    torch.set_num_threads(threads)
    if cell.settings.get("kind") == "train":
        from suites.run.training import train_cell
        return train_cell(cell)
    if cell.settings.get("kind") == "sbn":
        from suites.run.sbn import sbn_cell
        return sbn_cell(cell)
    return measure(
        _problem(cell.problem, json.dumps(cell.problem_config, sort_keys=True)),
        estimators.get(cell.estimator, **cell.estimator_config),
        num_estimates=cell.num_estimates, num_samples=cell.num_samples, seed=cell.seed,
        device=cell.device, suite=suite, min_run_time=min_run_time,
        time_full_call=full_call_timing(suite),
    )


class RayBackend:
    """Run cells as Ray tasks; deliver each finished cell to ``on_done`` as it arrives."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 cpus_per_cell: int = 1, max_retries: int = 3,
                 cell_function: Callable[..., pd.DataFrame] = measure_cell):
        if cpus_per_cell < 1:
            raise ValueError(f"cpus_per_cell must be an integer >= 1, got {cpus_per_cell!r}")
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_cell, self.max_retries = cpus_per_cell, max_retries
        self.cell_function = cell_function

    def connect(self):
        """``ray``, initialised: the cluster at ``address``, or a local instance."""
        import ray

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False,
                         log_to_driver=False)
        return ray

    def run(self, cells: Sequence[Cell], suite: str, min_run_time: float,
            on_done: Callable[[Cell, pd.DataFrame], None]) -> None:
        ray = self.connect()
        task = ray.remote(self.cell_function)
        pending = {}
        for cell in cells:
            cuda = cell.device.startswith("cuda")
            options = {"num_gpus": 1, "num_cpus": 1} if cuda else {"num_cpus": self.cpus_per_cell}
            ref = task.options(max_retries=self.max_retries, retry_exceptions=False,
                               **options).remote(cell, suite, min_run_time,
                                                 1 if cuda else self.cpus_per_cell)
            pending[ref] = cell
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    cell = pending.pop(ref)
                    try:
                        rows = ray.get(ref)
                    except ray.exceptions.RayTaskError as error:
                        cause = error.cause if getattr(error, "cause", None) else error
                        if isinstance(cause, ValueError):
                            raise ValueError(str(cause)) from None
                        raise
                    on_done(cell, rows)
        finally:
            for ref in pending:  # interrupted or failed: stop what has not finished
                ray.cancel(ref, force=True)
