"""asv: the raw estimator call at large M against the chunked ``suites.measure`` path and the sampling floor.

Three ways to get ``M`` estimates of one estimator on gaussian dim 100 (``K = 1``):

* ``raw``: one call ``est(prob, num_estimates=M, ...)``, the README's example;
* ``chunked``: the calls ``suites.measure`` makes, ``M / chunk`` calls of
  ``default_chunk_size`` estimates each (the estimation loop alone, no moments);
* ``floor``: drawing and costing the same ``M`` samples with no gradient at all
  (``distribution.sample`` and ``cost`` over the same ``(K, M, d)`` batch, in the
  same chunks), what any estimator must pay.

``python -m benchmarks.bench_raw_call [M] [dim] [repeats] [problem] [estimators]`` times
all three for ``score_function`` and ``reparam`` (or the comma-separated ``estimators``) on
``gaussian`` (or ``problem``, e.g. ``gamma``) in one process at one thread and prints the
ratios to the floor.
"""
from __future__ import annotations

import timeit

import torch

import estimators
from suites import problems
from benchmarks.common import SEED
from suites.measurement.measure import default_chunk_size

NUM_ESTIMATES = 100_000
DIM = 100
NUM_SAMPLES = 1
ESTIMATORS = ("score_function", "reparam")


def raw_call(problem, estimator, num_estimates, generator):
    """One call for all ``M`` estimates."""
    return estimator(problem, num_estimates, NUM_SAMPLES, generator)


def chunked_calls(problem, estimator, num_estimates, generator):
    """The estimator calls of ``suites.measure``: one per chunk."""
    chunk = default_chunk_size(problem, NUM_SAMPLES)
    for start in range(0, num_estimates, chunk):
        estimator(problem, min(chunk, num_estimates - start), NUM_SAMPLES, generator)


def floor(problem, estimator, num_estimates, generator):
    """Draw and cost the same samples, in the same chunks, with no gradient."""
    chunk = default_chunk_size(problem, NUM_SAMPLES)
    with torch.no_grad(), estimators.sampling_from(generator):
        for start in range(0, num_estimates, chunk):
            size = min(chunk, num_estimates - start)
            params = estimators.base.replicate(problem.params, size)
            z = problem.distribution(params).sample((NUM_SAMPLES,))
            problem.cost(z, params)


PATHS = {"raw": raw_call, "chunked": chunked_calls, "floor": floor}


class RawCall:
    """M = 100,000 estimates on gaussian dim 100: one raw call, measure's chunked calls, the floor."""

    params = [list(ESTIMATORS), list(PATHS)]
    param_names = ["estimator", "path"]
    timeout = 300
    number = 1
    repeat = (3, 10, 5.0)

    def setup(self, estimator, path):
        self.problem = problems.get("gaussian", dim=DIM)
        self.estimator = estimators.get(estimator)
        self.generator = torch.Generator().manual_seed(SEED)
        self.path = PATHS[path]

    def time_estimates(self, estimator, path):
        self.path(self.problem, self.estimator, NUM_ESTIMATES, self.generator)


def compare(num_estimates: int = NUM_ESTIMATES, dim: int = DIM, repeats: int = 5,
            problem_name: str = "gaussian", names: tuple[str, ...] = ESTIMATORS) -> dict:
    """Best-of-``repeats`` seconds of each path, per estimator, in one process.

    The paths are timed in turn within each repeat (round robin), so that load from
    other processes on a shared machine falls on all of them alike.
    """
    problem = problems.get(problem_name, dim=dim)
    generator = torch.Generator().manual_seed(SEED)
    runs = {(name, path): (estimators.get(name), run) for name in names for path, run in PATHS.items()}
    for estimator, run in runs.values():
        run(problem, estimator, min(num_estimates, 10_000), generator)  # warm-up
    seconds = {key: float("inf") for key in runs}
    for _ in range(repeats):
        for key, (estimator, run) in runs.items():
            start = timeit.default_timer()
            run(problem, estimator, num_estimates, generator)
            seconds[key] = min(seconds[key], timeit.default_timer() - start)
    return seconds


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    num = int(sys.argv[1]) if len(sys.argv) > 1 else NUM_ESTIMATES
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else DIM
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    problem_name = sys.argv[4] if len(sys.argv) > 4 else "gaussian"
    names = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else ESTIMATORS
    result = compare(num, dim, repeats, problem_name, names)
    print(f"{problem_name} dim {dim}, M = {num:,}, K = {NUM_SAMPLES}, 1 thread, best of {repeats}:")
    for name in names:
        base = result[name, "floor"]
        print(f"  {name:<15} " + "  ".join(
            f"{path} {result[name, path]:.3f} s ({result[name, path] / base:.2f}x floor, "
            f"{1e6 * result[name, path] / num:.2f} us/estimate)" for path in PATHS))
