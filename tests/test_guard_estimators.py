"""Estimator values that no other test pins: each against its formula by hand, or its exact value.

False alarms: one statistical test here (measure_valued on linear_vae), at a Bonferroni
family-wise rate of 1e-3 over its coordinates; every other test is exact (to rounding).
"""
import copy

import pytest
import torch

import estimators
import suites
from estimators.base import replicate, sampling_from
from suites.run.grids.base import Cell
from suites.measurement.measure import bonferroni_z
from suites.store.rundir import cell_key


def test_measure_valued_is_unbiased_on_a_cost_that_depends_on_the_parameters():
    # linear_vae's cost (the decoder's log-likelihood, minus log q) depends on theta
    # directly: without its pathwise term the estimate misses that part of the gradient.
    prob = suites.problems.get("linear_vae", num_data=4)
    df = suites.measure(prob, estimators.get("measure_valued"), 3000, min_run_time=0, exact=False)
    threshold = bonferroni_z(int(df["numel"].sum()))  # 1e-3 family-wise over all coordinates
    assert (df["max_abs_z"] < threshold).all(), df[["param", "max_abs_z", "bias_norm", "bias_se"]]


def test_leave_one_out_optimal_baseline_is_its_formula_per_data_point():
    """b_ki = sum_{j!=k} h_ji s_ji / sum_{j!=k} s_ji^2, with s the score of mean_n log q_n and
    h the score-function term of mean_n f_n log q_n: computed here one sample at a time."""
    prob = suites.problems.get("bernoulli_vae", num_data=3, latent_dim=3, train_steps=0)
    prob = prob.to(dtype=torch.float64)
    k = 3
    estimator = estimators.get("score_function", baseline="loo_optimal")
    got = estimator(prob, 1, k, torch.Generator().manual_seed(7))

    names = list(prob.params)
    leaves = [p.detach().clone().requires_grad_(True) for p in prob.params.values()]
    params = dict(zip(names, leaves))
    with sampling_from(torch.Generator().manual_seed(7)):  # the draw the estimator made
        replicas = replicate(prob.params, 1)
        z = prob.distribution(replicas).sample((k,))[:, 0]  # K x N x L
    distribution = prob.distribution(params)
    assert distribution.batch_shape == (3,)  # three factors, one per data point

    def flat(value):  # the gradient of a scalar, all parameters as one vector (0 where unused)
        grads = torch.autograd.grad(value, leaves, retain_graph=True, allow_unused=True)
        return torch.cat([(torch.zeros_like(leaf) if g is None else g).reshape(-1)
                          for leaf, g in zip(leaves, grads)])

    scores, terms, pathwise = [], [], []
    for j in range(k):
        log_q = distribution.log_prob(z[j])  # N: one per data point
        cost = prob.cost(z[j].unsqueeze(0), params)[0]  # N
        scores.append(flat(log_q.mean()))
        terms.append(flat((cost.detach() * log_q).mean()))
        pathwise.append(flat(cost.mean()))
    s, h, p = torch.stack(scores), torch.stack(terms), torch.stack(pathwise)  # K x D
    expected = torch.zeros_like(s[0])
    for j in range(k):
        others = [i for i in range(k) if i != j]
        denominator = (s[others] ** 2).sum(0)
        baseline = torch.where(denominator > 0, (h[others] * s[others]).sum(0)
                               / torch.where(denominator > 0, denominator, 1), 0)
        expected += (h[j] + p[j] - baseline * s[j]) / k
    flat_got = torch.cat([got[name][0].reshape(-1) for name in names])
    assert torch.allclose(flat_got, expected, rtol=1e-9, atol=1e-12), \
        float((flat_got - expected).abs().max())


def test_relax_eta_moves_by_adams_first_step():
    prob = suites.problems.get("bernoulli", dim=3)
    relax = estimators.get("relax")
    relax.adapt(prob, 16, 1, torch.Generator().manual_seed(0))  # creates the state, then steps
    before = relax.state["eta"].detach().clone()
    relax.adapt(prob, 16, 1, torch.Generator().manual_seed(1))
    moved = float((relax.state["eta"].detach() - before).abs())
    # Adam's step is lr * m_hat / (sqrt(v_hat) + eps): near lr while the gradient keeps its sign.
    assert 0.1 * relax.adapt_lr < moved < 3 * relax.adapt_lr, moved


@pytest.mark.parametrize("name, options", [("rebar", {"tune": True}), ("relax", {})])
def test_adapt_loss_is_the_mean_squared_norm_of_the_estimates_before_the_step(name, options):
    prob = suites.problems.get("bernoulli", dim=3)
    estimator = estimators.get(name, **options)
    estimator.adapt(prob, 8, 1, torch.Generator().manual_seed(0))  # a state that is not the start
    frozen = copy.deepcopy(estimator)
    loss = estimator.adapt(prob, 8, 2, torch.Generator().manual_seed(3))
    grads = frozen(prob, 8, 2, torch.Generator().manual_seed(3))
    squared = sum(g.reshape(8, -1).pow(2).sum(1) for g in grads.values()).mean()
    assert loss == pytest.approx(float(squared), rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(estimator.state.values(), frozen.state.values()))


def costs_drawn(prob, num_estimates, num_samples, seed):
    """The costs NVIL's adapt draws from a generator seeded ``seed`` (its own sampling)."""
    with torch.no_grad(), sampling_from(torch.Generator().manual_seed(seed)):
        params = replicate(prob.params, num_estimates)
        distribution = prob.distribution(params)
        return prob.cost(distribution.sample((num_samples,)), params)


def test_nvil_moving_average_follows_its_weights_over_two_steps():
    prob = suites.problems.get("bernoulli", dim=3)  # no data: the baseline is the constant c
    nvil = estimators.get("nvil")
    nvil.adapt(prob, 8, 2, torch.Generator().manual_seed(0))
    first = costs_drawn(prob, 8, 2, 0).mean()
    assert float(nvil.state["c"].detach()) == pytest.approx(float(first), rel=1e-6)
    nvil.adapt(prob, 8, 2, torch.Generator().manual_seed(1))
    second = costs_drawn(prob, 8, 2, 1).mean()
    assert float(nvil.state["c"].detach()) == pytest.approx(float(0.8 * first + 0.2 * second), rel=1e-6)


def test_nvil_network_regresses_on_the_centred_cost():
    prob = suites.problems.get("bernoulli_vae", num_data=3, latent_dim=3, train_steps=0)
    nvil = estimators.get("nvil")
    nvil.ensure_state(prob)
    start = copy.deepcopy(nvil)
    loss = nvil.adapt(prob, 8, 1, torch.Generator().manual_seed(4))
    cost = costs_drawn(prob, 8, 1, 4)  # K x M x N
    centre = float((cost - start.network(prob).detach()).mean())
    assert float(nvil.state["c"].detach()) == pytest.approx(centre, rel=1e-6)
    # By hand: the loss mean (f - c - r_psi(x))^2 at the starting weights, and Adam's first step.
    net = {k: v for k, v in start.state.items() if k != "c"}
    hand = (cost - centre - start.network(prob)).pow(2).mean()
    assert loss == pytest.approx(float(hand), rel=1e-6)
    grads = torch.autograd.grad(hand, list(net.values()))
    for (key, weight), grad in zip(net.items(), grads):
        stepped = weight - nvil.adapt_lr * grad / (grad.abs() + 1e-8)  # Adam's first step
        assert torch.allclose(nvil.state[key], stepped, atol=1e-6), key
    assert any(float(g.abs().max()) > 0 for g in grads)


def test_a_train_cell_uses_the_learning_rate_it_asks_for():
    from suites.run.training import ExactGradient, train, train_cell

    prob = suites.problems.get("linear_vae", num_data=10)
    curve = train(prob, ExactGradient(), steps=1, lr=0.05, log_every=1)
    g = {k: v for k, v in prob.exact_gradient().items()}
    # Adam's first step (maximising): theta + lr * g / (|g| + eps).
    stepped = {k: v.detach() + 0.05 * g[k] / (g[k].abs() + 1e-8) for k, v in prob.params.items()}
    with torch.no_grad():
        expected = float(prob.expectation(stepped))
    assert curve["objective"].iloc[-1] == pytest.approx(expected, rel=1e-6)
    assert curve["objective"].iloc[-1] != pytest.approx(curve["objective"].iloc[0], rel=1e-6)

    cell = Cell("linear_vae", {"num_data": 10}, "reparam", {}, "cpu", 1, 2, 3,
                {"kind": "train", "steps": 4, "lr": 0.05, "log_every": 2, "variance_estimates": 0})
    rows = train_cell(cell)
    direct = train(prob, estimators.get("reparam"), 4, seed=3, lr=0.05, num_samples=2, log_every=2)
    assert (rows["lr"] == 0.05).all()
    assert rows["objective"].tolist() == direct["objective"].tolist()


@pytest.mark.parametrize("field, value", [("num_samples", 2), ("device", "cuda"), ("seed", 1)])
def test_a_cell_key_changes_with_each_setting_alone(field, value):
    import dataclasses
    cell = Cell("gaussian", {"dim": 1}, "reparam", {}, "cpu", 100, 1, 0)
    assert cell_key(dataclasses.replace(cell, **{field: value})) != cell_key(cell)
