"""VIMCO: the score function for multi-sample objectives, with leave-one-out learning signals.

A multi-sample objective is the bound ``L = log 1/K sum_k w_k`` of ``K``
particles ``h_1..h_K ~ q(h | x)`` drawn together, ``w_k = p(x, h_k) / q(h_k | x)``
(the importance-weighted bound of Burda, Grosse & Salakhutdinov 2016); its
gradient is::

    grad E L = E [ sum_k L grad log q(h_k) + sum_k w~_k grad log w_k ],   w~_k = w_k / sum_j w_j.

VIMCO (Mnih & Rezende 2016, "Variational inference for Monte Carlo
objectives", ICML, eqs. 9-10) replaces ``L`` in the score term of particle
``k`` by the learning signal ``L - L_{-k}``, where ``L_{-k}`` is the bound with
``w_k`` replaced by an estimate from the other particles::

    L_{-k} = log 1/K ( sum_{j != k} w_j + w^_{-k} ),
    w^_{-k} = exp( 1/(K-1) sum_{j != k} log w_j )     (geometric mean, the paper's choice)
    w^_{-k} = 1/(K-1) sum_{j != k} w_j                (arithmetic mean, ``mean=arithmetic``)

``L_{-k}`` does not depend on ``h_k``, so the estimate stays unbiased; it
needs ``K >= 2``. ``num_samples`` counts independent bounds (each of ``K``
particles) averaged into one estimate, as for every other estimator.

It applies to multi-sample objectives only: a problem whose ``distribution``
is ``Particles`` (a ``torch.distributions.Independent`` that names its
particle axis) and which gives ``log_weights(h, params)``, the per-particle
``log w_k``, next to ``cost`` = the bound (``bernoulli_vae(objective=iwae)``).
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, Independent

from .base import Estimator

MEANS = ("geometric", "arithmetic")


class Particles(Independent):
    """``q`` of the ``K`` particles of a multi-sample bound: ``Independent`` with event
    ``(K, *event)``, the particle axis first: what tells an estimator (VIMCO) that the
    ``K`` particles form one estimate of the bound together."""

    def __init__(self, base_distribution, reinterpreted_batch_ndims: int, validate_args=None):
        if reinterpreted_batch_ndims < 1:
            raise ValueError(f"Particles needs the particle axis among its event dims, got "
                             f"reinterpreted_batch_ndims={reinterpreted_batch_ndims}")
        super().__init__(base_distribution, reinterpreted_batch_ndims, validate_args)

    @property
    def num_particles(self) -> int:
        return self.event_shape[0]

    def particle_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log q(h_k)`` per particle: ``(..., *batch, K)``."""
        per = Independent(self.base_dist, self.reinterpreted_batch_ndims - 1) \
            if self.reinterpreted_batch_ndims > 1 else self.base_dist
        return per.log_prob(value)


def leave_one_out_bounds(log_w: torch.Tensor, mean: str = "geometric") -> torch.Tensor:
    """``L_{-k}`` along the last axis (``K`` particles): the bound with ``w_k`` replaced by the
    geometric (or arithmetic) mean of the other weights."""
    num = log_w.shape[-1]
    if mean == "geometric":
        log_fill = (log_w.sum(-1, keepdim=True) - log_w) / (num - 1)
    else:
        others = log_w.unsqueeze(-2).expand(*log_w.shape, num)  # row k: every log w_j
        eye = torch.eye(num, dtype=torch.bool, device=log_w.device)
        log_fill = torch.logsumexp(others.masked_fill(eye, -math.inf), -1) - math.log(num - 1)
    rows = log_w.unsqueeze(-2).expand(*log_w.shape, num)  # ... x K x K, row k: log w with w_k
    eye = torch.eye(num, dtype=torch.bool, device=log_w.device)
    rows = torch.where(eye, log_fill.unsqueeze(-1), rows)
    return torch.logsumexp(rows, -1) - math.log(num)


class VIMCO(Estimator):
    """VIMCO: per-particle leave-one-out learning signals for a multi-sample bound (unbiased)."""

    name = "vimco"
    options = {"mean": "geometric"}
    families = ("Particles",)

    def __init__(self, **options):
        super().__init__(**options)
        if self.config["mean"] not in MEANS:
            raise ValueError(f"unknown mean {self.config['mean']!r} for vimco; allowed: "
                             f"{', '.join(MEANS)}")

    def check(self, distribution: Distribution) -> None:
        if not isinstance(distribution, Particles):
            raise ValueError("vimco applies to multi-sample objectives only (a K-particle bound, "
                             "such as bernoulli_vae(objective=iwae)), got a "
                             f"{type(distribution).__name__} without a particle axis")
        if distribution.num_particles < 2:
            raise ValueError(f"vimco needs a bound of >= 2 particles (each particle's baseline "
                             f"comes from the others), got {distribution.num_particles}")

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            h = distribution.sample((num_samples,))  # K_est x M x factors x K x event
        log_w = problem.log_weights(h, params)  # K_est x M x factors x K
        log_q = distribution.particle_log_prob(h)  # K_est x M x factors x K
        bound = torch.logsumexp(log_w, -1) - math.log(log_w.shape[-1])
        with torch.no_grad():
            signal = bound.detach().unsqueeze(-1) - leave_one_out_bounds(log_w.detach(),
                                                                          self.config["mean"])
        return ((signal * log_q).sum(-1) + bound).mean(0)
