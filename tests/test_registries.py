import pytest

import estimators
import suites
from suites.run import grids


def test_names_are_sorted_and_complete():
    builtin = [n for n in estimators.names() if estimators.origin(n) == "built-in"]
    assert builtin == ["arm", "arms", "delta_method", "disarm", "double_cv", "gumbel_rao",
                       "gumbel_softmax", "indecater", "measure_valued", "nvil", "rebar",
                       "rejection_reparam", "relax", "reparam", "score_function",
                       "straight_through_gumbel", "unordered_set", "vimco"]
    assert estimators.names() == sorted(estimators.names())
    assert {"gaussian", "gaussian_full", "bernoulli", "categorical"} <= set(suites.problems.names())
    assert "core" in grids.names()


def test_unknown_estimator_lists_known_names():
    with pytest.raises(ValueError, match="unknown estimator 'muprop'.*score_function"):
        estimators.get("muprop")


def test_unknown_problem_lists_known_names():
    with pytest.raises(ValueError, match="unknown problem 'mnist'.*gaussian"):
        suites.problems.get("mnist")


def test_unknown_suite_lists_known_names():
    with pytest.raises(ValueError, match="unknown suite 'x'.*core"):
        grids.get("x")


def test_unknown_option_names_allowed_ones():
    with pytest.raises(ValueError, match="unknown option.*temprature.*allowed: temperature"):
        estimators.get("gumbel_softmax", temprature=0.5)
    with pytest.raises(ValueError, match="unknown baseline 'mean'.*none, loo"):
        estimators.get("score_function", baseline="mean")


def test_bad_problem_config_key_is_a_value_error():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \[.dimension.\] for problem .gaussian.; allowed: dim"):
        suites.problems.get("gaussian", dimension=3)


def test_every_estimator_applies_to_some_problem():
    # A registered estimator without a problem it applies to would be untested.
    probs = [suites.problems.get(n) for n in suites.problems.names()]
    # a multi-sample objective is a configuration, not a problem of its own (VIMCO's)
    probs.append(suites.problems.get("bernoulli_vae", latent_dim=2, num_data=1, objective="iwae",
                                     bound_samples=2))
    # one categorical, whose states storchastic's set estimators sample without replacement
    probs.append(suites.problems.get("categorical", dim=1))
    for name in estimators.names():
        assert any(estimators.get(name).applies_to(p) for p in probs), name


def test_descriptions_are_one_line():
    for name in estimators.names():
        assert estimators.describe(name) and "\n" not in estimators.describe(name)
    for name in suites.problems.names():
        assert suites.problems.describe(name)


def test_estimator_label_is_the_label_the_cli_and_report_read_back():
    from suites.problems.labels import estimator_label
    for name in estimators.names():
        est = estimators.get(name)
        assert est.label == estimator_label(name, est.config_json)
    est = estimators.get("score_function", baseline="loo")
    assert est.label == estimator_label("score_function", est.config_json) == "score_function(baseline=loo)"


def test_every_estimator_names_the_families_it_applies_to_and_check_agrees():
    # applies_to (the check) must accept a problem of each named family and refuse the others
    family_problems = {"Bernoulli": suites.problems.get("bernoulli", dim=2),
                       "OneHotCategorical": suites.problems.get("categorical", dim=2),
                       "Normal": suites.problems.get("gaussian", dim=2)}
    for name in [n for n in estimators.names() if estimators.origin(n) == "built-in"]:
        families = estimators.families(name)
        assert families, name
        if families in (("any",), ("any with rsample",)):
            continue
        for family, problem in family_problems.items():
            assert estimators.get(name).applies_to(problem) == (family in families), (name, family)
