"""ARMS: DisARM at n = 2, its exact law on one Bernoulli by a separate enumeration, the copulas' rho.

Statistical bounds: |z| < 4.5 per check (two-sided false-alarm rate 7e-6 each, under 1e-4
over this file's checks) at fixed seeds.
"""
import math

import pytest
import scipy.stats
import torch

import estimators
import suites
from estimators.arms import one_minus_rho
from suites.measurement.exact import exact_moments

T = 0.49  # the ARMS paper's toy f(b) = (b - 0.49)^2


def test_arms_at_two_samples_is_disarm_estimate_for_estimate():
    # the Dirichlet copula at n = 2 draws one uniform v: (u_1, u_2) = (1 - v, v), DisARM's pair
    prob = suites.problems.get("bernoulli", dim=3, probs=[0.2, 0.5, 0.8], target=T)
    arms = estimators.get("arms", n=2)(prob, 500, 3, torch.Generator().manual_seed(4))["logits"]
    disarm = estimators.get("disarm")(prob, 500, 3, torch.Generator().manual_seed(4))["logits"]
    torch.testing.assert_close(arms, disarm, rtol=0, atol=1e-7)


def test_arms_at_two_samples_has_disarms_exact_variance_and_the_hand_value():
    # One Bernoulli, p < 1/2: the pair differs with probability 2p, and then the estimate is
    # c = (f(1) - f(0)) (1 - p) / 2; so E g = 2 p c = p (1 - p)(f1 - f0), Var g = 2 p c^2 - (2 p c)^2.
    prob = suites.problems.get("bernoulli", dim=1, probs=0.3, target=T)
    p = float(torch.sigmoid(prob.params["logits"].double()))  # 0.3 as float32 logits hold it
    c = ((1 - T) ** 2 - T**2) * (1 - p) / 2
    arms = exact_moments(prob, estimators.get("arms", n=2))
    disarm = exact_moments(prob, estimators.get("disarm"))
    assert float(arms.variance["logits"]) == pytest.approx(2 * p * c**2 - (2 * p * c) ** 2, rel=1e-9)
    assert float(arms.mean["logits"]) == pytest.approx(2 * p * c, rel=1e-9)
    torch.testing.assert_close(arms.variance["logits"], disarm.variance["logits"], rtol=1e-12, atol=0)


def arms_law(n: int, p: float):
    """Exact mean and variance of ARMS (Dirichlet copula) on f(b) = (b - T)^2, one Bernoulli.

    With m ones among the n samples, sum_k (f_k - fbar)(b_k - p) = m (n - m)(f1 - f0) / n, so
    g = m (n - m)(f1 - f0) / (n (n - 1)(1 - rho)). For q = min(p, 1 - p) a sample is the rarer
    outcome when d_k > c = 1 - q^(1/(n-1)) (d ~ Dir(1_n), uniform on the simplex), and
    P(d_k > c for all k in T) = (1 - |T| c)_+^(n-1); inclusion-exclusion gives the law of m.
    rho from its definition: P(both rare) = P(d_1 > c, d_2 > c) = (1 - 2c)_+^(n-1).
    """
    q = min(p, 1 - p)
    c = 1 - q ** (1 / (n - 1))
    tail = lambda size: max(1 - size * c, 0.0) ** (n - 1)
    both = tail(2)
    rho = (both - q * q) / (q * (1 - q))
    f1_f0 = (1 - T) ** 2 - T**2
    mean = second = 0.0
    for m in range(n + 1):  # m rare outcomes (the count of ones or of zeros: g is symmetric)
        exactly = sum(math.comb(n - m, i) * (-1) ** i * tail(m + i) for i in range(n - m + 1))
        prob_m = math.comb(n, m) * exactly
        g = m * (n - m) * f1_f0 / (n * (n - 1) * (1 - rho))
        mean, second = mean + prob_m * g, second + prob_m * g * g
    return mean, second - mean * mean


@pytest.mark.parametrize("n,p", [(3, 0.2), (5, 0.7)])
def test_arms_matches_its_exact_law_by_a_separate_enumeration(n, p):
    mean, variance = arms_law(n, p)
    assert mean == pytest.approx(p * (1 - p) * ((1 - T) ** 2 - T**2), rel=1e-12)  # unbiased
    prob = suites.problems.get("bernoulli", dim=1, probs=p, target=T)
    m = 40_000
    g = estimators.get("arms", n=n)(prob, m, 1, torch.Generator().manual_seed(n))["logits"][:, 0]
    g = g.to(torch.float64)
    assert abs(float(g.mean()) - mean) < 4.5 * float(g.std()) / math.sqrt(m)
    # se of the sample variance: sqrt((mu4 - sigma^4) / M)
    centred = g - g.mean()
    variance_se = math.sqrt(float((centred**4).mean() - centred.var() ** 2) / m)
    assert abs(float(g.var()) - variance) < 4.5 * variance_se


@pytest.mark.parametrize("n", [3, 5, 10])
def test_gaussian_copula_correlation_against_scipy(n):
    r = -1 / (n - 1)
    joint = scipy.stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]])
    for p in (0.1, 0.4, 0.8):
        q = min(p, 1 - p)
        h = scipy.stats.norm.ppf(q)
        both = joint.cdf([h, h])
        want = (q - both) / (q * (1 - q))
        got = float(one_minus_rho(torch.tensor(p, dtype=torch.float64), n, "gaussian"))
        assert got == pytest.approx(want, rel=1e-6)


def test_dirichlet_copula_correlation_by_sampling_the_copula():
    # the reference code's rho against the correlation of sampled b (M = 200,000, |z| < 4.5)
    n, p = 4, 0.3
    prob = suites.problems.get("bernoulli", dim=1, probs=p)
    est = estimators.get("arms", n=n)
    with estimators.sampling_from(torch.Generator().manual_seed(1)):
        b = est.samples(prob.params["logits"].expand(200_000, 1), 1)[:, 0, :, 0].to(torch.float64)
    rho = float(torch.corrcoef(b[:2])[0, 1])
    want = 1 - float(one_minus_rho(torch.tensor(p, dtype=torch.float64), n, "dirichlet"))
    assert abs(rho - want) < 4.5 / math.sqrt(200_000)  # se of a correlation <= 1 / sqrt(M)


def test_arms_counts_n_evaluations_a_draw_and_refuses_bad_options():
    prob = suites.problems.get("bernoulli", dim=10)
    assert estimators.get("arms", n=6).evaluations(prob, 3) == 18
    assert estimators.get("arms", n=2).evaluations(prob, 2) == estimators.get("disarm").evaluations(prob, 2)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        estimators.get("arms", n=1)
    with pytest.raises(ValueError, match="unknown copula 'clayton'"):
        estimators.get("arms", copula="clayton")
