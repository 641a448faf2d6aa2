"""The columns of a measurement row against their recomputation from the raw estimates.

Each test rebuilds the estimates ``suites.measure`` saw (same seed, same chunks: the
generator's stream is consumed chunk by chunk in the same order) and recomputes the
column by hand with plain torch, so a wrong formula, sign, reduction or count in
``suites.measure`` fails here with the two numbers side by side.
"""
import math

import pytest
import torch

import estimators
import suites
from suites.measurement.exact import exact_moments


class OneCoordinateNaN(estimators.Estimator):
    """Reparam, with NaN in one coordinate (of ``loc``, not of ``scale``) of every 7th estimate,
    counted over the whole run of calls (so across measure's chunks)."""

    name = "one_coordinate_nan"

    def __init__(self):
        super().__init__()
        self.inner = estimators.get("reparam")
        self.seen = 0

    def check(self, distribution):
        self.inner.check(distribution)

    def surrogate(self, problem, distribution, params, num_samples):  # pragma: no cover
        raise AssertionError("not used: __call__ delegates")

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        grads = self.inner(problem, num_estimates, num_samples, generator)
        index = torch.arange(self.seen, self.seen + num_estimates)
        grads["loc"][index % 7 == 0, 1] = float("nan")
        self.seen += num_estimates
        return grads


def raw_estimates(problem, estimator, num_estimates, chunk, seed):
    """The estimates measure() drew, chunk by chunk from one generator seeded ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    parts = {name: [] for name in problem.params}
    for start in range(0, num_estimates, chunk):
        size = min(chunk, num_estimates - start)
        for name, rows in estimator(problem, size, 1, generator).items():
            parts[name].append(rows.reshape(size, -1).to(torch.float64))
    return {name: torch.cat(rows) for name, rows in parts.items()}


def test_a_partly_nonfinite_estimate_is_counted_once_across_chunks_and_left_out():
    prob = suites.problems.get("gaussian", dim=3, cost="cos")
    m, chunk = 1000, 128
    df = suites.measure(prob, OneCoordinateNaN(), m, chunk_size=chunk, min_run_time=0, exact=False)
    spoiled = len(range(0, m, 7))  # 143 estimates, each with one NaN coordinate of loc
    rows = df.set_index("param")
    assert rows.loc["loc", "nonfinite"] == spoiled, rows["nonfinite"]
    assert rows.loc["scale", "nonfinite"] == 0, rows["nonfinite"]
    # The clean estimates, recomputed: the spoiled ones dropped whole (all coordinates).
    seed = int(df["seed"].iloc[0])
    raw = raw_estimates(prob, estimators.get("reparam"), m, chunk, seed)
    keep = torch.arange(m) % 7 != 0
    for name, estimates in raw.items():
        clean = estimates[keep] if name == "loc" else estimates
        exact = prob.exact_gradient()[name].reshape(-1).to(torch.float64)
        variance = float(clean.var(0).mean())
        bias = clean.mean(0) - exact
        assert math.isfinite(rows.loc[name, "variance"])
        assert rows.loc[name, "variance"] == pytest.approx(variance, rel=1e-9), name
        assert rows.loc[name, "mean_norm"] == pytest.approx(float(clean.mean(0).norm()), rel=1e-9)
        assert rows.loc[name, "bias_norm"] == pytest.approx(float(bias.norm()), rel=1e-7)
        assert rows.loc[name, "mse"] == pytest.approx(float((bias**2 + clean.var(0)).mean()), rel=1e-9)


#: A 2-D Gaussian whose coordinates have different variances under reparam (loc and scale
#: differ per coordinate), so that a sum over coordinates, a mean, and one coordinate differ.
UNEVEN = {"dim": 2, "cost": "cos", "loc": [0.2, 1.1], "scale": [0.5, 1.7]}


@pytest.fixture(scope="module")
def exact_row():
    prob = suites.problems.get("gaussian", **UNEVEN)
    estimator = estimators.get("reparam")
    df = suites.measure(prob, estimator, 2000, chunk_size=500, min_run_time=0, exact=True)
    return prob, estimator, df


def test_exact_variance_is_the_mean_over_coordinates(exact_row):
    prob, estimator, df = exact_row
    moments = exact_moments(prob, estimator, 1)
    for row in df.itertuples():
        per_coordinate = moments.variance[row.param]
        assert per_coordinate.numel() == 2 and not torch.allclose(per_coordinate[0], per_coordinate[1])
        assert row.exact_variance == pytest.approx(float(per_coordinate.mean()), rel=1e-12), row.param


def test_exact_variance_z_is_the_signed_difference_over_its_standard_error(exact_row):
    _, _, df = exact_row
    recomputed = (df["variance"] - df["exact_variance"]) / df["variance_se"]
    assert (recomputed.abs() > 1e-3).all()  # nonzero, so that a lost sign would show
    for shown, expected in zip(df["exact_variance_z"], recomputed):
        assert shown == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_exact_mean_z_is_its_recomputation_from_the_raw_estimates(exact_row):
    prob, estimator, df = exact_row
    moments = exact_moments(prob, estimator, 1)
    raw = raw_estimates(prob, estimator, 2000, 500, int(df["seed"].iloc[0]))
    for row in df.itertuples():
        estimates = raw[row.param]
        se = (estimates.var(0) / len(estimates)).sqrt()
        z = ((estimates.mean(0) - moments.mean[row.param]).abs() / se).max()
        assert row.exact_mean_max_abs_z == pytest.approx(float(z), abs=1e-9), row.param
