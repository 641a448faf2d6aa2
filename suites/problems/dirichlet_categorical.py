"""Dirichlet-categorical: counts over C categories with a Dirichlet prior and a Dirichlet variational family.

Data (seeded): category probabilities ``pi ~ Dirichlet(1, ..., 1)``, then
``x_1..x_n ~ Categorical(pi)``, summarised by the counts ``c_k`` (``n = sum_k c_k``).
Model (the conjugate pair of Bishop 2006, "Pattern Recognition and Machine
Learning", section 2.2.1) and variational family::

    p(z)     = Dirichlet(z; a0 1_C)
    p(x | z) = prod_i z_{x_i} = prod_k z_k^c_k
    q(z)     = Dirichlet(z; alpha),    alpha = exp(log_concentration)

The parameter is ``log_concentration`` (shape ``(C,)``, unconstrained by the
log), starting at the prior (``q = p(z)``). The cost
``f(z) = log p(x, z) - log q(z)`` makes ``F = E_q f`` the ELBO. With
``A = sum_k alpha_k``, ``E_q log z_k = digamma(alpha_k) - digamma(A)``,
``log B(a) = sum_k log Gamma(a_k) - log Gamma(sum_k a_k)`` and the Dirichlet
entropy ``H(q)``::

    F = sum_k (c_k + a0 - 1) E_q log z_k - log B(a0 1_C) + H(q).

Exact posterior and log evidence (conjugacy)::

    p(z | x) = Dirichlet(a'),   a'_k = a0 + c_k
    log p(x) = log B(a') - log B(a0 1_C)

``F = log p(x) - KL(q || p(z | x))``; differentiating the Dirichlet KL, with
``A' = sum_k a'_k``::

    dF/dalpha_k = (a'_k - alpha_k) psi'(alpha_k) - (A' - A) psi'(A)

(``psi'`` the trigamma function), times ``alpha_k`` for the log parameter;
it vanishes at ``alpha = a'``. ``reparam`` differentiates torch's
``Dirichlet.rsample``, an implicit reparameterisation (Figurnov, Mohamed &
Mnih 2018, "Implicit Reparameterization Gradients").
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Dirichlet

from suites.problems.base import Problem, check_dim, check_positive, check_seed

PARAM_NAMES = ("log_concentration",)


class DirichletCategorical(Problem):
    """Category counts with a Dirichlet prior, Dirichlet variational family; closed-form ELBO."""

    name = "dirichlet_categorical"

    def __init__(self, num_categories: int = 5, num_data: int = 20,
                 prior_concentration: float = 1.0, seed: int = 0):
        num_categories = check_dim(num_categories, "num_categories")
        if num_categories < 2:
            raise ValueError(f"num_categories must be an integer >= 2, got {num_categories!r}")
        num_data = check_dim(num_data, "num_data")
        self.prior_concentration = check_positive("prior_concentration", prior_concentration)
        generator = torch.Generator().manual_seed(check_seed(seed))
        # pi ~ Dirichlet(1): normalised standard exponentials
        pi = -torch.log(torch.rand(num_categories, generator=generator, dtype=torch.float64))
        draws = torch.multinomial(pi / pi.sum(), num_data, replacement=True, generator=generator)
        self.x = draws  # N category indices (integer: not moved by to(dtype=...))
        self.counts = torch.bincount(draws, minlength=num_categories).float()  # C
        self.params = {"log_concentration": torch.full((num_categories,),
                                                       math.log(self.prior_concentration))}
        self.config = {"num_categories": num_categories, "num_data": num_data,
                       "prior_concentration": self.prior_concentration, "seed": seed}

    @property
    def num_categories(self) -> int:
        return self.counts.shape[0]

    def posterior(self) -> torch.Tensor:
        """``a' = a0 + c`` in float64: ``p(z | x) = Dirichlet(a')``."""
        return self.prior_concentration + self.counts.to(torch.float64)

    def optimum(self) -> dict[str, torch.Tensor]:
        """The parameters at which ``q`` is the exact posterior (there ``F = log p(x)``)."""
        like = self.params["log_concentration"]
        return {"log_concentration": torch.log(self.posterior()).to(like)}

    def log_prior_normaliser(self) -> float:
        """``log B(a0 1_C) = C log Gamma(a0) - log Gamma(C a0)``."""
        c, a0 = self.num_categories, self.prior_concentration
        return c * math.lgamma(a0) - math.lgamma(c * a0)

    def log_evidence(self) -> float:
        """``log p(x) = log B(a') - log B(a0 1_C)``, in float64."""
        post = self.posterior()
        log_b = float(torch.lgamma(post).sum() - torch.lgamma(post.sum()))
        return log_b - self.log_prior_normaliser()

    def distribution(self, params):
        # batch (*B,), event (C,)
        return Dirichlet(params["log_concentration"].exp(), validate_args=False)

    def cost(self, z, params):
        """``f = sum_k c_k log z_k + log p(z) - log q(z)``: ``(K, *B, C) -> (K, *B)``."""
        # A float32 component at a small concentration can underflow to 0 (log z = -inf).
        z = z.clamp_min(torch.finfo(z.dtype).tiny)
        counts = self.counts.to(z)
        log_lik = (counts * torch.log(z)).sum(-1)
        prior = Dirichlet(torch.full_like(counts, self.prior_concentration), validate_args=False)
        return log_lik + prior.log_prob(z) - self.distribution(params).log_prob(z)

    def expectation(self, params):
        """The closed-form ELBO (module docstring), evaluated in float64: ``(*B,)``."""
        dtype = params["log_concentration"].dtype
        alpha = params["log_concentration"].to(torch.float64).exp()  # *B x C
        mean_log_z = torch.digamma(alpha) - torch.digamma(alpha.sum(-1, keepdim=True))
        weights = self.counts.to(alpha) + self.prior_concentration - 1
        log_joint = (weights * mean_log_z).sum(-1) - self.log_prior_normaliser()
        return (log_joint + Dirichlet(alpha, validate_args=False).entropy()).to(dtype)

    def exact_gradient(self, params=None):
        """``dF/dlog_concentration`` from the trigamma formula (module docstring), float64."""
        params = self.params if params is None else params
        alpha = params["log_concentration"].detach().to(torch.float64).exp()  # C
        post = self.posterior().to(alpha.device)
        total = alpha.sum(-1, keepdim=True)
        grad = ((post - alpha) * torch.polygamma(1, alpha)
                - (post.sum(-1, keepdim=True) - total) * torch.polygamma(1, total))
        return {"log_concentration": (alpha * grad).to(params["log_concentration"].dtype)}
