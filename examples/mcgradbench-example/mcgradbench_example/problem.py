"""Poisson counts with a Gaussian posterior on their log-rates: an example problem plugin.

Counts ``y_i`` (i = 1..d) are Poisson with log-rate ``z_i``; the variational
distribution is ``q(z) = prod_i Normal(loc_i, scale_i)`` and the cost the
expected log-likelihood, the data term of a Poisson GLM's ELBO::

    f(z) = sum_i [ y_i z_i - exp(z_i) - log y_i! ],
    F(loc, scale) = sum_i [ y_i loc_i - exp(loc_i + scale_i^2 / 2) - log y_i! ],

since ``E exp(z_i) = exp(loc_i + scale_i^2 / 2)`` (the log-normal mean). The
exact gradient is autograd of ``F`` (``Problem.exact_gradient``). The exp
makes the score function's weights heavy-tailed where ``scale`` is large.
"""
from __future__ import annotations

import torch
from torch.distributions import Independent, Normal

from suites.problems.base import Problem, check_dim, plain, vector


class PoissonLogLinear(Problem):
    """Poisson counts, Normal q on the log-rates; closed-form gradient (example plugin)."""

    name = "poisson_loglinear"

    def __init__(self, dim: int = 5, counts=(0.0, 1.0, 3.0, 7.0, 12.0), loc=0.5, scale=0.5):
        dim = check_dim(dim)
        counts_t = vector("counts", counts, dim)
        if bool((counts_t < 0).any()) or bool((counts_t != counts_t.round()).any()):
            raise ValueError(f"counts must be non-negative integers, got {plain(counts)!r}")
        self.counts = counts_t
        self.params = {"loc": vector("loc", loc, dim), "scale": vector("scale", scale, dim, positive=True)}
        self.config = {"dim": dim, "counts": plain(counts), "loc": plain(loc), "scale": plain(scale)}

    def distribution(self, params):
        return Independent(Normal(params["loc"], params["scale"], validate_args=False), 1)

    def cost(self, z, params):
        counts = self.counts.to(z)
        return (counts * z - torch.exp(z) - torch.lgamma(counts + 1)).sum(-1)

    def expectation(self, params):
        counts = self.counts.to(params["loc"])
        mean_rate = torch.exp(params["loc"] + params["scale"] ** 2 / 2)
        return (counts * params["loc"] - mean_rate - torch.lgamma(counts + 1)).sum()
