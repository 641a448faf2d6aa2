"""asv: one training step of the papers' sigmoid belief network per estimator, beside its floor.

The ``sbn`` problem at the suite's size (200 latents, batch 50, the MNIST subset), linear and
nonlinear; each estimator of the ``sbn`` suite's grid at its ``K`` (2 cost evaluations a step,
REBAR and RELAX 3): ``time_step`` is one step as training takes it (a fresh minibatch, one
estimate, adaptation, Adam), ``time_floor`` the forward pass of that step's cost evaluations
(``suites.run.sbn.step_and_floor``). ``python -m benchmarks.sbn_steps`` prints both with their
ratio, measured in one process.
"""
from __future__ import annotations

import functools

import estimators
from benchmarks.common import SEED
from suites import problems
from suites.run.grids.sbn import SBN_ESTIMATORS, SBN_PROBLEMS, estimator_samples
from suites.run.sbn import step_and_floor

#: The grid's models (``SBN_PROBLEMS``).
MODELS = tuple(config["model"] for _, config in SBN_PROBLEMS)


@functools.lru_cache(maxsize=None)
def sbn_problem(model: str):
    """The suite's problem (built once a process: reading the digits takes a second)."""
    return problems.get("sbn", model=model)


def labelled(name: str, options: dict) -> str:
    return estimators.get(name, **options).label


class SbnStep:
    """One training step (and its floor) of the 200-latent sbn, per estimator and model."""

    params = [[labelled(name, options) for name, options in SBN_ESTIMATORS
               if name in estimators.names()], list(MODELS)]
    param_names = ["sbn_estimator", "model"]
    timeout = 300

    def setup(self, label, model):
        problem = sbn_problem(model)
        found = [(name, options, k) for name, options, k in estimator_samples(problem)
                 if labelled(name, options) == label]
        if not found:
            raise NotImplementedError(f"{label} is not in the sbn grid of this commit")
        name, options, k = found[0]
        self.step, self.floor = step_and_floor(problem, estimators.get(name, **options), k, SEED)

    def time_step(self, label, model):
        self.step()

    def time_floor(self, label, model):
        self.floor()
