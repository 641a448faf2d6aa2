"""Exact moments: the machinery against independent derivations, and the sampled moments against it.

Tier 1 (deterministic): ``suites.measurement.exact`` against closed forms and against
scipy's adaptive quadrature of hand-written one-sample formulas (so a bug in
an estimator's formula that keeps it unbiased, a flipped straight-through
sign or a REBAR conditional sample drawn independently, changes one side
only). Tier 2 (statistical): every registered estimator's sampled mean and
variance against its exact ones on the dim-1 problems, ``|z| < 5`` per
value: a two-sided normal rate of 5.7e-7 each, below 1e-4 over the ~150
values of this module.
"""
import math

import numpy as np
import pytest
import torch
from scipy import integrate

import estimators
import suites
from estimators.base import Estimator
from suites.measurement.exact import exact_moments, is_sample_mean
from suites.measurement.noise import ReplayNoise, UnsupportedNoise, record_unambiguous, replay

from test_statistics import closed_form_variances


def logistic_density(l):
    return math.exp(-abs(l)) / (1 + math.exp(-abs(l))) ** 2


def sigmoid(x):
    return 0.5 * (1 + math.tanh(x / 2))


# --- tier 1: the machinery ----------------------------------------------------------------

@pytest.mark.parametrize("num_samples", [1, 3])
@pytest.mark.parametrize("estimator", ["score_function", "reparam"])
def test_exact_variance_is_the_closed_form_on_the_square_cost(estimator, num_samples):
    mu, sigma, k = 0.25, 1.5, -0.5  # exact in float32, as the problem stores them
    prob = suites.problems.get("gaussian", dim=1, loc=mu, scale=sigma, cost="square", k=k)
    moments = exact_moments(prob, estimators.get(estimator), num_samples)
    expected = closed_form_variances(mu - k, sigma)
    exact = prob.exact_gradient()
    for param in ("loc", "scale"):
        assert float(moments.variance[param]) == pytest.approx(
            expected[(estimator, param)] / num_samples, rel=1e-9)
        assert float(moments.mean[param]) == pytest.approx(float(exact[param]), rel=1e-6)


def test_exact_score_function_on_bernoulli_is_the_enumeration():
    t, theta = 0.45, -0.75  # logits exact in float32
    prob = suites.problems.get("bernoulli", dim=1, logits=theta, target=t)
    p = sigmoid(theta)
    # g = f(b) (b - p): b = 1 with probability p, b = 0 otherwise.
    g1, g0 = (1 - t) ** 2 * (1 - p), t**2 * (0 - p)
    mean = p * g1 + (1 - p) * g0
    variance = p * g1**2 + (1 - p) * g0**2 - mean**2
    moments = exact_moments(prob, estimators.get("score_function"), 1)
    assert float(moments.mean["logits"]) == pytest.approx(mean, rel=1e-12)
    assert float(moments.variance["logits"]) == pytest.approx(variance, rel=1e-10)
    assert moments.nodes == 2


def relaxed_gradient(theta, t, tau, l, straight_through):
    """d/dtheta f(sigma((theta + l) / tau)), f(z) = (z - t)^2; straight-through: f' at the hard sample."""
    soft = sigmoid((theta + l) / tau)
    z = (1.0 if theta + l > 0 else 0.0) if straight_through else soft
    return 2 * (z - t) * soft * (1 - soft) / tau


@pytest.mark.parametrize("straight_through", [False, True])
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_relaxed_exact_moments_match_scipy_quadrature(tau, straight_through):
    theta, t = 1.0, 0.499
    prob = suites.problems.get("bernoulli", dim=1, logits=theta, target=t)
    name = "straight_through_gumbel" if straight_through else "gumbel_softmax"
    moments = exact_moments(prob, estimators.get(name, temperature=tau), 1)

    def moment(power):
        # split at the hard threshold l = -theta; the logistic tails beyond |l| = 40 are < 1e-17
        pieces = [(-40.0, -theta), (-theta, 40.0)]
        return sum(integrate.quad(
            lambda l: relaxed_gradient(theta, t, tau, l, straight_through) ** power * logistic_density(l),
            a, b, epsabs=1e-14, epsrel=1e-12, limit=400)[0] for a, b in pieces)

    mean = moment(1)
    assert float(moments.mean["logits"]) == pytest.approx(mean, rel=1e-7)
    assert float(moments.variance["logits"]) == pytest.approx(moment(2) - mean**2, rel=1e-6)
    # the bias is of the order the relaxation makes it, not a rounding residue
    assert abs(mean - float(prob.exact_gradient()["logits"])) > 1e-3


def rebar_noise(theta, u, v):
    """REBAR's draws by hand: ``p``, ``z = theta + logit(u)``, ``b = H(z)``, the conditional
    ``z~ | b`` from ``v`` and its derivative ``dz~/dtheta`` (Tucker et al. 2017, appendix)."""
    p = sigmoid(theta)
    z = theta + math.log(u / (1 - u))
    b = 1.0 if z > 0 else 0.0
    u_cond = (1 - p) + v * p if b else v * (1 - p)
    z_cond = theta + math.log(u_cond / (1 - u_cond))
    du_dp = (v - 1) if b else -v
    dz_cond = 1 + p * (1 - p) * du_dp / (u_cond * (1 - u_cond))
    return p, z, b, z_cond, dz_cond


def rebar_one_sample(theta, t, tau, eta, u, v):
    """REBAR (Tucker et al. 2017, eq. 6) for one Bernoulli(sigma(theta)), f(b) = (b - t)^2, by hand."""
    p, z, b, z_cond, dz_cond = rebar_noise(theta, u, v)

    def c(x):
        return (sigmoid(x / tau) - t) ** 2

    def dc(x):
        s = sigmoid(x / tau)
        return 2 * (s - t) * s * (1 - s) / tau

    f = (b - t) ** 2
    return (f - eta * c(z_cond)) * (b - p) + eta * dc(z) - eta * dc(z_cond) * dz_cond


def test_rebar_replayed_noise_is_the_hand_formula():
    theta, t, tau, eta = 0.8, 0.45, 0.5, 0.7
    prob = suites.problems.get("bernoulli", dim=1, logits=theta, target=t).to(dtype=torch.float64)
    est = estimators.get("rebar", eta=eta, temperature=tau)
    draws = record_unambiguous(est, prob, 1)
    u = torch.tensor([0.05, 0.3, 0.5, 0.62, 0.97], dtype=torch.float64)
    v = torch.tensor([0.9, 0.2, 0.5, 0.33, 0.01], dtype=torch.float64)
    grads = replay(est, prob, draws, [u.reshape(-1, 1, 1), v.reshape(-1, 1, 1)], 1)
    expected = [rebar_one_sample(theta, t, tau, eta, a, b) for a, b in zip(u.tolist(), v.tolist())]
    torch.testing.assert_close(grads["logits"][:, 0], torch.tensor(expected, dtype=torch.float64))


@pytest.mark.slow
def test_rebar_exact_variance_matches_scipy_quadrature():
    theta, t, tau, eta = 1.0, 0.499, 0.5, 1.0
    prob = suites.problems.get("bernoulli", dim=1, logits=theta, target=t)
    moments = exact_moments(prob, estimators.get("rebar", eta=eta, temperature=tau), 1)
    threshold = 1 - sigmoid(theta)  # b = 1 exactly when u > 1 - p

    def moment(power):
        return sum(integrate.dblquad(
            lambda v, u: rebar_one_sample(theta, t, tau, eta, u, v) ** power,
            a, b, 0.0, 1.0, epsabs=1e-11, epsrel=1e-9)[0] for a, b in [(0, threshold), (threshold, 1)])

    mean = moment(1)
    assert mean == pytest.approx(float(prob.exact_gradient()["logits"]), rel=1e-5)
    assert float(moments.variance["logits"]) == pytest.approx(moment(2) - mean**2, rel=1e-6)
    assert float(moments.variance["logits"]) == pytest.approx(0.018598, rel=1e-4)


def disarm_decoder_moments(prob):
    """Mean and variance of DisARM's decoder gradient with one latent and one datum, by hand.

    With ``u ~ U(0, 1)``, ``b = 1[u < p]``, ``b~ = 1[1 - u < p]``: the pair is constant on
    the three intervals cut at ``min(p, 1 - p)`` and ``max(p, 1 - p)``, and the decoder's
    gradient is the pathwise term averaged over the pair, ``(grad f(b) + grad f(b~)) / 2``.
    """
    params = {k: v.detach().to(torch.float64) for k, v in prob.params.items()}
    p = float(torch.sigmoid(prob.distribution(params).base_dist.logits).reshape(-1)[0])

    def decoder_grad(b):
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        cost = prob.cost(torch.tensor([[b]], dtype=torch.float64), leaves).sum()
        grad, = torch.autograd.grad(cost, [leaves["decoder.weight"]])
        return grad.reshape(-1)

    cuts = [0.0, min(p, 1 - p), max(p, 1 - p), 1.0]
    first, second, one_sided = 0, 0, 0
    for a, b in zip(cuts[:-1], cuts[1:]):
        u = (a + b) / 2
        g = (decoder_grad(float(u < p)) + decoder_grad(float(1 - u < p))) / 2
        first, second = first + (b - a) * g, second + (b - a) * g**2
        one_sided = one_sided + (b - a) * decoder_grad(float(u < p)) ** 2
    # what the pathwise term taken from one sample of the pair would give (same mean)
    return first, second - first**2, one_sided - first**2


def test_disarm_decoder_variance_on_a_vae_is_the_hand_enumeration():
    prob = suites.problems.get("bernoulli_vae", latent_dim=1, num_data=1, train_steps=0, seed=2)
    moments = exact_moments(prob, estimators.get("disarm"), 1)
    mean, variance, one_sided = disarm_decoder_moments(prob.to(dtype=torch.float64))
    torch.testing.assert_close(moments.mean["decoder.weight"], mean, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(moments.variance["decoder.weight"], variance, rtol=1e-8, atol=1e-14)
    # the check can see a change in how the pathwise term is averaged over the pair
    assert float(one_sided.mean()) > 1.5 * float(variance.mean())


def test_sample_mean_detection():
    prob = suites.problems.get("bernoulli", dim=1).to(dtype=torch.float64)
    plain, loo = estimators.get("score_function"), estimators.get("score_function", baseline="loo")
    draws_4 = record_unambiguous(plain, prob, 4)
    assert is_sample_mean(plain, prob, 4, draws_4, record_unambiguous(plain, prob, 1))
    gauss = suites.problems.get("gaussian", dim=1).to(dtype=torch.float64)
    draws_loo = record_unambiguous(loo, gauss, 4)
    draws_loo_1 = record_unambiguous(loo, gauss, 2)  # not the one-sample shape: refused
    assert not is_sample_mean(loo, gauss, 4, draws_loo, draws_loo_1)


class MultinomialEstimator(Estimator):
    """Draws through torch.multinomial, which the replay cannot control."""

    name = "multinomial_test"

    def check(self, distribution):
        pass

    def surrogate(self, problem, distribution, params, num_samples):
        pick = torch.multinomial(torch.ones(params["logits"].shape[0], 2), 1).to(params["logits"].dtype)
        return (pick * params["logits"]).sum(-1)


def test_noise_the_replay_cannot_control_gives_no_exact_value():
    prob = suites.problems.get("bernoulli", dim=1)
    assert exact_moments(prob, MultinomialEstimator(), 1) is None
    df = suites.measure(prob, MultinomialEstimator(), num_estimates=10, min_run_time=0)
    assert df["exact_variance"].isna().all()
    with pytest.raises(ValueError, match="no exact moments"):
        suites.measure(prob, MultinomialEstimator(), num_estimates=10, min_run_time=0, exact=True)
    with pytest.raises(UnsupportedNoise, match="multinomial"), ReplayNoise([], []):
        torch.multinomial(torch.ones(2), 1)


def test_large_problems_have_no_exact_moments():
    df = suites.measure(suites.problems.get("gaussian", dim=10), estimators.get("reparam"),
                        num_estimates=100, min_run_time=0)
    assert df["exact_variance"].isna().all() and df["exact_variance_z"].isna().all()


# --- tier 2: sampled against exact, every estimator -----------------------------------------

ESTIMATOR_CONFIGS = [
    ("score_function", {"baseline": "none"}, 1), ("score_function", {"baseline": "none"}, 4),
    ("score_function", {"baseline": "loo"}, 4), ("score_function", {"baseline": "loo"}, 2),
    ("reparam", {}, 1), ("reparam", {}, 4), ("delta_method", {}, 1), ("delta_method", {}, 2),
    ("score_function", {"baseline": "loo_optimal"}, 3),
    ("disarm", {}, 1), ("disarm", {}, 2), ("arm", {}, 1), ("arm", {}, 2),
    ("gumbel_rao", {"temperature": 0.5, "num_rb_samples": 1}, 1),
    ("gumbel_rao", {"temperature": 1.0, "num_rb_samples": 1}, 1),
    ("rebar", {}, 1), ("rebar", {"eta": 0.5, "temperature": 1.0}, 2), ("relax", {}, 1),
    ("rebar", {"tune": True}, 1), ("nvil", {}, 2),
    ("gumbel_softmax", {"temperature": 0.1}, 4), ("gumbel_softmax", {"temperature": 1.0}, 1),
    ("straight_through_gumbel", {"temperature": 0.5}, 4),
    ("straight_through_gumbel", {"temperature": 1.0}, 1),
    # ARMS at n = 2 (one uniform a coordinate; from n = 3 the copula's thresholds are not
    # axis-aligned and no exact value is given), double CV, IndeCateR (exact: separable costs)
    ("arms", {"n": 2}, 2), ("double_cv", {}, 2), ("indecater", {}, 1),
]
PROBLEMS_1D = [
    ("gaussian", dict(dim=1, cost="square", loc=0.5, scale=1.0, k=1.0)),
    ("gaussian", dict(dim=1, cost="cos", loc=0.3, scale=0.8, k=2.0, parameterization="log_scale")),
    ("gaussian_full", dict(dim=1)),
    ("bernoulli", dict(dim=1)),
    ("bernoulli", dict(dim=1, logits=-1.5, target=0.45)),
]
#: The optimal baseline's ratio sum f s^2 / sum s^2 over Gaussian samples is not smooth enough
#: for a Gauss-Hermite grid of a few hundred thousand points (0.4% apart between resolutions):
#: it is compared on the Bernoulli problems, where enumeration is exact.
NOT_ON_GAUSSIANS = {("score_function", "loo_optimal")}
CASES = [(p, c, e, o, k) for p, c in PROBLEMS_1D for e, o, k in ESTIMATOR_CONFIGS
         if estimators.get(e, **o).applies_to(suites.problems.get(p, **c))
         and not (p.startswith("gaussian") and (e, o.get("baseline")) in NOT_ON_GAUSSIANS)]
# Estimators of sets and of multi-sample objectives, on the smallest problems they apply to
# (the whole support of a Bernoulli at K = 2 is the zero-variance case; the categorical and
# larger sets are in test_unordered_set, the bound's other estimators in test_vimco).
CASES += [("bernoulli", dict(dim=1), "unordered_set", {}, 2),
          ("bernoulli_vae", dict(latent_dim=1, num_data=1, objective="iwae", bound_samples=2),
           "vimco", {}, 1),
          # double CV's Taylor term reads the bound's gradient in b through its K particles
          ("bernoulli_vae", dict(latent_dim=1, num_data=1, objective="iwae", bound_samples=2),
           "double_cv", {}, 2)]


#: Built-in estimators whose noise the replay cannot control, and why (no exact moments).
NO_EXACT = {"measure_valued": "its double-sided Maxwell draws are chi-square (gamma) variates",
            "rejection_reparam": "its Gamma(a + B) draws are gamma variates"}


def test_every_estimator_is_compared_with_its_exact_moments():
    builtin = {e for e in estimators.names() if estimators.origin(e) == "built-in"}
    assert {e for _, _, e, _, _ in CASES} == builtin - set(NO_EXACT)
    for name in NO_EXACT:
        prob = next(p for p in (suites.problems.get("gaussian", dim=1), suites.problems.get("gamma", dim=1))
                    if estimators.get(name).applies_to(p))
        assert exact_moments(prob, estimators.get(name), 1) is None


@pytest.mark.parametrize("problem,config,estimator,options,num_samples", CASES, ids=str)
def test_sampled_moments_agree_with_exact_ones(problem, config, estimator, options, num_samples):
    prob = suites.problems.get(problem, **config)
    est = estimators.get(estimator, **options)
    adapt = {"adapt_steps": 50} if getattr(est, "has_state", lambda: False)() else {}
    df = suites.measure(prob, est, num_estimates=20_000, num_samples=num_samples, seed=11,
                        min_run_time=0, exact=True, **adapt)
    shown = df[["param", "variance", "exact_variance", "exact_variance_z", "exact_mean_max_abs_z",
                "exact_bias_norm", "exact_rel_error"]]
    assert (df["exact_rel_error"] < 1e-5).all(), shown
    # A zero-variance estimator (the delta method on a quadratic cost) has only float32
    # rounding left in its sampled moments: compare sizes, not z-scores of rounding.
    scale = 1 + df["exact_norm"] ** 2
    degenerate = df["exact_variance"] < 1e-9 * scale
    assert (df.loc[degenerate, "variance"] < 1e-9 * scale[degenerate]).all(), shown
    assert df.loc[degenerate, "exact_variance_z"].isna().all(), shown
    assert (df.loc[~degenerate, "exact_variance_z"].abs() < 5).all(), shown
    assert (df.loc[~degenerate, "exact_mean_max_abs_z"] < 5).all(), shown
    if est.unbiased:
        assert (df["exact_bias_norm"] < 1e-9 * (1 + df["exact_norm"])).all(), shown
    else:
        assert (df["exact_bias_norm"] > 1e-4).all(), shown


def test_exact_moments_do_not_depend_on_the_estimators_passes(monkeypatch):
    import estimators.base as base
    prob = suites.problems.get("bernoulli", dim=1)
    est = estimators.get("rebar")
    whole = exact_moments(prob, est, 1)
    monkeypatch.setattr(base, "CHUNK_ELEMENTS", 5000)  # thousands of passes per replayed call
    split = exact_moments(prob, est, 1)
    torch.testing.assert_close(split.variance["logits"], whole.variance["logits"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("tau", [0.2, 1.0])
def test_gumbel_rao_has_the_straight_through_mean_and_less_variance(tau):
    # Rao-Blackwellising the straight-through estimator over the Gumbel noise given the hard
    # sample keeps its mean and cannot raise its variance (Paulus et al. 2021, section 3).
    prob = suites.problems.get("bernoulli", dim=1)
    st = exact_moments(prob, estimators.get("straight_through_gumbel", temperature=tau), 1)
    rao = exact_moments(prob, estimators.get("gumbel_rao", temperature=tau, num_rb_samples=1), 1)
    torch.testing.assert_close(rao.mean["logits"], st.mean["logits"], rtol=1e-7, atol=1e-12)
    assert float(rao.variance["logits"]) < float(st.variance["logits"])


def test_no_exact_value_where_the_quadrature_does_not_converge():
    # The argmax of three Gumbels jumps on surfaces no axis-aligned split follows: the two
    # resolutions disagree, and no "exact" value is reported rather than an inexact one.
    prob = suites.problems.get("categorical", dim=1)
    est = estimators.get("straight_through_gumbel", temperature=0.1)
    assert exact_moments(prob, est, 1) is None
