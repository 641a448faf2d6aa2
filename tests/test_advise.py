"""`mcgradbench advise`: a ranked table at one budget, plugins included."""
import math

import pytest
from click.testing import CliRunner

import suites
from suites.read.advise import advise, recommendation
from suites.cli import main


@pytest.fixture(scope="module")
def poisson_advice():
    problem = suites.problems.get("poisson_loglinear", dim=2, counts=[1, 4])
    return problem, advise(problem, evaluations=4, num_estimates=2000, min_run_time=0.01)


def test_table_ranks_unbiased_by_work_variance(poisson_advice):
    _, (table, skipped) = poisson_advice
    unbiased = table[~table["biased"]]
    assert list(unbiased["rank"]) == list(range(1, len(unbiased) + 1))
    assert list(unbiased["work_variance"]) == sorted(unbiased["work_variance"])
    # work variance is the total variance times the time per estimate
    assert all(math.isclose(w, v * t) for w, v, t in
               zip(table["work_variance"], table["variance"], table["time_per_estimate_s"]))
    # every estimator that applies at 4 evaluations: the example plugin by its entry point too
    assert {"reparam", "score_function(baseline=loo)", "score_function_median"} <= set(table["estimator"])
    assert set(table["K"]) == {4}
    # at 4 evaluations on a 2-D Gaussian: one measure-valued sample costs 4 D = 8, the delta
    # method's gradient and D Hessian-vector products 2 + 2 more than its 2 K
    assert sorted(skipped) == [
        "delta_method: not run at 4 evaluations (one sample costs 6 evaluations)",
        "measure_valued: not run at 4 evaluations (one sample costs 8 evaluations)"]


def test_total_variance_is_the_trace_of_the_estimates_covariance():
    # Recomputed independently: the same seeded estimates (one chunk), their per-coordinate
    # variances summed over every coordinate of every parameter.
    import estimators
    import torch
    problem = suites.problems.get("poisson_loglinear", dim=2, counts=[1, 4])
    table, _ = advise(problem, 4, 4000, min_run_time=0.01, variants=[("reparam", {})])
    grads = estimators.get("reparam")(problem, 4000, 4, torch.Generator().manual_seed(0))
    trace = sum(float(g.var(0).sum()) for g in grads.values())
    assert table["variance"].iloc[0] == pytest.approx(trace, rel=1e-4)


def test_biased_estimators_are_apart_and_not_ranked():
    problem = suites.problems.get("bernoulli", dim=3)
    table, skipped = advise(problem, 4, 3000, min_run_time=0.01)
    biased = table[table["biased"]]
    # gumbel_softmax, straight_through_gumbel and gumbel_rao at three temperatures each
    assert biased["estimator"].str.contains("gumbel").all() and len(biased) == 9
    assert biased["rank"].isna().all()
    assert "Use " in recommendation(table)
    # REBAR's three evaluations a sample: one sample in a budget of 4; DisARM two pairs.
    assert dict(zip(table["estimator"].str.split("(").str[0], table["K"]))["disarm"] == 2


def test_advise_cli_on_an_ad_hoc_problem_and_a_bad_budget():
    args = ["advise", "--problem", "mcgradbench_example.problem:PoissonLogLinear,dim=2,counts=[1, 4]",
            "--num-estimates", "500", "--min-run-time", "0.01", "--evaluations", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Unbiased, ranked by work-normalised variance" in result.output
    assert "Caveats:" in result.output and "Use " in result.output
    result = CliRunner().invoke(main, args[:-1] + ["0"])
    assert result.exit_code == 2 and "--evaluations must be an integer >= 1, got 0" in result.output


def test_budgets_count_each_estimators_own_cost_on_the_problem():
    import estimators
    from suites.run.grids.base import samples_within
    prob = suites.problems.get("gaussian", dim=10)
    mv, dm = estimators.get("measure_valued"), estimators.get("delta_method")
    assert mv.evaluations(prob, 1) == 40 and mv.evaluations(prob, 3) == 120   # 4 D a sample
    assert dm.evaluations(prob, 2) == 2 * 2 + 2 + 10      # f and an HVP a sample; f, grad, D HVPs
    assert samples_within(mv, prob, 4) == 0 and samples_within(mv, prob, 80) == 2
    assert samples_within(dm, prob, 16) == 2 and samples_within(dm, prob, 13) == 0
    assert samples_within(estimators.get("disarm"), suites.problems.get("bernoulli"), 5) == 2
    table, skipped = suites.advise(prob, 4, 200, min_run_time=0,
                                          variants=[("measure_valued", {}), ("score_function", {})])
    assert list(table["estimator"]) == ["score_function"]
    assert skipped == ["measure_valued: not run at 4 evaluations (one sample costs 40 evaluations)"]
