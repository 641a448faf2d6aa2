"""Diagonal Gaussian with the cost functions of Mohamed et al. (2020).

``z ~ N(loc, diag(scale^2))`` in ``dim`` dimensions and ``f(z) = sum_i c(z_i)``
with one of (constant ``k``):

=========  ================  ===========================================================
cost       c(z)              E c(z) for z ~ N(mu, sigma^2)
=========  ================  ===========================================================
square     (z - k)^2         (mu - k)^2 + sigma^2
linear     k z               k mu
cos        cos(k z)          cos(k mu) exp(-k^2 sigma^2 / 2)
exp        exp(-k z^2)       (1 + 2 k sigma^2)^(-1/2) exp(-k mu^2 / (1 + 2 k sigma^2))
=========  ================  ===========================================================

The costs are those of "Monte Carlo Gradient Estimation in Machine Learning"
(Mohamed, Rosca, Figurnov & Mnih, JMLR 2020, section 3 and figure 2), whose
code (DeepMind's mc_gradients) differentiates w.r.t. the log-scale: choose
``parameterization="log_scale"`` to compare with it (``scale = exp(log_scale)``).
"""
from __future__ import annotations


import torch
from torch.distributions import Independent, Normal

from suites.problems.base import Problem, check_choice, check_dim, check_finite, plain, vector

COSTS = ("square", "linear", "cos", "exp")
PARAMETERIZATIONS = ("scale", "log_scale")


def pointwise_cost(kind: str, z: torch.Tensor, k: float) -> torch.Tensor:
    """``c(z)`` elementwise."""
    if kind == "square":
        return (z - k) ** 2
    if kind == "linear":
        return k * z
    if kind == "cos":
        return torch.cos(k * z)
    return torch.exp(-k * z**2)


def gaussian_expectation(kind: str, mu: torch.Tensor, sigma: torch.Tensor, k: float) -> torch.Tensor:
    """``E c(z)`` for ``z ~ N(mu, sigma^2)``, elementwise (the table above)."""
    if kind == "square":
        return (mu - k) ** 2 + sigma**2
    if kind == "linear":
        return k * mu
    if kind == "cos":
        return torch.cos(k * mu) * torch.exp(-(k**2) * sigma**2 / 2)
    s = 1 + 2 * k * sigma**2
    return torch.exp(-k * mu**2 / s) / torch.sqrt(s)


class Gaussian(Problem):
    """Diagonal Normal(loc, scale); cost square, linear, cos or exp; closed-form gradient."""

    name = "gaussian"

    def __init__(self, dim: int = 10, loc=0.5, scale=1.0, cost: str = "square", k: float = 1.0,
                 parameterization: str = "scale"):
        dim = check_dim(dim)
        self.kind = check_choice("cost", cost, COSTS)
        self.parameterization = check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        self.k = check_finite("k", k)
        if self.kind == "exp" and self.k <= 0:
            raise ValueError(f"the exp cost needs k > 0 (E exp(-k z^2) diverges otherwise), got k={k!r}")
        loc_t = vector("loc", loc, dim)
        scale_t = vector("scale", scale, dim, positive=True)
        self.params = {"loc": loc_t}
        if self.parameterization == "scale":
            self.params["scale"] = scale_t
        else:
            self.params["log_scale"] = scale_t.log()
        self.config = {"dim": dim, "loc": plain(loc), "scale": plain(scale), "cost": cost,
                       "k": self.k, "parameterization": parameterization}

    def scale(self, params) -> torch.Tensor:
        if self.parameterization == "scale":
            return params["scale"]
        return params["log_scale"].exp()

    def distribution(self, params):
        return Independent(Normal(params["loc"], self.scale(params), validate_args=False), 1)

    def cost(self, z, params):
        return pointwise_cost(self.kind, z, self.k).sum(-1)

    def expectation(self, params):
        return gaussian_expectation(self.kind, params["loc"], self.scale(params), self.k).sum()


