"""Linear Gaussian VAE on synthetic data: closed-form ELBO, its gradient and the true optimum.

Data (seeded): ``x_n = W0 z_n + b0 + alpha eps_n`` with ``z_n ~ N(0, 1)``,
``eps_n ~ N(0, I_3)``, ``W0 = [3, 4, 1]``, ``b0 = [2, 1, -2]``.

Model (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", with a
linear decoder and encoder)::

    p(z)     = N(0, 1)
    p(x | z) = N(W z + b, diag(sigma_x^2)),        sigma_x = exp(decoder.log_sigma)
    q(z | x) = N(phi^T x + phi_0, sigma_z^2),      sigma_z = exp(encoder.log_sigma)

``log sigma_z`` is a constant, not a function of ``x``: for a linear
Gaussian model the exact posterior ``p(z | x)`` has the same variance for
every ``x`` (its precision ``1 + sum_d W_d^2 / sigma_d^2`` does not involve
``x``) and a mean linear in ``x``, so this encoder family contains the exact
posterior for *every* decoder and a variance linear in ``x`` would only add
parameters whose gradient is identically zero at the optimum.

The problem's expectation is the ELBO averaged over the ``N`` data points,
with one latent per data point::

    F = 1/N sum_n E_{q(z_n | x_n)} [log p(x_n, z_n) - log q(z_n | x_n)]

and, with ``m_n = phi^T x_n + phi_0`` and ``s = sigma_z``, every term is a
Gaussian integral::

    E_q log p(x_n | z) = log N(x_n; W m_n + b, sigma_x^2) - sum_d W_d^2 s^2 / (2 sigma_d^2)
    KL(q || p(z))      = (m_n^2 + s^2 - 1) / 2 - log s
    ELBO_n             = E_q log p(x_n | z) - KL(q || p(z)).

Exact posterior (Bayes for the linear Gaussian; Bishop 2006, section 2.3.3)
for decoder ``(W, b, sigma_x)``::

    lambda = 1 + sum_d W_d^2 / sigma_d^2              (posterior precision)
    mean   = (1 / lambda) sum_d W_d (x_d - b_d) / sigma_d^2

so the optimal encoder is ``phi = W / (sigma_x^2 lambda)``,
``phi_0 = -sum_d W_d b_d / (sigma_d^2 lambda)``, ``log sigma_z = -log(lambda) / 2``.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Independent, Normal, kl_divergence

from suites.problems.base import Problem, check_dim, check_finite, check_positive, check_seed

TRUE_WEIGHT = (3.0, 4.0, 1.0)
TRUE_BIAS = (2.0, 1.0, -2.0)
PARAM_NAMES = ("decoder.weight", "decoder.bias", "decoder.log_sigma",
               "encoder.weight", "encoder.bias", "encoder.log_sigma")


def generate_data(alpha: float, num_data: int, generator: torch.Generator) -> torch.Tensor:
    """``x_n = W0 z_n + b0 + alpha eps_n``, shape ``(N, 3)``."""
    z = torch.randn(num_data, 1, generator=generator)
    eps = torch.randn(num_data, 3, generator=generator)
    return z * torch.tensor(TRUE_WEIGHT) + torch.tensor(TRUE_BIAS) + alpha * eps


def exact_posterior(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    log_sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(N, 1)`` and variance ``(1,)`` of ``p(z | x)`` for decoder ``(W (3, 1), b, log sigma_x)``."""
    precision_x = torch.exp(-2 * log_sigma)  # 3
    precision = 1 + (weight**2 * precision_x[:, None]).sum(0)  # 1
    variance = 1 / precision
    mean = ((x - bias) * precision_x) @ weight * variance  # N x 1
    return mean, variance


def optimal_encoder(weight: torch.Tensor, bias: torch.Tensor,
                    log_sigma: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoder equal to the exact posterior of decoder ``(W, b, log sigma_x)``."""
    precision_x = torch.exp(-2 * log_sigma)  # 3
    precision = 1 + (weight**2 * precision_x[:, None]).sum(0)  # 1
    gain = (weight * precision_x[:, None]).T / precision[:, None]  # 1 x 3
    return {"encoder.weight": gain, "encoder.bias": -gain @ bias,
            "encoder.log_sigma": -0.5 * torch.log(precision)}


def encoder_distribution(x: torch.Tensor, params) -> Normal:
    """``q(z | x)`` elementwise: loc ``(*B, N, 1)``, scale ``(*B, 1, 1)``."""
    loc = x @ params["encoder.weight"].transpose(-1, -2) + params["encoder.bias"][..., None, :]
    scale = params["encoder.log_sigma"].exp()[..., None, :]
    return Normal(loc, scale, validate_args=False)


def elbo_per_datum(x: torch.Tensor, params) -> torch.Tensor:
    """Closed-form ``ELBO_n`` (module docstring), shape ``(*B, N)``."""
    q = encoder_distribution(x, params)
    weight, sigma_x = params["decoder.weight"], params["decoder.log_sigma"].exp()
    decoded = q.loc @ weight.transpose(-1, -2) + params["decoder.bias"][..., None, :]  # *B x N x 3
    spread = (weight**2 @ q.scale.transpose(-1, -2) ** 2).transpose(-1, -2)  # *B x 1 x 3: W^2 s^2
    likelihood = Normal(decoded, sigma_x[..., None, :], validate_args=False)
    expected_log_lik = (likelihood.log_prob(x) - spread / (2 * sigma_x[..., None, :] ** 2)).sum(-1)
    prior = Normal(torch.zeros_like(q.loc), torch.ones_like(q.loc), validate_args=False)
    return expected_log_lik - kl_divergence(q, prior).sum(-1)


class LinearVAE(Problem):
    """Linear Gaussian VAE on 3-D synthetic data; closed-form ELBO gradient and optimum."""

    name = "linear_vae"

    def __init__(self, alpha: float = 1.0, num_data: int = 100, seed: int = 0,
                 perturbation: float = 0.5):
        self.alpha = check_positive("alpha", alpha)
        num_data = check_dim(num_data, "num_data")
        perturbation = check_finite("perturbation", perturbation)
        if perturbation < 0:
            raise ValueError(f"perturbation must be a finite number >= 0, got {perturbation!r}")
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.x = generate_data(self.alpha, num_data, generator)  # N x 3
        # A seeded non-optimal point, so that every gradient coordinate is non-trivial.
        self.params = {name: value + perturbation * torch.randn(value.shape, generator=generator)
                       for name, value in self.optimum().items()}
        self.config = {"alpha": self.alpha, "num_data": num_data, "seed": seed,
                       "perturbation": perturbation}

    @property
    def num_data(self) -> int:
        return self.x.shape[0]

    @property
    def elements_per_sample(self) -> int:
        # one latent, a 3-D decoder mean and three log densities per data point
        return self.num_params + 8 * self.num_data

    def optimum(self) -> dict[str, torch.Tensor]:
        """The decoder that generated the data and, as encoder, its exact posterior."""
        dtype = self.x.dtype
        decoder = {
            "decoder.weight": torch.tensor(TRUE_WEIGHT, dtype=torch.float64)[:, None],  # 3 x 1
            "decoder.bias": torch.tensor(TRUE_BIAS, dtype=torch.float64),
            "decoder.log_sigma": torch.full((3,), math.log(self.alpha), dtype=torch.float64),
        }
        encoder = optimal_encoder(*decoder.values())
        both = {**decoder, **encoder}
        return {name: both[name].to(device=self.x.device, dtype=dtype) for name in PARAM_NAMES}

    def distribution(self, params):
        # batch (*B, N): one latent per data point, event (1,)
        return Independent(encoder_distribution(self.x, params), 1)

    def cost(self, z, params):
        """``f_n = log p(x_n | z_n) + log p(z_n) - log q(z_n | x_n)`` (F is their mean over n): ``(K, *B, N, 1) -> (K, *B, N)``."""
        decoded = z @ params["decoder.weight"].transpose(-1, -2) + params["decoder.bias"][..., None, :]
        sigma_x = params["decoder.log_sigma"].exp()[..., None, :]
        log_lik = Normal(decoded, sigma_x, validate_args=False).log_prob(self.x).sum(-1)
        log_prior = Normal(z.new_zeros(()), z.new_ones(()), validate_args=False).log_prob(z).sum(-1)
        log_q = self.distribution(params).log_prob(z)
        return log_lik + log_prior - log_q

    def elbo_per_datum(self, params) -> torch.Tensor:
        """Closed-form ``ELBO_n``, shape ``(*B, N)``."""
        return elbo_per_datum(self.x, params)

    def expectation(self, params):
        return self.elbo_per_datum(params).mean(-1)
