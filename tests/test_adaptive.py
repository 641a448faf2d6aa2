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
    before = suites.measure(prob, est, num_estimates=20_000, seed=6, min_run_time=0,
                            adapt_steps=0).iloc[0]
    adapted(est, prob, steps=300)
    state = est.state_summary()
    after = suites.measure(prob, est, num_estimates=20_000, seed=7, min_run_time=0,
                           adapt_steps=0).iloc[0]
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


def test_a_point_measurement_adapts_a_copy_first_then_freezes_and_records_it():
    import json
    prob = suites.problems.get("bernoulli", dim=5)
    est = estimators.get("rebar", tune=True, eta=0.0, temperature=1.0)
    untouched = est.state_summary()
    frozen = suites.measure(prob, est, num_estimates=20_000, seed=6, min_run_time=0,
                            adapt_steps=0).iloc[0]
    tuned = suites.measure(prob, est, num_estimates=20_000, seed=6, min_run_time=0).iloc[0]
    assert est.state_summary() == untouched  # the caller's estimator is not adapted
    assert frozen["adapt_steps"] == 0 and tuned["adapt_steps"] == est.default_adapt_steps == 300
    assert tuned["adapt_time_s"] > 0 and frozen["adapt_time_s"] != frozen["adapt_time_s"]
    state = json.loads(tuned["adapted_state"])
    assert set(state) == {"eta", "log_temperature"} and state["eta"] > 0.3
    # the same adaptation by hand, from the generator measure() seeds it with, gives that state
    from suites.measurement.measure import ADAPT_SEED_OFFSET
    by_hand = estimators.get("rebar", tune=True, eta=0.0, temperature=1.0)
    g = torch.Generator().manual_seed(6 + ADAPT_SEED_OFFSET)
    for _ in range(300):
        by_hand.adapt(prob, by_hand.adapt_batch, 1, g)
    assert by_hand.state_summary() == pytest.approx(state, rel=1e-6)
    assert tuned["variance"] + 5 * tuned["variance_se"] < frozen["variance"] - 5 * frozen["variance_se"]
    assert tuned["max_abs_z"] < 5


def test_adapt_steps_for_a_stateless_estimator_is_an_error():
    with pytest.raises(ValueError, match="has no state to adapt"):
        suites.measure(suites.problems.get("bernoulli"), estimators.get("disarm"), 100,
                       adapt_steps=10, min_run_time=0)
    with pytest.raises(ValueError, match="adapt_steps must be an integer >= 0"):
        suites.measure(suites.problems.get("bernoulli"), estimators.get("rebar", tune=True), 100,
                       adapt_steps=-1, min_run_time=0)


def test_rebar_tune_lowers_variance_on_bernoulli_vae_and_stays_unbiased():
    # eta = 0 starts at REINFORCE; 300 adapt steps find the control variate (0.25 -> 0.002 at
    # seed 3). Bounds: 5 standard errors of each measured variance; |z| < 5 per coordinate.
    prob = suites.problems.get("bernoulli_vae", latent_dim=4, num_data=20)
    est = estimators.get("rebar", tune=True, eta=0.0, temperature=1.0)

    def total(df):
        numel = df["numel"].sum()
        return ((df["variance"] * df["numel"]).sum() / numel,
                float(((df["variance_se"] * df["numel"]) ** 2).sum()) ** 0.5 / numel)
    before = suites.measure(prob, est, 2000, seed=3, min_run_time=0, adapt_steps=0, exact=False)
    after = suites.measure(prob, est, 2000, seed=4, min_run_time=0, exact=False)
    (v0, s0), (v1, s1) = total(before), total(after)
    assert v1 + 5 * s1 < v0 - 5 * s0, (v0, s0, v1, s1)
    assert (after["max_abs_z"] < 5).all()
