"""The naive per-sample loop of bench_vectorisation computes the same estimates as the registry's."""
import pytest
import torch

import suites
from benchmarks.bench_vectorisation import naive_score_function_loop, vectorised_score_function


@pytest.fixture(autouse=True)
def _one_thread():
    # The naive loop's per-sample ops are tiny: extra threads only add overhead
    # (many times over on a loaded machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_naive_loop_equals_vectorised_on_the_same_noise():
    # Both draw z from the global RNG seeded once from the generator. CPU
    # Normal sampling fills blocks of 16 numbers, so for dim = 16 one draw of
    # M x 16 and M draws of 16 consume the stream identically: same z, hence
    # the same estimates up to float rounding.
    prob = suites.problems.get("gaussian", dim=16)
    naive = naive_score_function_loop(prob, 300, torch.Generator().manual_seed(3))
    vectorised = vectorised_score_function(prob, 300, torch.Generator().manual_seed(3))
    assert naive.keys() == vectorised.keys() == prob.params.keys()
    for name in naive:
        assert naive[name].shape == vectorised[name].shape == (300, 16)
        torch.testing.assert_close(naive[name], vectorised[name])


def test_naive_loop_has_the_vectorised_distribution():
    # Implementation-independent check at the benchmarked dim: equal means
    # within 5 standard errors of their difference, equal variances within 5 se.
    prob = suites.problems.get("gaussian", dim=100)
    m = 2_000
    naive = naive_score_function_loop(prob, m, torch.Generator().manual_seed(1))
    vectorised = vectorised_score_function(prob, m, torch.Generator().manual_seed(2))
    exact = prob.exact_gradient()
    for name in naive:
        a, b = naive[name].double(), vectorised[name].double()
        se = ((a.var(0) + b.var(0)) / m).sqrt()
        assert ((a.mean(0) - b.mean(0)).abs() / se).max() < 5
        assert ((a.mean(0) - exact[name]).abs() / (a.var(0) / m).sqrt()).max() < 5
        # Mean per-coordinate variance: se from the spread of per-row squared deviations.
        ua, ub = ((a - a.mean(0)) ** 2).mean(1), ((b - b.mean(0)) ** 2).mean(1)
        se_var = ((ua.var() + ub.var()) / m).sqrt()
        assert abs(ua.mean() - ub.mean()) < 5 * se_var
