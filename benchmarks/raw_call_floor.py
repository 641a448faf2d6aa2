"""The raw call of ARMS, double control variates and IndeCateR against the sampling floor.

``python -m benchmarks.raw_call_floor [M] [dim] [repeats]`` times, in one process at
one thread, ``M`` estimates (one raw call) of each estimator at its smallest ``K`` on
``bernoulli`` (and ``categorical`` for IndeCateR) of dimension ``dim``, beside two floors
drawn and costed in the same chunks with no gradient (``bench_raw_call.floor``'s rule):

* ``floor``: the ``K`` samples of each estimate (what ``bench_raw_call`` calls the floor);
* ``floor_eval``: as many samples as the estimate spends cost evaluations
  (``Estimator.evaluations``: ``n K`` for ARMS, ``2 K`` for double CV, ``K D C`` for
  IndeCateR), the floor of any estimator at that budget.

Not an asv benchmark (no ``time_`` functions): a measurement the helper's note reports.
"""
from __future__ import annotations

import timeit

import torch

import estimators
from benchmarks.common import SEED
from suites import problems

CASES = (("arms", {"n": 2}, "bernoulli", 1), ("arms", {}, "bernoulli", 1),
         ("double_cv", {}, "bernoulli", 2), ("indecater", {}, "bernoulli", 1),
         ("indecater", {}, "categorical", 1))


def floor(problem, samples: int, num_estimates: int, generator, chunk: int) -> None:
    """Draw and cost ``samples`` samples per estimate for ``num_estimates`` estimates, no gradient."""
    with torch.no_grad(), estimators.sampling_from(generator):
        for start in range(0, num_estimates, chunk):
            size = min(chunk, num_estimates - start)
            params = estimators.base.replicate(problem.params, size)
            z = problem.distribution(params).sample((samples,))
            problem.cost(z, params)


def compare(num_estimates: int = 100_000, dim: int = 100, repeats: int = 3) -> list[dict]:
    """Best-of-``repeats`` seconds of the raw call and both floors, per case, round robin."""
    runs = []
    for name, options, problem_name, k in CASES:
        problem = problems.get(problem_name, dim=dim)
        estimator = estimators.get(name, **options)
        evaluations = estimator.evaluations(problem, k)
        chunk = estimators.base.chunk_size(problem, k)
        chunk_eval = estimators.base.chunk_size(problem, evaluations)
        runs.append({"case": f"{estimator.label} on {problem.label} K={k}", "evaluations": evaluations,
                     "paths": {
                         "raw": lambda g, e=estimator, p=problem, k=k: e(p, num_estimates, k, g),
                         "floor": lambda g, p=problem, k=k, c=chunk: floor(p, k, num_estimates, g, c),
                         "floor_eval": lambda g, p=problem, n=evaluations, c=chunk_eval:
                             floor(p, n, num_estimates, g, c)}})
    generator = torch.Generator().manual_seed(SEED)
    for run in runs:  # warm-up
        for path in run["paths"].values():
            path(generator)
    best = [{path: float("inf") for path in run["paths"]} for run in runs]
    for _ in range(repeats):
        for run, seconds in zip(runs, best):
            for path, call in run["paths"].items():
                start = timeit.default_timer()
                call(generator)
                seconds[path] = min(seconds[path], timeit.default_timer() - start)
    return [{"case": run["case"], "evaluations": run["evaluations"], **seconds}
            for run, seconds in zip(runs, best)]


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    num = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(f"M = {num:,}, dim {dim}, 1 thread, best of {repeats}:")
    for row in compare(num, dim, repeats):
        print(f"  {row['case']:<48} raw {row['raw']:.3f} s = {row['raw'] / row['floor']:.2f}x floor "
              f"({row['floor']:.3f} s), {row['raw'] / row['floor_eval']:.2f}x floor at "
              f"{row['evaluations']} evaluations ({row['floor_eval']:.3f} s)")
