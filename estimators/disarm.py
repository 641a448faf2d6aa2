"""DisARM: the antithetic, Rao-Blackwellised ARM estimator for Bernoulli variables.

With ``u ~ U(0, 1)^D`` shared by an antithetic pair ``b = 1[u < sigma(theta)]``
and ``b~ = 1[1 - u < sigma(theta)]``, one pair gives, per coordinate ``i``::

    g_i = 1/2 (f(b) - f(b~)) (-1)^{b~_i} 1[b_i != b~_i] sigma(|theta_i|)

an unbiased estimate of ``dF/dtheta_i`` for ``F = E f(b)``, ``b_i ~
Bernoulli(sigma(theta_i))`` (Dong, Mnih & Tucker 2020, "DisARM: An
Antithetic Gradient Estimator for Binary Latent Variables", eq. 8; it
Rao-Blackwellises ARM, Yin & Zhou 2019). ``num_samples`` counts *pairs*:
each costs two evaluations of ``f``, so compare DisARM with ``K`` pairs to
the score function with ``2K`` samples.

When ``theta`` (the logits) is a function of the parameters (an encoder),
the surrogate ``sum_i stop_grad(g_i) theta_i`` carries the estimate through
the chain rule; the pathwise term of a cost that depends on the parameters
is averaged over the pair. Factors (data points) each get their own cost.
"""
from __future__ import annotations

import torch

from .base import BernoulliEstimator, unwrap_independent


class DisARM(BernoulliEstimator):
    """Antithetic pairs with the DisARM weight (unbiased, Bernoulli only)."""

    name = "disarm"
    #: cost evaluations per sample: an antithetic pair
    evaluations_per_sample = 2

    @staticmethod
    def pair_weight(u, b, b_anti, logits):
        """What multiplies ``(f(b) - f(b~)) / 2`` per coordinate: ``(-1)^{b~} 1[b != b~] sigma(|theta|)``."""
        sign = 1 - 2 * b_anti  # (-1)^{b~}
        return sign * (b != b_anti).to(logits.dtype) * torch.sigmoid(logits.abs())

    def surrogate(self, problem, distribution, params, num_samples):
        base, event_ndims = unwrap_independent(distribution)
        logits = base.logits  # M x factors x event, a function of params
        u = self.uniform_noise(logits, num_samples)  # K x M x factors x event
        with torch.no_grad():
            p = torch.sigmoid(logits)
            b = (u < p).to(logits.dtype)
            b_anti = (1 - u < p).to(logits.dtype)
        cost, cost_anti = problem.cost(b, params), problem.cost(b_anti, params)  # K x M x factors
        half_diff = 0.5 * (cost - cost_anti).detach()
        weight = self.pair_weight(u, b, b_anti, logits.detach())
        per_coordinate = half_diff.reshape(*half_diff.shape, *([1] * event_ndims)) * weight
        score_part = (per_coordinate * logits).sum(tuple(range(-event_ndims, 0))) if event_ndims \
            else per_coordinate * logits
        pathwise = 0.5 * (cost + cost_anti)
        return (score_part + pathwise).mean(0)
