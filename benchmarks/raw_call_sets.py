"""The raw call of the newer estimators against the sampling floor, in one process at one thread.

For each case (estimator, problem, ``K``), three timings of ``M`` estimates:

* ``raw``: one call ``est(prob, num_estimates=M, num_samples=K)``;
* ``score_function``: the same call of the plain score function (``K`` independent samples),
  what any score-function estimator pays;
* ``floor``: ``K`` independent draws of ``q`` and their cost, no gradient, in the chunks the
  estimator's call uses (``bench_raw_call.floor`` at ``K``).

``python -m benchmarks.raw_call_sets [M] [repeats]`` prints each one's ratio to the floor
(best of ``repeats``, the paths timed round robin so that load from other processes falls on
all alike). Not an asv module (no ``bench_`` prefix): its cases take tens of seconds.
"""
from __future__ import annotations

import timeit

import torch

import estimators
from estimators.base import chunk_size, replicate
from suites import problems

NUM_ESTIMATES = 100_000
#: (estimator label, problem name, problem config, K): dimension 100, the smallest K.
CASES = [
    ("unordered_set", "categorical", {"dim": 100}, 2),
    ("unordered_set", "bernoulli", {"dim": 100}, 2),
    # 8 data points x 3 particles x 4 latents = 96 Bernoulli variables per estimate
    ("vimco", "bernoulli_vae", {"latent_dim": 4, "num_data": 8, "objective": "iwae",
                                "bound_samples": 3}, 1),
]


def floor(problem, estimator, num_estimates, num_samples, generator):
    """Draw and cost ``K`` independent samples per estimate, in the estimator's chunks."""
    chunk = chunk_size(problem, num_samples * estimator.copies_per_sample(problem))
    with torch.no_grad(), estimators.sampling_from(generator):
        for start in range(0, num_estimates, chunk):
            params = replicate(problem.params, min(chunk, num_estimates - start))
            problem.cost(problem.distribution(params).sample((num_samples,)), params)


def compare(num_estimates: int = NUM_ESTIMATES, repeats: int = 3, cases=CASES) -> dict:
    """Best-of-``repeats`` seconds per (case, path)."""
    runs = {}
    for name, pname, config, k in cases:
        problem = problems.get(pname, **config)
        estimator = estimators.get(name)
        plain = estimators.get("score_function")
        runs[(name, problem.label, k)] = {
            "raw": lambda g, e=estimator, p=problem, k=k: e(p, num_estimates, k, g),
            "score_function": lambda g, e=plain, p=problem, k=k: e(p, num_estimates, k, g),
            "floor": lambda g, e=estimator, p=problem, k=k: floor(p, e, num_estimates, k, g)}
    generator = torch.Generator().manual_seed(0)
    seconds = {(case, path): float("inf") for case, paths in runs.items() for path in paths}
    for _ in range(repeats):
        for case, paths in runs.items():
            for path, run in paths.items():
                start = timeit.default_timer()
                run(generator)
                seconds[case, path] = min(seconds[case, path], timeit.default_timer() - start)
    return seconds


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    num = int(sys.argv[1]) if len(sys.argv) > 1 else NUM_ESTIMATES
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    result = compare(num, repeats)
    print(f"M = {num:,}, 1 thread, best of {repeats}:")
    for case in dict.fromkeys(c for c, _ in result):
        base = result[case, "floor"]
        print(f"  {case[0]} on {case[1]}, K = {case[2]}: " + "  ".join(
            f"{path} {result[case, path]:.3f} s ({result[case, path] / base:.2f}x)"
            for path in ("raw", "score_function", "floor")))
