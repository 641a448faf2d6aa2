"""Gamma-Poisson: counts with a Gamma prior on the rate and a Gamma variational family; closed-form ELBO.

Data (seeded): ``x_1..x_n ~ Poisson(poisson_rate)``, ``S = sum_i x_i``.
Model (the conjugate pair of Gelman et al. 2013, "Bayesian Data Analysis",
3rd ed., section 2.6) and variational family, Gammas by shape and rate::

    p(z)     = Gamma(z; a0, b0)              density b0^a0 z^(a0 - 1) e^(-b0 z) / Gamma(a0)
    p(x | z) = prod_i z^x_i e^(-z) / x_i!
    q(z)     = Gamma(z; alpha, beta),        alpha = exp(log_shape), beta = exp(log_rate)

The parameters are ``log_shape`` and ``log_rate`` (unconstrained by the
log), each of shape ``(1,)``, starting at the prior (``q = p(z)``). The cost
``f(z) = log p(x, z) - log q(z)`` makes ``F = E_q f`` the ELBO. With
``E_q z = alpha / beta``, ``E_q log z = digamma(alpha) - log beta`` and the
Gamma entropy ``H(q)``::

    F = (S + a0 - 1) E_q log z - (n + b0) E_q z + a0 log b0 - log Gamma(a0)
        - sum_i log x_i! + H(q).

Exact posterior and log evidence (the negative-binomial marginal of the
counts; the ``x_i!`` stay, ``p(x)`` being the density of the ordered data)::

    p(z | x) = Gamma(a', b'),   a' = a0 + S,   b' = b0 + n
    log p(x) = a0 log b0 - log Gamma(a0) + log Gamma(a') - a' log b' - sum_i log x_i!

``F = log p(x) - KL(q || p(z | x))``; differentiating the Gamma KL::

    dF/dalpha = (a' - alpha) psi'(alpha) + 1 - b' / beta
    dF/dbeta  = alpha b' / beta^2 - a' / beta

(``psi'`` the trigamma function), times ``alpha`` and ``beta`` for the log
parameters; both vanish at ``(alpha, beta) = (a', b')``. ``reparam``
differentiates torch's ``Gamma.rsample``, an implicit reparameterisation
(Figurnov, Mohamed & Mnih 2018, "Implicit Reparameterization Gradients").
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Gamma, Independent

from suites.problems.base import Problem, check_dim, check_positive, check_seed

PARAM_NAMES = ("log_shape", "log_rate")


class GammaPoisson(Problem):
    """Poisson counts with a Gamma prior on the rate, Gamma variational family; closed-form ELBO."""

    name = "gamma_poisson"

    def __init__(self, num_data: int = 10, poisson_rate: float = 1.0, prior_shape: float = 1.0,
                 prior_rate: float = 1.0, seed: int = 0):
        num_data = check_dim(num_data, "num_data")
        poisson_rate = check_positive("poisson_rate", poisson_rate)
        self.prior_shape = check_positive("prior_shape", prior_shape)
        self.prior_rate = check_positive("prior_rate", prior_rate)
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.x = torch.poisson(torch.full((num_data,), poisson_rate, dtype=torch.float64),
                               generator=generator).float()  # N
        # Sufficient statistics as Python floats: exact, and in float64 whatever the dtype.
        self.total = float(self.x.sum())
        self.num_data = num_data
        self.log_factorials = float(torch.lgamma(self.x.double() + 1).sum())
        self.params = {"log_shape": torch.full((1,), math.log(self.prior_shape)),
                       "log_rate": torch.full((1,), math.log(self.prior_rate))}
        self.config = {"num_data": num_data, "poisson_rate": poisson_rate,
                       "prior_shape": self.prior_shape, "prior_rate": self.prior_rate, "seed": seed}

    def posterior(self) -> tuple[float, float]:
        """``(a', b') = (a0 + S, b0 + n)``: ``p(z | x) = Gamma(a', b')`` (shape, rate)."""
        return self.prior_shape + self.total, self.prior_rate + self.num_data

    def optimum(self) -> dict[str, torch.Tensor]:
        """The parameters at which ``q`` is the exact posterior (there ``F = log p(x)``)."""
        a, b = self.posterior()
        like = self.params["log_shape"]
        return {"log_shape": torch.full_like(like, math.log(a)), "log_rate": torch.full_like(like, math.log(b))}

    def log_evidence(self) -> float:
        """``log p(x)`` (module docstring), in float64."""
        a, b = self.posterior()
        return (self.prior_shape * math.log(self.prior_rate) - math.lgamma(self.prior_shape)
                + math.lgamma(a) - a * math.log(b) - self.log_factorials)

    def distribution(self, params):
        # batch (*B,), event (1,)
        return Independent(Gamma(params["log_shape"].exp(), params["log_rate"].exp(),
                                 validate_args=False), 1)

    def cost(self, z, params):
        """``f = S log z - n z - sum log x_i! + log p(z) - log q(z)``: ``(K, *B, 1) -> (K, *B)``."""
        # A float32 sample at a small shape can underflow to 0, where log z is -inf.
        z = z.clamp_min(torch.finfo(z.dtype).tiny)
        log_lik = (self.total * torch.log(z) - self.num_data * z).sum(-1) - self.log_factorials
        prior = Gamma(z.new_tensor(self.prior_shape), z.new_tensor(self.prior_rate), validate_args=False)
        return log_lik + prior.log_prob(z).sum(-1) - self.distribution(params).log_prob(z)

    def expectation(self, params):
        """The closed-form ELBO (module docstring), evaluated in float64: ``(*B,)``."""
        dtype = params["log_shape"].dtype
        alpha = params["log_shape"].to(torch.float64).exp()
        beta = params["log_rate"].to(torch.float64).exp()
        mean_z, mean_log_z = alpha / beta, torch.digamma(alpha) - torch.log(beta)
        log_joint = ((self.total + self.prior_shape - 1) * mean_log_z
                     - (self.num_data + self.prior_rate) * mean_z
                     + self.prior_shape * math.log(self.prior_rate) - math.lgamma(self.prior_shape)
                     - self.log_factorials)
        return (log_joint + Gamma(alpha, beta, validate_args=False).entropy()).sum(-1).to(dtype)

    def exact_gradient(self, params=None):
        """``dF/dlog_shape``, ``dF/dlog_rate`` from the formulas of the module docstring, float64."""
        params = self.params if params is None else params
        alpha = params["log_shape"].detach().to(torch.float64).exp()
        beta = params["log_rate"].detach().to(torch.float64).exp()
        a, b = self.posterior()
        grad_alpha = (a - alpha) * torch.polygamma(1, alpha) + 1 - b / beta
        grad_beta = alpha * b / beta**2 - a / beta
        return {"log_shape": (alpha * grad_alpha).to(params["log_shape"].dtype),
                "log_rate": (beta * grad_beta).to(params["log_rate"].dtype)}
