"""`mcgradbench check`: passes on every built-in estimator and problem, fails on broken ones."""
import pytest
from click.testing import CliRunner

import estimators
import suites
from suites.cli import main
from suites.read.conformance import assert_conforms, check_estimator, check_problem

FIXTURES = "tests.plugin_fixtures.broken_estimators"


# Peers (other libraries' estimators, estimators.peers) are checked in test_peers.py: the
# battery would start their worker processes for every check.
@pytest.mark.parametrize("name", [n for n in estimators.names()
                                  if not getattr(estimators.get(n), "remote", False)])
def test_every_registered_estimator_conforms(name):
    assert_conforms("estimator", name)


@pytest.mark.parametrize("name", [n for n in suites.problems.names()
                                  if n not in ("logistic_regression", "sbn")])
def test_every_registered_problem_conforms(name):
    assert_conforms("problem", name)


def test_logistic_regression_conforms_with_a_small_reference():
    # The default 10^6-sample reference takes a minute from an empty cache; 10^4 keeps the
    # same checks (its standard error enters the z test) in seconds.
    results = assert_conforms("problem", "logistic_regression", reference_samples=10_000)
    assert "skipped: no exact gradient" in results[1].detail


def test_sbn_conforms_with_a_small_model_and_reference():
    # 200 latents and 20,000 reference pairs take a minute from an empty cache; 2 latents,
    # 2 images and 2,000 pairs keep the same checks in a second.
    results = assert_conforms("problem", "sbn", latent_dim=2, batch_size=2, reference_samples=2000)
    assert "skipped: no exact gradient" in results[1].detail


@pytest.mark.parametrize("fixture, check", [
    ("WrongShape", "output_contract"),
    ("SelfBaseline", "unbiased_on_gaussian_square"),
    ("IgnoresGenerator", "seeded_determinism"),
    # estimates that vary within a call are still told apart between calls (the exemption of
    # independent_calls is for estimators whose every estimate is the same)
    ("SameNoiseEveryCall", "independent_calls"),
])
def test_check_fails_on_broken_estimators_naming_the_check(fixture, check):
    # wide enough for one line a check (check wraps to COLUMNS; its width is tested apart)
    result = CliRunner().invoke(main, ["check", "estimator", f"{FIXTURES}:{fixture}"],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    failed = [line.split()[1] for line in result.output.splitlines() if line.startswith("FAIL")]
    assert check in failed, result.output
    assert f"failed: {', '.join(failed)}" in result.output


def test_check_fails_on_a_problem_whose_gradient_is_off_by_a_factor():
    results = {r.name: r for r in check_problem(f"{FIXTURES}:GradientOffByFactor,dim=2")}
    assert not results["exact_gradient_finite_differences"].passed
    assert "relative error" in results["exact_gradient_finite_differences"].detail
    assert not results["unbiased_reparam"].passed and results["batching"].passed
    with pytest.raises(AssertionError, match="FAIL +exact_gradient_finite_differences"):
        assert_conforms("problem", f"{FIXTURES}:GradientOffByFactor")


def test_example_plugin_passes_check_by_entry_point_and_by_path():
    for target in ("score_function_median", "mcgradbench_example.estimator:ScoreFunctionMedian"):
        result = CliRunner().invoke(main, ["check", "estimator", target], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert result.output.count("PASS") == len(result.output.splitlines()) - 1
    result = CliRunner().invoke(main, ["check", "problem", "mcgradbench_example.problem:PoissonLogLinear,dim=2,counts=[1, 4]"])
    assert result.exit_code == 0, result.output


def test_check_of_an_unknown_name_is_exit_2():
    result = CliRunner().invoke(main, ["check", "estimator", "muprop"])
    assert result.exit_code == 2 and "unknown estimator 'muprop'" in result.output
