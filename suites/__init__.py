"""mcgradbench suites: problems, measurement, runner, report, CLI and asv benchmarks.

>>> import estimators, suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> est = estimators.get("score_function", baseline="loo")
>>> df = suites.measure(prob, est, num_estimates=10_000, num_samples=4, seed=0)
"""
from . import problems
from .measure import measure

__all__ = ["problems", "measure"]
