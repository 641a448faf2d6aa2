"""The categorical problem: configuration, exact gradient, and the estimators that apply to it."""
import itertools

import pytest
import torch

import estimators
import suites


def test_exact_gradient_matches_the_closed_form_and_enumeration():
    prob = suites.problems.get("categorical", dim=2, num_classes=3, target=0.2,
                               logits=[[0.5, -1.0, 2.0], [0.0, 0.3, -0.4]])
    logits = prob.params["logits"].double()
    p = torch.softmax(logits, -1)
    a = (torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64) - 0.2) ** 2
    closed = p * (a - (p * a).sum(-1, keepdim=True))  # p_c (a_c - sum_k p_k a_k)
    torch.testing.assert_close(prob.exact_gradient()["logits"].double(), closed, rtol=1e-5, atol=1e-7)
    # F by enumerating the 9 joint one-hot outcomes, differentiated by autograd
    leaf = logits.clone().requires_grad_(True)
    dist = prob.distribution({"logits": leaf})
    eye = torch.eye(3, dtype=torch.float64)
    outcomes = torch.stack([torch.stack([eye[i], eye[j]]) for i, j in itertools.product(range(3), repeat=2)])
    value = (dist.log_prob(outcomes).exp() * prob.cost(outcomes, {"logits": leaf})).sum()
    torch.testing.assert_close(torch.autograd.grad(value, leaf)[0], closed)


def test_default_gradient_is_not_tiny():
    assert prob_default().exact_gradient()["logits"].abs().min() > 0.02


def prob_default():
    return suites.problems.get("categorical")


def test_samples_are_one_hot_and_cost_is_vectorised():
    prob = suites.problems.get("categorical", dim=4, num_classes=5)
    reps = {"logits": prob.params["logits"].expand(3, 4, 5)}
    z = prob.distribution(reps).sample((2,))
    assert z.shape == (2, 3, 4, 5) and (z.sum(-1) == 1).all()
    assert prob.cost(z, reps).shape == (2, 3)


@pytest.mark.parametrize("config,match", [
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"num_classes": 3, "logits": [1.0, 2.0]}, r"logits must have shape \(3,\) or \(10, 3\)"),
    ({"logits": [0.0, float("nan"), 1.0]}, "logits must be finite"),
    ({"target": "x"}, "target must be a finite number"),
])
def test_bad_config_is_a_value_error(config, match):
    with pytest.raises(ValueError, match=match):
        suites.problems.get("categorical", **config)


def test_which_estimators_apply():
    prob = prob_default()
    applies = {name for name in estimators.names() if estimators.origin(name) == "built-in"
               and estimators.get(name).applies_to(prob)}
    assert applies == {"score_function", "gumbel_softmax", "straight_through_gumbel", "gumbel_rao", "nvil",
                       "indecater", "unordered_set"}


def test_two_classes_is_the_bernoulli_toy():
    """With C = 2 and logits (0, theta) the problem is the binary toy: same F, same gradient in theta."""
    theta = torch.tensor([-1.0, 0.4, 2.0])
    cat = suites.problems.get("categorical", dim=3, num_classes=2, target=0.3,
                              logits=torch.stack([torch.zeros(3), theta], -1).tolist())
    ber = suites.problems.get("bernoulli", dim=3, target=0.3, logits=theta.tolist())
    torch.testing.assert_close(cat.exact_gradient()["logits"][:, 1], ber.exact_gradient()["logits"])


def test_straight_through_forward_is_one_hot_and_a_categorical_draw():
    prob = suites.problems.get("categorical", dim=2, num_classes=3, logits=[[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
    est = estimators.get("straight_through_gumbel", temperature=0.5)
    reps = {"logits": prob.params["logits"].expand(50_000, 2, 3)}
    with estimators.sampling_from(torch.Generator().manual_seed(0)):
        z = est.relaxed_sample(prob.distribution(reps), 1)[0]
    assert (z.sum(-1) == 1).all() and ((z == 0) | (z == 1)).all()
    freq, p = z.mean(0), torch.softmax(prob.params["logits"], -1)
    assert ((freq - p).abs() < 5 * (p * (1 - p) / 50_000).sqrt()).all()
