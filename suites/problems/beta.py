"""Independent Betas with costs whose expectations are known in closed form (or by quadrature).

``z_i ~ Beta(a_i, b_i)`` (density ``z^(a-1) (1-z)^(b-1) / B(a, b)``) for
``i = 1..dim`` and ``f(z) = sum_i c(z_i)`` with one of (constant ``k``):

=========  ============  ===========================================================
cost       c(z)          E c(z) for z ~ Beta(a, b)
=========  ============  ===========================================================
linear     k z           k a / (a + b)
square     (z - k)^2     a (a + 1) / ((a + b)(a + b + 1)) - 2 k a / (a + b) + k^2
log        k log z       k (digamma(a) - digamma(a + b))
cos        cos(k z)      no elementary closed form (a 1F2 series): the trapezoid rule in
                         logit z (``suites.problems.quadrature``)
=========  ============  ===========================================================

The differentiated parameters are ``concentration1`` (``a``) and
``concentration0`` (``b``), named as ``torch.distributions.Beta`` names them. Its
``rsample`` normalises two Gammas, ``z = g1 / (g1 + g2)``, each differentiated
through the implicit reparameterisation gradient (Figurnov, Mohamed & Mnih 2018),
the path this problem measures. The exact gradient is autograd of the
expectation in float64 (for ``cos``, of the quadrature, at its stated accuracy);
``dtype`` chooses float32 (default) or float64 parameters.
"""
from __future__ import annotations

import torch
from torch.distributions import Beta as BetaDistribution
from torch.distributions import Independent

from suites.problems.base import Problem, check_choice, check_dim, check_dtype, check_finite, plain, vector
# the Gamma's c(z) for the kinds they share (linear, square, log, cos: the same formulas)
from suites.problems.gamma import pointwise_cost
from suites.problems.quadrature import beta_expectation

COSTS = ("linear", "square", "log", "cos")


def expected_cost(kind: str, a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """``E c(z)`` for ``z ~ Beta(a, b)``, elementwise: closed form, or quadrature for cos."""
    total = a + b
    if kind == "linear":
        return k * a / total
    if kind == "square":
        return a * (a + 1) / (total * (total + 1)) - 2 * k * a / total + k**2
    if kind == "log":
        return k * (torch.digamma(a) - torch.digamma(total))
    return beta_expectation(lambda z: torch.cos(k * z), a, b)


class Beta(Problem):
    """Independent Beta(concentration1, concentration0); cost linear, square, log or cos (quadrature)."""

    name = "beta"

    def __init__(self, dim: int = 10, concentration1=1.0, concentration0=1.0, cost: str = "square",
                 k: float = 0.25, dtype: str = "float32"):
        dim = check_dim(dim)
        self.kind = check_choice("cost", cost, COSTS)
        self.k = check_finite("k", k)
        torch_dtype = check_dtype(dtype)
        self.params = {
            "concentration1": vector("concentration1", concentration1, dim, positive=True, dtype=torch_dtype),
            "concentration0": vector("concentration0", concentration0, dim, positive=True, dtype=torch_dtype),
        }
        self.reference_kind = "quadrature" if self.kind == "cos" else "closed_form"
        self.config = {"dim": dim, "concentration1": plain(concentration1),
                       "concentration0": plain(concentration0), "cost": cost, "k": self.k, "dtype": dtype}

    def distribution(self, params):
        return Independent(BetaDistribution(params["concentration1"], params["concentration0"],
                                            validate_args=False), 1)

    def cost(self, z, params):
        return pointwise_cost(self.kind, z, self.k).sum(-1)

    def expectation(self, params):
        return expected_cost(self.kind, params["concentration1"], params["concentration0"], self.k).sum()
