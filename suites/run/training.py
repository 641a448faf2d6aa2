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

import json
import math
import time

import pandas as pd
import torch

from estimators.adaptive import AdaptiveEstimator

from suites.store.schema import TRAIN_COLUMNS

#: The gradient-variance estimates draw from a generator this far from the training seed,
#: so that asking for them leaves the training curve as it is.
VARIANCE_SEED_OFFSET = 1_000_003


class ExactGradient:
    """The closed-form ``grad F`` as a pseudo-estimator (the training loop's reference)."""

    name = label = "exact"
    config: dict = {}

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        return {k: v.expand(num_estimates, *v.shape) for k, v in problem.exact_gradient().items()}


def estimated_step(problem, estimator, params, optimizer, num_samples: int, generator,
                   adaptive: bool) -> None:
    """One optimiser step on one estimate of the gradient at ``params`` (the estimator's state
    adapted after the estimate, so that it never saw its own sample); ``problem.params`` is
    left at the detached ``params`` the estimate was taken at."""
    problem.params = {k: v.detach() for k, v in params.items()}
    grads = estimator(problem, 1, num_samples=num_samples, generator=generator)
    if adaptive:
        estimator.adapt(problem, num_estimates=1, num_samples=num_samples, generator=generator)
    optimizer.zero_grad()
    for name, p in params.items():
        p.grad = grads[name][0].detach().clone()
    optimizer.step()


def train(problem, estimator, steps: int, seed: int = 0, lr: float = 1e-2, num_samples: int = 1,
          log_every: int = 10, variance_estimates: int = 0) -> pd.DataFrame:
    """One training curve; ``problem.params`` is restored on exit.

    Rows at step 0, every ``log_every`` steps and the last: ``step``, ``seconds`` (in
    estimation, adaptation and the Adam update; logging excluded), the exact
    ``objective``, the adaptive ``state`` (JSON) and, with ``variance_estimates >= 2``,
    ``grad_variance``: the mean per-coordinate variance of that many extra estimates at
    the current parameters (from a generator of their own: the curve does not change).
    """
    from estimators.base import check_problem_argument
    from estimators.registry import check_seed
    from suites.problems.base import check_positive

    check_problem_argument(problem)
    if isinstance(estimator, str) or not callable(estimator):
        raise TypeError(f"estimator must be an estimator object, got {type(estimator).__name__} "
                        f"{estimator!r}; look a name up first: estimators.get(name)")
    check_seed(seed)
    lr = check_positive("lr", lr)
    for name, value, low in (("steps", steps, 1), ("log_every", log_every, 1),
                             ("variance_estimates", variance_estimates, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if variance_estimates == 1:
        raise ValueError("variance_estimates must be 0 (off) or >= 2 (a variance needs two estimates)")
    start = problem.params
    device = next(iter(start.values())).device
    params = {k: v.detach().clone().requires_grad_(True) for k, v in start.items()}
    optimizer = torch.optim.Adam(list(params.values()), lr=lr, maximize=True)
    generator = torch.Generator(device=device).manual_seed(seed)
    variance_generator = torch.Generator(device=device).manual_seed(seed + VARIANCE_SEED_OFFSET)
    adaptive = isinstance(estimator, AdaptiveEstimator) and estimator.has_state()
    rows, seconds = [], 0.0

    def log(step):
        current = {k: v.detach() for k, v in params.items()}
        with torch.no_grad():
            objective = float(problem.expectation(current))
        variance = math.nan
        if variance_estimates:
            problem.params = current
            grads = estimator(problem, variance_estimates, num_samples, variance_generator)
            flat = torch.cat([g.reshape(variance_estimates, -1) for g in grads.values()], 1)
            variance = float(flat.var(0).mean())
        rows.append({"step": step, "seconds": seconds, "objective": objective,
                     "grad_variance": variance,
                     "state": json.dumps(estimator.state_summary(), sort_keys=True) if adaptive else ""})

    try:
        problem.params = params
        log(0)
        for step in range(1, steps + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            estimated_step(problem, estimator, params, optimizer, num_samples, generator, adaptive)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - t0
            if step % log_every == 0 or step == steps:
                log(step)
    finally:
        problem.params = start
    return pd.DataFrame(rows).assign(seed=seed, lr=lr, num_samples=num_samples)


def train_cell(cell) -> pd.DataFrame:
    """The rows of one training cell (``Cell.settings``: ``steps``, ``lr``, ``log_every``,
    ``variance_estimates``), with the run metadata every row carries and the problem's
    ``log_evidence`` (NaN where it declares none)."""
    import estimators as registry

    from suites import problems
    from suites.measurement.measure import resolve_device, run_metadata

    device = resolve_device(cell.device)
    problem = problems.get(cell.problem, **cell.problem_config).to(device=device)
    estimator = registry.get(cell.estimator, **cell.estimator_config)
    settings = cell.settings
    curve = train(problem, estimator, settings["steps"], seed=cell.seed, lr=settings["lr"],
                  num_samples=cell.num_samples, log_every=settings["log_every"],
                  variance_estimates=settings["variance_estimates"])
    return curve.assign(
        suite="train", problem=problem.name, problem_config=problem.config_json,
        estimator=estimator.name, estimator_config=estimator.config_json, device=str(device),
        evaluations=estimator.evaluations(problem, cell.num_samples), **run_metadata(device),
        log_evidence=log_evidence(problem),
    )[TRAIN_COLUMNS]


def log_evidence(problem) -> float:
    """The problem's closed-form ``log p(x)`` (``Problem.log_evidence``), NaN where it has none:
    the ceiling of the ELBO, to which the report draws each curve's gap."""
    value = getattr(problem, "log_evidence", lambda: None)()
    return math.nan if value is None else float(value)


def final_objectives(table: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, estimator): the objective at the last step, mean and standard error
    across seeds, the seeds, and the seconds a curve took (mean)."""
    last = table.sort_values("step").groupby(["problem", "problem_config", "estimator",
                                              "estimator_config", "device", "seed"],
                                             sort=False).tail(1)
    grouped = last.groupby(["problem", "problem_config", "estimator", "estimator_config", "device"],
                           sort=False)
    return grouped.agg(step=("step", "max"), seeds=("seed", "nunique"), evaluations=("evaluations", "first"),
                       objective=("objective", "mean"), objective_sd=("objective", "std"),
                       seconds=("seconds", "mean")).reset_index().assign(
        objective_se=lambda d: d["objective_sd"] / d["seeds"] ** 0.5).drop(columns="objective_sd")
