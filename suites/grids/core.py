"""The core suite: every applicable estimator on the four toy problems at dims 1, 10, 100.

Estimators run with ``K = 4`` cost evaluations each (ARM and DisARM: 2 antithetic pairs), so that the leave-one-out
baseline (which needs ``K >= 2``) is compared at an equal sample budget
("Buy 4 REINFORCE samples", Kool et al. 2019); Gumbel-softmax variants at
temperatures 0.1, 0.5 and 1 show bias against temperature (Gumbel-Rao with its
default 10 conditional draws a hard sample: still ``K`` cost evaluations, the
draws cost only the relaxation). The categorical toy has 3 classes.
"""
from __future__ import annotations

from .base import Suite, applicable_cells

DIMS = (1, 10, 100)
TEMPERATURES = (0.1, 0.5, 1.0)
NUM_SAMPLES = 4
NUM_ESTIMATES = 10_000


def problem_configs():
    for dim in DIMS:
        yield "gaussian", {"dim": dim, "cost": "square"}
        yield "gaussian", {"dim": dim, "cost": "cos"}
        yield "gaussian_full", {"dim": dim}
        yield "bernoulli", {"dim": dim}
        yield "categorical", {"dim": dim}


def estimator_configs():
    yield "score_function", {"baseline": "none"}, NUM_SAMPLES
    yield "score_function", {"baseline": "loo"}, NUM_SAMPLES
    yield "reparam", {}, NUM_SAMPLES
    # DisARM's num_samples counts antithetic pairs: K/2 pairs is the same budget of K cost evaluations.
    yield "disarm", {}, NUM_SAMPLES // 2
    yield "arm", {}, NUM_SAMPLES // 2
    # REBAR evaluates f three times a sample: one sample stays within the budget of K = 4.
    yield "rebar", {}, 1
    for temperature in TEMPERATURES:
        yield "gumbel_softmax", {"temperature": temperature}, NUM_SAMPLES
        yield "straight_through_gumbel", {"temperature": temperature}, NUM_SAMPLES
        yield "gumbel_rao", {"temperature": temperature}, NUM_SAMPLES


def build(devices):
    return applicable_cells(problem_configs(), estimator_configs(), devices, NUM_ESTIMATES)


CORE = Suite("core", "every applicable estimator x gaussian (square, cos), gaussian_full, "
             "bernoulli, categorical at dims 1, 10, 100; K=4, M=10,000", build)
