"""The `papers` suite: cells that reproduce published variance figures.

(a) Mohamed, Rosca, Figurnov & Mnih 2020 (JMLR), the variance figure of
section 8 (figure 7): 1-D ``N(mu=1, sigma=1)``, cost ``(x - k)^2`` for
``k = -3..3``; the score function, the score function with a baseline, the
pathwise and the measure-valued estimators, for ``d/dmu`` and ``d/dsigma``.
The paper's baseline is the variance-optimal constant; here it is its
leave-one-out estimate (``baseline="loo_optimal"``), the unbiased version.

(b) The REBAR/RELAX toy (Tucker et al. 2017, Grathwohl et al. 2018): one
Bernoulli, ``f(b) = (b - t)^2`` with ``t = 0.45`` and ``0.499``; REINFORCE,
ARM, DisARM and REBAR (fixed, and tuned: its 300 default adapt steps before
measuring, as the papers tune it while training). ARM is skipped with a message where it is not
registered.

(c) The unordered set estimator's variance against ``K`` (Kool, van Hoof &
Welling 2020, figure 2, on a domain of 8 outcomes): one categorical of
``C = 8`` classes (``categorical(dim=1, num_classes=8)``), ``K = 1..8``, the
unordered set estimator with and without its built-in baseline beside the
score function with and without the leave-one-out baseline at the same ``K``
(``K`` cost evaluations each); at ``K = 8`` the set is the whole support and
the estimate the exact gradient.

In (a) and (b) every estimator takes ``K = 4`` inner samples, except those that count
differently at the same budget of cost evaluations: DisARM and ARM 2
antithetic pairs, REBAR 1 sample (3 evaluations). The measure-valued
estimator costs 4 evaluations a sample in 1-D (2 per parameter), so its
``K = 4`` cells spend 16: its variances are of that costlier estimate.

(c) ARMS's toy (variance against the number of samples ``n``) and (d) IndeCateR against
the score function on a non-separable categorical cost: below, each at equal cost
evaluations.
"""
from __future__ import annotations

import sys

from suites.run.grids.base import Cell, Suite

KS = (-3, -2, -1, 0, 1, 2, 3)
TARGETS = (0.45, 0.499)
NUM_SAMPLES = 4
NUM_ESTIMATES = 20_000

GAUSSIAN_ESTIMATORS = (("score_function", {"baseline": "none"}, NUM_SAMPLES),
                       ("score_function", {"baseline": "loo_optimal"}, NUM_SAMPLES),
                       ("reparam", {}, NUM_SAMPLES),
                       ("measure_valued", {"coupling": True}, NUM_SAMPLES))
TOY_ESTIMATORS = (("score_function", {"baseline": "none"}, NUM_SAMPLES),
                  ("arm", {}, NUM_SAMPLES // 2),
                  ("disarm", {}, NUM_SAMPLES // 2),
                  ("rebar", {}, 1),
                  ("rebar", {"tune": True}, 1))


def gaussian_cells(device: str) -> list[Cell]:
    return [Cell("gaussian", {"dim": 1, "loc": 1.0, "scale": 1.0, "cost": "square", "k": float(k)},
                 name, dict(options), device, NUM_ESTIMATES, num_samples)
            for k in KS for name, options, num_samples in GAUSSIAN_ESTIMATORS]


def toy_cells(device: str) -> list[Cell]:
    import estimators

    known = set(estimators.names())
    missing = sorted({name for name, _, _ in TOY_ESTIMATORS} - known)
    if missing:
        print(f"papers: skipping the toy cells of {', '.join(missing)} (not registered)", file=sys.stderr)
    return [Cell("bernoulli", {"dim": 1, "target": t}, name, dict(options), device, NUM_ESTIMATES,
                 num_samples)
            for t in TARGETS for name, options, num_samples in TOY_ESTIMATORS if name in known]


#: (c): the categorical toy and its estimators, at every K each accepts up to the support.
SET_CLASSES = 8
SET_ESTIMATORS = (("unordered_set", {"baseline": "builtin"}), ("unordered_set", {"baseline": "none"}),
                  ("score_function", {"baseline": "loo"}), ("score_function", {"baseline": "none"}))


def set_cells(device: str) -> list[Cell]:
    import estimators

    cells = []
    for name, options in SET_ESTIMATORS:
        estimator = estimators.get(name, **options)
        for k in range(1, SET_CLASSES + 1):
            try:
                estimator.check_num_samples(k)
            except ValueError:  # the baselines built from the other samples need K >= 2
                continue
            cells.append(Cell("categorical", {"dim": 1, "num_classes": SET_CLASSES}, name,
                              dict(options), device, NUM_ESTIMATES, k))
    return cells


def build(devices):
    return [cell for device in devices for cell in gaussian_cells(device) + toy_cells(device)
            + arms_cells(device) + indecater_cells(device) + set_cells(device)]


PAPERS = Suite("papers", "reproduced figures: JMLR 2020 variance vs k on N(1, 1) with (x - k)^2; "
               "REBAR/RELAX toy (b - t)^2, t = 0.45, 0.499; ARMS toy (b - 0.49)^2 against n; "
               "IndeCateR on (mean z . v - t)^2; unordered set variance vs K = 1..8 on one 8-class "
               "categorical; K=4 or equal evaluations, M=20,000", build)


# (c) ARMS (Dimitriev & Zhou 2021, the toy of figure 1 and of alekdimi/arms toy_problem.py):
# one Bernoulli, f(b) = (b - 0.49)^2, variance against the number of samples n (the
# paper's 2, 4, 6, 8, 10) at several p, beside the estimators it was compared with at the
# same n cost evaluations: the leave-one-out score function with K = n and DisARM with
# n / 2 antithetic pairs. The paper draws these as curves along a training run (no printed
# numbers); here each is one cell at a fixed p. p and 1 - p give the same variances on this
# toy (each estimate is a function of f(1) - f(0) and of the samples, which reflect), so
# only p <= 1/2 is measured.
ARMS_TARGET = 0.49
ARMS_PROBS = (0.1, 0.3)
ARMS_SAMPLES = (2, 4, 6, 8, 10)


def arms_cells(device: str) -> list[Cell]:
    import estimators

    if "arms" not in estimators.names():
        return []
    config = lambda p: {"dim": 1, "target": ARMS_TARGET, "probs": p}
    return [cell for p in ARMS_PROBS for n in ARMS_SAMPLES for cell in (
        Cell("bernoulli", config(p), "arms", {"n": n}, device, NUM_ESTIMATES, 1),
        Cell("bernoulli", config(p), "score_function", {"baseline": "loo"}, device, NUM_ESTIMATES, n),
        Cell("bernoulli", config(p), "disarm", {}, device, NUM_ESTIMATES, n // 2))]


# (d) IndeCateR (De Smet et al. 2023) against the score function with the leave-one-out
# baseline (the paper's RLOO) at equal cost evaluations, on the non-separable categorical
# cost (mean_i z_i . v - t)^2 with 3 classes: one IndeCateR sample costs D x 3 evaluations,
# the score function takes K = 3 D samples. The paper plots its synthetic experiments
# (no table of variances to set beside ours).
INDECATER_DIMS = (2, 5, 10)


def indecater_cells(device: str) -> list[Cell]:
    import estimators

    if "indecater" not in estimators.names():
        return []
    config = lambda d: {"dim": d, "cost": "mean_square"}
    return [cell for d in INDECATER_DIMS for cell in (
        Cell("categorical", config(d), "indecater", {}, device, NUM_ESTIMATES, 1),
        Cell("categorical", config(d), "score_function", {"baseline": "loo"}, device, NUM_ESTIMATES,
             3 * d))]

