"""Full-covariance Gaussian with a quadratic cost.

``z ~ N(loc, L L^T)`` with ``L = scale_tril`` lower-triangular with a
positive diagonal, and ``f(z) = z^T A z + b^T z`` with a fixed, seeded
symmetric ``A`` and vector ``b``. Then

    F(loc, L) = loc^T A loc + tr(A L L^T) + b^T loc,
    dF/dloc = 2 A loc + b,        dF/dL = tril(2 A L).

Only the lower triangle of ``scale_tril`` is a parameter: the distribution
is built from ``tril(scale_tril)``, so every estimator (pathwise through
``z = loc + L eps`` or score function through ``log_prob``) returns zero on
the strict upper triangle, as the exact gradient does.
"""
from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from estimators.registry import OptionTypeError

from suites.problems.base import Problem, check_dim, check_finite, check_numbers, vector, check_seed


def check_scale_tril(scale_tril: torch.Tensor, name: str = "scale_tril") -> torch.Tensor:
    """``scale_tril`` itself, or ``ValueError`` unless square, lower-triangular, positive diagonal."""
    if scale_tril.dim() < 2 or scale_tril.shape[-1] != scale_tril.shape[-2]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(scale_tril.shape)}")
    upper = torch.triu(scale_tril, diagonal=1)
    if upper.abs().max() > 0:
        raise ValueError(
            f"{name} must be lower-triangular; largest |entry| above the diagonal is "
            f"{upper.abs().max().item():.3g}")
    diagonal = torch.diagonal(scale_tril, dim1=-2, dim2=-1)
    if not torch.isfinite(scale_tril).all() or not (diagonal > 0).all():
        raise ValueError(
            f"{name} must have a finite, positive diagonal; got diagonal min "
            f"{diagonal.min().item():.3g}")
    return scale_tril


class GaussianFull(Problem):
    """MultivariateNormal(loc, scale_tril); cost z^T A z + b^T z; closed-form gradient."""

    name = "gaussian_full"

    def __init__(self, dim: int = 10, loc=0.5, scale: float = 1.0, scale_tril=None,
                 off_diagonal: float = 0.1, seed: int = 0):
        dim = check_dim(dim)
        check_numbers(f"dim={dim:,} (a {dim:,} x {dim:,} scale_tril)", dim * dim)
        generator = torch.Generator().manual_seed(check_seed(seed))
        gaussian = torch.randn(dim, dim, generator=generator)
        self.A = (gaussian + gaussian.T) / (2 * dim**0.5)  # symmetric, O(1) spectrum
        self.b = torch.randn(dim, generator=generator)
        if scale_tril is None:
            diagonal = vector("scale", scale, dim, positive=True)
            lower = torch.tril(torch.randn(dim, dim, generator=generator), diagonal=-1)
            scale_tril_t = torch.diag(diagonal) + check_finite("off_diagonal", off_diagonal) * lower / dim**0.5
        else:
            try:
                scale_tril_t = torch.as_tensor(scale_tril, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise OptionTypeError(f"scale_tril must be a {dim} x {dim} matrix of numbers, got "
                                f"{scale_tril!r}") from None
            scale_tril_t = check_scale_tril(scale_tril_t)
            if scale_tril_t.shape != (dim, dim):
                raise ValueError(f"scale_tril must have shape ({dim}, {dim}), got {tuple(scale_tril_t.shape)}")
        self.params = {"loc": vector("loc", loc, dim), "scale_tril": check_scale_tril(scale_tril_t)}
        self.config = {"dim": dim, "loc": loc, "scale": scale, "off_diagonal": off_diagonal,
                       "seed": seed, "custom_scale_tril": scale_tril is not None}

    def distribution(self, params):
        return MultivariateNormal(params["loc"], scale_tril=torch.tril(params["scale_tril"]),
                                  validate_args=False)

    def cost(self, z, params):
        # z^T A z as a product then a sum, not a three-operand einsum: torch orders an einsum's
        # contractions with opt_einsum when it is installed (Pyro brings it), so the rounding,
        # and the published statistics, would depend on what else is installed.
        return ((z @ self.A) * z).sum(-1) + z @ self.b

    def expectation(self, params):
        loc, tril = params["loc"], torch.tril(params["scale_tril"])
        return loc @ self.A @ loc + torch.trace(self.A @ tril @ tril.T) + self.b @ loc
