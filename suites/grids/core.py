"""The core suite: every applicable estimator on the three toy problems at dims 1, 10, 100.

Estimators run with ``K = 4`` cost evaluations each (DisARM: 2 antithetic pairs), so that the leave-one-out
baseline (which needs ``K >= 2``) is compared at an equal sample budget
("Buy 4 REINFORCE samples", Kool et al. 2019); Gumbel-softmax variants at
temperatures 0.1, 0.5 and 1 show bias against temperature.

The measure-valued estimator costs ``4 D`` evaluations a sample (two per
coordinate for each of loc and scale): at dim 1 one sample is the budget of
4; at dim 10 one sample already spends 40, and dim 100 (400 a sample,
copies of 100 x 100 numbers per estimate) is left out. The delta-method
control variate spends 4 cost evaluations plus a gradient and ``D + K``
Hessian-vector products of the cost at the mean.
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


def estimator_configs():
    yield "score_function", {"baseline": "none"}, NUM_SAMPLES
    yield "score_function", {"baseline": "loo"}, NUM_SAMPLES
    yield "reparam", {}, NUM_SAMPLES
    # DisARM's num_samples counts antithetic pairs: K/2 pairs is the same budget of K cost evaluations.
    yield "disarm", {}, NUM_SAMPLES // 2
    # REBAR evaluates f three times a sample: one sample stays within the budget of K = 4.
    yield "rebar", {}, 1
    for temperature in TEMPERATURES:
        yield "gumbel_softmax", {"temperature": temperature}, NUM_SAMPLES
        yield "straight_through_gumbel", {"temperature": temperature}, NUM_SAMPLES


def extra_estimator_configs():
    yield "score_function", {"baseline": "loo_optimal"}, NUM_SAMPLES
    yield "delta_method", {}, NUM_SAMPLES


MEASURE_VALUED_DIMS = (1, 10)


def measure_valued_problem_configs():
    for name, config in problem_configs():
        if config["dim"] in MEASURE_VALUED_DIMS:
            yield name, config


def build(devices):
    return (applicable_cells(problem_configs(), estimator_configs(), devices, NUM_ESTIMATES)
            + applicable_cells(problem_configs(), extra_estimator_configs(), devices, NUM_ESTIMATES)
            + applicable_cells(measure_valued_problem_configs(),
                               [("measure_valued", {"coupling": True}, 1)], devices, NUM_ESTIMATES))


CORE = Suite("core", "every applicable estimator x gaussian (square, cos), gaussian_full, "
             "bernoulli at dims 1, 10, 100; K=4, M=10,000", build)
