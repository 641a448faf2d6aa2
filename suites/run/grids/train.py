"""The ``train`` suite's grid: Adam on linear_vae and bernoulli_vae with every applicable estimator.

A cell's ``settings`` (``kind: train``, ``steps``, ``lr``, ``log_every``,
``variance_estimates``) tell ``suites.run.training.train_cell`` how to train.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from suites.run.grids.base import Cell

#: The problems of ``mcgradbench run train`` with their Adam step sizes; the sigmoid-belief
#: VAE with 8 and 12 latents (2^8 and 2^12 states: its exact ELBO, by enumeration, stays a
#: fraction of a second to log).
TRAIN_PROBLEMS = (("linear_vae", {}, 2e-2), ("bernoulli_vae", {"latent_dim": 8}, 1e-2),
                  ("bernoulli_vae", {"latent_dim": 12}, 1e-2))
#: The conjugate models, whose maximum ELBO is their closed-form log evidence (the report draws
#: each curve's gap to it, log p(x) - ELBO); at 2e-2 and K = 4, reparam's gap is down to a few
#: 1e-2 nats by step 1,000, then wanders at its noise floor (near 1e-2).
TRAIN_PROBLEMS += (("beta_bernoulli", {}, 2e-2), ("gamma_poisson", {}, 2e-2),
                   ("dirichlet_categorical", {}, 2e-2))
#: Every estimator at a budget of 4 cost evaluations a step (as in the core grid): K = 4
#: samples, DisARM and ARM 2 antithetic pairs, REBAR and RELAX 1 sample (3 evaluations),
#: the Gumbel family at temperature 0.5 (Gumbel-Rao with its 10 conditional draws).
TRAIN_ESTIMATORS = (("score_function", {"baseline": "none"}, 4), ("score_function", {"baseline": "loo"}, 4),
                    ("nvil", {}, 4), ("reparam", {}, 4), ("disarm", {}, 2), ("arm", {}, 2),
                    ("rebar", {}, 1), ("rebar", {"tune": True}, 1), ("relax", {}, 1),
                    ("gumbel_softmax", {"temperature": 0.5}, 4),
                    ("straight_through_gumbel", {"temperature": 0.5}, 4),
                    ("gumbel_rao", {"temperature": 0.5}, 4))
DEFAULT_STEPS, DEFAULT_SEEDS, LOG_EVERY = 3000, 3, 50


def train_cells(devices: Sequence[str]) -> list:
    """The default grid: every applicable (problem, estimator) at seed 0, ``DEFAULT_STEPS``."""
    import estimators as registry

    from suites import problems

    known = set(registry.names())
    cells = []
    for (pname, pconfig, lr), device in ((p, d) for p in TRAIN_PROBLEMS for d in devices):
        problem = problems.get(pname, **pconfig)
        for ename, options, k in TRAIN_ESTIMATORS:
            if ename in known and registry.get(ename, **options).applies_to(problem):
                cells.append(Cell(pname, dict(pconfig), ename, dict(options), device, 1, k, 0,
                                  {"kind": "train", "steps": DEFAULT_STEPS, "lr": lr,
                                   "log_every": LOG_EVERY, "variance_estimates": 0}))
    return cells


def configured(cells: Sequence, steps: int | None = None, seeds: int | None = None,
               variance_estimates: int | None = None) -> list:
    """``cells`` at ``steps`` Adam steps, each at seeds ``0 .. seeds - 1``, with
    ``variance_estimates`` extra estimates at each logged step (None: the defaults,
    ``DEFAULT_SEEDS`` seeds and the cells' own steps and variance estimates)."""
    seeds = DEFAULT_SEEDS if seeds is None else seeds
    out = []
    for cell in cells:
        settings = dict(cell.settings)
        if steps is not None:
            settings["steps"] = steps
            settings["log_every"] = max(1, min(LOG_EVERY, steps // 10))
        if variance_estimates is not None:
            settings["variance_estimates"] = variance_estimates
        for seed in range(seeds):
            out.append(dataclasses.replace(cell, seed=seed, settings=settings))
    return out
