"""mcgradbench: bias, variance and time of Monte Carlo gradient estimators against exact gradients.

>>> import estimators, suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> est = estimators.get("score_function", baseline="loo")
>>> df = suites.measure(prob, est, num_estimates=10_000, num_samples=4, seed=0)

The package follows the data, each layer importing only those before it:

====================  ===========================================================
``suites.store``      the result schema and the run directory (results.csv, meta.json)
``suites.measurement`` one cell: bias, variance, standard errors, exact moments, time
``suites.problems``   problems with exact gradients, and their labels
``suites.run``        many cells: grids, the sweep, backends, training
``suites.read``       the report, the printed summary, advise, check
``suites.cli``        the command line: parses options and calls the above
====================  ===========================================================

What ``mcgradbench run`` does, in Python: ``suites.execute(suites.plan("core"),
on_cell=print)`` selects (or resumes) the cells, runs them, stores each as it finishes
and reports progress through the callbacks. The public API is ``__all__``; its names
load on first use, so that the command line's ``--help`` and usage errors do not wait
for torch and pandas.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: name -> module it lives in (loaded on first access).
_PUBLIC = {
    "problems": None,
    "measure": "suites.measurement.measure",
    "train": "suites.run.training",
    "plan": "suites.run.sweep",
    "execute": "suites.run.sweep",
    "Plan": "suites.run.sweep",
    "select_cells": "suites.run.sweep",
    "Sweep": "suites.run.sweep",
    "open_run": "suites.run.sweep",
    "run_sweep": "suites.run.sweep",
    "read_results": "suites.store.rundir",
    "read_meta": "suites.store.rundir",
    "render_report": "suites.read.report.render",
    "advise": "suites.read.advise",
    "check_estimator": "suites.read.conformance",
    "check_problem": "suites.read.conformance",
}
_RENAMED = {"render_report": "render"}

__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from suites import problems
    from suites.measurement.measure import measure
    from suites.read.advise import advise
    from suites.read.conformance import check_estimator, check_problem
    from suites.read.report.render import render as render_report
    from suites.run.sweep import Plan, Sweep, execute, open_run, plan, run_sweep, select_cells
    from suites.run.training import train
    from suites.store.rundir import read_meta, read_results


def __getattr__(name: str):
    if name == "problems":
        return importlib.import_module("suites.problems")
    if name in _PUBLIC:
        module = importlib.import_module(_PUBLIC[name])
        return getattr(module, _RENAMED.get(name, name))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
