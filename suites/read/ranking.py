"""What advise, the verdict and the printed summary rank on: one cell's totals, the tie rule.

A cell (one estimator configuration at one ``K`` and ``M`` on one problem) is
stored as one row per parameter. Its totals, over every parameter ``p`` of
``n_p`` coordinates:

    tr Cov    = sum_p variance_p x n_p            (the total variance of one estimate)
    se(tr Cov) = sqrt(sum_p (variance_se_p x n_p)^2)   (parameters taken as independent)
    ||bias||  = sqrt(sum_p bias_norm_p^2)          (the 2-norm over every coordinate)
    max |z|   = max_p max_abs_z_p

Two unbiased values are tied when they lie within ``TIE_SE`` combined standard
errors (``significance``, on the log scale). Ranked by work (``tr Cov x n``, ``n``
cost evaluations of one estimate: the efficiency of Glynn & Whitt 1992, "The
asymptotic efficiency of simulation estimators", Operations Research 40(3)) or
by time (``tr Cov x t``, ``t`` seconds per timed estimate).

Below ``suites.read.advise``, ``suites.read.verdict`` and ``suites.read.summary``,
which all read it; it imports nothing of ``suites.read``.
"""
from __future__ import annotations

import math

import pandas as pd

#: Combined standard errors within which two estimators are tied (two-sided ~5% false alarm).
TIE_SE = 2.0
#: What each ranking ranks by: (column, its standard error, words).
CRITERIA = {"work": ("work_variance", "work_variance_se",
                     "work-normalised variance (evaluations x total variance)"),
            "time": ("time_variance", "time_variance_se",
                     "time-normalised variance (seconds per estimate x total variance)")}


def cell_totals(rows: pd.DataFrame) -> dict:
    """The totals of one cell from its rows (one per parameter, ``measure``'s columns):
    ``total_variance`` and its ``_se``, ``coordinates``, ``bias_norm``, ``bias_se``,
    ``max_abs_z`` (NaN where no parameter was tested), ``flagged`` (any parameter) and
    ``zero_variance`` (every parameter's variance is zero at its resolution)."""
    numel = rows["numel"].astype(float)
    z = rows["max_abs_z"].astype(float)
    zero = rows["zero_variance"] if "zero_variance" in rows else pd.Series(False, index=rows.index)
    return {
        "total_variance": float((rows["variance"] * numel).sum()),
        "total_variance_se": math.sqrt(float(((rows["variance_se"] * numel) ** 2).sum())),
        "coordinates": int(numel.sum()),
        "bias_norm": math.sqrt(float((rows["bias_norm"] ** 2).sum())),
        "bias_se": math.sqrt(float((rows["bias_se"] ** 2).sum())),
        "max_abs_z": float(z.max()) if z.notna().any() else math.nan,
        "flagged": bool(rows["biased"].any()),
        "zero_variance": bool(zero.fillna(False).astype(bool).all()),
    }


def seconds_per_estimate(time_s, timed_estimates):
    """The median seconds of one timed call over the estimates that call produced (the timed
    chunk, not ``M``): the one timing rule of ``run``, ``advise``, the verdict and the report.
    Numbers or arrays alike."""
    return time_s / timed_estimates


def significance(best: float, best_se: float, other: float, other_se: float) -> float:
    """How many combined standard errors ``other`` lies above ``best``, on the log scale.

    ``(ln other - ln best) / sqrt(rse_best^2 + rse_other^2)``, ``rse = se / value`` (the
    delta method): timings, and so time-normalised variances, are noisy by factors, and
    a linear gap over a large absolute se would tie values 10^5 apart. Where a value is
    not positive, the linear ``(other - best) / sqrt(se_best^2 + se_other^2)``; ``inf``
    where both are exact and differ.
    """
    if best > 0 and other > 0:
        gap, noise = math.log(other / best), math.hypot(best_se / best, other_se / other)
    else:
        gap, noise = other - best, math.hypot(best_se, other_se)
    if noise > 0 and math.isfinite(noise):
        return gap / noise
    return 0.0 if gap == 0 else math.inf


def ratio(best: float, other: float) -> float:
    """``other / best``: ``inf`` where only the best is 0, NaN where both are (no numpy
    divide-by-zero warning on a terminal)."""
    best, other = float(best), float(other)
    if best == 0:
        return math.nan if other == 0 else math.inf
    return other / best


def below(best: float, other: float, word: str = "below") -> str:
    """``13.7x below``; ``zero variance, below`` where the best is exactly 0 (its spread was
    float rounding, ``suites.measurement``); ``zero variance, as`` where both are."""
    if float(best) == 0:
        return "zero variance, as" if float(other) == 0 else f"zero variance, {word}"
    return f"{ratio(best, other):.3g}x {word}"


def tied(best: float, best_se: float, other: float, other_se: float) -> bool:
    """Whether ``other`` lies within ``TIE_SE`` combined standard errors of ``best``."""
    return significance(best, best_se, other, other_se) < TIE_SE


def rank(table: pd.DataFrame, by: str = "work") -> pd.DataFrame:
    """``table`` sorted (unbiased first, by ``by``'s criterion; non-finite values last) with
    ``rank`` (unbiased rows) and ``tied`` (within ``TIE_SE`` combined se of the best)."""
    column, se, _ = CRITERIA[by]
    finite = table[column].map(math.isfinite)
    table = (table.assign(_finite=~finite)
             .sort_values(["biased", "_finite", column], kind="stable")
             .drop(columns="_finite").reset_index(drop=True))
    unbiased = ~table["biased"] & table[column].map(math.isfinite)
    table["rank"] = pd.array([i + 1 if u else None for i, u in enumerate(unbiased)], dtype="Int64")
    table["tied"] = False
    if unbiased.any():
        best = table[unbiased].iloc[0]
        table.loc[unbiased, "tied"] = [tied(best[column], best[se], v, s) for v, s in
                                       zip(table.loc[unbiased, column], table.loc[unbiased, se])]
    table["by"] = by
    return table


def best_per_estimator(table: pd.DataFrame, column: str, estimator: str = "estimator") -> pd.DataFrame:
    """The unbiased rows of ``table`` with a finite ``column``, least first, each estimator at
    its best ``K`` only: the next after the best is another estimator, not the same at
    another ``K``."""
    finite = ~table["biased"] & table[column].map(math.isfinite)
    return table[finite].sort_values(column, kind="stable").drop_duplicates(estimator)


def largest_m(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows of ``df`` at the largest ``num_estimates`` of their cell (``keys``): where a
    suite sweeps ``M`` (scaling), the largest speaks for the cell."""
    return df[df["num_estimates"] == df.groupby(keys)["num_estimates"].transform("max")]
