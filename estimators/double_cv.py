"""Double control variates: the leave-one-out baseline plus a Taylor control variate, for Bernoulli variables.

With ``b_1..b_K`` independent, ``b_k ~ Bernoulli(theta)``, ``theta = sigmoid(logits)``,
``f_k = f(b_k)``, ``g_k = grad_b f(b_k)`` (the cost's gradient in ``b``, at the binary
sample) and the score ``s_k = b_k - theta`` (of ``Bernoulli(sigmoid(logits))`` in the
logits), each sample's cost gets a linear control variate built from the *other*
samples' gradients::

    h_k = f_k + alpha gbar_{-k} . s_k,     gbar_{-k} = 1/(K-1) sum_{j != k} g_j,

and one estimate is the leave-one-out estimator of ``h`` minus the control variate's
expectation::

    est = 1/K sum_k (h_k - 1/(K-1) sum_{j != k} h_j) s_k - alpha gbar * theta (1 - theta),

``gbar = 1/K sum_k g_k`` (Titsias & Shi 2022, "Double Control Variates for Gradient
Estimation in Discrete Latent Variable Models", AISTATS, eqs. 11-13; code
thjashin/double-cv, ``grad_type="double_cv"``). Unbiased for every ``alpha``: for
``j != k``, ``E[h_j s_k] = 0`` (``s_k`` has mean 0 and is independent of ``b_j`` and of
the ``g_l`` in ``h_j`` other than ``g_k``, whose term carries ``s_j``, independent of
both); and ``E[h_k s_k] = grad F + alpha E[gbar_{-k}] theta (1 - theta)``, whose second
term the correction removes, ``E gbar = E gbar_{-k}``. The first control variate is the
leave-one-out baseline (Kool et al. 2019), the second the Taylor expansion of ``f``
about the other samples (the "global" part of the paper).

``alpha`` is state, adapted as REBAR's and RELAX's (``estimators.adaptive``): Adam steps
down the squared norm of its own estimates, starting from the option ``alpha`` (0, the
reference code's start: the leave-one-out estimator). It needs ``K >= 2`` and a cost
differentiable in ``b`` (evaluated at binary ``b``); a problem whose cost is not is refused
in one line naming it. Each sample costs two evaluations: ``f`` and its gradient
(``Estimator.evaluations``). A cost that depends on the parameters adds its pathwise term.
"""
from __future__ import annotations

import math

import torch

from .adaptive import AdaptiveEstimator
from .base import BernoulliEstimator, unwrap_independent


def gradient_in_b(problem, b: torch.Tensor, params) -> tuple[torch.Tensor, torch.Tensor]:
    """``f(b)`` (with its graph, for the pathwise term) and ``grad_b f(b)`` (detached), batched.

    Each entry of the cost depends on its own row of ``b`` only, so the gradient of the
    summed cost is the per-row gradient. ``ValueError`` naming the problem where the cost
    is not differentiable in ``b``.
    """
    leaf = b.detach().requires_grad_(True)
    cost = problem.cost(leaf, params)
    refusal = (f"double_cv needs a cost differentiable in the binary sample b; the cost of "
               f"{getattr(problem, 'label', type(problem).__name__)} is not")
    try:
        (grad,) = torch.autograd.grad(cost.sum(), leaf, retain_graph=True, allow_unused=True)
    except RuntimeError:
        raise ValueError(refusal) from None
    if grad is None:
        raise ValueError(refusal)
    return cost, grad.detach()


class DoubleCV(BernoulliEstimator, AdaptiveEstimator):
    """Leave-one-out baseline plus the others' Taylor control variate, its weight adapted (unbiased, Bernoulli)."""

    name = "double_cv"
    options = {"alpha": 0.0}
    #: cost evaluations per sample: f and its gradient in b
    evaluations_per_sample = 2

    def __init__(self, **options):
        super().__init__(**options)
        alpha = self.config["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        self.config["alpha"] = float(alpha)
        self.init_state({"alpha": torch.tensor(self.config["alpha"])})

    def check_num_samples(self, num_samples: int) -> None:
        if num_samples < 2:
            raise ValueError(f"double_cv needs num_samples >= 2 (each sample's control variates "
                             f"are built from the others), got num_samples={num_samples}")

    def surrogate(self, problem, distribution, params, num_samples):
        base, _ = unwrap_independent(distribution)
        logits = base.logits  # M x factors x D, a function of params
        self.move_state(logits)
        alpha = self.state["alpha"]
        with torch.no_grad():
            b = distribution.sample((num_samples,))  # K x M x factors x D
            theta = torch.sigmoid(logits)
        cost, grad = gradient_in_b(problem, b, params)  # K x M x factors, K x ... x D
        score = b - theta
        total = grad.sum(0, keepdim=True)
        others = (total - grad) / (num_samples - 1)  # gbar_{-k}
        # a factor's latent may span several event dims (a multi-sample objective's K x L)
        events = len(distribution.event_shape)
        over_event = lambda x: x.flatten(-events).sum(-1) if events else x
        # alpha stays live (its adapt step differentiates the estimate in it); the rest is data
        h = cost.detach() + alpha * over_event(others * score)
        centred = h - (h.sum(0, keepdim=True) - h) / (num_samples - 1)
        centred = centred.reshape(*centred.shape, *[1] * events)
        estimate = (centred * score).mean(0) - alpha * grad.mean(0) * theta * (1 - theta)
        return over_event(estimate * logits) + cost.mean(0)
