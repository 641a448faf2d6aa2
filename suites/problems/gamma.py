"""Independent Gammas with costs whose expectations are known in closed form (or by quadrature).

``z_i ~ Gamma(a_i, rate b_i)`` (density ``b^a z^(a-1) e^(-b z) / Gamma(a)``) for
``i = 1..dim`` and ``f(z) = sum_i c(z_i)`` with one of (constant ``k``):

=========  ==============  ===========================================================
cost       c(z)            E c(z) for z ~ Gamma(a, rate b)
=========  ==============  ===========================================================
linear     k z             k a / b
square     (z - k)^2       a (a + 1) / b^2 - 2 k a / b + k^2
log        k log z         k (digamma(a) - log b)
exp        exp(-k z)       (1 + k / b)^(-a)                      (the Laplace transform)
cos        cos(k z)        (1 + k^2 / b^2)^(-a/2) cos(a atan(k / b))  (the real part of
                           the characteristic function (1 - i k / b)^(-a))
log1p      log(1 + k z)    no closed form: the trapezoid rule in log z (``quadrature``)
=========  ==============  ===========================================================

The differentiated parameters are the concentration (shape) ``a`` and the rate
``b`` (``wrt="all"``), or the rate alone (``wrt="rate"``, ``a`` held fixed): the
measure-valued estimator knows a weak derivative for the rate only
(Mohamed, Rosca, Figurnov & Mnih 2020, JMLR, table 1). The exact gradient is
autograd of the expectation in float64; for ``log1p`` its accuracy is the
quadrature's (``suites.problems.quadrature``). ``torch.distributions.Gamma``'s
``rsample`` differentiates through the implicit reparameterisation gradient
(Figurnov, Mohamed & Mnih 2018, "Implicit Reparameterization Gradients"), so
this is the problem on which that approximation is measured; ``dtype`` chooses
float32 (default) or float64 parameters.
"""
from __future__ import annotations

import torch
from torch.distributions import Gamma as GammaDistribution
from torch.distributions import Independent

from suites.problems.base import Problem, check_choice, check_dim, check_dtype, check_finite, plain, vector
from suites.problems.quadrature import gamma_expectation

COSTS = ("linear", "square", "log", "exp", "cos", "log1p")
WRT = ("all", "rate")


def pointwise_cost(kind: str, z: torch.Tensor, k: float) -> torch.Tensor:
    """``c(z)`` elementwise (the table above)."""
    if kind == "linear":
        return k * z
    if kind == "square":
        return (z - k) ** 2
    if kind == "log":
        return k * torch.log(z)
    if kind == "exp":
        return torch.exp(-k * z)
    if kind == "cos":
        return torch.cos(k * z)
    return torch.log1p(k * z)


def expected_cost(kind: str, a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """``E c(z)`` for ``z ~ Gamma(a, rate b)``, elementwise: closed form, or quadrature for log1p."""
    if kind == "linear":
        return k * a / b
    if kind == "square":
        return a * (a + 1) / b**2 - 2 * k * a / b + k**2
    if kind == "log":
        return k * (torch.digamma(a) - torch.log(b))
    if kind == "exp":
        return (1 + k / b) ** (-a)
    if kind == "cos":
        return (1 + (k / b) ** 2) ** (-a / 2) * torch.cos(a * torch.atan(k / b))
    return gamma_expectation(lambda z: torch.log1p(k * z), a, b)


class Gamma(Problem):
    """Independent Gamma(concentration, rate); cost linear, square, log, exp, cos or log1p (quadrature)."""

    name = "gamma"

    def __init__(self, dim: int = 10, concentration=1.0, rate=1.0, cost: str = "exp", k: float = 1.0,
                 wrt: str = "all", dtype: str = "float32"):
        dim = check_dim(dim)
        self.kind = check_choice("cost", cost, COSTS)
        self.wrt = check_choice("wrt", wrt, WRT)
        self.k = check_finite("k", k)
        if self.kind in ("exp", "log1p") and self.k <= 0:
            raise ValueError(f"the {cost} cost needs k > 0 (its expectation diverges or is undefined "
                             f"otherwise), got k={k!r}")
        torch_dtype = check_dtype(dtype)
        a = vector("concentration", concentration, dim, positive=True, dtype=torch_dtype)
        b = vector("rate", rate, dim, positive=True, dtype=torch_dtype)
        self.params = {"rate": b} if self.wrt == "rate" else {"concentration": a, "rate": b}
        self.fixed_concentration = a
        self.reference_kind = "quadrature" if self.kind == "log1p" else "closed_form"
        self.config = {"dim": dim, "concentration": plain(concentration), "rate": plain(rate),
                       "cost": cost, "k": self.k, "wrt": wrt, "dtype": dtype}

    def concentration(self, params) -> torch.Tensor:
        return params["concentration"] if "concentration" in params else self.fixed_concentration

    def distribution(self, params):
        return Independent(GammaDistribution(self.concentration(params), params["rate"],
                                             validate_args=False), 1)

    def cost(self, z, params):
        return pointwise_cost(self.kind, z, self.k).sum(-1)

    def expectation(self, params):
        return expected_cost(self.kind, self.concentration(params), params["rate"], self.k).sum()
