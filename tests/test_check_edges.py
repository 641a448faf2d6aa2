"""`mcgradbench check` says what it tested: NOT TESTED where no z could be formed, the
parameters left partly untested by name, one line for an input no check can run on."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from suites.cli import main
from suites.read import conformance

DOCS = "tests.plugin_fixtures.docs_examples"


def _rows(max_abs_z, z_untested, numel=(3, 3), bias_norm=(0.1, 0.2)):
    return pd.DataFrame({"param": ["loc", "scale"], "max_abs_z": max_abs_z,
                         "z_untested": z_untested, "numel": numel, "bias_norm": bias_norm})


def test_a_bias_test_with_no_z_is_not_tested_never_a_pass():
    # measure gives NaN where no coordinate had 150 effective estimates; the largest z over
    # parameters must not skip that NaN into a pass
    checks = [("bias", lambda: conformance._bias_test(_rows([math.nan, math.nan], [3, 3]), 5.0, "M=10")[1])]
    [result] = conformance._run(iter(checks))
    assert (result.status, result.passed, result.tested) == ("NOT TESTED", True, False)
    assert result.line().startswith("NOT TESTED  bias ")
    assert "no coordinate had 150 effective estimates" in result.detail
    assert "|bias| = 0.224" in result.detail  # sqrt(0.1^2 + 0.2^2)


def test_a_partly_untested_bias_test_names_what_it_left_out():
    z, detail = conformance._bias_test(_rows([2.5, math.nan], [1, 3]), 5.0, "M=10")
    assert z == 2.5
    assert detail.endswith("untested (fewer than 150 effective estimates): loc 1 of 3, "
                           "scale 3 of 3 coordinates")


def test_check_of_the_guides_quartic_model_says_not_tested_for_the_score_function():
    # The score function's estimates of (z - t)^4 are so heavy-tailed at M = 4,000 that no
    # coordinate's standard error is resolved: the old check printed PASS with z = nan.
    result = CliRunner().invoke(main, ["check", "problem", f"{DOCS}:Quartic,dim=3"],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [score] = [line for line in lines if "unbiased_score_function " in line]
    assert score.startswith("NOT TESTED  unbiased_score_function") and "nan" not in score
    [reparam] = [line for line in lines if "unbiased_reparam " in line]
    assert reparam.startswith("PASS") and "scale 3 of 3 coordinates" in reparam
    assert result.output.splitlines()[-1] == (f"problem {DOCS}:Quartic,dim=3: 3 of 4 checks passed; "
                                              f"not tested: unbiased_score_function")


def test_a_bad_option_value_of_a_plugin_is_one_line_not_seven_failures():
    result = CliRunner().invoke(main, ["check", "estimator", f"{DOCS}:ConstantBaseline,b=abc"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "FAIL" not in result.output
    assert result.output.startswith(f"Error: {DOCS}:ConstantBaseline,b=abc: a first call with "
                                    f"b='abc' on gaussian(dim=3) fails (TypeError: ")


@pytest.mark.parametrize("kind, target, missing", [
    ("estimator", "estimators:Estimator", "check, surrogate"),
    ("problem", "suites.problems.base:Problem", "cost, distribution"),
])
def test_an_abstract_class_is_one_line(kind, target, missing):
    result = CliRunner().invoke(main, ["check", kind, target])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output == (f"Error: '{target}' is an abstract class (it leaves {missing} "
                             f"undefined): name a subclass that defines them\n")


def test_check_quotes_an_error_message_whole():
    # disarm's one-line error on a Gaussian is 104 characters; it was cut at 80, mid-word
    detail = {r.name: r.detail for r in conformance.check_estimator("disarm")}["not_applicable_error"]
    assert detail == ("ValueError on gaussian(dim=3): disarm applies to Bernoulli variables only, "
                      "got Normal; use reparam or score_function for continuous families")
