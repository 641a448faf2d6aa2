"""Gamma, Beta and Dirichlet: exact gradients against scipy, and the estimators on them.

Closed forms are checked against hand-derived derivatives written here with
``scipy.special`` (digamma, polygamma) in float64, to 1e-8 relative; the
quadrature costs against ``scipy.integrate.quad`` to the accuracy
``suites.problems.quadrature`` states. Statistical tests: fixed seeds, ``|z| < 5``
per coordinate (a false-alarm rate of 5.7e-7 each).
"""
import math

import numpy as np
import pytest
import scipy.integrate as integrate
import scipy.special as sp
import torch

import estimators
import suites

RTOL = 1e-8
#: suites.problems.quadrature's stated accuracy for concentrations in [0.1, 100].
QUADRATURE_RTOL = 1e-7


def exact(name, **config):
    """The exact gradient of a float64 problem, as numpy arrays."""
    prob = suites.problems.get(name, dtype="float64", **config)
    return {k: v.numpy() for k, v in prob.exact_gradient().items()}


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0)


A = np.array([0.1, 0.7, 3.0, 40.0])
B = np.array([2.0, 0.3, 1.5, 25.0])


@pytest.mark.parametrize("cost,k", [("linear", 1.5), ("square", 1.5), ("log", 2.0), ("exp", 0.7),
                                    ("cos", 1.3)])
def test_gamma_closed_forms_against_scipy(cost, k):
    g = exact("gamma", dim=4, concentration=A.tolist(), rate=B.tolist(), cost=cost, k=k)
    a, b = A, B
    if cost == "linear":
        da, db = k / b, -k * a / b**2
    elif cost == "square":  # E z^2 - 2 k E z + k^2, E z^2 = a (a + 1) / b^2
        da, db = (2 * a + 1) / b**2 - 2 * k / b, -2 * a * (a + 1) / b**3 + 2 * k * a / b**2
    elif cost == "log":  # k (digamma(a) - log b)
        da, db = k * sp.polygamma(1, a), -k / b
    elif cost == "exp":  # Laplace transform (1 + k / b)^(-a)
        da = -np.log1p(k / b) * (1 + k / b) ** (-a)
        db = a * k / b**2 * (1 + k / b) ** (-a - 1)
    else:  # Re of the characteristic function (1 - i k / b)^(-a)
        w = 1 - 1j * k / b
        da = np.real(-np.log(w) * w ** (-a))
        db = np.real(-a * w ** (-a - 1) * (1j * k / b**2))
    close(g["concentration"], da)
    close(g["rate"], db)


@pytest.mark.parametrize("cost,k", [("linear", 1.5), ("square", 0.25), ("log", 2.0)])
def test_beta_closed_forms_against_scipy(cost, k):
    g = exact("beta", dim=4, concentration1=A.tolist(), concentration0=B.tolist(), cost=cost, k=k)
    a, b, s = A, B, A + B
    mean_a, mean_b = b / s**2, -a / s**2
    m2 = a * (a + 1) / (s * (s + 1))
    m2_s = -m2 * (2 * s + 1) / (s * (s + 1))
    if cost == "linear":
        da, db = k * mean_a, k * mean_b
    elif cost == "square":
        da = (2 * a + 1) / (s * (s + 1)) + m2_s - 2 * k * mean_a
        db = m2_s - 2 * k * mean_b
    else:
        da, db = k * (sp.polygamma(1, a) - sp.polygamma(1, s)), -k * sp.polygamma(1, s)
    close(g["concentration1"], da)
    close(g["concentration0"], db)


@pytest.mark.parametrize("cost,k", [("linear", 1.5), ("square", 0.25), ("log", 2.0), ("cross", 1.0)])
def test_dirichlet_closed_forms_against_scipy(cost, k):
    a = np.array([0.1, 0.7, 3.0, 40.0, 2.5])
    g = exact("dirichlet", dim=5, concentration=a.tolist(), cost=cost, k=k)["concentration"]
    a0, d = a.sum(), len(a)
    v = np.arange(d) / (d - 1)
    norm = a0 * (a0 + 1)
    if cost == "linear":
        expected = k * (v / a0 - (v * a).sum() / a0**2)
    elif cost == "square":  # sum_i E z_i^2 (the linear and constant terms sum to constants)
        expected = (2 * a + 1) / norm - (a * (a + 1)).sum() * (2 * a0 + 1) / norm**2
    elif cost == "log":
        expected = k * (sp.polygamma(1, a) - d * sp.polygamma(1, a0))
    else:  # sum_i a_i a_(i+1) / (a0 (a0 + 1)), cyclic
        pairs = (a * np.roll(a, -1)).sum()
        expected = (np.roll(a, 1) + np.roll(a, -1)) / norm - pairs * (2 * a0 + 1) / norm**2
    close(g, expected)


def gamma_quad(c, a, b):
    """``E c(z)`` and ``d/da``, ``d/db`` for Gamma(a, rate b), by scipy.integrate.quad over u = log z."""
    log_p = lambda u: a * u + a * np.log(b) - b * np.exp(u) - sp.gammaln(a)  # noqa: E731
    mode, lo, hi = np.log(a / b), np.log(a / b) - 60 / a - 20 / np.sqrt(a), np.log((a + 20 * np.sqrt(a) + 60) / b)

    def quad(weight):
        return integrate.quad(lambda u: c(np.exp(u)) * np.exp(log_p(u)) * weight(u), lo, hi, points=[mode],
                              limit=500, epsabs=0, epsrel=1e-12)[0]
    return (quad(lambda u: 1.0), quad(lambda u: u + np.log(b) - sp.digamma(a)),
            quad(lambda u: a / b - np.exp(u)))


def beta_quad(c, a, b):
    """``E c(z)`` and ``d/da``, ``d/db`` for Beta(a, b), by scipy.integrate.quad over u = logit z."""
    log_p = lambda u: -a * np.logaddexp(0, -u) - b * np.logaddexp(0, u) - sp.betaln(a, b)  # noqa: E731
    sd = np.sqrt((a + b) / (a * b))
    mode, lo, hi = np.log(a / b), np.log(a / b) - 60 / a - 20 * sd, np.log(a / b) + 60 / b + 20 * sd

    def quad(weight):
        return integrate.quad(lambda u: c(sp.expit(u)) * np.exp(log_p(u)) * weight(u), lo, hi, points=[mode],
                              limit=500, epsabs=0, epsrel=1e-12)[0]
    return (quad(lambda u: 1.0), quad(lambda u: -np.logaddexp(0, -u) - sp.digamma(a) + sp.digamma(a + b)),
            quad(lambda u: -np.logaddexp(0, u) - sp.digamma(b) + sp.digamma(a + b)))


def test_gamma_log1p_quadrature_against_scipy_quad():
    a, b = [0.1, 1.0, 100.0], [0.5, 1.0, 30.0]
    g = exact("gamma", dim=3, concentration=a, rate=b, cost="log1p", k=2.0)
    prob = suites.problems.get("gamma", dim=3, concentration=a, rate=b, cost="log1p", k=2.0, dtype="float64")
    reference = [gamma_quad(lambda z: np.log1p(2 * z), ai, bi) for ai, bi in zip(a, b)]
    close(float(prob.expectation(prob.params)), sum(r[0] for r in reference), QUADRATURE_RTOL)
    close(g["concentration"], [r[1] for r in reference], QUADRATURE_RTOL)
    close(g["rate"], [r[2] for r in reference], QUADRATURE_RTOL)


def test_beta_and_dirichlet_cos_quadrature_against_scipy_quad():
    a, b = [0.1, 2.0, 100.0], [100.0, 3.0, 0.1]
    g = exact("beta", dim=3, concentration1=a, concentration0=b, cost="cos", k=3.0)
    reference = [beta_quad(lambda z: np.cos(3 * z), ai, bi) for ai, bi in zip(a, b)]
    close(g["concentration1"], [r[1] for r in reference], QUADRATURE_RTOL)
    close(g["concentration0"], [r[2] for r in reference], QUADRATURE_RTOL)
    # Dirichlet: z_i ~ Beta(a_i, a0 - a_i), so dF/da_j = d_a E_j (own marginal) + sum_i d_b E_i
    conc = np.array([0.5, 2.0, 7.0])
    gd = exact("dirichlet", dim=3, concentration=conc.tolist(), cost="cos", k=3.0)["concentration"]
    parts = [beta_quad(lambda z: np.cos(3 * z), ai, conc.sum() - ai) for ai in conc]
    expected = np.array([p[1] - p[2] for p in parts]) + sum(p[2] for p in parts)
    close(gd, expected, QUADRATURE_RTOL)


# --- estimators -------------------------------------------------------------------------------

CONCENTRATIONS = [0.1, 1.0, 10.0, 100.0]
#: One problem per family over concentrations 0.1 .. 100, in float64 (float32's clamped
#: samples bias the score function at small concentrations: the `continuous` grid shows it).
#: The Beta's concentration0 stays >= 1: below, 1 - z < 1.1e-16 (z rounds to 1 even in
#: float64) for a few percent of the samples (2.5% at 0.1), which truncates the score's
#: log(1 - z) and biases the score function (|z| = 5.2 at M = 100,000 in the grid).
FAMILIES = {
    "gamma": dict(dim=4, concentration=CONCENTRATIONS, rate=[1.0, 2.0, 5.0, 50.0], cost="cos", k=1.0),
    "gamma_rate": dict(dim=4, concentration=CONCENTRATIONS, rate=[0.2, 1.0, 5.0, 50.0], cost="exp", wrt="rate"),
    "beta": dict(dim=4, concentration1=CONCENTRATIONS, concentration0=[1.0, 2.0, 100.0, 10.0], cost="square"),
    "dirichlet": dict(dim=4, concentration=CONCENTRATIONS, cost="cross"),
}
UNBIASED = [("reparam", {}), ("score_function", {"baseline": "loo"}), ("rejection_reparam", {}),
            ("measure_valued", {})]
M = 20_000
CASES = [(family, name, options) for family in FAMILIES for name, options in UNBIASED
         if estimators.get(name, **options).applies_to(
             suites.problems.get(family.split("_")[0], dtype="float64", **FAMILIES[family]))]


def test_every_estimator_meets_every_family():
    assert {(f, n) for f, n, _ in CASES} >= {(f, n) for f in ("gamma", "beta", "dirichlet")
                                            for n in ("reparam", "score_function", "rejection_reparam")}
    assert ("gamma_rate", "measure_valued") in {(f, n) for f, n, _ in CASES}


@pytest.mark.parametrize("family,name,options", CASES, ids=str)
def test_estimators_are_unbiased_on_each_family(family, name, options):
    prob = suites.problems.get(family.split("_")[0], dtype="float64", **FAMILIES[family])
    df = suites.measure(prob, estimators.get(name, **options), num_estimates=M, num_samples=2, seed=3,
                        min_run_time=0)
    # |z| < 5 per coordinate: false alarm 5.7e-7 each. Power: a bias of 6.5 standard errors
    # (6.5 / sqrt(M) = 0.046 standard deviations of one estimate at M = 20,000) gives |z| > 5
    # with probability 0.93.
    assert (df["max_abs_z"] < 5).all(), df[["param", "max_abs_z", "bias_norm", "bias_se"]]
    assert (df["nonfinite"] == 0).all()


@pytest.mark.parametrize("family,config", [
    ("gamma", dict(dim=3, concentration=[1.0, 2.0, 5.0], cost="exp")),
    ("beta", dict(dim=3, concentration1=[1.0, 2.0, 5.0], concentration0=[2.0, 1.0, 5.0], cost="square")),
    ("dirichlet", dict(dim=3, concentration=[1.0, 2.0, 5.0], cost="cross")),
])
def test_rejection_without_correction_is_flagged_biased(family, config):
    # Without shape augmentation (boost=0) the missing term g_cor is 5-10% of the gradient
    # here: |z| of 22 to 34 at this M and seed (seed-shifted runs alike), flagged by the
    # measurement's own Bonferroni test; > 12 fails by chance at a rate far below 1e-9.
    # With boost=1 it shrinks to about 1% (|z| ~ 2-4 at this M: below the resolution).
    prob = suites.problems.get(family, dtype="float64", **config)
    with_correction = suites.measure(prob, estimators.get("rejection_reparam", boost=0), num_estimates=M,
                                     num_samples=2, seed=4, min_run_time=0)
    without = suites.measure(prob, estimators.get("rejection_reparam", correction=False, boost=0),
                             num_estimates=M, num_samples=2, seed=4, min_run_time=0)
    assert (with_correction["max_abs_z"] < 5).all(), with_correction[["param", "max_abs_z"]]
    assert without["biased"].any() and without["max_abs_z"].max() > 12, without[["param", "max_abs_z"]]


def test_rejection_is_unbiased_in_float32_at_concentration_1000():
    # The correction's log pi sums terms of size a log a: computed in float32 it was biased
    # here (|z| = 7.5 at M = 100,000); rejection.py computes it in float64.
    prob = suites.problems.get("gamma", dim=3, concentration=1000.0, rate=1000.0)
    df = suites.measure(prob, estimators.get("rejection_reparam"), num_estimates=100_000, seed=6,
                        min_run_time=0)
    assert (df["max_abs_z"] < 5).all(), df[["param", "max_abs_z"]]


def test_rows_record_the_implicit_and_explicit_paths():
    gamma = suites.problems.get("gamma", dim=2)
    rows = {e: suites.measure(gamma, estimators.get(e), 200, min_run_time=0)["pathwise"].iloc[0]
            for e in ("reparam", "rejection_reparam", "score_function")}
    assert rows == {"reparam": "implicit", "rejection_reparam": "rejection", "score_function": ""}
    normal = suites.measure(suites.problems.get("gaussian", dim=2), estimators.get("reparam"), 200,
                            min_run_time=0)
    assert set(normal["pathwise"]) == {"explicit"}


@pytest.mark.parametrize("name,config,parameter", [
    ("gamma", dict(dim=2), "Gamma's concentration"),
    ("beta", dict(dim=2), "Beta's concentration1"),
    ("dirichlet", dict(dim=2), "Dirichlet's concentration"),
])
def test_measure_valued_is_refused_naming_the_parameter(name, config, parameter):
    prob = suites.problems.get(name, **config)
    est = estimators.get("measure_valued")
    assert not est.applies_to(prob)
    with pytest.raises(ValueError, match=f"no weak derivative for the {parameter}") as error:
        est(prob, 2)
    assert "\n" not in str(error.value)
    assert est.applies_to(suites.problems.get("gamma", dim=2, wrt="rate"))


def test_rejection_needs_its_boost_below_concentration_one():
    prob = suites.problems.get("gamma", dim=2, concentration=0.2)
    with pytest.raises(ValueError, match=r"concentration \+ boost >= 1.*raise boost to 1"):
        estimators.get("rejection_reparam", boost=0)(prob, 2)


def test_measure_valued_gamma_rate_has_the_exact_variance_of_its_weak_derivative():
    # One coordinate, cost z (linear, k = 1), coupled: the estimate is (a/b)(z - (z + e)) = -(a/b) e,
    # e ~ Exponential(b): mean -a/b^2 (the exact gradient), variance a^2/b^4 at K = 1.
    a, b = 3.0, 2.0
    prob = suites.problems.get("gamma", dim=1, concentration=a, rate=b, cost="linear", wrt="rate",
                               dtype="float64")
    row = suites.measure(prob, estimators.get("measure_valued"), M, seed=5, min_run_time=0).iloc[0]
    assert abs(row["variance"] - a**2 / b**4) < 5 * row["variance_se"], (row["variance"], a**2 / b**4)
    assert math.isclose(row["exact_norm"], a / b**2)


# --- the suite, its profile and its report ----------------------------------------------------

def test_continuous_grid_spans_concentrations_dtypes_and_devices():
    from suites.run import grids
    cells = grids.get("continuous").cells(["cpu"])
    configs = {(c.problem, c.problem_config.get("concentration", c.problem_config.get("concentration1")),
                c.problem_config["dtype"]) for c in cells}
    assert {c for _, c, _ in configs} == {0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0}
    assert len(configs) == 3 * 7 * 2
    # measure_valued only where it applies: the Gamma's rate
    assert {c.problem_config.get("wrt") for c in cells if c.estimator == "measure_valued"} == {"rate"}
    assert len(cells) == 224 and len(grids.get("continuous").cells(["cpu", "cuda"])) == 448


def test_quick_profile_keeps_one_reparam_cell_a_family():
    from suites.run.profiles import options
    from suites.run.sweep import select_cells
    cells = select_cells("continuous", **options("quick", "continuous"), devices=["cpu"])
    assert sorted((c.problem, c.estimator, c.problem_config["dtype"], c.problem_config.get("wrt", "all"))
                  for c in cells) == sorted((p, "reparam", "float32", "all") for p in ("gamma", "beta", "dirichlet"))


def test_report_draws_the_figure_and_the_implicit_bias_table(tmp_path):
    import pandas as pd

    from suites.read.report import figures
    from suites.read.report.continuous import implicit_bias_table
    from suites.read.report.runs import annotate

    rows = [suites.measure(suites.problems.get("gamma", dim=3, concentration=c, rate=c, dtype=d),
                           estimators.get(e, **o), 400, 2, min_run_time=0, suite="continuous")
            for c, d in ((0.1, "float32"), (1.0, "float32"), (1.0, "float64"))
            for e, o in (("reparam", {}), ("rejection_reparam", {"correction": False}))]
    df = annotate(pd.concat(rows, ignore_index=True))
    table = implicit_bias_table(df)
    assert list(zip(table["concentration"], table["dtype"])) == [("0.1", "float32"), ("1", "float32"),
                                                                  ("1", "float64")]
    assert set(table["verdict"]) <= {"not biased", "untested"} and (table["M"] == "400").all()
    df.loc[(df["estimator"] == "reparam") & (df["param"] == "rate"), "biased"] = True
    assert (implicit_bias_table(df)["verdict"] == "**biased**").all()
    assert implicit_bias_table(df[df["estimator"] != "reparam"]).empty
    # the figure: a log-log panel per parameter, a ring around each of the 3 biased points
    figure = figures.continuous_variance_vs_concentration(df)
    drawn = figures.panels(figure)
    assert [ax.get_title() for ax in drawn] == ["gamma · concentration", "gamma · rate"]
    assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in drawn)
    rings = [c for ax in drawn for c in ax.collections if len(c.get_offsets())]
    assert sum(len(c.get_offsets()) for c in rings) == 3
    figures.plt.close(figure)


def test_rejection_score_is_the_derivative_of_log_pi():
    # the closed-form d/da log pi(eps; a) the estimator uses, against autograd of log pi (float64)
    from estimators.rejection import log_pi, score
    a = torch.tensor([1.01, 1.5, 3.0, 11.0, 101.0, 1001.0], dtype=torch.float64, requires_grad=True)
    eps = torch.tensor([-0.3, 1.2, 0.5, -2.0, 0.1, 2.5], dtype=torch.float64)
    grad, = torch.autograd.grad(log_pi(a, eps).sum(), a)
    torch.testing.assert_close(score(a.detach(), eps), grad, rtol=1e-12, atol=1e-15)
