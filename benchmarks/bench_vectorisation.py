"""asv: what vectorisation buys, a naive per-sample ``backward()`` loop against one batched call.

``naive_score_function_loop`` is the obvious implementation a user might
write: one ``torch.distributions`` sample, ``log_prob``, surrogate and
``backward()`` per estimate. It exists only as this benchmark's baseline
(and its test); no other code path uses it.
"""
from __future__ import annotations

import timeit

import torch

import estimators
from suites import problems
from benchmarks.common import SEED

#: The naive loop is slow (about 0.2 ms an estimate): keep M modest.
NUM_ESTIMATES = 1_000
DIM = 100


def naive_score_function_loop(problem, num_estimates: int, generator: torch.Generator):
    """``num_estimates`` one-sample score-function estimates, one ``backward()`` each: ``{name: (M, *shape)}``."""
    params = {name: p.detach().clone().requires_grad_(True) for name, p in problem.params.items()}
    rows = {name: [] for name in params}
    # Same noise source as the estimators: draws depend on `generator` alone.
    with torch.enable_grad(), estimators.sampling_from(generator):
        for _ in range(num_estimates):
            distribution = problem.distribution(params)
            z = distribution.sample()  # event
            cost = problem.cost(z, params)  # scalar
            surrogate = distribution.log_prob(z) * cost.detach() + cost
            surrogate.backward()
            for name, p in params.items():
                rows[name].append(torch.zeros_like(p) if p.grad is None else p.grad.clone())
                p.grad = None
    return {name: torch.stack(r) for name, r in rows.items()}


def vectorised_score_function(problem, num_estimates: int, generator: torch.Generator):
    """The same estimates from the registry's score-function estimator, in one batched pass."""
    return estimators.get("score_function")(problem, num_estimates, 1, generator)


IMPLEMENTATIONS = {"naive_loop": naive_score_function_loop, "vectorised": vectorised_score_function}


class Vectorisation:
    """M = 1,000 score-function estimates on gaussian dim 100: naive loop or batched."""

    params = [list(IMPLEMENTATIONS)]
    param_names = ["implementation"]
    timeout = 300
    number = 1  # one naive call is already 0.1-0.5 s
    repeat = (3, 10, 5.0)
    warmup_time = 0.1

    def setup(self, implementation):
        self.problem = problems.get("gaussian", dim=DIM)
        self.generator = torch.Generator().manual_seed(SEED)
        self.implementation = IMPLEMENTATIONS[implementation]

    def time_score_function(self, implementation):
        self.implementation(self.problem, NUM_ESTIMATES, self.generator)


def track_time_fraction():
    # Vectorised time over naive-loop time (1 / the speed-up), so that up is
    # worse as asv assumes for every benchmark. Both are timed back to back in
    # one process: on shared cores that ratio is far steadier than the ratio
    # of two separately timed benchmarks.
    problem = problems.get("gaussian", dim=DIM)
    generator = torch.Generator().manual_seed(SEED)
    naive, vectorised = (
        min(timeit.repeat(lambda: impl(problem, NUM_ESTIMATES, generator), number=1, repeat=3))
        for impl in (naive_score_function_loop, vectorised_score_function)
    )
    return vectorised / naive


track_time_fraction.unit = "vectorised time / naive loop time"
track_time_fraction.timeout = 300


def compare(num_estimates: int = 100_000, dim: int = DIM) -> dict[str, float]:
    """Seconds for ``suites.measure`` (no timing pass) and for the naive loop on the same work."""
    from suites.measurement.measure import measure

    problem = problems.get("gaussian", dim=dim)
    estimator = estimators.get("score_function")
    measure(problem, estimator, min(num_estimates, 10_000), min_run_time=0)  # warm-up
    start = timeit.default_timer()
    measure(problem, estimator, num_estimates, min_run_time=0)
    vectorised = timeit.default_timer() - start
    start = timeit.default_timer()
    naive_score_function_loop(problem, num_estimates, torch.Generator().manual_seed(SEED))
    naive = timeit.default_timer() - start
    return {"measure_s": vectorised, "naive_loop_s": naive, "speed_up": naive / vectorised}


if __name__ == "__main__":
    # python -m benchmarks.bench_vectorisation [M] [threads]: the core issue's speed check.
    import sys

    num = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    result = compare(num)
    print(f"gaussian dim {DIM}, score_function, M = {num:,}, {torch.get_num_threads()} thread(s): "
          f"suites.measure {result['measure_s']:.3f} s, naive per-sample backward() loop "
          f"{result['naive_loop_s']:.2f} s, speed-up {result['speed_up']:.0f}x")
