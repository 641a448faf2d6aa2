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


#: Default cells of ``mcgradbench run train``: problem name -> (num_samples, lr).
DEFAULT_PROBLEMS = {"linear_vae": (4, 2e-2)}


def run_train(out, problem_names=(), estimator_names=(), steps: int = 300, seeds: int = 3,
              log_every: int = 10) -> pd.DataFrame:
    """Train every (problem, applicable estimator, seed) cell; ``out/results.csv`` rewritten atomically after each cell, finished cells skipped."""
    from pathlib import Path

    import estimators as registry
    import suites.problems

    from .atomic import atomic_write_text
    path = Path(out) / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=TRAIN_COLUMNS)
    for name in problem_names or DEFAULT_PROBLEMS:
        problem = suites.problems.get(name)
        num_samples, lr = DEFAULT_PROBLEMS.get(name, (4, 1e-2))
        for est_name in estimator_names or registry.names():
            estimator = registry.get(est_name)
            if not estimator.applies_to(problem):
                continue
            for seed in range(seeds):
                done = ((table["problem"] == problem.label) & (table["estimator"] == estimator.label)
                        & (table["seed"] == seed)).any()
                if done:
                    continue
                curve = train(problem, registry.get(est_name), steps, seed=seed, lr=lr,
                              num_samples=num_samples, log_every=log_every)
                table = pd.concat([table, curve], ignore_index=True)
                atomic_write_text(path, table.to_csv(index=False))
    return table
