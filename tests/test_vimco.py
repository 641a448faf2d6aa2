"""The multi-sample objective bernoulli_vae(objective=iwae) and VIMCO (Mnih & Rezende 2016):
the bound and its exact gradient against a hand enumeration, VIMCO's exact moments against a
hand formula, sampled against exact moments for VIMCO, the score function with the
leave-one-out baseline and NVIL, and the one-line refusals.

Statistical bounds are 5 standard errors per value (two-sided normal false alarm 5.7e-7; about
60 values here, under 4e-5 for the module).
"""
import itertools
import math

import pytest
import torch

import estimators
import suites
from estimators.vimco import leave_one_out_bounds
from suites.measurement.exact import exact_moments


def iwae(**config):
    return suites.problems.get("bernoulli_vae", num_data=1, objective="iwae", **config)


def hand_terms(prob):
    """One data point, one latent: e = q(h = 1 | x) and log w(h) for h = 0, 1 (float64)."""
    prob = prob.to(dtype=torch.float64)
    p, x = prob.params, prob.x[0]
    e = torch.sigmoid(p["encoder.weight"][0] @ x + p["encoder.bias"][0])
    log_w = []
    for h in (0.0, 1.0):
        logits = p["decoder.weight"][:, 0] * h + p["decoder.bias"]
        log_lik = (x * torch.nn.functional.logsigmoid(logits)
                   + (1 - x) * torch.nn.functional.logsigmoid(-logits)).sum()
        prior = torch.sigmoid(p["prior.logits"][0])
        log_w.append(log_lik + torch.log(prior if h else 1 - prior) - torch.log(e if h else 1 - e))
    return float(e), [float(v) for v in log_w]


def test_the_bound_and_its_gradient_are_the_sum_over_tuples():
    prob = iwae(latent_dim=1, bound_samples=2)
    e, log_w = hand_terms(prob)
    q = [1 - e, e]
    bound = sum(q[a] * q[b] * math.log((math.exp(log_w[a]) + math.exp(log_w[b])) / 2)
                for a, b in itertools.product((0, 1), repeat=2))
    params = {k: v.to(torch.float64) for k, v in prob.params.items()}
    assert float(prob.to(dtype=torch.float64).expectation(params)) == pytest.approx(bound, rel=1e-12)
    # above the ELBO (K = 1), below log p(x)
    elbo = suites.problems.get("bernoulli_vae", latent_dim=1, num_data=1).to(dtype=torch.float64)
    log_px = math.log(sum(math.exp(v) * qq for v, qq in zip(log_w, q)))
    assert float(elbo.expectation(params)) < bound < log_px
    # the gradient: autograd of the hand sum in the encoder bias, against exact_gradient
    b = torch.tensor(float(params["encoder.bias"][0]), dtype=torch.float64, requires_grad=True)
    x = prob.x[0].to(torch.float64)
    e_b = torch.sigmoid(params["encoder.weight"][0] @ x + b)
    q_b = [1 - e_b, e_b]
    lw = [torch.tensor(log_w[h], dtype=torch.float64) + math.log(q[h]) - torch.log(q_b[h]) for h in (0, 1)]
    total = sum(q_b[a] * q_b[c] * torch.logsumexp(torch.stack([lw[a], lw[c]]), 0)
                for a, c in itertools.product((0, 1), repeat=2)) - math.log(2)
    expected = torch.autograd.grad(total, b)[0]
    got = prob.to(dtype=torch.float64).exact_gradient()["encoder.bias"][0]
    assert float(got) == pytest.approx(float(expected), rel=1e-10)


def test_leave_one_out_bounds_by_hand():
    log_w = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    w = log_w.exp().tolist()
    for k in range(3):
        others = [w[j] for j in range(3) if j != k]
        geometric = math.log((sum(others) + math.sqrt(others[0] * others[1])) / 3)
        arithmetic = math.log((sum(others) + sum(others) / 2) / 3)
        assert float(leave_one_out_bounds(log_w)[k]) == pytest.approx(geometric, rel=1e-13)
        assert float(leave_one_out_bounds(log_w, "arithmetic")[k]) == pytest.approx(arithmetic, rel=1e-13)


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
def test_vimco_exact_moments_are_the_hand_enumeration(mean):
    # K = 2 particles of one latent: the estimate in the encoder bias at (h1, h2) is
    # sum_k [(L - L_{-k}) - w~_k] (h_k - e), L_{-k} = log (w_j + w^_{-k}) / 2, w^_{-k} = w_j
    # (both means of one other weight are that weight), w~_k = w_k / (w_1 + w_2)
    prob = iwae(latent_dim=1, bound_samples=2)
    e, log_w = hand_terms(prob)
    rows, probs = [], []
    for h in itertools.product((0, 1), repeat=2):
        w = [math.exp(log_w[v]) for v in h]
        bound = math.log(sum(w) / 2)
        rows.append(sum((bound - math.log(w[1 - k])) * (h[k] - e) - w[k] / sum(w) * (h[k] - e)
                        for k in range(2)))
        probs.append(math.prod(e if v else 1 - e for v in h))
    mean_hand = sum(p * r for p, r in zip(probs, rows))
    variance_hand = sum(p * (r - mean_hand) ** 2 for p, r in zip(probs, rows))
    moments = exact_moments(prob, estimators.get("vimco", mean=mean), 1)
    assert float(moments.mean["encoder.bias"]) == pytest.approx(mean_hand, rel=1e-10)
    assert float(moments.variance["encoder.bias"]) == pytest.approx(variance_hand, rel=1e-9)
    assert float(moments.reference["encoder.bias"]) == pytest.approx(mean_hand, rel=1e-10)


CASES = [("vimco", {}, 1, dict(latent_dim=2, bound_samples=3)),
         ("vimco", {"mean": "arithmetic"}, 2, dict(latent_dim=1, bound_samples=3)),
         ("score_function", {"baseline": "loo"}, 2, dict(latent_dim=1, bound_samples=3)),
         ("nvil", {}, 1, dict(latent_dim=2, bound_samples=3))]


@pytest.mark.parametrize("name,options,k,config", CASES, ids=str)
def test_sampled_moments_agree_with_exact_ones_on_the_bound(name, options, k, config):
    prob = iwae(**config)
    est = estimators.get(name, **options)
    adapt = {"adapt_steps": 20} if name == "nvil" else {}
    df = suites.measure(prob, est, num_estimates=10_000, num_samples=k, seed=7,
                        min_run_time=0, exact=True, **adapt)
    assert (df["exact_bias_norm"] < 1e-9 * (1 + df["exact_norm"])).all(), df
    assert (df["exact_variance_z"].abs() < 5).all() and (df["exact_mean_max_abs_z"] < 5).all(), df


def test_vimco_not_flagged_biased_on_the_bound_over_data():
    # M = 2,000 estimates on 10 data points at 3 latents, 3 particles (161 coordinates): a bias
    # of 0.12 standard deviations of one estimate has z = 5.4 and is flagged (|z| > 5) with
    # probability 0.65, one of 0.15 (z = 6.7) with 0.95; unbiased, 161 x 5.7e-7 = 1e-4.
    prob = suites.problems.get("bernoulli_vae", latent_dim=3, num_data=10, objective="iwae",
                               bound_samples=3)
    df = suites.measure(prob, estimators.get("vimco"), num_estimates=2_000, seed=8, min_run_time=0)
    assert (df["max_abs_z"] < 5).all(), df


def test_refusals_are_one_line():
    vimco = estimators.get("vimco")
    for prob, message in ((suites.problems.get("bernoulli_vae", latent_dim=2, num_data=3),
                           "multi-sample objectives only"),
                          (suites.problems.get("bernoulli", dim=3), "multi-sample objectives only"),
                          (iwae(latent_dim=2, bound_samples=1), ">= 2 particles")):
        assert not vimco.applies_to(prob)
        with pytest.raises(ValueError, match=message) as error:
            vimco(prob, 4)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="latent_dim \\* bound_samples <= 12"):
        iwae(latent_dim=5, bound_samples=3)
    with pytest.raises(ValueError, match="needs objective=iwae"):
        suites.problems.get("bernoulli_vae", bound_samples=2)
    with pytest.raises(ValueError, match="allowed: elbo, iwae"):
        suites.problems.get("bernoulli_vae", objective="vimco")
    # the default objective's configuration is unchanged (stored rows still name it the same)
    assert set(suites.problems.get("bernoulli_vae", latent_dim=2, num_data=3).config) == {
        "latent_dim", "num_data", "seed", "train_steps"}


def test_every_estimator_that_applies_to_the_bound_runs_on_it():
    # the particles are one latent of shape K x L per data point: an estimator that reads a
    # latent vector (RELAX's surrogate network) must read them all, or refuse
    prob = iwae(latent_dim=2, bound_samples=2)
    ran = []
    for name in estimators.names():
        est = estimators.get(name)
        if estimators.origin(name) != "built-in" or not est.applies_to(prob):
            continue
        grads = est(prob, 4, 2, torch.Generator().manual_seed(0))
        assert all(torch.isfinite(g).all() and g.shape[0] == 4 for g in grads.values()), name
        ran.append(name)
    assert {"relax", "score_function", "nvil", "vimco", "unordered_set", "disarm"} <= set(ran)
