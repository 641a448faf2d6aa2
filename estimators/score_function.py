"""Score-function (REINFORCE / likelihood-ratio) estimator with baselines.

For ``z_1..z_K ~ q(z; theta)`` independent, one estimate is::

    g = 1/K sum_k [ (f(z_k) - b_k) grad log q(z_k; theta) + grad_theta f(z_k; theta) ]

(Williams 1992; Glynn 1990; Mohamed et al. 2020, "Monte Carlo Gradient
Estimation in Machine Learning", JMLR, section 4). The second term is the
pathwise part for costs that depend on theta directly (VAE decoders).
Baselines:

* ``none``: ``b_k = 0``.
* ``loo``: leave-one-out, ``b_k = 1/(K-1) sum_{j != k} f(z_j)``; unbiased
  because ``b_k`` is independent of ``z_k`` (Kool, van Hoof & Welling 2019,
  "Buy 4 REINFORCE samples, get a baseline for free!"). Needs ``K >= 2``.
* ``loo_optimal``: leave-one-out estimate of the variance-optimal
  per-coordinate baseline ``E[f s_i^2] / E[s_i^2]`` (``estimators.optimal_baseline``).
  Needs ``K >= 2``.

Applies to any ``torch.distributions`` family with a differentiable
``log_prob``: continuous or discrete.
"""
from __future__ import annotations

import torch
from torch.distributions import Distribution

from .base import Estimator
from .optimal_baseline import baseline_correction

BASELINES = ("none", "loo", "loo_optimal")


def leave_one_out_baseline(cost: torch.Tensor) -> torch.Tensor:
    """``b_k = (sum_j f_j - f_k) / (K - 1)`` along dim 0 (K x ...)."""
    num_samples = cost.shape[0]
    return (cost.sum(0, keepdim=True) - cost) / (num_samples - 1)


class ScoreFunction(Estimator):
    """REINFORCE: ``(f(z) - b) grad log q(z)`` plus the pathwise term of ``f``."""

    name = "score_function"
    options = {"baseline": "none"}
    families = ("any",)  # every family with a log_prob

    def __init__(self, **options):
        super().__init__(**options)
        if self.config["baseline"] not in BASELINES:
            raise ValueError(
                f"unknown baseline {self.config['baseline']!r} for score_function; "
                f"allowed: {', '.join(BASELINES)}"
            )

    def check(self, distribution: Distribution) -> None:
        if not hasattr(distribution, "log_prob"):
            raise ValueError(f"score_function needs log_prob, which {type(distribution).__name__} lacks")

    def check_num_samples(self, num_samples: int) -> None:
        if self.config["baseline"] in ("loo", "loo_optimal") and num_samples < 2:
            raise ValueError(
                f"baseline={self.config['baseline']!r} needs num_samples >= 2 (each sample's baseline is the "
                f"mean of the others), got num_samples={num_samples}"
            )

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            z = distribution.sample((num_samples,))  # K x M x event
        cost = problem.cost(z, params)  # K x M
        log_q = distribution.log_prob(z)  # K x M
        weight = cost.detach()
        if self.config["baseline"] == "loo":
            weight = weight - leave_one_out_baseline(weight)
        surrogate = (log_q * weight + cost).mean(0)
        if self.config["baseline"] == "loo_optimal":
            correction = baseline_correction(weight, log_q, params)
            surrogate = surrogate + correction.reshape(-1, *[1] * (surrogate.dim() - 1))
        return surrogate
