"""The ``sbn`` suite's grid: the papers' sigmoid belief networks trained with every estimator that applies.

Models: ``sbn`` linear and nonlinear, 200 latents, batch 50, on the MNIST subset
(``suites.problems.sbn``; the same initial weights for every estimator). Each
estimator trains at ``BUDGET`` cost evaluations a step (``K`` is the most samples
within it: ``suites.run.grids.base.samples_within``), Adam at the papers' learning
rate, ``DEFAULT_STEPS`` steps x ``DEFAULT_SEEDS`` seeds (``--steps``, ``--seeds``),
``CHECKPOINTS`` checkpoints after step 0, the held-out bound with
``HELDOUT_SAMPLES`` samples (``--heldout-samples``). The seed-0 curve of each
estimator carries the probes: every estimator of the grid measured at its weights
at each checkpoint with ``PROBE_ESTIMATES`` estimates (``--grad-variance M``; 0: none).

A new estimator joins with one line in ``SBN_ESTIMATORS`` (name, options); it is
left out where it does not apply (``applies_to``) or is not registered.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from suites.run.grids.base import Cell, samples_within

SBN_PROBLEMS = (("sbn", {"model": "linear"}), ("sbn", {"model": "nonlinear"}))
#: Cost evaluations per step, as in the papers' comparisons: 2 samples of the score function and
#: the Gumbel family, one ARM or DisARM pair; REBAR and RELAX spend 3 with their one sample
#: (the hard sample and two relaxed ones: they cannot spend less).
BUDGET = 2
SBN_ESTIMATORS = (
    ("score_function", {"baseline": "none"}),
    ("score_function", {"baseline": "loo"}),
    ("nvil", {}),
    ("arm", {}),
    ("disarm", {}),
    ("rebar", {}),
    ("relax", {}),
    ("gumbel_softmax", {"temperature": 0.5}),
    ("straight_through_gumbel", {"temperature": 0.5}),
    ("gumbel_rao", {"temperature": 0.5}),
    # Kool et al. 2020: 2 distinct latent vectors a data point (2 evaluations). Left out at this
    # budget: ARMS (n = 2 is DisARM itself), double CV (K >= 2 samples of f and its gradient in
    # b: 4), IndeCateR (D x 2 = 400 a sample), VIMCO (multi-sample objectives only).
    ("unordered_set", {}),
)
#: Adam's step size for every weight: the DisARM and ARMS code's encoder and decoder rate
#: (they give the prior logits SGD at 1e-2; one optimiser here).
LEARNING_RATE = 1e-4
DEFAULT_STEPS, DEFAULT_SEEDS, CHECKPOINTS = 50_000, 3, 10
#: Checkpoints are at least this many steps apart: a short run (the quick profile's) logs
#: its start and its end only.
MIN_INTERVAL = 100
HELDOUT_SAMPLES, PROBE_ESTIMATES = 100, 1000


def estimator_samples(problem) -> list[tuple[str, dict, int]]:
    """``(name, options, K)`` of every registered estimator of ``SBN_ESTIMATORS`` that applies
    to ``problem``, ``K`` the most samples within ``BUDGET`` evaluations (at least one)."""
    import estimators as registry

    known = set(registry.names())
    out = []
    for name, options in SBN_ESTIMATORS:
        if name not in known:
            continue
        estimator = registry.get(name, **options)
        if not estimator.applies_to(problem):
            continue
        k = max(1, samples_within(estimator, problem, BUDGET))
        try:
            estimator.check_num_samples(k)
        except ValueError:
            continue
        out.append((name, dict(options), k))
    return out


def sbn_cells(devices: Sequence[str], models: Sequence[tuple[str, dict]] | None = None) -> list[Cell]:
    """Every applicable (model, estimator, device) at seed 0 with the default settings;
    ``models``: ``(name, options)`` of the problems (default ``SBN_PROBLEMS``)."""
    from suites import problems

    cells = []
    models = SBN_PROBLEMS if models is None else models
    for (pname, pconfig), device in ((p, d) for p in models for d in devices):
        trained = estimator_samples(problems.get(pname, **pconfig))
        probes = [[name, options, k] for name, options, k in trained]
        for name, options, k in trained:
            cells.append(Cell(pname, dict(pconfig), name, options, device, 1, k, 0,
                              {"kind": "sbn", "steps": DEFAULT_STEPS, "lr": LEARNING_RATE,
                               "log_every": DEFAULT_STEPS // CHECKPOINTS,
                               "heldout_samples": HELDOUT_SAMPLES,
                               "variance_estimates": PROBE_ESTIMATES, "probes": probes}))
    return cells


def sbn_cells_for(name: str, options: dict, devices: Sequence[str]) -> list[Cell]:
    """The suite's cells for one more ``sbn`` configuration (``--problem 'sbn(dataset=mnist)'``:
    the papers' full MNIST from your IDX files); none for another problem."""
    return sbn_cells(devices, [(name, options)]) if name == "sbn" else []


def configured(cells: Sequence[Cell], steps: int | None = None, seeds: int | None = None,
               variance_estimates: int | None = None,
               heldout_samples: int | None = None) -> list[Cell]:
    """``cells`` at ``steps`` steps (``CHECKPOINTS`` checkpoints, ``MIN_INTERVAL`` steps apart at
    least), each at
    seeds ``0 .. seeds - 1`` (the probes on seed 0 only), with ``variance_estimates`` probe
    estimates (0: none) and ``heldout_samples`` samples in the held-out bound (None: defaults)."""
    seeds = DEFAULT_SEEDS if seeds is None else seeds
    out = []
    for cell in cells:
        settings = dict(cell.settings)
        if steps is not None:
            settings["steps"] = steps
            settings["log_every"] = min(steps, max(MIN_INTERVAL, steps // CHECKPOINTS))
        if variance_estimates is not None:
            settings["variance_estimates"] = variance_estimates
        if heldout_samples is not None:
            settings["heldout_samples"] = heldout_samples
        if not settings["variance_estimates"]:
            settings["probes"] = []
        for seed in range(seeds):
            extra = {} if seed == 0 else {"probes": [], "variance_estimates": 0}
            out.append(dataclasses.replace(cell, seed=seed, settings={**settings, **extra}))
    return out
