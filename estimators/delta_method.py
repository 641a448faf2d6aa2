"""Score function with the delta-method (second-order Taylor) control variate, for diagonal Gaussians.

With ``h(z) = f(mu) + grad f(mu)^T (z - mu) + 1/2 (z - mu)^T H(mu) (z - mu)``, the
expansion of ``f`` about the mean with its coefficients held fixed, one
estimate is::

    g = 1/K sum_k (f(z_k) - h(z_k)) grad log q(z_k) + grad_theta E_q[h]

where, for ``q = N(mu, diag(sigma^2))``, ``E_q h = f(mu0) + grad f(mu0)^T (mu - mu0)
+ 1/2 [(mu - mu0)^T H (mu - mu0) + sum_i H_ii sigma_i^2]``, so at ``mu = mu0``
``d E h / d mu = grad f(mu)`` and ``d E h / d sigma_i = H_ii sigma_i``
(Paisley, Blei & Jordan 2012, "Variational Bayesian inference with
stochastic search", ICML, section 4.1; Mohamed et al. 2020, JMLR,
section 7.3, "delta method"). The control variate's coefficient is fixed
at 1: unbiased for any ``f``, and exact (zero variance) when ``f`` is
quadratic in ``z``, where ``h = f``. Derivatives of ``f`` in ``z`` are
taken by ``torch.func`` (a gradient and Hessian-vector products, batched
over samples and estimates); a cost that depends on theta directly adds
its pathwise term as in ``score_function``.
"""
from __future__ import annotations

import torch
from torch.distributions import Distribution, Normal

from .base import Estimator, unwrap_independent


def taylor_terms(cost, z: torch.Tensor, mu: torch.Tensor):
    """``f(mu)``, ``grad f(mu)``, ``(z - mu)^T H (z - mu)`` and ``diag H(mu)``, all batched.

    ``cost`` maps ``(S, *B, D) -> (S, *B)`` with each entry depending on its own
    row only, so gradients of the summed cost are per row. ``z``: ``(K, *B, D)``;
    ``mu``: ``(*B, D)``.
    """
    def grad_f(x):
        return torch.func.grad(lambda y: cost(y).sum())(x)

    size = mu.shape[-1]
    f_mu = cost(mu.unsqueeze(0))[0]
    g_mu = grad_f(mu.unsqueeze(0))[0]
    delta = z - mu
    _, h_delta = torch.func.jvp(grad_f, (mu.expand_as(z).contiguous(),), (delta,))
    quad = (delta * h_delta).sum(-1)  # K x B
    eye = torch.eye(size, dtype=mu.dtype, device=mu.device)
    units = eye.reshape(size, *([1] * (mu.dim() - 1)), size).expand(size, *mu.shape)
    _, h_units = torch.func.jvp(grad_f, (mu.expand(size, *mu.shape).contiguous(),), (units.contiguous(),))
    hess_diag = (h_units * units).sum(-1).movedim(0, -1)  # B x D
    return f_mu, g_mu, quad, hess_diag


class DeltaMethod(Estimator):
    """Score function minus its second-order Taylor expansion about the mean, plus that expansion's exact gradient."""

    name = "delta_method"
    families = ("Normal",)

    def evaluations(self, problem, num_samples: int) -> int:
        """Per sample ``f(z_k)`` and one Hessian-vector product; per estimate ``f(mu)``,
        ``grad f(mu)`` and ``D`` Hessian-vector products for ``diag H``: ``2 K + 2 + D``."""
        dim = problem.params["loc"].shape[-1]
        return 2 * num_samples + 2 + dim

    def check(self, distribution: Distribution) -> None:
        base, event_ndims = unwrap_independent(distribution)
        if type(base) is not Normal or event_ndims != 1:
            raise ValueError(
                f"delta_method applies to diagonal Gaussians (Independent Normal with one event "
                f"dim) only, got {type(base).__name__} with {event_ndims} event dims; "
                f"use score_function for other families")

    def surrogate(self, problem, distribution, params, num_samples):
        base, _ = unwrap_independent(distribution)
        loc, scale = base.loc, base.scale  # (M, *factors, D)
        with torch.no_grad():
            z = distribution.sample((num_samples,))
        cost = problem.cost(z, params)  # K x M x factors
        log_q = distribution.log_prob(z)
        frozen = {k: v.detach() for k, v in params.items()}
        mu, sigma = loc.detach(), scale.detach()
        f_mu, g_mu, quad, hess_diag = (t.detach() for t in taylor_terms(
            lambda x: problem.cost(x, frozen), z, mu))
        taylor = f_mu + ((z - mu) * g_mu).sum(-1) + quad / 2  # K x M x factors
        residual = (cost.detach() - taylor).detach()
        expected_taylor = (loc * g_mu + scale * (hess_diag * sigma)).sum(-1)
        return (log_q * residual + cost).mean(0) + expected_taylor
