"""The guides' own examples (docs/guides/own-model.md, own-estimator.md), as a user copies them."""
import torch
from torch.distributions import Independent, Normal

from estimators import Estimator
from suites.problems.base import Problem, check_dim, vector


class Quartic(Problem):
    """Normal(loc, scale) with cost sum (z - t)^4; closed-form gradient."""

    name = "quartic"

    def __init__(self, dim: int = 3, target: float = 1.0):
        dim = check_dim(dim)
        self.target = float(target)
        self.params = {"loc": vector("loc", 0.0, dim), "scale": vector("scale", 1.0, dim, positive=True)}
        self.config = {"dim": dim, "target": self.target}

    def distribution(self, params):
        return Independent(Normal(params["loc"], params["scale"], validate_args=False), 1)

    def cost(self, z, params):
        return ((z - self.target) ** 4).sum(-1)

    def expectation(self, params):  # E (z - t)^4 = d^4 + 6 d^2 s^2 + 3 s^4, d = loc - t
        d, s = params["loc"] - self.target, params["scale"]
        return (d**4 + 6 * d**2 * s**2 + 3 * s**4).sum()


class ConstantBaseline(Estimator):
    """REINFORCE with a fixed baseline b (unbiased for every constant b)."""

    name = "constant_baseline"
    options = {"b": 0.0}

    def check(self, distribution):
        if not hasattr(distribution, "log_prob"):
            raise ValueError(f"constant_baseline needs log_prob, which {type(distribution).__name__} lacks")

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            z = distribution.sample((num_samples,))
        cost = problem.cost(z, params)
        return (distribution.log_prob(z) * (cost.detach() - self.config["b"]) + cost).mean(0)
