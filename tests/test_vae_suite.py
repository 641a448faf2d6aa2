"""The vae suite: which estimators it runs where, and that its cells run."""
import dataclasses

import pytest

import estimators
import suites
from suites.run import grids
from suites.run.runner import run_cell

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cells():
    return grids.get("vae").cells(["cpu"])


def test_vae_suite_runs_every_applicable_estimator_and_loo_only_with_two_samples(cells):
    by_problem = {}
    for cell in cells:
        by_problem.setdefault(cell.problem, set()).add((cell.estimator, cell.num_samples))
        if cell.estimator_config.get("baseline") == "loo":
            assert cell.num_samples >= 2
    assert set(by_problem) == {"linear_vae", "bernoulli_vae", "logistic_regression"}
    for problem, runs in by_problem.items():
        assert {k for name, k in runs if name not in ("disarm", "arm", "arms", "double_cv")} == {1, 2, 8}
        names = {name for name, _ in runs}
        if problem == "bernoulli_vae":
            assert names == {"score_function", "gumbel_softmax", "straight_through_gumbel", "disarm",
                             "rebar", "arm", "gumbel_rao", "relax", "nvil", "arms", "double_cv",
                             "indecater", "unordered_set", "vimco"}
            # (Dis)ARM's pairs: K/2 of them for the same K cost evaluations
            assert {k for name, k in runs if name == "disarm"} == {1, 4}
            assert {k for name, k in runs if name == "arm"} == {1, 4}
            # ARMS: one draw of n = 8 samples; double CV: 4 samples of f and grad f (8 evaluations)
            assert {k for name, k in runs if name == "arms"} == {1}
            assert {k for name, k in runs if name == "double_cv"} == {4}
        else:
            assert names == {"score_function", "reparam", "nvil"}
    # VIMCO on the multi-sample objective alone, every other estimator on both objectives
    objectives = {(c.estimator, c.problem_config.get("objective", "elbo")) for c in cells
                  if c.problem == "bernoulli_vae"}
    assert {o for e, o in objectives if e == "vimco"} == {"iwae"}
    assert {e for e, o in objectives if o == "elbo"} | {"vimco"} == {e for e, _ in objectives}
    families = {c.problem_config.get("family") for c in cells if c.problem == "logistic_regression"}
    assert families == {"diag", "full"}


def test_a_vae_cell_gives_one_row_per_parameter(cells):
    cell = next(c for c in cells if c.problem == "bernoulli_vae")
    rows = run_cell(dataclasses.replace(cell, num_estimates=50), suite="vae", min_run_time=0)
    assert list(rows["param"]) == list(suites.problems.get("bernoulli_vae").params)
    assert (rows["suite"] == "vae").all() and (rows["reference"] == "enumeration").all()
    assert estimators.get(cell.estimator).applies_to(suites.problems.get("bernoulli_vae"))
