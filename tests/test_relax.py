"""RELAX (Grathwohl et al. 2018): its one-sample formula by hand, unbiased at any state, and
lower variance once its surrogate is trained.

Bounds are 5 standard errors (per-coordinate false alarm 5.7e-7; about 1e-4 over this module).
"""
import math

import pytest

import torch

import estimators
import suites
from suites.measurement.exact import record_unambiguous, replay
from tests.test_exact import rebar_noise, rebar_one_sample, sigmoid

W1, B1, W2, B2 = [0.7, -1.3, 0.4], [0.1, 0.5, -0.2], [0.9, -0.6, 1.1], 0.3


def relax_one_sample(theta, t, tau, eta, u, v):
    """REBAR's terms plus the network's: r(sigmoid(z)) enters c like eta f(sigmoid(z / tau))."""
    p, z, b, z_cond, dz_cond = rebar_noise(theta, u, v)

    def r(x):
        s = sigmoid(x)
        return sum(w2 * math.tanh(s * w1 + b1) for w1, b1, w2 in zip(W1, B1, W2)) + B2

    def dr(x):
        s = sigmoid(x)
        return sum(w2 * (1 - math.tanh(s * w1 + b1) ** 2) * w1 for w1, b1, w2 in zip(W1, B1, W2)) * s * (1 - s)

    # REBAR with the network added to its control variate c: the score weight loses r(z~),
    # the pathwise terms gain r'(z) - r'(z~) dz~/dtheta.
    return (rebar_one_sample(theta, t, tau, eta, u, v)
            - r(z_cond) * (b - p) + dr(z) - dr(z_cond) * dz_cond)


def test_relax_replayed_noise_is_the_hand_formula():
    theta, t, tau, eta = 0.8, 0.45, 0.5, 0.7
    prob = suites.problems.get("bernoulli", dim=1, logits=theta, target=t).to(dtype=torch.float64)
    est = estimators.get("relax", eta=eta, temperature=tau, hidden=3)
    est.ensure_state(1, prob.params["logits"])
    with torch.no_grad():
        est.state["net.0.weight"].copy_(torch.tensor([W1]).T)
        est.state["net.0.bias"].copy_(torch.tensor(B1))
        est.state["net.2.weight"].copy_(torch.tensor([W2]))
        est.state["net.2.bias"].fill_(B2)
    draws = record_unambiguous(est, prob, 1)
    u = torch.tensor([0.05, 0.3, 0.5, 0.62, 0.97], dtype=torch.float64)
    v = torch.tensor([0.9, 0.2, 0.5, 0.33, 0.01], dtype=torch.float64)
    grads = replay(est, prob, draws, [u.reshape(-1, 1, 1), v.reshape(-1, 1, 1)], 1)
    expected = [relax_one_sample(theta, t, tau, eta, a, b) for a, b in zip(u.tolist(), v.tolist())]
    torch.testing.assert_close(grads["logits"][:, 0], torch.tensor(expected, dtype=torch.float64))


def total_variance(df):
    numel = df["numel"].sum()
    return ((df["variance"] * df["numel"]).sum() / numel,
            float(((df["variance_se"] * df["numel"]) ** 2).sum()) ** 0.5 / numel)


def test_relax_adapts_to_a_far_lower_variance_and_stays_unbiased_on_the_toy():
    prob = suites.problems.get("bernoulli", dim=5)
    est = estimators.get("relax")
    before = suites.measure(prob, est, 20_000, seed=1, min_run_time=0, adapt_steps=0)
    after = suites.measure(prob, est, 20_000, seed=2, min_run_time=0)  # its 300 default steps
    (v0, s0), (v1, s1) = total_variance(before), total_variance(after)
    assert v1 + 5 * s1 < (v0 - 5 * s0) / 10, (v0, v1)  # 0.087 -> 0.0004 at these seeds
    assert (before["max_abs_z"] < 5).all() and (after["max_abs_z"] < 5).all()
    assert after["adapt_steps"].iloc[0] == 300 and "net.2.weight" in after["adapted_state"].iloc[0]


def test_relax_adapts_on_bernoulli_vae_and_stays_unbiased():
    prob = suites.problems.get("bernoulli_vae", latent_dim=4, num_data=20)
    est = estimators.get("relax", eta=0.0)
    before = suites.measure(prob, est, 2000, seed=3, min_run_time=0, adapt_steps=0, exact=False)
    after = suites.measure(prob, est, 2000, seed=4, min_run_time=0, exact=False)
    (v0, s0), (v1, s1) = total_variance(before), total_variance(after)
    assert v1 + 5 * s1 < v0 - 5 * s0, (v0, s0, v1, s1)
    assert (after["max_abs_z"] < 5).all()


def test_relax_state_is_left_alone_by_estimates_and_resized_per_problem():
    est = estimators.get("relax", hidden=4)
    g = torch.Generator().manual_seed(0)
    est(suites.problems.get("bernoulli", dim=3), 10, 1, g)
    summary = est.state_summary()
    est(suites.problems.get("bernoulli", dim=3), 10, 1, g)
    assert est.state_summary() == summary and est.state["net.0.weight"].shape == (4, 3)
    est(suites.problems.get("bernoulli", dim=6), 10, 1, g)
    assert est.state["net.0.weight"].shape == (4, 6)
    assert estimators.get("relax").label == "relax" and "tune" not in estimators.get("relax").config


def test_relax_state_keeps_its_values_on_another_dtype():
    prob = suites.problems.get("bernoulli", dim=2)
    est = estimators.get("relax")
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        est.adapt(prob, 16, 1, g)
    summary = est.state_summary()
    est(prob.to(dtype=torch.float64), 5, 1, g)
    assert est.state["net.0.weight"].dtype == torch.float64
    assert est.state_summary() == pytest.approx(summary, rel=1e-6)  # moved, not re-initialised
