"""Double control variates: the exact law on one Bernoulli by a separate enumeration, the refusals.

Statistical bounds: |z| < 4.5 per check (false-alarm rate 7e-6 each) at fixed seeds.
"""
import itertools

import pytest
import torch
from torch.distributions import Bernoulli, Independent

import estimators
import suites
from suites.measurement.exact import exact_moments
from suites.problems.base import Problem

T, ALPHA = 0.45, 0.75  # 0.75: exact in float32, where the state is kept


def by_hand(p: float, alpha: float):
    """Mean and variance of the K = 2 estimate on f(b) = (b - T)^2, enumerating (b_1, b_2).

    g_k = f'(b_k) = 2 (b_k - T), s_k = b_k - p, h_1 = f_1 + alpha g_2 s_1, h_2 = f_2 + alpha g_1 s_2,
    est = 1/2 [(h_1 - h_2) s_1 + (h_2 - h_1) s_2] - alpha (g_1 + g_2) / 2 p (1 - p).
    """
    f, g = (lambda b: (b - T) ** 2), (lambda b: 2 * (b - T))
    mean = second = 0.0
    for b1, b2 in itertools.product((0.0, 1.0), repeat=2):
        weight = (p if b1 else 1 - p) * (p if b2 else 1 - p)
        s1, s2 = b1 - p, b2 - p
        h1, h2 = f(b1) + alpha * g(b2) * s1, f(b2) + alpha * g(b1) * s2
        est = 0.5 * ((h1 - h2) * s1 + (h2 - h1) * s2) - alpha * (g(b1) + g(b2)) / 2 * p * (1 - p)
        mean, second = mean + weight * est, second + weight * est * est
    return mean, second - mean * mean


def test_double_cv_exact_moments_are_the_enumeration_by_hand():
    prob = suites.problems.get("bernoulli", dim=1, probs=0.3, target=T)
    p = float(torch.sigmoid(prob.params["logits"].double()))
    est = estimators.get("double_cv", alpha=ALPHA)
    exact = exact_moments(prob, est, num_samples=2)
    mean, variance = by_hand(p, ALPHA)
    assert mean == pytest.approx(p * (1 - p) * (1 - 2 * T), rel=1e-12)  # unbiased at alpha = 0.75
    assert float(exact.mean["logits"]) == pytest.approx(mean, rel=1e-9)
    assert float(exact.variance["logits"]) == pytest.approx(variance, rel=1e-9)
    # alpha = 0 is the leave-one-out estimator; the control variate changes the variance
    assert by_hand(p, 0.0)[1] == pytest.approx(float(exact_moments(
        prob, estimators.get("score_function", baseline="loo"), num_samples=2).variance["logits"]), rel=1e-9)
    assert abs(variance - by_hand(p, 0.0)[1]) > 1e-3 * variance
    # (sampled against exact: tests/test_exact.py, after adaptation)


class Thresholded(Problem):
    """A cost of b through a comparison: no gradient in b (with ``weighted``, a gradient in
    the parameters all the same)."""

    name = "thresholded"
    config = {}

    def __init__(self, weighted: bool):
        self.params, self.weighted = {"logits": torch.zeros(2)}, weighted

    def distribution(self, params):
        return Independent(Bernoulli(logits=params["logits"], validate_args=False), 1)

    def cost(self, z, params):
        hard = (z > 0.5).to(z.dtype)
        return (hard * params["logits"]).sum(-1) if self.weighted else hard.sum(-1)


@pytest.mark.parametrize("weighted", [False, True])
def test_double_cv_refuses_a_cost_without_a_gradient_in_b_and_one_sample(weighted):
    est = estimators.get("double_cv")
    with pytest.raises(ValueError, match="double_cv needs a cost differentiable in the binary "
                                         "sample b; the cost of thresholded is not"):
        est(Thresholded(weighted), 4, 2)
    with pytest.raises(ValueError, match="num_samples >= 2"):
        est(suites.problems.get("bernoulli"), 4, 1)


def test_adapting_alpha_moves_it_towards_the_variance_minimum():
    # dim 10, t = 0.499: f = (1 - 2t) sum b + const, so the others' gradient 2 (b - t) is a
    # control variate with a negative optimal alpha; adapting from 0 must move alpha below 0
    prob = suites.problems.get("bernoulli", dim=10)
    est = estimators.get("double_cv")
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        est.adapt(prob, 16, 2, generator)
    assert est.state_summary()["alpha"] < 0
