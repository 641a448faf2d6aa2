"""The adaptive-estimator contract: estimators whose own state is tuned to lower their variance.

An adaptive estimator carries ``state``: a dict of tensors (the parameters of
its control variate: REBAR's ``eta`` and log-temperature, RELAX's surrogate).
``adapt(problem, ...)`` takes one optimiser step on the state that lowers

    L(state) = mean_m || g_m(state) ||^2,

the squared norm of its own estimates ``g_m`` (Tucker et al. 2017, REBAR,
section 4; Grathwohl et al. 2018, RELAX, eq. 5). Since the estimator is
unbiased for every state, ``E ||g||^2 = Var g + ||grad F||^2`` and the second
term does not depend on the state: descending ``L`` descends the variance.

When the state may change: only inside ``adapt``, which is called *after*
the estimates it uses have been made; ``__call__`` never changes it. An
estimate is therefore a function of the noise and a state fixed before that
noise was drawn, so it stays unbiased. ``state_summary()`` is the state as
plain floats (scalars) or norms (larger tensors), what a result row records.
"""
from __future__ import annotations

from typing import Any

import torch

from .base import Estimator, _check_count, check_problem_argument, replicate, sampling_from


class AdaptiveEstimator(Estimator):
    """Base for estimators with tunable state; ``state`` holds leaf tensors with ``requires_grad``."""

    #: Adam step size for the state.
    adapt_lr: float = 1e-2
    #: Steps a point measurement adapts before it freezes the state: REBAR's variance on
    #: the bernoulli toys (dims 1 and 10, t = 0.45, 0.499) is within its standard error of
    #: its value after 2,000 steps by 300 (16 estimates a step).
    default_adapt_steps: int = 300
    #: Estimates per adapt step.
    adapt_batch: int = 16

    def init_state(self, state: dict[str, torch.Tensor]) -> None:
        """Register the state (leaf tensors); its optimiser starts afresh at the next ``adapt``."""
        self.state = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
        self._optimizer = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """Adam over the state, made at the first ``adapt`` after ``init_state``.

        Made lazily because constructing a torch optimiser imports ``torch._dynamo`` (0.9 s
        here): every estimator a grid lists would pay it, ``mcgradbench list`` included.
        """
        if getattr(self, "_optimizer", None) is None:
            self._optimizer = torch.optim.Adam(list(self.state.values()), lr=self.adapt_lr)
        return self._optimizer

    def adapt(self, problem, num_estimates: int = 8, num_samples: int = 1,
              generator: torch.Generator | None = None) -> float:
        """One Adam step on the state down ``mean_m ||g_m||^2``; returns that mean before the step."""
        check_problem_argument(problem)
        _check_count("num_estimates", num_estimates, 1)
        _check_count("num_samples", num_samples, 1)
        self.check_num_samples(num_samples)
        params = replicate(problem.params, num_estimates)
        with torch.enable_grad(), sampling_from(generator):
            distribution = problem.distribution(params)
            self.check(distribution)
            objective = self.surrogate(problem, distribution, params, num_samples)
            objective = objective.reshape(num_estimates, -1).mean(1)
            grads = torch.autograd.grad(objective.sum(), list(params.values()),
                                        create_graph=True, allow_unused=True)
            loss = sum(g.pow(2).reshape(num_estimates, -1).sum(1) for g in grads
                       if g is not None).mean()
            self.optimizer.zero_grad()
            loss.backward(inputs=list(self.state.values()))
        self.optimizer.step()
        return float(loss.detach())

    def move_state(self, like: torch.Tensor) -> None:
        """The state, values kept, on ``like``'s device and dtype (a new optimiser with it)."""
        first = next(iter(self.state.values()))
        if first.device != like.device or first.dtype != like.dtype:
            self.init_state({k: v.detach().to(device=like.device, dtype=like.dtype)
                             for k, v in self.state.items()})

    def has_state(self) -> bool:
        """Whether there is state to adapt (``rebar`` only with ``tune=True``)."""
        return bool(self.state)

    def state_summary(self) -> dict[str, Any]:
        """The state as floats: scalars as they are, larger tensors by their norm."""
        return {k: float(v.detach()) if v.numel() == 1 else float(v.detach().norm())
                for k, v in self.state.items()}


def adapt_steps_for(estimator, steps: int | None) -> int:
    """The adapt steps a point measurement takes: ``steps``, or the estimator's default
    where it has state (0 for every stateless estimator)."""
    stateful = isinstance(estimator, AdaptiveEstimator) and estimator.has_state()
    if steps is None:
        return estimator.default_adapt_steps if stateful else 0
    _check_count("adapt_steps", steps, 0)
    if steps and not stateful:
        raise ValueError(f"adapt_steps={steps} for {estimator.label}, which has no state to "
                         f"adapt; adapt_steps applies to adaptive estimators (e.g. rebar(tune=True))")
    return steps


def adapt_for(estimator: AdaptiveEstimator, problem, steps: int, num_samples: int,
              generator: torch.Generator) -> list[float]:
    """``steps`` adapt steps in a row; the mean squared norm of each step's estimates."""
    return [estimator.adapt(problem, estimator.adapt_batch, num_samples, generator)
            for _ in range(steps)]
