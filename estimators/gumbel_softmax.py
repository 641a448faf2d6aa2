"""Gumbel-softmax / Concrete relaxation for Bernoulli and one-hot categorical variables.

A Bernoulli(sigmoid(logits)) sample is ``H(logits + L)`` with logistic noise
``L = log U - log(1 - U)``; the relaxation replaces the step ``H`` by
``sigmoid((logits + L) / tau)`` (Maddison, Mnih & Teh 2017, "The Concrete
Distribution"; Jang, Gu & Poole 2017, "Categorical Reparameterization with
Gumbel-Softmax"), sampled here by ``torch.distributions.RelaxedBernoulli``.
One estimate is ``1/K sum_k grad f(sigmoid((logits + L_k) / tau))``. It is
the gradient of a *different* objective, so it is **biased** for every
``tau > 0``; the bias vanishes as ``tau -> 0`` while the variance grows.

``straight_through_gumbel`` evaluates ``f`` at the hard sample
``H(logits + L)`` and back-propagates through the relaxed one
(``z_hard + z_soft - stop_grad(z_soft)``; Bengio et al. 2013, Jang et al.
2017 section 2.2): also biased, even as ``tau -> 0``.

One-hot categorical variables (``OneHotCategorical``) are relaxed the same
way by ``RelaxedOneHotCategorical``: ``softmax((logits + G) / tau)`` with
i.i.d. Gumbel noise ``G``, whose argmax is an exact categorical sample
(Jang et al. 2017, eq. 1-2); straight-through takes that argmax as the hard
one-hot sample. Bernoulli variables keep the binary Concrete above (the
two-class case written with one logit), so their numbers are unchanged.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import (Bernoulli, Distribution, Independent, OneHotCategorical,
                                 RelaxedBernoulli, RelaxedOneHotCategorical)

from .base import Estimator, unwrap_independent
from .registry import OptionTypeError


def check_temperature(temperature) -> float:
    """``temperature`` as a float, or ``ValueError`` if it is not finite and > 0 (``TypeError``
    for a flag, which Python would take for 1)."""
    if isinstance(temperature, bool):
        raise OptionTypeError(f"temperature must be a number > 0, got the flag {temperature!r}")
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return value


#: The discrete families the Gumbel estimators relax.
DISCRETE_FAMILIES = (Bernoulli, OneHotCategorical)


def check_discrete(name: str, distribution: Distribution) -> None:
    """``ValueError`` unless ``distribution`` is (independent) Bernoulli or one-hot categorical."""
    base, _ = unwrap_independent(distribution)
    if not isinstance(base, DISCRETE_FAMILIES):
        raise ValueError(
            f"{name} applies to Bernoulli and OneHotCategorical variables only, got "
            f"{type(base).__name__}; use reparam or score_function for continuous families")


def relax(distribution: Distribution, temperature: float) -> Distribution:
    """The (binary) Concrete distribution with the same logits and event shape."""
    base, ndims = unwrap_independent(distribution)
    tau = torch.tensor(temperature, dtype=base.logits.dtype, device=base.logits.device)
    family = RelaxedBernoulli if isinstance(base, Bernoulli) else RelaxedOneHotCategorical
    relaxed = family(tau, logits=base.logits, validate_args=False)
    return Independent(relaxed, ndims) if ndims else relaxed


def hard_sample(soft: torch.Tensor, distribution: Distribution) -> torch.Tensor:
    """The discrete sample a relaxed one rounds to: an exact draw of ``distribution``.

    Binary: ``soft > 1/2`` exactly when ``logits + L > 0``. One-hot: the argmax of
    ``softmax((logits + G) / tau)`` is that of ``logits + G`` (the Gumbel-max trick).
    """
    base, _ = unwrap_independent(distribution)
    if isinstance(base, Bernoulli):
        return (soft > 0.5).to(soft.dtype)
    index = soft.argmax(-1, keepdim=True)
    return torch.zeros_like(soft).scatter_(-1, index, 1.0)


class GumbelSoftmax(Estimator):
    """Pathwise gradient through the (binary) Concrete relaxation (biased)."""

    name = "gumbel_softmax"
    options = {"temperature": 1.0}
    unbiased = False
    families = ("Bernoulli", "OneHotCategorical")

    def check(self, distribution: Distribution) -> None:
        check_discrete(self.name, distribution)

    def __init__(self, **options):
        super().__init__(**options)
        self.config["temperature"] = check_temperature(self.config["temperature"])

    def relaxed_sample(self, distribution: Distribution, num_samples: int) -> torch.Tensor:
        return relax(distribution, self.config["temperature"]).rsample((num_samples,))

    def surrogate(self, problem, distribution, params, num_samples):
        z = self.relaxed_sample(distribution, num_samples)  # K x M x event
        return problem.cost(z, params).mean(0)


class StraightThroughGumbel(GumbelSoftmax):
    """Hard discrete sample forward, relaxed gradient backward (biased)."""

    name = "straight_through_gumbel"

    def relaxed_sample(self, distribution: Distribution, num_samples: int) -> torch.Tensor:
        soft = super().relaxed_sample(distribution, num_samples)
        hard = hard_sample(soft.detach(), distribution)
        return hard + (soft - soft.detach())
