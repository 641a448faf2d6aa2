"""Pathwise (reparameterisation) estimator.

With ``z = T(eps; theta)``, ``eps ~ p(eps)`` free of theta, one estimate is::

    g = 1/K sum_k grad_theta f(T(eps_k; theta); theta)

(Kingma & Welling 2014; Rezende et al. 2014; Mohamed et al. 2020, section 5).
For the diagonal Gaussian ``z = loc + scale * eps``; for the full-covariance
Gaussian ``MultivariateNormal(loc, scale_tril=L)``, ``z = loc + L eps``. The
transform is the distribution's own ``rsample``; families without one
(Bernoulli, Categorical) have no pathwise derivative and are refused.

Explicit and implicit paths. Where ``T`` is a closed-form transform (location-scale
families, the relaxed families) the path is *explicit*. Gamma, Beta and Dirichlet
have no such transform: their ``rsample`` draws ``z`` and differentiates the
implicit equation ``F(z; theta) = u`` (``F`` the CDF), ``dz/dtheta = -(dF/dtheta) /
q(z; theta)`` (Figurnov, Mohamed & Mnih 2018, "Implicit Reparameterization
Gradients", NeurIPS, section 2.3), where torch computes ``dF/dtheta`` for the Gamma's
shape by series and asymptotic approximations (``_standard_gamma_grad``): the
*implicit* path, exact in principle, approximate in float arithmetic. Beta and
Dirichlet normalise Gammas (Chi2, StudentT and FisherSnedecor build on them
too). ``pathwise(distribution)`` says which, and every result row records it in its
``pathwise`` column, so a bias of the implicit path shows up against its family.
"""
from __future__ import annotations

from torch.distributions import (Beta, Dirichlet, Distribution, FisherSnedecor, Gamma, StudentT,
                                 TransformedDistribution)

from .base import Estimator, unwrap_independent

#: Families whose ``rsample`` differentiates through torch's implicit gradient (Chi2 is a Gamma).
IMPLICIT_FAMILIES = (Gamma, Beta, Dirichlet, StudentT, FisherSnedecor)


def is_implicit(distribution: Distribution) -> bool:
    """Whether ``distribution.rsample`` goes through an implicit reparameterisation gradient."""
    base, _ = unwrap_independent(distribution)
    while isinstance(base, TransformedDistribution):
        base, _ = unwrap_independent(base.base_dist)
    return isinstance(base, IMPLICIT_FAMILIES)


class Reparam(Estimator):
    """The reparameterisation trick through ``Distribution.rsample`` (explicit or implicit path)."""

    name = "reparam"
    families = ("any with rsample",)  # Normal, MultivariateNormal, the relaxed families, Gamma, ...

    def check(self, distribution: Distribution) -> None:
        if not distribution.has_rsample:
            family = type(unwrap_independent(distribution)[0]).__name__
            raise ValueError(
                f"reparam does not apply to {family}: it has no rsample (no "
                f"differentiable sampling path, e.g. a discrete support); use "
                f"score_function, or gumbel_softmax for Bernoulli variables"
            )

    def pathwise(self, distribution: Distribution) -> str:
        """``"implicit"`` on Gamma, Beta, Dirichlet (and families built on them), else ``"explicit"``."""
        return "implicit" if is_implicit(distribution) else "explicit"

    def surrogate(self, problem, distribution, params, num_samples):
        z = distribution.rsample((num_samples,))  # K x M x event
        return problem.cost(z, params).mean(0)
