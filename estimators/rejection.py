"""Reparameterised rejection sampling (RSVI) for Gamma, Beta and Dirichlet.

Naesseth, Ruiz, Linderman & Blei 2017, "Reparameterization Gradients through
Acceptance-Rejection Sampling Algorithms", AISTATS. Marsaglia & Tsang (2000)
draw ``Gamma(a, 1)``, ``a >= 1``, by proposing ``z = h(eps, a) = d (1 + eps c)^3``,
``d = a - 1/3``, ``c = 1 / sqrt(9 d)``, ``eps ~ N(0, 1)``, and accepting it with a
probability that makes the accepted ``z`` exact. The accepted ``eps`` has density
``pi(eps; a) = s(eps) q(h(eps, a); a) / r(h(eps, a); a)`` with ``s`` the normal
density and ``r(z) = s(eps) / h'(eps)`` the proposal's density of ``z``, so that,
up to a constant in ``a``,

    log pi(eps; a) = log q(h(eps, a); a) + log dh/deps(eps, a),   dh/deps = sqrt(d) (1 + eps c)^2,

and (the paper's section 3: a reparameterisation term and a correction term)

    grad E f = E_pi[ grad_z f(h) grad_theta h ]  +  E_pi[ f(h) grad_theta log pi(eps; theta) ]
             =            g_rep                 +              g_cor.

Shape augmentation (the paper's, for the Gamma; Marsaglia & Tsang's own boost): ``Gamma(a)`` is drawn as
``z = z~ prod_{i=1..B} u_i^(1/(a + i - 1))`` with ``z~ ~ Gamma(a + B)`` from the
rejection sampler and ``u_i ~ U(0, 1)``, an explicit path in ``a``; the rejection
step then runs at shape ``a + B >= 1`` for any ``a > 0``, and ``g_cor`` shrinks as
``B`` grows. ``boost`` is ``B`` (default 1).

``eps`` is drawn by inverting ``h`` at a Gamma(a + B, 1) draw,
``eps = sqrt(9 d) ((z~ / d)^(1/3) - 1)``: ``h`` is increasing, so this ``eps`` has
exactly the accepted density ``pi`` (the trick the authors recommend; it replaces the
rejection loop by one draw). ``Gamma(a, rate b)`` is ``z / b``; ``Beta(a, b) = g1 / (g1
+ g2)`` and ``Dirichlet(a) = g / sum_i g_i`` normalise independent standard Gammas
(taken in log space, so that a concentration of 0.01 does not underflow before the
normalisation), and ``g_cor`` sums the scores of every Gamma's ``eps``.

The score ``d/da log pi`` is taken in closed form, in float64 (``score``; float32 rounding
of its ``a log a``-sized terms biased it at ``a = 1000``), and enters through a surrogate
``f(z).detach() * score.detach() * a``, whose gradient in ``a`` is ``f(z) score``.

``correction=False`` drops ``g_cor``: biased, by ``-g_cor`` (the paper notes it is small
for large ``B``); measured and flagged biased like any biased estimator.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Beta, Dirichlet, Distribution, Gamma

from .base import Estimator, unwrap_independent

FAMILIES = (Gamma, Beta, Dirichlet)


def marsaglia_tsang_log(concentration: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``log h(eps, a) = log d + 3 log(1 + eps / sqrt(9 d))``, ``d = a - 1/3``."""
    d = concentration - 1.0 / 3.0
    return torch.log(d) + 3 * torch.log1p(eps * torch.rsqrt(9 * d))


def log_pi(concentration: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``log pi(eps; a)`` up to a constant in ``a``: ``log q(h; a) + log dh/deps`` with ``q`` the
    Gamma(a, 1) density and ``dh/deps = sqrt(d) (1 + eps c)^2``, ``c = 1 / sqrt(9 d)``."""
    d = concentration - 1.0 / 3.0
    log_v = torch.log1p(eps * torch.rsqrt(9 * d))
    log_h = torch.log(d) + 3 * log_v
    return ((concentration - 1) * log_h - torch.exp(log_h) - torch.lgamma(concentration)
            + 0.5 * torch.log(d) + 2 * log_v)


def score(concentration: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``d/da log pi(eps; a)`` at fixed ``eps``, in closed form (the derivative of ``log_pi``):
    with ``c' = -c / (2 d)``, ``v' = eps c'``, ``(log h)' = 1/d + 3 v'/v``,

        d/da log pi = log h + (a - 1 - h) (log h)' - digamma(a) + 1 / (2 d) + 2 v' / v.

    Closed form rather than autograd, so that the float64 work is one forward pass."""
    d = concentration - 1.0 / 3.0
    c = torch.rsqrt(9 * d)
    v = 1 + eps * c
    log_h = torch.log(d) + 3 * torch.log(v)
    dv_over_v = -eps * c / (2 * d * v)
    dlog_h = 1 / d + 3 * dv_over_v
    return (log_h + (concentration - 1 - torch.exp(log_h)) * dlog_h - torch.digamma(concentration)
            + 1 / (2 * d) + 2 * dv_over_v)


def standard_gamma_path(concentration: torch.Tensor, num_samples: int, boost: int,
                        correction: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log z`` for ``z ~ Gamma(a, 1)`` through the boosted Marsaglia-Tsang transform, in
    ``a``'s dtype and differentiable in ``a``, and (with ``correction``) the score
    ``d/da log pi(eps; a + B)`` in float64, detached; both ``(K, *a.shape)``.

    ``eps`` and the score are computed in float64 whatever ``a``'s dtype: ``log pi`` sums
    terms of size ``a log a`` whose derivative cancels to ``O(1 / sqrt(a))``, and in float32
    that rounding biased the correction term measurably at ``a = 1000`` (|z| = 7.5 at
    M = 100,000, ``continuous`` suite). The path to ``z`` stays in ``a``'s dtype, as torch's
    samplers do."""
    boosted = concentration + boost
    shape = (num_samples, *concentration.shape)
    with torch.no_grad():
        draw = Gamma(boosted.detach(), torch.ones_like(concentration)).sample((num_samples,))  # K x ...
        wide = boosted.detach().double()
        eps = torch.sqrt(9 * wide - 3) * (torch.pow(draw.double() / (wide - 1.0 / 3.0), 1.0 / 3.0) - 1)
        log_u = torch.log(torch.rand((boost, *shape), dtype=concentration.dtype, device=draw.device))
        grad_log_pi = score(wide, eps) if correction else None
    log_z = marsaglia_tsang_log(boosted, eps.to(concentration.dtype))
    if boost:
        offsets = torch.arange(boost, dtype=log_z.dtype, device=log_z.device)
        offsets = offsets.reshape(boost, *[1] * len(shape))
        log_z = log_z + (log_u / (concentration + offsets)).sum(0)  # prod_i u_i^(1/(a+i-1))
    return log_z, grad_log_pi


class RejectionReparam(Estimator):
    """Reparameterised Marsaglia-Tsang rejection sampler (RSVI), shape augmentation B, optional correction."""

    name = "rejection_reparam"
    options = {"correction": True, "boost": 1}
    families = ("Gamma", "Beta", "Dirichlet")

    def __init__(self, **options):
        super().__init__(**options)
        if not isinstance(self.config["correction"], bool):
            raise ValueError(f"correction must be True or False, got {self.config['correction']!r}")
        boost = self.config["boost"]
        if isinstance(boost, bool) or not isinstance(boost, int) or not 0 <= boost <= 100:
            raise ValueError(f"boost must be an integer in 0..100 (the shape augmentation B), got {boost!r}")
        # without its correction term the estimate is biased (by -g_cor)
        self.unbiased = self.config["correction"]

    def pathwise(self, distribution: Distribution) -> str:
        return "rejection"

    def check(self, distribution: Distribution) -> None:
        base, _ = unwrap_independent(distribution)
        if type(base) not in FAMILIES:
            raise ValueError(f"rejection_reparam applies to Gamma, Beta and Dirichlet only, got "
                             f"{type(base).__name__}; use reparam or score_function")
        smallest = min(float(c.detach().min()) for c in self.concentrations(base))
        if smallest + self.config["boost"] < 1:
            raise ValueError(f"rejection_reparam needs concentration + boost >= 1 (Marsaglia-Tsang's "
                             f"sampler), got concentration {smallest:g} with boost={self.config['boost']}; "
                             f"raise boost to {math.ceil(1 - smallest)} or more")

    @staticmethod
    def concentrations(base: Distribution) -> list[torch.Tensor]:
        if isinstance(base, Beta):
            return [base.concentration1, base.concentration0]
        return [base.concentration]

    def surrogate(self, problem, distribution, params, num_samples):
        base, _ = unwrap_independent(distribution)
        boost = self.config["boost"]
        correction = self.config["correction"]
        paths = [standard_gamma_path(c, num_samples, boost, correction) for c in self.concentrations(base)]
        if isinstance(base, Gamma):
            z = torch.exp(paths[0][0] - torch.log(base.rate))
        elif isinstance(base, Beta):
            z = torch.sigmoid(paths[0][0] - paths[1][0])
        else:
            z = torch.softmax(paths[0][0], dim=-1)
        cost = problem.cost(z, params)  # K x M x *factors
        if not correction:
            return cost.mean(0)
        # g_cor: f(z) d/da log pi per concentration, through a surrogate linear in a
        lead = cost.shape
        weight = cost.detach().double().reshape(*lead, 1)
        term = sum((weight * (grad * c).reshape(*lead, -1)).sum(-1)
                   for c, (_, grad) in zip(self.concentrations(base), paths))  # K x M x *factors
        return cost.mean(0) + term.mean(0)
