"""NVIL (Mnih & Gregor 2014): the score function with its learned baseline, by hand; unbiased
at any state; lower variance once the baseline is learned.

Bounds are 5 standard errors (per-coordinate false alarm 5.7e-7; about 1e-4 over this module).
"""
import torch

import estimators
import suites


def test_nvil_is_the_score_function_minus_its_baseline_times_the_score():
    # same generator, same draws: with b = c + r(x) fixed, g = g_sf - mean_k (c + r(x_n)) d log q
    prob = suites.problems.get("bernoulli_vae", latent_dim=3, num_data=7).to(dtype=torch.float64)
    est = estimators.get("nvil", hidden=5)
    est.ensure_state(prob)
    with torch.no_grad():
        est.state["c"].fill_(-2.5)
        est.state["net.2.weight"].copy_(torch.linspace(-1, 1, 5, dtype=torch.float64)[None])
    baseline = est.baseline(prob).detach()  # N
    grads = est(prob, 6, 3, torch.Generator().manual_seed(4))
    plain = estimators.get("score_function")(prob, 6, 3, torch.Generator().manual_seed(4))
    # the score term's baseline part, by autograd on the same samples
    params = {k: v.detach().expand(6, *v.shape).requires_grad_(True) for k, v in prob.params.items()}
    from estimators.base import sampling_from
    with sampling_from(torch.Generator().manual_seed(4)):
        dist = prob.distribution(params)
        z = dist.sample((3,))
    part = (dist.log_prob(z) * baseline).mean(0).mean(-1).sum()
    scores = torch.autograd.grad(part, list(params.values()), allow_unused=True)
    for (name, g), s in zip(grads.items(), scores):
        expected = plain[name] - (0 if s is None else s)
        torch.testing.assert_close(g, expected)


def total_variance(df):
    numel = df["numel"].sum()
    return ((df["variance"] * df["numel"]).sum() / numel,
            float(((df["variance_se"] * df["numel"]) ** 2).sum()) ** 0.5 / numel)


def test_nvil_learns_a_baseline_that_lowers_variance_and_stays_unbiased():
    for name, config, m in (("bernoulli", dict(dim=5), 20_000),
                            ("bernoulli_vae", dict(latent_dim=4, num_data=20), 4000)):
        prob = suites.problems.get(name, **config)
        est = estimators.get("nvil")
        before = suites.measure(prob, est, m, 4, seed=1, min_run_time=0, adapt_steps=0, exact=False)
        after = suites.measure(prob, est, m, 4, seed=2, min_run_time=0, exact=False)
        (v0, s0), (v1, s1) = total_variance(before), total_variance(after)
        assert v1 + 5 * s1 < (v0 - 5 * s0) / 10, (name, v0, v1)  # 0.078 -> 2e-7; 0.064 -> 7e-4
        assert (before["max_abs_z"] < 5).all() and (after["max_abs_z"] < 5).all(), name
        assert '"c":' in after["adapted_state"].iloc[0]


def test_nvil_estimates_leave_the_state_alone():
    prob = suites.problems.get("bernoulli_vae", latent_dim=3, num_data=7)
    est = estimators.get("nvil")
    g = torch.Generator().manual_seed(0)
    est.adapt(prob, 8, 2, g)
    summary = est.state_summary()
    est(prob, 10, 2, g)
    assert est.state_summary() == summary
    assert estimators.get("nvil").label == "nvil"


def test_nvil_uses_data_only_where_the_cost_has_one_factor_per_data_point(monkeypatch, tmp_path):
    from estimators.nvil import NVIL
    monkeypatch.setenv("MCGRADBENCH_CACHE", str(tmp_path))
    vae = suites.problems.get("bernoulli_vae", latent_dim=3, num_data=7)
    assert NVIL.inputs(vae) is vae.x
    # logistic regression holds data (569 x 30) but one latent weight vector for all of it
    logistic = suites.problems.get("logistic_regression", reference_samples=2_000)
    assert NVIL.inputs(logistic) is None
    df = suites.measure(logistic, estimators.get("nvil"), 200, 2, min_run_time=0, adapt_steps=20)
    assert (df["nonfinite"] == 0).all() and df["adapt_steps"].iloc[0] == 20
