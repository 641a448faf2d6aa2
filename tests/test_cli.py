from click.testing import CliRunner

from suites.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_shows_every_name():
    import estimators
    import suites
    out = invoke("list").output
    for name in estimators.names() + suites.problems.names() + ["core"]:
        assert name in out


def test_run_prints_table_for_filtered_grid():
    result = invoke("run", "core", "--problem", "bernoulli", "--estimator", "score_function",
                    "--num-estimates", "200", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "score_function(baseline:loo)" in result.output
    assert "bernoulli(dim:100" in result.output
    assert "gaussian" not in result.output.split("\n", 1)[1]


def test_unknown_names_are_one_line_errors_with_exit_code_2():
    for args, text in [(("run", "nope"), "unknown suite 'nope'; known: core"),
                       (("run", "--estimator", "rebar"), "unknown estimator 'rebar'"),
                       (("run", "--problem", "mnist"), "unknown problem 'mnist'"),
                       (("run", "--device", "tpu"), "unknown device 'tpu'"),
                       (("run", "--num-estimates", "1"), "--num-estimates must be >= 2")]:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output
        assert "Traceback" not in result.output
