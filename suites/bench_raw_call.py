"""Raw estimator calls against the chunked measurement path and the floor, per estimate.

``python -m suites.bench_raw_call`` prints, at one thread, for the score
function and reparam on ``gaussian(dim=100)`` with ``M = 100,000``: the time
of one raw call ``est(prob, M)``, of the same number of estimates through
``suites.measure``'s chunks (estimator calls only), and the floor: drawing
the ``M`` samples and evaluating the cost on them, which any estimator must
do. Ratios are taken within one run, so machine load cancels.
"""
from __future__ import annotations

import torch
import torch.utils.benchmark as benchmark

import estimators

from . import problems
from estimators.base import chunk_size

from .measure import default_chunk_size

DIM = 100
NUM_ESTIMATES = 100_000


def floor(problem, num_estimates: int, generator: torch.Generator) -> None:
    """Draw ``M`` samples and evaluate the cost on them, in cache-sized passes as the estimators
    do: the work no estimator can skip."""
    chunk = chunk_size(problem, 1)
    for start in range(0, num_estimates, chunk):
        size = min(chunk, num_estimates - start)
        params = {k: v.expand(size, *v.shape) for k, v in problem.params.items()}
        with estimators.sampling_from(generator), torch.no_grad():
            problem.cost(problem.distribution(params).sample((1,)), params)


def chunked(estimator, problem, num_estimates: int, generator: torch.Generator) -> None:
    """The estimator calls ``suites.measure`` makes for ``M`` estimates."""
    chunk = default_chunk_size(problem, 1)
    done = 0
    while done < num_estimates:
        size = min(chunk, num_estimates - done)
        estimator(problem, size, 1, generator)
        done += size


def seconds(stmt, **names) -> float:
    timer = benchmark.Timer(stmt=stmt, globals=names, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=1.0).median


def compare(num_estimates: int = NUM_ESTIMATES, dim: int = DIM) -> dict[str, dict[str, float]]:
    """Microseconds per estimate of the raw call, the chunked path and the floor."""
    problem = problems.get("gaussian", dim=dim, cost="square")
    g = torch.Generator().manual_seed(0)
    out = {}
    base = seconds("floor(problem, m, g)", floor=floor, problem=problem, m=num_estimates, g=g)
    for name in ("score_function", "reparam"):
        est = estimators.get(name)
        raw = seconds("est(problem, m, 1, g)", est=est, problem=problem, m=num_estimates, g=g)
        chunks = seconds("chunked(est, problem, m, g)", chunked=chunked, est=est, problem=problem,
                         m=num_estimates, g=g)
        out[name] = {"raw_us": raw / num_estimates * 1e6, "chunked_us": chunks / num_estimates * 1e6,
                     "floor_us": base / num_estimates * 1e6, "raw_over_floor": raw / base,
                     "raw_over_chunked": raw / chunks}
    return out


if __name__ == "__main__":  # pragma: no cover
    torch.set_num_threads(1)
    for name, row in compare().items():
        print(f"{name:<16} raw {row['raw_us']:.2f} us  chunked {row['chunked_us']:.2f} us  "
              f"floor {row['floor_us']:.2f} us  raw/floor {row['raw_over_floor']:.2f}  "
              f"raw/chunked {row['raw_over_chunked']:.2f}")
