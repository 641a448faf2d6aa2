"""Pathwise (reparameterisation) estimator.

With ``z = T(eps; theta)``, ``eps ~ p(eps)`` free of theta, one estimate is::

    g = 1/K sum_k grad_theta f(T(eps_k; theta); theta)

(Kingma & Welling 2014; Rezende et al. 2014; Mohamed et al. 2020, section 5).
For the diagonal Gaussian ``z = loc + scale * eps``; for the full-covariance
Gaussian ``MultivariateNormal(loc, scale_tril=L)``, ``z = loc + L eps``. The
transform is the distribution's own ``rsample``; families without one
(Bernoulli, Categorical) have no pathwise derivative and are refused.
"""
from __future__ import annotations

from torch.distributions import Distribution

from .base import Estimator, unwrap_independent


class Reparam(Estimator):
    """The reparameterisation trick through ``Distribution.rsample``."""

    name = "reparam"
    families = ("any with rsample",)  # Normal, MultivariateNormal, the relaxed families, ...

    def check(self, distribution: Distribution) -> None:
        if not distribution.has_rsample:
            family = type(unwrap_independent(distribution)[0]).__name__
            raise ValueError(
                f"reparam does not apply to {family}: it has no rsample (no "
                f"differentiable sampling path, e.g. a discrete support); use "
                f"score_function, or gumbel_softmax for Bernoulli variables"
            )

    def surrogate(self, problem, distribution, params, num_samples):
        z = distribution.rsample((num_samples,))  # K x M x event
        return problem.cost(z, params).mean(0)
