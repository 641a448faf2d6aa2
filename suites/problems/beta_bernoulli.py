"""Beta-Bernoulli: coin flips with a Beta prior and a Beta variational family; closed-form ELBO.

Data (seeded): ``x_1..x_n ~ Bernoulli(probability)``, ``s = sum_i x_i`` heads.
Model (the conjugate pair of Bishop 2006, "Pattern Recognition and Machine
Learning", section 2.1.1) and variational family::

    p(z)     = Beta(z; a0, b0)
    p(x | z) = prod_i z^x_i (1 - z)^(1 - x_i) = z^s (1 - z)^(n - s)
    q(z)     = Beta(z; alpha, beta),   alpha = exp(log_alpha), beta = exp(log_beta)

The parameters are ``log_alpha`` and ``log_beta`` (unconstrained by the
log, as ``linear_vae``'s ``log_sigma``), each of shape ``(1,)``; they start
at the prior, ``q = p(z)``, where variational inference starts. The cost
``f(z) = log p(x, z) - log q(z)`` makes ``F = E_q f`` the ELBO (Blei,
Kucukelbir & McAuliffe 2017, "Variational Inference: A Review for
Statisticians"). With ``E_q log z = digamma(alpha) - digamma(alpha + beta)``,
``E_q log(1 - z) = digamma(beta) - digamma(alpha + beta)`` and the Beta
entropy ``H(q)``::

    F = (s + a0 - 1) E_q log z + (n - s + b0 - 1) E_q log(1 - z) - log B(a0, b0) + H(q).

Exact posterior and log evidence (conjugacy)::

    p(z | x) = Beta(a', b'),   a' = a0 + s,   b' = b0 + n - s
    log p(x) = log B(a', b') - log B(a0, b0)

``F = log p(x) - KL(q || p(z | x))``, so ``F`` is maximal, equal to the log
evidence, at ``q = p(z | x)``. Differentiating that KL (the Dirichlet case
of ``dirichlet_categorical`` with two categories)::

    dF/dalpha = (a' - alpha) psi'(alpha) - (a' + b' - alpha - beta) psi'(alpha + beta)
    dF/dbeta  = (b' - beta) psi'(beta)   - (a' + b' - alpha - beta) psi'(alpha + beta)

(``psi'`` the trigamma function), times ``alpha`` and ``beta`` for the log
parameters; both vanish at the posterior. ``reparam`` differentiates
torch's ``Beta.rsample``, an implicit reparameterisation (Figurnov, Mohamed
& Mnih 2018, "Implicit Reparameterization Gradients").
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Beta, Independent

from suites.problems.base import Problem, check_dim, check_positive, check_seed

PARAM_NAMES = ("log_alpha", "log_beta")


def log_beta_function(a, b):
    """``log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b)`` (floats or tensors)."""
    if isinstance(a, torch.Tensor):
        return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def check_probability(name: str, value) -> float:
    number = check_positive(name, value)
    if not number < 1:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return number


class BetaBernoulli(Problem):
    """Coin flips with a Beta prior, Beta variational family; closed-form ELBO and log evidence."""

    name = "beta_bernoulli"

    def __init__(self, num_data: int = 20, probability: float = 0.3, prior_alpha: float = 1.0,
                 prior_beta: float = 1.0, seed: int = 0):
        num_data = check_dim(num_data, "num_data")
        probability = check_probability("probability", probability)
        self.prior_alpha = check_positive("prior_alpha", prior_alpha)
        self.prior_beta = check_positive("prior_beta", prior_beta)
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.x = torch.bernoulli(torch.full((num_data,), probability), generator=generator)  # N
        # Sufficient statistics as Python floats: exact, and in float64 whatever the dtype.
        self.heads = float(self.x.sum())
        self.tails = num_data - self.heads
        self.params = {"log_alpha": torch.full((1,), math.log(self.prior_alpha)),
                       "log_beta": torch.full((1,), math.log(self.prior_beta))}
        self.config = {"num_data": num_data, "probability": probability,
                       "prior_alpha": self.prior_alpha, "prior_beta": self.prior_beta, "seed": seed}

    def posterior(self) -> tuple[float, float]:
        """``(a', b') = (a0 + s, b0 + n - s)``: ``p(z | x) = Beta(a', b')``."""
        return self.prior_alpha + self.heads, self.prior_beta + self.tails

    def optimum(self) -> dict[str, torch.Tensor]:
        """The parameters at which ``q`` is the exact posterior (there ``F = log p(x)``)."""
        a, b = self.posterior()
        like = self.params["log_alpha"]
        return {"log_alpha": torch.full_like(like, math.log(a)), "log_beta": torch.full_like(like, math.log(b))}

    def log_evidence(self) -> float:
        """``log p(x) = log B(a', b') - log B(a0, b0)``, in float64."""
        return log_beta_function(*self.posterior()) - log_beta_function(self.prior_alpha, self.prior_beta)

    def distribution(self, params):
        # batch (*B,), event (1,)
        return Independent(Beta(params["log_alpha"].exp(), params["log_beta"].exp(),
                                validate_args=False), 1)

    def cost(self, z, params):
        """``f = s log z + (n - s) log(1 - z) + log p(z) - log q(z)``: ``(K, *B, 1) -> (K, *B)``."""
        # A float32 sample can round to exactly 0 or 1 (probability ~1e-7 per sample near
        # concentration 1), where log p(x | z) is -inf; the open interval keeps f finite.
        tiny = torch.finfo(z.dtype).tiny
        z = z.clamp(tiny, 1 - torch.finfo(z.dtype).eps / 2)
        log_lik = (self.heads * torch.log(z) + self.tails * torch.log1p(-z)).sum(-1)
        prior = Beta(z.new_tensor(self.prior_alpha), z.new_tensor(self.prior_beta), validate_args=False)
        return log_lik + prior.log_prob(z).sum(-1) - self.distribution(params).log_prob(z)

    def expectation(self, params):
        """The closed-form ELBO (module docstring), evaluated in float64: ``(*B,)``."""
        dtype = params["log_alpha"].dtype
        alpha = params["log_alpha"].to(torch.float64).exp()
        beta = params["log_beta"].to(torch.float64).exp()
        mean_log_z = torch.digamma(alpha) - torch.digamma(alpha + beta)
        mean_log_1mz = torch.digamma(beta) - torch.digamma(alpha + beta)
        log_joint = ((self.heads + self.prior_alpha - 1) * mean_log_z
                     + (self.tails + self.prior_beta - 1) * mean_log_1mz
                     - log_beta_function(self.prior_alpha, self.prior_beta))
        return (log_joint + Beta(alpha, beta, validate_args=False).entropy()).sum(-1).to(dtype)

    def exact_gradient(self, params=None):
        """``dF/dlog_alpha``, ``dF/dlog_beta`` from the trigamma formulas (module docstring), float64."""
        params = self.params if params is None else params
        alpha = params["log_alpha"].detach().to(torch.float64).exp()
        beta = params["log_beta"].detach().to(torch.float64).exp()
        a, b = self.posterior()
        shared = (a + b - alpha - beta) * torch.polygamma(1, alpha + beta)
        grad_alpha = (a - alpha) * torch.polygamma(1, alpha) - shared
        grad_beta = (b - beta) * torch.polygamma(1, beta) - shared
        return {"log_alpha": (alpha * grad_alpha).to(params["log_alpha"].dtype),
                "log_beta": (beta * grad_beta).to(params["log_beta"].dtype)}
