"""ARM: the Augment-REINFORCE-Merge estimator for Bernoulli variables.

With ``u ~ U(0, 1)^D`` shared by an antithetic pair ``b = 1[u < sigma(theta)]``
and ``b~ = 1[u > sigma(-theta)] = 1[1 - u < sigma(theta)]``, one pair gives,
per coordinate ``i``::

    g_i = (f(b~) - f(b)) (u_i - 1/2)

an unbiased estimate of ``dF/dtheta_i`` for ``F = E f(b)``, ``b_i ~
Bernoulli(sigma(theta_i))`` (Yin & Zhou 2019, "ARM: Augment-REINFORCE-Merge
Gradient for Stochastic Binary Networks", Theorem 1, eq. 5, with the pair
written as in Dong, Mnih & Tucker 2020, eq. 4). DisARM
(``estimators.disarm``) is its conditional expectation given ``(b, b~)``,
so its variance is never larger. ``num_samples`` counts *pairs*: each costs
two evaluations of ``f``, so compare ARM with ``K`` pairs to the score
function with ``2K`` samples.

When ``theta`` (the logits) is a function of the parameters (an encoder),
the surrogate ``sum_i stop_grad(g_i) theta_i`` carries the estimate through
the chain rule; the pathwise term of a cost that depends on the parameters
is averaged over the pair. Factors (data points) each get their own cost.
"""
from __future__ import annotations

import torch

from .base import BernoulliEstimator, unwrap_independent


class ARM(BernoulliEstimator):
    """Antithetic pairs with the ARM weight (unbiased, Bernoulli only)."""

    name = "arm"
    families = ("Bernoulli",)
    evaluations_per_sample = 2  # an antithetic pair

    def surrogate(self, problem, distribution, params, num_samples):
        base, event_ndims = unwrap_independent(distribution)
        logits = base.logits  # M x factors x event, a function of params
        u = self.uniform_noise(logits, num_samples)  # K x M x factors x event
        with torch.no_grad():
            p = torch.sigmoid(logits)
            b = (u < p).to(logits.dtype)
            b_anti = (1 - u < p).to(logits.dtype)
        cost, cost_anti = problem.cost(b, params), problem.cost(b_anti, params)  # K x M x factors
        diff = (cost_anti - cost).detach()
        per_coordinate = diff.reshape(*diff.shape, *([1] * event_ndims)) * (u - 0.5)
        score_part = (per_coordinate * logits).sum(tuple(range(-event_ndims, 0))) if event_ndims \
            else per_coordinate * logits
        pathwise = 0.5 * (cost + cost_anti)
        return (score_part + pathwise).mean(0)
