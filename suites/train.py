"""Training runs: Adam on a problem's own parameters, the gradient from one estimator.

Each step draws one estimate (``num_estimates=1``, ``K = num_samples``) of
``grad F`` and takes an Adam ascent step (``F`` is an objective to maximise:
the ELBO). An adaptive estimator (``estimators.adaptive``) then adapts its
state on the same parameters, after the estimate was made, so every
estimate stays unbiased. Every ``log_every`` steps a row records the step,
the seconds spent in estimation, adaptation and update (logging excluded),
the exact objective ``F(theta)`` and the adaptive state.
"""
from __future__ import annotations

import time

import pandas as pd
import torch

from estimators.adaptive import AdaptiveEstimator

TRAIN_COLUMNS = ["problem", "estimator", "seed", "step", "seconds", "objective", "num_samples", "lr"]


class ExactGradient:
    """The closed-form ``grad F`` as a pseudo-estimator (the training loop's reference)."""

    name = label = "exact"
    config: dict = {}

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        return {k: v.expand(num_estimates, *v.shape) for k, v in problem.exact_gradient().items()}


def train(problem, estimator, steps: int, seed: int = 0, lr: float = 1e-2, num_samples: int = 1,
          log_every: int = 10) -> pd.DataFrame:
    """One training curve; ``problem.params`` is restored on exit. Rows at step 0, every ``log_every`` and the last."""
    for name, value in (("steps", steps), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    start = problem.params
    params = {k: v.detach().clone().requires_grad_(True) for k, v in start.items()}
    optimizer = torch.optim.Adam(list(params.values()), lr=lr, maximize=True)
    generator = torch.Generator().manual_seed(seed)
    adaptive = isinstance(estimator, AdaptiveEstimator) and bool(estimator.state)
    rows, seconds = [], 0.0

    def log(step):
        with torch.no_grad():
            objective = float(problem.expectation({k: v.detach() for k, v in params.items()}))
        state = estimator.state_summary() if adaptive else {}
        rows.append({"problem": problem.label, "estimator": estimator.label, "seed": seed,
                     "step": step, "seconds": seconds, "objective": objective,
                     "num_samples": num_samples, "lr": lr,
                     **{f"state.{k}": v for k, v in state.items()}})

    try:
        problem.params = params
        log(0)
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            problem.params = {k: v.detach() for k, v in params.items()}
            grads = estimator(problem, 1, num_samples=num_samples, generator=generator)
            if adaptive:
                estimator.adapt(problem, num_estimates=1, num_samples=num_samples, generator=generator)
            optimizer.zero_grad()
            for name, p in params.items():
                p.grad = grads[name][0].detach().clone()
            optimizer.step()
            seconds += time.perf_counter() - t0
            if step % log_every == 0 or step == steps:
                log(step)
    finally:
        problem.params = start
    return pd.DataFrame(rows)
