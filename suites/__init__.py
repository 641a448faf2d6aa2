"""mcgradbench suites: problems, measurement, runner, report, CLI and asv benchmarks.

>>> import estimators, suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> est = estimators.get("score_function", baseline="loo")
>>> df = suites.measure(prob, est, num_estimates=10_000, num_samples=4, seed=0)

``problems`` and ``measure`` load on first use, so that the command line's
``--help`` and usage errors do not wait for torch and pandas.
"""
from __future__ import annotations

import importlib
import sys
import types

__all__ = ["problems", "measure"]


class _Package(types.ModuleType):
    """This package, with ``measure`` the function even once the submodule of that name loads
    (the import system sets each loaded submodule as an attribute of its package)."""

    @property
    def measure(self):
        return importlib.import_module(".measure", __name__).measure

    @measure.setter
    def measure(self, value):
        pass  # the submodule suites.measure stays reachable through sys.modules


def __getattr__(name: str):
    if name == "problems":
        return importlib.import_module(".problems", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
