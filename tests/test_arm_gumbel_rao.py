"""ARM and Gumbel-Rao: one-sample formulas by hand, the conditional noise, and their statistics.

Statistical bounds are in standard errors at fixed seeds: a ``5 se`` bound on one
coordinate has a false-alarm rate of 6e-7 under the null; differences that the
maths says are positive are required to exceed ``3`` combined standard errors
where their expected size is at least 6 (false failure below 1e-3).
"""
import math

import pytest
import torch
from torch.distributions import Exponential, Uniform

import estimators
import suites
from estimators.gumbel_rao import conditional_gumbel, conditional_logistic

TARGET = 0.3


def test_arm_one_pair_is_the_paper_formula():
    prob = suites.problems.get("bernoulli", dim=4, logits=[-1.5, -0.2, 0.4, 2.0], target=TARGET)
    g = torch.Generator().manual_seed(9)
    grads = estimators.get("arm")(prob, 1, 1, g)["logits"][0]
    g = torch.Generator().manual_seed(9)
    with estimators.sampling_from(g):
        u = Uniform(torch.tensor(0.0), torch.tensor(1.0)).sample((1, 1, 4))[0, 0]
    theta = prob.params["logits"]
    b = (u < torch.sigmoid(theta)).float()
    b_flip = (u > torch.sigmoid(-theta)).float()  # Yin & Zhou's z > sigma(-phi)
    f = lambda x: ((x - TARGET) ** 2).sum()
    torch.testing.assert_close(grads, (f(b_flip) - f(b)) * (u - 0.5))


def test_gumbel_rao_binary_one_sample_is_the_rao_blackwellised_jacobian():
    prob = suites.problems.get("bernoulli", dim=4, logits=[-1.5, -0.2, 0.4, 2.0], target=TARGET)
    tau, draws = 0.7, 5
    g = torch.Generator().manual_seed(3)
    grads = estimators.get("gumbel_rao", temperature=tau, num_rb_samples=draws)(prob, 1, 1, g)["logits"][0]
    theta = prob.params["logits"]
    g = torch.Generator().manual_seed(3)
    with estimators.sampling_from(g):  # the estimator's draws, in its order
        b = prob.distribution({"logits": theta.expand(1, 4)}).sample((1,))[0, 0]
        v = Uniform(torch.tensor(0.0), torch.tensor(1.0)).sample((draws, 1, 1, 4))[:, 0, 0]
    # logistic noise given the sign of theta + L, by the plain inverse CDF
    p = torch.sigmoid(theta)
    noise = torch.logit(torch.where(b > 0, 1 - p + v * p, v * (1 - p)))
    assert ((theta + noise > 0) == (b > 0)).all()
    s = torch.sigmoid((theta + noise) / tau)
    jacobian = (s * (1 - s) / tau).mean(0)  # E[d sigma((theta + L) / tau) / d theta | b]
    torch.testing.assert_close(grads, 2 * (b - TARGET) * jacobian)


def test_gumbel_rao_categorical_one_sample_is_the_rao_blackwellised_jacobian():
    prob = suites.problems.get("categorical", dim=2, num_classes=4,
                               logits=[[-1.0, 0.5, 0.0, 2.0], [0.3, -0.3, 1.0, 0.0]])
    tau, draws = 0.5, 6
    g = torch.Generator().manual_seed(4)
    grads = estimators.get("gumbel_rao", temperature=tau, num_rb_samples=draws)(prob, 1, 1, g)["logits"][0]
    theta = prob.params["logits"]
    g = torch.Generator().manual_seed(4)
    with estimators.sampling_from(g):
        d = prob.distribution({"logits": theta.expand(1, 2, 4)}).sample((1,))[0, 0]  # 2 x 4 one-hot
        e = Exponential(torch.ones(2, 4)).sample((draws,))  # R x 2 x 4
    # the reference code's conditional_gumbel, written with exp and log as in the paper
    e_top = (d * e).sum(-1, keepdim=True)
    z_sum = theta.exp().sum(-1, keepdim=True)
    perturbed = d * (-e_top.log() + z_sum.log()) + (1 - d) * -(e / theta.exp() + e_top / z_sum).log()
    assert (perturbed.argmax(-1) == d.argmax(-1)).all()  # the noise respects the hard sample
    y = torch.softmax(perturbed / tau, -1)  # R x 2 x 4
    values = torch.linspace(0, 1, 4)
    df_dz = 2 * (d @ values - TARGET)[:, None] * values  # 2 x 4, at the hard sample
    # d softmax(x / tau)_c / d x_j = y_c (delta_cj - y_j) / tau
    jac = (y[..., :, None] * (torch.eye(4) - y[..., None, :]) / tau).mean(0)  # 2 x c x j
    torch.testing.assert_close(grads, torch.einsum("ic,icj->ij", df_dz, jac))


def test_conditional_noise_has_the_conditional_law():
    """Draws given the hard sample, pooled with the hard sample's law, give back the unconditional law."""
    g = torch.Generator().manual_seed(0)
    n = 200_000
    logits = torch.tensor([-1.0, 0.3, 1.5])
    with estimators.sampling_from(g):
        b = torch.distributions.Bernoulli(logits=logits).sample((n,))
        v = Uniform(torch.tensor(0.0), torch.tensor(1.0)).sample((n, 3))
    noise = conditional_logistic(logits, b, v)
    assert ((logits + noise > 0) == (b > 0)).all()
    # logistic: P(L <= 0) = 1/2 and Var L = pi^2 / 3, per coordinate, within 5 se
    below = (noise <= 0).double().mean(0)
    assert ((below - 0.5).abs() < 5 * math.sqrt(0.25 / n)).all(), below
    var = noise.double().var(0)
    assert ((var - math.pi**2 / 3).abs() < 5 * math.sqrt((4.2 - 1) * (math.pi**2 / 3) ** 2 / n)).all(), var
    # categorical: logits + G given its argmax, pooled, is logits + Gumbel: mean logits + Euler gamma
    cat_logits = torch.tensor([0.5, -1.0, 0.0, 1.0])
    with estimators.sampling_from(g):
        d = torch.distributions.OneHotCategorical(logits=cat_logits).sample((n,))
        e = Exponential(torch.ones(n, 4)).sample()
    gumbel = conditional_gumbel(cat_logits, d, e)
    assert ((cat_logits + gumbel).argmax(-1) == d.argmax(-1)).all()
    mean = gumbel.double().mean(0)
    euler = 0.5772156649
    assert ((mean - euler).abs() < 5 * math.sqrt(math.pi**2 / 6 / n)).all(), mean


def test_num_rb_samples_must_be_a_positive_integer():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_rb_samples must be an integer >= 1"):
            estimators.get("gumbel_rao", num_rb_samples=bad)


@pytest.mark.parametrize("name", ["arm", "gumbel_rao"])
def test_new_estimators_refuse_gaussian_saying_why(name):
    with pytest.raises(ValueError, match=f"{name} applies to Bernoulli"):
        estimators.get(name)(suites.problems.get("gaussian"), 3)


def test_binary_gumbel_estimates_are_unchanged_by_the_categorical_generalisation():
    """Same seed, same numbers as before one-hot categoricals were added (commit a500abb)."""
    prob = suites.problems.get("bernoulli", dim=3, logits=[-1.0, 0.5, 2.0])
    before = {
        "gumbel_softmax": [[0.04533635452389717, 0.04293351620435715, -0.03931650519371033],
                           [-0.03322730213403702, -0.09598632901906967, 0.028583059087395668]],
        "straight_through_gumbel": [[0.23861151933670044, 0.2529541850090027, 0.04807543382048607],
                                    [0.04092264920473099, -0.17257745563983917, 0.030093200504779816]],
    }
    for name, rows in before.items():
        g = torch.Generator().manual_seed(123)
        grads = estimators.get(name, temperature=0.5)(prob, 2, 2, g)["logits"]
        torch.testing.assert_close(grads, torch.tensor(rows))


def estimates(problem, name, options, num_estimates=50_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = estimators.get(name, **options)(problem, num_estimates, 1, g)["logits"]
    rows = rows.reshape(num_estimates, -1).double()
    return rows.mean(0), rows.std(0) / math.sqrt(num_estimates), rows.var(0).mean()


@pytest.mark.parametrize("problem,config", [("bernoulli", {"dim": 5}), ("categorical", {"dim": 3})])
def test_gumbel_rao_has_straight_through_expectation_and_lower_variance(problem, config):
    prob = suites.problems.get(problem, **config)
    exact = prob.exact_gradient()["logits"].reshape(-1).double()
    for tau in (0.5, 0.2):  # at tau = 1 the gain on bernoulli is only ~20%
        mean_st, se_st, var_st = estimates(prob, "straight_through_gumbel", {"temperature": tau}, seed=1)
        mean_gr, se_gr, var_gr = estimates(prob, "gumbel_rao", {"temperature": tau}, seed=2)
        # the same expectation (Rao-Blackwellisation keeps it), per coordinate within 5 se ...
        assert ((mean_gr - mean_st).abs() < 5 * (se_gr**2 + se_st**2).sqrt()).all()
        # ... which is not the gradient (biased) ...
        assert ((mean_gr - exact).abs() / se_gr).max() > 10
        # ... and a lower variance: well below, at a margin far beyond the variances' noise
        assert var_gr < 0.8 * var_st, (tau, var_gr, var_st)


# gumbel_softmax on bernoulli is tested in test_statistics (its bias there is flat between tau = 1
# and 0.5 and only falls below: the relaxation of a quadratic cost at p = 0.73).
@pytest.mark.parametrize("name,problem,config", [
    ("gumbel_rao", "bernoulli", {"dim": 5}), ("gumbel_rao", "categorical", {"dim": 5}),
    ("gumbel_softmax", "categorical", {"dim": 5})])
def test_relaxed_estimators_biased_and_bias_shrinks_with_temperature(name, problem, config):
    prob = suites.problems.get(problem, **config)
    rows = {}
    for tau in (1.0, 0.5, 0.1):
        df = suites.measure(prob, estimators.get(name, temperature=tau), num_estimates=50_000,
                            seed=2, min_run_time=0)
        rows[tau] = df.iloc[0]
    assert rows[1.0]["biased"] and rows[0.5]["biased"]
    for hot, cold in ((1.0, 0.5), (0.5, 0.1)):
        gap = rows[hot]["bias_norm"] - rows[cold]["bias_norm"]
        assert gap > 3 * math.hypot(rows[hot]["bias_se"], rows[cold]["bias_se"]), (hot, cold, gap)


def test_disarm_variance_at_most_arm_on_the_bernoulli_toy():
    prob = suites.problems.get("bernoulli", dim=10, target=0.45)
    var = {}
    for name in ("arm", "disarm"):
        row = suites.measure(prob, estimators.get(name), 20_000, 1, seed=4, min_run_time=0).iloc[0]
        var[name] = (row["variance"], row["variance_se"])
    (v_arm, se_arm), (v_dis, se_dis) = var["arm"], var["disarm"]
    assert v_dis + 5 * se_dis < v_arm - 5 * se_arm
