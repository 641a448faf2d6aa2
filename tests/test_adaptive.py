"""Adaptive estimators: unbiased at their adapted state, lower variance after adapting.

Bounds are 5 standard errors of the measured quantity (per-coordinate false
alarm rate 6e-7 under normality).
"""
import pytest
import torch

import estimators
import suites


def adapted(est, prob, steps, num_samples=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    losses = [est.adapt(prob, num_estimates=16, num_samples=num_samples, generator=g)
              for _ in range(steps)]
    return losses


def test_rebar_tune_lowers_variance_on_the_bernoulli_toy_and_stays_unbiased():
    # eta = 0 starts at REINFORCE; tuning must find a useful eta.
    prob = suites.problems.get("bernoulli", dim=5)
    est = estimators.get("rebar", tune=True, eta=0.0, temperature=1.0)
    before = suites.measure(prob, est, num_estimates=20_000, seed=6, min_run_time=0).iloc[0]
    adapted(est, prob, steps=300)
    state = est.state_summary()
    after = suites.measure(prob, est, num_estimates=20_000, seed=7, min_run_time=0).iloc[0]
    assert est.state_summary() == state  # measuring never changes the state
    assert state["eta"] > 0.3
    assert after["variance"] + 5 * after["variance_se"] < before["variance"] - 5 * before["variance_se"]
    assert not after["biased"]


def test_rebar_tune_state_is_not_touched_by_estimates_and_options_are_checked():
    prob = suites.problems.get("bernoulli", dim=3)
    est = estimators.get("rebar", tune=True)
    s0 = est.state_summary()
    est(prob, 10, generator=torch.Generator().manual_seed(0))
    assert est.state_summary() == s0
    assert estimators.get("rebar").state == {}
    with pytest.raises(ValueError, match="tune must be True or False"):
        estimators.get("rebar", tune="yes")


def test_rebar_tune_and_fixed_give_the_same_estimates_at_the_same_state():
    prob = suites.problems.get("bernoulli", dim=4)
    fixed = estimators.get("rebar", eta=0.7, temperature=0.3)
    tuned = estimators.get("rebar", eta=0.7, temperature=0.3, tune=True)
    a = fixed(prob, 50, num_samples=2, generator=torch.Generator().manual_seed(1))
    b = tuned(prob, 50, num_samples=2, generator=torch.Generator().manual_seed(1))
    for k in a:
        torch.testing.assert_close(a[k], b[k])
