"""IndeCateR and the non-separable categorical cost: exact values by hand and by enumeration.

Statistical bounds: |z| < 4.5 per check (false-alarm rate 7e-6 each) at fixed seeds.
"""
import itertools
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent

import estimators
import suites
from suites.measurement.exact import exact_moments
from suites.problems.base import Problem
from suites.run.grids.base import samples_within


class PairSquare(Problem):
    """Two Bernoullis, f(b) = (b_1 + b_2 - t)^2: not separable (its b_1 b_2 term)."""

    name = "pair_square"

    def __init__(self, probs=(0.3, 0.6), target=0.4):
        self.params = {"logits": torch.logit(torch.tensor(probs))}
        self.target, self.config = target, {"probs": list(probs), "target": target}

    def distribution(self, params):
        return Independent(Bernoulli(logits=params["logits"], validate_args=False), 1)

    def cost(self, z, params):
        return (z.sum(-1) - self.target) ** 2

    def expectation(self, params):
        p = torch.sigmoid(params["logits"])
        mean, var = p.sum(), (p * (1 - p)).sum()
        return (mean - self.target) ** 2 + var


def test_indecater_exact_variance_is_the_hand_value_on_a_non_separable_cost():
    # dimension 1 with b_2 sampled: p_1 (1 - p_1)(f(1, b_2) - f(0, b_2)) = p_1 (1 - p_1)(1 + 2 b_2 - 2 t),
    # so Var g_1 = 4 p_1^2 (1 - p_1)^2 p_2 (1 - p_2); likewise g_2 with the roles swapped.
    prob = PairSquare()
    p = torch.sigmoid(prob.params["logits"].double())
    exact = exact_moments(prob, estimators.get("indecater"))
    s = p * (1 - p)
    torch.testing.assert_close(exact.variance["logits"], 4 * s**2 * s.flip(0), rtol=1e-10, atol=0)
    torch.testing.assert_close(exact.mean["logits"], exact.reference["logits"], rtol=1e-10, atol=0)
    row = suites.measure(prob, estimators.get("indecater"), 20_000, seed=1, min_run_time=0).iloc[0]
    assert abs(row["exact_variance_z"]) < 4.5 and row["exact_mean_max_abs_z"] < 4.5


def test_indecater_is_exact_on_a_separable_cost_and_not_on_the_mean_square():
    est = estimators.get("indecater")
    separable = suites.problems.get("categorical", dim=10)
    coupled = suites.problems.get("categorical", dim=10, cost="mean_square")
    rows = {name: suites.measure(prob, est, 2_000, seed=0, min_run_time=0).iloc[0]
            for name, prob in (("separable", separable), ("coupled", coupled))}
    exact_square = float(separable.exact_gradient()["logits"].square().mean())
    assert rows["separable"]["variance"] < 1e-12 * exact_square  # rounding only
    assert rows["coupled"]["variance"] > 1e-3 * float(coupled.exact_gradient()["logits"].square().mean())
    assert not rows["separable"]["biased"] and not rows["coupled"]["biased"]


def test_mean_square_gradient_against_an_enumeration_of_every_state():
    dim, classes, t = 3, 3, 0.3
    logits = torch.tensor([[0.2, -0.5, 1.0], [-1.0, 0.3, 0.1], [0.7, 0.7, -0.4]])
    prob = suites.problems.get("categorical", dim=dim, num_classes=classes, target=t,
                               logits=logits.tolist(), cost="mean_square")
    p = torch.softmax(logits.double(), -1)
    v = torch.linspace(0, 1, classes, dtype=torch.float64)
    value, grad = 0.0, torch.zeros(dim, classes, dtype=torch.float64)
    for state in itertools.product(range(classes), repeat=dim):
        weight = math.prod(float(p[i, c]) for i, c in enumerate(state))
        f = (sum(float(v[c]) for c in state) / dim - t) ** 2
        onehot = torch.nn.functional.one_hot(torch.tensor(state), classes).double()
        value += weight * f
        grad += weight * f * (onehot - p)  # grad log p(z) in the logits
    assert float(prob.expectation({"logits": logits.double()})) == pytest.approx(value, rel=1e-12)
    torch.testing.assert_close(prob.exact_gradient()["logits"].double(), grad, rtol=1e-6, atol=1e-8)
    assert prob.config["cost"] == "mean_square"
    assert "cost" not in suites.problems.get("categorical").config  # the square cost's rows unchanged


def test_indecater_charges_k_d_c_evaluations_where_budgets_are_matched():
    est = estimators.get("indecater")
    bern, cat = suites.problems.get("bernoulli", dim=10), suites.problems.get("categorical", dim=10)
    assert est.evaluations(bern, 3) == 3 * 10 * 2 and est.evaluations(cat, 1) == 10 * 3
    assert samples_within(est, cat, 60) == 2 and samples_within(est, cat, 29) == 0
    with pytest.raises(ValueError, match="indecater applies to"):
        est.evaluations(suites.problems.get("gaussian"), 1)


# measure's `biased` flag: max per-coordinate |z| beyond the Bonferroni threshold z* at a
# family-wise false-alarm rate of 1e-3 per parameter row; the 19 rows below (bernoulli 3,
# categorical 1, bernoulli_vae 3 estimators x 5 parameters) make a false alarm over the test
# at most 19 x 1e-3 = 1.9e-2. Power: a coordinate biased by (z* + 1.28) standard errors is
# flagged with probability >= 0.9 (z* = 4.4 at 10 coordinates, 5.1 at 120), i.e. a bias of
# about 6 sd / sqrt(M): 0.04 sd at M = 20,000 (toys), 0.13 sd at M = 2,000 (bernoulli_vae, a
# small instance: 10 data points, 4 latents, so that IndeCateR's 8 evaluations a sample fit).
# double_cv at a fixed alpha = 0.5 (no adaptation), so that its control variate and the
# correction are both in play.
NEW_CASES = [("arms", {}, 1), ("double_cv", {"alpha": 0.5}, 2), ("indecater", {}, 1)]


@pytest.mark.parametrize("problem,config,m", [("bernoulli", {"dim": 10}, 20_000),
                                              ("categorical", {"dim": 10}, 20_000),
                                              ("bernoulli_vae", {"num_data": 10, "latent_dim": 4}, 2_000)])
def test_no_new_estimator_is_flagged_biased(problem, config, m):
    prob = suites.problems.get(problem, **config)
    ran = 0
    for name, options, k in NEW_CASES:
        est = estimators.get(name, **options)
        if not est.applies_to(prob):
            continue
        rows = suites.measure(prob, est, m, num_samples=k, seed=11, min_run_time=0, adapt_steps=0)
        assert not rows["biased"].any(), rows[["estimator", "param", "max_abs_z"]]
        ran += 1
    assert ran == (1 if problem == "categorical" else 3)


def test_a_grid_budget_gives_indecater_the_k_its_evaluations_allow(tmp_path):
    from suites.run.grids.files import load_grid

    path = tmp_path / "budget.toml"
    path.write_text('name = "budget"\ndescription = "d"\nnum_estimates = 10\n'
                    '[[problems]]\nname = "bernoulli"\nconfigs = [{dim = 1}, {dim = 5}, {dim = 20}]\n'
                    '[[estimators]]\nname = "indecater"\nevaluations = [20]\n'
                    '[[estimators]]\nname = "arms"\noptions = [{n = 2}, {n = 5}]\nevaluations = [20]\n')
    cells = load_grid(path).cells(["cpu"])
    got = {(c.problem_config["dim"], c.estimator, c.estimator_config.get("n"), c.num_samples) for c in cells}
    # IndeCateR: 2 D evaluations a sample (20 // 2, 20 // 10; none at dim 20, 40 > 20); ARMS: n a draw
    assert {g for g in got if g[1] == "indecater"} == {(1, "indecater", None, 10), (5, "indecater", None, 2)}
    assert {(n, k) for _, e, n, k in got if e == "arms"} == {(2, 10), (5, 4)}
