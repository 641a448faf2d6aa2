"""ARMS: Antithetic-REINFORCE-Multi-Sample, for Bernoulli variables.

``n >= 2`` negatively correlated uniforms ``u_1..u_n`` per coordinate come from a
copula; with ``p = sigmoid(theta)`` they give ``n`` samples, per coordinate ``i``::

    b_ki = 1[u_ki < p_i]       if p_i < 1/2,
    b_ki = 1[1 - u_ki < p_i]   otherwise,

each ``Bernoulli(p_i)`` but correlated across ``k`` with correlation ``rho_i``. The
leave-one-out score-function estimate, rescaled so that it stays unbiased under
that correlation, is (the score of ``Bernoulli(sigmoid(theta))`` in ``theta`` is ``b - p``)::

    g_i = 1 / ((n - 1)(1 - rho_i)) sum_k (f(b_k) - fbar) (b_ki - p_i),   fbar = 1/n sum_k f(b_k)

(Dimitriev & Zhou 2021, "ARMS: Antithetic-REINFORCE-Multi-Sample Gradient for
Binary Variables", ICML, eqs. 7-9 and Theorem 3; code alekdimi/arms). With independent
uniforms ``rho = 0`` and it is the leave-one-out estimator (Kool et al. 2019).

Copulas (option ``copula``):

* ``dirichlet`` (default): ``d ~ Dir(1_n)``, ``u_k = (1 - d_k)^(n-1)``. The marginal
  of ``d_k`` is ``Beta(1, n-1)``, so ``u_k ~ U(0, 1)``; the bivariate copula is
  ``C(a, b) = max(a^(1/(n-1)) + b^(1/(n-1)) - 1, 0)^(n-1)``. ``d`` is drawn as
  normalised ``Exp(1)`` variates (``-log(1 - U)``, so all the noise is uniform); at
  ``n = 2`` as ``(v, 1 - v)`` from one uniform ``v``, so that ``(u_1, u_2) = (1 - v, v)``
  is DisARM's antithetic pair and the estimate *is* DisARM's (``estimators.disarm``;
  the paper's Theorem 2) from the same random numbers, and the exact-moment quadrature
  (one uniform a coordinate) applies.
* ``gaussian``: ``u_k = Phi(z_k)``, ``z ~ N(0, Sigma)`` with the most negative
  equicorrelation ``Sigma = n/(n-1) I - 1/(n-1) 1 1^T`` (drawn as
  ``sqrt(n/(n-1)) (eps - mean eps)``), and ``b_k = 1[z_k < Phi^-1(p)]``; no reflection is
  needed, the copula being symmetric.

``rho`` is computed exactly from the copula, as the reference code does:
``1 - rho = (q - C(q, q)) / (q (1 - q))`` with ``q = min(p, 1 - p)`` (the reflected
sample has the same correlation) and ``C`` the bivariate copula, for the Gaussian one
``C(q, q) = Phi_2(h, h; r) = Phi(h) - 2 T(h, sqrt((1 - r)/(1 + r)))``, ``h = Phi^-1(q)``,
``r = -1/(n-1)``, ``T`` Owen's T function (Owen 1956), by Gauss-Legendre quadrature.

Cost accounting: the option ``n`` is the samples of one copula draw; ``num_samples``
(``K``) counts independent copula draws, averaged, as DisARM's ``K`` counts antithetic
pairs. One estimate costs ``n K`` evaluations of ``f``: ``arms(n=2)`` with ``K`` draws
is DisARM with ``K`` pairs; compare ``arms(n=N)`` at ``K = 1`` with the leave-one-out
estimator at ``K = N``. A cost that depends on the parameters adds its pathwise term,
averaged over the ``n K`` samples; factors (data points) each get their own cost.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Normal

from .base import BernoulliEstimator, unwrap_independent

COPULAS = ("dirichlet", "gaussian")

#: Gauss-Legendre order of Owen's T: its integrand is smooth on [0, a] (a <= sqrt(3)),
#: and 40 nodes reach float64 rounding (checked against scipy in tests/test_arms.py).
_OWEN_NODES = 40


def dirichlet_joint(q: torch.Tensor, n: int) -> torch.Tensor:
    """``P(u_1 < q, u_2 < q)`` under the Dirichlet copula: ``max(2 q^(1/(n-1)) - 1, 0)^(n-1)``."""
    return (2 * q.pow(1.0 / (n - 1)) - 1).clamp_min(0).pow(n - 1)


def owens_t(h: torch.Tensor, a: float) -> torch.Tensor:
    """Owen's ``T(h, a) = 1/(2 pi) int_0^a exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx``."""
    x, w = np.polynomial.legendre.leggauss(_OWEN_NODES)
    x = torch.as_tensor((x + 1) * a / 2, dtype=h.dtype, device=h.device)
    w = torch.as_tensor(w * a / 2, dtype=h.dtype, device=h.device)
    one_plus = 1 + x * x
    return (torch.exp(-h.unsqueeze(-1) ** 2 * one_plus / 2) / one_plus * w).sum(-1) / (2 * math.pi)


def gaussian_joint(q: torch.Tensor, n: int) -> torch.Tensor:
    """``P(z_1 < h, z_2 < h)``, ``h = Phi^-1(q)``, for standard normals of correlation ``-1/(n-1)``."""
    normal = Normal(torch.zeros((), dtype=q.dtype, device=q.device), 1.0)
    h = normal.icdf(q)
    if n == 2:  # r = -1: z_2 = -z_1
        return (2 * q - 1).clamp_min(0)
    r = -1.0 / (n - 1)
    return normal.cdf(h) - 2 * owens_t(h, math.sqrt((1 - r) / (1 + r)))


def one_minus_rho(p: torch.Tensor, n: int, copula: str) -> torch.Tensor:
    """``1 - corr(b_k, b_l)`` of two of the ``n`` samples: ``(q - C(q, q)) / (q (1 - q))``."""
    q = torch.minimum(p, 1 - p)
    joint = dirichlet_joint(q, n) if copula == "dirichlet" else gaussian_joint(q, n)
    return (q - joint) / (q * (1 - q))


class ARMS(BernoulliEstimator):
    """Leave-one-out score function over ``n`` antithetic samples of a copula (unbiased, Bernoulli only)."""

    name = "arms"
    options = {"n": 4, "copula": "dirichlet"}

    def __init__(self, **options):
        super().__init__(**options)
        n = self.config["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2 (samples of one copula draw), got {n!r}")
        if self.config["copula"] not in COPULAS:
            raise ValueError(f"unknown copula {self.config['copula']!r} for arms; allowed: "
                             f"{', '.join(COPULAS)}")
        #: cost evaluations per sample (a copula draw): its n samples, so ``evaluations`` is n K
        self.evaluations_per_sample = n

    def copies_per_sample(self, problem) -> int:
        return self.config["n"]

    def samples(self, logits: torch.Tensor, num_samples: int) -> torch.Tensor:
        """``b``: ``(n, K, *logits.shape)``, each ``Bernoulli(sigmoid(logits))``, correlated along dim 0."""
        n, p = self.config["n"], torch.sigmoid(logits)
        if self.config["copula"] == "gaussian":
            zero = torch.zeros((), dtype=logits.dtype, device=logits.device)
            eps = Normal(zero, zero + 1).sample((n, num_samples, *logits.shape))
            z = math.sqrt(n / (n - 1)) * (eps - eps.mean(0, keepdim=True))
            return (z < Normal(zero, zero + 1).icdf(p)).to(logits.dtype)
        if n == 2:
            # d = (v, 1 - v): u = (1 - v, v), DisARM's pair; its reflection 1 - u read in
            # reverse order (the Dirichlet is exchangeable) is u again, so every coordinate's
            # first sample is DisARM's b~ and its second b, whichever side of 1/2 p lies
            v = self.uniform_noise(logits, num_samples)
            return (torch.stack([1 - v, v]) < p).to(logits.dtype)
        # d ~ Dir(1_n) as normalised Exp(1) draws (the reference code's construction), with
        # the sign of log(1 - U) cancelling in the ratio (and finite where torch.rand gives 0)
        e = torch.log1p(-self.uniform_noise(logits, n * num_samples))
        e = e.reshape(n, num_samples, *logits.shape)
        u = (1 - e / e.sum(0, keepdim=True)).pow(n - 1)
        # 1[1 - u < p] = 1 - 1[u <= 1 - p]: the reflected coordinates flip the comparison with q
        q = torch.minimum(p, 1 - p)
        return ((u < q) != (p >= 0.5)).to(logits.dtype)

    def surrogate(self, problem, distribution, params, num_samples):
        n = self.config["n"]
        base, event_ndims = unwrap_independent(distribution)
        logits = base.logits  # M x factors x event, a function of params
        with torch.no_grad():
            p = torch.sigmoid(logits)
            b = self.samples(logits, num_samples)  # n x K x M x factors x event
        cost = problem.cost(b.reshape(n * num_samples, *b.shape[2:]), params)
        cost = cost.reshape(n, num_samples, *cost.shape[1:])  # n x K x M x factors
        centred = (cost - cost.mean(0, keepdim=True)).detach()
        centred = centred.reshape(*centred.shape, *([1] * event_ndims))
        scale = (n - 1) * one_minus_rho(p, n, self.config["copula"])
        per_coordinate = (centred * (b - p)).sum(0) / scale  # K x M x factors x event
        score_part = per_coordinate * logits
        if event_ndims:
            score_part = score_part.sum(tuple(range(-event_ndims, 0)))
        return (score_part + cost.mean(0)).mean(0)
