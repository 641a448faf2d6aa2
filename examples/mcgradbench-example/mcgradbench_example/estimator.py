"""Score function with a leave-one-out *median* baseline: an example estimator plugin.

For ``z_1..z_K ~ q`` independent, one estimate is::

    g = 1/K sum_k [ (f(z_k) - b_k) grad log q(z_k) + grad_theta f(z_k) ],
    b_k = median_{j != k} f(z_j).

``b_k`` depends on the other samples only, so ``E[b_k grad log q(z_k)] =
E[b_k] E[grad log q(z_k)] = 0`` and the estimate is unbiased (the argument
of Kool, van Hoof & Welling 2019 for the leave-one-out mean). The median is
robust to a heavy-tailed cost, where one large ``f(z_j)`` would inflate the
mean baseline of every other sample. Stateless; needs ``K >= 2``.
"""
from __future__ import annotations

import torch

from estimators import Estimator


def leave_one_out_median(cost: torch.Tensor) -> torch.Tensor:
    """``b_k = median_{j != k} cost_j`` along dim 0 (``K x ...``), without a loop over ``k``."""
    num_samples = cost.shape[0]
    others = torch.arange(num_samples - 1, device=cost.device) + 1
    # Row k lists the indices j != k: (k + 1, ..., k + K - 1) mod K.
    index = (torch.arange(num_samples, device=cost.device)[:, None] + others) % num_samples
    return cost[index].median(dim=1).values


class ScoreFunctionMedian(Estimator):
    """REINFORCE with a leave-one-out median baseline (unbiased, K >= 2; example plugin)."""

    name = "score_function_median"
    options = {}

    def check(self, distribution):
        if not hasattr(distribution, "log_prob"):
            raise ValueError(f"score_function_median needs log_prob, which "
                             f"{type(distribution).__name__} lacks")

    def check_num_samples(self, num_samples):
        if num_samples < 2:
            raise ValueError(f"score_function_median needs num_samples >= 2 (each sample's "
                             f"baseline is the median of the others), got {num_samples}")

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            z = distribution.sample((num_samples,))
        cost = problem.cost(z, params)
        weight = cost.detach() - leave_one_out_median(cost.detach())
        return (distribution.log_prob(z) * weight + cost).mean(0)
