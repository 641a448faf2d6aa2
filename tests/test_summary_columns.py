"""Every summary column of ``suites.measure``, recomputed by an independent numpy implementation.

A synthetic estimator returns prepared rows: for each coordinate, unit-free
noise standardised to an exact sample mean and variance, so the z-score of
every coordinate is known before ``measure`` runs (negative biases
included). The numpy side follows the definitions in the ``suites.measure``
docstring; ``ALPHA = 1e-3`` is the documented family-wise false-alarm rate.
Deterministic: no bound here is statistical.
"""
import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Independent, Normal

import suites
from estimators.base import Estimator
from suites.problems.base import Problem

DOCUMENTED_ALPHA = 1e-3


class FixedProblem(Problem):
    """A problem whose reference gradient (and its standard error) the test chooses."""

    name = "fixed"

    def __init__(self, exact, reference_se=None):
        self.params = {"theta": torch.zeros(len(exact), dtype=torch.float64)}
        self.exact = torch.as_tensor(exact, dtype=torch.float64)
        self.reference_se = None if reference_se is None else torch.as_tensor(reference_se, dtype=torch.float64)
        self.config = {}

    def distribution(self, params):
        return Independent(Normal(params["theta"], 1.0), 1)

    def cost(self, z, params):
        return z.sum(-1)

    def exact_gradient(self, params=None):
        return {"theta": self.exact.clone()}

    def reference_gradient(self):
        if self.reference_se is None:
            return self.exact_gradient(), None
        return self.exact_gradient(), {"theta": self.reference_se.clone()}


class PreparedRows(Estimator):
    """Returns the rows of ``table`` in order, chunk after chunk (ignores the generator)."""

    name = "prepared"

    def __init__(self, table):
        super().__init__()
        self.table, self.position = table, 0

    def check(self, distribution):
        pass

    def surrogate(self, problem, distribution, params, num_samples):  # pragma: no cover
        raise AssertionError("not used")

    def __call__(self, problem, num_estimates, num_samples=1, generator=None):
        rows = self.table[self.position:self.position + num_estimates]
        self.position += num_estimates
        return {"theta": torch.as_tensor(rows)}


def prepared_table(exact, spread, z, num_estimates, reference_se=None, seed=0):
    """Rows whose coordinate i has sample sd ``spread_i`` and z-score exactly ``z_i``."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_estimates, len(exact)))
    noise = (noise - noise.mean(0)) / noise.std(0, ddof=1)
    se = np.sqrt(np.asarray(spread) ** 2 / num_estimates
                 + (0 if reference_se is None else np.asarray(reference_se) ** 2))
    return np.asarray(exact) + np.asarray(z) * se + noise * np.asarray(spread)


def numpy_summary(rows, exact, reference_se=None):
    """The documented statistics, from the raw rows, in numpy."""
    m, d = rows.shape
    mean, var = rows.mean(0), rows.var(0, ddof=1)
    bias = mean - exact
    se2 = var / m + (0 if reference_se is None else np.asarray(reference_se) ** 2)
    z = bias / np.sqrt(se2)
    u = ((rows - mean) ** 2).mean(1)
    threshold = stats.norm.isf(DOCUMENTED_ALPHA / (2 * d))
    return {
        "mean_norm": np.linalg.norm(mean), "exact_norm": np.linalg.norm(exact),
        "bias_norm": np.linalg.norm(bias), "bias_se": np.sqrt(se2.sum()),
        "max_abs_z": np.abs(z).max(), "biased": bool(np.abs(z).max() > threshold),
        "variance": var.mean(), "variance_se": u.std(ddof=1) / np.sqrt(m),
        "mse": (bias**2 + var).mean(), "numel": d,
    }


def measured(rows, exact, reference_se=None, chunk_size=None):
    prob = FixedProblem(exact, reference_se)
    return suites.measure(prob, PreparedRows(rows), num_estimates=len(rows), min_run_time=0,
                          chunk_size=chunk_size or len(rows), exact=False).iloc[0]


EXACT = [1.5, -2.0, 0.25, 4.0]
SPREAD = [0.5, 2.0, 1.0, 3.0]
CASES = {
    "large negative bias": dict(z=[0.3, -9.0, 1.0, 0.0]),
    "small mixed biases": dict(z=[-1.2, 0.8, 2.1, -0.4]),
    "with reference se": dict(z=[0.5, 4.5, -1.0, -6.0], reference_se=[0.02, 0.05, 0.01, 0.1]),
}


@pytest.mark.parametrize("case", CASES)
def test_every_column_matches_an_independent_recomputation(case):
    spec = CASES[case]
    rows = prepared_table(EXACT, SPREAD, spec["z"], 4000, spec.get("reference_se"))
    row = measured(rows, np.array(EXACT), spec.get("reference_se"))
    expected = numpy_summary(rows, np.array(EXACT), spec.get("reference_se"))
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column
    # the prepared z-scores come out as designed: the largest is the negative one where there is one
    assert row["max_abs_z"] == pytest.approx(np.abs(spec["z"]).max(), rel=1e-9)


def test_chunked_moments_agree_with_one_pass():
    rows = prepared_table(EXACT, SPREAD, CASES["small mixed biases"]["z"], 4000)
    whole, chunked = measured(rows, np.array(EXACT)), measured(rows, np.array(EXACT), chunk_size=300)
    for column in ("mean_norm", "bias_norm", "bias_se", "max_abs_z", "variance", "mse"):
        assert chunked[column] == pytest.approx(whole[column], rel=1e-10), column
    # variance_se is centred on the first chunk's mean: equal up to O(1/chunk) relative
    assert chunked["variance_se"] == pytest.approx(whole["variance_se"], rel=0.02)


def test_the_biased_flag_switches_at_the_documented_alpha():
    d = len(EXACT)
    threshold = stats.norm.isf(DOCUMENTED_ALPHA / (2 * d))  # 3.66 for four coordinates
    looser = stats.norm.isf(10 * DOCUMENTED_ALPHA / (2 * d))  # 3.02: what ALPHA = 1e-2 would give
    for z, flagged in [(threshold + 0.05, True), (-(threshold + 0.05), True),
                       (threshold - 0.05, False), ((threshold + looser) / 2, False)]:
        rows = prepared_table(EXACT, SPREAD, [0.0, z, 0.0, 0.0], 4000)
        row = measured(rows, np.array(EXACT))
        assert row["max_abs_z"] == pytest.approx(abs(z), rel=1e-9)
        assert bool(row["biased"]) is flagged, (z, threshold)
