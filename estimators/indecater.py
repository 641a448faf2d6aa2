"""IndeCateR: the independent categorical REINFORCE, for Bernoulli and one-hot categorical variables.

For ``z = (z_1..z_D)`` with independent ``z_d ~ Cat(p_d)``, ``p_d = softmax(theta_d)``,
the CatLog-derivative trick sums each dimension's categories exactly and samples
only the others::

    grad F = sum_d E_z [ sum_c grad p_dc f(z_{-d}, z_d = c) ],

so with samples ``z^1..z^K`` one estimate is, per dimension ``d`` and category ``j``
(``grad_{theta_dj} p_dc = p_dc (1[c = j] - p_dj)``)::

    g_dj = 1/K sum_k p_dj ( f_kdj - sum_c p_dc f_kdc ),   f_kdc = f(z^k_{-d}, z_d = c)

(De Smet, Sansone & Zuidberg Dos Martires 2023, "Differentiable Sampling of Categorical
Distributions Using the CatLog-Derivative Trick", NeurIPS, eq. 9 "IndeCateR"; code
ML-KULeuven/catlog). It is unbiased, and exact (variance 0) on a separable cost
``f(z) = sum_d h_d(z_d)``: then ``f_kdj - sum_c p_dc f_kdc = h_d(j) - E h_d`` for
every sample. A Bernoulli is the case ``C = 2`` written with one logit:
``g_d = p_d (1 - p_d) (f_kd1 - f_kd0)``.

Cost accounting: each sample evaluates ``f`` at ``D x C`` points (every dimension set to
every category; one of them is the sample itself, and the paper counts it), so one
estimate of ``K`` samples costs ``K x D x C`` evaluations (``evaluations``): what
``advise``, the verdict and the report charge it. ``D`` and ``C`` are per factor (a
VAE's data points are evaluated together in each of those calls). A cost that depends on
the parameters adds its pathwise term at the sampled ``z``.
"""
from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Distribution, OneHotCategorical

from .base import Estimator, unwrap_independent


def shape_of(distribution: Distribution) -> tuple[int, int]:
    """``(D, C)``: the variables of one factor and their categories (2 for a Bernoulli)."""
    base, event_ndims = unwrap_independent(distribution)
    if isinstance(base, Bernoulli):
        shape = base.logits.shape[base.logits.dim() - event_ndims:]
        return int(torch.Size(shape).numel()), 2
    # a one-hot categorical's own event dim (the categories) is not one ``Independent`` adds
    shape = base.logits.shape[base.logits.dim() - event_ndims - 1:]  # (*dims, C)
    return int(torch.Size(shape[:-1]).numel()), int(shape[-1])


def replaced(z: torch.Tensor, categories: torch.Tensor, event_ndims: int) -> torch.Tensor:
    """``z`` with each of its ``D`` variables set to each category in turn.

    ``z``: ``(*S, D)`` (Bernoulli) or ``(*S, D, C)`` (one-hot), ``event_ndims`` of them the
    variables (and categories); ``categories``: ``(C,)`` values or ``(C, C)`` one-hot rows.
    Returns ``(D, C, *S, D[, C])`` with ``[d, c]`` equal to ``z`` but for variable ``d`` = ``c``.
    """
    size, count = z.shape[-event_ndims], categories.shape[0]
    lead = z.dim() - event_ndims
    eye = torch.eye(size, dtype=torch.bool, device=z.device)
    tail = event_ndims - 1  # the one-hot axis
    mask = eye.reshape(size, 1, *([1] * lead), size, *([1] * tail))
    value = categories.reshape(1, count, *([1] * lead), 1, *categories.shape[1:])
    return torch.where(mask, value, z.unsqueeze(0).unsqueeze(0))


class IndeCateR(Estimator):
    """Exact sum over each variable's categories, the others sampled (unbiased; Bernoulli, categorical)."""

    name = "indecater"
    families = ("Bernoulli", "OneHotCategorical")

    def check(self, distribution: Distribution) -> None:
        base, event_ndims = unwrap_independent(distribution)
        bernoulli = isinstance(base, Bernoulli) and event_ndims == 1
        categorical = isinstance(base, OneHotCategorical) and event_ndims == 1
        if not (bernoulli or categorical):
            raise ValueError(
                f"indecater applies to a vector of independent Bernoulli or one-hot categorical "
                f"variables (one event dim), got {type(base).__name__} with {event_ndims} "
                f"reinterpreted dims; use score_function for other families")

    def evaluations(self, problem, num_samples: int) -> int:
        """``K x D x C``: every sample sets each of ``D`` variables to each of ``C`` categories."""
        return num_samples * self.copies_per_sample(problem)

    def copies_per_sample(self, problem) -> int:
        """``D x C`` points a sample evaluates the cost at (``ValueError`` where it does not apply)."""
        distribution = problem.distribution(problem.params)
        self.check(distribution)
        size, count = shape_of(distribution)
        return size * count

    def surrogate(self, problem, distribution, params, num_samples):
        base, _ = unwrap_independent(distribution)
        bernoulli = isinstance(base, Bernoulli)
        with torch.no_grad():
            z = distribution.sample((num_samples,))  # K x M x factors x D [x C]
        # The estimate is made of differences of costs that differ in one variable of D:
        # in float32 their rounding (relative to the cost, not to the difference) is a bias
        # of ~1e-8 that a zero-variance estimate (a separable cost) shows at z >> 5. The
        # costs are evaluated in float64; the gradient flows back in the parameters' dtype.
        dtype, device = torch.float64, z.device
        if bernoulli:
            categories = torch.tensor([0.0, 1.0], dtype=dtype, device=device)
            probs = torch.stack([1 - base.probs, base.probs], -1)  # M x factors x D x 2
            event_ndims = 1
        else:
            categories = torch.eye(z.shape[-1], dtype=dtype, device=device)
            probs = base.probs  # M x factors x D x C
            event_ndims = 2
        points = replaced(z.to(dtype), categories, event_ndims)  # D x C x K x M x factors x D [x C]
        size, count = points.shape[:2]
        wide = problem.to(dtype=dtype) if problem.dtype != dtype else problem
        wide_params = {k: v.to(dtype) for k, v in params.items()}
        costs = wide.cost(points.reshape(size * count * num_samples, *z.shape[1:]), wide_params)
        costs = costs.reshape(size, count, num_samples, *costs.shape[1:])  # D x C x K x M x factors
        # sum_d sum_c p_dc stop_grad(f_dc): its gradient in theta is the estimate. Centred per
        # variable (sum_c grad p_dc = 0, so the gradient is the same) while still in float64:
        # uncentred, the backward pass would cast costs of size ~D to float32 and take their
        # differences there, the rounding the float64 evaluation avoids.
        weights = costs.detach().movedim((0, 1), (-2, -1))  # K x M x factors x D x C
        weights = weights - weights.mean(-1, keepdim=True)
        score_part = (weights * probs.to(weights.dtype)).sum((-2, -1))
        # f at the sample itself, with its graph, for the pathwise term: f_{d=0, c=z_0}
        at_sample = z[..., 0] if bernoulli else z[..., 0, :]
        first = costs[0].movedim(0, -1)  # K x M x factors x C
        at_sample = at_sample if not bernoulli else torch.stack([1 - at_sample, at_sample], -1)
        pathwise = (first * at_sample.to(first.dtype)).sum(-1)
        return (score_part + pathwise).mean(0).to(z.dtype)
