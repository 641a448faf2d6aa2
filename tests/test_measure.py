import math

import pandas as pd
import pytest
import torch

import estimators
import suites
from suites.measurement.measure import COLUMNS, bonferroni_z
from suites.measurement.moments import Moments


class Shifted(estimators.Estimator):
    """A deliberately biased estimator: reparam plus a constant offset."""

    name = "shifted"
    options = {"offset": 0.2}
    unbiased = False

    def check(self, distribution):
        estimators.get("reparam").check(distribution)

    def surrogate(self, problem, distribution, params, num_samples):
        base = estimators.get("reparam").surrogate(problem, distribution, params, num_samples)
        return base + self.config["offset"] * sum(p.sum(tuple(range(1, p.dim()))) for p in params.values())


def test_schema_has_every_design_column():
    df = suites.measure(suites.problems.get("gaussian", dim=2), estimators.get("reparam"), 100,
                        min_run_time=0.01)
    assert list(df.columns) == COLUMNS
    assert list(df["param"]) == ["loc", "scale"]
    assert (df["time_s"] > 0).all() and df["threads"].iloc[0] == torch.get_num_threads()
    assert df["torch_version"].iloc[0] == torch.__version__


def test_moments_match_numpy_whatever_the_chunking():
    torch.manual_seed(0)
    x = 100.0 + torch.randn(1000, 7, dtype=torch.float64) * torch.arange(1, 8)
    whole, chunked = Moments(), Moments()
    whole.update(x)
    for part in x.split(97):
        chunked.update(part)
    for m in (whole, chunked):
        torch.testing.assert_close(m.mean(), x.mean(0))
        torch.testing.assert_close(m.variance(), x.var(0))
    # se of the mean variance from the spread of per-row mean squared deviations
    u = ((x - x.mean(0)) ** 2).mean(1)
    assert math.isclose(chunked.mean_variance_se(), float(u.std() / math.sqrt(1000)), rel_tol=0.05)


def test_variance_se_is_calibrated():
    # For Gaussian estimates, se(s^2) = sigma^2 sqrt(2 / (n - 1)).
    torch.manual_seed(1)
    m = Moments()
    m.update(torch.randn(50_000, 1) * 3.0)
    assert math.isclose(m.mean_variance_se(), 9.0 * math.sqrt(2 / 49_999), rel_tol=0.05)


def test_chunked_measure_is_identical_in_statistics_and_bounded_in_chunk_size():
    prob = suites.problems.get("gaussian", dim=3)
    seen = []

    class Spy(type(estimators.get("reparam"))):
        def __call__(self, problem, num_estimates, num_samples=1, generator=None):
            seen.append(num_estimates)
            return super().__call__(problem, num_estimates, num_samples, generator)

    # exact=False: the exact moments replay quadrature nodes through the estimator too.
    df = suites.measure(prob, Spy(), num_estimates=1000, chunk_size=128, min_run_time=0,
                        exact=False)
    assert max(seen) == 128 and sum(seen) == 1000
    again = suites.measure(prob, Spy(), num_estimates=1000, chunk_size=128, min_run_time=0,
                           exact=False)
    stats = ["mean_norm", "bias_norm", "variance", "variance_se", "max_abs_z"]
    pd.testing.assert_frame_equal(df[stats], again[stats])


def test_biased_estimator_is_flagged():
    prob = suites.problems.get("gaussian", dim=4)
    df = suites.measure(prob, Shifted(), num_estimates=20_000, seed=0, min_run_time=0)
    # Each coordinate's z is about N(9.4, 1) (offset 0.2 over se 3 / sqrt(20,000) for scale,
    # smaller se for loc): the largest of four below 6 has probability below 1e-13.
    assert df["biased"].all() and (df["max_abs_z"] > 6).all()
    # bias_norm recovers the offset: ||0.2 * ones(4)|| = 0.4
    assert abs(df["bias_norm"].iloc[0] - 0.4) < 5 * df["bias_se"].iloc[0]


def test_zero_variance_estimator_is_not_flagged_for_rounding():
    prob = suites.problems.get("gaussian", dim=10, cost="linear", k=3.0)
    df = suites.measure(prob, estimators.get("reparam"), 1000, min_run_time=0)
    loc = df.set_index("param").loc["loc"]
    assert loc["variance"] == 0 and not loc["biased"]


def test_bonferroni_threshold():
    assert math.isclose(bonferroni_z(1, 0.05), 1.959964, rel_tol=1e-5)
    assert bonferroni_z(100) > bonferroni_z(1)


@pytest.mark.parametrize("bad", [1, 0, -5, 2.0, None])
def test_num_estimates_below_two_is_rejected(bad):
    with pytest.raises(ValueError, match="num_estimates must be an integer >= 2"):
        suites.measure(suites.problems.get("gaussian"), estimators.get("reparam"), bad)


@pytest.mark.parametrize("device,match", [("gpu", "unknown device 'gpu'"),
                                          ("cuda:99", "cuda:99")])
def test_bad_device_is_rejected(device, match):
    if device == "cuda:99" and not torch.cuda.is_available():
        match = "not available"
    with pytest.raises(ValueError, match=match):
        suites.measure(suites.problems.get("gaussian"), estimators.get("reparam"), 10, device=device)


def test_inapplicable_estimator_fails_before_any_work():
    with pytest.raises(ValueError, match="no rsample"):
        suites.measure(suites.problems.get("bernoulli"), estimators.get("reparam"), 10)


def test_float64_rows_say_so():
    df = suites.measure(suites.problems.get("bernoulli", dim=2), estimators.get("score_function"),
                        100, dtype="float64", min_run_time=0)
    assert (df["dtype"] == "float64").all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_measurement_is_unbiased_and_timed():
    df = suites.measure(suites.problems.get("gaussian", dim=10), estimators.get("reparam"),
                        20_000, device="cuda", min_run_time=0.05)
    assert (df["device"] == "cuda:0").all() and (df["max_abs_z"] < 5).all()
    assert (df["time_s"] > 0).all()


def test_structural_zeros_of_scale_tril_are_not_counted():
    prob = suites.problems.get("gaussian_full", dim=6)
    df = suites.measure(prob, estimators.get("reparam"), 2_000, min_run_time=0).set_index("param")
    assert df.loc["scale_tril", "numel"] == 6 * 7 // 2
    grads = estimators.get("reparam")(prob, 2_000, 1, torch.Generator().manual_seed(0))["scale_tril"]
    lower = grads[:, torch.ones(6, 6, dtype=torch.bool).tril()]
    # per free coordinate, so about D(D+1)/2 / D^2 of the diluted average would be wrong
    assert math.isclose(df.loc["scale_tril", "variance"], float(lower.var(0).mean()), rel_tol=0.15)


def test_logistic_regression_full_counts_lower_triangle_only():
    prob = suites.problems.get("logistic_regression", family="full")
    dim = prob.params["loc"].numel()
    assert int(prob.free_coordinates("scale_tril").sum()) == dim * (dim + 1) // 2
    assert prob.free_coordinates("loc") is None


def test_rms_from_shifted_sums():
    torch.manual_seed(2)
    x = 5.0 + torch.randn(500, 3, dtype=torch.float64)
    m = Moments()
    for part in x.split(60):
        m.update(part)
    torch.testing.assert_close(m.rms(), x.square().mean(0).sqrt())


class SometimesNaN(estimators.Estimator):
    """reparam, with every 7th estimate replaced by NaN and every 11th by inf."""

    name = "sometimes_nan"

    def check(self, distribution):
        estimators.get("reparam").check(distribution)

    def surrogate(self, problem, distribution, params, num_samples):
        return estimators.get("reparam").surrogate(problem, distribution, params, num_samples)

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        grads = super().__call__(problem, num_estimates, num_samples, generator)
        for rows in grads.values():
            rows[::7] = float("nan")
            rows[5::11] = float("inf")
        return grads


def test_nonfinite_estimates_are_counted_flagged_and_left_out():
    from suites.read.summary import summary_table
    prob = suites.problems.get("gaussian", dim=2)
    df = suites.measure(prob, SometimesNaN(), num_estimates=1000, chunk_size=1000, min_run_time=0,
                        exact=False)
    expected_bad = len(set(range(0, 1000, 7)) | set(range(5, 1000, 11)))
    assert (df["nonfinite"] == expected_bad).all()
    assert df["variance"].notna().all() and (df["max_abs_z"] < 5).all()  # the finite ones are fine
    assert (summary_table(df)["note"] == f"{expected_bad} non-finite").all()
