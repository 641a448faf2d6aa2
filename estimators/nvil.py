"""NVIL: the score function with a learned, input-dependent baseline.

For an amortised problem (data points ``x_n``, one latent ``z_n`` each, cost
``f_n(z_n)``; ``F`` their mean) one estimate is::

    g = 1/K sum_k [ (f_n(z_k) - b_psi(x_n)) grad log q(z_k | x_n) + grad_theta f_n(z_k) ]

summed over the data points as ``F`` is, with ``b_psi(x) = c + r_psi(x)``: a
constant plus a one-hidden-layer network (``tanh``, ``hidden`` units;
``estimators.networks``) of the data point (Mnih & Gregor 2014, "Neural Variational Inference and Learning
in Belief Networks", ICML, section 3.1, the input-dependent baseline). For a
problem without data (the toys) the baseline is the constant alone, learned
the same way. It is unbiased for every ``psi``: the baseline never depends
on the sample it multiplies.

``adapt`` is the paper's rule, not the generic squared-norm step of
``estimators.adaptive``: over fresh samples, ``c`` follows a moving average of
the signal left by the network, ``c <- 0.8 c + 0.2 mean(f - r_psi(x))`` (set to
that mean at the first step), and ``r_psi`` takes one Adam step down the mean
squared centred signal ``mean (f_n(z) - c - r_psi(x_n))^2``, the regression of
the baseline on the signal (section 3.1). NVIL's variance
normalisation (dividing by a running standard deviation) rescales the
gradient and so would bias it; it is left out. The state is created on first
use, sized by the problem's data (its ``x``), from ``seed``.
"""
from __future__ import annotations

import torch

from .adaptive import AdaptiveEstimator
from .base import _check_count, replicate, sampling_from
from .networks import apply, initial_weights, one_hidden_layer
from .score_function import ScoreFunction


#: Weight of the old value in the moving average of the constant baseline c.
MOVING_AVERAGE = 0.8


class NVIL(ScoreFunction, AdaptiveEstimator):
    """Score function with NVIL's learned baseline (input-dependent where the problem has data)."""

    name = "nvil"
    options = {"hidden": 16, "seed": 0}
    families = ("any",)
    adapt_lr = 3e-2

    def __init__(self, **options):
        AdaptiveEstimator.__init__(self, **options)
        for key, low in (("hidden", 1), ("seed", 0)):
            value = self.config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
        self.state = {}
        self._centred = False

    def check_num_samples(self, num_samples: int) -> None:
        """Any K: the baseline is learned, not taken from the other samples."""

    def has_state(self) -> bool:
        return True

    @staticmethod
    def inputs(problem) -> torch.Tensor | None:
        """The problem's data points, one row per factor of its cost: its ``x`` where the
        distribution's batch is one latent per data point (an amortised VAE); ``None``
        otherwise (the toys, and a posterior over weights that sees all the data at once)."""
        x = getattr(problem, "x", None)
        if not (isinstance(x, torch.Tensor) and x.dim() == 2):
            return None
        factors = problem.distribution(problem.params).batch_shape
        return x if tuple(factors) == (x.shape[0],) else None

    def ensure_state(self, problem) -> None:
        x = self.inputs(problem)
        size = 0 if x is None else x.shape[1]
        like = next(iter(problem.params.values()))
        # the state's size is its network's input width (none: no data, the constant alone)
        made_for = self.state["net.0.weight"].shape[1] if "net.0.weight" in self.state else 0
        if self.state and made_for == size:
            self.move_state(like)
            return
        state = {"c": torch.zeros(())}
        if size:  # r_psi starts at 0 (estimators.networks): the baseline starts as its constant
            state.update(initial_weights(self.network_module(size), self.config["seed"]))
        self.init_state({k: v.to(device=like.device, dtype=like.dtype) for k, v in state.items()})

    def network_module(self, size: int):
        """``r_psi``'s module for data points of ``size`` numbers (weights in ``state``)."""
        return one_hidden_layer(size, self.config["hidden"], output_bias=False)

    def network(self, problem) -> torch.Tensor:
        """``r_psi`` per factor of the cost (0 for a problem without data)."""
        x = self.inputs(problem)
        if x is None:
            return torch.zeros((), dtype=self.state["c"].dtype, device=self.state["c"].device)
        return apply(self.network_module(x.shape[1]), self.state, x.to(self.state["c"].dtype))

    def baseline(self, problem) -> torch.Tensor:
        """``b_psi = c + r_psi`` per factor of the cost (a scalar for a problem without data)."""
        return self.state["c"] + self.network(problem)

    def surrogate(self, problem, distribution, params, num_samples):
        self.ensure_state(problem)
        with torch.no_grad():
            z = distribution.sample((num_samples,))  # K x M x factors x event
        cost = problem.cost(z, params)  # K x M x factors
        log_q = distribution.log_prob(z)
        weight = cost.detach() - self.baseline(problem).detach()
        return (log_q * weight + cost).mean(0)

    def adapt(self, problem, num_estimates: int = 8, num_samples: int = 1,
              generator: torch.Generator | None = None) -> float:
        """One Adam step on the baseline down ``mean (f - b)^2`` over fresh samples (NVIL's rule)."""
        _check_count("num_estimates", num_estimates, 1)
        _check_count("num_samples", num_samples, 1)
        self.ensure_state(problem)
        params = replicate(problem.params, num_estimates)
        with torch.no_grad(), sampling_from(generator):
            distribution = problem.distribution(params)
            cost = problem.cost(distribution.sample((num_samples,)), params)
        with torch.no_grad():
            centre = (cost - self.network(problem)).mean()
            c = self.state["c"]
            c.copy_(centre if not self._centred else MOVING_AVERAGE * c + (1 - MOVING_AVERAGE) * centre)
            self._centred = True
        if self.inputs(problem) is None:
            return float((cost - self.state["c"]).pow(2).mean().detach())
        with torch.enable_grad():
            loss = (cost - self.state["c"].detach() - self.network(problem)).pow(2).mean()
            self.optimizer.zero_grad()
            loss.backward(inputs=[v for k, v in self.state.items() if k != "c"])
        self.optimizer.step()
        return float(loss.detach())
