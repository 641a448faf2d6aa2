"""Deliberately broken estimators and problems: `mcgradbench check` must fail each, naming the check."""
import torch

from estimators.reparam import Reparam
from estimators.score_function import ScoreFunction
from suites.problems.gaussian import Gaussian


class WrongShape(Reparam):
    """Returns the mean over estimates, shape (1, *shape), instead of M estimates."""

    name = "wrong_shape"

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        grads = super().__call__(problem, num_estimates, num_samples, generator)
        return {n: g.mean(0, keepdim=True) for n, g in grads.items()}


class SelfBaseline(ScoreFunction):
    """Claims unbiased, but its baseline is the mean cost including the sample's own (biased)."""

    name = "self_baseline"

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            z = distribution.sample((num_samples,))
        cost = problem.cost(z, params)
        weight = cost.detach() - cost.detach().mean(0, keepdim=True)
        return (distribution.log_prob(z) * weight + cost).mean(0)


class IgnoresGenerator(Reparam):
    """Draws from the global RNG whatever generator it is given."""

    name = "ignores_generator"

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        return super().__call__(problem, num_estimates, num_samples, None)


class SameNoiseEveryCall(Reparam):
    """Reseeds itself at every call: estimates vary within a call, never between calls."""

    name = "same_noise_every_call"

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        return super().__call__(problem, num_estimates, num_samples, torch.Generator().manual_seed(0))


class GradientOffByFactor(Gaussian):
    """A Gaussian whose exact gradient is twice the true one."""

    name = "gradient_off_by_factor"

    def exact_gradient(self, params=None):
        return {n: 2 * g for n, g in super().exact_gradient(params).items()}


class DeclaredBiased(Reparam):
    """Reparam's estimates (unbiased), but declaring itself biased: ranked apart whatever the
    z test says (advise, the verdict)."""

    name = "declared_biased"
    options = {"b": 0.0}  # unused: an option to spell in labels
    unbiased = False
