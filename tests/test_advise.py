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
    # work: the total variance times the cost evaluations of one estimate (no timing in it);
    # time: the total variance times the seconds per estimate
    assert all(math.isclose(w, v * n) for w, v, n in
               zip(table["work_variance"], table["total_variance"], table["evaluations"]))
    assert all(math.isclose(w, v * t) for w, v, t in
               zip(table["time_variance"], table["total_variance"], table["time_per_estimate_s"]))
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
    assert table["total_variance"].iloc[0] == pytest.approx(trace, rel=1e-4)
    coordinates = sum(g[0].numel() for g in grads.values())
    assert table["mean_variance"].iloc[0] == pytest.approx(trace / coordinates, rel=1e-4)


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
    assert result.exit_code == 2 and "0 is not in the range x>=1" in result.output


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
    table, skipped = suites.advise(prob, 4, 200, min_run_time=0.01,
                                          variants=[("measure_valued", {}), ("score_function", {})])
    assert list(table["estimator"]) == ["score_function"]
    assert skipped == ["measure_valued: not run at 4 evaluations (one sample costs 40 evaluations)"]


def test_ties_are_printed_as_ties_and_a_clear_winner_as_one():
    # rank() on hand-made rows: values 1.00 +- 0.05 and 1.05 +- 0.05 are 0.7 combined
    # (relative) standard errors apart: tied; 3.0 +- 0.05 is 22 apart: not.
    import pandas as pd
    from suites.read.advise import rank
    rows = pd.DataFrame({
        "estimator": ["c", "b", "a"], "K": [4, 4, 4], "biased": [False, False, False],
        "work_variance": [3.0, 1.05, 1.0], "work_variance_se": [0.05, 0.05, 0.05]})
    table = rank(rows, "work")
    assert list(table["estimator"]) == ["a", "b", "c"]
    assert list(table["tied"]) == [True, True, False]
    line = recommendation(table)
    assert line.startswith("Tied: a, b:") and "Use a" not in line
    clear = rank(rows[rows["estimator"] != "b"], "work")
    assert recommendation(clear).startswith("Use a (K=4)") and "3x lower" in recommendation(clear)


def test_a_nan_value_is_never_ranked_first():
    import pandas as pd
    from suites.read.advise import rank
    rows = pd.DataFrame({"estimator": ["nan", "fine"], "K": [1, 1], "biased": [False, False],
                         "work_variance": [float("nan"), 2.0], "work_variance_se": [float("nan"), 0.1]})
    table = rank(rows, "work")
    assert list(table["estimator"]) == ["fine", "nan"] and table["rank"].isna().tolist() == [False, True]
    assert recommendation(table).startswith("Use fine")


@pytest.mark.parametrize("option,value,message", [
    ("--min-run-time", "0", "0.0 is not in the range 0<x<=600"),
    ("--min-run-time", "-1", "-1.0 is not in the range 0<x<=600"),
    ("--min-run-time", "nan", "nan is not a finite number of seconds"),
    ("--evaluations", "0", "0 is not in the range x>=1"),
    ("--num-estimates", "1", "1 is not in the range 2<=x<=1000000000"),
    ("--by", "speed", "'speed' is not one of 'work', 'time'"),
])
def test_advise_refuses_out_of_range_options_in_one_line(option, value, message):
    result = CliRunner().invoke(main, ["advise", "--problem", "bernoulli(dim=1)", option, value])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_advise_takes_the_printed_label_fits_the_terminal_and_speaks_json():
    import json
    args = ["advise", "--problem", "gaussian(cost=cos,dim=3)", "--num-estimates", "300",
            "--min-run-time", "0.01", "--estimator", "score_function(baseline=loo)",
            "--estimator", "reparam", "--estimator", "score_function"]
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Advice for gaussian(cost=cos,dim=3) at 4")
    assert max(map(len, result.output.splitlines())) <= 80
    # the printed rows: evals×var per row equals the library's, to the printed digits
    data = json.loads(CliRunner().invoke(main, args + ["--format", "json"]).output)
    rows = {r["estimator"]: r for r in data["estimators"]}
    assert set(rows) == {"score_function(baseline=loo)", "reparam", "score_function"}
    assert data["best"] == ["reparam"] and data["recommendation"].startswith("Use reparam")
    # the i-th printed row is the i-th ranked estimator (its label may wrap onto a next line)
    printed = [line.split() for line in result.output.splitlines()
               if line.split() and line.split()[0].lstrip("=").isdigit()]
    assert len(printed) == 3
    for words, row in zip(printed, data["estimators"]):
        assert row["work_variance"] == pytest.approx(row["total_variance"] * row["evaluations"])
        assert row["estimator"].startswith(words[1]) and words[0] == str(row["rank"])
        assert words[3] == str(row["evaluations"])
        assert words[4].startswith(f"{row['work_variance']:.3g}±")


def test_time_ranking_times_every_estimator_in_each_round():
    # Round-robin: with 3 rounds, the calls go a, b, a, b, a, b; never a, a, a, b, b, b.
    from suites.read import advise as advice
    calls = []

    class Recorder:
        def __init__(self, name):
            self.name = name

        def __call__(self, problem, m, k, generator):
            calls.append(self.name)

    problem = suites.problems.get("bernoulli", dim=1)
    times = advice.interleaved_times(problem, [(Recorder("a"), 1, 10), (Recorder("b"), 1, 10)], 0,
                                     min_run_time=3e-4, rounds=3)
    assert [len(t) for t in times] == [3, 3]
    firsts = [calls.index("b")] + [i for i in range(1, len(calls)) if calls[i] != calls[i - 1]]
    assert len(firsts) >= 5  # at least 6 runs of calls: a b a b a b
    table, _ = advice.advise(problem, 4, 500, min_run_time=0.03, by="time", rounds=3,
                             variants=[("score_function", {}), ("disarm", {})])
    ranked = table[table["rank"].notna()]
    assert list(ranked["time_variance"]) == sorted(ranked["time_variance"])
    assert (table["by"] == "time").all() and table["time_spread"].ge(0).all()
