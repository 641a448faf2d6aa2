"""The VAE suite: every applicable estimator on the latent-variable problems, K = 1, 2, 8.

Problems: ``linear_vae`` (closed-form gradient), ``bernoulli_vae``
(enumeration) and ``logistic_regression`` with diagonal and full-covariance
q (Monte Carlo reference of 10^6 samples, computed once and cached). Rows
are per parameter, so the encoder- and decoder-gradient variances of
``bernoulli_vae`` are separate rows (they differ by orders of magnitude:
Mnih & Gregor 2014; Tucker et al. 2017). The leave-one-out baseline runs
only where ``K >= 2``, and ARM and DisARM with ``K/2`` antithetic pairs (the same
``K`` cost evaluations), REBAR with ``K`` samples (``3K`` evaluations); Gumbel-softmax variants at temperature 0.5 (the
core suite sweeps temperature), Gumbel-Rao beside them. ``M`` is set per problem so that the whole
suite takes a few minutes on two CPU cores.
"""
from __future__ import annotations

from .base import Suite, applicable_cells

NUM_SAMPLES = (1, 2, 8)
TEMPERATURE = 0.5

#: (problem, config, M): M per problem, since one estimate's cost differs by 100x between them.
PROBLEMS = (
    ("linear_vae", {}, 10_000),
    ("bernoulli_vae", {}, 2_000),
    ("logistic_regression", {"family": "diag"}, 5_000),
    ("logistic_regression", {"family": "full"}, 5_000),
)


def estimator_configs():
    for num_samples in NUM_SAMPLES:
        yield "score_function", {"baseline": "none"}, num_samples
        if num_samples >= 2:  # each sample's baseline is the mean of the others
            yield "score_function", {"baseline": "loo"}, num_samples
        yield "reparam", {}, num_samples
        yield "gumbel_softmax", {"temperature": TEMPERATURE}, num_samples
        yield "straight_through_gumbel", {"temperature": TEMPERATURE}, num_samples
        yield "gumbel_rao", {"temperature": TEMPERATURE}, num_samples
        if num_samples >= 2:  # K cost evaluations are K/2 antithetic pairs
            yield "disarm", {}, num_samples // 2
            yield "arm", {}, num_samples // 2
        yield "rebar", {}, num_samples  # three cost evaluations a sample


def build(devices):
    cells = []
    for name, config, num_estimates in PROBLEMS:
        cells += applicable_cells([(name, config)], estimator_configs(), devices, num_estimates)
    return cells


VAE = Suite("vae", "every applicable estimator x linear_vae, bernoulli_vae, logistic_regression "
            "(diag, full); K=1, 2, 8", build)
