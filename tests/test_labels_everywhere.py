"""One label format: what the tables, --dry-run, the report and advise print is what every
command accepts, and it names exactly the configuration it was printed for."""
import json

import pytest
from click.testing import CliRunner

import estimators
import suites
import suites.run.grids
from suites.cli import main
from suites.problems.labels import estimator_label, label_names, problem_label


def test_a_printed_problem_label_selects_its_own_configuration_and_no_other():
    cells = suites.run.grids.get("core").cells(["cpu"])
    built = {}
    for c in cells:
        prob = suites.problems.get(c.problem, **c.problem_config)
        built[(c.problem, prob.config_json)] = prob
    assert len(built) == 16  # with categorical(cost=mean_square,dim=10)
    for (name, config), prob in built.items():
        label = problem_label(name, config)
        chosen = {key for key in built if label_names("problem", label, key[0], json.loads(key[1]))}
        assert chosen == {(name, config)}, label
        # typed back to the registry, the label builds that configuration
        assert suites.problems.get(label).config_json == config


def test_labels_show_the_dimension_and_options_away_from_their_defaults():
    prob = suites.problems.get("gaussian", cost="cos")
    assert problem_label(prob.name, prob.config_json) == "gaussian(cost=cos,dim=10)"
    prob = suites.problems.get("bernoulli", dim=20)
    assert problem_label(prob.name, prob.config_json) == "bernoulli(dim=20)"
    est = estimators.get("score_function(baseline=loo)")
    assert est.config["baseline"] == "loo" and est.label == "score_function(baseline=loo)"
    assert estimator_label(est.name, est.config_json) == est.label


@pytest.mark.parametrize("problem", ["bernoulli(dim=10)", "bernoulli,dim=10"])
@pytest.mark.parametrize("estimator", ["score_function(baseline=loo)", "score_function,baseline=loo"])
def test_run_takes_either_spelling_and_prints_the_label(problem, estimator):
    result = CliRunner().invoke(main, ["run", "core", "--problem", problem, "--estimator",
                                       estimator, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "      bernoulli(dim=10) x score_function(baseline=loo) on cpu M=10000 K=4",
        "1 cells: 0 finished, 1 to run"]


def test_check_takes_the_printed_label():
    result = CliRunner().invoke(main, ["check", "problem", "bernoulli(dim=2)"])
    assert "unknown problem" not in result.output and result.exit_code in (0, 1), result.output
    assert "problem bernoulli(dim=2):" in result.output


def test_list_and_check_fit_the_terminal():
    # COLUMNS=80 (the default): every line within 80, a word wider than its room broken
    # (the example plugin's module path in list; check's longest gaussian label)
    for args in (["list"], ["check", "problem", "bernoulli(dim=2)"], ["check", "estimator", "disarm"]):
        result = CliRunner().invoke(main, args, env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        wide = [line for line in result.stdout.splitlines() if len(line) > 80]
        assert not wide, wide
    narrow = CliRunner().invoke(main, ["list"], env={"COLUMNS": "60"}).stdout
    assert max(len(line) for line in narrow.splitlines() if len(line.split()) > 1) <= 60
