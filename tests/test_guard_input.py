"""Bad input: one line naming the value and what is allowed (CLI: exit 2; Python: TypeError/ValueError)."""
import inspect

import pytest
import torch
from click.testing import CliRunner

import estimators
import suites
from suites.cli import main
from suites.run.training import train

#: Ad hoc names of the wrong kind, and what the error must say each is.
WRONG_KIND = [
    ("estimator", "collections:OrderedDict", "is the class collections.OrderedDict, not an estimator class"),
    ("estimator", "torch:nn", "is the module torch.nn, not an estimator class"),
    ("estimator", "suites.problems.gaussian:Gaussian", "(a problem), not an estimator class"),
    ("problem", "estimators.reparam:Reparam", "(an estimator), not a problem class"),
    ("problem", "math:pi", "is a float object, not a problem class"),
]


def one_line_error(result, *expected):
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    for text in expected:
        assert text in result.output, (text, result.output)


@pytest.mark.parametrize("kind, name, what", WRONG_KIND)
def test_a_name_of_the_wrong_kind_is_one_line_in_check_run_and_advise(kind, name, what):
    runner = CliRunner()
    one_line_error(runner.invoke(main, ["check", kind, name]), repr(name), what)
    one_line_error(runner.invoke(main, ["run", "core", f"--{kind}", name, "--dry-run"]), what)
    advise = (["advise", "--problem", name] if kind == "problem"
              else ["advise", "--problem", "gaussian", "--estimator", name])
    one_line_error(runner.invoke(main, advise), what)


def test_an_out_of_range_seed_is_refused_before_a_run_directory_is_made(tmp_path):
    out = tmp_path / "run"
    for seed in ["100000000000000000000000", "-1", str(2**62 + 1)]:
        result = CliRunner().invoke(main, ["run", "core", "--problem", "gaussian(dim=1)",
                                           "--estimator", "reparam", "--seed", seed,
                                           "--num-estimates", "100", "--min-run-time", "0",
                                           "--out", str(out)])
        one_line_error(result, "--seed", seed, "0..2**62")
        assert not out.exists()


@pytest.mark.parametrize("label, expected", [
    ("--problem=gaussian(cost=cos,cost=square)", "option 'cost' is given twice"),
    ("--problem=gaussian,cost=cos,cost=square", "option 'cost' is given twice"),
    ("--estimator=gumbel_softmax(temperature=0.5,temperature=1)", "option 'temperature' is given twice"),
    ("--estimator=gumbel_softmax(temperature=-1)", "temperature must be finite and > 0, got -1"),
    ("--estimator=gumbel_softmax(temperature=True)", "temperature must be a number > 0, got the flag True"),
    ("--problem=gaussian(dim=0)", "dim must be an integer >= 1, got 0"),
    ("--estimator=score_function(baseline=abc)", "unknown baseline 'abc' for score_function; allowed: none, loo, loo_optimal"),
    ("--problem=gaussian_full,seed=abc", "seed must be an integer in 0..2**62, got str 'abc'"),
])
def test_a_bad_label_says_what_is_wrong(label, expected):
    one_line_error(CliRunner().invoke(main, ["run", "core", label, "--dry-run"]), expected)


def test_a_label_that_names_no_cell_gets_the_reason():
    runner = CliRunner()
    one_line_error(runner.invoke(main, ["run", "core", "--estimator", "disarm", "--problem", "gaussian",
                                        "--dry-run"]),
                   "no cell of suite 'core' matches: disarm applies to Bernoulli problems only; "
                   "gaussian is Normal")
    one_line_error(runner.invoke(main, ["run", "core", "--estimator", "gumbel_softmax(temperature=0.3)",
                                        "--dry-run"]),
                   "holds no estimator gumbel_softmax(temperature=0.3), but "
                   "gumbel_softmax(temperature=0.1), gumbel_softmax(temperature=0.5), "
                   "gumbel_softmax(temperature=1.0)")


# --- Python API ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gaussian():
    return suites.problems.get("gaussian", dim=2)


@pytest.mark.parametrize("call, error, words", [
    (lambda p, e: e(p, 10, 1, generator=0), TypeError, ["generator", "torch.Generator", "int 0"]),
    (lambda p, e: e("gaussian", 10), TypeError, ["problem", "str 'gaussian'", "suites.problems.get('gaussian')"]),
    (lambda p, e: e.adapt(p, 4, 1, generator=0), TypeError, ["generator"]),
    (lambda p, e: suites.measure("gaussian", e, 10), TypeError, ["problem", "str 'gaussian'"]),
    (lambda p, e: suites.measure(p, "reparam", 10), TypeError, ["estimator", "estimators.get('reparam')"]),
    (lambda p, e: suites.measure(p, e, 10, seed="a"), TypeError, ["seed", "str 'a'"]),
    (lambda p, e: suites.measure(p, e, 10, seed=True), TypeError, ["seed", "bool True"]),
    (lambda p, e: suites.measure(p, e, 10, seed=10**23), ValueError, ["seed", "0..2**62"]),
    (lambda p, e: suites.measure(p, e, 10, min_run_time="a"), ValueError, ["min_run_time", "'a'"]),
    (lambda p, e: suites.measure(p, e, 10, exact="yes"), ValueError, ["exact", "'yes'"]),
    (lambda p, e: train("gaussian", e, 2), TypeError, ["problem", "str 'gaussian'"]),
    (lambda p, e: train(p, "reparam", 2), TypeError, ["estimator", "str 'reparam'"]),
    (lambda p, e: train(p, e, 2, seed="a"), TypeError, ["seed", "str 'a'"]),
    (lambda p, e: train(p, e, 2, lr=True), TypeError, ["lr", "flag True"]),
    (lambda p, e: train(p, e, 2, lr="abc"), ValueError, ["lr", "'abc'"]),
    (lambda p, e: estimators.get("gumbel_softmax", temperature=True), TypeError, ["temperature", "flag True"]),
    (lambda p, e: estimators.get("rebar", eta="abc"), ValueError, ["eta", "'abc'"]),
    (lambda p, e: suites.problems.get("gaussian", k=True), TypeError, ["k", "flag True"]),
    (lambda p, e: suites.problems.get("linear_vae", seed="a"), TypeError, ["seed", "str 'a'"]),
    (lambda p, e: suites.problems.get("gaussian_full", scale_tril="abc"), TypeError, ["scale_tril", "'abc'"]),
])
def test_the_python_api_names_the_bad_argument(gaussian, call, error, words):
    estimator = estimators.get("rebar", tune=True) if "adapt" in inspect.getsource(call) else estimators.get("reparam")
    with pytest.raises(error) as raised:
        call(gaussian, estimator)
    message = str(raised.value)
    assert "\n" not in message and all(w in message for w in words), message


def built_in_options():
    """Every numeric option of every built-in estimator and problem, with its default."""
    for name in estimators.names():
        cls = estimators._REGISTRY.lookup(name)
        if estimators.origin(name) != "built-in":
            continue
        for key, default in cls.options.items():
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                yield "estimator", name, key
    for name in suites.problems.names():
        if suites.problems.origin(name) != "built-in":
            continue
        signature = inspect.signature(suites.problems._REGISTRY.lookup(name).__init__)
        for key, parameter in signature.parameters.items():
            if (isinstance(parameter.default, (int, float)) and not isinstance(parameter.default, bool)
                    and key not in ("reference_samples", "train_steps")):
                yield "problem", name, key


@pytest.mark.parametrize("kind, name, key", list(built_in_options()))
@pytest.mark.parametrize("bad", ["abc", True])
def test_every_numeric_option_refuses_a_word_and_a_flag_naming_itself(kind, name, key, bad):
    get = estimators.get if kind == "estimator" else suites.problems.get
    with pytest.raises((TypeError, ValueError)) as raised:
        get(name, **{key: bad})
    assert key in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


@pytest.mark.parametrize("args,option", [(["run", "core", "--seed", "1e23"], "--seed"),
                                         (["advise", "--problem", "bernoulli", "--min-run-time", "-1"],
                                          "--min-run-time")])
def test_a_bad_option_value_is_one_line_naming_the_option(args, option, tmp_path):
    from click.testing import CliRunner

    from suites.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, [*args, "--out", str(out)] if args[0] == "run" else args)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and option in result.output, result.output
    assert not out.exists()
