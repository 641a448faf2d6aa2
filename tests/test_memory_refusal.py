"""A cell or a problem that cannot fit in memory is refused in one line before anything is
allocated or written: the size it needs and the memory available, both named."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import estimators
import suites
from estimators import memory
from suites.cli import main

GIB = 2**30


@pytest.fixture
def sixteen_gib(monkeypatch):
    """The machine has 16 GiB available, whatever this one has."""
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": (16 * GIB, "MemAvailable"))


def test_a_pass_is_sized_by_its_samples_its_intermediates_and_the_replicated_parameters():
    # gaussian dim 10: 20 parameters (loc, scale) are the numbers of one sample (larger than
    # its 10 coordinates); one pass of M = 3 estimates of K = 1,000 samples holds
    # 3 x (1,000 x 1 copy x 20 x 16 intermediates + 2 x 20) float32 numbers.
    problem = suites.problems.get("gaussian", dim=10)
    estimator = estimators.get("score_function")
    assert estimator.pass_bytes(problem, 3, 1000) == 4 * 3 * (1000 * 20 * 16 + 40)
    # measure_valued evaluates each sample in 2 x 20 perturbed copies
    assert estimators.get("measure_valued").pass_bytes(problem, 3, 1000) == \
        4 * 3 * (1000 * 40 * 20 * 16 + 40)
    # a call spanning chunks also holds the M x 20 rows it returns (chunk: 2^20 / 20 = 52,428)
    assert estimator.call_bytes(problem, 10**6, 1) == 4 * 10**6 * 20 + estimator.pass_bytes(problem, 52428, 1)


def test_a_problem_that_declares_nothing_is_sized_by_its_distributions_sample():
    # one parameter, but each sample holds 5,000 numbers: the sample shape sizes the pass
    problem = suites.problems.get("tests.plugin_fixtures.sizes:Wide", width=5000)
    assert estimators.base.sample_numbers(problem) == 5000
    assert estimators.get("reparam").pass_bytes(problem, 2, 10) == 4 * 2 * (10 * 5000 * 16 + 2)


def test_a_declared_size_wins_over_the_generic_one():
    problem = suites.problems.get("tests.plugin_fixtures.sizes:Wide", width=5000)
    problem.numbers_per_sample = lambda: 7
    assert estimators.base.sample_numbers(problem) == 7


def test_measure_and_a_raw_call_refuse_a_cell_that_cannot_fit_before_allocating(sixteen_gib, monkeypatch):
    problem = suites.problems.get("gaussian", dim=10)
    estimator = estimators.get("score_function")

    def never(*args, **kwargs):
        raise AssertionError("allocated before refusing")
    monkeypatch.setattr(type(estimator), "batched_pass", never)
    # K = 10^9: one estimate alone holds 10^9 x 20 x 16 float32 numbers, 1.2 TiB
    with pytest.raises(ValueError, match=r"^score_function on gaussian\(.*\): a batched pass of "
                       r"1 estimate of 1,000,000,000 samples needs about 1\.2 TiB, more than the "
                       r"16\.0 GiB available \(MemAvailable\); ask for fewer"):
        suites.measure(problem, estimator, num_estimates=100, num_samples=10**9, min_run_time=0)
    # M = 10^10 estimates returned at once: 10^10 x 20 x 4 bytes = 745 GiB
    with pytest.raises(ValueError, match=r"a call of 10,000,000,000 estimates of 1 sample needs "
                       r"about 745\.\d GiB, more than the 16\.0 GiB"):
        estimator(problem, 10**10, 1)


def test_run_refuses_a_typo_in_one_line_with_exit_2_and_writes_nothing(sixteen_gib, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--problem", "gaussian", "--estimator", "reparam",
                                       "--num-samples", "1000000000", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: cell gaussian(")
    assert "needs about" in result.output and "16.0 GiB available" in result.output
    assert not out.exists()


@pytest.mark.parametrize("config, size", [
    ({"name": "gaussian", "dim": 10**12}, "dim=1,000,000,000,000 needs about 14.6 TiB"),
    ({"name": "gaussian_full", "dim": 10**5}, "100,000 x 100,000 scale_tril) needs about 149.0 GiB"),
    ({"name": "categorical", "dim": 10**5, "num_classes": 10**5}, "logits needs about 149.0 GiB"),
])
def test_a_problem_too_large_to_build_is_refused_before_allocating(sixteen_gib, config, size):
    with pytest.raises(ValueError, match="^.*" + size.replace("(", r"\(").replace(")", r"\)")
                       + r", more than the 16\.0 GiB available"):
        suites.problems.get(**config)


def test_a_plugin_whose_construction_torch_cannot_allocate_gets_one_line():
    with pytest.raises(ValueError) as caught:
        suites.problems.get("tests.plugin_fixtures.sizes:Huge")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("tests.plugin_fixtures.sizes:Huge: building it needs more memory "
                              "than there is (363.8 TiB, ")


def test_run_refuses_a_problem_too_large_in_one_line(sixteen_gib, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--problem", "gaussian,dim=1000000000000",
                                       "--out", str(out)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "dim=1,000,000,000,000 needs about 14.6 TiB" in result.output
    assert not out.exists()
