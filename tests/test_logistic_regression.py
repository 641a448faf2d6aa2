"""logistic_regression: the cached Monte Carlo reference against Gauss-Hermite quadrature; caching."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent

import estimators
import suites
from suites.problems import logistic_regression as module

pytestmark = pytest.mark.usefixtures("one_thread")

#: Small enough to keep the tests fast; the reference's se enters every bound.
REFERENCE_SAMPLES = 100_000


def problem(family, **config):
    return suites.problems.get("logistic_regression", family=family,
                               reference_samples=REFERENCE_SAMPLES, **config)


def quadrature_elbo(prob, params, nodes=64):
    """The ELBO by Gauss-Hermite quadrature, independent of sampling.

    ``a_n = x_n^T w`` is Gaussian under q, ``N(x_n^T loc, x_n^T S x_n)``, so
    ``E log p(y|X,w) = sum_n y_n E a_n - E softplus(a_n)`` is a sum of 1-D
    Gaussian integrals; ``E log p(w)`` and the entropy of q are closed forms.
    """
    loc = params["loc"]
    if prob.family == "diag":
        cov = torch.diag(torch.exp(2 * params["log_scale"]))
    else:
        tril = torch.tril(params["scale_tril"])
        cov = tril @ tril.T
    x, y = prob.x, prob.y
    mean_a = x @ loc
    sd_a = torch.sqrt(((x @ cov) * x).sum(-1))
    t, w = (torch.as_tensor(v, dtype=torch.float64) for v in np.polynomial.hermite.hermgauss(nodes))
    a = mean_a[:, None] + math.sqrt(2) * sd_a[:, None] * t  # N x nodes
    expected_softplus = (torch.nn.functional.softplus(a) * w).sum(-1) / math.sqrt(math.pi)
    log_lik = (y * mean_a - expected_softplus).sum()
    s2, dim = prob.prior_scale**2, loc.numel()
    log_prior = -0.5 * dim * math.log(2 * math.pi * s2) - (loc @ loc + torch.trace(cov)) / (2 * s2)
    entropy = 0.5 * torch.logdet(2 * math.pi * math.e * cov)
    return log_lik + log_prior + entropy


def quadrature_gradient(prob):
    prob = prob.to(dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_(True) for k, v in prob.params.items()}
    grads = torch.autograd.grad(quadrature_elbo(prob, leaves), list(leaves.values()))
    return dict(zip(leaves, grads))


@pytest.mark.parametrize("family", ["diag", "full"])
def test_quadrature_is_converged_and_matches_the_elbo_samples(family):
    prob = problem(family).to(dtype=torch.float64)
    exact = quadrature_elbo(prob, prob.params)
    torch.testing.assert_close(quadrature_elbo(prob, prob.params, nodes=128), exact, rtol=1e-12, atol=1e-9)
    z = prob.distribution(prob.params).sample((100_000,))
    f = prob.cost(z, prob.params)
    assert abs(float(f.mean() - exact)) < 5 * float(f.std() / math.sqrt(f.numel()))


@pytest.mark.parametrize("family", ["diag", "full"])
def test_reference_matches_quadrature_gradient_within_its_standard_error(cache, family):
    prob = problem(family)
    reference, se = prob.reference_gradient()
    truth = quadrature_gradient(prob)
    for name in prob.params:
        diff = (reference[name].double() - truth[name]).abs()
        # per coordinate within 5 se (plus float32 rounding of the stored reference)
        assert (diff <= 5 * se[name].double() + 1e-5 * truth[name].abs() + 1e-6).all(), name
    # The bound has power: it would catch a reference that dropped the entropy term,
    # whose gradient is 1 per log_scale and 1 / L_ii per diagonal entry of scale_tril.
    assert se["loc"].norm() < 0.01 * truth["loc"].norm()
    if family == "diag":
        assert (5 * se["log_scale"] < 1).all()
    else:
        tril = prob.params["scale_tril"]
        assert (5 * torch.diagonal(se["scale_tril"]) < 1 / torch.diagonal(tril)).all()
        upper = torch.triu(torch.ones_like(se["scale_tril"]), diagonal=1).bool()
        assert (reference["scale_tril"][upper] == 0).all() and (se["scale_tril"][upper] == 0).all()


def test_reference_is_cached_on_disk_and_keyed_by_config(cache, monkeypatch):
    first = problem("diag")
    reference, se = first.reference_gradient()
    path = first.cache_path()
    assert path.parent == cache and path.exists()
    assert not list(cache.glob("*.tmp"))  # written atomically: no temporary left behind

    def fail(*args, **kwargs):
        raise AssertionError("the cached reference was recomputed")

    monkeypatch.setattr(module, "monte_carlo_reference", fail)
    again, again_se = problem("diag").reference_gradient()
    for name in reference:
        assert torch.equal(again[name], reference[name]) and torch.equal(again_se[name], se[name])
    # a different configuration (or dtype of the same one) is a different / the same file
    assert problem("diag", seed=1).cache_path() != path
    assert problem("diag", prior_scale=2.0).cache_path() != path
    assert first.to(dtype=torch.float64).cache_path() == path


def test_unreadable_cache_file_is_recomputed(cache):
    prob = problem("diag", seed=7)
    prob.cache_path().parent.mkdir(parents=True, exist_ok=True)
    prob.cache_path().write_bytes(b"not a torch file")
    reference, _ = prob.reference_gradient()
    assert all(torch.isfinite(v).all() for v in reference.values())
    assert torch.load(prob.cache_path(), weights_only=True)["config"] == prob.config_json


def test_no_exact_gradient_and_the_rows_say_monte_carlo(cache):
    prob = problem("diag")
    assert prob.exact_gradient() is None and prob.reference_kind == "monte_carlo"
    df = suites.measure(prob, estimators.get("reparam"), num_estimates=2_000, seed=3, min_run_time=0)
    assert (df["reference"] == "monte_carlo").all()
    assert '"reference_samples": 100000' in df["problem_config"].iloc[0]
    # the reference's own se is in the bias se (added in quadrature)
    _, se = prob.reference_gradient()
    for _, row in df.iterrows():
        assert row["bias_se"] >= float(se[row["param"]].double().norm()) * (1 - 1e-6)


UNBIASED = [("score_function", {"baseline": "none"}, 1), ("score_function", {"baseline": "loo"}, 4),
            ("reparam", {}, 1)]


@pytest.mark.parametrize("family", ["diag", "full"])
@pytest.mark.parametrize("estimator,options,num_samples", UNBIASED, ids=str)
def test_unbiased_estimators_are_unbiased(cache, family, estimator, options, num_samples):
    prob = problem(family)
    df = suites.measure(prob, estimators.get(estimator, **options), num_estimates=10_000,
                        num_samples=num_samples, seed=1, min_run_time=0)
    assert (df["max_abs_z"] < 5).all(), df[["param", "max_abs_z", "bias_norm", "bias_se"]]


def test_log_likelihood_equals_bernoulli_log_prob():
    prob = problem("diag").to(dtype=torch.float64)
    w = torch.randn(3, 2, prob.x.shape[1], dtype=torch.float64)
    expected = Independent(Bernoulli(logits=w @ prob.x.T), 1).log_prob(prob.y)
    torch.testing.assert_close(prob.log_likelihood(w), expected)


def test_full_family_ignores_the_upper_triangle():
    prob = problem("full")
    params = dict(prob.params, scale_tril=prob.params["scale_tril"] + torch.triu(torch.ones(31, 31), 1))
    w = torch.randn(4, 31)
    torch.testing.assert_close(prob.cost(w, params), prob.cost(w, prob.params))


@pytest.mark.parametrize("config,match", [
    (dict(family="chol"), "unknown family 'chol'; allowed: diag, full"),
    (dict(prior_scale=0.0), "prior_scale must be a finite number > 0, got 0.0"),
    (dict(init_scale=-1.0), "init_scale must be a finite number > 0, got -1.0"),
    (dict(reference_samples=1500), "reference_samples must be a positive multiple of 1000.*got 1500"),
])
def test_bad_config_is_a_value_error(config, match):
    with pytest.raises(ValueError, match=match):
        suites.problems.get("logistic_regression", **config)
