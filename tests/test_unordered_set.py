"""The unordered set estimator (Kool, van Hoof & Welling 2020): its set probabilities and ratios
against separate derivations, its exact moments against a hand enumeration, zero variance at
the size of the support, the beam search's law, and sampled moments against exact ones.

Statistical bounds are 5 standard errors per value (two-sided normal false alarm 5.7e-7; about
50 values here, under 3e-5 for the module).
"""
import itertools

import pytest
import torch

import estimators
import suites
import estimators.unordered_set as us
from suites.measurement.exact import exact_moments, unordered_set_probabilities


def set_probability(p, members, removed=()):
    """p^{D\\removed}(members) from sequential draws, every order written out."""
    total = 0.0
    for order in itertools.permutations(members):
        left, prob = 1.0 - sum(p[a] for a in removed), 1.0
        for s in order:
            prob *= p[s] / left
            left -= p[s]
        total += prob
    return total


def test_set_probabilities_are_the_sums_over_orders():
    p = torch.softmax(torch.tensor([0.3, -1.2, 2.0, 0.1, -0.4, 0.9, -2.5], dtype=torch.float64), 0)
    chosen = [0, 2, 3, 6]
    table = us.log_set_probabilities(p[chosen].log()).exp()
    for mask in range(16):
        removed = [chosen[i] for i in range(4) if mask >> i & 1]
        kept = [chosen[i] for i in range(4) if not mask >> i & 1]
        assert float(table[mask]) == pytest.approx(set_probability(p.tolist(), kept, removed), rel=1e-12)
    # K = 2 by hand: p(a) p(b) (1 / (1 - p(a)) + 1 / (1 - p(b)))
    a, b = float(p[1]), float(p[5])
    two = us.log_set_probabilities(p[[1, 5]].log()).exp()
    assert float(two[0]) == pytest.approx(a * b * (1 / (1 - a) + 1 / (1 - b)), rel=1e-13)
    # and the enumeration of suites.measurement.exact agrees
    got = unordered_set_probabilities(p.log()[None], torch.tensor([chosen]))
    assert float(got) == pytest.approx(float(table[0]), rel=1e-12)


def test_integrated_ratios_match_the_exact_ones_within_the_stated_error():
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for k in (2, 5, 8, 12):
        for spread in (0.5, 4.0):  # the items' probabilities within a set: alike or e^{+-8} apart
            # p(S) log-uniform on [1e-8, 0.5], and 1 - p(S) log-uniform on [1e-9, 0.5]
            low = 10 ** (-8 + 7.7 * torch.rand(8, generator=generator, dtype=torch.float64))
            high = 1 - 10 ** (-9 + 8.7 * torch.rand(8, generator=generator, dtype=torch.float64))
            within = torch.log_softmax(spread * torch.randn(16, k, generator=generator,
                                                            dtype=torch.float64), -1)
            log_p = torch.cat([low, high]).log()[:, None] + within
            r1, r2 = us.leave_one_out_ratios(log_p, "exact")
            i1, i2 = us.leave_one_out_ratios(log_p, "integral")
            worst = max(worst, float((r1 - i1).abs().max()), float((r2 - i2).abs().max()))
    assert worst < us.INTEGRAL_ERROR, worst  # 2.4e-11 seen
    # the whole support (no mass left outside): every ratio is 1
    full = torch.log_softmax(torch.tensor([[0.2, -1.0, 1.5]], dtype=torch.float64), -1)
    for method in ("exact", "integral"):
        r1, r2 = us.leave_one_out_ratios(full, method)
        assert float(r1.abs().max()) < 1e-12 and float(r2.abs().max()) < 1e-12


def hand_moments(logits, target, values):
    """Mean and per-class variance of the K = 2 estimate on one categorical, f(c) = (v_c - t)^2,
    enumerating its 3 sets: weights p(s) p(s') / (1 - p(s)) / p(S), baseline from the text."""
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), 0).tolist()
    f = [(v - target) ** 2 for v in values]
    rows, probs = [], []
    for a, b in itertools.combinations(range(3), 2):
        p_set = p[a] * p[b] * (1 / (1 - p[a]) + 1 / (1 - p[b]))
        g = torch.zeros(3, dtype=torch.float64)
        for s, other in ((a, b), (b, a)):
            first = p[s] * (p[other] / (1 - p[s])) / p_set  # p(s) R(S, s)
            # B(S, s) = p(s) f(s) + p(s') R^{D\s}(S, s') f(s'), R^{D\s} = 1 / p^{D\s}({s'})
            baseline = p[s] * f[s] + p[other] * (1 - p[s]) / p[other] * f[other]
            score = -torch.tensor(p, dtype=torch.float64)
            score[s] += 1  # d log p(s) / d logits
            g += first * (f[s] - baseline) * score
        rows.append(g)
        probs.append(p_set)
    rows, probs = torch.stack(rows), torch.tensor(probs, dtype=torch.float64)
    mean = probs @ rows
    return mean, probs @ (rows - mean) ** 2, float(probs.sum())


def test_exact_moments_are_the_hand_enumeration():
    logits, target = [0.5, -1.0, 0.25], 0.3  # exact in float32
    prob = suites.problems.get("categorical", dim=1, logits=logits, target=target)
    moments = exact_moments(prob, estimators.get("unordered_set"), 2)
    mean, variance, total = hand_moments(logits, target, [0.0, 0.5, 1.0])
    assert total == pytest.approx(1.0, abs=1e-14) and moments.nodes == 3
    torch.testing.assert_close(moments.mean["logits"], mean, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(moments.variance["logits"], variance, rtol=1e-10, atol=1e-16)
    # unbiased: the mean is the closed-form gradient
    exact = prob.to(dtype=torch.float64).exact_gradient()["logits"].reshape(-1)
    torch.testing.assert_close(mean, exact, rtol=1e-12, atol=1e-15)
    assert float(variance.min()) > 1e-4  # not trivially exact below the support size


@pytest.mark.parametrize("problem,config,k", [("categorical", dict(dim=1), 3),
                                              ("bernoulli", dict(dim=2), 4),
                                              ("categorical", dict(dim=2, num_classes=2), 4)])
def test_the_whole_support_gives_the_exact_gradient(problem, config, k):
    prob = suites.problems.get(problem, **config)
    est = estimators.get("unordered_set")
    moments = exact_moments(prob, est, k)
    exact = prob.to(dtype=torch.float64).exact_gradient()["logits"].reshape(-1)
    assert moments.nodes == 1 and float(moments.variance["logits"].max()) < 1e-28
    torch.testing.assert_close(moments.mean["logits"], exact, rtol=1e-12, atol=1e-15)
    rows = est(prob, 2_000, k, torch.Generator().manual_seed(0))["logits"].reshape(2_000, -1)
    assert float(rows.var(0).max()) < 1e-12  # float32 rounding only


@pytest.mark.parametrize("draw", [us.stochastic_beam_search, us.rejection_without_replacement])
def test_beam_search_and_redrawing_draw_sets_with_their_probabilities(draw):
    log_p = torch.log_softmax(torch.tensor([[1.0, 0.0, -1.0], [0.5, -0.5, 0.2]],
                                           dtype=torch.float64), -1)
    n = 50_000
    states = us.joint_states(2, 3)
    log_joint = log_p[torch.arange(2), states].sum(-1)  # 9
    for k in (2, 3):  # K = 2 shows a beam whose Gumbels ignore their parent's (z = 43 seen)
        torch.manual_seed(k)
        index = draw(log_p.expand(n, 2, 3), k)  # n x K x 2
        codes = (index * torch.tensor([1, 3])).sum(-1).sort(-1).values  # joint states 0..8
        assert (codes.diff(dim=-1) > 0).all()  # distinct
        sets = torch.tensor(list(itertools.combinations(range(9), k)))
        expected = unordered_set_probabilities(log_joint[None], sets)[0]
        place = torch.tensor([81, 9, 1])[3 - k:]
        counts = torch.bincount(codes @ place, minlength=729).double()[sets @ place]
        assert counts.sum() == n
        z = (counts - n * expected) / (n * expected * (1 - expected)).sqrt()
        assert float(z.abs().max()) < 5, (k, z)


CASES = [("categorical", dict(dim=2), 2, 64, 0.25), ("bernoulli", dict(dim=3, logits=-0.5), 3, 64, 0.25),
         ("categorical", dict(dim=2), 3, 1, 0.0),  # stochastic beam search
         ("bernoulli", dict(dim=3, logits=0.5), 2, 1, 1.0)]  # redrawing


@pytest.mark.parametrize("problem,config,k,enumerated,rejection", CASES)
def test_sampled_moments_agree_with_exact_ones(problem, config, k, enumerated, rejection, monkeypatch):
    monkeypatch.setattr(us, "MAX_ENUMERATED", enumerated)
    monkeypatch.setattr(us, "REJECTION_LIMIT", rejection)
    prob = suites.problems.get(problem, **config)
    df = suites.measure(prob, estimators.get("unordered_set"), num_estimates=10_000,
                        num_samples=k, seed=3, min_run_time=0, exact=True)
    assert (df["exact_bias_norm"] < 1e-12).all() and (df["exact_rel_error"] < 1e-12).all()
    assert (df["exact_variance_z"].abs() < 5).all() and (df["exact_mean_max_abs_z"] < 5).all(), df


@pytest.mark.parametrize("problem,k", [("categorical", 2), ("bernoulli", 4)])
def test_not_flagged_biased_at_dim_10(problem, k):
    # M = 20,000: a bias of 0.05 standard deviations of one estimate in a coordinate has
    # z = 0.05 sqrt(M) = 7.1 and is flagged (|z| > 5) with probability 0.98; unbiased, each of
    # the 10 or 30 coordinates alarms with probability 5.7e-7.
    prob = suites.problems.get(problem, dim=10)
    df = suites.measure(prob, estimators.get("unordered_set"), num_estimates=20_000,
                        num_samples=k, seed=5, min_run_time=0)
    assert (df["max_abs_z"] < 5).all(), df


def test_refusals_are_one_line():
    est = estimators.get("unordered_set")
    cases = [(suites.problems.get("gaussian", dim=2), 2, "Bernoulli and categorical"),
             (suites.problems.get("bernoulli", dim=1), 3, "has only 2 per factor"),
             (suites.problems.get("bernoulli", dim=2), 1, "num_samples >= 2")]
    for prob, k, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            est(prob, 10, k)
        assert "\n" not in str(error.value)
    assert not est.applies_to(suites.problems.get("gaussian", dim=2))
    with pytest.raises(ValueError, match="allowed: auto, exact, integral"):
        estimators.get("unordered_set", ratios="trapezoid")
