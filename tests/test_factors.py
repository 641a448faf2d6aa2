"""Problems with independent factors (data points): per-factor costs and the DisARM estimator."""
import torch
from torch.distributions import Bernoulli, Independent

import estimators
import suites
from suites.problems.base import Problem


class FactoredBernoulli(Problem):
    """N independent factors of D Bernoullis; factor n has cost sum_i (b_ni - t_n)^2."""

    name = "factored_bernoulli"

    def __init__(self, num_factors=6, dim=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.params = {"logits": torch.randn(num_factors, dim, generator=g)}
        self.targets = torch.linspace(-1.0, 2.0, num_factors)
        self.config = {"num_factors": num_factors, "dim": dim, "seed": seed}

    def distribution(self, params):
        return Independent(Bernoulli(logits=params["logits"], validate_args=False), 1)

    def cost(self, z, params):
        return ((z - self.targets.unsqueeze(-1)) ** 2).sum(-1)  # K x M x N

    def expectation(self, params):
        p = torch.sigmoid(params["logits"])
        t = self.targets.unsqueeze(-1)
        return (p * (1 - t) ** 2 + (1 - p) * t**2).sum(-1).mean()


class GlobalCost(FactoredBernoulli):
    """The same F with no factors declared: one event of N x D Bernoullis, one averaged cost."""

    def distribution(self, params):
        return Independent(Bernoulli(logits=params["logits"], validate_args=False), 2)

    def cost(self, z, params):
        return super().cost(z, params).mean(-1)  # K x M


def test_factored_estimators_are_unbiased():
    prob = FactoredBernoulli()
    for est, k in [(estimators.get("score_function"), 1), (estimators.get("disarm"), 1),
                   (estimators.get("score_function", baseline="loo"), 3)]:
        df = suites.measure(prob, est, 20_000, num_samples=k, seed=0, min_run_time=0)
        assert df.iloc[0]["max_abs_z"] < 5, est.label


def test_per_factor_cost_has_lower_score_function_variance_than_a_global_one():
    # Both are unbiased for the same F; only the per-factor one keeps other data points' noise out.
    est = estimators.get("score_function")
    local = suites.measure(FactoredBernoulli(), est, 20_000, seed=1, min_run_time=0).iloc[0]
    glob = suites.measure(GlobalCost(), est, 20_000, seed=1, min_run_time=0).iloc[0]
    assert glob["max_abs_z"] < 5
    assert local["variance"] + 5 * local["variance_se"] < glob["variance"] - 5 * glob["variance_se"]


def test_disarm_one_pair_is_the_paper_formula():
    prob = suites.problems.get("bernoulli", dim=4, logits=[-1.5, -0.2, 0.4, 2.0], target=0.3)
    g = torch.Generator().manual_seed(9)
    grads = estimators.get("disarm")(prob, 1, 1, g)["logits"][0]
    g = torch.Generator().manual_seed(9)
    with estimators.sampling_from(g):
        u = torch.distributions.Uniform(torch.tensor(0.0), torch.tensor(1.0)).sample((1, 1, 4))[0, 0]
    theta = prob.params["logits"]
    b = (u < torch.sigmoid(theta)).float()
    b_anti = (1 - u < torch.sigmoid(theta)).float()
    f = lambda x: ((x - 0.3) ** 2).sum()
    expected = 0.5 * (f(b) - f(b_anti)) * (-1) ** b_anti * (b != b_anti).float() * torch.sigmoid(theta.abs())
    torch.testing.assert_close(grads, expected)


def test_disarm_refuses_gaussian():
    import pytest
    with pytest.raises(ValueError, match="disarm applies to Bernoulli variables only, got Normal"):
        estimators.get("disarm")(suites.problems.get("gaussian"), 3)


def test_rebar_refuses_gaussian_and_bad_options():
    import pytest
    with pytest.raises(ValueError, match="rebar applies to Bernoulli variables only, got Normal"):
        estimators.get("rebar")(suites.problems.get("gaussian"), 3)
    with pytest.raises(ValueError, match="temperature must be"):
        estimators.get("rebar", temperature=0.0)
    with pytest.raises(ValueError, match="eta must be a finite number"):
        estimators.get("rebar", eta=float("nan"))


def test_rebar_is_unbiased_on_factored_problems():
    df = suites.measure(FactoredBernoulli(), estimators.get("rebar"), 20_000, seed=3, min_run_time=0)
    assert df.iloc[0]["max_abs_z"] < 5
