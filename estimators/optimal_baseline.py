"""Leave-one-out optimal per-coordinate baseline for the score function.

For parameter coordinate ``i`` the variance of ``(f - b_i) s_i``, with
``s_i = d log q(z) / d theta_i``, is least at ``b_i = E[f s_i^2] / E[s_i^2]``
(Weaver & Tao 2001, "The optimal reward baseline for gradient-based
reinforcement learning"; Mohamed et al. 2020, JMLR, section 7.4). Each
sample's baseline is estimated from the other ``K - 1``::

    b_ki = sum_{j != k} h_ji s_ji / sum_{j != k} s_ji^2,    h_ji = f_j s_ji,

so ``b_ki`` is independent of ``z_k`` and the estimator stays unbiased (the
leave-one-out construction of Kool, van Hoof & Welling 2019). With
independent factors (per-data-point costs ``f_n``) ``h_ji`` is the
coordinate's score-function term ``d/dtheta_i mean_n f_jn log q_n(z_jn)``
and ``s_ji`` the score of ``mean_n log q_n(z_jn)``: the same formula for
parameters shared across factors. A coordinate whose scores are all zero
gets ``b = 0``.
"""
from __future__ import annotations

import torch


def per_sample_gradients(values: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """``d values[k, m] / d params[m]`` for every sample ``k``: ``(K, M, *shape)`` per parameter.

    One batched backward pass (``is_grads_batched``, i.e. ``vmap`` over the
    ``K`` one-hot output gradients); replicas ``m`` are independent leaves.
    """
    num_samples = values.shape[0]
    one_hot = torch.eye(num_samples, dtype=values.dtype, device=values.device)
    one_hot = one_hot.reshape(num_samples, num_samples, *([1] * (values.dim() - 1)))
    grads = torch.autograd.grad(values, params, grad_outputs=one_hot.expand(-1, *values.shape),
                                is_grads_batched=True, retain_graph=True, allow_unused=True)
    return [torch.zeros(num_samples, *p.shape, dtype=p.dtype, device=p.device) if g is None else g
            for p, g in zip(params, grads)]


def leave_one_out_optimal(term: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """``b_k = sum_{j != k} term_j score_j / sum_{j != k} score_j^2`` along dim 0, 0 where undefined."""
    numerator = (term * score).sum(0, keepdim=True) - term * score
    denominator = (score**2).sum(0, keepdim=True) - score**2
    positive = denominator > 0
    return torch.where(positive, numerator / torch.where(positive, denominator, 1), 0)


def baseline_correction(cost: torch.Tensor, log_q: torch.Tensor,
                        params: dict[str, torch.Tensor]) -> torch.Tensor:
    """A per-replica term, shape ``(M,)``, whose gradient is ``-1/K sum_k b_ki s_ki``.

    ``cost`` and ``log_q``: ``(K, M, *factors)``, ``cost`` detached.
    """
    leaves = list(params.values())
    num_samples, num_estimates = log_q.shape[:2]
    per_sample_log_q = log_q.reshape(num_samples, num_estimates, -1).mean(-1)
    per_sample_term = (log_q * cost).reshape(num_samples, num_estimates, -1).mean(-1)
    scores = per_sample_gradients(per_sample_log_q, leaves)
    terms = per_sample_gradients(per_sample_term, leaves)
    correction = torch.zeros(num_estimates, dtype=log_q.dtype, device=log_q.device)
    for leaf, score, term in zip(leaves, scores, terms):  # one pass per parameter tensor
        baseline = leave_one_out_optimal(term, score)
        direction = (baseline * score).mean(0).detach()  # M x shape
        correction = correction - (leaf * direction).reshape(num_estimates, -1).sum(-1)
    return correction
