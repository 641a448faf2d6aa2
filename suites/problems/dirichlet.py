"""A Dirichlet with costs whose expectations are known in closed form (or by quadrature).

``z ~ Dirichlet(a)`` on the simplex of ``dim >= 2`` coordinates, ``a0 = sum_i a_i``;
the marginals are ``z_i ~ Beta(a_i, a0 - a_i)`` and ``E z_i z_j = a_i a_j / (a0 (a0 + 1))``
for ``i != j`` (Kotz, Balakrishnan & Johnson 2000, "Continuous Multivariate
Distributions", ch. 49). Costs (constant ``k``, class values ``v_i = i / (dim - 1)``):

=========  ======================  ===================================================
cost       f(z)                    E f(z)
=========  ======================  ===================================================
linear     k sum_i v_i z_i         k sum_i v_i a_i / a0
square     sum_i (z_i - k)^2       sum_i [a_i (a_i + 1) / (a0 (a0 + 1)) - 2 k a_i / a0 + k^2]
log        k sum_i log z_i         k sum_i (digamma(a_i) - digamma(a0))
cross      sum_i z_i z_(i+1)       sum_i a_i a_(i+1) / (a0 (a0 + 1))   (cyclic: z_(dim+1) = z_1)
cos        sum_i cos(k z_i)        no closed form: one-dimensional quadrature over each Beta
                                   marginal (``suites.problems.quadrature``), separable
=========  ======================  ===================================================

The differentiated parameter is ``concentration`` (``a``). ``torch.distributions.Dirichlet``'s
``rsample`` normalises Gammas and differentiates through the implicit
reparameterisation gradient (Figurnov, Mohamed & Mnih 2018). The exact gradient is
autograd of the expectation in float64; ``dtype`` chooses float32 (default) or float64.
"""
from __future__ import annotations

import torch
from torch.distributions import Dirichlet as DirichletDistribution

from suites.problems.base import Problem, check_choice, check_dim, check_dtype, check_finite, plain, vector
from suites.problems.quadrature import beta_expectation

COSTS = ("linear", "square", "log", "cross", "cos")


class Dirichlet(Problem):
    """Dirichlet(concentration); cost linear, square, log, cross (closed form) or cos (quadrature)."""

    name = "dirichlet"

    def __init__(self, dim: int = 10, concentration=1.0, cost: str = "square", k: float = 0.25,
                 dtype: str = "float32"):
        dim = check_dim(dim)
        if dim < 2:
            raise ValueError(f"dim must be an integer >= 2 (a Dirichlet on one coordinate is the "
                             f"point z = 1), got {dim!r}")
        self.kind = check_choice("cost", cost, COSTS)
        self.k = check_finite("k", k)
        torch_dtype = check_dtype(dtype)
        self.params = {"concentration": vector("concentration", concentration, dim,
                                               positive=True, dtype=torch_dtype)}
        self.values = torch.linspace(0.0, 1.0, dim, dtype=torch_dtype)  # v_i = i / (dim - 1)
        self.reference_kind = "quadrature" if self.kind == "cos" else "closed_form"
        self.config = {"dim": dim, "concentration": plain(concentration), "cost": cost, "k": self.k,
                       "dtype": dtype}

    def distribution(self, params):
        return DirichletDistribution(params["concentration"], validate_args=False)

    def cost(self, z, params):
        if self.kind == "linear":
            return self.k * (z @ self.values.to(z.dtype))
        if self.kind == "square":
            return ((z - self.k) ** 2).sum(-1)
        if self.kind == "log":
            return self.k * torch.log(z).sum(-1)
        if self.kind == "cross":
            return (z * z.roll(-1, dims=-1)).sum(-1)
        return torch.cos(self.k * z).sum(-1)

    def expectation(self, params):
        a = params["concentration"]
        total = a.sum(-1, keepdim=True)
        if self.kind == "linear":
            return self.k * (self.values.to(a.dtype) * a / total).sum()
        if self.kind == "square":
            return (a * (a + 1) / (total * (total + 1)) - 2 * self.k * a / total + self.k**2).sum()
        if self.kind == "log":
            return self.k * (torch.digamma(a) - torch.digamma(total)).sum()
        if self.kind == "cross":
            return (a * a.roll(-1, dims=-1) / (total * (total + 1))).sum()
        return beta_expectation(lambda z: torch.cos(self.k * z), a, total - a).sum()
