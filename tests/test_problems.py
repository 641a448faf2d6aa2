"""Exact gradients against hand-derived formulas, finite differences and Monte Carlo."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import suites
from suites.problems import check_scale_tril
from suites.problems.gaussian import COSTS


def test_gaussian_square_gradient_is_hand_formula():
    prob = suites.problems.get("gaussian", dim=3, loc=[0.0, 1.0, -2.0], scale=[1.0, 0.5, 2.0],
                               cost="square", k=1.5)
    g = prob.exact_gradient()
    loc, scale = prob.params["loc"], prob.params["scale"]
    torch.testing.assert_close(g["loc"], 2 * (loc - 1.5))
    torch.testing.assert_close(g["scale"], 2 * scale)


def test_gaussian_cos_gradient_is_hand_formula():
    prob = suites.problems.get("gaussian", dim=2, loc=[0.3, -1.0], scale=[0.7, 1.2], cost="cos", k=2.0)
    g = prob.exact_gradient()
    mu, sigma, k = prob.params["loc"], prob.params["scale"], 2.0
    damp = torch.exp(-(k**2) * sigma**2 / 2)
    torch.testing.assert_close(g["loc"], -k * torch.sin(k * mu) * damp)
    torch.testing.assert_close(g["scale"], -(k**2) * sigma * torch.cos(k * mu) * damp)


def test_log_scale_gradient_is_chain_rule_of_scale_gradient():
    common = dict(dim=4, loc=0.3, scale=[0.5, 1.0, 1.5, 2.0], cost="exp", k=0.7)
    by_scale = suites.problems.get("gaussian", **common).exact_gradient()
    by_log = suites.problems.get("gaussian", parameterization="log_scale", **common)
    scale = by_log.params["log_scale"].exp()
    torch.testing.assert_close(by_log.exact_gradient()["log_scale"], scale * by_scale["scale"])


@settings(max_examples=25, deadline=None)
@given(cost=st.sampled_from(COSTS), mu=st.floats(-2, 2), sigma=st.floats(0.2, 2.0),
       k=st.floats(0.2, 2.0))
def test_gaussian_gradient_matches_finite_differences(cost, mu, sigma, k):
    prob = suites.problems.get("gaussian", dim=1, loc=mu, scale=sigma, cost=cost, k=k)
    g = prob.exact_gradient()
    exact64 = prob.to(dtype=torch.float64)
    h = 1e-6
    for name in ("loc", "scale"):
        up = {n: p.double().clone() for n, p in prob.params.items()}
        down = {n: p.double().clone() for n, p in prob.params.items()}
        up[name] += h
        down[name] -= h
        fd = (exact64.expectation(up) - exact64.expectation(down)) / (2 * h)
        assert abs(float(g[name]) - float(fd)) < 1e-5 * (1 + abs(float(fd)))


def test_gaussian_full_gradient_is_hand_formula():
    prob = suites.problems.get("gaussian_full", dim=5, seed=3)
    g = prob.exact_gradient()
    A, b = prob.A, prob.b
    loc, L = prob.params["loc"], prob.params["scale_tril"]
    torch.testing.assert_close(g["loc"], 2 * A @ loc + b)
    torch.testing.assert_close(g["scale_tril"], torch.tril(2 * A @ L))


def test_bernoulli_gradient_is_hand_formula():
    prob = suites.problems.get("bernoulli", dim=3, logits=[-1.0, 0.0, 2.0], target=0.45)
    p = torch.sigmoid(prob.params["logits"])
    torch.testing.assert_close(prob.exact_gradient()["logits"], p * (1 - p) * (1 - 2 * 0.45))


@pytest.mark.parametrize("name,config", [
    ("gaussian", dict(dim=3, cost="square")), ("gaussian", dict(dim=3, cost="cos", k=1.3)),
    ("gaussian", dict(dim=3, cost="exp", k=0.5)), ("gaussian", dict(dim=3, cost="linear", k=2.0)),
    ("gaussian_full", dict(dim=4)), ("bernoulli", dict(dim=4, target=0.3)),
])
def test_closed_form_expectation_matches_monte_carlo(name, config):
    prob = suites.problems.get(name, **config).to(dtype=torch.float64)
    dist = prob.distribution(prob.params)
    z = dist.sample((400_000,))
    f = prob.cost(z, prob.params)
    se = f.std() / math.sqrt(f.numel())
    assert abs(float(f.mean() - prob.expectation(prob.params))) < 5 * float(se) + 1e-12


def test_cost_and_distribution_broadcast_over_replicas():
    for name in suites.problems.names():
        prob = suites.problems.get(name)
        if prob.num_params > 10_000:
            continue
        reps = {k: v.expand(3, *v.shape) for k, v in prob.params.items()}
        dist = prob.distribution(reps)
        z = dist.sample((2,))
        assert prob.cost(z, reps).shape == (2, 3) + prob.distribution(prob.params).batch_shape


@pytest.mark.parametrize("config,match", [
    (dict(scale=0.0), "scale must be > 0"),
    (dict(scale=-1.0), "scale must be > 0"),
    (dict(cost="quartic"), "unknown cost 'quartic'.*square"),
    (dict(parameterization="softplus"), "unknown parameterization"),
    (dict(dim=0), "dim must be an integer >= 1"),
    (dict(dim=2, loc=[1.0, 2.0, 3.0]), "loc must be a number or a list of 2"),
    (dict(cost="exp", k=-1.0), "exp cost needs k > 0"),
])
def test_gaussian_rejects_bad_config(config, match):
    with pytest.raises(ValueError, match=match):
        suites.problems.get("gaussian", **config)


@pytest.mark.parametrize("probs", [0.0, 1.0, 1.5, -0.2, [0.5, 1.0]])
def test_bernoulli_rejects_probabilities_outside_open_unit_interval(probs):
    with pytest.raises(ValueError, match=r"probs must lie in the open interval \(0, 1\)"):
        suites.problems.get("bernoulli", dim=2, probs=probs)


def test_bernoulli_probs_and_logits_agree():
    a = suites.problems.get("bernoulli", dim=2, probs=[0.2, 0.7])
    torch.testing.assert_close(torch.sigmoid(a.params["logits"]), torch.tensor([0.2, 0.7]))


@pytest.mark.parametrize("matrix,match", [
    ([[1.0, 0.5], [0.0, 1.0]], "lower-triangular"),
    ([[1.0, 0.0], [0.3, -1.0]], "positive diagonal"),
    ([[1.0, 0.0], [0.3, 0.0]], "positive diagonal"),
    ([[1.0, 0.0, 0.0]], "square"),
])
def test_scale_tril_validation(matrix, match):
    with pytest.raises(ValueError, match=match):
        check_scale_tril(torch.tensor(matrix))
    with pytest.raises(ValueError, match=match):
        suites.problems.get("gaussian_full", dim=2, scale_tril=matrix)


def test_custom_scale_tril_is_used():
    prob = suites.problems.get("gaussian_full", dim=2, scale_tril=[[2.0, 0.0], [0.5, 1.0]])
    torch.testing.assert_close(prob.params["scale_tril"], torch.tensor([[2.0, 0.0], [0.5, 1.0]]))


def test_to_moves_constants_and_params():
    prob = suites.problems.get("gaussian_full", dim=1).to(dtype=torch.float64)
    assert prob.A.dtype == prob.b.dtype == prob.params["loc"].dtype == torch.float64


def test_statistics_do_not_depend_on_whether_opt_einsum_is_installed(monkeypatch):
    # torch orders a many-operand einsum's contractions with opt_einsum when it is importable
    # (the peers extra brings it): a cost written as one would round differently, and the
    # published statistics would depend on what else is installed.
    import estimators

    def rows():
        prob = suites.problems.get("gaussian_full", dim=1)
        return suites.measure(prob, estimators.get("score_function"), num_estimates=10_000,
                              num_samples=4, seed=0, min_run_time=0, exact=False)

    monkeypatch.setattr(torch.backends.opt_einsum, "enabled", True)
    with_opt = rows()
    monkeypatch.setattr(torch.backends.opt_einsum, "enabled", False)
    without = rows()
    for column in ("mean_norm", "variance", "bias_norm"):
        assert (with_opt[column].to_numpy() == without[column].to_numpy()).all(), column
