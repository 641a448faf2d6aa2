"""Independent Bernoullis with the quadratic cost of the REBAR/RELAX toy problem.

``b_i ~ Bernoulli(sigmoid(logits_i))`` and ``f(b) = sum_i (b_i - t)^2``.
With ``p = sigmoid(logits)``:

    F = sum_i [ p_i (1 - t)^2 + (1 - p_i) t^2 ],
    dF/dlogits_i = p_i (1 - p_i) (1 - 2 t).

With ``t = 0.499`` the gradient is tiny next to the estimators' noise: the
toy of Tucker et al. 2017 (REBAR) and Grathwohl et al. 2018 (RELAX). The
cost is defined on [0, 1] so relaxed estimators can evaluate it at
non-binary ``z``. The default ``logits = 1`` (``p = 0.73``) keeps off the
symmetric point ``p = 1/2``, where the binary Concrete relaxation happens to
be nearly unbiased and would hide the bias a user meets in practice.
"""
from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Independent

from suites.problems.base import Problem, check_dim, check_finite, plain, vector


class BernoulliToy(Problem):
    """Independent Bernoulli(logits); cost sum (b - t)^2; closed-form gradient."""

    name = "bernoulli"

    def __init__(self, dim: int = 10, target: float = 0.499, logits=1.0, probs=None):
        dim = check_dim(dim)
        self.target = check_finite("target", target)
        if probs is not None:
            logits_t = torch.logit(vector("probs", probs, dim, open_unit=True))
        else:
            logits_t = vector("logits", logits, dim)
        self.params = {"logits": logits_t}
        self.config = {"dim": dim, "target": self.target,
                       "logits": plain(logits) if probs is None else None,
                       "probs": plain(probs)}

    def distribution(self, params):
        return Independent(Bernoulli(logits=params["logits"], validate_args=False), 1)

    def cost(self, z, params):
        return ((z - self.target) ** 2).sum(-1)

    def expectation(self, params):
        p = torch.sigmoid(params["logits"])
        t = self.target
        return (p * (1 - t) ** 2 + (1 - p) * t**2).sum()
