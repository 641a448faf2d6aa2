"""Measure-valued gradient estimator for diagonal Gaussians and the Gamma's rate (weak derivatives).

The derivative of a density is written as a scaled difference of two
densities, ``d/dtheta_i q(z) = c_i (q+_i(z) - q-_i(z))``, so that
``d/dtheta_i E_q f = c_i (E_{q+_i} f - E_{q-_i} f)`` (Mohamed, Rosca,
Figurnov & Mnih 2020, "Monte Carlo Gradient Estimation in Machine
Learning", JMLR, section 6, table 1). For ``z_i ~ N(mu_i, sigma_i^2)``,
with the other coordinates held at a draw ``z ~ q``:

* mean (Weibull pair): ``c = 1 / (sigma sqrt(2 pi))``,
  ``z_i+ = mu + sigma W1``, ``z_i- = mu - sigma W2``, ``W ~ Weibull(scale=sqrt 2,
  concentration=2)`` (the Rayleigh density ``w exp(-w^2/2)``);
* scale (double-sided Maxwell against Gaussian): ``c = 1 / sigma``,
  ``z_i+ = mu + sigma V``, ``V`` double-sided Maxwell (density
  ``v^2 exp(-v^2/2) / sqrt(2 pi)``), ``z_i- = mu + sigma eps``, ``eps ~ N(0, 1)``.

``coupling=True`` draws the two parts from common random numbers (section
7.2): ``W2 = W1``, and ``eps = V U`` with ``U ~ U(0, 1)``, which is N(0, 1)
when ``V`` is double-sided Maxwell. Each part is still drawn from its own
density, so the estimator stays unbiased; only their correlation changes.

Cost: two evaluations of ``f`` per coordinate per sample for each of the
two parameters, ``4 D`` evaluations per sample in ``D`` dimensions, made in
one batched call of the cost on ``4 D`` perturbed copies of each sample.
Gamma, rate ``b`` (shape ``a`` fixed). With the scale ``theta = 1 / b``, Mohamed et al.
(2020, table 1) give ``d/dtheta Gamma(z; a, theta) = (a / theta) (Gamma(z; a + 1, theta) -
Gamma(z; a, theta))``. In the rate form, from ``q = b^a z^(a-1) e^(-b z) / Gamma(a)``:
``dq/db = q (a / b - z) = (a / b) (q - (b / a) z q)``, and ``(b / a) z q`` is the
``Gamma(a + 1, rate b)`` density, so

    d/db E f = (a / b) (E_{Gamma(a, b)} f - E_{Gamma(a + 1, b)} f)

(the scale form times ``dtheta/db = -1 / b^2``). ``coupling=True`` draws the negative
part as ``z + e``, ``e ~ Exponential(b)`` (a Gamma(a + 1) is a Gamma(a) plus an
independent Gamma(1)), its positive part being the draw ``z`` itself; ``False`` draws
both parts afresh. The Gamma's shape has no known weak derivative of this form (nor
have the Beta's and the Dirichlet's concentrations): an estimate asked for one is
refused, naming the parameter (``suites.problems.get("gamma", wrt="rate")`` differentiates
the rate only).

Other parameterisations of the scale (``log_scale``) follow by the chain
rule, as the estimate is taken w.r.t. the Normal's ``loc`` and ``scale``.
A cost that depends on theta directly adds its pathwise term
``grad_theta f(z; theta)``, averaged over the ``D`` copies of the negative
scale part (each a draw from ``q``).
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Beta, Chi2, Dirichlet, Distribution, Exponential, Gamma, Normal, Uniform, Weibull

from .base import Estimator, replicate, unwrap_independent


def weibull_rayleigh(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Draws of density ``w exp(-w^2 / 2)`` on ``w > 0`` (Weibull, scale sqrt 2, concentration 2)."""
    one = torch.ones((), dtype=like.dtype, device=like.device)
    return Weibull(one * math.sqrt(2.0), one * 2.0).sample(shape)


def double_sided_maxwell(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Draws of density ``v^2 exp(-v^2 / 2) / sqrt(2 pi)``: ``+-sqrt(chi^2_3)`` with a fair sign."""
    one = torch.ones((), dtype=like.dtype, device=like.device)
    radius = Chi2(one * 3.0).sample(shape).sqrt()
    sign = torch.where(Uniform(one * 0, one).sample(shape) < 0.5, -one, one)
    return sign * radius


def perturbed_copies(z: torch.Tensor, values: torch.Tensor, event_ndims: int) -> torch.Tensor:
    """Copies of ``z`` with one event coordinate each replaced by ``values`` at that coordinate.

    ``z``: ``(*S, *event)``; ``values``: ``(P, *S, *event)``. Returns
    ``(P, D, *S, *event)`` with ``D`` the event size: copy ``(p, i)`` is ``z``
    with flat coordinate ``i`` set to ``values[p]``'s.
    """
    event = z.shape[z.dim() - event_ndims:]
    size = math.prod(event)
    lead = z.shape[: z.dim() - event_ndims]
    eye = torch.eye(size, dtype=torch.bool, device=z.device)
    eye = eye.reshape(size, *([1] * len(lead)), size)  # D x 1... x D
    flat_z = z.reshape(*lead, size)
    flat_v = values.reshape(values.shape[0], 1, *lead, size)
    copies = torch.where(eye, flat_v, flat_z)  # P x D x *S x D
    return copies.reshape(values.shape[0], size, *lead, *event)


class MeasureValued(Estimator):
    """Measure-valued derivative: Gaussian (Weibull, Maxwell-Gaussian pairs), Gamma rate (Gamma(a) - Gamma(a+1))."""

    name = "measure_valued"
    options = {"coupling": True}
    families = ("Normal", "Gamma")

    def copies_per_sample(self, problem) -> int:
        # 2 evaluations x (loc, scale) x D coordinates, each on a full copy of the sample
        return 4 * sum(p.numel() for p in problem.params.values()) // 2

    def evaluations(self, problem, num_samples: int) -> int:
        """``4 D`` a sample: the positive and negative parts for each coordinate of loc and scale."""
        return num_samples * self.copies_per_sample(problem)

    def __init__(self, **options):
        super().__init__(**options)
        if not isinstance(self.config["coupling"], bool):
            raise ValueError(f"coupling must be True or False, got {self.config['coupling']!r}")

    def applies_to(self, problem) -> bool:
        """Whether it runs: checked on the parameters as a call differentiates them (a Gamma's
        shape is refused only where it is a parameter, which ``requires_grad`` tells)."""
        try:
            self.check(problem.distribution(replicate(problem.params, 1)))
        except ValueError:
            return False
        return True

    def check(self, distribution: Distribution) -> None:
        base, _ = unwrap_independent(distribution)
        if type(base) is Gamma and base.concentration.requires_grad:
            raise ValueError(
                "measure_valued knows no weak derivative for the Gamma's concentration (its shape); "
                "differentiate the rate only (gamma with wrt='rate'), or use reparam, "
                "rejection_reparam or score_function")
        if type(base) in (Beta, Dirichlet):
            names = "concentration1" if type(base) is Beta else "concentration"
            raise ValueError(
                f"measure_valued knows no weak derivative for the {type(base).__name__}'s {names}; "
                f"use reparam, rejection_reparam or score_function")
        if type(base) not in (Normal, Gamma):
            raise ValueError(
                f"measure_valued applies to diagonal Gaussians (Normal, or Independent Normal) "
                f"and the Gamma's rate only, got {type(base).__name__}; use score_function or reparam")

    def surrogate(self, problem, distribution, params, num_samples):
        base, event_ndims = unwrap_independent(distribution)
        if type(base) is Gamma:
            return self.gamma_surrogate(problem, base, event_ndims, params, num_samples)
        loc, scale = base.loc, base.scale  # (M, *factors, *event), in the graph of params
        shape = (num_samples, *loc.shape)
        with torch.no_grad():
            mu, sigma = loc.detach(), scale.detach()
            z = mu + sigma * Normal(torch.zeros_like(mu), 1.0).sample((num_samples,))
            w_pos = weibull_rayleigh(shape, mu)
            w_neg = w_pos if self.config["coupling"] else weibull_rayleigh(shape, mu)
            v = double_sided_maxwell(shape, mu)
            if self.config["coupling"]:
                eps = v * Uniform(torch.zeros_like(mu), 1.0).sample((num_samples,))
            else:
                eps = Normal(torch.zeros_like(mu), 1.0).sample((num_samples,))
            values = torch.stack([mu + sigma * w_pos, mu - sigma * w_neg,
                                  mu + sigma * v, mu + sigma * eps])  # 4 x K x M x ... x event
            copies = perturbed_copies(z, values, event_ndims)  # 4 x D x K x M x ... x event
            size = copies.shape[1]
        # One batched cost call over the 4 D K perturbed samples; copies lead as sample dims.
        cost = problem.cost(copies.reshape(-1, *copies.shape[2 + 1:]), params)
        cost = cost.reshape(4, size, num_samples, *cost.shape[1:])  # 4 x D x K x M x *factors
        f = cost.detach().mean(2)  # 4 x D x M x *factors
        # Put the coordinate axis back as the event: (M, *factors, *event).
        event = loc.shape[loc.dim() - event_ndims:]
        diff_loc = f[0] - f[1]
        diff_scale = f[2] - f[3]
        diff_loc = diff_loc.movedim(0, -1).reshape(loc.shape[: loc.dim() - event_ndims] + event)
        diff_scale = diff_scale.movedim(0, -1).reshape(diff_loc.shape)
        grad_loc = diff_loc / (sigma * math.sqrt(2 * math.pi))
        grad_scale = diff_scale / sigma
        weak = loc * grad_loc + scale * grad_scale
        if event_ndims:
            weak = weak.sum(tuple(range(-event_ndims, 0)))
        pathwise = cost[3].mean((0, 1))  # M x *factors: zero gradient unless f depends on theta
        return weak + pathwise

    def gamma_surrogate(self, problem, base, event_ndims, params, num_samples):
        """The Gamma's rate: ``(a / b) (f(z with z_i ~ Gamma(a, b)) - f(z with z_i ~ Gamma(a + 1, b)))``."""
        rate = base.rate  # (M, *factors, *event), in the graph of params
        with torch.no_grad():
            a, b = base.concentration.detach(), rate.detach()
            z = Gamma(a, b).sample((num_samples,))  # K x M x ... x event
            if self.config["coupling"]:
                positive, negative = z, z + Exponential(b).sample((num_samples,))
            else:
                positive, negative = Gamma(a, b).sample((num_samples,)), Gamma(a + 1, b).sample((num_samples,))
            copies = perturbed_copies(z, torch.stack([positive, negative]), event_ndims)  # 2 x D x K x M x ...
            size = copies.shape[1]
        cost = problem.cost(copies.reshape(-1, *copies.shape[3:]), params)
        cost = cost.reshape(2, size, num_samples, *cost.shape[1:])  # 2 x D x K x M x *factors
        f = cost.detach().mean(2)  # 2 x D x M x *factors
        event = rate.shape[rate.dim() - event_ndims:]
        diff = (f[0] - f[1]).movedim(0, -1).reshape(rate.shape[: rate.dim() - event_ndims] + event)
        weak = rate * (a / b) * diff
        if event_ndims:
            weak = weak.sum(tuple(range(-event_ndims, 0)))
        pathwise = cost[0].mean((0, 1))  # M x *factors: zero gradient unless f depends on theta
        return weak + pathwise
