"""Independent one-hot categoricals with a quadratic cost on the class values.

``z_i ~ OneHotCategorical(softmax(logits_i))`` for ``i = 1..dim``, each over
``C = num_classes`` classes with values ``v_c = c / (C - 1)`` in [0, 1], and

    f(z) = sum_i (z_i . v - t)^2.

For a one-hot ``z_i`` the cost is ``sum_c z_ic (v_c - t)^2``, so with ``p =
softmax(logits)`` and ``a_c = (v_c - t)^2``:

    F = sum_i sum_c p_ic a_c,
    dF/dlogits_ic = p_ic (a_c - sum_k p_ik a_k).

The cost is defined on the whole simplex, so relaxed estimators (Gumbel-softmax,
``RelaxedOneHotCategorical``) can evaluate it at non-one-hot ``z``; there it
is quadratic, not linear, which is what makes them biased. With two classes
it is the ``bernoulli`` toy written with two logits. The default logits
``linspace(-1, 1, C)`` and ``t = 0.3`` keep the gradient well away from
zero (every entry is at least 0.02 in size at the defaults, C = 3), unlike the
``t = 0.499`` of the binary toy.

``cost="mean_square"`` is a cost that does not separate over the variables (where
IndeCateR, exact on the sum above, has variance)::

    f(z) = (S - t)^2,   S = 1/D sum_i s_i,   s_i = z_i . v.

The ``s_i`` are independent with mean ``mu_i = sum_c p_ic v_c`` and variance
``sigma_i^2 = m_i - mu_i^2``, ``m_i = sum_c p_ic v_c^2``, so ``E S = mean_i mu_i`` and
``Var S = sum_i sigma_i^2 / D^2``, and

    F = (mean_i mu_i - t)^2 + 1/D^2 sum_i (m_i - mu_i^2).

With ``d mu_i / d logits_ic = p_ic (v_c - mu_i)`` and ``d m_i / d logits_ic = p_ic (v_c^2 - m_i)``
(the softmax Jacobian ``d p_ik / d logits_ic = p_ik (1[k = c] - p_ic)``)::

    dF/dlogits_ic = 2 (mean_j mu_j - t) / D * p_ic (v_c - mu_i)
                    + 1/D^2 [ p_ic (v_c^2 - m_i) - 2 mu_i p_ic (v_c - mu_i) ].

``exact_gradient`` is autograd of ``F`` in float64, which is this formula; the
configuration names ``cost`` only where it is not the default ``square`` (so the
rows of the square cost keep the configuration they always had).
"""
from __future__ import annotations

import torch
from torch.distributions import Independent, OneHotCategorical

from suites.problems.base import Problem, check_choice, check_dim, check_finite, check_numbers, plain

COSTS = ("square", "mean_square")


def class_logits(logits, dim: int, num_classes: int) -> torch.Tensor:
    """``(dim, num_classes)`` float32 logits from ``None`` (linspace(-1, 1, C)), one row, or a full table."""
    if logits is None:
        row = torch.linspace(-1.0, 1.0, num_classes)
        return row.expand(dim, num_classes).clone()
    try:
        tensor = torch.as_tensor(logits, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"logits must be a list of {num_classes} numbers or a {dim} x {num_classes} "
                         f"table, got {logits!r}") from None
    if tensor.shape not in ((num_classes,), (dim, num_classes)):
        raise ValueError(f"logits must have shape ({num_classes},) or ({dim}, {num_classes}), "
                         f"got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"logits must be finite, got {logits!r}")
    return tensor.expand(dim, num_classes).clone()


class Categorical(Problem):
    """Independent one-hot categoricals(logits); cost sum (z . v - t)^2 or (mean z . v - t)^2; closed-form gradient."""

    name = "categorical"

    def __init__(self, dim: int = 10, num_classes: int = 3, target: float = 0.3, logits=None,
                 cost: str = "square"):
        dim = check_dim(dim)
        num_classes = check_dim(num_classes, "num_classes")
        if num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        check_numbers(f"dim={dim:,} x num_classes={num_classes:,} logits", dim * num_classes)
        self.target = check_finite("target", target)
        self.params = {"logits": class_logits(logits, dim, num_classes)}
        self.values = torch.linspace(0.0, 1.0, num_classes)  # v_c = c / (C - 1)
        self.config = {"dim": dim, "num_classes": num_classes, "target": self.target,
                       "logits": plain(logits)}
        self.cost_kind = check_choice("cost", cost, COSTS)
        if cost != "square":
            self.config["cost"] = cost

    def distribution(self, params):
        return Independent(OneHotCategorical(logits=params["logits"], validate_args=False), 1)

    def cost(self, z, params):  # K x B x dim x C -> K x B
        values = z @ self.values.to(z.dtype)
        if self.cost_kind == "mean_square":
            return (values.mean(-1) - self.target) ** 2
        return ((values - self.target) ** 2).sum(-1)

    def expectation(self, params):
        p = torch.softmax(params["logits"], -1)
        v = self.values.to(p.dtype)
        if self.cost_kind == "mean_square":
            mu, second = p @ v, p @ v**2
            return (mu.mean() - self.target) ** 2 + (second - mu**2).sum() / mu.numel() ** 2
        return (p @ (v - self.target) ** 2).sum()
