"""Deterministic checks: one-sample formulas, shapes, applicability, RNG handling."""
import pytest
import torch

import estimators
import suites


def one_sample(estimator, problem, generator_seed=7):
    """An estimate and the z it used, by replaying the estimator's RNG fork."""
    g = torch.Generator().manual_seed(generator_seed)
    grads = estimator(problem, num_estimates=1, num_samples=1, generator=g)
    return grads


def sampled_normal(problem, generator_seed=7):
    g = torch.Generator().manual_seed(generator_seed)
    with estimators.sampling_from(g):
        reps = {k: v.expand(1, *v.shape) for k, v in problem.params.items()}
        return problem.distribution(reps).sample((1,))[0, 0]


def test_score_function_one_sample_is_reinforce_formula():
    prob = suites.problems.get("gaussian", dim=3, loc=[0.2, -0.4, 1.0], scale=[0.5, 1.0, 2.0],
                               cost="square", k=1.0)
    grads = one_sample(estimators.get("score_function"), prob)
    z = sampled_normal(prob)
    mu, sigma = prob.params["loc"], prob.params["scale"]
    f = ((z - 1.0) ** 2).sum()
    torch.testing.assert_close(grads["loc"][0], f * (z - mu) / sigma**2)
    torch.testing.assert_close(grads["scale"][0], f * ((z - mu) ** 2 / sigma**3 - 1 / sigma))


def test_reparam_one_sample_is_pathwise_formula():
    prob = suites.problems.get("gaussian", dim=3, loc=[0.2, -0.4, 1.0], scale=[0.5, 1.0, 2.0],
                               cost="square", k=1.0)
    grads = one_sample(estimators.get("reparam"), prob)
    z = sampled_normal(prob)
    eps = (z - prob.params["loc"]) / prob.params["scale"]
    torch.testing.assert_close(grads["loc"][0], 2 * (z - 1.0))
    torch.testing.assert_close(grads["scale"][0], 2 * (z - 1.0) * eps)


def test_reparam_full_covariance_one_sample_is_pathwise_formula():
    prob = suites.problems.get("gaussian_full", dim=3, seed=1)
    grads = one_sample(estimators.get("reparam"), prob)
    z = sampled_normal(prob)
    L = prob.params["scale_tril"]
    eps = torch.linalg.solve_triangular(L, (z - prob.params["loc"]).unsqueeze(-1), upper=False)[:, 0]
    df_dz = 2 * prob.A @ z + prob.b
    torch.testing.assert_close(grads["loc"][0], df_dz)
    torch.testing.assert_close(grads["scale_tril"][0], torch.tril(torch.outer(df_dz, eps)))


def test_score_function_on_bernoulli_is_reinforce_formula():
    prob = suites.problems.get("bernoulli", dim=4, logits=[-1.0, 0.0, 0.5, 2.0], target=0.3)
    grads = one_sample(estimators.get("score_function"), prob)
    b = sampled_normal(prob)
    p = torch.sigmoid(prob.params["logits"])
    f = ((b - 0.3) ** 2).sum()
    torch.testing.assert_close(grads["logits"][0], f * (b - p))


def test_loo_baseline_formula():
    prob = suites.problems.get("bernoulli", dim=2, logits=[0.3, -0.8], target=0.45)
    g = torch.Generator().manual_seed(3)
    grads = estimators.get("score_function", baseline="loo")(prob, 1, 4, g)
    g = torch.Generator().manual_seed(3)
    with estimators.sampling_from(g):
        reps = {k: v.expand(1, *v.shape) for k, v in prob.params.items()}
        b = prob.distribution(reps).sample((4,))[:, 0]  # K x D
    f = ((b - 0.45) ** 2).sum(-1)
    p = torch.sigmoid(prob.params["logits"])
    expected = ((f - f.mean()).unsqueeze(-1) * (b - p)).sum(0) / 3  # Kool et al. eq. (8)
    torch.testing.assert_close(grads["logits"][0], expected)


def test_estimates_have_replica_shape_and_are_independent():
    prob = suites.problems.get("gaussian_full", dim=4)
    grads = estimators.get("reparam")(prob, 6, 2, torch.Generator().manual_seed(0))
    assert grads["loc"].shape == (6, 4) and grads["scale_tril"].shape == (6, 4, 4)
    assert not torch.allclose(grads["loc"][0], grads["loc"][1])
    # the strict upper triangle is not a parameter
    assert torch.all(torch.triu(grads["scale_tril"], diagonal=1) == 0)


def test_generator_makes_calls_reproducible_and_leaves_global_rng_alone():
    prob = suites.problems.get("gaussian", dim=5)
    est = estimators.get("score_function")
    state = torch.get_rng_state()
    a = est(prob, 10, 1, torch.Generator().manual_seed(11))
    b = est(prob, 10, 1, torch.Generator().manual_seed(11))
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(a["loc"], b["loc"], rtol=0, atol=0)
    g = torch.Generator().manual_seed(11)
    first, second = est(prob, 10, 1, g), est(prob, 10, 1, g)
    assert not torch.allclose(first["loc"], second["loc"])


def test_reparam_refuses_bernoulli_saying_why():
    prob = suites.problems.get("bernoulli", dim=3)
    est = estimators.get("reparam")
    assert not est.applies_to(prob)
    with pytest.raises(ValueError, match="reparam does not apply to Bernoulli: it has no rsample"):
        est(prob, 4)


@pytest.mark.parametrize("name", ["gumbel_softmax", "straight_through_gumbel"])
def test_gumbel_refuses_gaussian(name):
    with pytest.raises(ValueError, match="applies to Bernoulli and OneHotCategorical variables only, got Normal"):
        estimators.get(name)(suites.problems.get("gaussian", dim=2), 4)


@pytest.mark.parametrize("temperature", [0, -1.0, float("inf"), float("nan"), "hot"])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="temperature must be"):
        estimators.get("gumbel_softmax", temperature=temperature)


def test_loo_needs_two_samples():
    est = estimators.get("score_function", baseline="loo")
    with pytest.raises(ValueError, match="baseline='loo' needs num_samples >= 2"):
        est(suites.problems.get("bernoulli"), 4, 1)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_counts_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="num_estimates must be an integer"):
        estimators.get("reparam")(suites.problems.get("gaussian"), bad)


def test_straight_through_forward_is_hard():
    prob = suites.problems.get("bernoulli", dim=6)
    captured = {}

    class Spy(type(prob)):
        def cost(self, z, params):
            captured["z"] = z.detach()
            return super().cost(z, params)

    spy = prob.__class__.__new__(Spy)
    spy.__dict__.update(prob.__dict__)
    estimators.get("straight_through_gumbel", temperature=0.5)(spy, 50, 2)
    assert set(captured["z"].unique().tolist()) <= {0.0, 1.0}
    estimators.get("gumbel_softmax", temperature=0.5)(spy, 50, 2)
    z = captured["z"]
    assert ((z > 0) & (z < 1)).float().mean() > 0.99


def test_score_function_adds_pathwise_term_when_cost_depends_on_params():
    # F(mu) = E_{z~N(mu,1)}[(z - mu)^2] = 1: the score term and the pathwise term must cancel in mean.
    class Centred(type(suites.problems.get("gaussian"))):
        def cost(self, z, params):
            return ((z - params["loc"]) ** 2).sum(-1)

    prob = suites.problems.get("gaussian", dim=1, loc=0.7)
    centred = Centred.__new__(Centred)
    centred.__dict__.update(prob.__dict__)
    grads = estimators.get("score_function")(centred, 200_000, 1, torch.Generator().manual_seed(0))
    mean, se = grads["loc"].mean(), grads["loc"].std() / 200_000**0.5
    assert abs(float(mean)) < 5 * float(se)
    # without the pathwise term the mean would be E[(z-mu)^2 (z-mu)] = 0 too, so also check
    # a single estimate equals f * score + df/dloc exactly:
    g = torch.Generator().manual_seed(5)
    one = estimators.get("score_function")(centred, 1, 1, g)["loc"][0]
    z = sampled_normal(centred, 5)
    torch.testing.assert_close(one, (z - 0.7) ** 2 * (z - 0.7) - 2 * (z - 0.7))


def test_large_calls_run_in_passes_with_independent_estimates(monkeypatch):
    import estimators.base as base
    monkeypatch.setattr(base, "CHUNK_ELEMENTS", 64)  # passes of 64 // (2 params * 2 samples) = 16
    prob = suites.problems.get("gaussian", dim=1)
    grads = estimators.get("score_function", baseline="loo")(prob, 50, 2, torch.Generator().manual_seed(0))
    assert grads["loc"].shape == (50, 1) and grads["scale"].shape == (50, 1)
    # every pass draws fresh noise: no two estimates coincide
    assert grads["loc"].unique().numel() == 50
    again = estimators.get("score_function", baseline="loo")(prob, 50, 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(grads["loc"], again["loc"])


def test_measure_valued_one_sample_is_weak_derivative_formula():
    """Square cost: f(mu + sigma w) - f(mu - sigma w) = 4 sigma w (mu - k), per coordinate."""
    from estimators.measure_valued import double_sided_maxwell, weibull_rayleigh
    from torch.distributions import Normal, Uniform
    mu, sigma, k = torch.tensor([0.2, -0.4]), torch.tensor([0.5, 2.0]), 1.0
    prob = suites.problems.get("gaussian", dim=2, loc=mu.tolist(), scale=sigma.tolist(),
                               cost="square", k=k)
    grads = one_sample(estimators.get("measure_valued"), prob)
    g = torch.Generator().manual_seed(7)
    with estimators.sampling_from(g):  # the estimator's draws, in its order
        mu1, shape = mu.expand(1, 2), (1, 1, 2)
        Normal(torch.zeros_like(mu1), 1.0).sample((1,))
        w = weibull_rayleigh(shape, mu1)[0, 0]
        v = double_sided_maxwell(shape, mu1)[0, 0]
        eps = v * Uniform(torch.zeros_like(mu1), 1.0).sample((1,))[0, 0]
    expected_loc = 4 * sigma * w * (mu - k) / (sigma * (2 * torch.pi) ** 0.5)
    expected_scale = ((mu + sigma * v - k) ** 2 - (mu + sigma * eps - k) ** 2) / sigma
    torch.testing.assert_close(grads["loc"][0], expected_loc)
    torch.testing.assert_close(grads["scale"][0], expected_scale)


def test_measure_valued_evaluates_the_cost_once_on_a_batch_of_copies():
    prob = suites.problems.get("gaussian", dim=5)
    calls = []

    class Spy(type(prob)):
        def cost(self, z, params):
            calls.append(tuple(z.shape))
            return super().cost(z, params)

    spy = Spy(dim=5)
    estimators.get("measure_valued")(spy, 7, 3, torch.Generator().manual_seed(0))
    assert calls == [(4 * 5 * 3, 7, 5)]  # 2 evaluations x 2 parameters x D coordinates x K


def test_measure_valued_refuses_other_families_and_bad_coupling():
    for name in ("bernoulli", "gaussian_full"):
        with pytest.raises(ValueError, match="measure_valued applies to diagonal Gaussians"):
            estimators.get("measure_valued")(suites.problems.get(name, dim=2), 2)
    with pytest.raises(ValueError, match="coupling must be True or False"):
        estimators.get("measure_valued", coupling="yes")


def test_delta_method_is_exact_on_a_quadratic_cost():
    """h = f when f is quadratic, so every estimate equals the exact gradient (zero variance)."""
    prob = suites.problems.get("gaussian", dim=3, loc=[0.2, -0.4, 1.0], scale=[0.5, 1.0, 2.0],
                               cost="square", k=0.7)
    grads = estimators.get("delta_method")(prob, 50, 2, torch.Generator().manual_seed(0))
    exact = prob.exact_gradient()
    for name, g in grads.items():
        torch.testing.assert_close(g, exact[name].expand_as(g), rtol=1e-5, atol=1e-4)  # float32 rounding


def test_delta_method_refuses_non_gaussians():
    with pytest.raises(ValueError, match="delta_method applies to diagonal Gaussians"):
        estimators.get("delta_method")(suites.problems.get("bernoulli", dim=2), 2)


def test_loo_optimal_baseline_formula():
    prob = suites.problems.get("bernoulli", dim=2, logits=[0.3, -0.8], target=0.45)
    g = torch.Generator().manual_seed(3)
    grads = estimators.get("score_function", baseline="loo_optimal")(prob, 1, 4, g)
    g = torch.Generator().manual_seed(3)
    with estimators.sampling_from(g):
        reps = {k: v.expand(1, *v.shape) for k, v in prob.params.items()}
        b = prob.distribution(reps).sample((4,))[:, 0]  # K x D
    f = ((b - 0.45) ** 2).sum(-1, keepdim=True)  # K x 1
    s = b - torch.sigmoid(prob.params["logits"])  # K x D
    others = 1 - torch.eye(4)  # others[k, j] = 1 for j != k
    baseline = (others @ (f * s**2)) / (others @ s**2)
    torch.testing.assert_close(grads["logits"][0], ((f - baseline) * s).mean(0))
