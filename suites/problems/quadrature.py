"""Expectations under Gamma and Beta marginals by the trapezoid rule, in float64.

For costs without a closed-form expectation the exact gradient is autograd of a
quadrature whose nodes are held fixed (the integral over fixed limits of
``c(z) p(z; theta)``, differentiated under the integral sign):

* ``z ~ Gamma(a, rate b)`` in ``t = log z``: the density of ``t`` is
  ``p(t) = exp(a t + a log b - b e^t - lgamma(a))``, smooth and log-concave
  for every ``a > 0``, mode ``t* = log(a / b)``, curvature ``-a`` there;
  tails ``~ exp(a t)`` (left) and ``exp(-b e^t)`` (right);
* ``z ~ Beta(a, b)`` in ``t = logit z``: ``p(t) = exp(-a softplus(-t) - b
  softplus(t) - lbeta(a, b))``, log-concave, mode ``log(a / b)``, curvature
  ``-ab / (a + b)``, tails ``~ exp(a t)`` and ``exp(-b t)``.

Both integrands are analytic in a strip about the real line (``|Im t| < pi/2``
for the Gamma, ``< pi`` for the Beta's softplus), where the trapezoid rule
converges geometrically, with error ``O(exp(-2 pi d / h))`` for step ``h`` and
strip half-width ``d`` (Trefethen & Weideman 2014, "The exponentially
convergent trapezoidal rule", SIAM Review 56(3), section 5). The limits cut
tails of relative mass below ``e^-45``: ``45 / a`` to the left of the mode
(``45 / b`` to the right for the Beta) plus 12 standard deviations of the
Gaussian approximation at the mode; the step is ``min(0.1, sd / 5)``. In
logit/log space the ``z^(a-1)`` singularity of a small concentration becomes
a slowly decaying tail, so one rule holds from ``a = 0.01`` to ``1000``.
Measured against ``scipy.integrate.quad`` (``tests/test_continuous.py``) for
``log1p(2 z)`` (Gamma) and ``cos(3 z)`` (Beta), value and gradient: relative
error below ``1e-7`` for concentrations in [0.1, 100] and below ``1e-5`` in
[0.01, 1000]; the larger ones where the gradient is 10^4 to 10^6 times smaller
than the terms ``c(z) d log p`` it sums (cancellation in float64, in either code).
At 0.001 (where ``quad`` no longer converges) the rule agrees with itself at a step 5
times smaller and tails twice as long to 14 digits.
"""
from __future__ import annotations

from typing import Callable

import torch

TAIL = 45.0
SIGMAS = 12.0
MAX_STEP = 0.1
STEPS_PER_SIGMA = 5.0

Cost = Callable[[torch.Tensor], torch.Tensor]


def nodes(lo: torch.Tensor, hi: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Equispaced nodes ``(*S, N)`` from ``lo`` to ``hi`` per element and their spacing ``(*S,)``:
    the same ``N`` for every element, the largest any needs at its ``step``."""
    count = int(torch.ceil(((hi - lo) / step).max()).item()) + 1
    frac = torch.linspace(0.0, 1.0, count, dtype=torch.float64, device=lo.device)
    return lo[..., None] + (hi - lo)[..., None] * frac, (hi - lo) / (count - 1)


def gamma_expectation(cost: Cost, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E c(z)`` for ``z ~ Gamma(a, rate b)`` elementwise (float64, differentiable in a and b)."""
    a, b = torch.broadcast_tensors(a.double(), b.double())
    with torch.no_grad():
        sd = a.rsqrt()
        mode = torch.log(a / b)
        lo = mode - TAIL / a - SIGMAS * sd
        hi = torch.log((a + SIGMAS * a.sqrt() + TAIL) / b)
        t, h = nodes(lo, hi, (sd / STEPS_PER_SIGMA).clamp(max=MAX_STEP))
    a, b = a[..., None], b[..., None]
    log_p = a * t + a * torch.log(b) - b * torch.exp(t) - torch.lgamma(a)
    return h * (cost(torch.exp(t)) * torch.exp(log_p)).sum(-1)


def beta_expectation(cost: Cost, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``E c(z)`` for ``z ~ Beta(a, b)`` elementwise (float64, differentiable in a and b)."""
    a, b = torch.broadcast_tensors(a.double(), b.double())
    with torch.no_grad():
        sd = torch.sqrt((a + b) / (a * b))
        mode = torch.log(a / b)
        lo = mode - TAIL / a - SIGMAS * sd
        hi = mode + TAIL / b + SIGMAS * sd
        t, h = nodes(lo, hi, (sd / STEPS_PER_SIGMA).clamp(max=MAX_STEP))
    a, b = a[..., None], b[..., None]
    log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    # a log sigmoid(t) + b log sigmoid(-t): no cancellation of two large terms in the tails
    softplus = torch.nn.functional.softplus
    log_p = -a * softplus(-t) - b * softplus(t) - log_beta
    return h * (cost(torch.sigmoid(t)) * torch.exp(log_p)).sum(-1)


__all__ = ["gamma_expectation", "beta_expectation", "nodes"]
