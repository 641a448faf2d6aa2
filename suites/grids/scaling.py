"""The scaling suite: time per estimate against the number of estimates M per call.

A few estimators on one Gaussian and one Bernoulli problem at ``d = 10``,
``K = 4``, with ``M`` from 10 to 100,000: where per-call overhead is
amortised and where memory traffic takes over, on CPU and GPU. Each cell
times one raw call ``est(prob, M)`` of all ``M`` estimates (the rate a user
of the library gets; the call splits large ``M`` into cache-sized passes). Variances
are measured too but are noisy at small ``M``; the core suite is the place
for them.
"""
from __future__ import annotations

from .base import Suite, applicable_cells

NUM_ESTIMATES = (10, 100, 1_000, 10_000, 100_000)
NUM_SAMPLES = 4


def problem_configs():
    yield "gaussian", {"dim": 10, "cost": "square"}
    yield "bernoulli", {"dim": 10}


def estimator_configs():
    yield "score_function", {"baseline": "loo"}, NUM_SAMPLES
    yield "reparam", {}, NUM_SAMPLES
    yield "gumbel_softmax", {"temperature": 0.5}, NUM_SAMPLES


def build(devices):
    return [cell for m in NUM_ESTIMATES
            for cell in applicable_cells(problem_configs(), estimator_configs(), devices, m)]


SCALING = Suite("scaling", "time per estimate of one raw call of M = 10 .. 100,000 estimates: "
                "score_function(loo), reparam, gumbel_softmax(0.5) on gaussian and bernoulli "
                "at d=10, K=4", build, time_full_calls=True)
