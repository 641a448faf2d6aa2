"""The `continuous` suite: pathwise, rejection, measure-valued and score-function gradients of
Gamma, Beta and Dirichlet latents against their concentration, in float32 and float64.

Concentrations ``c`` in 0.01, 0.1, 1, 10, 100, 1000 (the range where torch's implicit
reparameterisation gradient is reported to fail at its ends) and 0.001, below it (where
PyTorch's issues report wrong Beta and Dirichlet samples: there torch's Beta is measurably
biased, its samples and its gradient, in float32 and float64), each family at ``dim = 3``
with a cost whose exact gradient is known at every ``c``:

* ``gamma(concentration=c, rate=c, cost=exp)``: mean 1, ``E exp(-z) = (1 + 1/c)^(-c)``;
  ``gamma(..., wrt=rate)`` beside it for the measure-valued estimator, which knows a weak
  derivative for the rate only (its ``rate`` rows compare with the others' ``rate`` rows:
  the same distribution, cost and gradient);
* ``beta(concentration1=c, concentration0=c, cost=cos, k=3)``: quadrature reference;
* ``dirichlet(concentration=c, cost=square)``: closed form.

Estimators (``K = 2`` inner samples each, so the leave-one-out baseline applies):
``reparam`` (implicit path), ``score_function`` with no baseline and with the
leave-one-out one, ``rejection_reparam`` with its correction (``boost = 1``) and
without (``correction=False``: biased by the missing term), ``measure_valued`` on the
Gamma's rate. ``M = 100,000`` estimates a cell, so that a bias of 5 standard errors is
``0.016`` standard deviations of one estimate. On every device given (cpu; cuda where
a GPU is visible).
"""
from __future__ import annotations

from suites.run.grids.base import Cell, Suite

CONCENTRATIONS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
DTYPES = ("float32", "float64")
DIM = 3
NUM_SAMPLES = 2
NUM_ESTIMATES = 100_000

ESTIMATORS = (("reparam", {}), ("score_function", {"baseline": "none"}),
              ("score_function", {"baseline": "loo"}), ("rejection_reparam", {}),
              ("rejection_reparam", {"correction": False}))
RATE_ESTIMATORS = (("measure_valued", {}),)


def problems(concentration: float, dtype: str) -> list[tuple[str, dict, tuple]]:
    """``(problem, config, estimators)`` of one concentration and dtype."""
    c = concentration
    return [
        ("gamma", {"dim": DIM, "concentration": c, "rate": c, "cost": "exp", "dtype": dtype}, ESTIMATORS),
        ("gamma", {"dim": DIM, "concentration": c, "rate": c, "cost": "exp", "wrt": "rate",
                   "dtype": dtype}, RATE_ESTIMATORS),
        ("beta", {"dim": DIM, "concentration1": c, "concentration0": c, "cost": "cos", "k": 3.0,
                  "dtype": dtype}, ESTIMATORS),
        ("dirichlet", {"dim": DIM, "concentration": c, "cost": "square", "dtype": dtype}, ESTIMATORS),
    ]


def build(devices) -> list[Cell]:
    return [Cell(name, config, estimator, dict(options), device, NUM_ESTIMATES, NUM_SAMPLES)
            for device in devices for dtype in DTYPES for c in CONCENTRATIONS
            for name, config, chosen in problems(c, dtype) for estimator, options in chosen]


CONTINUOUS = Suite("continuous", "Gamma, Beta, Dirichlet latents at concentrations 0.001 .. 1000 in "
                   "float32 and float64: reparam (implicit), rejection_reparam (with and without its "
                   "correction), score_function (none, loo), measure_valued (Gamma rate); dim 3, K=2, "
                   "M=100,000", build)
